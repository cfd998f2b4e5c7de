//! A user runs `rpc-vs-rest compare` with no server running: it starts its own, measures every
//! cell, checks every reply, and prints the table in the format asked for.

use serde_json::Value;
use tokio::process::Command;

async fn compare(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .arg("compare")
        .args(["--warmup", "0.2", "--duration", "0.5"])
        .args(args)
        .output()
        .await
        .expect("run compare");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn compare_measures_every_cell_with_checked_replies() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "unary,batch-100", "--concurrency", "4", "--format", "json"])
            .await;
    assert!(ok, "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), 10, "5 cells × 2 workloads");
    for row in &rows {
        let label = format!("{} {}", row["cell"], row["workload"]);
        assert_eq!(row["errors"], 0, "{label}: {}", row["first_error"]);
        assert!(row["calls"].as_u64().unwrap() > 0, "{label}");
        assert!(row["requests_per_second"].as_f64().unwrap() > 0.0, "{label}");
        assert!(row["p50_us"].as_u64().unwrap() <= row["p99_us"].as_u64().unwrap(), "{label}");
        assert!(row["request_bytes_per_call"].as_f64().unwrap() > 0.0, "{label}");
        assert!(row["server_cpu_ms_per_1000_calls"].as_f64().is_some(), "{label}");
    }
    let batch = |cell: &str| {
        rows.iter()
            .find(|r| r["cell"] == cell && r["workload"] == "batch-100")
            .map(|r| r["response_bytes_per_call"].as_f64().unwrap())
            .unwrap()
    };
    assert!(
        batch("rest-proto-h2") < batch("rest-json-h2"),
        "protobuf replies are smaller than JSON"
    );
    let conns = |cell: &str| {
        rows.iter().find(|r| r["cell"] == cell).unwrap()["connections"].as_u64().unwrap()
    };
    assert_eq!(conns("grpc"), 1);
    assert_eq!(conns("rest-json-h1"), 4);
}

#[tokio::test]
async fn compare_prints_a_table_and_markdown() {
    let (ok, stdout, stderr) =
        compare(&["--cells", "grpc,rest-json-h1", "--workloads", "unary", "--concurrency", "1"])
            .await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("cell "), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("grpc ")), "{stdout}");
    let (ok, stdout, _) = compare(&[
        "--cells",
        "grpc",
        "--workloads",
        "unary",
        "--concurrency",
        "1",
        "--format",
        "markdown",
    ])
    .await;
    assert!(ok);
    assert!(stdout.starts_with("| cell |"), "{stdout}");
}

#[tokio::test]
async fn compare_refuses_unknown_cells_clearly() {
    let (ok, _, stderr) = compare(&["--cells", "soap"]).await;
    assert!(!ok);
    assert!(stderr.contains("unknown cell \"soap\""), "{stderr}");
}

#[tokio::test]
async fn open_loop_holds_the_rate_and_writes_an_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h1",
        "--workloads",
        "unary",
        "--concurrency",
        "4",
        "--rate",
        "200",
        "--format",
        "json",
        "--report",
        report.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    for row in &rows {
        let rate = row["requests_per_second"].as_f64().unwrap();
        assert!(
            (150.0..=210.0).contains(&rate),
            "{}: {rate} req/s for a 200/s schedule",
            row["cell"]
        );
    }
    let html = std::fs::read_to_string(report).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("rest-json-h1")
            && html.contains("requests per second")
    );
}

#[tokio::test]
async fn streams_compare_grpc_ndjson_and_sse() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "stream-10", "--concurrency", "2", "--format", "json"]).await;
    assert!(ok, "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let cells: Vec<&str> = rows.iter().map(|r| r["cell"].as_str().unwrap()).collect();
    assert_eq!(cells, ["grpc", "rest-json-h1", "rest-json-h2", "rest-sse-h1", "rest-sse-h2"]);
    for row in &rows {
        assert_eq!(row["errors"], 0, "{}: {}", row["cell"], row["first_error"]);
        assert!(row["calls"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn chats_compare_grpc_bidi_streams_and_websockets() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "chat-5", "--concurrency", "2", "--format", "json"]).await;
    assert!(ok, "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let cells: Vec<&str> = rows.iter().map(|r| r["cell"].as_str().unwrap()).collect();
    assert_eq!(cells, ["grpc", "rest-ws-h1"]);
    for row in &rows {
        assert_eq!(row["errors"], 0, "{}: {}", row["cell"], row["first_error"]);
        assert!(row["calls"].as_u64().unwrap() > 0);
    }
}
