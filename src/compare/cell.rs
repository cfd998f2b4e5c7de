//! The cells of the comparison — one protocol stack each — and a client per cell that makes
//! one call of a workload and checks the reply. Every cell sends the same messages.

use std::{fmt, net::SocketAddr, str::FromStr, sync::Arc};

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::{Service as _, ServiceExt as _};

use super::{
    http2::Http2,
    wire::{CountingConnector, WireCounters},
    workload::Workload,
};
use crate::{
    proto::{
        BatchHelloReply, BatchHelloRequest, HelloReply, HelloRequest, HelloStreamRequest,
        greeter_client::GreeterClient,
    },
    rest::routes,
    server::SERVED_BY,
};

/// One protocol stack: what is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Protobuf over HTTP/2 with gRPC framing (tonic).
    Grpc,
    RestJsonH1,
    RestJsonH2,
    RestProtoH1,
    RestProtoH2,
    /// Server streams as Server-Sent Events (stream workloads only).
    RestSseH1,
    RestSseH2,
    /// Conversations as WebSocket sessions over HTTP/1.1 (chat workloads only).
    RestWsH1,
}

impl Cell {
    pub const ALL: [Cell; 8] = [
        Cell::Grpc,
        Cell::RestJsonH1,
        Cell::RestJsonH2,
        Cell::RestProtoH1,
        Cell::RestProtoH2,
        Cell::RestSseH1,
        Cell::RestSseH2,
        Cell::RestWsH1,
    ];

    pub(crate) fn http2(self) -> bool {
        matches!(self, Cell::Grpc | Cell::RestJsonH2 | Cell::RestProtoH2 | Cell::RestSseH2)
    }

    /// Whether the cell has a way to carry the workload: protobuf REST has no streaming media
    /// type here, and SSE carries streams only. For streams, `rest-json-*` means NDJSON.
    pub fn carries(self, workload: &Workload) -> bool {
        let streaming = matches!(workload, Workload::Stream(_));
        let chat = matches!(workload, Workload::Chat(_));
        match self {
            Cell::Grpc => true,
            Cell::RestJsonH1 | Cell::RestJsonH2 => !chat,
            Cell::RestProtoH1 | Cell::RestProtoH2 => !streaming && !chat,
            Cell::RestSseH1 | Cell::RestSseH2 => streaming,
            Cell::RestWsH1 => chat,
        }
    }

    fn json(self) -> bool {
        matches!(self, Cell::RestJsonH1 | Cell::RestJsonH2)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cell::Grpc => "grpc",
            Cell::RestJsonH1 => "rest-json-h1",
            Cell::RestJsonH2 => "rest-json-h2",
            Cell::RestProtoH1 => "rest-proto-h1",
            Cell::RestProtoH2 => "rest-proto-h2",
            Cell::RestSseH1 => "rest-sse-h1",
            Cell::RestSseH2 => "rest-sse-h2",
            Cell::RestWsH1 => "rest-ws-h1",
        })
    }
}

impl FromStr for Cell {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Cell::ALL.into_iter().find(|cell| cell.to_string() == name).ok_or_else(|| {
            format!(
                "unknown cell {name:?}; cells: grpc, rest-json-h1, rest-json-h2, \
                     rest-proto-h1, rest-proto-h2, rest-sse-h1, rest-sse-h2, rest-ws-h1"
            )
        })
    }
}

/// The server that answered a call, from its `x-served-by` header (`None` when it sent none).
pub type ServedBy = Option<HeaderValue>;

/// The client one task of a run calls with. HTTP/2 cells share their connections among the
/// tasks (each task holds its own handles on them); an HTTP/1.1 task has a connection of its
/// own, since HTTP/1.1 carries one call at a time.
#[derive(Clone, Debug)]
pub enum CellClient {
    Grpc(GrpcClients),
    /// Boxed: hyper's pooled client is many times the size of the other variants.
    Rest(Box<RestClient>),
    /// A new WebSocket session per conversation: HTTP/1.1 cannot multiplex them.
    WebSocket {
        addr: SocketAddr,
        counters: Arc<WireCounters>,
    },
}

/// REST over hyper: JSON or protobuf bodies, HTTP/1.1 or h2c.
#[derive(Clone, Debug)]
pub struct RestClient {
    transport: RestTransport,
    base: String,
    /// The unary and batch routes, parsed once rather than per call.
    hello: http::Uri,
    batch: http::Uri,
    json: bool,
    sse: bool,
}

#[derive(Clone, Debug)]
enum RestTransport {
    /// A pooled client of the task's own, which keeps its one connection.
    Http1 { client: Box<Client<CountingConnector, Full<Bytes>>>, connector: CountingConnector },
    /// Connections shared by every task, taken in turn.
    Http2(Turns<Http2<Full<Bytes>>>),
}

