//! The cells of the comparison — one protocol stack each — and the client of a cell, which
//! makes one call of a workload and checks the reply. Every cell sends the same messages.

use std::{fmt, net::SocketAddr, str::FromStr, sync::Arc};

use bytes::Bytes;
use http_body_util::Empty;

use super::{
    check::{CallError, Expected, ServedBy},
    compression::Compression,
    grpc::{self, GrpcClients},
    http2::Http2,
    rest::{RestClient, RestStyle},
    turns::Turns,
    unary::{self, ClientOptions, ConnectionPolicy, UnaryClient},
    websocket,
    wire::WireCounters,
};
use crate::workload::{Shape, Workload};

/// One protocol stack, what is compared, as independent parts: the API style with its framing
/// and encoding, the HTTP version, and the compression of messages. What every cell of a run
/// shares (TLS, the link, how calls get connections) is an option of the run, not a part of
/// the cell. Named as before: `grpc`, `rest-json-h1`, `rest-proto-h2`, `rest-sse-h1`,
/// `rest-ws-h1`, `connect-json-h1`, `connect-proto-h2`, with `+gzip` or `+zstd` for
/// compressed messages (`rest-json-h1+gzip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    pub api: Api,
    pub http: HttpVersion,
    pub compression: Compression,
}

/// How calls are framed and encoded on top of HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Protobuf with gRPC framing and trailers.
    Grpc,
    /// REST routes; streams as NDJSON in JSON (protobuf has no streaming media type here).
    Rest(Encoding),
    /// REST server streams as Server-Sent Events (stream workloads only).
    Sse,
    /// Conversations as WebSocket sessions (chat workloads only).
    WebSocket,
    /// The Connect protocol on the gRPC port: the bare message in a POST, as REST sends it,
    /// to the gRPC method's path (unary and batch workloads here).
    Connect(Encoding),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Json,
    Protobuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    H1,
    H2,
}

impl Cell {
    const fn plain(api: Api, http: HttpVersion) -> Cell {
        Cell { api, http, compression: Compression::None }
    }

    pub const GRPC: Cell = Cell::plain(Api::Grpc, HttpVersion::H2);
    pub const REST_JSON_H1: Cell = Cell::plain(Api::Rest(Encoding::Json), HttpVersion::H1);
    pub const REST_JSON_H2: Cell = Cell::plain(Api::Rest(Encoding::Json), HttpVersion::H2);

    /// Every uncompressed cell: each part combined with the others wherever the combination
    /// has a meaning here (see [`Cell::new`]). Each but SSE and WebSocket also comes compressed.
    pub const ALL: [Cell; 13] = [
        Cell::GRPC,
        Cell::REST_JSON_H1,
        Cell::REST_JSON_H2,
        Cell::plain(Api::Rest(Encoding::Protobuf), HttpVersion::H1),
        Cell::plain(Api::Rest(Encoding::Protobuf), HttpVersion::H2),
        Cell::plain(Api::Sse, HttpVersion::H1),
        Cell::plain(Api::Sse, HttpVersion::H2),
        Cell::plain(Api::WebSocket, HttpVersion::H1),
        Cell::plain(Api::WebSocket, HttpVersion::H2),
        Cell::plain(Api::Connect(Encoding::Json), HttpVersion::H1),
        Cell::plain(Api::Connect(Encoding::Json), HttpVersion::H2),
        Cell::plain(Api::Connect(Encoding::Protobuf), HttpVersion::H1),
        Cell::plain(Api::Connect(Encoding::Protobuf), HttpVersion::H2),
    ];

    /// The cell of these parts, or why there is none.
    pub fn new(api: Api, http: HttpVersion, compression: Compression) -> Result<Self, String> {
        match (api, http) {
            (Api::Grpc, HttpVersion::H1) => {
                Err("gRPC needs HTTP/2 (gRPC-Web over HTTP/1.1 is not a cell)".into())
            }
            (Api::Sse | Api::WebSocket, _) if compression != Compression::None => {
                Err("streams and WebSocket messages are not compressed here".into())
            }
            (Api::Grpc | Api::Rest(_) | Api::Sse | Api::WebSocket | Api::Connect(_), _) => {
                Ok(Cell { api, http, compression })
            }
        }
    }

    pub(crate) fn http2(self) -> bool {
        self.http == HttpVersion::H2
    }

