//! The `grpc` cell's calls: tonic's generated client over our HTTP/2 connections.

use std::{net::SocketAddr, sync::Arc};

use super::{
    check::{CallError, Expected, NAME, ServedBy},
    http2::Http2,
    turns::Turns,
    wire::WireCounters,
};
use crate::compare::workload::Workload;
use crate::{
    proto::{BatchHelloRequest, HelloRequest, HelloStreamRequest, greeter_client::GreeterClient},
    server::SERVED_BY,
};

/// `connections` HTTP/2 connections per gRPC server address.
pub type GrpcClients = Turns<GreeterClient<Http2<tonic::body::Body>>>;

pub(crate) async fn connect(
    addrs: &[SocketAddr],
    connections: usize,
    windows: crate::config::Http2Windows,
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

/// One call of `workload`, checked against `expected`.
pub(crate) async fn call(
    clients: &mut GrpcClients,
    workload: &Workload,
    expected: &Expected,
) -> Result<ServedBy, CallError> {
    let client = clients.next();
    let hello = || HelloRequest { name: NAME.into() };
    let metadata = match workload {
        Workload::Unary => {
            let (metadata, reply, _) = client.say_hello(hello()).await?.into_parts();
            expected.hello(&reply.message)?;
            metadata
        }
        Workload::Batch(names) => {
            let request = BatchHelloRequest { names: names.to_vec() };
            let (metadata, reply, _) = client.say_hello_batch(request).await?.into_parts();
            expected.batch(reply.replies.iter().map(|reply| reply.message.as_str()))?;
            metadata
        }
        Workload::Complex(request) => {
            let request = request.as_ref().clone();
            let (metadata, reply, _) = client.echo_complex(request).await?.into_parts();
            expected.complex(&reply)?;
            metadata
        }
        Workload::Records(request) => {
            let request = request.as_ref().clone();
            let (metadata, reply, _) = client.echo_people(request).await?.into_parts();
            expected.people(&reply)?;
            metadata
        }
        Workload::Stream(count) => {
            let request = HelloStreamRequest { name: NAME.into(), count: Some(*count) };
            let (metadata, mut stream, _) =
                client.say_hello_stream_reply(request).await?.into_parts();
            let mut messages = Vec::with_capacity(*count as usize);
            while let Some(reply) = stream.message().await? {
                messages.push(reply.message);
            }
            expected.stream(messages.iter().map(String::as_str))?;
            metadata
        }
        Workload::Chat(count) => {
            let (requests, outbound) = tokio::sync::mpsc::channel(1);
            let closed = |_| CallError::Transport("the chat's request stream closed".into());
            requests.send(hello()).await.map_err(closed)?;
            let outbound = tokio_stream::wrappers::ReceiverStream::new(outbound);
            let (metadata, mut replies, _) =
                client.say_hello_bidi_stream(outbound).await?.into_parts();
            for exchange in 1..=*count {
                let reply = replies.message().await?;
                let reply = reply.ok_or(CallError::WrongReply("the chat ended early".into()))?;
                expected.hello(&reply.message)?;
                if exchange < *count {
                    requests.send(hello()).await.map_err(closed)?;
                }
            }
            drop(requests);
            if replies.message().await?.is_some() {
                return Err(CallError::WrongReply("the chat did not end when asked".into()));
            }
            metadata
        }
    };
    Ok(metadata.into_headers().remove(SERVED_BY))
}
