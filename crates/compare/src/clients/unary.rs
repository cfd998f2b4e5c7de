//! The unary client: one request, one reply (the `unary`, `batch-N`, `complex` and `records-N`
//! workloads) on the gRPC, REST and Connect cells, made with as little client as the protocol
//! allows, so that the generator costs far less than the server it measures. This file is
//! the dispatch: what each single-call workload sends ([`request_of`], made into a request
//! once per run by [`prepare`]) and how its reply is checked ([`check`]: its status, HTTP and
//! for gRPC its `grpc-status` and framing, then its message, decoded and compared with what
//! the domain says), and how calls get their connections ([`Wire`]). The transports are
//! beside it: `lean_h2/` sends the request's frames as they were made on an HTTP/2 connection
//! the calling tasks drive themselves (gRPC, h2c, Connect), `http1.rs` writes it straight on the socket from the calling task and reads the reply
//! into one buffer.
//! tonic's generated client (with its codec, streaming bodies and a task per request body
//! in hyper's HTTP/2 client) cost a gRPC call about as much as our server spends on it; the
//! streaming workloads still go through it (`grpc.rs`, `rest.rs`).

use std::{net::SocketAddr, sync::Arc};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::{
    balanced::{Answer, Answered, Balance, Balanced, Dialling},
    check::{CallError, Expected, NAME, Retry, ServedBy},
    compression::Compression,
    http1::{self, Http1Connection, Http1Pool, call_http1},
    http2::{Http2Request, Received},
    lean_h2::LeanH2,
    redial::Redialled,
    tls::ClientTls,
    turns::Turns,
    wire::WireCounters,
};
use crate::workload::Workload;
use contract::rest_api::{media_types, paths};
use contract::{
    facts::SERVED_BY,
    grpc_messages::{self as frames, COMPRESSED, envelope},
    proto::{BatchHelloReply, BatchHelloRequest, HelloReply, HelloRequest},
    settings::Http2Windows,
};

/// What a cell's replies are, and how to read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// gRPC: a length-prefixed protobuf message, then `grpc-status` in the trailers.
    Grpc,
    Json,
    Protobuf,
    /// Connect: the bare message, as REST's, sent to the gRPC method's path.
    ConnectJson,
    ConnectProtobuf,
}

impl Reply {
    /// Whether its calls go to the gRPC port (gRPC and Connect) rather than the REST one.
    pub(crate) fn on_grpc_port(self) -> bool {
        matches!(self, Reply::Grpc | Reply::ConnectJson | Reply::ConnectProtobuf)
    }

    fn json(self) -> bool {
        matches!(self, Reply::Json | Reply::ConnectJson)
    }
}

/// What a single-call workload sends: the Greeter method it calls on the gRPC port (gRPC and
/// Connect), the REST route it posts to, and its message, encoded as the cell's replies are.
/// A new single-call workload gets an arm here and one in [`check`].
fn request_of(
    workload: &Workload,
    reply: Reply,
) -> anyhow::Result<(&'static str, &'static str, Vec<u8>)> {
    Ok(match workload {
        Workload::Unary => {
            let request = HelloRequest { name: NAME.into() };
            ("SayHello", paths::SAY_HELLO, encode(reply, &request)?)
        }
        Workload::Batch(names) => {
            let request = BatchHelloRequest { names: names.to_vec() };
            ("SayHelloBatch", paths::SAY_HELLO_BATCH, encode(reply, &request)?)
        }
        Workload::Complex(request) => {
            ("EchoComplex", paths::ECHO_COMPLEX, encode(reply, request.as_ref())?)
        }
        Workload::Records(request) => {
            ("EchoPeople", paths::ECHO_PEOPLE, encode(reply, request.as_ref())?)
        }
        Workload::Stream(_) | Workload::Chat(_) => {
            anyhow::bail!("{workload} is not a unary workload")
        }
    })
}

