//! Who gets in: the optional bearer token on both ports (401 / UNAUTHENTICATED without it,
//! probes open), CORS for allowed browser origins, and request ids echoed on every response.

mod common;

use common::{TestServer, http1};
use contract::proto::HelloRequest;
use serde_json::Value;
use server::config::ServeConfig;
use tonic::{Request, metadata::MetadataValue};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const TOKEN: &str = "correct-horse-battery-staple";

async fn server_with_token() -> TestServer {
    let mut config = ServeConfig::loopback();
    config.access.auth_token = Some(TOKEN.parse().unwrap());
    TestServer::spawn_with(config).await
}

#[tokio::test]
async fn rest_calls_need_the_bearer_token() {
    let server = server_with_token().await;
    let url = server.rest_url("/v1/greeter/hello/Ada");
    for authorization in [None, Some("Bearer wrong"), Some("Basic Y29ycmVjdA==")] {
        let mut request = http1().get(&url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED", "{authorization:?}");
    }
    let response = http1().get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // The scheme's name is case-insensitive (RFC 9110).
    for scheme in ["bearer", "BEARER"] {
        let authorization = format!("{scheme} {TOKEN}");
        let response = http1().get(&url).header("authorization", authorization).send().await;
        assert_eq!(response.unwrap().status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn rest_probes_and_docs_stay_open() {
    let server = server_with_token().await;
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let response = http1().get(server.rest_url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn grpc_calls_need_the_bearer_token() {
    let server = server_with_token().await;
    let mut client = server.grpc_client().await;
    let status = client.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "missing or invalid bearer token");

    for scheme in ["Bearer", "bearer"] {
        let mut request = Request::new(HelloRequest { name: "Ada".into() });
        let bearer: MetadataValue<_> = format!("{scheme} {TOKEN}").parse().unwrap();
        request.metadata_mut().insert("authorization", bearer);
        let reply = client.say_hello(request).await.unwrap();
        assert_eq!(reply.into_inner().message, "Hello Ada", "{scheme}");
    }
}

#[tokio::test]
async fn grpc_health_stays_open() {
    let server = server_with_token().await;
    let mut health = HealthClient::new(server.grpc_channel().await);
    let reply = health.check(HealthCheckRequest { service: String::new() }).await;
    assert!(reply.is_ok(), "{reply:?}");
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let mut config = ServeConfig::loopback();
    config.access.cors_allow_origins = vec!["https://app.example.com".into()];
    let server = TestServer::spawn_with(config).await;
    for (origin, allowed) in
        [("https://app.example.com", true), ("https://evil.example.com", false)]
    {
        let preflight = http1()
            .request(reqwest::Method::OPTIONS, server.rest_url("/v1/greeter/hello"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        let granted = preflight
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(granted.as_deref(), allowed.then_some(origin), "{origin}");
    }
    // A browser app may read which server answered and the request id.
    let response = http1()
        .get(server.rest_url("/v1/greeter/hello/Ada"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_owned();
    for header in ["x-served-by", "x-request-id"] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_made_up() {
    let server = TestServer::spawn().await;
    let response = http1()
        .get(server.rest_url("/v1/greeter/hello/Ada"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");

    let response = http1().get(server.rest_url("/v1/greeter/hello/Ada")).send().await.unwrap();
    let made_up = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(made_up.len(), 36, "a UUID: {made_up}");

    // An id too long to log, or not plain visible ASCII, is replaced rather than echoed.
    for unusable in ["x".repeat(5_000), "two words".into()] {
        let response = http1()
            .get(server.rest_url("/v1/greeter/hello/Ada"))
            .header("x-request-id", &unusable)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the call itself is served");
        let replaced = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(replaced.len(), 36, "a new UUID instead of {unusable:?}: {replaced}");
    }

    let reply =
        server.grpc_client().await.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    assert!(reply.metadata().get("x-request-id").is_some(), "gRPC replies carry it too");
}

#[tokio::test]
async fn every_reply_says_which_server_answered() {
    let mut config = ServeConfig::loopback();
    config.server_name = Some("greeter-7f9c".into());
    let server = TestServer::spawn_with(config).await;
    let response = http1().get(server.rest_url("/v1/greeter/hello/Ada")).send().await.unwrap();
    assert_eq!(response.headers()["x-served-by"], "greeter-7f9c");
    let reply =
        server.grpc_client().await.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    assert_eq!(reply.metadata().get("x-served-by").unwrap(), "greeter-7f9c");
}
