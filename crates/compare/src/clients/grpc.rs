//! The `grpc` cell's server streams and chats: tonic's generated client over our HTTP/2
//! connections. Its single calls (unary, batch, payloads) go through the unary client
//! (`unary.rs`), which `CellClient::connect` gives every single-call workload.

use std::{net::SocketAddr, sync::Arc};

use super::{
    check::{CallError, Expected, NAME, ServedBy},
    http2::Http2,
    turns::Turns,
    wire::WireCounters,
};
use contract::{
    facts::SERVED_BY,
    proto::{HelloRequest, HelloStreamRequest, greeter_client::GreeterClient},
};

/// `connections` HTTP/2 connections per gRPC server address, for streams and chats.
pub type GrpcClients = Turns<GreeterClient<Http2<tonic::body::Body>>>;

pub(crate) async fn connect(
    addrs: &[SocketAddr],
    connections: usize,
    windows: contract::settings::Http2Windows,
    tls: Option<&super::tls::ClientTls>,
    counters: &Arc<WireCounters>,
) -> anyhow::Result<GrpcClients> {
    let mut clients = Vec::with_capacity(addrs.len() * connections);
    for _ in 0..connections {
        for &addr in addrs {
            let connection = Http2::connect(addr, windows, tls, counters.clone()).await?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let origin = format!("{scheme}://{addr}").parse()?;
            clients.push(
                GreeterClient::with_origin(connection, origin)
                    .max_decoding_message_size(usize::MAX),
            );
        }
    }
    anyhow::ensure!(!clients.is_empty(), "no gRPC address to connect to");
    Ok(Turns::new(clients, 0))
}

/// A server stream of `count` greetings, checked against `expected`.
pub(crate) async fn stream(
    clients: &mut GrpcClients,
    count: u32,
    expected: &Expected,
) -> Result<ServedBy, CallError> {
    let client = clients.next();
    let request = HelloStreamRequest { name: NAME.into(), count: Some(count) };
    let (metadata, mut stream, _) = client.say_hello_stream_reply(request).await?.into_parts();
    let mut messages = Vec::with_capacity(count as usize);
    while let Some(reply) = stream.message().await? {
        messages.push(reply.message);
    }
    expected.stream(messages.iter().map(String::as_str))?;
    Ok(metadata.into_headers().remove(SERVED_BY))
}

/// A conversation of `count` exchanges, each waiting for the last, checked against `expected`.
pub(crate) async fn chat(
    clients: &mut GrpcClients,
    count: u32,
    expected: &Expected,
) -> Result<ServedBy, CallError> {
    let client = clients.next();
    let hello = || HelloRequest { name: NAME.into() };
    let (requests, outbound) = tokio::sync::mpsc::channel(1);
    let closed = |_| CallError::Transport("the chat's request stream closed".into());
    requests.send(hello()).await.map_err(closed)?;
    let outbound = tokio_stream::wrappers::ReceiverStream::new(outbound);
    let (metadata, mut replies, _) = client.say_hello_bidi_stream(outbound).await?.into_parts();
    for exchange in 1..=count {
        let reply = replies.message().await?;
        let reply = reply.ok_or(CallError::WrongReply("the chat ended early".into()))?;
        expected.hello(&reply.message)?;
        if exchange < count {
            requests.send(hello()).await.map_err(closed)?;
        }
    }
    drop(requests);
    if replies.message().await?.is_some() {
        return Err(CallError::WrongReply("the chat did not end when asked".into()));
    }
    Ok(metadata.into_headers().remove(SERVED_BY))
}
