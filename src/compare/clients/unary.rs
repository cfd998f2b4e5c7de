//! Unary and batch calls of the gRPC and REST cells, made with as little client as the
//! protocol allows, so that the generator costs far less than the server it measures: the
//! request (head and body) is made once per run, each call sends it as it is, on the `h2`
//! crate's HTTP/2 connection (gRPC, h2c) or, over HTTP/1.1, straight on the socket from the
//! calling task (see [`Http1Connection`]), and reads the reply into one buffer. Every reply is
//! still checked: its status (HTTP, and for gRPC its `grpc-status` and framing) and its
//! message, decoded and compared with what the domain says.
//! tonic's generated client (with its codec, streaming bodies and a task per request body
//! in hyper's HTTP/2 client) cost a gRPC call about as much as our server spends on it; the
//! streaming workloads still go through it (`grpc_client`, `rest_client`).

use std::{future::poll_fn, net::SocketAddr, sync::Arc};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{
    check::{CallError, Expected, NAME, ServedBy},
    compression::Compression,
    tls::{Alpn, ClientTls},
    turns::Turns,
    wire::{CountingStream, WireCounters},
};
use crate::compare::workload::Workload;
use crate::{
    config::Http2Windows,
    proto::{BatchHelloReply, BatchHelloRequest, HelloReply, HelloRequest},
    rest::{media, routes},
    server::SERVED_BY,
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
    fn json(self) -> bool {
        matches!(self, Reply::Json | Reply::ConnectJson)
    }
}

/// One request, made once and sent as it is by every call.
#[derive(Debug, Clone)]
struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// The whole request as HTTP/1.1 bytes: head and body.
    http1: Bytes,
}

