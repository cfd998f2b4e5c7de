//! Envoy's gRPC-JSON transcoder as a third REST front door (`compare --via transcoder`), beside
//! our own REST port and grpc-gateway: in front of our gRPC port and in front of the seed's
//! grpc-go greeter, every reply checked; the cells it cannot carry skipped with the reason;
//! and every route of the contract's HTTP rules answered by both front doors as our REST port
//! answers it.

mod common;

use std::{net::SocketAddr, path::PathBuf};

use common::{binary::Binary, compare_runs, http1, tools};
use contract::rest_api::{HTTP_RULES, RuleMethod};
use serde_json::{Value, json};

fn envoy() -> Option<PathBuf> {
    tools::require("envoy")
}

/// `compare --via transcoder` with `args`; its JSON report and what it said on stderr.
async fn through_transcoder(envoy: &std::path::Path, args: &[&str]) -> (Value, String) {
    let envoy = envoy.to_str().unwrap();
    let mut all = vec!["--via", "transcoder", "--envoy", envoy, "--format", "json"];
    all.extend_from_slice(&["--concurrency", "4", "--warmup", "0.2", "--duration", "0.5"]);
    all.extend_from_slice(args);
    compare_runs::report_of("compare --via transcoder", &all).await
}

/// The (cell, workload) pairs measured, each with calls and not one error.
fn measured(report: &Value) -> Vec<(String, String)> {
    compare_runs::rows(report)
        .iter()
        .map(|row| {
            let label = format!("{} {}", row["cell"], row["workload"]);
            assert_eq!(row["errors"], 0, "{label}: {}", row["first_error"]);
            assert!(row["calls"].as_u64().unwrap() > 0, "{label}");
            let cell = row["cell"].as_str().unwrap().to_owned();
            (cell, row["workload"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn pairs(cells: &[&str], workloads: &[&str]) -> Vec<(String, String)> {
    workloads
        .iter()
        .flat_map(|w| cells.iter().map(move |c| (c.to_string(), w.to_string())))
        .collect()
}

#[tokio::test]
async fn compare_measures_the_transcoder_in_front_of_our_grpc_port() {
    let Some(envoy) = envoy() else { return };
    let cells = ["--cells", "grpc,rest-json-h1,rest-json-h2,rest-proto-h1,rest-sse-h1"];
    let workloads = ["--workloads", "unary,records-20,complex,batch-10"];
    let (report, stderr) = through_transcoder(&envoy, &[&cells[..], &workloads].concat()).await;
    let expected = pairs(
        &["grpc", "rest-json-h1", "rest-json-h2"],
        &["unary", "records-20", "complex", "batch-10"],
    );
    assert_eq!(measured(&report), expected, "{stderr}");
    let skipped = &report["run"]["proxy"]["skipped"];
    assert_eq!(skipped[0]["cell"], "rest-proto-h1", "{skipped}");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("JSON bodies only"), "{skipped}");
    // rest-sse-h1 carries streams only, none of these workloads: not measured, not skipped.
}

#[tokio::test]
async fn compare_measures_the_transcoder_in_front_of_the_seeds_go_grpc_greeter() {
    let Some(envoy) = envoy() else { return };
    let Some((_greeter, backend)) = tools::start_go_server("grpc-greeter", &[]).await else {
        return;
    };
    let args = [
        "--grpc-target",
        &backend,
        "--cells",
        "rest-json-h1,rest-json-h2",
        "--workloads",
        "unary,records-20,complex,batch-10",
    ];
    let (report, stderr) = through_transcoder(&envoy, &args).await;
    // The seed's greeter has no SayHelloBatch: the transcoder answers its route 501 (gRPC's
    // UNIMPLEMENTED), which compare reads as a method the target lacks.
    let expected = pairs(&["rest-json-h1", "rest-json-h2"], &["unary", "records-20", "complex"]);
    assert_eq!(measured(&report), expected, "{stderr}");
    assert!(stderr.contains("batch-10: skipped, the target does not serve it"), "{stderr}");
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The transcoder in front of `grpc`, run from the bootstrap compare prints and the descriptor
/// it writes (its placeholder ports moved to free ones); its REST (HTTP/1.1) address.
async fn standalone_transcoder(
    envoy: &std::path::Path,
    grpc: SocketAddr,
    dir: &std::path::Path,
) -> (tokio::process::Child, SocketAddr) {
    let (ok, bootstrap, stderr) = compare_runs::run(&[
        "--via",
        "transcoder",
        "--envoy",
        envoy.to_str().unwrap(),
        "--grpc-target",
        &grpc.to_string(),
        "--print-proxy-config",
    ])
    .await;
    assert!(ok, "{stderr}");
    // A port found free may be taken by another test before Envoy binds it: Envoy then exits,
    // and the transcoder starts again on other ports.
    for _ in 0..3 {
        if let Some(started) = start_transcoder(envoy, &bootstrap, dir).await {
            return started;
        }
    }
    panic!("the transcoder did not start in 3 tries");
}

/// Envoy with `bootstrap`'s placeholders replaced by free ports, once it listens; `None` when
/// it exited first (a port taken meanwhile).
async fn start_transcoder(
    envoy: &std::path::Path,
    bootstrap: &str,
    dir: &std::path::Path,
) -> Option<(tokio::process::Child, SocketAddr)> {
    let rest = free_port();
    let mut bootstrap = bootstrap.replace("port_value: 9080 }", &format!("port_value: {rest} }}"));
    for placeholder in [9090, 9091, 9081, 9901] {
        let port = free_port();
        bootstrap = bootstrap
            .replace(&format!("port_value: {placeholder} }}"), &format!("port_value: {port} }}"));
    }
    let descriptor = dir.join("greeter.pb");
    std::fs::write(&descriptor, compare::transcoder_descriptor_set().unwrap()).unwrap();
    let bootstrap = bootstrap.replace(
        "proto_descriptor: greeter.pb",
        &format!("proto_descriptor: {}", descriptor.display()),
    );
    let file = dir.join("envoy.yaml");
    std::fs::write(&file, bootstrap).unwrap();
    let mut child = tokio::process::Command::new(envoy)
        .args(["--disable-hot-restart", "--log-level", "warning", "-c"])
        .arg(&file)
        .kill_on_drop(true)
        .spawn()
        .expect("start Envoy");
    let address = SocketAddr::from(([127, 0, 0, 1], rest));
    for _ in 0..500 {
        if std::net::TcpStream::connect(address).is_ok() {
            return Some((child, address));
        }
        if child.try_wait().expect("Envoy's status").is_some() {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the transcoder did not listen on {address}");
}

/// A request for each rule: its path with a name filled in, and a body the domain accepts.
fn request_of(rpc: &str, path: &str) -> (String, Value) {
    let path = path.replace("{name}", "Ada");
    let body = match rpc {
        "SayHello" | "SayHelloAgain" => json!({"name": "World"}),
        "SayHelloBatch" => json!({"names": ["Ada", "Grace"]}),
        // compare's own payloads, in proto3 JSON.
        "EchoComplex" => serde_json::to_value(compare::payload::complex()).unwrap(),
        "EchoPeople" => serde_json::to_value(compare::payload::people(3)).unwrap(),
        other => panic!("no request for {other}: add one"),
    };
    (path, body)
}

#[tokio::test]
async fn both_front_doors_answer_every_route_of_the_contract_as_our_rest_port_does() {
    let Some(envoy) = envoy() else { return };
    let server = Binary::start(&[], &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (_transcoder, transcoder) =
        standalone_transcoder(&envoy, server.grpc_addr, dir.path()).await;
    let gateway =
        tools::start_go_server("rest-gateway", &["-backend", &server.grpc_addr.to_string()]).await;
    let client = http1();
    let ask = |base: String, method: RuleMethod, path: String, body: Value| {
        let url = format!("http://{base}{path}");
        let request = match method {
            RuleMethod::Get => client.get(url),
            RuleMethod::Post => client.post(url).json(&body),
        };
        async move {
            let response = request.send().await.expect("a reply");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut doors = vec![("the transcoder", transcoder.to_string())];
    if let Some((_, address)) = &gateway {
        doors.push(("grpc-gateway", address.clone()));
    }
    // A refusal: the same HTTP status as ours (400 for INVALID_ARGUMENT), in each front door's
    // own shape: the transcoder's is google.rpc.Status as JSON, `{"code": 3, "message": …}`,
    // ours `{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": …}}`.
    let empty = json!({"name": ""});
    let (status, ours) = ask(
        server.rest_addr.to_string(),
        RuleMethod::Post,
        "/v1/greeter/hello".into(),
        empty.clone(),
    )
    .await;
    let (their_status, theirs) =
        ask(transcoder.to_string(), RuleMethod::Post, "/v1/greeter/hello".into(), empty).await;
    assert_eq!((status, their_status), (400, 400), "{ours} {theirs}");
    assert_eq!(theirs["code"], 3, "{theirs}");
    assert_eq!(theirs["message"], ours["error"]["message"], "{theirs} {ours}");
    for rule in HTTP_RULES {
        let (path, body) = request_of(rule.rpc, rule.path);
        let ours = ask(server.rest_addr.to_string(), rule.method, path.clone(), body.clone()).await;
        assert_eq!(ours.0, 200, "our REST port: {} {path}: {}", rule.rpc, ours.1);
        for (door, base) in &doors {
            let theirs = ask(base.clone(), rule.method, path.clone(), body.clone()).await;
            assert_eq!(theirs, ours, "{door}: {:?} {path} ({})", rule.method, rule.rpc);
        }
    }
}