    /// Whether the cell has a way to carry the workload: protobuf REST has no streaming media
    /// type here, and SSE carries streams only. For streams, `rest-json-*` means NDJSON.
    /// Connect cells carry what one request and one reply carry, and server streams; not
    /// chats, which compare would have to send as Connect bidi streams (HTTP/2 only), and has
    /// no client for (Connect-ES drives them in the tests).
    /// Compressed cells carry one-request-one-reply workloads only: REST streams are sent
    /// uncompressed (a compressor would hold their items back), so a compressed gRPC stream
    /// would have no REST counterpart.
    pub fn carries(self, workload: &Workload) -> bool {
        let shape = workload.shape();
        let (streaming, chat) = (shape == Shape::Stream, shape == Shape::Chat);
        if self.compression != Compression::None && shape != Shape::SingleCall {
            return false;
        }
        match self.api {
            Api::Grpc => true,
            Api::Rest(Encoding::Json) => !chat,
            Api::Rest(Encoding::Protobuf) => !streaming && !chat,
            Api::Sse => streaming,
            Api::WebSocket => chat,
            Api::Connect(_) => !chat,
        }
    }

    fn json(self) -> bool {
        self.api == Api::Rest(Encoding::Json)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let http = match self.http {
            HttpVersion::H1 => "h1",
            HttpVersion::H2 => "h2",
        };
        match self.api {
            Api::Grpc => f.write_str("grpc"),
            Api::Rest(Encoding::Json) => write!(f, "rest-json-{http}"),
            Api::Rest(Encoding::Protobuf) => write!(f, "rest-proto-{http}"),
            Api::Sse => write!(f, "rest-sse-{http}"),
            Api::WebSocket => write!(f, "rest-ws-{http}"),
            Api::Connect(Encoding::Json) => write!(f, "connect-json-{http}"),
            Api::Connect(Encoding::Protobuf) => write!(f, "connect-proto-{http}"),
        }?;
        match self.compression.name() {
            Some(encoding) => write!(f, "+{encoding}"),
            None => Ok(()),
        }
    }
}

impl FromStr for Cell {
    type Err = String;

    /// `grpc`, `rest-{json,proto,sse,ws}-{h1,h2}` or `connect-{json,proto}-{h1,h2}`, then
    /// `+gzip` or `+zstd` if compressed, read part by part.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let unknown = || {
            let names: Vec<String> = Cell::ALL.iter().map(ToString::to_string).collect();
            format!(
                "unknown cell {name:?}; cells: {}, each but SSE and WebSocket with +gzip or +zstd",
                names.join(", ")
            )
        };
        let (stack, compression) = match name.split_once('+') {
            None => (name, Compression::None),
            Some((stack, "gzip")) => (stack, Compression::Gzip),
            Some((stack, "zstd")) => (stack, Compression::Zstd),
            Some(_) => return Err(unknown()),
        };
        let (api, http) = match stack.split('-').collect::<Vec<_>>()[..] {
            ["grpc"] => (Api::Grpc, HttpVersion::H2),
            ["grpc", http] => (Api::Grpc, http_version(http).ok_or_else(unknown)?),
            ["rest", style, http] => {
                let api = match style {
                    "json" => Api::Rest(Encoding::Json),
                    "proto" => Api::Rest(Encoding::Protobuf),
                    "sse" => Api::Sse,
                    "ws" => Api::WebSocket,
                    _ => return Err(unknown()),
                };
                (api, http_version(http).ok_or_else(unknown)?)
            }
            ["connect", style, http] => {
                let encoding = match style {
                    "json" => Encoding::Json,
                    "proto" => Encoding::Protobuf,
                    _ => return Err(unknown()),
                };
                (Api::Connect(encoding), http_version(http).ok_or_else(unknown)?)
            }
            _ => return Err(unknown()),
        };
        Cell::new(api, http, compression).map_err(|why| format!("no cell {name:?}: {why}"))
    }
}

fn http_version(name: &str) -> Option<HttpVersion> {
    match name {
        "h1" => Some(HttpVersion::H1),
        "h2" => Some(HttpVersion::H2),
        _ => None,
    }
}

