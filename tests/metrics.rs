//! An operator scrapes `/metrics` and sees calls per protocol, method and status — the gRPC
//! status for gRPC, not the HTTP 200 it rides on — and latency histograms.

mod common;

use std::collections::BTreeSet;

use common::{
    TestServer,
    binary::{Binary, rss_kib},
    http1, http2,
};
use contract::proto::HelloRequest;
use futures_util::{StreamExt as _, stream};

#[tokio::test]
async fn metrics_count_calls_by_protocol_method_and_status() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    grpc.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    grpc.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    grpc.say_hello(HelloRequest { name: "".into() }).await.unwrap_err();
    let rest = http1();
    rest.get(server.rest_url("/v1/greeter/hello/Ada")).send().await.unwrap();
    rest.get(server.rest_url("/v1/greeter/hello/%20")).send().await.unwrap();

    let response = rest.get(server.rest_url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for line in [
        r#"rpc_calls_total{protocol="grpc",method="/helloworld.Greeter/SayHello",status="Ok"} 2"#,
        r#"rpc_calls_total{protocol="grpc",method="/helloworld.Greeter/SayHello",status="InvalidArgument"} 1"#,
        r#"rpc_calls_total{protocol="rest",method="GET /v1/greeter/hello/{name}",status="200"} 1"#,
        r#"rpc_calls_total{protocol="rest",method="GET /v1/greeter/hello/{name}",status="400"} 1"#,
        r#"rpc_call_duration_seconds_count{protocol="grpc",method="/helloworld.Greeter/SayHello"} 3"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
}

/// Distinct made-up paths per port in the test below (100,000 calls in all): a series per path
/// would show (each cost about 250 bytes of memory and two dozen lines of `/metrics`).
const MADE_UP_CALLS: usize = 50_000;
const MAX_RSS_GROWTH_KIB: u64 = 8 * 1024;
/// Made-up calls before memory is first read. The server's memory settles only after a few
/// thousand calls over many connections (the allocator's per-thread arenas and hyper's buffers
/// reach their working size); after 64 calls, a CI run once read 10 MiB of growth that was that
/// settling, not a series per path, which would grow on every round alike.
const SETTLING_CALLS: usize = 10_000;

/// Paths (and HTTP methods) are the client's to choose: thousands of made-up ones, on both
/// ports, count as `unmatched` and leave `/metrics` with the series it had and the server's
/// memory where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_paths_add_no_series_and_no_memory() {
    let server = Binary::start(&[], &[]).await;
    let pid = server.child.id().unwrap();
    let rest = http1();
    let series = || async {
        let text = rest
            .get(format!("http://{}/metrics", server.rest_addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let series: BTreeSet<String> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' ').map(|(series, _count)| series.to_owned()))
            .collect();
        (series, text)
    };

    // A first round and a first scrape, so that every series exists and the server's memory
    // has settled before counting.
    call_made_up_paths(&server, &rest, 0..SETTLING_CALLS).await;
    series().await;
    let (before, _) = series().await;
    let rss_before = rss_kib(pid);
    call_made_up_paths(&server, &rest, SETTLING_CALLS..SETTLING_CALLS + MADE_UP_CALLS).await;
    let (after, text) = series().await;
    let rss_after = rss_kib(pid);

    let changed: Vec<_> = after.symmetric_difference(&before).collect();
    assert!(
        changed.is_empty(),
        "{} series came or went after made-up paths, among them {:?}",
        changed.len(),
        &changed[..changed.len().min(5)]
    );
    for line in [
        format!(
            r#"rpc_calls_total{{protocol="grpc",method="unmatched",status="Unimplemented"}} {}"#,
            SETTLING_CALLS + MADE_UP_CALLS
        ),
        format!(
            r#"rpc_calls_total{{protocol="rest",method="GET unmatched",status="404"}} {}"#,
            (SETTLING_CALLS + MADE_UP_CALLS) / 2
        ),
        format!(
            r#"rpc_calls_total{{protocol="rest",method="OTHER unmatched",status="404"}} {}"#,
            (SETTLING_CALLS + MADE_UP_CALLS) / 2
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(
        rss_after < rss_before + MAX_RSS_GROWTH_KIB,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// Calls made-up gRPC methods and REST paths (half with made-up HTTP methods), 32 at a time.
async fn call_made_up_paths(
    server: &Binary,
    rest: &reqwest::Client,
    calls: std::ops::Range<usize>,
) {
    // A new HTTP/2 connection every few hundred calls: the server answers an unknown method
    // before it reads the request's body, so each such call ends in a reset stream, and after
    // 1,024 of them hyper's HTTP/2 closes the connection (ENHANCE_YOUR_CALM), which guards it
    // against clients that provoke resets. Each connection is closed once its calls are made,
    // so that what the server holds for open connections (a hundred idle ones hold about
    // 8 MB) is not counted as memory the made-up paths took.
    let starts: Vec<usize> = calls.clone().step_by(500).collect();
    for start in starts {
        let grpc = http2();
        let chunk = start..(start + 500).min(calls.end);
        made_up_calls(server, rest, &grpc, chunk).await;
    }
}

/// `calls` made-up calls on the one gRPC client `grpc`, 32 at a time.
async fn made_up_calls(
    server: &Binary,
    rest: &reqwest::Client,
    grpc: &reqwest::Client,
    calls: std::ops::Range<usize>,
) {
    stream::iter(calls)
        .map(|i| async move {
            let grpc_reply = grpc
                .post(format!("http://{}/x{i}.Svc/Method{i}", server.grpc_addr))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(&b"\0\0\0\0\0"[..])
                .send()
                .await
                .unwrap();
            assert_eq!(grpc_reply.headers()["grpc-status"], "12", "UNIMPLEMENTED");
            let verb = if i % 2 == 0 { "GET".to_owned() } else { format!("VERB{i}") };
            let verb = reqwest::Method::from_bytes(verb.as_bytes()).unwrap();
            let rest_reply = rest
                .request(verb, format!("http://{}/made-up/{i}", server.rest_addr))
                .send()
                .await
                .unwrap();
            assert_eq!(rest_reply.status(), 404);
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}
