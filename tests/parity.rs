//! The same inputs through gRPC and REST give the same greeting, or the same error mapped by
//! the README's error table (INVALID_ARGUMENT ↔ 400) with the same message.

mod common;

use common::{TestServer, http1};
use contract::proto::{BatchHelloRequest, HelloRequest, HelloStreamRequest};
use serde_json::{Value, json};
use tokio_stream::StreamExt;

/// What a caller sees, in protocol-neutral terms.
#[derive(Debug, PartialEq)]
enum Outcome {
    Greeting(Value),
    Error { code: String, message: String },
}

fn grpc_outcome<T>(result: Result<T, tonic::Status>, to_json: impl FnOnce(T) -> Value) -> Outcome {
    match result {
        Ok(reply) => Outcome::Greeting(to_json(reply)),
        Err(status) => Outcome::Error {
            code: match status.code() {
                tonic::Code::InvalidArgument => "INVALID_ARGUMENT".into(),
                other => format!("{other:?}"),
            },
            message: status.message().into(),
        },
    }
}

async fn rest_outcome(response: reqwest::Response) -> Outcome {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    if status.is_success() {
        return Outcome::Greeting(body);
    }
    let code = body["error"]["status"].as_str().unwrap().to_owned();
    let expected_http = match code.as_str() {
        "INVALID_ARGUMENT" => 400,
        other => panic!("unexpected code {other}"),
    };
    assert_eq!(status.as_u16(), expected_http, "{body}");
    Outcome::Error { code, message: body["error"]["message"].as_str().unwrap().into() }
}

/// The table of names: each case's label, and the name.
fn names() -> Vec<(&'static str, String)> {
    let fixed = [
        ("plain", "World"),
        ("padded", "  Ada  "),
        ("empty", ""),
        ("blank", " \u{3000} "),
        ("newline", "Ada\nLovelace"),
        ("nul", "\0"),
        ("escape", "\u{1b}[31m"),
        ("accented", "Zoë"),
        ("cjk", "李小龙"),
        ("emoji", "🦀🦀"),
        ("rtl", "שלום"),
    ];
    let mut names: Vec<_> = fixed.into_iter().map(|(case, name)| (case, name.to_owned())).collect();
    names.push(("256 characters", "a".repeat(256)));
    names.push(("257 characters", "a".repeat(257)));
    names.push(("256 four-byte characters", "🦀".repeat(256)));
    names.push(("257 two-byte characters", "é".repeat(257)));
    names
}

#[tokio::test]
async fn say_hello_and_say_hello_again_agree_on_every_name() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    let rest = http1();
    for (case, name) in names() {
        let request = HelloRequest { name: name.clone() };
        let by_grpc = grpc_outcome(
            grpc.say_hello(request.clone()).await,
            |r| json!({"message": r.into_inner().message}),
        );
        let by_rest = rest_outcome(
            rest.post(server.rest_url("/v1/greeter/hello"))
                .json(&json!({"name": name}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(by_grpc, by_rest, "SayHello, case {case:?}");

        let by_grpc = grpc_outcome(
            grpc.say_hello_again(request).await,
            |r| json!({"message": r.into_inner().message}),
        );
        let by_rest = rest_outcome(
            rest.post(server.rest_url("/v1/greeter/hello-again"))
                .json(&json!({"name": name}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(by_grpc, by_rest, "SayHelloAgain, case {case:?}");
    }
}

#[tokio::test]
async fn batches_agree() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    let rest = http1();
    let batches: Vec<(&str, Vec<String>)> = vec![
        ("two names", vec!["Ada".into(), "Grace".into()]),
        ("empty batch", vec![]),
        ("one bad name", vec!["Ada".into(), "\t".into()]),
        ("too many", vec!["n".into(); 10_001]),
    ];
    for (case, names) in batches {
        let by_grpc = grpc_outcome(
            grpc.say_hello_batch(BatchHelloRequest { names: names.clone() }).await,
            |r| serde_json::to_value(r.into_inner()).unwrap(),
        );
        let response =
            rest.post(server.rest_url("/v1/greeter/batch")).json(&json!({"names": names})).send();
        let by_rest = rest_outcome(response.await.unwrap()).await;
        assert_eq!(by_grpc, by_rest, "batch, case {case:?}");
    }
}

#[tokio::test]
async fn streams_agree() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    let rest = http1();
    for (case, name, count) in [
        ("three", "Ada", Some(3)),
        ("default", "Ada", None),
        ("zero", "Ada", Some(0)),
        ("bad name", "", Some(3)),
    ] {
        let by_grpc = match grpc
            .say_hello_stream_reply(HelloStreamRequest { name: name.into(), count })
            .await
        {
            Ok(stream) => {
                let replies: Vec<_> =
                    stream.into_inner().map(|r| r.unwrap().message).collect().await;
                Ok(replies)
            }
            Err(status) => Err(status.message().to_owned()),
        };
        let query = count.map(|c| format!("?count={c}")).unwrap_or_default();
        let url = server.rest_url(&format!("/v1/greeter/hello/{name}/stream{query}"));
        let response = rest.get(url).send().await.unwrap();
        let by_rest = if response.status().is_success() {
            let body = response.text().await.unwrap();
            Ok(body
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["message"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>())
        } else {
            let body: Value = response.json().await.unwrap();
            Err(body["error"]["message"].as_str().unwrap().to_owned())
        };
        // An empty path segment never reaches the route: REST answers 404 there, and that
        // difference is the URL's, not the domain's.
        if name.is_empty() {
            assert_eq!(by_grpc, Err("name must not be empty".into()), "stream, case {case:?}");
            continue;
        }
        assert_eq!(by_grpc, by_rest, "stream, case {case:?}");
    }
}

/// Every unary REST operation that reads a body, with the document's own example: REST's reply
/// is the reply the gRPC port's service gives the same request (asked in Connect's JSON, which
/// the gRPC port turns into the protobuf call of the same name). A new RPC's route is checked
/// here without a case of its own: the route table makes its operation and its example.
#[tokio::test]
async fn every_documented_example_gets_the_same_reply_on_both_ports() {
    let server = TestServer::spawn().await;
    let client = http1();
    let document = serde_json::to_value(server::rest::openapi_document()).unwrap();
    let mut compared = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some(operation) = item.get("post") else { continue };
        let Some(example) = operation.pointer("/requestBody/content/application~1json/example")
        else {
            continue;
        };
        let rpc = operation["operationId"].as_str().unwrap();
        let by_rest = client.post(server.rest_url(path)).json(example).send().await.unwrap();
        let by_rest = rest_outcome(by_rest).await;
        let by_grpc_port = client
            .post(format!("{}/helloworld.Greeter/{rpc}", server.grpc_url()))
            .header("connect-protocol-version", "1")
            .json(example)
            .send()
            .await
            .unwrap();
        assert_eq!(by_grpc_port.status(), 200, "{rpc} on the gRPC port");
        let by_grpc_port = Outcome::Greeting(by_grpc_port.json().await.unwrap());
        assert_eq!(by_rest, by_grpc_port, "{rpc}: POST {path} and the gRPC port differ");
        compared.push(rpc.to_owned());
    }
    assert!(compared.len() >= 5, "compared only {compared:?}");
}