/// The client one task of a run calls with. HTTP/2 cells share their connections among the
/// tasks (each task holds its own handles on them); an HTTP/1.1 task has a connection of its
/// own, since HTTP/1.1 carries one call at a time. Each kind of client makes its calls in a
/// file of its own (`unary.rs`, `grpc.rs`, `rest.rs`, `websocket.rs`); which one a cell and
/// workload get is decided here alone ([`CellClient::connect`]).
#[derive(Clone, Debug)]
pub enum CellClient {
    /// Every single-call workload (unary, batch, payloads) of the gRPC, REST and Connect
    /// cells (not SSE or WebSocket, which carry only streams and chats).
    Unary(Box<UnaryClient>),
    Grpc(GrpcClients),
    /// The streams of the REST, SSE and Connect cells (the gRPC cell's streams and chats are
    /// `Grpc`'s). Boxed: hyper's pooled client is many times the size of the other variants.
    Rest(Box<RestClient>),
    /// A new WebSocket session per conversation: HTTP/1.1 cannot multiplex them.
    WebSocket {
        addr: SocketAddr,
        tls: Option<super::tls::ClientTls>,
        counters: Arc<WireCounters>,
    },
    /// A WebSocket session per conversation, each a stream of the shared HTTP/2 connections
    /// (RFC 8441).
    WebSocketOverHttp2 {
        connections: Turns<Http2<Empty<Bytes>>>,
        authority: String,
    },
}

impl CellClient {
    /// Connects to the cell's port: HTTP/2 cells open `connections` connections (per gRPC
    /// server address); HTTP/1.1 cells connect as each task first calls. Every cell and
    /// workload is matched by name: a new cell does not compile until it is given a client
    /// here, and a workload a cell cannot carry is refused.
    pub async fn connect(
        cell: Cell,
        workload: &Workload,
        (grpc, rest): (&[SocketAddr], SocketAddr),
        connections: usize,
        options: ClientOptions,
        counters: Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        let connections = connections.max(1);
        let (windows, tls) = (options.windows, options.tls.clone());
        // Under `--resolve-every`'s balancing, the port's answer, asked again as servers change.
        let balance = options.balance.clone();
        let answer = |grpc_port: bool| {
            let balance = balance.as_ref()?;
            let answers = &balance.answers;
            let answer = if grpc_port { &answers.grpc } else { &answers.rest };
            Some((answer.clone()?, balance.every))
        };
        let lean = |addrs: &[SocketAddr], reply: unary::Reply| {
            let (counters, options) = (counters.clone(), options.clone());
            let addrs = addrs.to_vec();
            let answer = answer(reply.on_grpc_port());
            async move {
                let client = UnaryClient::connect(
                    (&addrs, answer),
                    cell.http2(),
                    (reply, cell.compression),
                    workload,
                    connections,
                    options,
                    &counters,
                )
                .await?;
                anyhow::Ok(Self::Unary(Box::new(client)))
            }
        };
        let rest_style = |sse| RestStyle {
            http2: cell.http2(),
            windows,
            tls: tls.clone(),
            json: cell.json(),
            sse,
            connect: false,
        };
        let unary = workload.is_single_call();
        if !unary && options.policy != ConnectionPolicy::default() {
            anyhow::bail!(
                "--h1-connections and --connect-per-call apply to unary and batch workloads, \
                 not {workload}"
            );
        }
        if !cell.carries(workload) {
            anyhow::bail!("the {cell} cell cannot carry {workload}");
        }
        match (cell.api, unary) {
            (Api::Grpc, true) => lean(grpc, unary::Reply::Grpc).await,
            (Api::Rest(Encoding::Json), true) => lean(&[rest], unary::Reply::Json).await,
            (Api::Rest(Encoding::Protobuf), true) => lean(&[rest], unary::Reply::Protobuf).await,
            (Api::Connect(encoding), true) => {
                let reply = match encoding {
                    Encoding::Json => unary::Reply::ConnectJson,
                    Encoding::Protobuf => unary::Reply::ConnectProtobuf,
                };
                lean(grpc, reply).await
            }
            (Api::Connect(encoding), false) => {
                // Connect's streams go to the gRPC port, by the same hyper client as REST's.
                let style = RestStyle {
                    json: encoding == Encoding::Json,
                    connect: true,
                    ..rest_style(false)
                };
                let first = *grpc.first().ok_or_else(|| anyhow::anyhow!("no gRPC address"))?;
                let client = RestClient::connect(first, style, connections, counters);
                Ok(Self::Rest(Box::new(client.await?)))
            }
            (Api::Grpc, false) => {
                let tls = tls.as_ref();
                Ok(Self::Grpc(grpc::connect(grpc, connections, windows, tls, &counters).await?))
            }
            (Api::Rest(_), false) => {
                let rest = RestClient::connect(rest, rest_style(false), connections, counters);
                Ok(Self::Rest(Box::new(rest.await?)))
            }
            (Api::Sse, _) => {
                let rest = RestClient::connect(rest, rest_style(true), connections, counters);
                Ok(Self::Rest(Box::new(rest.await?)))
            }
            (Api::WebSocket, _) if !cell.http2() => {
                Ok(Self::WebSocket { addr: rest, tls, counters })
            }
            (Api::WebSocket, _) => {
                let mut handles = Vec::with_capacity(connections);
                for _ in 0..connections {
                    let tls = tls.as_ref();
                    handles.push(Http2::connect(rest, windows, tls, counters.clone()).await?);
                }
                let connections = Turns::new(handles, 0);
                Ok(Self::WebSocketOverHttp2 { connections, authority: rest.to_string() })
            }
        }
    }

