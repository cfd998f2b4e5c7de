//! compare's HTTP/2 connections, of two kinds. [`Http2`]: one hyper connection as a tower
//! service, which both the gRPC client (tonic) and the REST client of `compare` call: a call
//! goes straight to the connection's task, with no pool to lock and no buffer task to hop
//! through, as in h2load. tonic's `Channel` and hyper's pooled client added both, and on many
//! cores made the generator, not the server, the bottleneck of every HTTP/2 cell. And the `h2`
//! crate's bare connection, on which the unary client (`unary.rs`) sends a request made once
//! per run ([`connect_http2`], [`call_http2`]): no tonic codec, no streaming body, no task per
//! request body as in hyper's client.

use std::{
    future::{Future, poll_fn},
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use hyper::{body::Incoming, client::conn::http2::SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::{
    check::CallError,
    tls::{Alpn, ClientTls},
    wire::{CountingStream, MAX_REPLY_BYTES, WireCounters},
};
use crate::config::Http2Windows;

/// A handle on one HTTP/2 connection; clones share it.
#[derive(Debug)]
pub struct Http2<B>(SendRequest<B>);

impl<B> Clone for Http2<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B> Http2<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Opens an HTTP/2 connection to `addr` (h2c by prior knowledge, or `h2` over TLS) with
    /// these receive windows, counting its bytes.
    pub async fn connect(
        addr: SocketAddr,
        windows: Http2Windows,
        tls: Option<&ClientTls>,
        counters: Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        let stream = CountingStream::connect(addr, tls, Alpn::H2, counters).await?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .initial_stream_window_size(windows.stream)
            .initial_connection_window_size(windows.connection)
            .adaptive_window(windows.adaptive)
            .handshake(TokioIo::new(stream))
            .await?;
        // Runs until every handle is dropped.
        tokio::spawn(connection);
        Ok(Self(sender))
    }
}

impl<B> tower::Service<http::Request<B>> for Http2<B>
where
    B: http_body::Body + Send + 'static,
{
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}

/// A request made once and sent as it is by every call of [`call_http2`].
#[derive(Debug, Clone)]
pub(crate) struct Http2Request {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Http2Request {
    /// The request's head, for a call.
    fn head(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// A reply as it came: status, headers, body and (HTTP/2) trailers.
pub(crate) type Received = (StatusCode, HeaderMap, Bytes, Option<HeaderMap>);

/// Opens an h2c connection (prior knowledge) to `addr` with these receive windows (the `h2`
/// crate has no adaptive window: `windows.adaptive` is for hyper's clients and the server),
/// counting its bytes.
pub(crate) async fn connect_http2(
    addr: SocketAddr,
    windows: Http2Windows,
    tls: Option<&ClientTls>,
    counters: Arc<WireCounters>,
) -> anyhow::Result<h2::client::SendRequest<Bytes>> {
    let stream = CountingStream::connect(addr, tls, Alpn::H2, counters).await?;
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(windows.stream)
        .initial_connection_window_size(windows.connection)
        .handshake(stream)
        .await?;
    // Runs until every handle is dropped.
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "HTTP/2 connection ended");
        }
    });
    Ok(sender)
}

/// One call of `request` on an `h2` connection: the reply read whole into one buffer.
pub(crate) async fn call_http2(
    sender: &mut h2::client::SendRequest<Bytes>,
    request: &Http2Request,
) -> Result<Received, CallError> {
    let failed = |error: h2::Error| CallError::transport("HTTP/2", error);
    poll_fn(|cx| sender.poll_ready(cx)).await.map_err(failed)?;
    let (response, mut body) = sender.send_request(request.head(), false).map_err(failed)?;
    body.send_data(request.body.clone(), true).map_err(failed)?;
    let (parts, mut stream) = response.await.map_err(failed)?.into_parts();
    let mut received = BytesMut::new();
    while let Some(chunk) = stream.data().await {
        let chunk = chunk.map_err(failed)?;
        if received.len() + chunk.len() > MAX_REPLY_BYTES {
            // Dropping the stream resets it: the server stops sending.
            return Err(CallError::Transport(format!(
                "HTTP/2: a reply body larger than compare reads ({MAX_REPLY_BYTES} bytes)"
            )));
        }
        let _ = stream.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    let trailers = stream.trailers().await.map_err(failed)?;
    Ok((parts.status, parts.headers, received.freeze(), trailers))
}