impl Prepared {
    /// The request's head, for a call.
    fn head(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// How a cell's client connects, the same for every cell of a run.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub policy: ConnectionPolicy,
    /// The receive windows of the client's HTTP/2 connections.
    pub windows: Http2Windows,
    /// TLS, or plaintext (h2c and plain HTTP/1.1).
    pub tls: Option<ClientTls>,
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
    /// Connections shared by every task (each task holds its own handles), taken in turn.
    Http2(Turns<h2::client::SendRequest<Bytes>>),
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

/// HTTP/1.1 connections shared by a cell's tasks: `size` of them at most, opened as needed
/// and kept while the server keeps them open.
#[derive(Debug)]
struct Http1Pool {
    addr: SocketAddr,
    tls: Option<ClientTls>,
    counters: Arc<WireCounters>,
    size: usize,
    /// A permit per connection that may be in use at once.
    free: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<Http1Connection>>,
}

impl Http1Pool {
    /// One call on a pooled connection: waits for a free one (the queue a client with a
    /// connection limit has), opens it if the pool has none idle.
    async fn call(&self, request: &Prepared) -> Result<(StatusCode, ServedBy, Bytes), CallError> {
        let _permit = self
            .free
            .acquire()
            .await
            .map_err(|error| CallError::transport("HTTP/1.1 pool", error))?;
        let mut connection = self.idle.lock().unwrap_or_else(|poison| poison.into_inner()).pop();
        let tls = self.tls.as_ref();
        let result = call_http1(self.addr, tls, &self.counters, &mut connection, request).await;
        if let Some(connection) = connection {
            self.idle.lock().unwrap_or_else(|poison| poison.into_inner()).push(connection);
        }
        result
    }
}

/// A cell's client for unary and batch workloads.
#[derive(Debug, Clone)]
pub struct UnaryClient {
    wire: Wire,
    request: Prepared,
    reply: Reply,
    compression: Compression,
}

impl UnaryClient {
    /// A client for `workload` (unary or batch) to `addrs` (gRPC may have several; REST has
    /// one): HTTP/2 opens `connections` connections per address now, HTTP/1.1 connects as
    /// each task first calls.
    pub(crate) async fn connect(
        addrs: &[SocketAddr],
        http2: bool,
        (reply, compression): (Reply, Compression),
        workload: &Workload,
        connections: usize,
        ClientOptions { policy, windows, tls }: ClientOptions,
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
            Wire::Http1Pool(Arc::new(Http1Pool {
                addr: first,
                tls,
                counters: counters.clone(),
                size,
                free: tokio::sync::Semaphore::new(size),
                idle: std::sync::Mutex::new(Vec::with_capacity(size)),
            }))
        } else if http2 {
            let mut handles = Vec::with_capacity(addrs.len() * connections);
            for _ in 0..connections {
                for &addr in addrs {
                    handles
                        .push(connect_http2(addr, windows, tls.as_ref(), counters.clone()).await?);
                }
            }
            Wire::Http2(Turns::new(handles, 0))
        } else {
            Wire::Http1 { addr: first, tls, counters: counters.clone(), connection: None }
        };
        Ok(Self { wire, request, reply, compression })
    }

    /// The client task number `task` uses: its own handles on the HTTP/2 connections, or a
    /// connection of its own on HTTP/1.1.
    pub(crate) fn for_task(&self, task: usize) -> Self {
        let wire = match &self.wire {
            Wire::Http2(connections) => Wire::Http2(connections.for_task(task)),
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
            Wire::Http1Pool(pool) => pool.size.min(concurrency),
        }
    }

    /// One call of `workload`, checked against `expected`.
    pub(crate) async fn call(
        &mut self,
        workload: &Workload,
        expected: &Expected,
    ) -> Result<ServedBy, CallError> {
        let (status, served_by, body, grpc) = match &mut self.wire {
            Wire::Http2(connections) => {
                let (status, headers, body, trailers) =
                    call_http2(connections.next(), &self.request).await?;
                let served_by = headers.get(SERVED_BY).cloned();
                (status, served_by, body, Some((headers, trailers)))
            }
            Wire::Http1 { addr, tls, counters, connection } => {
                let (status, served_by, body) =
                    call_http1(*addr, tls.as_ref(), counters, connection, &self.request).await?;
                (status, served_by, body, None)
            }
            Wire::Http1Pool(pool) => {
                let (status, served_by, body) = pool.call(&self.request).await?;
                (status, served_by, body, None)
            }
            Wire::PerCall { addrs, http2: true, windows, tls, counters } => {
                let tls = tls.as_ref();
                let mut sender = connect_http2(*addrs.next(), *windows, tls, counters.clone())
                    .await
                    .map_err(|error| CallError::Transport(format!("connect: {error:#}")))?;
                let (status, headers, body, trailers) =
                    call_http2(&mut sender, &self.request).await?;
                let served_by = headers.get(SERVED_BY).cloned();
                (status, served_by, body, Some((headers, trailers)))
            }
            Wire::PerCall { addrs, http2: false, tls, counters, .. } => {
                let (addr, tls) = (*addrs.next(), tls.as_ref());
                let (status, served_by, body) =
                    call_http1(addr, tls, counters, &mut None, &self.request).await?;
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
        match workload {
            Workload::Batch(_) => {
                let reply: BatchHelloReply = decode(self.reply, &message)?;
                expected.batch(reply.replies.iter().map(|reply| reply.message.as_str()))?;
            }
            Workload::Complex(_) => expected.complex(&decode(self.reply, &message)?)?,
            Workload::Records(_) => expected.people(&decode(self.reply, &message)?)?,
            _ => {
                let reply: HelloReply = decode(self.reply, &message)?;
                expected.hello(&reply.message)?;
            }
        }
        Ok(served_by)
    }
}

/// The request every call of `workload` sends.
fn prepare(
    addr: SocketAddr,
    (reply, compression): (Reply, Compression),
    workload: &Workload,
) -> anyhow::Result<Prepared> {
    let (grpc_method, route, message) = match workload {
        Workload::Unary => {
            let request = HelloRequest { name: NAME.into() };
            ("SayHello", routes::SAY_HELLO.path, encode(reply, &request)?)
        }
        Workload::Batch(names) => {
            let request = BatchHelloRequest { names: names.to_vec() };
            ("SayHelloBatch", routes::SAY_HELLO_BATCH.path, encode(reply, &request)?)
        }
        Workload::Complex(request) => {
            ("EchoComplex", routes::ECHO_COMPLEX.path, encode(reply, request.as_ref())?)
        }
        Workload::Records(request) => {
            ("EchoPeople", routes::ECHO_PEOPLE.path, encode(reply, request.as_ref())?)
        }
        _ => anyhow::bail!("{workload} is not a unary workload"),
    };
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
            // The gRPC message frame: compressed or not, then the length, big-endian.
            let mut framed = Vec::with_capacity(5 + message.len());
            framed.push(u8::from(compression.name().is_some()));
            framed.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
            framed.extend_from_slice(&message);
            (format!("/helloworld.Greeter/{grpc_method}"), framed)
        }
        Reply::Json | Reply::Protobuf => {
            let media = if reply == Reply::Json { media::JSON } else { media::PROTOBUF };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            headers.insert(header::ACCEPT, HeaderValue::from_static(media));
            if let Some(encoding) = compression.name() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
            }
            (route.to_owned(), message)
        }
        Reply::ConnectJson | Reply::ConnectProtobuf => {
            let media = if reply.json() { "application/json" } else { "application/proto" };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            headers.insert("connect-protocol-version", HeaderValue::from_static("1"));
            if let Some(encoding) = compression.name() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
            }
            (format!("/helloworld.Greeter/{grpc_method}"), message)
        }
    };
    // HTTP/2 takes `:authority` from the URI; HTTP/1.1 has a Host header instead.
    let mut http1 = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in &headers {
        http1 += &format!("{name}: {}\r\n", value.to_str()?);
    }
    http1 += &format!("content-length: {}\r\n\r\n", body.len());
    let mut http1 = http1.into_bytes();
    http1.extend_from_slice(&body);
    Ok(Prepared {
        method: Method::POST,
        uri: format!("http://{addr}{path}").parse()?,
        headers,
        body: Bytes::from(body),
        http1: Bytes::from(http1),
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

/// A reply as it came: status, headers, body and (HTTP/2) trailers.
type Received = (StatusCode, HeaderMap, Bytes, Option<HeaderMap>);

/// Opens an h2c connection (prior knowledge) to `addr` with these receive windows (the `h2`
/// crate has no adaptive window: `windows.adaptive` is for hyper's clients and the server),
/// counting its bytes.
async fn connect_http2(
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

async fn call_http2(
    sender: &mut h2::client::SendRequest<Bytes>,
    request: &Prepared,
) -> Result<Received, CallError> {
    let failed = |error: h2::Error| CallError::transport("HTTP/2", error);
    poll_fn(|cx| sender.poll_ready(cx)).await.map_err(failed)?;
    let (response, mut body) = sender.send_request(request.head(), false).map_err(failed)?;
    body.send_data(request.body.clone(), true).map_err(failed)?;
    let (parts, mut stream) = response.await.map_err(failed)?.into_parts();
    let mut received = BytesMut::new();
    while let Some(chunk) = stream.data().await {
        let chunk = chunk.map_err(failed)?;
        let _ = stream.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    let trailers = stream.trailers().await.map_err(failed)?;
    Ok((parts.status, parts.headers, received.freeze(), trailers))
}

/// One HTTP/1.1 connection, spoken directly in the calling task: the prepared request is
/// written as it is, and the reply read into one buffer and parsed with `httparse`. hyper's
/// client connection runs in a task of its own that each call wakes through a channel and
/// that wakes the call back (two task switches a call), and it builds a `HeaderMap` of every
/// reply; this client reads only the status, `Content-Length`, `Connection` and
/// `x-served-by`, and reads a body by its `Content-Length` or, as compressed replies come,
/// chunked.
#[derive(Debug)]
struct Http1Connection {
    stream: CountingStream,
    buffer: BytesMut,
}

/// The most headers a reply may have here.
const MAX_REPLY_HEADERS: usize = 32;

async fn call_http1(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    counters: &Arc<WireCounters>,
    connection: &mut Option<Http1Connection>,
    request: &Prepared,
) -> Result<(StatusCode, ServedBy, Bytes), CallError> {
    let open = match connection {
        Some(open) => open,
        None => {
            let stream = CountingStream::connect(addr, tls, Alpn::Http1, counters.clone())
                .await
                .map_err(|error| CallError::transport("connect", error))?;
            connection.insert(Http1Connection { stream, buffer: BytesMut::with_capacity(4096) })
        }
    };
    let result = exchange(open, request).await;
    // A connection that failed, or that the server is closing, is not used again.
    if !matches!(result, Ok((_, _, _, true))) {
        *connection = None;
    }
    result.map(|(status, served_by, body, _)| (status, served_by, body))
}

/// Writes the request and reads its reply; the last field says whether the connection stays
/// open. The parsing is in the pure steps below ([`reply_head`], [`length_body`],
/// [`take_chunk`]); this loop only reads more bytes when one of them asks for them.
async fn exchange(
    connection: &mut Http1Connection,
    request: &Prepared,
) -> Result<(StatusCode, ServedBy, Bytes, bool), CallError> {
    let failed = |error: std::io::Error| CallError::transport("HTTP/1.1", error);
    let Http1Connection { stream, buffer } = connection;
    stream.write_all(&request.http1).await.map_err(failed)?;
    loop {
        if let Some(head) = reply_head(buffer)? {
            let body = match head.body {
                Framing::Chunked => {
                    buffer.advance(head.size);
                    read_chunked(stream, buffer).await?
                }
                Framing::Length(length) => loop {
                    if let Some(body) = length_body(buffer, head.size, length) {
                        break body;
                    }
                    read_more(stream, buffer).await?;
                },
            };
            return Ok((head.status, head.served_by, body, head.keep_alive));
        }
        read_more(stream, buffer).await?;
    }
}

/// How a reply's body is framed, from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(usize),
    Chunked,
}

/// What [`reply_head`] reads of a reply's head.
#[derive(Debug)]
pub(crate) struct ReplyHead {
    /// The head's length in bytes, up to and including its empty line.
    pub(crate) size: usize,
    pub(crate) status: StatusCode,
    pub(crate) served_by: ServedBy,
    pub(crate) keep_alive: bool,
    pub(crate) body: Framing,
}

/// The head of the reply at the front of `buffer`, once all of it is there (`Ok(None)` until
/// then): its status, `x-served-by`, `Connection` and how its body is framed.
pub(crate) fn reply_head(buffer: &[u8]) -> Result<Option<ReplyHead>, CallError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REPLY_HEADERS];
    let mut reply = httparse::Response::new(&mut headers);
    let size = match reply.parse(buffer) {
        Ok(httparse::Status::Complete(size)) => size,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(CallError::transport("HTTP/1.1 reply", error)),
    };
    let status = StatusCode::from_u16(reply.code.unwrap_or(0))
        .map_err(|error| CallError::transport("HTTP/1.1 status", error))?;
    let (mut length, mut served_by, mut keep_alive) = (None, None, true);
    let mut chunked = false;
    for header in reply.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value).ok().and_then(|v| v.parse().ok());
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = header.value.eq_ignore_ascii_case(b"chunked");
        } else if header.name.eq_ignore_ascii_case(SERVED_BY.as_str()) {
            served_by = HeaderValue::from_bytes(header.value).ok();
        } else if header.name.eq_ignore_ascii_case("connection") {
            keep_alive = !header.value.eq_ignore_ascii_case(b"close");
        }
    }
    let body = match (chunked, length) {
        (true, _) => Framing::Chunked,
        // A length past the address space would overflow the count of bytes to wait for.
        (false, Some(length)) if size.checked_add(length).is_none() => {
            return Err(CallError::transport("HTTP/1.1 reply", "a Content-Length too large"));
        }
        (false, Some(length)) if length > MAX_REPLY_BYTES => {
            return Err(CallError::Transport(too_large(&format!("a reply of {length} bytes,"))));
        }
        (false, Some(length)) => Framing::Length(length),
        (false, None) => {
            return Err(CallError::transport(
                "HTTP/1.1 reply",
                "neither Content-Length nor chunked",
            ));
        }
    };
    Ok(Some(ReplyHead { size, status, served_by, keep_alive, body }))
}

