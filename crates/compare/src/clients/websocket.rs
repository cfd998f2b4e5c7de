//! The `rest-ws-*` cells' calls, one text frame of JSON each way per exchange: `rest-ws-h1`
//! opens a connection per conversation (an HTTP/1.1 Upgrade takes the connection over);
//! `rest-ws-h2` opens each conversation as a stream on shared HTTP/2 connections (an extended
//! CONNECT, RFC 8441), as a gRPC bidi stream is one.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::Role},
};

use super::{
    check::{CallError, Expected, NAME, ServedBy},
    http2::Http2,
    tls::{Alpn, ClientTls},
    wire::{CountingStream, WireCounters},
};
use contract::rest_api::paths;
use contract::{
    facts::SERVED_BY,
    proto::{HelloReply, HelloRequest},
};

/// One conversation of `count` exchanges over its own HTTP/1.1 connection, each reply checked
/// against `expected`.
pub(crate) async fn chat(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    counters: &Arc<WireCounters>,
    count: u32,
    expected: &Expected,
) -> Result<ServedBy, CallError> {
    let failed = |error| CallError::transport("WebSocket", error);
    let stream =
        CountingStream::connect(addr, tls, Alpn::Http1, counters.clone()).await.map_err(failed)?;
    let url = format!("ws://{addr}{}", paths::CHAT);
    let (socket, handshake) = tokio_tungstenite::client_async(url, stream)
        .await
        .map_err(|error| CallError::transport("WebSocket", error))?;
    let served_by = handshake.headers().get(SERVED_BY).cloned();
    converse(socket, count, expected).await?;
    Ok(served_by)
}

/// One conversation of `count` exchanges as a stream of an HTTP/2 connection (RFC 8441).
pub(crate) async fn chat_over_http2(
    connection: &mut Http2<Empty<Bytes>>,
    authority: &str,
    count: u32,
    expected: &Expected,
) -> Result<ServedBy, CallError> {
    fn failed(error: impl std::error::Error) -> CallError {
        CallError::transport_with_causes("WebSocket over HTTP/2", error)
    }
    let mut request = http::Request::connect(format!("http://{authority}{}", paths::CHAT))
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .body(Empty::new())
        .map_err(failed)?;
    request.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
    std::future::poll_fn(|cx| tower::Service::poll_ready(connection, cx)).await.map_err(failed)?;
    let mut response = tower::Service::call(connection, request).await.map_err(failed)?;
    if response.status() != http::StatusCode::OK {
        return Err(CallError::WrongReply(format!(
            "the extended CONNECT was answered {}",
            response.status()
        )));
    }
    let served_by = response.headers().get(SERVED_BY).cloned();
    let stream = hyper::upgrade::on(&mut response).await.map_err(failed)?;
    let socket = WebSocketStream::from_raw_socket(TokioIo::new(stream), Role::Client, None).await;
    converse(socket, count, expected).await?;
    Ok(served_by)
}

async fn converse<S>(
    mut socket: WebSocketStream<S>,
    count: u32,
    expected: &Expected,
) -> Result<(), CallError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = serde_json::to_string(&HelloRequest { name: NAME.into() })
        .map_err(|error| CallError::transport("JSON", error))?;
    let failed = |error| CallError::transport("WebSocket", error);
    for _ in 0..count {
        socket.send(Message::text(request.clone())).await.map_err(failed)?;
        let frame = socket
            .next()
            .await
            .ok_or(CallError::WrongReply("the socket closed early".into()))?
            .map_err(failed)?;
        let reply: HelloReply = serde_json::from_slice(&frame.into_data())
            .map_err(|error| CallError::WrongReply(format!("not a HelloReply: {error}")))?;
        expected.hello(&reply.message)?;
    }
    socket.close(None).await.map_err(failed)?;
    // The server's Close completes the closing handshake.
    while let Some(frame) = socket.next().await {
        if frame.is_err() {
            break;
        }
    }
    Ok(())
}
