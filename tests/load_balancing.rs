//! The load-balancing lesson, on loopback: three servers behind a proxy that, like
//! kube-proxy in front of a ClusterIP Service, picks a server per connection. `compare`'s
//! spread column shows gRPC pinned to one server over its one HTTP/2 connection, HTTP/1.1 REST
//! spread by its many connections, and gRPC spread again when its client connects to every
//! address and sends calls round robin.

mod common;

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicUsize, Ordering},
};

use common::{binary::Binary, outside::json_of};
use tokio::{
    net::{TcpListener, TcpStream},
    process::Command,
};

/// A TCP proxy that sends each new connection to the next backend in turn, and nothing else.
async fn per_connection_balancer(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let turn = AtomicUsize::new(0);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let backend = backends[turn.fetch_add(1, Ordering::Relaxed) % backends.len()];
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

async fn three_servers() -> Vec<Binary> {
    let mut servers = Vec::new();
    for name in ["pod-a", "pod-b", "pod-c"] {
        servers.push(Binary::start(&["--server-name", name], &[]).await);
    }
    servers
}

/// Runs `compare` against the targets and returns, per cell, the calls each server answered.
async fn spread(grpc_target: &str, rest_target: &str, cells: &str) -> Vec<(String, Vec<u64>)> {
    let mut compare = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"));
    compare
        .args(["compare", "--grpc-target", grpc_target, "--rest-target", rest_target])
        .args(["--cells", cells, "--workloads", "unary", "--concurrency", "6"])
        .args(["--warmup", "0.2", "--duration", "0.5", "--format", "json"]);
    let output = json_of("compare", &mut compare).await;
    output["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            assert_eq!(row["errors"], 0, "{}: {}", row["cell"], row["first_error"]);
            let servers = row["servers"].as_object().unwrap();
            assert!(
                servers.keys().all(|name| name.starts_with("pod-")),
                "servers named by x-served-by: {servers:?}"
            );
            let calls = servers.values().map(|calls| calls.as_u64().unwrap()).collect();
            (row["cell"].as_str().unwrap().to_owned(), calls)
        })
        .collect()
}

#[tokio::test]
async fn one_grpc_connection_is_pinned_to_one_server_while_http1_connections_spread() {
    let servers = three_servers().await;
    let grpc = per_connection_balancer(servers.iter().map(|s| s.grpc_addr).collect()).await;
    let rest = per_connection_balancer(servers.iter().map(|s| s.rest_addr).collect()).await;

    let cells =
        spread(&grpc.to_string(), &rest.to_string(), "grpc,rest-json-h1,rest-json-h2").await;

    let servers_of = |cell: &str| cells.iter().find(|(c, _)| c == cell).unwrap().1.len();
    assert_eq!(servers_of("grpc"), 1, "one HTTP/2 connection, one server: {cells:?}");
    assert_eq!(servers_of("rest-json-h2"), 1, "h2c REST is pinned the same way: {cells:?}");
    assert_eq!(servers_of("rest-json-h1"), 3, "6 HTTP/1.1 connections reach all 3: {cells:?}");
}

#[tokio::test]
async fn a_grpc_client_with_every_address_spreads_calls_round_robin() {
    let servers = three_servers().await;
    let addresses: Vec<String> = servers.iter().map(|s| s.grpc_addr.to_string()).collect();
    let grpc_target = format!("ipv4:{}", addresses.join(","));

    let cells = spread(&grpc_target, &servers[0].rest_addr.to_string(), "grpc").await;

    let calls = &cells[0].1;
    assert_eq!(calls.len(), 3, "every server answered: {calls:?}");
    let total: u64 = calls.iter().sum();
    for server_calls in calls {
        // Round robin: each server gets a third, give or take the calls still in flight.
        assert!(server_calls.abs_diff(total / 3) <= 6, "evenly spread: {calls:?}");
    }
}