/// How the reply of a single-call workload is checked: its message (unwrapped from gRPC's
/// frame and decompressed), decoded as the cell's replies are and compared with what the
/// domain says ([`Expected`]).
fn check(
    workload: &Workload,
    reply: Reply,
    message: &[u8],
    expected: &Expected,
) -> Result<(), CallError> {
    match workload {
        Workload::Unary => {
            let reply: HelloReply = decode(reply, message)?;
            expected.hello(&reply.message)
        }
        Workload::Batch(_) => {
            let reply: BatchHelloReply = decode(reply, message)?;
            expected.batch(reply.replies.iter().map(|reply| reply.message.as_str()))
        }
        Workload::Complex(_) => expected.complex(&decode(reply, message)?),
        Workload::Records(_) => expected.people(&decode(reply, message)?),
        // `UnaryClient::connect` refuses them (`request_of`): the streaming clients carry them.
        Workload::Stream(_) | Workload::Chat(_) => Err(CallError::CannotCarry),
    }
}

/// One request, made once and sent as it is by every call.
#[derive(Debug, Clone)]
struct Prepared {
    http2: Http2Request,
    /// The whole request as HTTP/1.1 bytes: head and body.
    http1: Bytes,
}

/// How a cell's client connects, the same for every cell of a run.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub policy: ConnectionPolicy,
    /// The receive windows of the client's HTTP/2 connections.
    pub windows: Http2Windows,
    /// TLS, or plaintext (h2c and plain HTTP/1.1).
    pub tls: Option<ClientTls>,
    /// Whether a call the server never began is sent again.
    pub retry: Retry,
    /// Where the clients take the servers' addresses from, when they spread the calls over
    /// them themselves; `None`: the addresses given, as they were at the start.
    pub balance: Option<Balance>,
}

/// How a cell's calls get their connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionPolicy {
    /// HTTP/1.1: at most this many connections, shared by every task; a call waits for a free
    /// one (`None`: one per call in flight, each task its own).
    pub h1_pool: Option<usize>,
    /// Every call opens a connection of its own and closes it after the reply: TCP, and on
    /// HTTP/2 the preface and SETTINGS, paid per call.
    pub per_call: bool,
}

/// How the calls reach the server.
#[derive(Debug)]
enum Wire {
    /// Connections shared by every task (each task holds its own handles), taken in turn,
    /// each replaced when it closes or goes away.
    Http2(Turns<Redialled>),
    /// A connection of the task's own, opened at its first call and again whenever the
    /// server has closed it.
    Http1 {
        addr: SocketAddr,
        tls: Option<ClientTls>,
        counters: Arc<WireCounters>,
        connection: Option<Http1Connection>,
    },
    /// Connections shared by every task, at most the pool's size; a call waits for one.
    Http1Pool(Arc<Http1Pool>),
    /// Every address the answer gives, asked again as the servers change, calls round robin.
    Balanced(Balanced),
    /// A new connection for every call, to each address in turn.
    PerCall {
        addrs: Turns<SocketAddr>,
        http2: bool,
        windows: Http2Windows,
        tls: Option<ClientTls>,
        counters: Arc<WireCounters>,
    },
}

impl Clone for Wire {
    /// A clone shares the HTTP/2 connections and the pool, and opens an HTTP/1.1 connection
    /// of its own.
    fn clone(&self) -> Self {
        match self {
            Wire::Http2(connections) => Wire::Http2(connections.clone()),
            Wire::Http1 { addr, tls, counters, .. } => Wire::Http1 {
                addr: *addr,
                tls: tls.clone(),
                counters: counters.clone(),
                connection: None,
            },
            Wire::Http1Pool(pool) => Wire::Http1Pool(pool.clone()),
            Wire::Balanced(balanced) => Wire::Balanced(balanced.clone()),
            Wire::PerCall { addrs, http2, windows, tls, counters } => Wire::PerCall {
                addrs: addrs.clone(),
                http2: *http2,
                windows: *windows,
                tls: tls.clone(),
                counters: counters.clone(),
            },
        }
    }
}

/// A cell's client for single-call workloads.
#[derive(Debug, Clone)]
pub struct UnaryClient {
    wire: Wire,
    request: Prepared,
    reply: Reply,
    compression: Compression,
    retry: Retry,
}

