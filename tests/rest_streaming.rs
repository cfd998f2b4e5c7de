//! A user streams greetings over REST: Server-Sent Events or NDJSON by `Accept`, over
//! HTTP/1.1 and h2c, and chats over a WebSocket in JSON or protobuf frames.

mod common;

use common::{TestServer, http_clients, http1, http2};
use contract::proto::{HelloReply, HelloRequest};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use reqwest::{StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tokio_tungstenite::{connect_async, tungstenite::Message};

fn greetings(name: &str, count: u32) -> Vec<Value> {
    (1..=count)
        .map(|i| json!({"message": format!("Hello {name}, greeting {i} of {count}")}))
        .collect()
}

#[tokio::test]
async fn ndjson_stream_has_one_reply_per_line() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let response = client
            .get(server.rest_url("/v1/greeter/hello/Ada/stream?count=3"))
            .header("accept", "application/x-ndjson")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], "application/x-ndjson", "{version}");
        let body = response.text().await.unwrap();
        let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, greetings("Ada", 3), "{version}");
    }
}

#[tokio::test]
async fn sse_stream_has_one_reply_per_event() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let response = client
            .get(server.rest_url("/v1/greeter/hello/Ada/stream?count=2"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream", "{version}");
        let body = response.text().await.unwrap();
        let events: Vec<Value> = body
            .split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        assert_eq!(events, greetings("Ada", 2), "{version}");
    }
}

#[tokio::test]
async fn stream_without_count_or_accept_sends_ten_ndjson_lines() {
    let server = TestServer::spawn().await;
    let response =
        http1().get(server.rest_url("/v1/greeter/hello/Ada/stream")).send().await.unwrap();
    assert_eq!(response.headers()[CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(response.text().await.unwrap().lines().count(), 10);
}

#[tokio::test]
async fn stream_errors_come_before_the_stream_in_the_error_shape() {
    let server = TestServer::spawn().await;
    for (query, message) in [
        ("count=0", "count must be between 1 and 1000, got 0"),
        ("count=1001", "count must be between 1 and 1000, got 1001"),
        (
            "count=many",
            "the query string is not valid: count: a whole number of greetings is expected, \
             not \"many\"",
        ),
        ("count=99999999999", "count: 99999999999 greetings are far too many"),
        ("count=3&count=4", "the query string is not valid: duplicate field `count`"),
        ("cuont=3", "the query string is not valid: cuont: unknown field `cuont`"),
    ] {
        let response = http1()
            .get(server.rest_url(&format!("/v1/greeter/hello/Ada/stream?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{query}");
        assert!(body["error"]["message"].as_str().unwrap().contains(message), "{query}: {body}");
    }
}

#[tokio::test]
async fn a_name_whose_escapes_are_not_utf8_is_refused_saying_so() {
    let server = TestServer::spawn().await;
    let response = http1().get(server.rest_url("/v1/greeter/hello/%FF%FE")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the path's `name` is not UTF-8 once its percent-escapes"),
        "{body}"
    );
}

#[tokio::test]
async fn websocket_chat_answers_json_frames_in_json() {
    let server = TestServer::spawn().await;
    let url = format!("ws://{}/v1/greeter/chat", server.rest_addr);
    let (mut socket, _) = connect_async(url).await.unwrap();
    for name in ["Ada", "Grace"] {
        socket.send(Message::text(json!({"name": name}).to_string())).await.unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
        assert_eq!(reply, json!({"message": format!("Hello {name}")}));
    }
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn websocket_chat_answers_binary_frames_in_protobuf() {
    let server = TestServer::spawn().await;
    let url = format!("ws://{}/v1/greeter/chat", server.rest_addr);
    let (mut socket, _) = connect_async(url).await.unwrap();
    let request = HelloRequest { name: "Ada".into() }.encode_to_vec();
    socket.send(Message::binary(request)).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap().into_data();
    assert_eq!(HelloReply::decode(reply).unwrap().message, "Hello Ada");
}

#[tokio::test]
async fn websocket_chat_ends_at_the_first_invalid_request_with_the_error_and_a_close() {
    let server = TestServer::spawn().await;
    let url = format!("ws://{}/v1/greeter/chat", server.rest_addr);
    for (frame, message, close_code) in [
        (json!({"name": ""}).to_string(), "name must not be empty", 1008),
        ("{not json".to_string(), "invalid JSON body", 1007),
    ] {
        let (mut socket, _) = connect_async(&url).await.unwrap();
        socket.send(Message::text(frame.clone())).await.unwrap();
        let error: Value =
            serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(error["error"]["status"], "INVALID_ARGUMENT", "{frame}");
        assert!(error["error"]["message"].as_str().unwrap().contains(message), "{frame}: {error}");
        match socket.next().await.unwrap().unwrap() {
            Message::Close(Some(close)) => assert_eq!(u16::from(close.code), close_code, "{frame}"),
            other => panic!("expected a close frame after {frame}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn chat_without_a_websocket_upgrade_is_refused_in_the_error_shape() {
    let server = TestServer::spawn().await;
    let response = http1().get(server.rest_url("/v1/greeter/chat")).send().await.unwrap();
    assert!(response.status().is_client_error());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(body["error"]["message"].as_str().unwrap().contains("WebSocket"));
}

/// RFC 6455, section 4.4: a version the server does not speak is refused with the one it
/// does, so that a client can retry with it.
#[tokio::test]
async fn chat_in_an_unsupported_websocket_version_is_refused_naming_version_13() {
    let server = TestServer::spawn().await;
    let response = http1()
        .get(server.rest_url("/v1/greeter/chat"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(body["error"]["message"].as_str().unwrap().contains("version 13"), "{body}");
}

#[tokio::test]
async fn a_plain_get_of_the_chat_over_http2_is_refused_naming_extended_connect() {
    let server = TestServer::spawn().await;
    let response = http2().get(server.rest_url("/v1/greeter/chat")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(body["error"]["message"].as_str().unwrap().contains("RFC 8441"), "{body}");
}
