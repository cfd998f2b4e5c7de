//! A user measuring the protocols alone starts `serve --profile lean`: the same replies on
//! both ports, without what the default profile adds to every call (a request id echoed on
//! every reply, calls counted at `/metrics`); the limits stay.

mod common;

use common::{TestServer, http1, http2};
use contract::proto::HelloRequest;
use contract::settings::Profile;
use serde_json::{Value, json};
use server::config::ServeConfig;

async fn server(profile: Profile) -> TestServer {
    TestServer::spawn_with(ServeConfig { profile, ..ServeConfig::loopback() }).await
}

/// What a caller sees of one REST call: status, body, and whether a request id came back.
async fn rest_call(server: &TestServer, client: &reqwest::Client) -> (u16, Value, bool) {
    let response = client
        .post(server.rest_url("/v1/greeter/hello"))
        .json(&json!({"name": "Ada"}))
        .send()
        .await
        .unwrap();
    let has_id = response.headers().contains_key("x-request-id");
    assert!(response.headers().contains_key("x-served-by"), "x-served-by is on in every profile");
    (response.status().as_u16(), response.json().await.unwrap(), has_id)
}

#[tokio::test]
async fn the_lean_profile_serves_the_same_replies_without_ids_or_metrics() {
    let default = server(Profile::Default).await;
    let lean = server(Profile::Lean).await;
    for client in [http1(), http2()] {
        let (status, body, has_id) = rest_call(&default, &client).await;
        assert_eq!((status, &body, has_id), (200, &json!({"message": "Hello Ada"}), true));
        let (status, lean_body, has_id) = rest_call(&lean, &client).await;
        assert_eq!((status, lean_body, has_id), (200, body, false));
    }

    for server in [&default, &lean] {
        let mut grpc = server.grpc_client().await;
        let reply = grpc.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
        assert_eq!(reply.get_ref().message, "Hello Ada");
        let error = grpc.say_hello(HelloRequest { name: "".into() }).await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
    }

    let metrics = |server: &TestServer| http1().get(server.rest_url("/metrics")).send();
    let counted = metrics(&default).await.unwrap().text().await.unwrap();
    assert!(counted.contains(r#"rpc_calls_total{protocol="grpc",method="/helloworld.Greeter/SayHello",status="Ok"} 1"#), "{counted}");
    assert_eq!(metrics(&lean).await.unwrap().status(), 404, "no metrics in the lean profile");
}

#[tokio::test]
async fn the_lean_profile_keeps_the_limits() {
    let lean = TestServer::spawn_with(ServeConfig {
        profile: Profile::Lean,
        rest: server::config::RestLimits { max_body_bytes: 64 },
        ..ServeConfig::loopback()
    })
    .await;
    let response = http1()
        .post(lean.rest_url("/v1/greeter/hello"))
        .json(&json!({"name": "a".repeat(100)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let mut grpc = lean.grpc_client().await;
    let error = grpc.say_hello(HelloRequest { name: "".into() }).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
}
