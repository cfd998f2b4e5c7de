//! `compare` against servers that misbehave on purpose, as a benchmark tool meets broken
//! servers in the wild: each behaviour below, on HTTP/1.1 (the `rest-json-h1` cell) or HTTP/2
//! (the `grpc` cell). For each, compare ends within its duration plus a few seconds, counts the
//! calls as errors with a reason, never panics, keeps its memory bounded, and exits with a
//! status that says the run had errors.

mod common;

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    process::Command,
    time::Instant,
};

/// What a hostile HTTP/1.1 server answers every request with.
#[derive(Debug, Clone, Copy)]
enum Http1 {
    /// `Content-Type: application/json` and a body that is not JSON.
    NotWhatItSays,
    /// A Content-Length longer than the body, then a close.
    ShortBodyThenClose,
    /// A Content-Length that is not a number.
    InvalidContentLength,
    /// A chunked body whose chunk size is not hex.
    BadChunkSize,
    /// The status line and headers, then silence.
    HeadersThenSilence,
    /// A close as soon as the request arrives.
    ImmediateClose,
    /// A reply of 64 MiB.
    Giant,
    /// A reply that trickles, one byte a second.
    OneByteASecond,
}

const GIANT: usize = 64 * 1024 * 1024;

/// Reads one request (head and Content-Length body); `false` once the peer is gone.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                buffer.drain(..end + 4 + length);
                return true;
            }
        }
        let mut chunk = [0u8; 8192];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn serve_http1(behaviour: Http1) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                while read_request(&mut socket, &mut buffer).await {
                    let head = |extra: &str| {
                        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}\r\n")
                    };
                    let written = match behaviour {
                        Http1::NotWhatItSays => {
                            socket.write_all(head("Content-Length: 9\r\n").as_bytes()).await.ok();
                            socket.write_all(b"not json!").await
                        }
                        Http1::ShortBodyThenClose => {
                            socket.write_all(head("Content-Length: 100\r\n").as_bytes()).await.ok();
                            socket.write_all(b"{\"message\":").await.ok();
                            return;
                        }
                        Http1::InvalidContentLength => {
                            socket.write_all(head("Content-Length: many\r\n").as_bytes()).await
                        }
                        Http1::BadChunkSize => {
                            let head = head("Transfer-Encoding: chunked\r\n");
                            socket.write_all(head.as_bytes()).await.ok();
                            socket.write_all(b"zz\r\n{}\r\n0\r\n\r\n").await
                        }
                        Http1::HeadersThenSilence => {
                            socket.write_all(head("Content-Length: 10\r\n").as_bytes()).await.ok();
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        Http1::ImmediateClose => return,
                        Http1::Giant => {
                            let head = head(&format!("Content-Length: {GIANT}\r\n"));
                            socket.write_all(head.as_bytes()).await.ok();
                            let chunk = vec![b' '; 1 << 20];
                            for _ in 0..GIANT / chunk.len() {
                                if socket.write_all(&chunk).await.is_err() {
                                    return;
                                }
                            }
                            Ok(())
                        }
                        Http1::OneByteASecond => {
                            let reply = b"{\"message\":\"Hello World\"}";
                            let head = head(&format!("Content-Length: {}\r\n", reply.len()));
                            socket.write_all(head.as_bytes()).await.ok();
                            for byte in reply {
                                if socket.write_all(&[*byte]).await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            Ok(())
                        }
                    };
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// What a hostile HTTP/2 server does with every gRPC call.
#[derive(Debug, Clone, Copy)]
enum Http2 {
    /// A reply message and the end of the stream, but no `grpc-status`.
    NoGrpcStatus,
    /// A message frame that announces more bytes than the stream carries.
    FrameLongerThanItsData,
    /// RST_STREAM on every stream.
    ResetEveryStream,
    /// GOAWAY after a few calls.
    GoawayMidRun,
    /// Garbage instead of the HTTP/2 preface and settings.
    GarbagePreface,
    /// A reply message of 64 MiB.
    Giant,
}

/// One 64 MiB gRPC message (its frame header, then zeros), shared by every giant reply.
fn giant_message() -> Bytes {
    static MESSAGE: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    MESSAGE
        .get_or_init(|| {
            let mut message = vec![0u8; 5 + GIANT];
            message[1..5].copy_from_slice(&(GIANT as u32).to_be_bytes());
            Bytes::from(message)
        })
        .clone()
}

async fn serve_http2(behaviour: Http2) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                if let Http2::GarbagePreface = behaviour {
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nnot an HTTP/2 server\r\n").await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return;
                }
                let Ok(mut connection) = h2::server::handshake(socket).await else { return };
                let mut served = 0;
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    served += 1;
                    if let Http2::GoawayMidRun = behaviour
                        && served > 5
                    {
                        connection.abrupt_shutdown(h2::Reason::NO_ERROR);
                    }
                    drop(request);
                    let response = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap();
                    match behaviour {
                        Http2::ResetEveryStream => respond.send_reset(h2::Reason::INTERNAL_ERROR),
                        Http2::NoGrpcStatus | Http2::GoawayMidRun => {
                            // A HelloReply { message: "Hello World" }.
                            let Ok(mut stream) = respond.send_response(response, false) else {
                                continue;
                            };
                            let reply = b"\x00\x00\x00\x00\x0d\x0a\x0bHello World";
                            let _ = stream.send_data(Bytes::from_static(reply), true);
                        }
                        Http2::FrameLongerThanItsData => {
                            let Ok(mut stream) = respond.send_response(response, false) else {
                                continue;
                            };
                            let _ = stream
                                .send_data(Bytes::from_static(b"\x00\x00\x00\x10\x00ab"), false);
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().unwrap());
                            let _ = stream.send_trailers(trailers);
                        }
                        Http2::Giant => {
                            let Ok(mut stream) = respond.send_response(response, false) else {
                                continue;
                            };
                            let _ = stream.send_data(giant_message(), true);
                            // Held until the client resets it (it reads 16 MiB at most), so
                            // that no stream outlives the connection with data still queued.
                            tokio::spawn(async move {
                                let _ = std::future::poll_fn(|cx| stream.poll_reset(cx)).await;
                            });
                        }
                        Http2::GarbagePreface => unreachable!(),
                    }
                }
            });
        }
    });
    addr
}

