//! Compression on both ports, both ways, in gzip and zstd: a client that asks for a compressed
//! reply gets one (REST: `Accept-Encoding`; gRPC: `grpc-accept-encoding`), a compressed request
//! is read, and one that asks for nothing gets plain bytes. The bombs are in tests/attacks.rs.

mod common;

use common::{TestServer, http1, http2, tools};
use compare::{Compression, payload};
use contract::proto::{PeopleReply, greeter_client::GreeterClient};
use prost::Message;
use tonic::codec::CompressionEncoding;

const ENCODINGS: [Compression; 2] = [Compression::Gzip, Compression::Zstd];

fn compress(compression: Compression, bytes: &[u8]) -> Vec<u8> {
    compression.compress(bytes.to_vec()).unwrap()
}

fn decompress(compression: Compression, bytes: &[u8]) -> Vec<u8> {
    compression.decompress(bytes).unwrap()
}

#[tokio::test]
async fn rest_compresses_replies_on_request_and_reads_compressed_bodies() {
    let server = TestServer::spawn().await;
    let request = payload::people(20);
    let json = serde_json::to_vec(&request).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&json).unwrap();
    for compression in ENCODINGS {
        let encoding = compression.name().unwrap();
        for (version, client) in [("HTTP/1.1", http1()), ("h2c", http2())] {
            let response = client
                .post(server.rest_url("/v1/greeter/echo/people"))
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .header("accept-encoding", encoding)
                .body(compress(compression, &json))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{encoding} over {version}");
            assert_eq!(response.headers()["content-encoding"], encoding, "{version}");
            let body = response.bytes().await.unwrap();
            assert!(body.len() < json.len() / 2, "{encoding}: {} of {} B", body.len(), json.len());
            let reply: serde_json::Value =
                serde_json::from_slice(&decompress(compression, &body)).unwrap();
            assert_eq!(reply, expected, "{encoding} over {version}");
        }
    }
    // Without Accept-Encoding the reply is plain, and so is a stream even when asked.
    let response = http1()
        .post(server.rest_url("/v1/greeter/echo/people"))
        .header("content-type", "application/json")
        .body(json.clone())
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let response = http1()
        .get(server.rest_url("/v1/greeter/hello/World/stream?count=3"))
        .header("accept", "application/x-ndjson")
        .header("accept-encoding", "gzip, zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-encoding").is_none(), "streams go uncompressed");
}

/// curl, as a user runs it: `--compressed` asks for any encoding curl knows and decodes the
/// reply.
#[tokio::test]
async fn curl_compressed_gets_the_same_reply() {
    let Some(curl) = tools::require("curl") else { return };
    let server = TestServer::spawn().await;
    let output = tokio::process::Command::new(curl)
        .args(["-sS", "--compressed", "-D", "/dev/stderr"])
        .args([
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"people":[{"id":"1","name":"Ada"}]}"#,
        ])
        .arg(server.rest_url("/v1/greeter/echo/people"))
        .output()
        .await
        .unwrap();
    let headers = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(output.status.success(), "{headers}");
    assert!(headers.contains("content-encoding: zstd"), "curl prefers zstd:\n{headers}");
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reply, serde_json::json!({"people": [{"id": "1", "name": "Ada"}]}));
}

#[tokio::test]
async fn grpc_compresses_both_ways_when_asked() {
    let server = TestServer::spawn().await;
    let request = payload::people(20);
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = GreeterClient::new(server.grpc_channel().await)
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let reply = client.echo_people(request.clone()).await.unwrap().into_inner();
        assert_eq!(reply.people, request.people, "{encoding:?}");
    }
    // On the wire: a reply frame flagged compressed, in the encoding asked for.
    let message = request.encode_to_vec();
    for compression in ENCODINGS {
        let encoding = compression.name().unwrap();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(&message);
        let response = http2()
            .post(format!("{}/helloworld.Greeter/EchoPeople", server.grpc_url()))
            .header("content-type", "application/grpc")
            .header("grpc-accept-encoding", encoding)
            .header("te", "trailers")
            .body(frame)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["grpc-encoding"], encoding);
        let body = response.bytes().await.unwrap();
        assert_eq!(body[0], 1, "{encoding}: the compressed flag");
        let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        assert!(length < message.len() / 2, "{encoding}: {length} of {} B", message.len());
        let reply = PeopleReply::decode(decompress(compression, &body[5..5 + length]).as_slice());
        assert_eq!(reply.unwrap().people, request.people, "{encoding}");
    }
}
