//! Limits a client runs into: request timeouts (504 / DEADLINE_EXCEEDED, the client's
//! `grpc-timeout` honoured; for streams the client sends, between its messages), load shedding (503 / UNAVAILABLE), header size (431), slow and
//! silent connections (closed), the connection cap. Each also checks that a well-behaved
//! client is still served.

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::{TestServer, http1, http2};
use contract::proto::HelloRequest;
use futures_util::{SinkExt as _, StreamExt as _, stream};
use prost::Message as _;
use serde_json::Value;
use server::config::ServeConfig;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn config(adjust: impl FnOnce(&mut ServeConfig)) -> ServeConfig {
    let mut config = ServeConfig::loopback();
    adjust(&mut config);
    config
}

/// Reads what the server sends until it closes the connection or `limit` passes.
async fn read_until_closed(socket: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(limit, socket.read_to_end(&mut received)).await.is_ok();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

/// A REST request whose body never finishes arriving: it stays in flight.
async fn stuck_rest_request(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST /v1/greeter/hello HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"na")
        .await
        .unwrap();
    socket
}

/// A unary gRPC call over h2c whose request body never arrives.
fn stuck_grpc_call(server: &TestServer, grpc_timeout: Option<&str>) -> reqwest::RequestBuilder {
    let pending = stream::pending::<Result<Vec<u8>, std::io::Error>>();
    let mut request = http2()
        .post(format!("{}/helloworld.Greeter/SayHello", server.grpc_url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(reqwest::Body::wrap_stream(pending));
    if let Some(timeout) = grpc_timeout {
        request = request.header("grpc-timeout", timeout);
    }
    request
}

async fn healthy_call_succeeds(server: &TestServer) {
    let reply = server.grpc_client().await.say_hello(HelloRequest { name: "ok".into() }).await;
    assert_eq!(reply.unwrap().into_inner().message, "Hello ok");
    let response = http1().get(server.rest_url("/v1/greeter/hello/ok")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_rest_request_over_the_timeout_gets_504_deadline_exceeded() {
    let server =
        TestServer::spawn_with(config(|c| c.connections.request_timeout = Duration::from_secs(1)))
            .await;
    let started = Instant::now();
    let mut socket = stuck_rest_request(server.rest_addr).await;
    let (response, _) = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
    assert!(response.contains(r#""status":"DEADLINE_EXCEEDED""#), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3));
    healthy_call_succeeds(&server).await;
}

#[tokio::test]
async fn a_grpc_call_past_the_clients_grpc_timeout_gets_deadline_exceeded() {
    let server = TestServer::spawn().await;
    let started = Instant::now();
    let response = stuck_grpc_call(&server, Some("300m")).send().await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "4", "{response:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    healthy_call_succeeds(&server).await;
}

#[tokio::test]
async fn a_grpc_call_past_the_servers_timeout_gets_deadline_exceeded() {
    let server =
        TestServer::spawn_with(config(|c| c.connections.request_timeout = Duration::from_secs(1)))
            .await;
    let response = stuck_grpc_call(&server, None).send().await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "4", "{response:?}");
}

/// Names sent `every` apart until `until` has passed, then the end of the stream.
fn names_paced(every: Duration, until: Duration) -> impl futures_util::Stream<Item = HelloRequest> {
    let started = Instant::now();
    futures_util::stream::unfold(0, move |sent| async move {
        if sent > 0 {
            tokio::time::sleep(every).await;
        }
        (started.elapsed() < until).then(|| (HelloRequest { name: format!("n{sent}") }, sent + 1))
    })
}

#[tokio::test]
async fn a_bidi_stream_whose_client_falls_silent_ends_with_deadline_exceeded() {
    let server =
        TestServer::spawn_with(config(|c| c.connections.request_timeout = Duration::from_secs(1)))
            .await;
    let (send, requests) = tokio::sync::mpsc::channel(1);
    let requests = tokio_stream::wrappers::ReceiverStream::new(requests);
    let mut client = server.grpc_client().await;
    send.send(HelloRequest { name: "Ada".into() }).await.unwrap();
    let mut replies = client.say_hello_bidi_stream(requests).await.unwrap().into_inner();
    assert_eq!(replies.message().await.unwrap().unwrap().message, "Hello Ada");
    let silent_since = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(5), replies.message())
        .await
        .expect("the server ended the stream within 5 s")
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("request timeout"), "{status:?}");
    let waited = silent_since.elapsed();
    assert!(waited > Duration::from_millis(800) && waited < Duration::from_secs(3), "{waited:?}");
    drop(send);
    healthy_call_succeeds(&server).await;
}

#[tokio::test]
async fn a_bidi_stream_that_keeps_sending_outlives_the_request_timeout() {
    let server =
        TestServer::spawn_with(config(|c| c.connections.request_timeout = Duration::from_secs(1)))
            .await;
    let requests = names_paced(Duration::from_millis(300), Duration::from_millis(2500));
    let started = Instant::now();
    let replies = server.grpc_client().await.say_hello_bidi_stream(requests).await.unwrap();
    let replies: Vec<_> = replies.into_inner().collect().await;
    assert!(started.elapsed() > Duration::from_secs(2), "the stream ran past the timeout");
    assert!(replies.len() >= 7, "{replies:?}");
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
}

#[tokio::test]
async fn a_websocket_chat_whose_client_falls_silent_gets_deadline_exceeded_and_close_1008() {
    use tokio_tungstenite::{connect_async, tungstenite::Message};
    let server =
        TestServer::spawn_with(config(|c| c.connections.request_timeout = Duration::from_secs(1)))
            .await;
    let url = format!("ws://{}/v1/greeter/chat", server.rest_addr);
    let (mut socket, _) = connect_async(&url).await.unwrap();
    socket.send(Message::text(r#"{"name":"Ada"}"#)).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.to_text().unwrap(), r#"{"message":"Hello Ada"}"#);
    let silent_since = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("the server ended the session within 5 s");
    let error: Value = serde_json::from_str(error.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(error["error"]["status"], "DEADLINE_EXCEEDED", "{error}");
    match socket.next().await.unwrap().unwrap() {
        Message::Close(Some(close)) => assert_eq!(u16::from(close.code), 1008),
        other => panic!("expected Close 1008, got {other:?}"),
    }
    let waited = silent_since.elapsed();
    assert!(waited > Duration::from_millis(800) && waited < Duration::from_secs(3), "{waited:?}");

    // A session that keeps talking is not cut, however long it lasts.
    let (mut socket, _) = connect_async(&url).await.unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        socket.send(Message::text(r#"{"name":"Grace"}"#)).await.unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        assert_eq!(reply.to_text().unwrap(), r#"{"message":"Hello Grace"}"#);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn rest_sheds_load_with_503_but_probes_still_answer() {
    let server = TestServer::spawn_with(config(|c| c.connections.max_in_flight = 1)).await;
    let _stuck = stuck_rest_request(server.rest_addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = http1().get(server.rest_url("/v1/greeter/hello/Ada")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    let health = http1().get(server.rest_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "probes are never shed");
}

#[tokio::test]
async fn grpc_sheds_load_with_unavailable() {
    let server = TestServer::spawn_with(config(|c| c.connections.max_in_flight = 1)).await;
    let stuck = tokio::spawn(stuck_grpc_call(&server, None).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = server
        .grpc_client()
        .await
        .say_hello(HelloRequest { name: "Ada".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    stuck.abort();
}

#[tokio::test]
async fn oversized_http1_headers_get_431_and_the_server_keeps_serving() {
    let server = TestServer::spawn().await;
    let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
    let huge = "a".repeat(64 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nhost: t\r\nx-huge: {huge}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.ok();
    let (response, closed) = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(closed);
    healthy_call_succeeds(&server).await;
}

#[tokio::test]
async fn slowloris_and_silent_connections_are_closed_on_both_ports() {
    let server = TestServer::spawn_with(config(|c| {
        c.connections.header_read_timeout = Duration::from_secs(1)
    }))
    .await;
    for addr in [server.rest_addr, server.grpc_addr] {
        let started = Instant::now();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let trickle = async {
            for byte in b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-a: " {
                if slow.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(4), trickle).await.ok();
        let (_, slow_closed) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
        let (_, silent_closed) = read_until_closed(&mut silent, Duration::from_secs(3)).await;
        assert!(silent_closed, "{addr}: a silent connection must be closed");
        assert!(slow_closed, "{addr}: a slowloris connection must be closed");
        assert!(started.elapsed() < Duration::from_secs(8), "{addr}: {:?}", started.elapsed());
    }
    healthy_call_succeeds(&server).await;
}

/// A request head left unfinished is cut `--header-read-timeout` after it began, whether its
/// bytes stall or drip slower than the timeout (and so slower than the idle timeout, whose
/// graceful close alone would wait for the head for ever), on both ports, after a request or
/// before any.
#[tokio::test]
async fn an_unfinished_head_is_cut_in_time_whether_it_stalls_or_drips() {
    let server = TestServer::spawn_with(config(|c| {
        c.connections.header_read_timeout = Duration::from_secs(2);
        c.connections.idle_timeout = Duration::from_secs(2);
    }))
    .await;
    let head = b"GET /v1/greeter/hello/x HTTP/1.1\r\nHost: a\r\n";
    let shape = |addr: SocketAddr, dripping: bool, after_a_request: bool| async move {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        if after_a_request {
            socket.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n").await.unwrap();
            // Answered (on the gRPC port, 404): the rest of the reply is read below.
            let mut status = [0u8; 9];
            socket.read_exact(&mut status).await.unwrap();
            assert_eq!(&status, b"HTTP/1.1 ");
        }
        socket.write_all(head).await.unwrap();
        let began = Instant::now();
        let (mut reader, mut writer) = socket.into_split();
        let drip = async {
            for line in 0.. {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if !dripping
                    || writer.write_all(format!("x-{line}: a\r\n").as_bytes()).await.is_err()
                {
                    std::future::pending::<()>().await;
                }
            }
        };
        let mut rest = Vec::new();
        let closed = tokio::select! {
            read = tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut rest)) => read.is_ok(),
            () = drip => false,
        };
        let what = format!("{addr}, dripping {dripping}, after a request {after_a_request}");
        assert!(closed, "{what}: the unfinished head's connection is still open after 8 s");
        let waited = began.elapsed();
        assert!(waited >= Duration::from_millis(1900), "{what}: cut after {waited:?}");
        assert!(waited < Duration::from_millis(3500), "{what}: cut after {waited:?}");
    };
    let mut shapes = Vec::new();
    for addr in [server.rest_addr, server.grpc_addr] {
        for dripping in [false, true] {
            for after_a_request in [false, true] {
                shapes.push(tokio::spawn(shape(addr, dripping, after_a_request)));
            }
        }
    }
    for shape in shapes {
        shape.await.unwrap();
    }
    healthy_call_succeeds(&server).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server =
        TestServer::spawn_with(config(|c| c.connections.idle_timeout = Duration::from_secs(1)))
            .await;
    let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
    socket.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n").await.unwrap();
    let started = Instant::now();
    let (response, closed) = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(closed, "the idle connection stays open");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed too early: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let server = TestServer::spawn_with(config(|c| c.connections.max_connections = 2)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
        socket.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n").await.unwrap();
        let mut buffer = [0u8; 12];
        socket.read_exact(&mut buffer).await.unwrap();
        assert_eq!(&buffer, b"HTTP/1.1 200");
        held.push(socket);
    }
    let mut refused = TcpStream::connect(server.rest_addr).await.unwrap();
    let (received, closed) = read_until_closed(&mut refused, Duration::from_secs(2)).await;
    assert!(closed && received.is_empty(), "the third connection must be closed unanswered");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = http1().get(server.rest_url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200, "a freed slot is usable again");
}

#[tokio::test]
async fn the_grpc_message_limit_counts_the_decompressed_size() {
    use tonic::codec::CompressionEncoding;
    let server = TestServer::spawn_with(config(|c| c.grpc.max_message_bytes = 64 * 1024)).await;
    // 200 KiB of names that gzip to almost nothing.
    let names = vec!["a".repeat(200); 1000];
    let mut client = server.grpc_client().await.send_compressed(CompressionEncoding::Gzip);
    let request = contract::proto::BatchHelloRequest { names };
    assert!(request.encoded_len() > 64 * 1024);
    let status = client.say_hello_batch(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("exceeded while decompressing"), "{status:?}");
    healthy_call_succeeds(&server).await;
}

#[tokio::test]
async fn headers_over_the_limit_get_431_in_the_error_shape_on_both_http_versions() {
    let server = TestServer::spawn().await;
    let big = "a".repeat(20 * 1024);
    for (version, client) in common::http_clients() {
        let response = client
            .get(server.rest_url("/v1/greeter/hello/Ada"))
            .header("x-big", &big)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 431, "{version}");
        assert!(response.headers().contains_key("x-served-by"), "{version}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], 431, "{version}");
        assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED", "{version}");
        assert!(body["error"]["message"].as_str().unwrap().contains("16384"), "{version}");
    }
    let mut grpc = server.grpc_client().await;
    let mut request = tonic::Request::new(contract::proto::HelloRequest { name: "Ada".into() });
    request.metadata_mut().insert("x-big", big.parse().unwrap());
    let status = grpc.say_hello(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    healthy_call_succeeds(&server).await;
}
