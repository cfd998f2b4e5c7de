//! The gRPC port's other services: health, server reflection (v1 and v1alpha) and gRPC-Web
//! from an HTTP/1.1 client, as a browser would call it.

mod common;

use common::{TestServer, http1, http2, reflection};
use contract::proto::{HelloReply, HelloRequest};
use prost::Message as _;
use reqwest::header::CONTENT_TYPE;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_greeter() {
    let server = TestServer::spawn().await;
    let mut health = HealthClient::new(server.grpc_channel().await);
    for service in ["", "helloworld.Greeter"] {
        let request = HealthCheckRequest { service: service.into() };
        let status = health.check(request).await.unwrap().into_inner().status();
        assert_eq!(status, ServingStatus::Serving, "service {service:?}");
    }
}

#[tokio::test]
async fn health_of_an_unknown_service_is_not_found() {
    let server = TestServer::spawn().await;
    let mut health = HealthClient::new(server.grpc_channel().await);
    let request = HealthCheckRequest { service: "no.Such".into() };
    let status = health.check(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_v1_lists_the_services() {
    let server = TestServer::spawn().await;
    let names = reflection::v1::listed_services(server.grpc_channel().await).await;
    for expected in
        ["helloworld.Greeter", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_the_services() {
    let server = TestServer::spawn().await;
    let names = reflection::v1alpha::listed_services(server.grpc_channel().await).await;
    assert!(names.iter().any(|n| n == "helloworld.Greeter"), "{names:?}");
}

/// One gRPC length-prefixed frame: flag byte, big-endian length, payload.
fn grpc_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn grpc_web_over_http1_says_hello() {
    let server = TestServer::spawn().await;
    let request = HelloRequest { name: "Browser".into() }.encode_to_vec();
    let response = http1()
        .post(format!("{}/helloworld.Greeter/SayHello", server.grpc_url()))
        .header(CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(grpc_frame(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc-web+proto");
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0, "the first frame is a data frame");
    let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let reply = HelloReply::decode(&body[5..5 + length]).unwrap();
    assert_eq!(reply.message, "Hello Browser");
    let trailers = String::from_utf8_lossy(&body[5 + length + 5..]);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

#[tokio::test]
async fn grpc_web_text_without_accept_is_answered_in_text() {
    use base64::Engine as _;
    let server = TestServer::spawn().await;
    let request = HelloRequest { name: "Text".into() }.encode_to_vec();
    let body = base64::engine::general_purpose::STANDARD.encode(grpc_frame(&request));
    let response = http1()
        .post(format!("{}/helloworld.Greeter/SayHello", server.grpc_url()))
        .header(CONTENT_TYPE, "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let media = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(media.starts_with("application/grpc-web-text"), "replied in {media}");
    let text = response.text().await.unwrap();
    // tonic-web writes each frame as its own padded base64 run; the first is the reply.
    let reply_frame = (4..=text.len())
        .step_by(4)
        .filter_map(|end| base64::engine::general_purpose::STANDARD.decode(&text[..end]).ok())
        .find(|frame| {
            frame.len() > 5
                && frame.len() >= 5 + u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize
        })
        .unwrap_or_else(|| panic!("no base64 gRPC frame in {text:?}"));
    let reply = HelloReply::decode(&reply_frame[5..]).unwrap();
    assert_eq!(reply.message, "Hello Text");
}

#[tokio::test]
async fn grpc_with_a_codec_other_than_protobuf_gets_unimplemented_naming_it() {
    let server = TestServer::spawn().await;
    let response = http2()
        .post(format!("{}/helloworld.Greeter/SayHello", server.grpc_url()))
        .header(CONTENT_TYPE, "application/grpc+cbor")
        .header("te", "trailers")
        .body(grpc_frame(b"\xa1dnamecAda"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "gRPC errors ride on HTTP 200");
    assert_eq!(response.headers()["grpc-status"], "12", "UNIMPLEMENTED");
    let message = response.headers()["grpc-message"].to_str().unwrap().to_owned();
    assert!(message.contains("cbor"), "{message}");
}

#[tokio::test]
async fn watching_an_unknown_service_says_service_unknown_and_stays_open() {
    let server = TestServer::spawn().await;
    let mut health = HealthClient::new(server.grpc_channel().await);
    let mut updates = health
        .watch(HealthCheckRequest { service: "no.such.Service".into() })
        .await
        .expect("Watch on an unknown service is not an error")
        .into_inner();
    assert_eq!(updates.next().await.unwrap().unwrap().status(), ServingStatus::ServiceUnknown);
    let more = tokio::time::timeout(std::time::Duration::from_millis(300), updates.next()).await;
    assert!(more.is_err(), "the call stays open for a later change: {more:?}");
}
