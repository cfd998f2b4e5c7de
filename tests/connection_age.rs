//! `--max-connection-age` (gRFC A9): a server that recycles its connections so that clients
//! reconnect and reach servers that joined since. An operator sets an age; each connection
//! closes at that age ±10 %, HTTP/2 with GOAWAY (what is in flight finishes), HTTP/1.1 with
//! `Connection: close` on its next reply; past `--max-connection-age-grace` what is still open
//! is cut. Driven with the `h2` crate's client and raw HTTP/1.1 bytes, on both ports.

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::TestServer;
use server::config::ServeConfig;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const AGE: Duration = Duration::from_secs(1);

fn with_age(grace: Option<Duration>) -> ServeConfig {
    let mut config = ServeConfig::loopback();
    config.connections.max_connection_age = Some(AGE);
    config.connections.max_connection_age_grace = grace;
    config
}

/// An h2c connection to `addr` whose driver reports when it ended, timed from the handshake.
async fn http2_connection(
    addr: SocketAddr,
) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<(Duration, String)>) {
    let socket = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    let (send, connection) = h2::client::handshake(socket).await.unwrap();
    let ended = tokio::spawn(async move {
        let how = match connection.await {
            Ok(()) => "closed".to_owned(),
            Err(error) => format!("{error:?}"),
        };
        (opened.elapsed(), how)
    });
    (send, ended)
}

/// A call each port answers: the gRPC health check on the gRPC port, /healthz on REST's.
fn health_call(grpc: bool) -> (http::Request<()>, Option<Bytes>) {
    if grpc {
        let request = http::Request::post("http://t/grpc.health.v1.Health/Check")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        (request, Some(Bytes::from_static(&[0, 0, 0, 0, 0])))
    } else {
        (http::Request::get("http://t/healthz").body(()).unwrap(), None)
    }
}

async fn answered(send: h2::client::SendRequest<Bytes>, grpc: bool) -> h2::RecvStream {
    let mut send = send.ready().await.unwrap();
    let (request, body) = health_call(grpc);
    let (reply, mut stream) = send.send_request(request, body.is_none()).unwrap();
    if let Some(body) = body {
        stream.send_data(body, true).unwrap();
    }
    let reply = reply.await.unwrap();
    assert_eq!(reply.status(), 200);
    reply.into_body()
}

#[tokio::test]
async fn each_http2_connection_is_closed_at_its_own_age_on_both_ports() {
    let server = TestServer::spawn_with(with_age(None)).await;
    let mut connections = Vec::new();
    for (addr, grpc) in [(server.grpc_addr, true), (server.rest_addr, false)] {
        for _ in 0..6 {
            let (send, ended) = http2_connection(addr).await;
            let mut body = answered(send.clone(), grpc).await;
            while body.data().await.is_some() {}
            connections.push((grpc, send, ended));
        }
    }
    let mut ages = Vec::new();
    for (grpc, send, ended) in connections {
        let (age, how) = tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("a connection outlived its age by seconds")
            .unwrap();
        // The server's GOAWAY (NO_ERROR) ends an idle connection; it was not cut.
        assert!(how == "closed" || how.contains("NO_ERROR"), "grpc port {grpc}: {how}");
        assert!(send.clone().ready().await.is_err(), "the connection still takes calls");
        ages.push(age);
    }
    let (youngest, oldest) = (ages.iter().min().unwrap(), ages.iter().max().unwrap());
    // ±10 % of the age, and the time the GOAWAY and close take on a busy machine.
    assert!(*youngest >= AGE.mul_f64(0.9), "closed before 0.9 × the age: {ages:?}");
    assert!(*oldest <= AGE.mul_f64(1.1) + Duration::from_millis(500), "{ages:?}");
    // Connections opened within milliseconds of each other close apart: the jitter.
    assert!(*oldest - *youngest >= Duration::from_millis(20), "no jitter: {ages:?}");
}

