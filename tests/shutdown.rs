//! An operator stops the real binary with SIGTERM: readiness goes NOT_SERVING, a call in
//! flight completes, and the process exits 0 within `--shutdown-timeout` even when a client
//! holds a connection open and says nothing.

mod common;

use common::binary::Binary;

use std::time::{Duration, Instant};

use contract::proto::{HelloReply, HelloRequest, greeter_client::GreeterClient};
use tokio::{io::AsyncWriteExt, net::TcpStream, sync::mpsc};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const SHUTDOWN_TIMEOUT_SECONDS: u64 = 3;

async fn start_binary() -> Binary {
    Binary::start(&["--shutdown-timeout", &SHUTDOWN_TIMEOUT_SECONDS.to_string()], &[]).await
}

/// A bidirectional call whose first request, `name`, has been answered: the client, its
/// request sender and its replies.
async fn bidi_call_answered(
    url: &str,
    name: &str,
) -> (
    GreeterClient<tonic::transport::Channel>,
    mpsc::Sender<HelloRequest>,
    tonic::Streaming<HelloReply>,
) {
    let mut client = GreeterClient::connect(url.to_owned()).await.unwrap();
    let (requests, outbound) = mpsc::channel(4);
    requests.send(HelloRequest { name: name.into() }).await.unwrap();
    let mut replies =
        client.say_hello_bidi_stream(ReceiverStream::new(outbound)).await.unwrap().into_inner();
    assert_eq!(replies.next().await.unwrap().unwrap().message, format!("Hello {name}"));
    (client, requests, replies)
}

/// Waits (a little past the shutdown deadline) for the process to exit, and checks it exited 0.
async fn exits_cleanly(server: &mut Binary, what: &str) {
    let status = tokio::time::timeout(
        Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 5),
        server.child.wait(),
    )
    .await
    .expect(what)
    .unwrap();
    assert!(status.success(), "{what}: {status}");
}

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_and_turns_readiness_off_first() {
    let mut server = start_binary().await;
    let grpc_addr = server.grpc_addr;
    let url = format!("http://{grpc_addr}");
    let channel =
        tonic::transport::Channel::from_shared(url.clone()).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest { service: "helloworld.Greeter".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().status(), ServingStatus::Serving);

    // A bidirectional call: one request answered before SIGTERM, one after.
    let (client, requests, mut replies) = bidi_call_answered(&url, "before").await;

    server.sigterm().await;
    assert_eq!(
        watch.next().await.unwrap().unwrap().status(),
        ServingStatus::NotServing,
        "readiness goes NOT_SERVING when draining starts"
    );

    requests.send(HelloRequest { name: "after".into() }).await.unwrap();
    assert_eq!(replies.next().await.unwrap().unwrap().message, "Hello after");
    drop(requests);
    assert!(replies.next().await.is_none(), "the call ends cleanly, with status OK");

    drop((watch, health, client));
    exits_cleanly(&mut server, "the process exits").await;
}

