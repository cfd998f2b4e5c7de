//! compare's HTTP/1.1 client for single calls, spoken straight on the socket from the calling
//! task: the request is written as bytes made once per run ([`request`]), and the reply is read
//! into one buffer and parsed with `httparse` in pure steps ([`reply_head`], [`length_body`],
//! [`take_chunk`]; the fuzz target `compare_http1_reply` drives them through [`http1_reply`]).
//! A call goes on a connection of the task's own ([`call_http1`]) or on one of a pool the
//! tasks share ([`Http1Pool`], `--h1-connections`). The unary client (`unary.rs`) decides
//! what is sent and checks what comes back.

use std::{net::SocketAddr, sync::Arc};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{
    check::{CallError, NotBegun, Retry, ServedBy},
    tls::{Alpn, ClientTls},
    wire::{CountingStream, MAX_REPLY_BYTES, WireCounters},
};
use contract::facts::SERVED_BY;

/// The whole request as HTTP/1.1 bytes, head and body: a POST of `body` to `path` with these
/// headers, then `host` (HTTP/2 takes `:authority` from the URI instead) and the body's
/// length. Made once per run; every call writes it as it is.
pub(crate) fn request(
    addr: SocketAddr,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> anyhow::Result<Bytes> {
    let mut http1 = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        http1 += &format!("{name}: {}\r\n", value.to_str()?);
    }
    http1 += &format!("content-length: {}\r\n\r\n", body.len());
    let mut http1 = http1.into_bytes();
    http1.extend_from_slice(body);
    Ok(Bytes::from(http1))
}

/// HTTP/1.1 connections shared by a cell's tasks: `size` of them at most, opened as needed
/// and kept while the server keeps them open.
#[derive(Debug)]
pub(crate) struct Http1Pool {
    addr: SocketAddr,
    tls: Option<ClientTls>,
    counters: Arc<WireCounters>,
    size: usize,
    /// A permit per connection that may be in use at once.
    free: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<Http1Connection>>,
}

impl Http1Pool {
    /// A pool of at most `size` connections to `addr`, none open yet.
    pub(crate) fn new(
        addr: SocketAddr,
        tls: Option<ClientTls>,
        counters: Arc<WireCounters>,
        size: usize,
    ) -> Self {
        Self {
            addr,
            tls,
            counters,
            size,
            free: tokio::sync::Semaphore::new(size),
            idle: std::sync::Mutex::new(Vec::with_capacity(size)),
        }
    }

    /// The most connections open at once.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// One call on a pooled connection: waits for a free one (the queue a client with a
    /// connection limit has), opens it if the pool has none idle. `request` is the whole
    /// request, as [`request`] makes it.
    pub(crate) async fn call(
        &self,
        request: &[u8],
        retry: Retry,
    ) -> Result<(StatusCode, ServedBy, Bytes), CallError> {
        let _permit = self
            .free
            .acquire()
            .await
            .map_err(|error| CallError::transport("HTTP/1.1 pool", error))?;
        let mut connection = self.idle.lock().unwrap_or_else(|poison| poison.into_inner()).pop();
        let tls = self.tls.as_ref();
        let result =
            call_http1(self.addr, tls, &self.counters, &mut connection, request, retry).await;
        if let Some(connection) = connection {
            self.idle.lock().unwrap_or_else(|poison| poison.into_inner()).push(connection);
        }
        result
    }
}

/// One HTTP/1.1 connection, spoken directly in the calling task: the prepared request is
/// written as it is, and the reply read into one buffer and parsed with `httparse`. hyper's
/// client connection runs in a task of its own that each call wakes through a channel and
/// that wakes the call back (two task switches a call), and it builds a `HeaderMap` of every
/// reply; this client reads only the status, `Content-Length`, `Connection` and
/// `x-served-by`, and reads a body by its `Content-Length` or, as compressed replies come,
/// chunked.
#[derive(Debug)]
pub(crate) struct Http1Connection {
    stream: CountingStream,
    buffer: BytesMut,
}

/// The most headers a reply may have here.
const MAX_REPLY_HEADERS: usize = 32;

/// One call on `connection`, opened first if there is none; the connection is dropped (and
/// `None` left) when the call failed or the server closes it. `request` is the whole request,
/// as [`request`] makes it. A request on a reused keep-alive connection that failed before a
/// byte of its reply came was met by the server closing that idle connection: with `retry`,
/// it is sent once more on a new one (hyper's pool retries the same race when it sees the
/// close before writing; browsers when the reused connection gives nothing back).
pub(crate) async fn call_http1(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    counters: &Arc<WireCounters>,
    connection: &mut Option<Http1Connection>,
    request: &[u8],
    retry: Retry,
) -> Result<(StatusCode, ServedBy, Bytes), CallError> {
    let mut retries = retry.budget();
    loop {
        let reused = connection.is_some();
        let open = match connection {
            Some(open) => open,
            None => {
                let stream = CountingStream::connect(addr, tls, Alpn::Http1, counters.clone())
                    .await
                    .map_err(|error| CallError::Unreachable(format!("connect: {error}")))?;
                connection.insert(Http1Connection { stream, buffer: BytesMut::with_capacity(4096) })
            }
        };
        let result = exchange(open, request).await;
        let nothing_came = open.buffer.is_empty();
        // A connection that failed, or that the server is closing, is not used again.
        if !matches!(result, Ok((_, _, _, true))) {
            *connection = None;
        }
        match result {
            Err(CallError::Transport(_)) if reused && nothing_came && retries > 0 => {
                retries -= 1;
                counters.count_retry(NotBegun::KeepAliveClosed);
            }
            result => return result.map(|(status, served_by, body, _)| (status, served_by, body)),
        }
    }
}

/// Writes the request and reads its reply; the last field says whether the connection stays
/// open. The parsing is in the pure steps below ([`reply_head`], [`length_body`],
/// [`take_chunk`]); this loop only reads more bytes when one of them asks for them.
async fn exchange(
    connection: &mut Http1Connection,
    request: &[u8],
) -> Result<(StatusCode, ServedBy, Bytes, bool), CallError> {
    let failed = |error: std::io::Error| CallError::transport("HTTP/1.1", error);
    let Http1Connection { stream, buffer } = connection;
    stream.write_all(request).await.map_err(failed)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

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
        let request = request(addr, "/", &HeaderMap::new(), b"{}").unwrap();
        let mut connection = None;
        let first =
            call_http1(addr, None, &counters, &mut connection, &request, Retry::Transparent)
                .await
                .unwrap();
        assert_eq!(
            first,
            (StatusCode::OK, Some(HeaderValue::from_static("pod-a")), Bytes::from_static(b"hello"))
        );
        let second =
            call_http1(addr, None, &counters, &mut connection, &request, Retry::Transparent)
                .await
                .unwrap();
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
        let request = request(addr, "/", &HeaderMap::new(), b"{}").unwrap();
        let mut connection = None;
        let first =
            call_http1(addr, None, &counters, &mut connection, &request, Retry::Transparent)
                .await
                .unwrap();
        assert_eq!(first, (StatusCode::OK, None, Bytes::from_static(b"hello!")));
        assert!(connection.is_some(), "a chunked reply keeps the connection");
        let result =
            call_http1(addr, None, &counters, &mut connection, &request, Retry::Transparent).await;
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
}
