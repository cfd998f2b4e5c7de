//! A user puts nginx between compare's clients and the servers (`compare --via nginx`): every
//! cell nginx can carry goes through it with every reply checked, the one it cannot
//! (WebSocket over HTTP/2) is skipped with the reason; with three servers behind it the calls
//! spread a third each, per call (where the per-connection balancer of tests/load_balancing.rs
//! pins a gRPC connection to one server); and the configuration compare runs nginx with can be
//! printed, and nginx accepts it.

mod common;

use std::{collections::BTreeSet, path::Path};

use common::{compare_runs, outside::json_printed, tools};
use serde_json::Value;
use tokio::process::Command;

fn compare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"));
    command.arg("compare");
    command
}

/// Runs compare with `args` to the end; returns its JSON and what it said on stderr.
async fn compare_json(args: &[&str]) -> (Value, String) {
    let output =
        compare().args(args).args(["--format", "json"]).output().await.expect("run compare");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "compare failed ({}):\n{stderr}", output.status);
    (json_printed("compare", &output), stderr)
}

/// Every cell of compare's default set but WebSocket over HTTP/2.
const THROUGH_NGINX: [&str; 12] = [
    "grpc",
    "rest-json-h1",
    "rest-json-h2",
    "rest-proto-h1",
    "rest-proto-h2",
    "rest-sse-h1",
    "rest-sse-h2",
    "rest-ws-h1",
    "connect-json-h1",
    "connect-json-h2",
    "connect-proto-h1",
    "connect-proto-h2",
];

/// Runs every cell through nginx in front of `servers` servers; checks every row, the skipped
/// cell, the provenance, and that nginx is gone once compare has ended. Returns the rows.
async fn every_cell_through_nginx(servers: &str, workloads: &str) -> Vec<Value> {
    let (output, stderr) = compare_json(&[
        "--via",
        "nginx",
        "--servers",
        servers,
        "--workloads",
        workloads,
        "--concurrency",
        "4",
        "--warmup",
        "0.2",
        "--duration",
        "0.5",
    ])
    .await;
    let rows = output["measurements"].as_array().unwrap().clone();
    compare_runs::assert_every_call_went_through_the_proxy(&rows);
    let measured: BTreeSet<&str> = rows.iter().map(|row| row["cell"].as_str().unwrap()).collect();
    assert_eq!(measured, BTreeSet::from(THROUGH_NGINX), "{stderr}");
    assert!(
        stderr.contains("rest-ws-h2: skipped") && stderr.contains("RFC 8441"),
        "the cell nginx cannot carry is skipped, saying why: {stderr}"
    );
    let proxy = &output["run"]["proxy"];
    assert_eq!(proxy["name"], "nginx", "{proxy}");
    assert!(proxy["version"].as_str().is_some_and(|v| v.starts_with('1')), "{proxy}");
    assert_eq!(proxy["workers"], 1, "{proxy}");
    assert_eq!(proxy["skipped"][0]["cell"], "rest-ws-h2", "{proxy}");
    assert_eq!(proxy["upstreams_grpc"].as_array().unwrap().len().to_string(), servers);
    // nginx was stopped with compare: none of its listeners answers any more.
    for listener in proxy["listeners"].as_array().unwrap() {
        let address = listener["address"].as_str().unwrap();
        assert!(
            std::net::TcpStream::connect(address).is_err(),
            "nginx still listens on {address} after compare ended"
        );
    }
    rows
}

#[tokio::test]
async fn every_cell_but_websocket_over_http2_goes_through_nginx_with_every_reply_checked() {
    if tools::nginx().is_none() {
        return;
    }
    let rows = every_cell_through_nginx("1", "unary,records-10,stream-10,chat-3").await;
    for row in &rows {
        assert!(row["servers"].as_object().unwrap().len() == 1, "one server: {row}");
    }
}

#[tokio::test]
async fn every_cell_goes_through_nginx_to_three_servers() {
    if tools::nginx().is_none() {
        return;
    }
    let rows = every_cell_through_nginx("3", "unary,stream-10,chat-3").await;
    for row in &rows {
        let servers: BTreeSet<&str> =
            row["servers"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            servers,
            BTreeSet::from(["server-1", "server-2", "server-3"]),
            "{} {}: every server answered: {}",
            row["cell"],
            row["workload"],
            row["servers"]
        );
    }
}

