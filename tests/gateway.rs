//! grpc-gateway's reverse proxy (`baselines/go/rest_gateway`, built by
//! `scripts/go_baselines.sh`) as a REST target for `compare`, as a user who puts the generated
//! REST in front of a gRPC server would run it: in front of the seed's grpc-go greeter, and in
//! front of our own gRPC port. Every reply is checked, with no error; the routes it maps are our
//! documented ones, and its JSON is the proto3 JSON our REST port speaks.

mod common;

use common::{binary::Binary, compare_runs, http1, tools};
use serde_json::{Value, json};
use tokio::process::Child;

/// The gateway in front of the gRPC server at `backend`.
async fn gateway(backend: &str) -> Option<(Child, String)> {
    tools::start_go_server("rest-gateway", &["-backend", backend]).await
}

/// What one `compare` row says.
#[derive(Debug)]
struct Row {
    cell: String,
    workload: String,
    calls: u64,
    errors: u64,
    first_error: Value,
}

/// `compare --rest-target <gateway>` in the HTTP/1.1 JSON cell, briefly.
async fn compare_through(gateway: &str, workloads: &str) -> (Vec<Row>, String) {
    let target = ["--rest-target", gateway, "--cells", "rest-json-h1"];
    let load = ["--workloads", workloads, "--concurrency", "4"];
    let brief = ["--warmup", "0.2", "--duration", "0.5", "--format", "json"];
    let what = format!("compare --rest-target {gateway}");
    let (report, stderr) =
        compare_runs::report_of(&what, &[&target[..], &load, &brief].concat()).await;
    let rows = compare_runs::rows(&report)
        .iter()
        .map(|m| Row {
            cell: m["cell"].as_str().unwrap().to_owned(),
            workload: m["workload"].as_str().unwrap().to_owned(),
            calls: m["calls"].as_u64().unwrap(),
            errors: m["errors"].as_u64().unwrap(),
            first_error: m["first_error"].clone(),
        })
        .collect();
    (rows, stderr)
}

/// `workloads` measured in rest-json-h1, in order, each with calls and not one error.
fn assert_measured(rows: &[Row], workloads: &[&str]) {
    let measured: Vec<&str> = rows.iter().map(|row| row.workload.as_str()).collect();
    assert_eq!(measured, workloads, "{rows:?}");
    for row in rows {
        let first_error = &row.first_error;
        assert_eq!((row.cell.as_str(), row.errors), ("rest-json-h1", 0), "{first_error}: {rows:?}");
        assert!(row.calls > 0, "{row:?}");
    }
}

#[tokio::test]
async fn compare_measures_the_gateway_in_front_of_the_seeds_go_grpc_greeter() {
    let Some((_greeter, backend)) = tools::start_go_server("grpc-greeter", &[]).await else {
        return;
    };
    let Some((_gateway, addr)) = gateway(&backend).await else { return };
    // The seed's greeter has no SayHelloBatch: the gateway answers its route 501 (grpc-gateway
    // maps UNIMPLEMENTED to 501), which compare reads as a method the target lacks.
    let (rows, stderr) = compare_through(&addr, "unary,records-20,complex,batch-10").await;
    assert_measured(&rows, &["unary", "records-20", "complex"]);
    assert!(
        stderr.contains("rest-json-h1 batch-10: skipped, the target does not serve it"),
        "{stderr}"
    );
}

#[tokio::test]
async fn compare_measures_the_gateway_in_front_of_our_grpc_port() {
    let server = Binary::start(&[], &[]).await;
    let Some((_gateway, addr)) = gateway(&server.grpc_addr.to_string()).await else { return };
    let (rows, stderr) =
        compare_through(&addr, "unary,records-20,complex,batch-10,stream-10").await;
    assert_measured(&rows, &["unary", "records-20", "complex", "batch-10"]);
    // The streams have no route in the gateway's rules (greeter_http.yaml).
    assert!(
        stderr.contains("rest-json-h1 stream-10: skipped, the target does not serve it"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_gateway_greets_as_our_rest_port_does_and_refuses_an_empty_name() {
    let server = Binary::start(&[], &[]).await;
    let Some((_gateway, addr)) = gateway(&server.grpc_addr.to_string()).await else { return };
    let client = http1();
    let post = |base: String, body: Value| {
        let request = client.post(format!("http://{base}/v1/greeter/hello")).json(&body);
        async move {
            let response = request.send().await.expect("POST /v1/greeter/hello");
            let status = response.status();
            (status, response.json::<Value>().await.expect("a JSON body"))
        }
    };
    let ours = server.rest_addr.to_string();

    let (status, greeting) = post(addr.clone(), json!({"name": "World"})).await;
    assert_eq!((status.as_u16(), &greeting), (200, &json!({"message": "Hello World"})));
    assert_eq!(post(ours.clone(), json!({"name": "World"})).await, (status, greeting));

    let by_path = client.get(format!("http://{addr}/v1/greeter/hello/Ada")).send().await.unwrap();
    assert_eq!(by_path.status(), 200);
    assert_eq!(by_path.json::<Value>().await.unwrap(), json!({"message": "Hello Ada"}));

    // Our server answers an empty name INVALID_ARGUMENT; grpc-gateway's runtime
    // (HTTPStatusFromCode) maps that code to 400, as our REST port answers, but in its own
    // body: {"error", "message", "code": 3}, where ours is {"error": {"code": 400, "status":
    // "INVALID_ARGUMENT", "message"}}.
    let (status, refusal) = post(addr, json!({"name": ""})).await;
    assert_eq!(status, 400, "{refusal}");
    assert_eq!(refusal["code"], 3, "{refusal}");
    assert_eq!(refusal["message"], refusal["error"], "{refusal}");
    let (status, ours_refusal) = post(ours, json!({"name": ""})).await;
    assert_eq!(status, 400, "{ours_refusal}");
    assert_eq!(refusal["message"], ours_refusal["error"]["message"], "{refusal} {ours_refusal}");
}

/// grpc-gateway's rules are the contract's, declared once (`HTTP_RULES`, which Envoy's
/// transcoder reads too): the committed file is what they render to. `UPDATE=1` rewrites it.
#[test]
fn the_gateways_rules_are_rendered_from_the_contract() {
    let path = common::repository().join("baselines/go/rest_gateway/greeter_http.yaml");
    let rendered = contract::rest_api::grpc_gateway_configuration();
    if std::env::var("UPDATE").is_ok_and(|update| update == "1") {
        std::fs::write(&path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        committed,
        rendered,
        "{} differs from the contract's HTTP_RULES: run `UPDATE=1 cargo test --test gateway \
         the_gateways_rules` and commit it",
        path.display()
    );
}
