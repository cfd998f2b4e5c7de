//! A user calls every Greeter RPC with the generated tonic client.

mod common;

use common::TestServer;
use contract::proto::{BatchHelloRequest, HelloRequest, HelloStreamRequest};
use tokio_stream::StreamExt;
use tonic::Code;

fn hello(name: &str) -> HelloRequest {
    HelloRequest { name: name.into() }
}

#[tokio::test]
async fn say_hello_greets_by_name() {
    let server = TestServer::spawn().await;
    let reply = server.grpc_client().await.say_hello(hello("World")).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello World");
}

#[tokio::test]
async fn say_hello_again_greets_again() {
    let server = TestServer::spawn().await;
    let reply = server.grpc_client().await.say_hello_again(hello("World")).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello again World");
}

#[tokio::test]
async fn say_hello_with_an_empty_name_is_invalid_argument() {
    let server = TestServer::spawn().await;
    let status = server.grpc_client().await.say_hello(hello("  ")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "name must not be empty");
}

#[tokio::test]
async fn stream_reply_sends_count_greetings_in_order() {
    let server = TestServer::spawn().await;
    let request = HelloStreamRequest { name: "Ada".into(), count: Some(3) };
    let stream = server.grpc_client().await.say_hello_stream_reply(request).await.unwrap();
    let messages: Vec<String> =
        stream.into_inner().map(|reply| reply.unwrap().message).collect().await;
    assert_eq!(
        messages,
        ["Hello Ada, greeting 1 of 3", "Hello Ada, greeting 2 of 3", "Hello Ada, greeting 3 of 3"]
    );
}

#[tokio::test]
async fn stream_reply_without_count_sends_ten() {
    let server = TestServer::spawn().await;
    let request = HelloStreamRequest { name: "Ada".into(), count: None };
    let stream = server.grpc_client().await.say_hello_stream_reply(request).await.unwrap();
    let replies: Vec<_> = stream.into_inner().collect().await;
    assert_eq!(replies.len(), 10);
}

#[tokio::test]
async fn stream_reply_with_a_count_out_of_range_is_invalid_argument() {
    let server = TestServer::spawn().await;
    let mut client = server.grpc_client().await;
    for count in [0, 1001] {
        let request = HelloStreamRequest { name: "Ada".into(), count: Some(count) };
        let status = client.say_hello_stream_reply(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "count {count}");
        assert_eq!(status.message(), format!("count must be between 1 and 1000, got {count}"));
    }
}

#[tokio::test]
async fn bidi_stream_answers_every_request_in_order() {
    let server = TestServer::spawn().await;
    let requests = tokio_stream::iter(["Ada", "Grace", "Linus"].map(hello));
    let replies = server.grpc_client().await.say_hello_bidi_stream(requests).await.unwrap();
    let messages: Vec<String> =
        replies.into_inner().map(|reply| reply.unwrap().message).collect().await;
    assert_eq!(messages, ["Hello Ada", "Hello Grace", "Hello Linus"]);
}

#[tokio::test]
async fn bidi_stream_ends_with_invalid_argument_at_the_first_invalid_name() {
    let server = TestServer::spawn().await;
    let requests = tokio_stream::iter(["Ada", "", "Grace"].map(hello));
    let mut replies =
        server.grpc_client().await.say_hello_bidi_stream(requests).await.unwrap().into_inner();
    assert_eq!(replies.next().await.unwrap().unwrap().message, "Hello Ada");
    let status = replies.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "name must not be empty");
    assert!(replies.next().await.is_none(), "nothing follows the error");
}

#[tokio::test]
async fn batch_greets_every_name_in_order() {
    let server = TestServer::spawn().await;
    let request = BatchHelloRequest { names: vec!["Ada".into(), "Grace".into()] };
    let reply = server.grpc_client().await.say_hello_batch(request).await.unwrap().into_inner();
    let messages: Vec<_> = reply.replies.into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["Hello Ada", "Hello Grace"]);
}

#[tokio::test]
async fn the_largest_batch_fits_in_the_default_message_limits() {
    let server = TestServer::spawn().await;
    let names = vec!["🦀".repeat(256); 10_000];
    // tonic's client refuses replies over 4 MiB by default; this one is about 10 MiB.
    let mut client = server.grpc_client().await.max_decoding_message_size(usize::MAX);
    let reply = client.say_hello_batch(BatchHelloRequest { names }).await;
    assert_eq!(reply.unwrap().into_inner().replies.len(), 10_000);
}

#[tokio::test]
async fn batch_errors_name_the_offending_entry() {
    let server = TestServer::spawn().await;
    let mut client = server.grpc_client().await;
    let request = BatchHelloRequest { names: vec!["Ada".into(), "bad\u{7}".into()] };
    let status = client.say_hello_batch(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "names[1]: name must not contain control characters (found U+0007 at byte 3)"
    );
    let status = client.say_hello_batch(BatchHelloRequest { names: vec![] }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let names = vec!["n".to_string(); 10_001];
    let status = client.say_hello_batch(BatchHelloRequest { names }).await.unwrap_err();
    assert_eq!(status.message(), "batch holds 10001 names; at most 10000 are allowed");
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_clearly_and_the_server_keeps_serving() {
    let server = TestServer::spawn().await;
    let mut client = server.grpc_client().await;
    let names = vec!["n".repeat(200); 90_000]; // about 18 MiB
    let status = client.say_hello_batch(BatchHelloRequest { names }).await.unwrap_err();
    // tonic answers OUT_OF_RANGE here, where the gRPC spec suggests RESOURCE_EXHAUSTED.
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("limit is: 16777216 bytes"), "{status:?}");
    let reply = server.grpc_client().await.say_hello(hello("still here")).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello still here");
}