/// Handles on a set of connections, used in turn (round robin), as a gRPC client with the
/// `round_robin` policy does. Each task holds its own `Turns`, so taking a turn touches
/// nothing another task touches.
#[derive(Clone, Debug)]
pub struct Turns<T> {
    handles: Vec<T>,
    next: usize,
}

impl<T> Turns<T> {
    fn new(handles: Vec<T>, first: usize) -> Self {
        let next = first % handles.len().max(1);
        Self { handles, next }
    }

    fn next(&mut self) -> &mut T {
        let turn = self.next;
        self.next = (turn + 1) % self.handles.len();
        &mut self.handles[turn]
    }

    fn len(&self) -> usize {
        self.handles.len()
    }
}

/// `connections` HTTP/2 connections per gRPC server address.
pub type GrpcClients = Turns<GreeterClient<Http2<tonic::body::Body>>>;

async fn connect_grpc(
    addrs: &[SocketAddr],
    connections: usize,
    counters: &Arc<WireCounters>,
) -> anyhow::Result<GrpcClients> {
    let mut clients = Vec::with_capacity(addrs.len() * connections);
    for _ in 0..connections {
        for &addr in addrs {
            let connection = Http2::connect(addr, counters.clone()).await?;
            let origin = format!("http://{addr}").parse()?;
            clients.push(
                GreeterClient::with_origin(connection, origin)
                    .max_decoding_message_size(usize::MAX),
            );
        }
    }
    anyhow::ensure!(!clients.is_empty(), "no gRPC address to connect to");
    Ok(Turns::new(clients, 0))
}

impl CellClient {
    /// Connects to the cell's port: HTTP/2 cells open `connections` connections (per gRPC
    /// server address); HTTP/1.1 cells connect as each task first calls.
    pub async fn connect(
        cell: Cell,
        grpc: &[SocketAddr],
        rest: SocketAddr,
        connections: usize,
        counters: Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        let connections = connections.max(1);
        if cell == Cell::Grpc {
            return Ok(Self::Grpc(connect_grpc(grpc, connections, &counters).await?));
        }
        if cell == Cell::RestWsH1 {
            return Ok(Self::WebSocket { addr: rest, counters });
        }
        let connector = CountingConnector { addr: rest, counters: counters.clone() };
        let transport = if cell.http2() {
            let mut handles = Vec::with_capacity(connections);
            for _ in 0..connections {
                handles.push(Http2::connect(rest, counters.clone()).await?);
            }
            RestTransport::Http2(Turns::new(handles, 0))
        } else {
            RestTransport::Http1 { client: Box::new(http1_client(connector.clone())), connector }
        };
        Ok(Self::Rest(Box::new(RestClient {
            transport,
            base: format!("http://{rest}"),
            hello: format!("http://{rest}{}", routes::SAY_HELLO.path).parse()?,
            batch: format!("http://{rest}{}", routes::SAY_HELLO_BATCH.path).parse()?,
            json: cell.json(),
            sse: matches!(cell, Cell::RestSseH1 | Cell::RestSseH2),
        })))
    }

    /// The client task number `task` of a run uses: its own handles on the shared HTTP/2
    /// connections, starting its turns at its own connection so that the tasks spread evenly,
    /// or, for HTTP/1.1, a pool of its own, so it keeps one connection and never waits on a
    /// pool lock the other tasks share (the load generator must not be the bottleneck).
    pub fn for_task(&self, task: usize) -> Self {
        match self {
            Self::Grpc(clients) => Self::Grpc(Turns::new(clients.handles.clone(), task)),
            Self::Rest(rest) => {
                let transport = match &rest.transport {
                    RestTransport::Http1 { connector, .. } => RestTransport::Http1 {
                        client: Box::new(http1_client(connector.clone())),
                        connector: connector.clone(),
                    },
                    RestTransport::Http2(connections) => {
                        RestTransport::Http2(Turns::new(connections.handles.clone(), task))
                    }
                };
                Self::Rest(Box::new(RestClient { transport, ..(**rest).clone() }))
            }
            Self::WebSocket { .. } => self.clone(),
        }
    }

    /// How many connections are open at once at this concurrency: HTTP/2 multiplexes every
    /// call on its connections; HTTP/1.1 needs one per call in flight.
    pub fn connections(&self, concurrency: usize) -> usize {
        match self {
            Self::Grpc(clients) => clients.len(),
            Self::Rest(rest) => match &rest.transport {
                RestTransport::Http2(connections) => connections.len(),
                RestTransport::Http1 { .. } => concurrency,
            },
            Self::WebSocket { .. } => concurrency,
        }
    }