#[tokio::test]
async fn sigterm_exits_within_the_deadline_despite_silent_and_half_sent_connections() {
    let mut server = start_binary().await;
    let (grpc_addr, rest_addr) = (server.grpc_addr, server.rest_addr);
    let _silent_grpc = TcpStream::connect(grpc_addr).await.unwrap();
    let _silent_rest = TcpStream::connect(rest_addr).await.unwrap();
    let mut half_sent = TcpStream::connect(rest_addr).await.unwrap();
    half_sent
        .write_all(b"POST /v1/greeter/hello HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    // Make sure the server has accepted all three before the signal.
    reqwest::get(format!("http://{rest_addr}/healthz")).await.unwrap();

    let started = Instant::now();
    server.sigterm().await;
    exits_cleanly(&mut server, "the process exits despite the open connections").await;
    assert!(
        started.elapsed() < Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 2),
        "exited after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn while_draining_probes_answer_and_new_calls_are_refused_without_error_logs() {
    let mut server = start_binary().await;
    let url = format!("http://{}", server.grpc_addr);
    // A call held open keeps the server draining while the probes below look at it.
    let (client, requests, mut replies) = bidi_call_answered(&url, "held").await;

    server.sigterm().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A new connection each, as an orchestrator's probes make.
    let rest = |path: &str| {
        let url = format!("http://{}{path}", server.rest_addr);
        async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(rest("/healthz").await, (200, serde_json::json!({"status": "SERVING"})));
    assert_eq!(rest("/readyz").await, (503, serde_json::json!({"status": "NOT_SERVING"})));
    let (status, body) = rest("/v1/greeter/hello/Ada").await;
    assert_eq!((status, &body["error"]["status"]), (503, &serde_json::json!("UNAVAILABLE")));

    let channel = tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap();
    let check = HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: "helloworld.Greeter".into() })
        .await
        .expect("gRPC health answers while draining");
    assert_eq!(check.into_inner().status(), ServingStatus::NotServing);
    let refused = GreeterClient::new(channel)
        .say_hello(HelloRequest { name: "late".into() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);

    drop(requests);
    assert!(replies.next().await.is_none());
    drop(client);
    exits_cleanly(&mut server, "the process exits").await;
    let logs = server.logs.lock().await;
    let errors: Vec<&String> = logs.iter().filter(|line| line.contains("\"ERROR\"")).collect();
    assert!(errors.is_empty(), "a planned drain logs no errors: {errors:?}");
}

/// Client-side health checking keeps a `Health.Watch` open for as long as it uses the server:
/// a stock grpcio client holding one sees NOT_SERVING when the drain starts, then its stream
/// ends (UNAVAILABLE, which it retries elsewhere), and the watch does not hold the shutdown:
/// the process exits as soon as the last other call is done, not at the deadline.
#[tokio::test]
async fn an_open_health_watch_sees_not_serving_and_does_not_hold_the_drain() {
    let Some(python) = common::tools::require_python_with("grpc_tools") else { return };
    let mut server = Binary::start(&["--shutdown-timeout", "10"], &[]).await;
    let url = format!("http://{}", server.grpc_addr);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stock_client/watch.py");
    let mut watcher = tokio::process::Command::new(python)
        .arg(script)
        .arg(server.grpc_addr.to_string())
        .arg("helloworld.Greeter")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut watched = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        watcher.stdout.take().unwrap(),
    ));
    let mut next_status = async || -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(30), watched.next_line())
            .await
            .expect("the watcher reports")
            .unwrap()
            .expect("a line from the watcher");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next_status().await, serde_json::json!({"status": "SERVING"}));

    // Another call in flight, which the drain must wait for.
    let (client, requests, mut replies) = bidi_call_answered(&url, "held").await;

    server.sigterm().await;
    assert_eq!(next_status().await, serde_json::json!({"status": "NOT_SERVING"}));
    assert_eq!(
        next_status().await,
        serde_json::json!({"end": "UNAVAILABLE", "details": "the server is shutting down"})
    );
    assert!(watcher.wait().await.unwrap().success());

    requests.send(HelloRequest { name: "after".into() }).await.unwrap();
    assert_eq!(replies.next().await.unwrap().unwrap().message, "Hello after");
    drop(requests);
    assert!(replies.next().await.is_none(), "the held call ends cleanly");
    let last_call_ended = Instant::now();
    drop((replies, client));
    exits_cleanly(&mut server, "the process exits").await;
    assert!(
        last_call_ended.elapsed() < Duration::from_secs(2),
        "exited {:?} after the last call, where the deadline is 10 s",
        last_call_ended.elapsed()
    );
}

/// A request that reaches the server on a connection it had before the drain began is one the
/// client could not have sent elsewhere (its connection's `Connection: close` or GOAWAY had not
/// reached it yet): it is served, and the connection then closes. What comes on a connection
/// opened during the drain is refused, so that its client goes to another server.
#[tokio::test]
async fn while_draining_a_request_on_a_connection_from_before_is_served_and_its_connection_closed()
{
    let mut server = start_binary().await;
    let url = format!("http://{}", server.grpc_addr);
    // A call held open keeps the server draining.
    let (client, requests, mut replies) = bidi_call_answered(&url, "held").await;
    let request = b"GET /v1/greeter/hello/Ada HTTP/1.1\r\nhost: test\r\n\r\n";
    let mut kept = TcpStream::connect(server.rest_addr).await.unwrap();
    kept.write_all(request).await.unwrap();
    let before = read_reply(&mut kept).await;
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");

    server.sigterm().await;
    // Within the 250 ms a quiet keep-alive connection is left before it is closed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    kept.write_all(request).await.unwrap();
    let during = read_reply(&mut kept).await.to_ascii_lowercase();
    assert!(during.starts_with("http/1.1 200"), "refused on its old connection: {during}");
    assert!(during.contains("connection: close"), "{during}");
    assert!(during.contains("hello ada"), "{during}");

    let mut new = TcpStream::connect(server.rest_addr).await.unwrap();
    new.write_all(request).await.unwrap();
    let refused = read_reply(&mut new).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "a new connection was served: {refused}");

    drop(requests);
    assert!(replies.next().await.is_none());
    drop(client);
    exits_cleanly(&mut server, "the process exits").await;
}

/// One HTTP/1.1 reply, read until its JSON body's end (the replies here are small).
async fn read_reply(socket: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    while !reply.ends_with(b"}") {
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
            .await
            .expect("a reply within 5 s")
            .unwrap();
        assert!(read > 0, "closed before a whole reply: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8(reply).unwrap()
}
