//! An operator stops the real binary with SIGTERM: readiness goes NOT_SERVING, a call in
//! flight completes, and the process exits 0 within `--shutdown-timeout` even when a client
//! holds a connection open and says nothing.

mod common;

use std::{
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use rpc_vs_rest::proto::{HelloRequest, greeter_client::GreeterClient};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    sync::mpsc,
};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const SHUTDOWN_TIMEOUT_SECONDS: u64 = 3;

/// Starts the binary on free loopback ports and reads the bound addresses from its JSON log.
async fn start_binary() -> (Child, SocketAddr, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .args(["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0", "--log-format", "json"])
        .args(["--shutdown-timeout", &SHUTDOWN_TIMEOUT_SECONDS.to_string()])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start rpc-vs-rest");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        let log: Value = serde_json::from_str(&line).unwrap_or_default();
        if log["message"] == "serving gRPC and REST" {
            let grpc = log["grpc_addr"].as_str().unwrap().parse().unwrap();
            let rest = log["rest_addr"].as_str().unwrap().parse().unwrap();
            // Keep draining stderr so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, grpc, rest);
        }
    }
    panic!("the server exited before logging its addresses");
}

async fn send_sigterm(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_and_turns_readiness_off_first() {
    let (mut child, grpc_addr, _) = start_binary().await;
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
    let mut client = GreeterClient::connect(url).await.unwrap();
    let (requests, outbound) = mpsc::channel(4);
    requests.send(HelloRequest { name: "before".into() }).await.unwrap();
    let mut replies =
        client.say_hello_bidi_stream(ReceiverStream::new(outbound)).await.unwrap().into_inner();
    assert_eq!(replies.next().await.unwrap().unwrap().message, "Hello before");

    send_sigterm(&child).await;
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
    let status =
        tokio::time::timeout(Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 5), child.wait())
            .await
            .expect("the process exits")
            .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn sigterm_exits_within_the_deadline_despite_silent_and_half_sent_connections() {
    let (mut child, grpc_addr, rest_addr) = start_binary().await;
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
    send_sigterm(&child).await;
    let status =
        tokio::time::timeout(Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 5), child.wait())
            .await
            .expect("the process exits despite the open connections")
            .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 2),
        "exited after {:?}",
        started.elapsed()
    );
}