#[tokio::test]
async fn nginx_spreads_grpc_calls_over_three_servers_per_call() {
    if tools::nginx().is_none() {
        return;
    }
    let (output, _) = compare_json(&[
        "--via",
        "nginx",
        "--servers",
        "3",
        "--cells",
        "grpc,rest-json-h1",
        "--workloads",
        "unary",
        "--concurrency",
        "16",
        "--warmup",
        "0.3",
        "--duration",
        "2",
    ])
    .await;
    let rows = output["measurements"].as_array().unwrap();
    compare_runs::assert_every_call_went_through_the_proxy(rows);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in rows {
        // gRPC over one HTTP/2 connection to nginx: a per-connection balancer would send
        // every call to one server; nginx picks a server per call.
        let servers = row["servers"].as_object().unwrap();
        let total: u64 = servers.values().map(|calls| calls.as_u64().unwrap()).sum();
        assert!(total > 300, "{}: too few calls for a spread: {servers:?}", row["cell"]);
        assert_eq!(servers.len(), 3, "{}: {servers:?}", row["cell"]);
        for (server, calls) in servers {
            let share = calls.as_u64().unwrap() as f64 / total as f64;
            eprintln!("{} {server}: {:.1} % of {total}", row["cell"], share * 100.0);
            assert!(
                (share - 1.0 / 3.0).abs() <= 0.05,
                "{}: {server} got {:.1} % of the calls: {servers:?}",
                row["cell"],
                share * 100.0
            );
        }
    }
}

#[tokio::test]
async fn the_printed_configuration_is_one_nginx_accepts() {
    let Some(nginx) = tools::nginx() else { return };
    let output = compare()
        .args(["--via", "nginx", "--servers", "2", "--print-proxy-config"])
        .output()
        .await
        .expect("run compare");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "grpc_pass grpc://grpc_servers;",
        "keepalive 1024;",
        "keepalive_requests 100000000;",
        "server 127.0.0.1:50052;",
        "server 127.0.0.1:8081;",
        "proxy_buffering off;",
    ] {
        assert!(config.contains(expected), "{expected} missing from:\n{config}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nginx.conf");
    std::fs::write(&file, &config).unwrap();
    let test = nginx_test(&nginx, dir.path(), &file).await;
    assert!(
        test.status.success(),
        "nginx -t refused it:\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
}

/// `nginx -t` on a configuration, unprivileged: its pid, temporary files and error log in
/// `dir`.
async fn nginx_test(nginx: &Path, dir: &Path, file: &Path) -> std::process::Output {
    Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(file)
        .arg("-e")
        .arg(dir.join("error.log"))
        .output()
        .await
        .expect("run nginx -t")
}

#[tokio::test]
async fn the_printed_configuration_passes_calls_on_to_the_targets() {
    let output = compare()
        .args(["--via", "nginx", "--print-proxy-config"])
        .args(["--grpc-target", "ipv4:127.0.0.1:7001,127.0.0.1:7002"])
        .args(["--rest-target", "127.0.0.1:7003"])
        .output()
        .await
        .expect("run compare");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config = String::from_utf8(output.stdout).unwrap();
    for expected in ["server 127.0.0.1:7001;", "server 127.0.0.1:7002;", "server 127.0.0.1:7003;"] {
        assert!(config.contains(expected), "{expected} missing from:\n{config}");
    }
    assert!(!config.contains("50051"), "no placeholder with targets:\n{config}");
}

#[tokio::test]
async fn a_proxy_other_than_nginx_is_refused_naming_the_choices() {
    let output = compare().args(["--via", "haproxy"]).output().await.expect("run compare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("haproxy") && stderr.contains("nginx"), "{stderr}");
}

/// Without a proxy the clients spread their calls over several servers themselves, in the
/// unary client only: streams through several servers need a proxy, which the refusal names.
#[tokio::test]
async fn several_servers_without_a_proxy_refuse_streams_naming_the_proxies() {
    let output = compare()
        .args(["--servers", "3", "--workloads", "stream-10"])
        .output()
        .await
        .expect("run compare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--via nginx"), "{stderr}");
}
