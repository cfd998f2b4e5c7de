//! A user runs the comparison and reads why each cell won, not only which: every throughput
//! verdict splits its margin into the server's cost, compare's own and the cores in use, and
//! those factors multiply back to the ratio the table shows.

use serde_json::Value;
use tokio::process::Command;

/// One run at a time: two at once would share the cores each one's figures are about.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `compare --format json` for gRPC and REST JSON over HTTP/1.1, unary, 64 in flight.
async fn run(extra: &[&str]) -> Value {
    let _alone = ONE_AT_A_TIME.lock().await;
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .args(["compare", "--cells", "grpc,rest-json-h1", "--workloads", "unary"])
        .args(["--concurrency", "64", "--warmup", "300ms", "--duration", "1500ms"])
        .args(["--format", "json"])
        .args(extra)
        .output()
        .await
        .expect("run compare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "compare {extra:?}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn calls_per_second(report: &Value, cell: &str) -> f64 {
    let rows = report["measurements"].as_array().unwrap();
    let row = rows.iter().find(|row| row["cell"] == cell).unwrap();
    row["requests_per_second"].as_f64().unwrap()
}

/// The factors of gRPC against REST h1, and the verdict line that states them.
fn headline(report: &Value) -> (Value, String) {
    let verdict = &report["verdicts"][0];
    let factors = verdict["factors"].as_array().expect("verdicts[].factors");
    let pair = factors
        .iter()
        .find(|f| {
            let cells = [f["faster"].as_str().unwrap(), f["slower"].as_str().unwrap()];
            cells.contains(&"grpc") && cells.contains(&"rest-json-h1")
        })
        .unwrap_or_else(|| panic!("no factors for grpc against rest-json-h1: {verdict}"))
        .clone();
    let start = format!("{} served ", pair["faster"].as_str().unwrap());
    let line = verdict["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|line| line.starts_with(&start))
        .unwrap_or_else(|| panic!("no line for {pair}: {verdict}"))
        .to_owned();
    (pair, line)
}

/// Every margin's factors multiply back to it, and it is the table's own ratio.
fn assert_factors_multiply_back(report: &Value) {
    for factors in report["verdicts"][0]["factors"].as_array().unwrap() {
        let ratio = factors["ratio"].as_f64().unwrap();
        let measured = calls_per_second(report, factors["faster"].as_str().unwrap())
            / calls_per_second(report, factors["slower"].as_str().unwrap());
        assert!((ratio / measured - 1.0).abs() < 0.02, "{factors}: the table says {measured}");
        let product = ["server_cost", "client_cost", "cores_in_use"]
            .iter()
            .filter_map(|factor| factors[factor].as_f64())
            .product::<f64>();
        assert!((product / ratio - 1.0).abs() < 0.02, "{factors}: the factors give {product}");
    }
}

/// REST's cores in use over gRPC's, whichever was faster.
fn rest_cores_over_grpc(factors: &Value) -> f64 {
    let cores = factors["cores_in_use"].as_f64().unwrap();
    if factors["faster"] == "rest-json-h1" { cores } else { 1.0 / cores }
}

#[tokio::test]
async fn the_default_run_says_why_rest_and_grpc_differ_and_more_connections_even_the_cores() {
    let default = run(&[]).await;
    assert_factors_multiply_back(&default);
    let (one, line) = headline(&default);
    let named = |a: &str, b: &str| line.contains(&format!("{a} against {b}"));
    assert!(named("64 connections", "1") || named("1 connection", "64"), "{line}");
    for factor in ["the server's cost", "compare's own", "cores in use"] {
        assert!(line.contains(&format!("× from {factor} (")), "{factor} in {line}");
    }
    assert!(line.contains("--fair compares like with like"), "{line}");

    // Two gRPC connections let the per-core server put a second core to work.
    let two = run(&["--connections", "2"]).await;
    assert_factors_multiply_back(&two);
    let (two, line) = headline(&two);
    let named = |a: &str, b: &str| line.contains(&format!("{a} against {b}"));
    assert!(named("64 connections", "2") || named("2 connections", "64"), "{line}");
    let (before, after) = (rest_cores_over_grpc(&one), rest_cores_over_grpc(&two));
    assert!(
        after.ln().abs() < before.ln().abs(),
        "REST's cores in use over gRPC's went from {before:.2} (1 connection) to {after:.2} (2)"
    );
}

#[tokio::test]
async fn fair_gives_each_http2_cell_a_connection_per_server_core_and_keeps_the_client_apart() {
    let report = run(&["--fair"]).await;
    assert_factors_multiply_back(&report);
    let run = &report["run"];
    assert_eq!(run["settings"]["fair"], true);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let rows = report["measurements"].as_array().unwrap();
    let grpc = rows.iter().find(|row| row["cell"] == "grpc").unwrap();
    let (factors, line) = headline(&report);
    assert!(line.ends_with("(Like with like: --fair.)"), "{line}");
    if cores >= 2 {
        // The server on the first half of the cores, compare on the rest.
        assert_eq!(run["machine"]["shared_cores"], false, "{run}");
        assert_eq!(run["machine"]["server_cores"], cores.div_ceil(2), "{run}");
        assert_eq!(run["machine"]["client_cores"], cores / 2, "{run}");
        assert_eq!(grpc["connections"], cores.div_ceil(2), "{grpc}");
        // On cores of its own, compare's cost is not the server's.
        assert!(factors["client_cost"].is_null(), "{factors}");
    } else {
        assert_eq!(grpc["connections"], 1, "{grpc}");
    }
}