#[tokio::test]
async fn an_http2_call_in_flight_finishes_after_the_goaway_until_the_grace_cuts_it() {
    let grace = Duration::from_secs(1);
    let server = TestServer::spawn_with(with_age(Some(grace))).await;
    let (send, ended) = http2_connection(server.grpc_addr).await;
    // A health Watch stays open for as long as the client wants: a call in flight at the age.
    let mut send = send.ready().await.unwrap();
    let request = http::Request::post("http://t/grpc.health.v1.Health/Watch")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (reply, mut stream) = send.send_request(request, false).unwrap();
    stream.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true).unwrap();
    let mut watch = reply.await.unwrap().into_body();
    assert!(watch.data().await.is_some(), "the watch's first answer");
    let started = Instant::now();
    // At the age: no new call is taken on the connection, the one in flight goes on.
    tokio::time::sleep(AGE.mul_f64(1.1) + Duration::from_millis(200)).await;
    let (request, _) = health_call(false);
    let refused = send.send_request(request, true).map(|(reply, _)| reply);
    let refused = match refused {
        Ok(reply) => reply.await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(refused.is_err(), "a call started after the GOAWAY was taken");
    // ... until the grace has passed, when it is cut with its connection.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = watch.data().await {}
    })
    .await;
    assert!(end.is_ok(), "the call outlived the grace");
    let cut_after = started.elapsed();
    assert!(cut_after >= AGE.mul_f64(0.9) + grace - Duration::from_millis(100), "{cut_after:?}");
    assert!(cut_after <= AGE.mul_f64(1.1) + grace + Duration::from_millis(500), "{cut_after:?}");
    let (lifetime, _) = ended.await.unwrap();
    assert!(lifetime <= AGE.mul_f64(1.1) + grace + Duration::from_millis(500), "{lifetime:?}");
}

/// Sends a GET for /healthz and reads the whole reply, head and body.
async fn http1_healthz(socket: &mut TcpStream) -> String {
    socket.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n").await.unwrap();
    let mut reply = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed mid-reply: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned)
                })
                .and_then(|length| length.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if reply.len() >= head_end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn an_http1_connection_past_its_age_is_told_to_close_on_its_next_reply() {
    let server = TestServer::spawn_with(with_age(None)).await;
    let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
    let young = http1_healthz(&mut socket).await;
    assert!(young.starts_with("HTTP/1.1 200"), "{young}");
    assert!(!young.to_ascii_lowercase().contains("connection: close"), "{young}");
    // Past the age, the idle connection is not dropped under a request that may be on its way:
    // it stays open until its next reply, which says it closes.
    tokio::time::sleep(AGE.mul_f64(1.1) + Duration::from_millis(200)).await;
    let aged = http1_healthz(&mut socket).await;
    assert!(aged.starts_with("HTTP/1.1 200"), "{aged}");
    assert!(aged.to_ascii_lowercase().contains("connection: close"), "{aged}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "still open after its last reply: {closed:?}");
}

#[tokio::test]
async fn an_http1_connection_past_its_age_and_grace_is_cut_when_it_sends_nothing() {
    let server = TestServer::spawn_with(with_age(Some(Duration::from_millis(500)))).await;
    let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
    let started = Instant::now();
    assert!(http1_healthz(&mut socket).await.starts_with("HTTP/1.1 200"));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "not closed: {closed:?}");
    let closed_after = started.elapsed();
    // Before the idle timeout (10 s): the age and the grace closed it.
    assert!(closed_after >= AGE.mul_f64(0.9) + Duration::from_millis(400), "{closed_after:?}");
    assert!(closed_after <= AGE.mul_f64(1.1) + Duration::from_millis(1000), "{closed_after:?}");
}

#[tokio::test]
async fn without_an_age_connections_stay_open() {
    let server = TestServer::spawn().await;
    let (send, ended) = http2_connection(server.grpc_addr).await;
    let mut body = answered(send.clone(), true).await;
    while body.data().await.is_some() {}
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!ended.is_finished(), "the connection closed with no age set");
    let mut body = answered(send, true).await;
    while body.data().await.is_some() {}
}