impl UnaryClient {
    /// A client for `workload` (a single-call one) to `addrs` (gRPC may have several; REST has
    /// one), or to the addresses `answer` gives, asked again every `resolve_every`: HTTP/2
    /// opens `connections` connections per address now, HTTP/1.1 connects as each task first
    /// calls.
    pub(crate) async fn connect(
        (addrs, answer): (&[SocketAddr], Option<(Answer, std::time::Duration)>),
        http2: bool,
        (reply, compression): (Reply, Compression),
        workload: &Workload,
        connections: usize,
        ClientOptions { policy, windows, tls, retry, .. }: ClientOptions,
        counters: &Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        let first = *addrs.first().ok_or_else(|| anyhow::anyhow!("no address to connect to"))?;
        let request = prepare(first, (reply, compression), workload)?;
        let wire = if policy.per_call {
            Wire::PerCall {
                addrs: Turns::new(addrs.to_vec(), 0),
                http2,
                windows,
                tls,
                counters: counters.clone(),
            }
        } else if let (false, Some(size)) = (http2, policy.h1_pool) {
            Wire::Http1Pool(Arc::new(Http1Pool::new(first, tls, counters.clone(), size)))
        } else if let Some((answer, every)) = answer {
            let dialling = match http2 {
                true => {
                    let request = Box::new(request.http2.clone());
                    Dialling::Http2 { windows, request, connections }
                }
                false => Dialling::Http1 { request: request.http1.clone() },
            };
            Wire::Balanced(Balanced::connect(answer, every, dialling, tls, counters.clone()).await?)
        } else if http2 {
            let mut handles = Vec::with_capacity(addrs.len() * connections);
            for _ in 0..connections {
                for &addr in addrs {
                    let tls = tls.as_ref();
                    let connection = Redialled::connect(
                        addr,
                        windows,
                        tls,
                        counters.clone(),
                        &request.http2,
                        None,
                    );
                    handles.push(connection.await?);
                }
            }
            Wire::Http2(Turns::new(handles, 0))
        } else {
            Wire::Http1 { addr: first, tls, counters: counters.clone(), connection: None }
        };
        Ok(Self { wire, request, reply, compression, retry })
    }

    /// The client task number `task` uses: its own handles on the HTTP/2 connections, or a
    /// connection of its own on HTTP/1.1.
    pub(crate) fn for_task(&self, task: usize) -> Self {
        let wire = match &self.wire {
            Wire::Http2(connections) => Wire::Http2(connections.for_task(task)),
            Wire::Balanced(balanced) => Wire::Balanced(balanced.for_task(task)),
            Wire::PerCall { addrs, http2, windows, tls, counters } => Wire::PerCall {
                addrs: addrs.for_task(task),
                http2: *http2,
                windows: *windows,
                tls: tls.clone(),
                counters: counters.clone(),
            },
            other => other.clone(),
        };
        Self { wire, request: self.request.clone(), ..*self }
    }

    /// How many connections are open at once at this concurrency.
    pub(crate) fn connections(&self, concurrency: usize) -> usize {
        match &self.wire {
            Wire::Http2(connections) => connections.len(),
            Wire::Http1 { .. } | Wire::PerCall { .. } => concurrency,
            Wire::Http1Pool(pool) => pool.size().min(concurrency),
            Wire::Balanced(balanced) => balanced.connections(concurrency),
        }
    }