/// The body of `length` bytes after a head of `head` bytes, taken off `buffer` with the head
/// once all of it is there (`None` until then).
pub(crate) fn length_body(buffer: &mut BytesMut, head: usize, length: usize) -> Option<Bytes> {
    if buffer.len() < head + length {
        return None;
    }
    buffer.advance(head);
    Some(buffer.split_to(length).freeze())
}

/// A chunked body (what a compressed reply comes as, its length unknown when its head is
/// sent), from the first chunk to the empty last one; trailers are not expected.
async fn read_chunked(
    stream: &mut CountingStream,
    buffer: &mut BytesMut,
) -> Result<Bytes, CallError> {
    let mut body = BytesMut::new();
    loop {
        match take_chunk(buffer, &mut body)? {
            Some(true) => return Ok(body.freeze()),
            Some(false) => {}
            None => read_more(stream, buffer).await?,
        }
    }
}

/// Takes the chunk at the front of `buffer` and adds its bytes to `body`, once all of it is
/// there (`Ok(None)` until then); `Ok(Some(true))` for the empty last chunk, which ends the body.
pub(crate) fn take_chunk(
    buffer: &mut BytesMut,
    body: &mut BytesMut,
) -> Result<Option<bool>, CallError> {
    let (start, size) = match httparse::parse_chunk_size(buffer) {
        Ok(httparse::Status::Complete(found)) => found,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(CallError::Transport("HTTP/1.1: a bad chunk size".into())),
    };
    if size == 0 {
        // The last chunk, then trailer fields (a gateway sends its gRPC status there), then
        // the empty line that ends the body.
        let rest = &buffer[start..];
        let end = if rest.starts_with(b"\r\n") {
            2
        } else {
            match rest.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(at) => at + 4,
                None if rest.len() > MAX_TRAILER_BYTES => {
                    return Err(CallError::Transport("HTTP/1.1: trailers too large".into()));
                }
                None => return Ok(None),
            }
        };
        buffer.advance(start + end);
        return Ok(Some(true));
    }
    // The chunk and its CRLF.
    let (size, end) = usize::try_from(size)
        .ok()
        .filter(|size| body.len().saturating_add(*size) <= MAX_REPLY_BYTES)
        .and_then(|size| Some((size, start.checked_add(size)?.checked_add(2)?)))
        .ok_or_else(|| CallError::Transport(too_large("a chunked reply")))?;
    if buffer.len() < end {
        return Ok(None);
    }
    buffer.advance(start);
    body.extend_from_slice(&buffer[..size]);
    buffer.advance(size + 2);
    Ok(Some(false))
}

