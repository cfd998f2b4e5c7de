//! An operator scrapes `/metrics` and sees calls per protocol, method and status — the gRPC
//! status for gRPC, not the HTTP 200 it rides on — and latency histograms.

mod common;

use common::{TestServer, http1};
use rpc_vs_rest::proto::HelloRequest;

#[tokio::test]
async fn metrics_count_calls_by_protocol_method_and_status() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    grpc.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    grpc.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    grpc.say_hello(HelloRequest { name: "".into() }).await.unwrap_err();
    let rest = http1();
    rest.get(server.rest_url("/v1/greeter/hello/Ada")).send().await.unwrap();
    rest.get(server.rest_url("/v1/greeter/hello/%20")).send().await.unwrap();

    let response = rest.get(server.rest_url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for line in [
        r#"rpc_calls_total{protocol="grpc",method="/helloworld.Greeter/SayHello",status="Ok"} 2"#,
        r#"rpc_calls_total{protocol="grpc",method="/helloworld.Greeter/SayHello",status="InvalidArgument"} 1"#,
        r#"rpc_calls_total{protocol="rest",method="GET /v1/greeter/hello/{name}",status="200"} 1"#,
        r#"rpc_calls_total{protocol="rest",method="GET /v1/greeter/hello/{name}",status="400"} 1"#,
        r#"rpc_call_duration_seconds_count{protocol="grpc",method="/helloworld.Greeter/SayHello"} 3"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
}
