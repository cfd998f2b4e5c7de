//! Hostile clients against the real binary, on loopback, bounded in count and time. Each
//! attack asserts the server's specific answer, and, for all of them together, that a
//! well-behaved client calling at the same time sees no error and the server's memory stays
//! bounded. HTTP/2 frame attacks are written with Python's hyperframe (tests/attacks/).

mod common;

use std::{
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{
    binary::{Binary, rss_kib},
    outside::json_of,
    tools,
};
use contract::proto::{HelloRequest, greeter_client::GreeterClient};
use flate2::{Compression, write::GzEncoder};
use prost::Message as _;
use serde_json::Value;
use tokio::process::Command;

/// How much the server's resident memory may grow over the whole barrage.
const MAX_RSS_GROWTH_KIB: u64 = 128 * 1024;

/// A client that keeps calling both ports until stopped, counting successes and errors.
struct HealthyClient {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    errors: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HealthyClient {
    fn start(server: &Binary) -> Self {
        let (stop, ok, errors) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let grpc_url = format!("http://{}", server.grpc_addr);
        let rest_url = format!("http://{}/v1/greeter/hello/healthy", server.rest_addr);
        let (s, o, e) = (stop.clone(), ok.clone(), errors.clone());
        let task = tokio::spawn(async move {
            let mut grpc = GreeterClient::connect(grpc_url).await.unwrap();
            let rest = reqwest::Client::new();
            while !s.load(Ordering::Relaxed) {
                let by_grpc = grpc.say_hello(HelloRequest { name: "healthy".into() }).await;
                let by_rest = rest.get(&rest_url).send().await;
                let fine = by_grpc.is_ok_and(|r| r.get_ref().message == "Hello healthy")
                    && by_rest.is_ok_and(|r| r.status() == 200);
                if fine {
                    o.fetch_add(1, Ordering::Relaxed)
                } else {
                    e.fetch_add(1, Ordering::Relaxed)
                };
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { stop, ok, errors, task }
    }

    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        (self.ok.load(Ordering::Relaxed), self.errors.load(Ordering::Relaxed))
    }
}

async fn h2_attack(python: &std::path::Path, attack: &str, port: u16, kind: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/attacks/h2_attacks.py");
    let mut client = Command::new(python);
    client.args([script, attack, "127.0.0.1", &port.to_string(), kind]);
    json_of(&format!("the {attack} attack"), &mut client).await
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 19).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_withstands_every_attack_and_keeps_serving() {
    let Some(python) = tools::require_python_with("hyperframe") else { return };
    let server = Binary::start(&[], &[("RUST_LOG", "error,server=info")]).await;
    let pid = server.child.id().unwrap();
    let healthy = HealthyClient::start(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib(pid);

    for (port, kind) in [(server.grpc_addr.port(), "grpc"), (server.rest_addr.port(), "rest")] {
        for attack in ["rapid-reset", "continuation-flood", "oversized-headers"] {
            let answer = h2_attack(&python, attack, port, kind).await;
            assert_eq!(
                answer["goaway_error_code"], 11,
                "{attack} on {kind}: ENHANCE_YOUR_CALM expected, got {answer}"
            );
            assert_eq!(answer["closed"], true, "{attack} on {kind}: {answer}");
        }
        // No ping or settings rate limit exists in the h2 stack: the defence is backpressure
        // (one pending PONG or SETTINGS ACK at a time), so the flood is answered, never queued.
        let answer = h2_attack(&python, "ping-flood", port, kind).await;
        assert_eq!(answer["pings_acked"], 100_000, "ping flood on {kind}: {answer}");
        let answer = h2_attack(&python, "settings-flood", port, kind).await;
        assert_eq!(answer["goaway_error_code"], Value::Null, "settings flood on {kind}: {answer}");
    }

    let client = reqwest::Client::new();
    let rest = |path: &str| format!("http://{}{path}", server.rest_addr);

    // Bombs in each encoding, to each port: 64 MiB that compress to a few KiB, past the 16 MiB
    // REST body limit and the 4 MiB gRPC message limit once inflated.
    let h2c = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    type Compress = fn(&[u8]) -> Vec<u8>;
    let encodings: [(&str, Compress); 2] = [("gzip", gzip), ("zstd", zstd)];
    for (encoding, compress) in encodings {
        let bomb = compress(&vec![b' '; 64 * 1024 * 1024]);
        assert!(bomb.len() < 256 * 1024);
        let response = client
            .post(rest("/v1/greeter/echo/people"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(bomb)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{encoding} bomb to REST");

        // A 64 MiB name in one compressed frame.
        let message = HelloRequest { name: "a".repeat(64 * 1024 * 1024) }.encode_to_vec();
        let compressed = compress(&message);
        let mut frame = vec![1u8];
        frame.extend_from_slice(&u32::try_from(compressed.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(&compressed);
        let response = h2c
            .post(format!("http://{}/helloworld.Greeter/SayHello", server.grpc_addr))
            .header("content-type", "application/grpc")
            .header("grpc-encoding", encoding)
            .header("te", "trailers")
            .body(frame)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["grpc-status"],
            "8",
            "{encoding} bomb to gRPC: RESOURCE_EXHAUSTED"
        );
    }

    // Deeply nested JSON: serde_json stops at its recursion limit.
    let nested = format!(r#"{{"name": {}"x"{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let response = client
        .post(rest("/v1/greeter/hello"))
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "deeply nested JSON");

    // A huge but well-formed JSON string, inside the body limit.
    let huge = serde_json::json!({"name": "a".repeat(10 * 1024 * 1024)}).to_string();
    let response = client
        .post(rest("/v1/greeter/hello"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "huge JSON string");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("characters long"), "{body}");

    // Invalid UTF-8: in JSON, and in a protobuf string over REST and gRPC.
    let response = client
        .post(rest("/v1/greeter/hello"))
        .header("content-type", "application/json")
        .body(b"{\"name\": \"\xff\xfe\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "invalid UTF-8 in JSON");
    let invalid_protobuf = vec![0x0a, 0x02, 0xff, 0xfe];
    let response = client
        .post(rest("/v1/greeter/hello"))
        .header("content-type", "application/x-protobuf")
        .body(invalid_protobuf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "invalid UTF-8 in protobuf over REST");
    let mut frame = vec![0u8];
    frame.extend_from_slice(&4u32.to_be_bytes());
    frame.extend_from_slice(&invalid_protobuf);
    let response = h2c
        .post(format!("http://{}/helloworld.Greeter/SayHello", server.grpc_addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(frame)
        .send()
        .await
        .unwrap();
    // gRPC's status-code spec prescribes INTERNAL for a request that does not parse.
    assert_eq!(response.headers()["grpc-status"], "13", "invalid UTF-8 in protobuf over gRPC");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);
    let (ok, errors) = healthy.finish().await;
    assert_eq!(errors, 0, "the healthy client saw {errors} errors ({ok} calls fine)");
    assert!(ok > 20, "the healthy client made only {ok} calls");
    assert!(
        rss_after < rss_before + MAX_RSS_GROWTH_KIB,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
}