/// The largest reply body compare reads, the server's default message limit: a larger one is
/// refused unread, so that a server that sends without end costs compare at most this much
/// memory for each call in flight.
const MAX_REPLY_BYTES: usize = crate::config::DEFAULT_MAX_MESSAGE_BYTES;

/// The most bytes of trailer fields after a chunked body.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

fn too_large(what: &str) -> String {
    format!("HTTP/1.1: {what} larger than compare reads ({MAX_REPLY_BYTES} bytes)")
}

/// The reply at the front of `buffer`, read as [`exchange`] reads it, from these bytes alone:
/// `Ok(None)` where `exchange` would wait for more. The fuzz target of compare's HTTP/1.1
/// reader calls this (see `crate::fuzzing`).
pub(crate) fn http1_reply(
    buffer: &mut BytesMut,
) -> Result<Option<(StatusCode, ServedBy, Bytes, bool)>, CallError> {
    let Some(head) = reply_head(buffer)? else { return Ok(None) };
    let body = match head.body {
        Framing::Chunked => {
            buffer.advance(head.size);
            let mut body = BytesMut::new();
            loop {
                match take_chunk(buffer, &mut body)? {
                    Some(true) => break body.freeze(),
                    Some(false) => {}
                    None => return Ok(None),
                }
            }
        }
        Framing::Length(length) => match length_body(buffer, head.size, length) {
            Some(body) => body,
            None => return Ok(None),
        },
    };
    Ok(Some((head.status, head.served_by, body, head.keep_alive)))
}

