//! The Connect protocol on the gRPC port, spoken by hand as the Connect specification writes
//! it: unary POSTs in JSON and protobuf, GETs with the message in the query, streams with
//! envelopes and an end-of-stream message, errors with their HTTP status and JSON body, and
//! bad input answered with a clear Connect error while the port goes on serving. Also the
//! port's content-type table: what each media type gets. (Connect-ES drives the same surface in
//! tests/node_clients.rs.)

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{BufMut as _, Bytes, BytesMut};
use common::{TestServer, http1, http2};
use compare::Compression;
use contract::proto::{HelloReply, HelloRequest};
use prost::Message as _;
use serde_json::{Value, json};
use server::config::ServeConfig;

fn method(server: &TestServer, name: &str) -> String {
    format!("{}/helloworld.Greeter/{name}", server.grpc_url())
}

fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut framed = BytesMut::new();
    framed.put_u8(flags);
    framed.put_u32(payload.len() as u32);
    framed.put_slice(payload);
    framed.freeze()
}

/// Each enveloped message of a Connect stream's body: flags and payload.
fn envelopes(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut messages = Vec::new();
    while body.len() >= 5 {
        let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        messages.push((body[0], body[5..5 + length].to_vec()));
        body = &body[5 + length..];
    }
    assert!(body.is_empty(), "the body ends inside an envelope");
    messages
}

async fn post_json(server: &TestServer, name: &str, body: &str) -> (u16, Value) {
    let response = http1()
        .post(method(server, name))
        .header("content-type", "application/json")
        .header("connect-protocol-version", "1")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    (status, response.json().await.unwrap())
}

