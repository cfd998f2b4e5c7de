//! The REST contract: `openapi/openapi.json` is what the code generates, and what the server
//! serves at `/openapi.json`.

mod common;

use common::{TestServer, http1};
use serde_json::Value;

const COMMITTED: &str = include_str!("../openapi/openapi.json");

#[test]
fn committed_openapi_json_matches_the_code() {
    let generated = server::rest::openapi_document().to_pretty_json().unwrap();
    assert!(
        generated.trim_end() == COMMITTED.trim_end(),
        "openapi/openapi.json is out of date with the code. Regenerate it with:\n\n    \
         cargo run -- openapi > openapi/openapi.json\n"
    );
}

#[tokio::test]
async fn the_server_serves_the_committed_document() {
    let server = TestServer::spawn().await;
    let response = http1().get(server.rest_url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(served, committed);
}

#[test]
fn every_operation_has_examples_for_its_json_bodies() {
    let document: Value = serde_json::from_str(COMMITTED).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let label = format!("{} {path}", method.to_uppercase());
            if let Some(content) = operation.pointer("/requestBody/content/application~1json") {
                assert!(content.get("example").is_some(), "{label}: request has no example");
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if media != "application/x-protobuf" {
                        assert!(
                            content.get("example").is_some(),
                            "{label} {status} {media}: no example"
                        );
                    }
                }
            }
        }
    }
}

/// The router and the document are built from one route table; this holds them to it from the
/// outside: every documented operation is served (neither 404 nor 405 for its method and
/// path), every other method on a documented path gets 405, and an undocumented path 404.
/// Routes served but not documented are found by walking the router
/// (`rest::tests::the_router_serves_exactly_the_documented_operations`).
#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method() {
    let server = TestServer::spawn().await;
    let client = http1();
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    for (path, item) in committed["paths"].as_object().unwrap() {
        let url = server.rest_url(&path.replace("{name}", "World"));
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let documented = item.get(method.to_lowercase()).is_some();
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let status = client.request(method.clone(), &url).send().await.unwrap().status();
            if documented {
                assert!(![404, 405].contains(&status.as_u16()), "{method} {path}: {status}");
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented");
            }
        }
    }
    let status = client.get(server.rest_url("/v1/greeter/undocumented")).send().await;
    assert_eq!(status.unwrap().status(), 404);
}

/// Every RPC of the Greeter has a REST route: one whose operation is named after it (read from
/// the service's own descriptor, so a new RPC without a route fails here).
#[test]
fn every_greeter_rpc_has_a_rest_operation() {
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    let operation_ids: Vec<&str> = committed["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let service = format!("/{}/", contract::proto::greeter_server::SERVICE_NAME);
    let rpcs: Vec<String> = server::grpc::served_methods()
        .into_iter()
        .filter_map(|path| path.strip_prefix(&service).map(str::to_owned))
        .collect();
    assert!(rpcs.len() >= 5, "the Greeter's RPCs: {rpcs:?}");
    for rpc in rpcs {
        assert!(
            operation_ids.contains(&rpc.as_str()),
            "no REST operation {rpc} in {operation_ids:?}"
        );
    }
}

/// docs/api.md's table of the API has a row for every Greeter RPC (read from the service's
/// descriptor) and names every REST operation of the Greeter (read from the document).
#[test]
fn the_api_table_names_every_rpc_and_every_route() {
    let table = include_str!("../docs/api.md");
    let service = format!("/{}/", contract::proto::greeter_server::SERVICE_NAME);
    for method in server::grpc::served_methods() {
        if let Some(rpc) = method.strip_prefix(&service) {
            assert!(table.contains(&format!("| `{rpc}(")), "docs/api.md has no row for {rpc}");
        }
    }
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    for (path, item) in committed["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|_| path.starts_with("/v1/")) {
            let route = format!("`{} {path}", method.to_uppercase());
            assert!(table.contains(&route), "docs/api.md does not name {route}`");
        }
    }
}
