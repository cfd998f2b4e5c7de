//! The `rest-ws-h1` cell's calls: a WebSocket session per conversation (HTTP/1.1 cannot
//! multiplex them), one text frame of JSON each way per exchange.

use std::{net::SocketAddr, sync::Arc};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use super::{
    cell::ServedBy,
    check::{CallError, Expected, NAME},
    tls::{Alpn, ClientTls},
    wire::{CountingStream, WireCounters},
};
use crate::{
    proto::{HelloReply, HelloRequest},
    rest::routes,
    server::SERVED_BY,
};

/// One conversation of `count` exchanges, each reply checked against `expected`.
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
    let url = format!("ws://{addr}{}", routes::CHAT.path);
    let (mut socket, handshake) = tokio_tungstenite::client_async(url, stream)
        .await
        .map_err(|error| CallError::transport("WebSocket", error))?;
    let served_by = handshake.headers().get(SERVED_BY).cloned();
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
    Ok(served_by)
}
