//! compare's clients behave as conforming clients when servers go away: a server that
//! recycles its connections (`--max-connection-age`, GOAWAY on HTTP/2, `Connection: close` on
//! HTTP/1.1) costs no call in any cell, and a call the server never began (above its GOAWAY's
//! last stream, or refused with REFUSED_STREAM) is sent once more and counted in `retried`;
//! with `--retry none` it fails instead. The servers that refuse are written here frame by
//! frame, so that the test knows exactly what they refused.

mod common;

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use common::{binary::Binary, compare_runs, compare_runs::report_of};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_recycles_its_connections_costs_compare_no_call() {
    let server = Binary::start(&["--max-connection-age", "0.2s"], &[]).await;
    let (grpc, rest) = (server.grpc_addr.to_string(), server.rest_addr.to_string());
    for retry in ["transparent", "none"] {
        let (report, stderr) = report_of(
            "a server recycling its connections",
            &[
                "--grpc-target",
                &grpc,
                "--rest-target",
                &rest,
                "--cells",
                "grpc,rest-json-h1,rest-json-h2,connect-json-h2",
                "--workloads",
                "unary",
                "--concurrency",
                "8",
                "--warmup",
                "0",
                "--duration",
                "1s",
                "--retry",
                retry,
                "--format",
                "json",
            ],
        )
        .await;
        for row in report["measurements"].as_array().unwrap() {
            assert_eq!(row["errors"], 0, "--retry {retry}: {row}\n{stderr}");
            assert!(row["calls"].as_u64().unwrap() > 100, "{row}");
            // One second at an age of 0.2 s: each connection was replaced several times.
            let opened = row["client_connections_opened"].as_u64().unwrap();
            let held = row["connections"].as_u64().unwrap();
            assert!(opened >= 3 * held, "--retry {retry}: {opened} opened for {held}: {row}");
        }
    }
}

/// What a refusing server does on each connection.
#[derive(Clone, Copy)]
enum Refusing {
    /// Answers its first `ACCEPTED` streams, then sends GOAWAY naming the last of them: every
    /// stream above it was never begun.
    GoawayAfterSome,
    /// Resets its second stream with REFUSED_STREAM and answers every other.
    SecondStream,
}

/// Streams a connection of `Refusing::GoawayAfterSome` answers: far more than compare has in
/// flight, so that the calls sent again go on the next connection among the ones it answers.
const ACCEPTED: u32 = 500;

/// What a refusing server counted: the streams it refused, and its connections.
#[derive(Default)]
struct Refusals {
    streams: AtomicU64,
    connections: AtomicU64,
}

/// A gRPC server spoken in raw HTTP/2 frames, counting the streams it refused.
async fn refusing_server(refusing: Refusing, refused: Arc<Refusals>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            refused.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_refusing(socket, refusing, refused.clone()));
        }
    });
    addr
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[kind, flags]);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A HelloReply for "World", in HPACK written by hand: `:status: 200` (static index 8),
/// `content-type: application/grpc` (a literal with the static name 31), the message, then
/// `grpc-status: 0` in the trailers (a literal with a new name).
fn answer(stream: u32) -> Vec<u8> {
    let mut head = vec![0x88, 0x0f, 0x10, 16];
    head.extend_from_slice(b"application/grpc");
    let mut reply = frame(HEADERS, END_HEADERS, stream, &head);
    reply.extend(frame(DATA, 0, stream, b"\x00\x00\x00\x00\x0d\x0a\x0bHello World"));
    let mut trailers = vec![0x00, 11];
    trailers.extend_from_slice(b"grpc-status");
    trailers.extend_from_slice(&[1, b'0']);
    reply.extend(frame(HEADERS, END_HEADERS | END_STREAM, stream, &trailers));
    reply
}