/// How long each run measures: compare must end within it plus a few seconds.
const DURATION: f64 = 1.0;

/// `compare` against `target` (`--rest-target` or `--grpc-target`): it must end in time, say
/// the run had errors, and name a reason; returns what it wrote on stderr.
async fn compare_against(flag: &str, target: SocketAddr, cell: &str) -> String {
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs_f64(DURATION * 2.0 + 0.2 + 10.0),
        Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
            .args(["compare", flag, &target.to_string(), "--cells", cell])
            .args(["--workloads", "unary", "--concurrency", "4", "--warmup", "0.2"])
            .args(["--duration", &DURATION.to_string(), "--repeats", "1", "--format", "json"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("compare against a {cell} server did not end"))
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "compare panicked:\n{stderr}");
    assert!(!output.status.success(), "compare said the run went well:\n{stderr}");
    assert!(stderr.contains("calls failed; the first:"), "no reason named:\n{stderr}");
    // Each kind of failure counted, with its first.
    assert!(stderr.contains(" calls; the first: "), "no failures by kind:\n{stderr}");
    let elapsed = started.elapsed().as_secs_f64();
    // The warm-up and the run, and at most 5 s more: the calls a stalled server holds are cut
    // 2 s after the warm-up's end and the run's, and a target whose every call failed
    // otherwise is asked once (1 s at most) whether it serves the workload at all.
    assert!(elapsed < DURATION + 0.2 + 5.0, "compare took {elapsed:.1} s:\n{stderr}");
    // Its memory stayed bounded: the largest resident set of every compare this test process
    // has waited for, giant replies included (each call reads at most 16 MiB of a reply).
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN);
    let peak_mib = usage.unwrap().max_rss() / 1024;
    assert!(peak_mib < 256, "compare's resident set peaked at {peak_mib} MiB:\n{stderr}");
    stderr
}

#[tokio::test]
async fn compare_survives_http1_servers_that_misbehave() {
    for behaviour in [
        Http1::NotWhatItSays,
        Http1::ShortBodyThenClose,
        Http1::InvalidContentLength,
        Http1::BadChunkSize,
        Http1::HeadersThenSilence,
        Http1::ImmediateClose,
        Http1::Giant,
        Http1::OneByteASecond,
    ] {
        let server = serve_http1(behaviour).await;
        let stderr = compare_against("--rest-target", server, "rest-json-h1").await;
        let reason = stderr.lines().find(|line| line.contains("calls failed")).unwrap_or_default();
        eprintln!("{behaviour:?}: {reason}");
    }
}

#[tokio::test]
async fn compare_survives_http2_servers_that_misbehave() {
    for behaviour in [
        Http2::NoGrpcStatus,
        Http2::FrameLongerThanItsData,
        Http2::ResetEveryStream,
        Http2::GoawayMidRun,
        Http2::GarbagePreface,
        Http2::Giant,
    ] {
        let server = serve_http2(behaviour).await;
        let stderr = compare_against("--grpc-target", server, "grpc").await;
        let reason = stderr.lines().find(|line| line.contains("calls failed")).unwrap_or_default();
        eprintln!("{behaviour:?}: {reason}");
    }
}
