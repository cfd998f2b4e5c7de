//! A user calls every unary REST route with reqwest, in JSON and in protobuf, over HTTP/1.1
//! and h2c, and sees the API's one error shape for everything it gets wrong.

mod common;

use common::{TestServer, http_clients, http1};
use contract::proto::{BatchHelloReply, BatchHelloRequest, HelloReply, HelloRequest};
use prost::Message;
use reqwest::{StatusCode, Version, header::CONTENT_TYPE};
use serde_json::{Value, json};

const PROTOBUF: &str = "application/x-protobuf";

/// Asserts the error shape: `{"error":{"code":…, "status":…, "message":…}}`.
async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str, message: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], status.as_u16(), "{body}");
    assert_eq!(body["error"]["status"], code, "{body}");
    let actual = body["error"]["message"].as_str().unwrap();
    assert!(actual.contains(message), "{actual:?} should contain {message:?}");
}

#[tokio::test]
async fn post_hello_in_json_over_both_http_versions() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let response = client
            .post(server.rest_url("/v1/greeter/hello"))
            .json(&json!({"name": "World"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version}");
        let expected = if version == "h2c" { Version::HTTP_2 } else { Version::HTTP_11 };
        assert_eq!(response.version(), expected);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json", "{version}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"message": "Hello World"}), "{version}");
    }
}

#[tokio::test]
async fn post_hello_in_protobuf_over_both_http_versions() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let response = client
            .post(server.rest_url("/v1/greeter/hello"))
            .header(CONTENT_TYPE, PROTOBUF)
            .header("accept", PROTOBUF)
            .body(HelloRequest { name: "World".into() }.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version}");
        assert_eq!(response.headers()[CONTENT_TYPE], PROTOBUF, "{version}");
        let reply = HelloReply::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(reply.message, "Hello World", "{version}");
    }
}

#[tokio::test]
async fn a_protobuf_request_can_ask_for_a_json_reply() {
    let server = TestServer::spawn().await;
    let response = http1()
        .post(server.rest_url("/v1/greeter/hello"))
        .header(CONTENT_TYPE, PROTOBUF)
        .header("accept", "application/json")
        .body(HelloRequest { name: "Ada".into() }.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"message": "Hello Ada"}));
}

#[tokio::test]
async fn without_accept_the_reply_comes_in_the_request_encoding() {
    let server = TestServer::spawn().await;
    let response = http1()
        .post(server.rest_url("/v1/greeter/hello"))
        .header(CONTENT_TYPE, PROTOBUF)
        .body(HelloRequest { name: "Ada".into() }.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_TYPE], PROTOBUF);
    let reply = HelloReply::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(reply.message, "Hello Ada");
}

#[tokio::test]
async fn get_hello_by_path_greets_the_decoded_name() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let response =
            client.get(server.rest_url("/v1/greeter/hello/Zo%C3%AB%20M")).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"message": "Hello Zoë M"}), "{version}");

        let response = client
            .get(server.rest_url("/v1/greeter/hello/Ada"))
            .header("accept", PROTOBUF)
            .send()
            .await
            .unwrap();
        let reply = HelloReply::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(reply.message, "Hello Ada", "{version}");
    }
}

#[tokio::test]
async fn a_malformed_percent_escape_in_the_path_is_400_not_taken_literally() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        for (path, what) in [("%ZZ", "malformed percent-escape"), ("%FF", "UTF-8")] {
            let response = client
                .get(server.rest_url(&format!("/v1/greeter/hello/{path}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{version} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{version} {path}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(what), "{version} {path}: {message}");
        }
    }
}

#[tokio::test]
async fn post_hello_again_in_both_encodings() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let url = server.rest_url("/v1/greeter/hello-again");
        let response = client.post(&url).json(&json!({"name": "Ada"})).send().await.unwrap();
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"message": "Hello again Ada"}));

        let response = client
            .post(&url)
            .header(CONTENT_TYPE, PROTOBUF)
            .header("accept", PROTOBUF)
            .body(HelloRequest { name: "Ada".into() }.encode_to_vec())
            .send()
            .await
            .unwrap();
        let reply = HelloReply::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(reply.message, "Hello again Ada", "{version}");
    }
}

#[tokio::test]
async fn post_batch_in_both_encodings() {
    let server = TestServer::spawn().await;
    for (version, client) in http_clients() {
        let url = server.rest_url("/v1/greeter/batch");
        let response =
            client.post(&url).json(&json!({"names": ["Ada", "Grace"]})).send().await.unwrap();
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"replies": [{"message": "Hello Ada"}, {"message": "Hello Grace"}]}),
            "{version}"
        );

        let request = BatchHelloRequest { names: vec!["Ada".into(), "Grace".into()] };
        let response = client
            .post(&url)
            .header(CONTENT_TYPE, PROTOBUF)
            .header("accept", PROTOBUF)
            .body(request.encode_to_vec())
            .send()
            .await
            .unwrap();
        let reply = BatchHelloReply::decode(response.bytes().await.unwrap()).unwrap();
        let messages: Vec<_> = reply.replies.into_iter().map(|r| r.message).collect();
        assert_eq!(messages, ["Hello Ada", "Hello Grace"], "{version}");
    }
}