/// After every refusal, the port still greets.
async fn still_serves(server: &TestServer) {
    let (status, reply) = post_json(server, "SayHello", r#"{"name":"after"}"#).await;
    assert_eq!((status, reply), (200, json!({"message": "Hello after"})));
}

#[tokio::test]
async fn a_json_post_to_the_grpc_port_gets_a_greeting_on_http1_and_http2() {
    let server = TestServer::spawn().await;
    for client in [http1(), http2()] {
        let response = client
            .post(method(&server, "SayHello"))
            .header("content-type", "application/json")
            .body(r#"{"name":"World"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.unwrap(), r#"{"message":"Hello World"}"#);
    }
}

#[tokio::test]
async fn a_protobuf_post_gets_the_bare_reply_compressed_when_asked() {
    let server = TestServer::spawn().await;
    let request = HelloRequest { name: "Ada".into() }.encode_to_vec();
    let response = http2()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/proto")
        .body(request.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/proto");
    let reply = HelloReply::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(reply.message, "Hello Ada");

    // Sent with gzip, asked back with zstd.
    let gzipped = Compression::Gzip.compress(request).unwrap();
    let response = http1()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/proto")
        .header("content-encoding", "gzip")
        .header("accept-encoding", "zstd")
        .body(gzipped)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "zstd");
    let reply = zstd::decode_all(&response.bytes().await.unwrap()[..]).unwrap();
    assert_eq!(HelloReply::decode(&reply[..]).unwrap().message, "Hello Ada");
}

#[tokio::test]
async fn errors_carry_the_http_status_of_their_code_and_a_json_body() {
    let mut config = ServeConfig::loopback();
    config.grpc.max_message_bytes = 1_000;
    let server = TestServer::spawn_with(config).await;
    let long_name = format!(r#"{{"name":"{}"}}"#, "a".repeat(2_000));
    for (name, body, status, code, message) in [
        ("SayHello", r#"{"name":""}"#, 400, "invalid_argument", "name must not be empty"),
        ("SayHello", r#"{"name":7}"#, 400, "invalid_argument", "invalid JSON body at name: "),
        (
            "SayHello",
            r#"{"nom":"Ada"}"#,
            400,
            "invalid_argument",
            "invalid JSON body at nom: unknown field `nom`",
        ),
        (
            "SayHello",
            &long_name,
            429,
            "resource_exhausted",
            "the message is larger than this server accepts (1000 bytes)",
        ),
        (
            "Missing",
            "{}",
            404,
            "unimplemented",
            "no method /helloworld.Greeter/Missing is served here",
        ),
        (
            "SayHelloStreamReply",
            "{}",
            415,
            "unimplemented",
            "/helloworld.Greeter/SayHelloStreamReply is a stream",
        ),
    ] {
        let (got_status, error) = post_json(&server, name, body).await;
        assert_eq!(got_status, status, "{name} {body}: {error}");
        assert_eq!(error["code"], code, "{error}");
        let got = error["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{got:?} should start with {message:?}");
    }
    still_serves(&server).await;
}

#[tokio::test]
async fn a_call_without_the_token_is_unauthenticated_with_401() {
    let mut config = ServeConfig::loopback();
    config.access.auth_token = Some("s3cret-token-value".parse().unwrap());
    let server = TestServer::spawn_with(config).await;
    let (status, error) = post_json(&server, "SayHello", r#"{"name":"Ada"}"#).await;
    assert_eq!((status, &error["code"]), (401, &json!("unauthenticated")), "{error}");
    let response = http1()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer s3cret-token-value")
        .body(r#"{"name":"Ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn connect_timeout_ms_is_the_calls_deadline_even_while_its_body_is_arriving() {
    let server = TestServer::spawn().await;
    // A body that never ends: only the deadline can answer this call.
    let stalled = futures_util::StreamExt::chain(
        futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{")) }),
        futures_util::stream::pending(),
    );
    let started = Instant::now();
    let response = http2()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/json")
        .header("connect-timeout-ms", "300")
        .body(reqwest::Body::wrap_stream(stalled))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "deadline_exceeded", "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    still_serves(&server).await;
}

#[tokio::test]
async fn get_carries_the_message_in_the_query_and_may_be_cached() {
    let server = TestServer::spawn().await;
    let protobuf = HelloRequest { name: "Ada".into() }.encode_to_vec();
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&protobuf);
    let padded = base64::engine::general_purpose::STANDARD.encode(&protobuf);
    for (query, media) in [
        ("connect=v1&encoding=json&message=%7B%22name%22%3A%22Ada%22%7D", "application/json"),
        // Unknown parameters are ignored.
        ("encoding=json&message=%7B%22name%22%3A%22Ada%22%7D&utm_source=x", "application/json"),
        (&format!("encoding=proto&base64=1&message={url_safe}") as &str, "application/proto"),
        (
            &format!("encoding=proto&base64=1&message={}", padded.replace('=', "%3D")),
            "application/proto",
        ),
    ] {
        let response =
            http1().get(format!("{}?{query}", method(&server, "SayHello"))).send().await.unwrap();
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(response.headers()["content-type"], media);
        assert_eq!(response.headers()["cache-control"], "public, max-age=300");
        let body = response.bytes().await.unwrap();
        let message = if media == "application/json" {
            serde_json::from_slice::<Value>(&body).unwrap()["message"].as_str().unwrap().to_owned()
        } else {
            HelloReply::decode(body).unwrap().message
        };
        assert_eq!(message, "Hello Ada", "{query}");
    }
    // Asked with credentials, only the asker's own cache may keep it.
    let response = http1()
        .get(format!("{}?encoding=json&message=%7B%7D", method(&server, "SayHello")))
        .header("authorization", "Bearer anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "an empty name is refused");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn get_is_refused_where_the_method_may_have_side_effects_or_the_query_is_wrong() {
    let server = TestServer::spawn().await;
    let health =
        format!("{}/grpc.health.v1.Health/Check?encoding=proto&message=", server.grpc_url());
    let response = http1().get(health).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    for (query, message) in [
        ("message=%7B%7D", "the query names no encoding"),
        ("encoding=json", "the query carries no message"),
        ("encoding=xml&message=x", "encoding=xml is not served"),
        ("connect=v2&encoding=json&message=%7B%7D", "connect=v2 is not a protocol version"),
        ("encoding=proto&base64=1&message=!!", "the message is not valid base64"),
    ] {
        let response =
            http1().get(format!("{}?{query}", method(&server, "SayHello"))).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "invalid_argument");
        assert!(error["message"].as_str().unwrap().starts_with(message), "{error}");
    }
    still_serves(&server).await;
}

async fn connect_stream(
    client: &reqwest::Client,
    url: String,
    media: &str,
    body: Vec<u8>,
) -> (u16, Vec<(u8, Vec<u8>)>) {
    let response = client.post(url).header("content-type", media).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["content-type"], media);
    }
    (status, envelopes(&response.bytes().await.unwrap()))
}

#[tokio::test]
async fn a_server_stream_ends_with_an_end_of_stream_message_holding_any_error() {
    let server = TestServer::spawn().await;
    let url = method(&server, "SayHelloStreamReply");
    let request = envelope(0, br#"{"name":"Ada","count":2}"#).to_vec();
    for client in [http1(), http2()] {
        let (status, messages) =
            connect_stream(&client, url.clone(), "application/connect+json", request.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(
            messages,
            vec![
                (0, br#"{"message":"Hello Ada, greeting 1 of 2"}"#.to_vec()),
                (0, br#"{"message":"Hello Ada, greeting 2 of 2"}"#.to_vec()),
                (2, b"{}".to_vec()),
            ]
        );
    }
    // The domain refuses the count: HTTP 200 still, the error in the end-of-stream message.
    let refused = envelope(0, br#"{"name":"Ada","count":0}"#).to_vec();
    let (status, messages) =
        connect_stream(&http2(), url.clone(), "application/connect+json", refused).await;
    assert_eq!(status, 200);
    let [(2, end)] = &messages[..] else { panic!("only the end of the stream: {messages:?}") };
    let end: Value = serde_json::from_slice(end).unwrap();
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
    assert_eq!(end["error"]["message"], "count must be between 1 and 1000, got 0");
    // In protobuf, the same stream.
    let protobuf = contract::proto::HelloStreamRequest { name: "Ada".into(), count: Some(1) };
    let request = envelope(0, &protobuf.encode_to_vec()).to_vec();
    let (_, messages) = connect_stream(&http2(), url, "application/connect+proto", request).await;
    assert_eq!(
        HelloReply::decode(&messages[0].1[..]).unwrap().message,
        "Hello Ada, greeting 1 of 1"
    );
    assert_eq!(messages[1], (2, b"{}".to_vec()));
}

/// How many DATA frames the reply to one Connect stream request (`body`, in `media`) came in,
/// read with the `h2` crate (each `data()` is one frame), and the bytes they carried.
async fn stream_frames(server: &TestServer, media: &str, body: Vec<u8>) -> (usize, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(server.grpc_addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(method(server, "SayHelloStreamReply"))
        .header("content-type", media)
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(body.into(), true).unwrap();
    let mut reply = response.await.unwrap().into_body();
    let (mut frames, mut bytes) = (0, Vec::new());
    while let Some(data) = reply.data().await {
        let data = data.unwrap();
        let _ = reply.flow_control().release_capacity(data.len());
        frames += 1;
        bytes.extend_from_slice(&data);
    }
    (frames, bytes)
}

/// The greetings of a stream that are ready together leave together, in JSON as in protobuf
/// (the write policy every cell shares): not a DATA frame per greeting, which costs a frame
/// each and which HTTP/2 clients that guard against floods of small frames (the `h2` crate
/// since 0.4.20) answer by closing the connection once a few dozen such streams are in flight.
#[tokio::test]
async fn a_streams_greetings_ready_together_leave_in_few_data_frames_in_json_and_protobuf() {
    let server = TestServer::spawn().await;
    let json = envelope(0, br#"{"name":"Ada","count":100}"#).to_vec();
    let protobuf = contract::proto::HelloStreamRequest { name: "Ada".into(), count: Some(100) };
    let protobuf = envelope(0, &protobuf.encode_to_vec()).to_vec();
    for (media, body) in
        [("application/connect+json", json), ("application/connect+proto", protobuf)]
    {
        let (frames, bytes) = stream_frames(&server, media, body).await;
        let messages = envelopes(&bytes);
        assert_eq!(messages.len(), 101, "{media}: 100 greetings and the end of the stream");
        assert!(frames <= 10, "{media}: 100 greetings came in {frames} DATA frames");
    }
    still_serves(&server).await;
}

#[tokio::test]
async fn bad_streams_get_a_clear_connect_error_and_nothing_is_kept() {
    let server = TestServer::spawn().await;
    let url = method(&server, "SayHelloStreamReply");
    // A length prefix that promises more than the body holds.
    let mut truncated = envelope(0, br#"{"name":"Ada"}"#).to_vec();
    truncated.truncate(10);
    let (status, messages) =
        connect_stream(&http2(), url.clone(), "application/connect+json", truncated).await;
    assert_eq!(status, 200);
    let end: Value = serde_json::from_slice(&messages.last().unwrap().1).unwrap();
    assert!(end["error"]["code"].is_string(), "{end}");
    // Bidi streaming needs HTTP/2.
    let bidi = method(&server, "SayHelloBidiStream");
    let response = http1()
        .post(bidi)
        .header("content-type", "application/connect+json")
        .body(envelope(0, br#"{"name":"Ada"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 505);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "unimplemented");
    // A message compressed with an encoding the server does not have.
    let response = http2()
        .post(url)
        .header("content-type", "application/connect+json")
        .header("connect-content-encoding", "br")
        .body(envelope(1, b"not really brotli"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 501);
    assert_eq!(response.headers()["connect-accept-encoding"], "gzip, zstd");
    // An unknown protocol version.
    let response = http1()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/json")
        .header("connect-protocol-version", "2")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["message"], r#"connect-protocol-version must be 1, got "2""#);
    still_serves(&server).await;
}

/// What each media type gets from the gRPC port: its protocol, or 415 with what is served.
#[tokio::test]
async fn the_grpc_ports_content_type_table() {
    let server = TestServer::spawn().await;
    let protobuf = envelope(0, &HelloRequest { name: "Ada".into() }.encode_to_vec());
    let json = envelope(0, br#"{"name":"Ada"}"#);
    let text_json = base64::engine::general_purpose::STANDARD.encode(&json);
    for (media, body, served_as, grpc_status) in [
        ("application/grpc", protobuf.clone(), "application/grpc", Some("0")),
        ("application/grpc+proto", protobuf.clone(), "application/grpc", Some("0")),
        ("application/grpc+json", json.clone(), "application/grpc+json", Some("0")),
        ("application/grpc+cbor", protobuf.clone(), "application/grpc", Some("12")),
        ("application/grpc-web", protobuf.clone(), "application/grpc-web+proto", None),
        ("application/grpc-web+json", json.clone(), "application/grpc-web+json", None),
        (
            "application/grpc-web-text+json",
            text_json.into(),
            "application/grpc-web-text+json",
            None,
        ),
        ("application/json", br#"{"name":"Ada"}"#[..].into(), "application/json", None),
        (
            "application/proto",
            HelloRequest { name: "Ada".into() }.encode_to_vec().into(),
            "application/proto",
            None,
        ),
    ] {
        let response = http2()
            .post(method(&server, "SayHello"))
            .header("content-type", media)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{media}");
        assert_eq!(response.headers()["content-type"], served_as, "{media}");
        if let Some(grpc_status) = grpc_status {
            let status = response.headers().get("grpc-status").cloned();
            let trailers_only = status.is_some();
            let _ = response.bytes().await;
            if trailers_only {
                assert_eq!(status.unwrap(), grpc_status, "{media}");
            } else {
                assert_eq!(grpc_status, "0", "{media}: the status comes in trailers");
            }
        }
    }
    for media in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/x-protobuf"),
    ] {
        let mut request = http1().post(method(&server, "SayHello")).body(r#"{"name":"Ada"}"#);
        if let Some(media) = media {
            request = request.header("content-type", media);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{media:?}");
        let served = response.headers()["accept-post"].to_str().unwrap().to_owned();
        assert!(served.contains("application/grpc") && served.contains("application/connect+json"));
        let message = response.text().await.unwrap();
        assert!(message.starts_with("this is the gRPC port:"), "{message}");
        let names_what_was_sent = match media {
            None => message.contains("a request without a Content-Type is none of gRPC"),
            Some(media) => message.contains(&format!("content type \"{media}\" is not gRPC")),
        };
        assert!(names_what_was_sent, "{message}");
    }
    still_serves(&server).await;
}

#[tokio::test]
async fn refusals_before_the_call_are_connect_errors_too() {
    let mut config = ServeConfig::loopback();
    config.connections.max_header_bytes = 1_024;
    let server = TestServer::spawn_with(config).await;
    let response = http1()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/json")
        .header("x-padding", "p".repeat(2_000))
        .body(r#"{"name":"Ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "resource_exhausted", "{error}");
    still_serves(&server).await;
}

#[tokio::test]
async fn json_is_compressed_both_ways_when_asked() {
    let server = TestServer::spawn().await;
    let gzipped = Compression::Gzip.compress(br#"{"name":"Ada"}"#.to_vec()).unwrap();
    for client in [http1(), http2()] {
        let response = client
            .post(method(&server, "SayHello"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .header("accept-encoding", "br, zstd")
            .body(gzipped.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-encoding"], "zstd");
        let reply = zstd::decode_all(&response.bytes().await.unwrap()[..]).unwrap();
        assert_eq!(reply, br#"{"message":"Hello Ada"}"#);
    }
}

#[tokio::test]
async fn an_unknown_grpc_method_is_unimplemented_by_name() {
    let server = TestServer::spawn().await;
    let mut client = tonic::client::Grpc::new(server.grpc_channel().await);
    client.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/helloworld.Greeter/Missing");
    let codec = tonic_prost::ProstCodec::<HelloRequest, HelloReply>::default();
    let status = client
        .unary(tonic::Request::new(HelloRequest { name: "Ada".into() }), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert_eq!(status.message(), "no method /helloworld.Greeter/Missing is served here");
}

/// Plain gRPC over HTTP/1.1 ends with its status in trailers, which HTTP/1.1 sends only to a
/// client that asks for them: one that does not is refused, in headers it can read, with why
/// (connectrpc's Python client, which asks, is served: tests/stock_client.rs).
#[tokio::test]
async fn plain_grpc_over_http1_without_te_trailers_is_refused_saying_why() {
    let server = TestServer::spawn().await;
    let protobuf = envelope(0, &HelloRequest { name: "Ada".into() }.encode_to_vec());
    let response = http1()
        .post(method(&server, "SayHello"))
        .header("content-type", "application/grpc")
        .body(protobuf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["grpc-status"], "3");
    // grpc-message is percent-encoded.
    let message = response.headers()["grpc-message"].to_str().unwrap();
    let message = message.replace("%20", " ").replace("%60", "`");
    assert!(message.starts_with("gRPC over HTTP/1.1 needs `te: trailers`"), "{message}");
    still_serves(&server).await;
}
