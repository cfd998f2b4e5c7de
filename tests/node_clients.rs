//! Clients nobody here wrote, from npm (installed by `scripts/test.sh` into `tests/node`):
//! Connect-ES calls the Greeter over gRPC-Web, and with every transport it has (Connect, gRPC,
//! gRPC-Web; JSON and binary; HTTP/1.1 and HTTP/2), and Redocly's linter finds nothing wrong
//! with the committed OpenAPI document.

mod common;

use std::path::{Path, PathBuf};

use common::{TestServer, outside::json_of, tools};
use serde_json::{Value, json};
use tokio::process::Command;

fn node_dir() -> PathBuf {
    common::repository().join("tests/node")
}

/// Runs the Connect-ES `script` of tests/node against the server's gRPC port, with the
/// server's descriptors, and returns the JSON it prints of what it saw.
async fn run_connect_es(node: &Path, script: &str, server: &TestServer) -> Value {
    let descriptors = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(descriptors.path(), contract::proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut client = Command::new(node);
    client.current_dir(node_dir()).arg(script).arg(descriptors.path()).arg(server.grpc_url());
    json_of(&format!("the Connect-ES client {script}"), &mut client).await
}

#[tokio::test]
async fn connect_es_calls_the_greeter_over_grpc_web() {
    let Some(node) = tools::require_node_with("@connectrpc/connect-node") else { return };
    let server = TestServer::spawn().await;
    let seen = run_connect_es(&node, "grpc_web.mjs", &server).await;
    let expected = json!({
        "reply": "Hello Ada",
        "stream": ["Hello Ada, greeting 1 of 3", "Hello Ada, greeting 2 of 3", "Hello Ada, greeting 3 of 3"],
        // Connect's code 3 is INVALID_ARGUMENT.
        "error": {"code": 3, "message": "name must not be empty"},
    });
    assert_eq!(seen, json!({"1.1": expected, "2": expected}));
}

#[tokio::test]
async fn connect_es_calls_the_greeter_with_every_transport_and_format() {
    let Some(node) = tools::require_node_with("@connectrpc/connect-node") else { return };
    let server = TestServer::spawn().await;
    let seen = run_connect_es(&node, "connect.mjs", &server).await;
    let common = json!({
        "reply": "Hello Ada",
        // int64 past 2^53, a Timestamp before 1970, bytes and an enum, each way in each format.
        "echo": {
            "id": "9007199254740993",
            "createdAt": "-14182940s 1ns",
            "avatar": [0, 1, 254, 255],
            "role": 3,
            "labels": {"team": "analysis"},
        },
        "stream": ["Hello Ada, greeting 1 of 2", "Hello Ada, greeting 2 of 2"],
        "error": {"code": "InvalidArgument", "message": "name must not be empty"},
    });
    let with = |extra: Value| {
        let mut expected = common.clone();
        expected.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        expected
    };
    let both_ways = json!({
        "bidi": ["Hello Ada", "Hello Grace"],
        "deadline": {"code": "DeadlineExceeded", "message": "the operation timed out"},
    });
    let expected = json!({
        "connect-json-h1": with(json!({"httpMethods": ["POST"]})),
        "connect-proto-h1": with(json!({"httpMethods": ["POST"]})),
        "connect-json-h2": with(both_ways.clone()),
        "connect-proto-h2": with(both_ways.clone()),
        // Unary calls by GET (their methods have no side effects), the stream by POST.
        "connect-get-json-h1": with(json!({"httpMethods": ["GET", "POST"]})),
        "connect-get-proto-h2": common.clone(),
        "grpc-json-h2": with(both_ways),
        "grpc-web-json-h1": with(json!({"httpMethods": ["POST"]})),
        "grpc-web-json-h2": common,
    });
    for (transport, expected) in expected.as_object().unwrap() {
        assert_eq!(&seen[transport], expected, "{transport}");
    }
    let metrics = reqwest::get(server.rest_url("/metrics")).await.unwrap().text().await.unwrap();
    let connect_calls =
        r#"rpc_calls_total{protocol="connect",method="/helloworld.Greeter/SayHello",status="Ok"}"#;
    assert!(metrics.contains(connect_calls), "Connect calls are counted apart:\n{metrics}");
}

#[tokio::test]
async fn redocly_lints_the_openapi_document_clean() {
    let Some(node) = tools::require_node_with("@redocly/cli") else { return };
    // From the repository's root, where redocly.yaml and its ignore file are.
    let root = common::repository();
    let output = Command::new(node)
        .current_dir(root)
        .arg(node_dir().join("node_modules/@redocly/cli/bin/cli.js"))
        .args(["lint", "--format", "stylish", "openapi/openapi.json"])
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .output()
        .await
        .expect("run redocly");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "redocly lint found problems:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("warning") && !stderr.contains("warning"), "{stdout}\n{stderr}");
}
