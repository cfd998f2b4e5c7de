//! An operator runs the server with `--runtime per-core`: one current-thread runtime per usable
//! core, each serving whole connections. Both ports answer on every runtime, the connection
//! limits stay process-wide, and SIGTERM still lets a call in flight finish. The baselines
//! honour the same setting through `RPC_VS_REST_RUNTIME`.

mod common;

use std::time::Duration;

use common::{binary::Binary, tools::Example};
use contract::proto::{HelloRequest, greeter_client::GreeterClient};
use tokio::{process::Command, sync::mpsc};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};

/// CPU time each thread of `pid` has run so far, by thread name (`/proc/PID/task/*/schedstat`:
/// nanoseconds on CPU, exact where the clock-tick counts of `stat` are not).
fn thread_cpu_ns(pid: u32) -> Vec<(String, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| {
            let dir = task.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?.trim().to_owned();
            let ns = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            Some((name, ns.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The CPU time the threads named `runtime-N` ran, each.
fn runtime_threads(pid: u32) -> Vec<(String, u64)> {
    let mut threads: Vec<_> =
        thread_cpu_ns(pid).into_iter().filter(|(name, _)| name.starts_with("runtime-")).collect();
    threads.sort();
    threads
}

/// SayHello over REST JSON on HTTP/1.1: the reply's message.
async fn rest_hello(client: &reqwest::Client, url: &str, name: &str) -> String {
    let reply: serde_json::Value = client
        .post(url)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn per_core_serves_both_ports_from_every_runtime() {
    let server = Binary::start(&["--runtime", "per-core", "--profile", "lean"], &[]).await;
    let pid = server.child.id().unwrap();
    let cores = runtime::usable_cores();
    // The log says how many runtimes serve: one per usable core.
    let mut announced = None;
    for _ in 0..50 {
        let logs = server.logs.lock().await.clone();
        announced = logs
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["runtime"] == "per-core");
        if announced.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let announced = announced.expect("a log line names the runtime");
    assert_eq!(announced["runtimes"], cores as u64);
    assert_eq!(runtime_threads(pid).len(), cores - 1, "one thread per runtime besides main's");

    let before = runtime_threads(pid);
    // Twice as many connections as runtimes on each port: each runtime gets two of each.
    let connections = 2 * cores;
    let mut calls = Vec::new();
    for connection in 0..connections {
        let grpc = format!("http://{}", server.grpc_addr);
        let rest = format!("http://{}/v1/greeter/hello", server.rest_addr);
        calls.push(tokio::spawn(async move {
            let mut client = GreeterClient::connect(grpc).await.unwrap();
            let http1 = common::http1();
            for call in 0..200 {
                let name = format!("c{connection}-{call}");
                let reply = client.say_hello(HelloRequest { name: name.clone() }).await.unwrap();
                assert_eq!(reply.into_inner().message, format!("Hello {name}"));
                assert_eq!(rest_hello(&http1, &rest, &name).await, format!("Hello {name}"));
            }
        }));
    }
    for calls in calls {
        calls.await.unwrap();
    }
    // Every runtime beside main's served its share: its thread ran for the calls.
    let after = runtime_threads(pid);
    for ((name, was), (_, is)) in before.iter().zip(&after) {
        assert!(is - was > 1_000_000, "{name} ran {} µs for the calls", (is - was) / 1000);
    }
}

#[tokio::test]
async fn per_core_drains_on_sigterm_letting_the_call_in_flight_finish() {
    let mut server =
        Binary::start(&["--runtime", "per-core", "--shutdown-timeout", "3s"], &[]).await;
    let url = format!("http://{}", server.grpc_addr);
    // Calls on as many connections as runtimes, so that one is on a runtime of its own thread.
    let mut held = Vec::new();
    for connection in 0..runtime::usable_cores() {
        let mut client = GreeterClient::connect(url.clone()).await.unwrap();
        let (requests, outbound) = mpsc::channel(4);
        requests.send(HelloRequest { name: format!("before {connection}") }).await.unwrap();
        let mut replies =
            client.say_hello_bidi_stream(ReceiverStream::new(outbound)).await.unwrap().into_inner();
        let first = replies.next().await.unwrap().unwrap().message;
        assert_eq!(first, format!("Hello before {connection}"));
        held.push((client, requests, replies, connection));
    }

    server.sigterm().await;
    for (client, requests, mut replies, connection) in held {
        requests.send(HelloRequest { name: format!("after {connection}") }).await.unwrap();
        let reply = replies.next().await.unwrap().unwrap().message;
        assert_eq!(reply, format!("Hello after {connection}"));
        drop(requests);
        assert!(replies.next().await.is_none(), "the call ends with status OK");
        drop(client);
    }
    let status = tokio::time::timeout(Duration::from_secs(8), server.child.wait())
        .await
        .expect("the process exits after the drain")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn an_unknown_runtime_is_refused_naming_the_choices() {
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .env("RPC_VS_REST_RUNTIME", "green-threads")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("green-threads") && stderr.contains("per-core"), "stderr: {stderr}");
}

/// The same-API baselines read `RPC_VS_REST_RUNTIME` as `serve` does, so the ladder compares
/// like with like.
#[tokio::test]
async fn the_baselines_serve_per_core_from_the_environment() {
    for (example, grpc) in [("same_api_tonic", true), ("same_api_axum", false)] {
        let Some(server) = Example::start(example, &[("RPC_VS_REST_RUNTIME", "per-core")]).await
        else {
            return;
        };
        let (addr, pid) = (server.addr, server.child.id().unwrap());
        // More connections than runtimes: every runtime answers its share.
        for connection in 0..2 * runtime::usable_cores() {
            let name = format!("{example} {connection}");
            let message = if grpc {
                let mut client = GreeterClient::connect(format!("http://{addr}")).await.unwrap();
                client
                    .say_hello(HelloRequest { name: name.clone() })
                    .await
                    .unwrap()
                    .into_inner()
                    .message
            } else {
                rest_hello(&common::http1(), &format!("http://{addr}/v1/greeter/hello"), &name)
                    .await
            };
            assert_eq!(message, format!("Hello {name}"), "{example}");
        }
        assert_eq!(
            runtime_threads(pid).len(),
            runtime::usable_cores() - 1,
            "{example}: one thread per runtime besides main's"
        );
    }
}

/// compare's own clients can run on one thread (`--client-runtime current-thread`), and every
/// reply is still checked; the provenance says which runtime measured.
#[tokio::test]
async fn compare_runs_its_clients_on_one_thread_when_asked() {
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .args(["compare", "--client-runtime", "current-thread", "--server-runtime", "per-core"])
        .args(["--cells", "grpc,rest-json-h1,rest-json-h2", "--workloads", "unary,batch-10"])
        .args(["--concurrency", "8", "--warmup", "0.1", "--duration", "0.3", "--format", "json"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["run"]["settings"]["client_runtime"], "current-thread");
    assert_eq!(report["run"]["server"]["runtime"], "per-core");
    let measurements = report["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 6, "three cells, two workloads");
    for measurement in measurements {
        assert_eq!(measurement["errors"], 0, "{measurement}");
        assert!(measurement["calls"].as_u64().unwrap() > 0, "{measurement}");
    }
}