    /// One call of `workload`, checked against `expected`.
    pub(crate) async fn call(
        &mut self,
        workload: &Workload,
        expected: &Expected,
    ) -> Result<ServedBy, CallError> {
        let (status, served_by, body, grpc) = match &mut self.wire {
            Wire::Http2(connections) => http2_reply(connections.next().call(self.retry).await?),
            Wire::Http1 { addr, tls, counters, connection } => {
                let request = &self.request.http1;
                let (status, served_by, body) =
                    call_http1(*addr, tls.as_ref(), counters, connection, request, self.retry)
                        .await?;
                (status, served_by, body, None)
            }
            Wire::Http1Pool(pool) => {
                let (status, served_by, body) = pool.call(&self.request.http1, self.retry).await?;
                (status, served_by, body, None)
            }
            Wire::Balanced(balanced) => match balanced.call(self.retry).await? {
                Answered::Http2(received) => http2_reply(received),
                Answered::Http1(status, served_by, body) => (status, served_by, body, None),
            },
            Wire::PerCall { addrs, http2: true, windows, tls, counters } => {
                let tls = tls.as_ref();
                let request = &self.request.http2;
                let connection =
                    LeanH2::connect(*addrs.next(), *windows, tls, counters.clone(), request)
                        .await
                        .map_err(|error| CallError::Transport(format!("connect: {error:#}")))?;
                http2_reply(connection.call().await?)
            }
            Wire::PerCall { addrs, http2: false, tls, counters, .. } => {
                let (addr, tls) = (*addrs.next(), tls.as_ref());
                let (status, served_by, body) =
                    call_http1(addr, tls, counters, &mut None, &self.request.http1, Retry::None)
                        .await?;
                (status, served_by, body, None)
            }
        };
        let message = match (self.reply, grpc) {
            (Reply::Grpc, Some((headers, trailers))) => {
                let (compressed, message) =
                    grpc_message(status, &headers, body, trailers.as_ref())?;
                let encoding = headers.get("grpc-encoding").and_then(|v| v.to_str().ok());
                if !compressed {
                    message
                } else if encoding.is_some() && encoding == self.compression.name() {
                    Bytes::from(self.compression.decompress(&message)?)
                } else {
                    let wrong = format!("a message compressed in {encoding:?}, not asked for");
                    return Err(CallError::WrongReply(wrong));
                }
            }
            (Reply::Grpc, None) => return Err(CallError::CannotCarry),
            (_, _) if status != StatusCode::OK => {
                let body = String::from_utf8_lossy(&body).into_owned();
                return Err(CallError::Rest { status, body });
            }
            (_, _) if self.compression.is_in(&body) => {
                Bytes::from(self.compression.decompress(&body)?)
            }
            (_, _) => body,
        };
        check(workload, self.reply, &message, expected)?;
        Ok(served_by)
    }
}

/// An HTTP/2 reply as every wire gives it to [`UnaryClient::call`]: its status, the server
/// that answered, its body, and its headers and trailers for gRPC's checks.
fn http2_reply(
    (status, headers, body, trailers): Received,
) -> (StatusCode, ServedBy, Bytes, Option<(HeaderMap, Option<HeaderMap>)>) {
    let served_by = headers.get(SERVED_BY).cloned();
    (status, served_by, body, Some((headers, trailers)))
}

/// The request every call of `workload` sends.
fn prepare(
    addr: SocketAddr,
    (reply, compression): (Reply, Compression),
    workload: &Workload,
) -> anyhow::Result<Prepared> {
    let (grpc_method, route, message) = request_of(workload, reply)?;
    // Compressed once, as the message is encoded once: each call sends the same bytes.
    let message = compression.compress(message)?;
    let mut headers = HeaderMap::new();
    let (path, body) = match reply {
        Reply::Grpc => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
            if let Some(encoding) = compression.name() {
                headers.insert("grpc-encoding", HeaderValue::from_static(encoding));
                headers.insert("grpc-accept-encoding", HeaderValue::from_static(encoding));
            }
            // The gRPC message frame: compressed or not, then the length, big-endian (which
            // four bytes must hold).
            u32::try_from(message.len())?;
            let flags = if compression.name().is_some() { COMPRESSED } else { 0 };
            (format!("/helloworld.Greeter/{grpc_method}"), envelope(flags, &message))
        }
        Reply::Json | Reply::Protobuf => {
            let media =
                if reply == Reply::Json { media_types::JSON } else { media_types::PROTOBUF };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            headers.insert(header::ACCEPT, HeaderValue::from_static(media));
            if let Some(encoding) = compression.name() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
            }
            (route.to_owned(), Bytes::from(message))
        }
        Reply::ConnectJson | Reply::ConnectProtobuf => {
            let media = if reply.json() { "application/json" } else { "application/proto" };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            headers.insert("connect-protocol-version", HeaderValue::from_static("1"));
            if let Some(encoding) = compression.name() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
            }
            (format!("/helloworld.Greeter/{grpc_method}"), Bytes::from(message))
        }
    };
    // HTTP/2 takes `:authority` from the URI; HTTP/1.1 has a Host header instead.
    let http1 = http1::request(addr, &path, &headers, &body)?;
    Ok(Prepared {
        http2: Http2Request {
            method: Method::POST,
            uri: format!("http://{addr}{path}").parse()?,
            headers,
            body,
        },
        http1,
    })
}

fn encode<T: prost::Message + serde::Serialize>(
    reply: Reply,
    message: &T,
) -> anyhow::Result<Vec<u8>> {
    Ok(if reply.json() { serde_json::to_vec(message)? } else { message.encode_to_vec() })
}

fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
    reply: Reply,
    message: &[u8],
) -> Result<T, CallError> {
    if reply.json() {
        serde_json::from_slice(message)
            .map_err(|error| CallError::WrongReply(format!("bad JSON: {error}")))
    } else {
        T::decode(message).map_err(|error| CallError::WrongReply(format!("bad protobuf: {error}")))
    }
}

/// The message of a gRPC reply, or the status it failed with: whether it came compressed, and
/// its bytes. The fuzz target `compare_grpc_frame` calls it too (see `crate::fuzzing`).
pub(crate) fn grpc_message(
    status: StatusCode,
    headers: &HeaderMap,
    mut body: Bytes,
    trailers: Option<&HeaderMap>,
) -> Result<(bool, Bytes), CallError> {
    if status != StatusCode::OK {
        return Err(CallError::transport("gRPC", format!("HTTP status {status}")));
    }
    // A trailers-only reply carries its status in the headers.
    let status_in = trailers.filter(|_| !headers.contains_key("grpc-status")).unwrap_or(headers);
    let code = status_in
        .get("grpc-status")
        .and_then(|value| value.to_str().ok()?.parse::<i32>().ok())
        .ok_or_else(|| CallError::WrongReply("no grpc-status".into()))?;
    if code != 0 {
        // Percent-encoded on the wire (the gRPC HTTP/2 protocol's Status-Message).
        let message = status_in.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or("");
        let message = percent_encoding::percent_decode_str(message).decode_utf8_lossy();
        return Err(CallError::Grpc { code: tonic::Code::from(code), message: message.into() });
    }
    let Some((compressed, length)) = frames::prefix(&body) else {
        return Err(CallError::WrongReply(format!("a {}-byte gRPC frame", body.len())));
    };
    body.advance(frames::PREFIX);
    if compressed > 1 || length != body.len() {
        return Err(CallError::WrongReply(format!(
            "a gRPC frame (compressed {compressed}) of {length} bytes in {} bytes",
            body.len()
        )));
    }
    Ok((compressed == 1, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc_frame(message: &[u8]) -> Bytes {
        let mut frame = vec![0];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(message);
        Bytes::from(frame)
    }

    fn trailers(code: &str, message: &str) -> HeaderMap {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", code.parse().unwrap());
        trailers.insert("grpc-message", message.parse().unwrap());
        trailers
    }

    #[test]
    fn a_grpc_reply_gives_its_message_or_its_status() {
        let ok = grpc_message(
            StatusCode::OK,
            &HeaderMap::new(),
            grpc_frame(b"hi"),
            Some(&trailers("0", "")),
        );
        assert_eq!(ok.unwrap(), (false, Bytes::from_static(b"hi")));
        // Trailers-only: the status comes in the headers.
        let refused =
            grpc_message(StatusCode::OK, &trailers("3", "bad%20name"), Bytes::new(), None);
        assert!(
            matches!(&refused, Err(CallError::Grpc { code: tonic::Code::InvalidArgument, message }) if message == "bad name"),
            "{refused:?}"
        );
        let no_status = grpc_message(StatusCode::OK, &HeaderMap::new(), grpc_frame(b"hi"), None);
        assert!(matches!(no_status, Err(CallError::WrongReply(_))));
    }

    #[test]
    fn a_malformed_grpc_frame_is_a_wrong_reply() {
        let status = trailers("0", "");
        let mut flagged = grpc_frame(b"hi").to_vec();
        flagged[0] = 2;
        let mut short = grpc_frame(b"hello").to_vec();
        short.truncate(7);
        for body in [Bytes::from(flagged), Bytes::from(short), Bytes::from_static(b"\0\0")] {
            let result = grpc_message(StatusCode::OK, &HeaderMap::new(), body, Some(&status));
            assert!(matches!(result, Err(CallError::WrongReply(_))), "{result:?}");
        }
    }

    #[test]
    fn the_prepared_http1_request_is_a_complete_post() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let request = prepare(addr, (Reply::Json, Compression::None), &Workload::Unary).unwrap();
        let text = std::str::from_utf8(&request.http1).unwrap();
        assert!(
            text.starts_with("POST /v1/greeter/hello HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(text.ends_with("content-length: 16\r\n\r\n{\"name\":\"World\"}"), "{text}");
    }
}
