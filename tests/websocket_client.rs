//! A Python user talks to the chat route with the `websockets` library (nobody here wrote
//! it): replies come back, and the closing handshake is clean whichever side closes.

mod common;

use common::{TestServer, tools};
use serde_json::{Value, json};
use tokio::process::Command;

#[tokio::test]
async fn a_websockets_client_chats_and_closes_cleanly_both_ways() {
    let Some(python) = tools::require_python_with("websockets") else { return };
    let server = TestServer::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/chat.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("ws://{}/v1/greeter/chat", server.rest_addr))
        .output()
        .await
        .expect("run the websockets client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the websockets client failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["reply"], json!({"message": "Hello Ada"}));
    assert_eq!(seen["client_close"], json!([1000, ""]), "the client's Close was echoed");
    assert_eq!(seen["error"]["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(seen["server_close"], json!([1007, "invalid message"]), "the server closed cleanly");
}

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): what a client reads as "WebSocket over
/// HTTP/2 is offered here".
const ENABLE_CONNECT_PROTOCOL: &str = "8";

#[tokio::test]
async fn neither_port_advertises_websocket_over_http2() {
    let Some(python) = tools::require_python_with("hyperframe") else { return };
    let server = TestServer::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/settings.py");
    for addr in [server.rest_addr, server.grpc_addr] {
        let output =
            Command::new(&python).arg(script).arg(addr.to_string()).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "reading SETTINGS from {addr} failed:\n{stderr}");
        let settings: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            settings.get(ENABLE_CONNECT_PROTOCOL).is_none(),
            "{addr} advertises it: {settings}"
        );
        assert!(settings.get("3").is_some(), "SETTINGS were read: {settings}");
    }
}
