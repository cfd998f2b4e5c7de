//! A user opens the interactive docs at `/docs` in a real browser (Debian's headless
//! Chromium, offline: every asset comes from our server), sees the Greeter operations, and
//! calls SayHello with "Try it out".

mod common;

use common::{TestServer, outside::json_of, tools};
use serde_json::json;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn docs_page_lists_the_operations_and_try_it_out_says_hello() {
    let (Some(_chromium), Some(python)) =
        (tools::require("chromium"), tools::require_python_with("playwright"))
    else {
        return;
    };
    let server = TestServer::spawn().await;
    let script = common::repository().join("tests/docs_browser/try_it_out.py");
    let mut browser = Command::new(python);
    let seen = json_of("the browser script", browser.arg(script).arg(server.rest_url(""))).await;
    assert_eq!(seen["operations"], json!(documented_operations()));
    assert_eq!(seen["say_hello_status"], "200");
    assert_eq!(seen["say_hello_body"], json!({"message": "Hello World"}));
    assert_eq!(seen["requests_outside_the_server"], json!([]), "the page must work offline");
}

/// Every operation of the document the server serves, as the page lists them ("PATH METHOD"),
/// in the page's order.
fn documented_operations() -> Vec<String> {
    let document = serde_json::to_value(server::rest::openapi_document()).unwrap();
    let mut operations: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{path} {}", method.to_uppercase()))
        })
        .collect();
    operations.sort();
    assert!(operations.len() >= 10, "{operations:?}");
    operations
}
