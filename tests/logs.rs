//! What an operator reads in the logs: every line of a request names its request id, and the
//! bearer token never appears, whatever the log level.

mod common;

use common::binary::Binary;
use serde_json::Value;

const TOKEN: &str = "never-log-me-9f8e7d";

#[tokio::test]
async fn request_lines_carry_the_request_id_and_never_the_token() {
    let server =
        Binary::start(&[], &[("RPC_VS_REST_AUTH_TOKEN", TOKEN), ("RUST_LOG", "trace")]).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/greeter/hello/Ada", server.rest_addr);
    for authorization in [format!("Bearer {TOKEN}"), "Bearer wrong".into()] {
        client
            .get(&url)
            .header("authorization", authorization)
            .header("x-request-id", "req-abc-123")
            .send()
            .await
            .unwrap();
    }
    server.sigterm().await;
    let mut server = server;
    server.child.wait().await.unwrap();

    let logs = server.logs.lock().await;
    assert!(logs.iter().all(|line| !line.contains(TOKEN)), "the token leaked into the logs");
    let request_lines: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|log| log["span"]["name"] == "request")
        .collect();
    assert!(!request_lines.is_empty(), "no log line inside a request span");
    for log in &request_lines {
        assert_eq!(log["span"]["request_id"], "req-abc-123", "{log}");
    }
}
