//! compare's own HTTP/2 client (the single calls of every HTTP/2 cell) against a strict peer
//! nobody here wrote: the `h2` crate's server, set to the limits HTTP/2 lets a server set: a
//! request window of a few bytes (every body goes in pieces, each waiting for a
//! WINDOW_UPDATE), three streams at once for sixteen calls in flight, and reply heads larger
//! than a frame (HEADERS, then CONTINUATION). Every call must succeed, and the server must
//! never see more streams than it allowed.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio::{net::TcpListener, process::Command};

/// What `compare`'s unary gRPC call sends: HelloRequest { name: "World" }, framed.
const HELLO_WORLD: &[u8] = b"\x00\x00\x00\x00\x07\x0a\x05World";

/// Streams open at once, now and at most.
#[derive(Default)]
struct Streams {
    open: AtomicUsize,
    most: AtomicUsize,
    bodies_checked: AtomicUsize,
}

async fn strict_server(streams: Arc<Streams>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let streams = streams.clone();
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::Builder::new()
                    .initial_window_size(5)
                    .max_concurrent_streams(3)
                    .handshake::<_, Bytes>(socket)
                    .await
                else {
                    return;
                };
                while let Some(Ok((request, respond))) = connection.accept().await {
                    let streams = streams.clone();
                    tokio::spawn(answer(request, respond, streams));
                }
            });
        }
    });
    addr
}

/// Reads the whole body (releasing its window as it goes), checks it, and answers a
/// HelloReply with a head of 20 KB, more than one frame holds.
async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    streams: Arc<Streams>,
) {
    let open = streams.open.fetch_add(1, Ordering::SeqCst) + 1;
    streams.most.fetch_max(open, Ordering::SeqCst);
    let mut body = request.into_body();
    let mut received = BytesMut::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    if received == HELLO_WORLD {
        streams.bodies_checked.fetch_add(1, Ordering::SeqCst);
    }
    let head = http::Response::builder()
        .header("content-type", "application/grpc")
        .header("x-padding", "p".repeat(20_000))
        .body(())
        .unwrap();
    streams.open.fetch_sub(1, Ordering::SeqCst);
    let Ok(mut stream) = respond.send_response(head, false) else { return };
    let _ = stream.send_data(Bytes::from_static(b"\x00\x00\x00\x00\x0d\x0a\x0bHello World"), false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let _ = stream.send_trailers(trailers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_succeeds_within_a_strict_servers_windows_and_stream_limit() {
    let streams = Arc::new(Streams::default());
    let addr = strict_server(streams.clone()).await;
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .args(["compare", "--grpc-target", &addr.to_string(), "--cells", "grpc"])
        .args(["--workloads", "unary", "--concurrency", "16", "--format", "json"])
        .args(["--warmup", "0", "--duration", "1s"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let row = &report["measurements"][0];
    assert_eq!(row["errors"], 0, "{}", row["first_error"]);
    let calls = row["calls"].as_u64().unwrap();
    assert!(calls > 10, "{row}");
    assert!(streams.most.load(Ordering::SeqCst) <= 3, "the server allowed 3 streams at once");
    // Every body arrived whole, in pieces of at most 5 bytes.
    assert!(streams.bodies_checked.load(Ordering::SeqCst) as u64 >= calls);
}