#[tokio::test]
async fn the_largest_batch_fits_in_the_default_body_limit() {
    let server = TestServer::spawn().await;
    let names = vec!["🦀".repeat(256); 10_000];
    let response = http1()
        .post(server.rest_url("/v1/greeter/batch"))
        .json(&json!({ "names": names }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["replies"].as_array().unwrap().len(), 10_000);
}

/// What a user gets wrong, and the status, code and message they see for it.
#[tokio::test]
async fn every_mistake_gets_its_status_in_the_error_shape() {
    let server = TestServer::spawn().await;
    let client = http1();
    let hello = server.rest_url("/v1/greeter/hello");
    let post_json = |body: &str| {
        client.post(&hello).header(CONTENT_TYPE, "application/json").body(body.to_owned())
    };
    let bad = StatusCode::BAD_REQUEST;
    let mistakes = [
        ("an empty name", post_json(r#"{"name": ""}"#), bad, "name must not be empty"),
        (
            "a control character in a batch",
            client
                .post(server.rest_url("/v1/greeter/batch"))
                .json(&json!({"names": ["ok", "a\tb"]})),
            bad,
            "names[1]: name must not contain control characters (found U+0009 at byte 1)",
        ),
        ("cut-off JSON", post_json(r#"{"name": "#), bad, "invalid JSON body"),
        ("a misspelt field", post_json(r#"{"nmae": "Ada"}"#), bad, "invalid JSON body"),
        ("a number for a name", post_json(r#"{"name": 5}"#), bad, "invalid JSON body"),
        ("an array for the message", post_json(r#"["Ada"]"#), bad, "invalid JSON body"),
        (
            "cut-off protobuf (field 1 claims 5 bytes, 1 follows)",
            client.post(&hello).header(CONTENT_TYPE, PROTOBUF).body(vec![0x0a, 0x05, b'A']),
            bad,
            "invalid protobuf body",
        ),
        (
            "a form body (what curl -d sends)",
            client
                .post(&hello)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("name=Ada"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json or application/x-protobuf",
        ),
        (
            "an Accept the route cannot answer",
            client.get(server.rest_url("/v1/greeter/hello/Ada")).header("accept", "text/html"),
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow one of",
        ),
        (
            "an unknown route",
            client.get(server.rest_url("/v2/nothing")),
            StatusCode::NOT_FOUND,
            "no route for this path",
        ),
    ];
    for (mistake, request, status, message) in mistakes {
        let code = match status {
            StatusCode::NOT_FOUND => "NOT_FOUND",
            _ => "INVALID_ARGUMENT",
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{mistake}");
        assert_error(response, status, code, message).await;
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_the_server_keeps_serving() {
    let server = TestServer::spawn().await;
    let client = http1();
    let response = client
        .post(server.rest_url("/v1/greeter/batch"))
        .header(CONTENT_TYPE, "application/json")
        .body(vec![b' '; 17 * 1024 * 1024])
        .send()
        .await;
    assert_error(
        response.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "RESOURCE_EXHAUSTED",
        "request body is larger than this server accepts",
    )
    .await;
    let response = client.get(server.rest_url("/v1/greeter/hello/Ada")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_route_is_404_in_the_error_shape() {
    let server = TestServer::spawn().await;
    let response = http1().get(server.rest_url("/v2/nothing")).send().await;
    assert_error(response.unwrap(), StatusCode::NOT_FOUND, "NOT_FOUND", "no route for this path")
        .await;
}

#[tokio::test]
async fn a_wrong_method_is_405_in_the_error_shape() {
    let server = TestServer::spawn().await;
    let response = http1().delete(server.rest_url("/v1/greeter/hello")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "UNIMPLEMENTED",
        "does not take this method",
    )
    .await;
}

#[tokio::test]
async fn healthz_and_readyz_report_serving() {
    let server = TestServer::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = http1().get(server.rest_url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "SERVING"}), "{path}");
    }
}

#[tokio::test]
async fn readyz_is_503_not_serving_while_draining() {
    use axum::{body::Body, http::Request};
    use contract::greeter::Greeter;
    use server::{
        config::ServeConfig,
        readiness::Readiness,
        rest::{self, AppState},
    };
    use tower::ServiceExt;

    let (reporter, _) = tonic_health::server::health_reporter();
    let readiness = Readiness::new(reporter).await;
    let draining = server::serving::Draining::default();
    let app = rest::router(
        AppState {
            greeter: Greeter::new(),
            readiness: readiness.clone(),
            metrics: Some(server::metrics::Metrics::new(server::grpc::served_methods())),
            sessions: Default::default(),
            body_budget: server::serving::BodyBudget::new(1 << 20),
        },
        &ServeConfig::loopback(),
        None,
        draining,
    );
    readiness.set_draining().await;
    draining.start();
    let response =
        app.clone().oneshot(Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 503);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"status": "NOT_SERVING"}));
    // The Greeter itself refuses new calls, in the API's error shape.
    let hello = Request::post("/v1/greeter/hello")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name":"Ada"}"#))
        .unwrap();
    let response = app.oneshot(hello).await.unwrap();
    assert_eq!(response.status(), 503);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    let body = serde_json::from_slice::<Value>(&body).unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE", "{body}");
}
