//! The comparison's same-API baselines (`examples/same_api_axum.rs`, `examples/same_api_tonic.rs`)
//! answer every documented operation as our server does, status and body, so that a baseline
//! cannot drift from the API it stands for. The REST operations are read from the OpenAPI
//! document, not listed here: a new route is checked the day it is documented.
//! The examples are built by `./scripts/test.sh` (`cargo build --examples`) before the tests run.

mod common;

use std::net::SocketAddr;

use common::{TestServer, http1, tools::Example};
use contract::proto::{
    BatchHelloRequest, HelloRequest, HelloStreamRequest, greeter_client::GreeterClient,
};
use contract::settings::DEFAULT_MAX_MESSAGE_BYTES;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use utoipa::openapi::HttpMethod;

/// What a REST client sees of a reply, less the headers our server adds of its own
/// (request id, `x-served-by`).
#[derive(PartialEq)]
struct Seen {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Seen {
    /// The body as text, so that a difference reads at a glance (compared as bytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let shown = body.chars().take(300).collect::<String>();
        write!(f, "{} {:?} {shown:?}", self.status, self.content_type)
    }
}

async fn seen(request: reqwest::RequestBuilder) -> Seen {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned());
    Seen { status, content_type, body: response.bytes().await.unwrap().to_vec() }
}

/// One request to send: its path and query, its headers and its body.
type Try = (String, Vec<(&'static str, &'static str)>, String);