    /// Makes one call and checks the reply; `Ok` says which server answered, `Err` what was
    /// wrong.
    pub async fn call(&mut self, workload: &Workload) -> Result<ServedBy, String> {
        match (self, workload) {
            (Self::Grpc(clients), Workload::Unary) => {
                let reply = clients.next().say_hello(HelloRequest { name: "World".into() }).await;
                let (metadata, reply, _) = reply.map_err(grpc_error)?.into_parts();
                check_hello(&reply)?;
                Ok(grpc_served_by(metadata))
            }
            (Self::Grpc(clients), Workload::Batch(names)) => {
                let request = BatchHelloRequest { names: names.to_vec() };
                let reply = clients.next().say_hello_batch(request).await;
                let (metadata, reply, _) = reply.map_err(grpc_error)?.into_parts();
                check_batch(&reply, names)?;
                Ok(grpc_served_by(metadata))
            }
            (Self::Rest(rest), Workload::Unary) => {
                let request = HelloRequest { name: "World".into() };
                let (served_by, body) =
                    rest_call(&mut rest.transport, rest.hello.clone(), rest.json, &request).await?;
                let reply: HelloReply = decode(&body, rest.json)?;
                check_hello(&reply)?;
                Ok(served_by)
            }
            (Self::Rest(rest), Workload::Batch(names)) => {
                let request = BatchHelloRequest { names: names.to_vec() };
                let (served_by, body) =
                    rest_call(&mut rest.transport, rest.batch.clone(), rest.json, &request).await?;
                let reply: BatchHelloReply = decode(&body, rest.json)?;
                check_batch(&reply, names)?;
                Ok(served_by)
            }
            (Self::Grpc(clients), Workload::Stream(count)) => {
                let request = HelloStreamRequest { name: "World".into(), count: Some(*count) };
                let stream = clients.next().say_hello_stream_reply(request).await;
                let (metadata, mut stream, _) = stream.map_err(grpc_error)?.into_parts();
                let mut messages = Vec::with_capacity(*count as usize);
                while let Some(reply) = stream.message().await.map_err(|status| {
                    format!("gRPC stream {}: {}", status.code(), status.message())
                })? {
                    messages.push(reply.message);
                }
                check_stream(&messages, *count)?;
                Ok(grpc_served_by(metadata))
            }
            (Self::Grpc(clients), Workload::Chat(count)) => {
                let (requests, outbound) = tokio::sync::mpsc::channel(1);
                let first = HelloRequest { name: "World".into() };
                requests.send(first).await.map_err(|e| e.to_string())?;
                let outbound = tokio_stream::wrappers::ReceiverStream::new(outbound);
                let replies = clients.next().say_hello_bidi_stream(outbound).await;
                let (metadata, mut replies, _) = replies.map_err(grpc_error)?.into_parts();
                for exchange in 1..=*count {
                    let reply = replies.message().await.map_err(|status| {
                        format!("gRPC chat {}: {}", status.code(), status.message())
                    })?;
                    check_hello(&reply.ok_or("the chat ended early")?)?;
                    if exchange < *count {
                        requests
                            .send(HelloRequest { name: "World".into() })
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                drop(requests);
                match replies.message().await {
                    Ok(None) => Ok(grpc_served_by(metadata)),
                    other => Err(format!("the chat did not end cleanly: {other:?}")),
                }
            }
            (Self::WebSocket { addr, counters }, Workload::Chat(count)) => {
                use futures_util::{SinkExt as _, StreamExt as _};
                use tokio_tungstenite::tungstenite::Message;
                let stream = super::wire::CountingStream::connect(*addr, counters.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                let url = format!("ws://{addr}{}", routes::CHAT.path);
                let (mut socket, handshake) = tokio_tungstenite::client_async(url, stream)
                    .await
                    .map_err(|e| format!("WebSocket: {e}"))?;
                let served_by = handshake.headers().get(SERVED_BY).cloned();
                let request = serde_json::json!({"name": "World"}).to_string();
                for _ in 0..*count {
                    socket.send(Message::text(request.clone())).await.map_err(|e| e.to_string())?;
                    let frame = socket
                        .next()
                        .await
                        .ok_or("the socket closed early")?
                        .map_err(|e| e.to_string())?;
                    let reply: HelloReply = serde_json::from_slice(&frame.into_data())
                        .map_err(|e| format!("bad WebSocket reply: {e}"))?;
                    check_hello(&reply)?;
                }
                socket.close(None).await.map_err(|e| e.to_string())?;
                Ok(served_by)
            }
            (Self::WebSocket { .. }, _) | (Self::Rest(_), Workload::Chat(_)) => {
                Err("this cell cannot carry this workload".into())
            }
            (Self::Rest(rest), Workload::Stream(count)) => {
                let (transport, base, sse) = (&mut rest.transport, &rest.base, rest.sse);
                let accept = if sse { "text/event-stream" } else { "application/x-ndjson" };
                let path = routes::SAY_HELLO_STREAM.path.replace("{name}", "World");
                let url = format!("{base}{path}?count={count}");
                let (served_by, body) = rest_get(transport, &url, accept).await?;
                let text = std::str::from_utf8(&body).map_err(|e| e.to_string())?;
                let items: Vec<&str> = if sse {
                    text.split("\n\n")
                        .filter(|e| !e.is_empty())
                        .filter_map(|e| e.strip_prefix("data: "))
                        .collect()
                } else {
                    text.lines().collect()
                };
                let messages = items
                    .into_iter()
                    .map(|item| {
                        serde_json::from_str::<HelloReply>(item)
                            .map(|r| r.message)
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                check_stream(&messages, *count)?;
                Ok(served_by)
            }
        }
    }
}

fn http1_client(connector: CountingConnector) -> Client<CountingConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(usize::MAX).build(connector)
}

async fn rest_call<T: prost::Message + serde::Serialize>(
    transport: &mut RestTransport,
    uri: http::Uri,
    json: bool,
    message: &T,
) -> Result<(ServedBy, Bytes), String> {
    let (media, body) = if json {
        ("application/json", serde_json::to_vec(message).map_err(|e| e.to_string())?)
    } else {
        ("application/x-protobuf", message.encode_to_vec())
    };
    let request = http::Request::post(uri)
        .header(http::header::CONTENT_TYPE, media)
        .header(http::header::ACCEPT, media)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    send(transport, request).await
}

fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    json: bool,
) -> Result<T, String> {
    if json {
        serde_json::from_slice(body).map_err(|e| format!("bad JSON reply: {e}"))
    } else {
        T::decode(body).map_err(|e| format!("bad protobuf reply: {e}"))
    }
}

async fn rest_get(
    transport: &mut RestTransport,
    url: &str,
    accept: &str,
) -> Result<(ServedBy, Bytes), String> {
    let request = http::Request::get(url)
        .header(http::header::ACCEPT, accept)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    send(transport, request).await
}

/// Sends a request and returns who answered and the body of a 200 reply; anything else is an
/// error.
async fn send(
    transport: &mut RestTransport,
    request: http::Request<Full<Bytes>>,
) -> Result<(ServedBy, Bytes), String> {
    let response = match transport {
        RestTransport::Http1 { client, .. } => {
            client.request(request).await.map_err(|e| format!("REST: {e}"))?
        }
        RestTransport::Http2(connections) => {
            let connection = connections.next();
            connection.ready().await.map_err(|e| format!("REST: {e}"))?;
            connection.call(request).await.map_err(|e| format!("REST: {e}"))?
        }
    };
    let status = response.status();
    let served_by = response.headers().get(SERVED_BY).cloned();
    let body =
        response.into_body().collect().await.map_err(|e| format!("REST body: {e}"))?.to_bytes();
    if status != http::StatusCode::OK {
        return Err(format!("REST {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok((served_by, body))
}

fn grpc_error(status: tonic::Status) -> String {
    format!("gRPC {}: {}", status.code(), status.message())
}

fn grpc_served_by(metadata: tonic::metadata::MetadataMap) -> ServedBy {
    metadata.into_headers().remove(SERVED_BY)
}

fn check_stream(messages: &[String], count: u32) -> Result<(), String> {
    if messages.len() != count as usize {
        return Err(format!("{} greetings streamed, {count} asked for", messages.len()));
    }
    let in_order = messages
        .iter()
        .enumerate()
        .all(|(i, m)| *m == format!("Hello World, greeting {} of {count}", i + 1));
    if in_order { Ok(()) } else { Err("a streamed greeting is wrong or out of order".into()) }
}

fn check_hello(reply: &HelloReply) -> Result<(), String> {
    if reply.message == "Hello World" {
        Ok(())
    } else {
        Err(format!("wrong reply {:?}", reply.message))
    }
}

fn check_batch(reply: &BatchHelloReply, names: &[String]) -> Result<(), String> {
    if reply.replies.len() != names.len() {
        return Err(format!("{} replies for {} names", reply.replies.len(), names.len()));
    }
    let all_right = reply
        .replies
        .iter()
        .zip(names)
        .all(|(r, n)| r.message.len() == n.len() + 6 && r.message.ends_with(n.as_str()));
    if all_right { Ok(()) } else { Err("a batch reply does not greet its name".into()) }
}
