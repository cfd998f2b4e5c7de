//! The cells of the comparison — one protocol stack each — and the client of a cell, which
//! makes one call of a workload and checks the reply. Every cell sends the same messages.

use std::{fmt, net::SocketAddr, str::FromStr, sync::Arc};

use http::HeaderValue;

use super::{
    check::{CallError, Expected},
    grpc_client::{self, GrpcClients},
    rest_client::{RestClient, RestStyle},
    unary_client::{self, ClientOptions, ConnectionPolicy, UnaryClient},
    websocket_client,
    wire::WireCounters,
    workload::Workload,
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
/// own, since HTTP/1.1 carries one call at a time. Each kind of client makes its calls in a
/// file of its own (`grpc_client`, `rest_client`, `websocket_client`).
#[derive(Clone, Debug)]
pub enum CellClient {
    /// Unary and batch workloads of the gRPC and REST cells (not SSE or WebSocket, which
    /// carry only streams and chats).
    Unary(Box<UnaryClient>),
    Grpc(GrpcClients),
    /// Boxed: hyper's pooled client is many times the size of the other variants.
    Rest(Box<RestClient>),
    /// A new WebSocket session per conversation: HTTP/1.1 cannot multiplex them.
    WebSocket {
        addr: SocketAddr,
        tls: Option<super::tls::ClientTls>,
        counters: Arc<WireCounters>,
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
        let lean = |addrs: &[SocketAddr], reply| {
            let (counters, options) = (counters.clone(), options.clone());
            let addrs = addrs.to_vec();
            async move {
                let client = UnaryClient::connect(
                    &addrs,
                    cell.http2(),
                    reply,
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
        };
        let unary = workload.is_unary_or_batch();
        if !unary && options.policy != ConnectionPolicy::default() {
            anyhow::bail!(
                "--h1-connections and --connect-per-call apply to unary and batch workloads, \
                 not {workload}"
            );
        }
        match (cell, workload) {
            (_, _) if !cell.carries(workload) => {
                anyhow::bail!("the {cell} cell cannot carry {workload}")
            }
            (Cell::Grpc, Workload::Unary | Workload::Batch(_)) => {
                lean(grpc, unary_client::Reply::Grpc).await
            }
            (Cell::RestJsonH1 | Cell::RestJsonH2, _) if unary => {
                lean(&[rest], unary_client::Reply::Json).await
            }
            (Cell::RestProtoH1 | Cell::RestProtoH2, _) if unary => {
                lean(&[rest], unary_client::Reply::Protobuf).await
            }
            (Cell::Grpc, Workload::Stream(_) | Workload::Chat(_)) => {
                let tls = tls.as_ref();
                Ok(Self::Grpc(
                    grpc_client::connect(grpc, connections, windows, tls, &counters).await?,
                ))
            }
            (Cell::RestJsonH1 | Cell::RestJsonH2 | Cell::RestProtoH1 | Cell::RestProtoH2, _) => {
                let rest = RestClient::connect(rest, rest_style(false), connections, counters);
                Ok(Self::Rest(Box::new(rest.await?)))
            }
            (Cell::RestSseH1 | Cell::RestSseH2, _) => {
                let rest = RestClient::connect(rest, rest_style(true), connections, counters);
                Ok(Self::Rest(Box::new(rest.await?)))
            }
            (Cell::RestWsH1, _) => Ok(Self::WebSocket { addr: rest, tls, counters }),
        }
    }

    /// The client task number `task` of a run uses (see [`CellClient`]).
    pub fn for_task(&self, task: usize) -> Self {
        match self {
            Self::Unary(client) => Self::Unary(Box::new(client.for_task(task))),
            Self::Grpc(clients) => Self::Grpc(clients.for_task(task)),
            Self::Rest(rest) => Self::Rest(Box::new(rest.for_task(task))),
            Self::WebSocket { .. } => self.clone(),
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
        }
    }

    /// Makes one call and checks the reply against `expected`; `Ok` says which server
    /// answered.
    pub async fn call(
        &mut self,
        workload: &Workload,
        expected: &Expected,
    ) -> Result<ServedBy, CallError> {
        match (self, workload) {
            (Self::Unary(client), _) => client.call(workload, expected).await,
            (Self::Grpc(clients), _) => grpc_client::call(clients, workload, expected).await,
            (Self::Rest(rest), _) => rest.call(workload, expected).await,
            (Self::WebSocket { addr, tls, counters }, Workload::Chat(count)) => {
                websocket_client::chat(*addr, tls.as_ref(), counters, *count, expected).await
            }
            (Self::WebSocket { .. }, _) => Err(CallError::CannotCarry),
        }
    }
}
