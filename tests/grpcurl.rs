//! A user explores the gRPC port with grpcurl, through server reflection and no proto files,
//! as the README shows.

mod common;

use common::{TestServer, tools};
use serde_json::{Value, json};
use tokio::process::Command;

/// Runs `grpcurl -plaintext [-d DATA] ADDRESS ARGS…`; `None` when grpcurl is missing outside CI.
async fn grpcurl(
    server: &TestServer,
    data: Option<&str>,
    args: &[&str],
) -> Option<(bool, String, String)> {
    let mut command = Command::new(tools::require("grpcurl")?);
    command.arg("-plaintext");
    if let Some(data) = data {
        command.args(["-d", data]);
    }
    let output =
        command.arg(server.grpc_addr.to_string()).args(args).output().await.expect("run grpcurl");
    Some((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn grpcurl_lists_the_services() {
    let server = TestServer::spawn().await;
    let Some((ok, stdout, stderr)) = grpcurl(&server, None, &["list"]).await else { return };
    assert!(ok, "{stderr}");
    let services: Vec<&str> = stdout.lines().collect();
    for expected in ["helloworld.Greeter", "grpc.health.v1.Health"] {
        assert!(services.contains(&expected), "{expected} missing from {services:?}");
    }
}

#[tokio::test]
async fn grpcurl_describes_the_greeter() {
    let server = TestServer::spawn().await;
    let Some((ok, stdout, stderr)) =
        grpcurl(&server, None, &["describe", "helloworld.Greeter"]).await
    else {
        return;
    };
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("helloworld.Greeter is a service:"), "{stdout}");
    for rpc in [
        "rpc SayHello ( .helloworld.HelloRequest ) returns ( .helloworld.HelloReply )",
        "rpc SayHelloAgain ( .helloworld.HelloRequest ) returns ( .helloworld.HelloReply )",
        "rpc SayHelloStreamReply ( .helloworld.HelloStreamRequest ) returns ( stream .helloworld.HelloReply )",
        "rpc SayHelloBidiStream ( stream .helloworld.HelloRequest ) returns ( stream .helloworld.HelloReply )",
        "rpc SayHelloBatch ( .helloworld.BatchHelloRequest ) returns ( .helloworld.BatchHelloReply )",
        "rpc EchoComplex ( .helloworld.ComplexRequest ) returns ( .helloworld.ComplexReply )",
        "rpc EchoPeople ( .helloworld.PeopleRequest ) returns ( .helloworld.PeopleReply )",
    ] {
        assert!(stdout.contains(rpc), "{rpc} missing from:\n{stdout}");
    }
}

#[tokio::test]
async fn grpcurl_says_hello_with_the_same_json_as_curl() {
    let server = TestServer::spawn().await;
    let Some((ok, stdout, stderr)) =
        grpcurl(&server, Some(r#"{"name": "World"}"#), &["helloworld.Greeter/SayHello"]).await
    else {
        return;
    };
    assert!(ok, "{stderr}");
    let reply: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reply, json!({"message": "Hello World"}));
}

#[tokio::test]
async fn grpcurl_sees_invalid_argument_for_an_empty_name() {
    let server = TestServer::spawn().await;
    let Some((ok, _, stderr)) =
        grpcurl(&server, Some(r#"{"name": ""}"#), &["helloworld.Greeter/SayHello"]).await
    else {
        return;
    };
    assert!(!ok);
    assert!(stderr.contains("Code: InvalidArgument"), "{stderr}");
    assert!(stderr.contains("Message: name must not be empty"), "{stderr}");
}

#[tokio::test]
async fn grpcurl_health_check_is_serving() {
    let server = TestServer::spawn().await;
    for body in [r#"{}"#, r#"{"service": "helloworld.Greeter"}"#] {
        let Some((ok, stdout, stderr)) =
            grpcurl(&server, Some(body), &["grpc.health.v1.Health/Check"]).await
        else {
            return;
        };
        assert!(ok, "{stderr}");
        let reply: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(reply, json!({"status": "SERVING"}), "{body}");
    }
}

/// A record with the types whose proto3 JSON is the least obvious (int64 beyond 2^53, bytes,
/// a timestamp before 1970, an enum, a map): grpcurl (Go's protojson) and our REST port read
/// the same body and write the same JSON back.
#[tokio::test]
async fn grpcurl_and_rest_echo_the_same_people_json() {
    let server = TestServer::spawn().await;
    let body = json!({"people": [{
        "id": "9007199254740993",
        "name": "Ada",
        "role": "ROLE_ADMIN",
        "createdAt": "1969-07-20T20:17:40.500Z",
        "avatar": "iVBORw==",
        "labels": {"team": "core", "desk": "4"},
        "address": {"city": "London", "postalCode": "SW1Y 4JH"},
        "tags": ["analyst"],
        "score": 0.5,
    }]});
    let Some((ok, stdout, stderr)) =
        grpcurl(&server, Some(&body.to_string()), &["helloworld.Greeter/EchoPeople"]).await
    else {
        return;
    };
    assert!(ok, "{stderr}");
    let by_grpcurl: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(by_grpcurl, body);
    let by_rest: Value = common::http1()
        .post(server.rest_url("/v1/greeter/echo/people"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_rest, body);
}