async fn read_more(stream: &mut CountingStream, buffer: &mut BytesMut) -> Result<(), CallError> {
    buffer.reserve(4096);
    match stream.read_buf(buffer).await {
        Ok(0) => Err(CallError::Transport("HTTP/1.1: the server closed the connection".into())),
        Ok(_) => Ok(()),
        Err(error) => Err(CallError::transport("HTTP/1.1", error)),
    }
}

/// compare's reply readers, for the fuzz targets (`crate::fuzzing`): `clients` is private to
/// `compare`, and the error they return is the public type through which they are reached.
/// The message of a gRPC reply, or the status it failed with.
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
        let message = status_in.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or("");
        return Err(CallError::Grpc { code: tonic::Code::from(code), message: message.into() });
    }
    if body.len() < 5 {
        return Err(CallError::WrongReply(format!("a {}-byte gRPC frame", body.len())));
    }
    let compressed = body.get_u8();
    let length = body.get_u32() as usize;
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
    use tokio::net::TcpListener;

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
        let refused = grpc_message(StatusCode::OK, &trailers("3", "bad name"), Bytes::new(), None);
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

    /// A server on a real socket that answers each request with the next of `replies`, each
    /// written in two parts (so that the client has to read more than once).
    async fn answering(replies: Vec<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            for reply in replies {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await.unwrap();
                let (first, rest) = reply.split_at(reply.len() / 2);
                socket.write_all(first.as_bytes()).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                socket.write_all(rest.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn http1_replies_are_read_by_their_length_on_one_connection() {
        let addr = answering(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-served-by: pod-a\r\n\r\nhello",
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
        ])
        .await;
        let counters = Arc::new(WireCounters::default());
        let request = prepare(addr, (Reply::Json, Compression::None), &Workload::Unary).unwrap();
        let mut connection = None;
        let first = call_http1(addr, None, &counters, &mut connection, &request).await.unwrap();
        assert_eq!(
            first,
            (StatusCode::OK, Some(HeaderValue::from_static("pod-a")), Bytes::from_static(b"hello"))
        );
        let second = call_http1(addr, None, &counters, &mut connection, &request).await.unwrap();
        assert_eq!(second, (StatusCode::BAD_REQUEST, None, Bytes::from_static(b"bad")));
        assert_eq!(counters.connections.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn http1_replies_are_read_chunked_and_without_a_length_are_an_error() {
        let addr = answering(vec![
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\nhello",
        ])
        .await;
        let counters = Arc::new(WireCounters::default());
        let request = prepare(addr, (Reply::Json, Compression::None), &Workload::Unary).unwrap();
        let mut connection = None;
        let first = call_http1(addr, None, &counters, &mut connection, &request).await.unwrap();
        assert_eq!(first, (StatusCode::OK, None, Bytes::from_static(b"hello!")));
        assert!(connection.is_some(), "a chunked reply keeps the connection");
        let result = call_http1(addr, None, &counters, &mut connection, &request).await;
        assert!(
            matches!(&result, Err(CallError::Transport(message)) if message.contains("Content-Length")),
            "{result:?}"
        );
        assert!(connection.is_none());
    }

    /// Found while writing the fuzz target `compare_http1_reply` (its corpus keeps both): a
    /// length past the address space overflowed the count of bytes to wait for, a panic.
    #[test]
    fn a_length_or_chunk_past_the_address_space_is_an_error() {
        for reply in [
            "HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551615\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffe\r\nhello",
        ] {
            let result = http1_reply(&mut BytesMut::from(reply));
            assert!(
                matches!(&result, Err(CallError::Transport(message))
                    if message.contains("too large") || message.contains("larger than")),
                "{result:?}"
            );
        }
    }

    #[test]
    fn trailers_after_a_chunked_body_are_read_past_and_the_next_reply_is_intact() {
        // grpc-gateway ends an error's body with its gRPC status in trailer fields.
        let mut replies = BytesMut::from(
            "HTTP/1.1 501 Not Implemented\r\ntransfer-encoding: chunked\r\n\r\n\
             2\r\n{}\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n\
             HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        );
        let (status, _, body, _) = http1_reply(&mut replies).unwrap().unwrap();
        assert_eq!((status.as_u16(), &body[..]), (501, &b"{}"[..]));
        let (status, _, body, _) = http1_reply(&mut replies).unwrap().unwrap();
        assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    }

    #[test]
    fn a_reply_past_the_limit_is_refused_unread() {
        let length = MAX_REPLY_BYTES + 1;
        for reply in [
            format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n"),
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{length:x}\r\n"),
        ] {
            let result = http1_reply(&mut BytesMut::from(reply.as_str()));
            assert!(
                matches!(&result, Err(CallError::Transport(message)) if message.contains("larger than compare reads")),
                "{result:?}"
            );
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
