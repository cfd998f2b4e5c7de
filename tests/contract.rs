//! The contract test no one here wrote: schemathesis generates requests for every operation
//! of the committed `openapi/openapi.json` (valid and invalid, JSON and protobuf) against a
//! live server, and checks every response against the document. Zero failures allowed.

mod common;

use common::{TestServer, tools};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_failure_in_any_operation() {
    let Some(schemathesis) = tools::require("schemathesis") else { return };
    let server = TestServer::spawn().await;
    let root = common::repository();
    let output = Command::new(schemathesis)
        .current_dir(root)
        .env("PYTHONPATH", root.join("tests/contract"))
        .env("SCHEMATHESIS_HOOKS", "protobuf_hooks")
        .args(["--config-file", "tests/contract/schemathesis.toml", "run", "openapi/openapi.json"])
        // Every check runs (schemathesis's default), save what the configuration turns off
        // for some operations; `--checks all` would turn those back on.
        .args(["--url", &server.rest_url(""), "--max-examples", "100"])
        .output()
        .await
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis failed:\n{stdout}\n{stderr}");
    let operations = documented_operations();
    let selected = format!("Selected: {operations}/{operations}");
    assert!(stdout.contains(&selected), "not every operation was tested:\n{stdout}");
    assert!(!stdout.contains("Warnings:"), "schemathesis warned:\n{stdout}");
}

/// How many operations the committed document lists (one per route and method).
fn documented_operations() -> usize {
    let document = std::fs::read_to_string(common::repository().join("openapi/openapi.json"));
    let document: serde_json::Value = serde_json::from_str(&document.unwrap()).unwrap();
    document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum()
}
