//! `compare` measures servers written in Go beside ours, as a user comparing stacks would: the
//! seed's gRPC greeter (grpc-go's helloworld server) and a net/http JSON greeter, both built
//! from `baselines/go` by `scripts/go_baselines.sh`. Each serves SayHello and EchoPeople (the gRPC one EchoComplex too):
//! unary and 20 records are measured with every reply checked and no error, and the workloads
//! they lack are skipped with a line saying so.

mod common;

use common::{compare_runs, tools};
use tokio::process::Child;

/// Starts the Go server `name` on a free loopback port; returns it and its address.
async fn start(name: &str) -> Option<(Child, String)> {
    tools::start_go_server(name, &[]).await
}

async fn compare(target: &[&str], cell: &str) -> (Vec<(String, String, u64, u64)>, String) {
    let load = ["--cells", cell, "--workloads", "unary,records-20,batch-10", "--concurrency", "4"];
    let brief = ["--warmup", "0.2", "--duration", "0.5", "--format", "json"];
    let (report, stderr) =
        compare_runs::report_of(&format!("compare {target:?}"), &[target, &load, &brief].concat())
            .await;
    let rows = compare_runs::rows(&report)
        .iter()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap().to_owned();
            let count = |key: &str| m[key].as_u64().unwrap();
            (text("cell"), text("workload"), count("calls"), count("errors"))
        })
        .collect();
    (rows, stderr)
}

/// Unary and records measured in `cell`, every call answered as the domain would.
fn assert_measured(rows: &[(String, String, u64, u64)], cell: &str) {
    let workloads: Vec<&str> = rows.iter().map(|(_, workload, _, _)| workload.as_str()).collect();
    assert_eq!(workloads, ["unary", "records-20"], "{rows:?}");
    for (measured, workload, calls, errors) in rows {
        assert_eq!((measured.as_str(), *errors), (cell, 0), "{workload}: {rows:?}");
        assert!(*calls > 0, "{workload}");
    }
}

#[tokio::test]
async fn compare_measures_the_seeds_go_grpc_greeter() {
    let Some((_server, addr)) = start("grpc-greeter").await else { return };
    let (rows, stderr) = compare(&["--grpc-target", &addr], "grpc").await;
    assert_measured(&rows, "grpc");
    assert!(stderr.contains("grpc batch-10: skipped, the target does not serve it"), "{stderr}");
}

#[tokio::test]
async fn compare_measures_the_go_net_http_json_greeter() {
    let Some((_server, addr)) = start("rest-greeter").await else { return };
    let (rows, stderr) = compare(&["--rest-target", &addr], "rest-json-h1").await;
    assert_measured(&rows, "rest-json-h1");
    assert!(stderr.contains("rest-json-h1 batch-10: skipped"), "{stderr}");
}
