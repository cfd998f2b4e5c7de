//! compare's hyper HTTP/2 connections for the streaming workloads ([`Http2`]): one hyper
//! connection as a tower service, which both the gRPC client (tonic) and the REST client of
//! `compare` call: a call goes straight to the connection's task, with no pool to lock and no
//! buffer task to hop through. tonic's `Channel` and hyper's pooled client added both, and on
//! many cores made the generator, not the server, the bottleneck of every HTTP/2 cell. The
//! single calls go through the lean client instead (`lean_h2/`), which sends an
//! [`Http2Request`] made once per run.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use hyper::{body::Incoming, client::conn::http2::SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::{
    tls::{Alpn, ClientTls},
    wire::{CountingStream, WireCounters},
};
use contract::settings::Http2Windows;

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

/// A reply as it came: status, headers, body and (HTTP/2) trailers.
pub(crate) type Received = (StatusCode, HeaderMap, Bytes, Option<HeaderMap>);
