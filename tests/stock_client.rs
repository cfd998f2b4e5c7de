//! A user who generated a client from gRPC's own `helloworld.proto` (here Python, with
//! grpcio-tools) calls our server and gets greetings without changing anything; and
//! `compare` measures gRPC's own Python helloworld server, which serves less than ours.

mod common;

use common::{TestServer, tools};
use serde_json::{Value, json};
use tokio::process::Command;

#[tokio::test]
async fn a_stock_python_client_gets_its_greetings() {
    let Some(python) = tools::require_python_with("grpc_tools") else { return };
    let server = TestServer::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stock_client/greet.py");
    let output = Command::new(python)
        .arg(script)
        .arg(server.grpc_addr.to_string())
        .output()
        .await
        .expect("run the stock client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stock client failed:\n{stderr}");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let stream: Vec<String> =
        (1..=10).map(|i| format!("Hello Stock, greeting {i} of 10")).collect();
    assert_eq!(
        result,
        json!({
            "SayHello": "Hello Stock",
            "SayHelloAgain": "Hello again Stock",
            "SayHelloStreamReply": stream,
            "SayHelloBidiStream": ["Hello Ada", "Hello Grace"],
            "EmptyName": {"code": "INVALID_ARGUMENT", "details": "name must not be empty"},
        })
    );
}

/// `compare` pointed at a server it did not start, and that serves less than ours: gRPC's own
/// Python helloworld server (grpcio), which has SayHello alone. `--grpc-target` by itself runs
/// the gRPC cell; workloads the server lacks are skipped with a line saying so, not measured
/// as rows of errors; a REST cell asked for without `--rest-target` is refused by name.
#[tokio::test]
async fn compare_measures_a_grpcio_helloworld_server_and_skips_what_it_lacks() {
    let Some(python) = tools::require_python_with("grpc_tools") else { return };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stock_client/server.py");
    let mut server = Command::new(python)
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(server.stdout.take().unwrap()));
    let port = stdout.next_line().await.unwrap().expect("the server's port");
    let target = format!("127.0.0.1:{port}");
    let compare = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        async move {
            Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
                .arg("compare")
                .args(["--concurrency", "2", "--warmup", "0.2", "--duration", "0.5"])
                .args(["--format", "json"])
                .args(args)
                .output()
                .await
                .unwrap()
        }
    };

    let output =
        compare(&["--grpc-target", &target, "--workloads", "unary,batch-10,stream-5"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows: Vec<(&str, &str, u64)> = report["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["cell"].as_str().unwrap(),
                m["workload"].as_str().unwrap(),
                m["errors"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [("grpc", "unary", 0)], "only what the server serves is measured");
    for workload in ["batch-10", "stream-5"] {
        let line = format!("grpc {workload}: skipped, the target does not serve it");
        assert!(stderr.contains(&line), "{line:?} in:\n{stderr}");
    }
    assert_eq!(report["run"]["server"]["rest"], "none");

    let output = compare(&["--grpc-target", &target, "--cells", "grpc,rest-json-h1"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("the rest-json-h1 cell needs --rest-target"), "{stderr}");
}

/// `--rest-target` by itself runs the REST cells only.
#[tokio::test]
async fn compare_with_a_rest_target_alone_runs_the_rest_cells() {
    let server = TestServer::spawn().await;
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .arg("compare")
        .args(["--rest-target", &server.rest_addr.to_string(), "--workloads", "unary"])
        .args(["--concurrency", "1", "--warmup", "0.1", "--duration", "0.3", "--format", "json"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cells: Vec<&str> = report["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["cell"].as_str().unwrap())
        .collect();
    assert_eq!(cells, ["rest-json-h1", "rest-json-h2", "rest-proto-h1", "rest-proto-h2"]);
    assert_eq!(report["run"]["server"]["grpc"], serde_json::json!([]));
}
