//! A user who generated a client from gRPC's own `helloworld.proto` (here Python, with
//! grpcio-tools) calls our server and gets greetings without changing anything.

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