async fn serve_refusing(mut socket: TcpStream, refusing: Refusing, refused: Arc<Refusals>) {
    let mut preface = [0u8; 24];
    if socket.read_exact(&mut preface).await.is_err() {
        return;
    }
    let _ = socket.write_all(&frame(SETTINGS, 0, 0, &[])).await;
    // Streams taken, the last one taken, the streams whose body is awaited before their
    // reply, and the last stream the GOAWAY named once sent.
    let (mut streams, mut last_taken, mut going_away) = (0u32, 0u32, None::<u32>);
    let mut awaited = HashSet::new();
    loop {
        let mut header = [0u8; 9];
        if socket.read_exact(&mut header).await.is_err() {
            return; // the client closed it
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; length];
        if socket.read_exact(&mut payload).await.is_err() {
            return;
        }
        let mut out = Vec::new();
        match kind {
            SETTINGS if flags & ACK == 0 => out = frame(SETTINGS, ACK, 0, &[]),
            PING if flags & ACK == 0 => out = frame(PING, ACK, 0, &payload),
            HEADERS => {
                streams += 1;
                match (refusing, going_away) {
                    (_, Some(last)) => {
                        assert!(stream > last, "a stream below the GOAWAY's last after it");
                        refused.streams.fetch_add(1, Ordering::SeqCst);
                    }
                    (Refusing::GoawayAfterSome, None) if streams > ACCEPTED => {
                        let mut goaway = last_taken.to_be_bytes().to_vec();
                        goaway.extend_from_slice(&0u32.to_be_bytes());
                        out = frame(GOAWAY, 0, 0, &goaway);
                        going_away = Some(last_taken);
                        refused.streams.fetch_add(1, Ordering::SeqCst);
                    }
                    (Refusing::SecondStream, None) if streams == 2 => {
                        out = frame(RST_STREAM, 0, stream, &7u32.to_be_bytes());
                        refused.streams.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {
                        last_taken = stream;
                        awaited.insert(stream);
                    }
                }
            }
            // A request's body: once whole, its reply, if its stream was taken. The window it
            // took is given back, so that the connection never runs dry.
            DATA => {
                if !payload.is_empty() {
                    out = frame(WINDOW_UPDATE, 0, 0, &(payload.len() as u32).to_be_bytes());
                }
                if flags & END_STREAM != 0 && awaited.remove(&stream) {
                    out.extend(answer(stream));
                }
            }
            _ => {}
        }
        if !out.is_empty() && socket.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// compare's gRPC cell against `addr`, with `--retry retry`, to its end: whether it
/// succeeded (a run with failed calls does not), its one row, and its stderr.
async fn grpc_against(addr: SocketAddr, retry: &str, connections: &str) -> (bool, Value, String) {
    let addr = addr.to_string();
    let (ok, stdout, stderr) = compare_runs::run(&[
        "--grpc-target",
        &addr,
        "--cells",
        "grpc",
        "--workloads",
        "unary",
        "--concurrency",
        "4",
        "--connections",
        connections,
        "--warmup",
        "0",
        "--duration",
        "1s",
        "--retry",
        retry,
        "--format",
        "json",
    ])
    .await;
    (ok, compare_runs::report(&stdout)["measurements"][0].clone(), stderr)
}

/// How the calls the client found refused (`found`) stand against what the server refused:
/// the server sees every refused stream whose HEADERS left the client, but a call still queued
/// in the client when the GOAWAY came was never sent (and so never seen), on each of the
/// connections it closed; and calls the run's end cut are not sent again (4 in flight).
fn assert_refusals_match(found: u64, refused: &Refusals, row: &Value) {
    let (seen, closed) =
        (refused.streams.load(Ordering::SeqCst), refused.connections.load(Ordering::SeqCst));
    assert!(found > 5, "{row}");
    assert!(seen <= found + 4, "the server refused {seen}, the client found {found}: {row}");
    assert!(found <= seen + 4 * closed, "found {found}, refused {seen} on {closed}: {row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_above_a_goaways_last_stream_are_sent_again_once_and_counted() {
    let refused = Arc::new(Refusals::default());
    let addr = refusing_server(Refusing::GoawayAfterSome, refused.clone()).await;
    let (ok, row, stderr) = grpc_against(addr, "transparent", "1").await;
    assert!(ok, "{stderr}");
    assert_eq!(row["errors"], 0, "{row}\n{stderr}");
    assert_refusals_match(row["retried"]["above GOAWAY"].as_u64().unwrap_or(0), &refused, &row);
    assert!(stderr.contains("sent again (above GOAWAY: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_refused_with_refused_stream_are_sent_again_once_and_counted() {
    let refused = Arc::new(Refusals::default());
    let addr = refusing_server(Refusing::SecondStream, refused.clone()).await;
    let (ok, row, stderr) = grpc_against(addr, "transparent", "4").await;
    assert!(ok, "{stderr}");
    assert_eq!(row["errors"], 0, "{row}\n{stderr}");
    // One refused stream on each of the 4 connections, each sent once more.
    assert_eq!(refused.streams.load(Ordering::SeqCst), 4);
    assert_eq!(row["retried"]["REFUSED_STREAM"], 4, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_the_calls_the_server_never_began_fail() {
    let refused = Arc::new(Refusals::default());
    let addr = refusing_server(Refusing::GoawayAfterSome, refused.clone()).await;
    let (ok, row, stderr) = grpc_against(addr, "none", "1").await;
    assert!(!ok, "failed calls make compare fail:\n{stderr}");
    assert_refusals_match(row["errors"].as_u64().unwrap(), &refused, &row);
    assert!(row.get("retried").is_none(), "{row}");
    assert!(stderr.contains("this call was not taken"), "{stderr}");
    // Each connection was replaced: calls kept going through, 500 on each.
    assert!(row["calls"].as_u64().unwrap() > 100 * row["errors"].as_u64().unwrap() / 4, "{row}");
}

/// An HTTP/1.1 server that closes each keep-alive connection as its second request arrives,
/// unanswered (a server closing an idle connection as the client reuses it), counting them.
async fn closing_keep_alive_server(closed: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let closed = closed.clone();
            tokio::spawn(async move {
                let mut requests = 0;
                let mut received = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(read) = socket.read(&mut buffer).await else { return };
                    if read == 0 {
                        return;
                    }
                    received.extend_from_slice(&buffer[..read]);
                    // compare's request: its head, then a body of the length it names.
                    let text = String::from_utf8_lossy(&received).into_owned();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length: "))
                        .map_or(0, |length| length.trim().parse().unwrap());
                    if received.len() < end + 4 + length {
                        continue;
                    }
                    received.drain(..end + 4 + length);
                    requests += 1;
                    if requests == 2 {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return; // closed under the request, with nothing sent back
                    }
                    let body = r#"{"message":"Hello World"}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_closed_under_a_request_costs_a_retry_not_a_call() {
    let closed = Arc::new(AtomicU64::new(0));
    let addr = closing_keep_alive_server(closed.clone()).await;
    let (report, stderr) = report_of(
        "a server closing keep-alive connections",
        &[
            "--rest-target",
            &addr.to_string(),
            "--cells",
            "rest-json-h1",
            "--workloads",
            "unary",
            "--concurrency",
            "4",
            "--warmup",
            "0",
            "--duration",
            "1s",
            "--format",
            "json",
        ],
    )
    .await;
    let row = &report["measurements"][0];
    assert_eq!(row["errors"], 0, "{row}\n{stderr}");
    // Each close met a request, which went again on a new connection; the run's end may cut
    // the last ones (4 in flight) before they go again.
    let (retried, closed) =
        (row["retried"]["keep-alive closed"].as_u64().unwrap(), closed.load(Ordering::SeqCst));
    assert!(retried > 10, "{row}");
    assert!(retried <= closed && closed <= retried + 4, "retried {retried}, closed {closed}");
}