/// The requests each documented operation is tried with: valid and invalid bodies for a POST
/// (whichever the operation takes; the rest it refuses alike), a good and a bad name for a
/// path parameter, both encodings and both streaming formats by `Accept`.
fn tries(method: &HttpMethod, path: &str) -> Vec<Try> {
    let json = ("content-type", "application/json");
    match method {
        HttpMethod::Post => {
            let bodies = [
                r#"{"name":"World"}"#,
                r#"{"name":""}"#,
                r#"{"names":["Ann","Bob"]}"#,
                r#"{"names":[]}"#,
                r#"{"name":"#,
            ];
            let mut tries: Vec<_> = bodies
                .into_iter()
                .map(|body| (path.to_owned(), vec![json], body.to_owned()))
                .collect();
            let accept_protobuf = vec![json, ("accept", "application/x-protobuf")];
            tries.push((path.to_owned(), accept_protobuf, bodies[0].to_owned()));
            tries.push((
                path.to_owned(),
                vec![("content-type", "text/plain")],
                bodies[0].to_owned(),
            ));
            // Over axum's default body limit (2 MiB) but within ours, and just over ours.
            let long_name = |bytes: usize| format!(r#"{{"name":"{}"}}"#, "a".repeat(bytes - 11));
            tries.push((path.to_owned(), vec![json], long_name(3 << 20)));
            tries.push((path.to_owned(), vec![json], long_name(DEFAULT_MAX_MESSAGE_BYTES + 1)));
            tries
        }
        _ => {
            let names = ["World", "%20", "a".repeat(300).leak()];
            let paths: Vec<String> = if path.contains("{name}") {
                names.iter().map(|name| path.replace("{name}", name)).collect()
            } else {
                vec![path.to_owned()]
            };
            let accepts =
                ["application/json", "application/x-ndjson", "text/event-stream", "image/png"];
            let mut tries = Vec::new();
            for path in paths {
                for accept in accepts {
                    tries.push((path.clone(), vec![("accept", accept)], String::new()));
                }
                let ndjson = vec![("accept", "application/x-ndjson")];
                tries.push((format!("{path}?count=2"), ndjson, String::new()));
            }
            tries
        }
    }
}

#[tokio::test]
async fn the_same_api_axum_server_answers_every_documented_operation_as_ours() {
    let ours = TestServer::spawn().await;
    let Some(same_api) = Example::start("same_api_axum", &[]).await else { return };
    let client = http1();
    let document = server::rest::openapi_document();
    let mut checked = 0;
    for (path, item) in &document.paths.paths {
        let operations = [
            ("GET", HttpMethod::Get, &item.get),
            ("POST", HttpMethod::Post, &item.post),
            ("PUT", HttpMethod::Put, &item.put),
            ("DELETE", HttpMethod::Delete, &item.delete),
        ];
        for (verb, method, operation) in operations {
            if operation.is_none() {
                continue;
            }
            for (target, headers, body) in tries(&method, path) {
                let send = |addr: SocketAddr| {
                    let url = format!("http://{addr}{target}");
                    let mut request = match method {
                        HttpMethod::Post => client.post(url).body(body.clone()),
                        HttpMethod::Put => client.put(url).body(body.clone()),
                        HttpMethod::Delete => client.delete(url),
                        _ => client.get(url),
                    };
                    for (name, value) in &headers {
                        request = request.header(*name, *value);
                    }
                    seen(request)
                };
                let by_ours = send(ours.rest_addr).await;
                let by_same_api = send(same_api.addr).await;
                let shown = &body[..body.len().min(40)];
                assert_eq!(by_same_api, by_ours, "{verb} {target} {headers:?} {shown}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "only {checked} requests compared");
    // What is served beside the operations: the document itself, and unknown routes.
    for target in ["/openapi.json", "/v1/greeter/nope", "/nope"] {
        let by_ours = seen(client.get(format!("http://{}{target}", ours.rest_addr))).await;
        let by_same_api = seen(client.get(format!("http://{}{target}", same_api.addr))).await;
        assert_eq!(by_same_api, by_ours, "GET {target}");
    }
}

#[tokio::test]
async fn the_same_api_axum_server_chats_over_a_websocket_as_ours() {
    let ours = TestServer::spawn().await;
    let Some(same_api) = Example::start("same_api_axum", &[]).await else { return };
    let mut transcripts = Vec::new();
    for addr in [ours.rest_addr, same_api.addr] {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/v1/greeter/chat")).await.unwrap();
        let mut transcript = Vec::new();
        for name in ["Ann", ""] {
            let text = serde_json::json!({ "name": name }).to_string();
            socket.send(Message::text(text)).await.unwrap();
            transcript.push(format!("{:?}", socket.next().await.unwrap().unwrap()));
        }
        transcripts.push(transcript);
    }
    assert_eq!(transcripts[1], transcripts[0]);
}

/// What a gRPC client sees of a call: the replies, or the status code and message.
fn outcome<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> String {
    match result {
        Ok(reply) => format!("{reply:?}"),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

async fn every_greeter_call(client: &mut GreeterClient<tonic::transport::Channel>) -> Vec<String> {
    let hello = |name: &str| HelloRequest { name: name.into() };
    let mut seen = Vec::new();
    for name in ["World", "", &"a".repeat(300)] {
        seen.push(outcome(client.say_hello(hello(name)).await.map(|r| r.into_inner())));
        seen.push(outcome(client.say_hello_again(hello(name)).await.map(|r| r.into_inner())));
        let stream = HelloStreamRequest { name: name.into(), count: Some(2) };
        let replies = match client.say_hello_stream_reply(stream).await {
            Ok(replies) => outcome(Ok(replies.into_inner().collect::<Vec<_>>().await)),
            Err(status) => outcome::<()>(Err(status)),
        };
        seen.push(replies);
        let chat = tokio_stream::iter([hello("Ann"), hello(name)]);
        let replies = match client.say_hello_bidi_stream(chat).await {
            Ok(replies) => outcome(Ok(replies.into_inner().collect::<Vec<_>>().await)),
            Err(status) => outcome::<()>(Err(status)),
        };
        seen.push(replies);
    }
    for names in [vec!["Ann".to_owned(), "Bob".into()], vec![], vec![String::new()]] {
        let batch = client.say_hello_batch(BatchHelloRequest { names }).await;
        seen.push(outcome(batch.map(|r| r.into_inner())));
    }
    seen
}

#[tokio::test]
async fn the_same_api_tonic_server_answers_every_greeter_call_as_ours() {
    let ours = TestServer::spawn().await;
    let Some(same_api) = Example::start("same_api_tonic", &[]).await else { return };
    let by_ours = every_greeter_call(&mut ours.grpc_client().await).await;
    let mut client = GreeterClient::connect(format!("http://{}", same_api.addr)).await.unwrap();
    let by_same_api = every_greeter_call(&mut client).await;
    assert_eq!(by_same_api, by_ours);
    // Health and reflection, which grpcurl and probes use, are there too.
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", same_api.addr)).unwrap();
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(channel.connect().await.unwrap());
    let request = tonic_health::pb::HealthCheckRequest { service: "helloworld.Greeter".into() };
    let status = health.check(request).await.unwrap().into_inner().status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
}