    /// The client task number `task` of a run uses (see [`CellClient`]).
    pub fn for_task(&self, task: usize) -> Self {
        match self {
            Self::Unary(client) => Self::Unary(Box::new(client.for_task(task))),
            Self::Grpc(clients) => Self::Grpc(clients.for_task(task)),
            Self::Rest(rest) => Self::Rest(Box::new(rest.for_task(task))),
            Self::WebSocket { .. } => self.clone(),
            Self::WebSocketOverHttp2 { connections, authority } => Self::WebSocketOverHttp2 {
                connections: connections.for_task(task),
                authority: authority.clone(),
            },
        }
    }

    /// How many connections are open at once at this concurrency: HTTP/2 multiplexes every
    /// call on its connections; HTTP/1.1 needs one per call in flight.
    pub fn connections(&self, concurrency: usize) -> usize {
        match self {
            Self::Unary(client) => client.connections(concurrency),
            Self::Grpc(clients) => clients.len(),
            Self::Rest(rest) => rest.connections(concurrency),
            Self::WebSocket { .. } => concurrency,
            Self::WebSocketOverHttp2 { connections, .. } => connections.len(),
        }
    }

    /// Makes one call of `workload`, the workload the client was connected for, and checks
    /// the reply against `expected`; `Ok` says which server answered.
    pub async fn call(
        &mut self,
        workload: &Workload,
        expected: &Expected,
    ) -> Result<ServedBy, CallError> {
        match (self, workload) {
            (Self::Unary(client), _) => client.call(workload, expected).await,
            (Self::Grpc(clients), Workload::Stream(count)) => {
                grpc::stream(clients, *count, expected).await
            }
            (Self::Grpc(clients), Workload::Chat(count)) => {
                grpc::chat(clients, *count, expected).await
            }
            (Self::Rest(rest), Workload::Stream(count)) => rest.stream(*count, expected).await,
            (Self::WebSocket { addr, tls, counters }, Workload::Chat(count)) => {
                websocket::chat(*addr, tls.as_ref(), counters, *count, expected).await
            }
            (Self::WebSocketOverHttp2 { connections, authority }, Workload::Chat(count)) => {
                let connection = connections.next();
                websocket::chat_over_http2(connection, authority, *count, expected).await
            }
            // None of these is made by `connect`: it gives every single-call workload to
            // `Unary`, the gRPC cell's streams and chats to `Grpc`, the other cells' streams to
            // `Rest`, chats to `WebSocket*`, and refuses what a cell does not carry.
            (
                Self::Grpc(_)
                | Self::Rest(_)
                | Self::WebSocket { .. }
                | Self::WebSocketOverHttp2 { .. },
                _,
            ) => Err(CallError::CannotCarry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_named_by_its_parts_and_read_back() {
        for cell in Cell::ALL {
            assert_eq!(cell.to_string().parse::<Cell>(), Ok(cell));
        }
        for name in ["grpc+zstd", "rest-json-h1+gzip", "rest-proto-h2+zstd", "connect-json-h1+gzip"]
        {
            assert_eq!(name.parse::<Cell>().unwrap().to_string(), name);
        }
        assert_eq!("grpc+gzip".parse::<Cell>().unwrap().compression, Compression::Gzip);
        assert_eq!("grpc-h2".parse::<Cell>(), Ok(Cell::GRPC));
    }

    #[test]
    fn parts_that_do_not_go_together_are_refused_with_the_reason() {
        for (name, reason) in [
            ("grpc-h1", "gRPC needs HTTP/2"),
            ("rest-sse-h1+gzip", "not compressed here"),
            ("rest-xml-h1", "unknown cell"),
            ("rest-json-h3", "unknown cell"),
        ] {
            let refused = name.parse::<Cell>().unwrap_err();
            assert!(refused.contains(reason), "{name}: {refused}");
        }
    }
}
