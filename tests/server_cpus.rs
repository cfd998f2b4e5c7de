//! A user measures the server under a CPU budget: `compare --server-cpus N` starts it in a
//! cgroup of its own with a quota of N cores and reports how often the quota throttled it;
//! `--server-cores LIST` pins it. Both are named in the provenance, refused for a target, and
//! a machine without a writable cgroup gets an error that says what is missing.

mod common;

use std::path::Path;

use common::outside::json_printed;
use serde_json::Value;
use tokio::process::Command;

/// Runs `compare` for a short while on one workload, with `args` and `envs`.
async fn compare(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .arg("compare")
        .args(["--warmup", "0.2", "--duration", "0.5", "--workloads", "unary", "--concurrency"])
        .arg("4")
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .await
        .expect("run compare")
}

/// Whether a quota could be set here; if not, says why the test is skipped, or fails it under
/// `CI=true`, as the tests of outside tools do (`common::tools`): CI runs as root with a
/// writable cgroup, and a quota test that passed by doing nothing would hide a regression.
fn quota_settable(output: &std::process::Output) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.contains("needs a writable cgroup") {
        return true;
    }
    common::tools::missing(format!("no writable cgroup for --server-cpus here: {stderr}"));
    false
}

#[tokio::test]
async fn a_quota_throttles_the_server_and_the_report_says_so() {
    let output =
        compare(&["--cells", "grpc,rest-json-h1", "--server-cpus", "0.2", "--format", "json"], &[])
            .await;
    if !quota_settable(&output) {
        return;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report = json_printed("compare --server-cpus 0.2", &output);
    let rows = report["measurements"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    let mut throttled = 0;
    for row in rows {
        let label = format!("{} {}", row["cell"], row["workload"]);
        assert_eq!(row["errors"], 0, "{label}: {}", row["first_error"]);
        let throttling = &row["server_throttling"];
        assert!(throttling["periods"].as_u64().unwrap() > 0, "{label}: {throttling}");
        assert!(throttling["throttled_ms"].as_f64().is_some(), "{label}: {throttling}");
        throttled += throttling["throttled_periods"].as_u64().unwrap();
    }
    // Four calls in flight want far more than a fifth of a core.
    assert!(throttled > 0, "a 0.2-core quota throttled no period: {rows:?}");

    let run = &report["run"];
    assert_eq!(run["settings"]["server_cpus"], 0.2, "{run}");
    let cgroup = &run["server"]["cgroup"];
    assert!(matches!(cgroup["version"].as_str(), Some("v1" | "v2")), "{cgroup}");
    assert_eq!(
        (cgroup["quota_us"].as_u64(), cgroup["period_us"].as_u64()),
        (Some(20_000), Some(100_000))
    );
    let group = cgroup["path"].as_str().unwrap();
    assert!(group.contains("rpc-vs-rest-compare-"), "{group}");
    assert!(!Path::new(group).exists(), "the group {group} outlived compare");

    // The table: a throttling column, and the quota under it.
    let output = compare(&["--cells", "grpc", "--server-cpus", "0.2"], &[]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().next().unwrap().contains("srv throttled"), "{stdout}");
    let quota = stdout.lines().find(|line| line.starts_with("server cpu quota: ")).unwrap();
    assert!(quota.contains("0.2 cores") && quota.contains("20000 µs every 100000 µs"), "{quota}");
}

#[tokio::test]
async fn pinned_cores_are_the_servers_and_named_in_the_provenance() {
    let core = first_own_core();
    let output =
        compare(&["--cells", "grpc", "--server-cores", &core.to_string(), "--format", "json"], &[])
            .await;
    let report = json_printed("compare --server-cores", &output);
    let run = &report["run"];
    assert_eq!(run["settings"]["server_cores"], core.to_string(), "{run}");
    assert_eq!(run["machine"]["server_cores"], 1, "the server may run on one core: {run}");
    assert_eq!(run["settings"]["server_cpus"], Value::Null);
    let row = &report["measurements"][0];
    assert_eq!(row["errors"], 0, "{}", row["first_error"]);
    assert!(row.get("server_throttling").is_none(), "no quota, no throttling: {row}");
}

#[tokio::test]
async fn without_a_cgroup_the_error_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("mountinfo");
    std::fs::write(&empty, "").unwrap();
    let output = compare(
        &["--cells", "grpc", "--server-cpus", "0.5"],
        &[("RPC_VS_REST_MOUNTINFO", empty.to_str().unwrap()), ("RUST_BACKTRACE", "0")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for said in [
        "--server-cpus needs a writable cgroup",
        "no cgroup v2 with the cpu controller and no v1 cpu controller",
        "no cgroup2 mount",
        "no cgroup mount with the cpu controller",
        empty.to_str().unwrap(),
    ] {
        assert!(stderr.contains(said), "{said:?} not in: {stderr}");
    }
}

#[tokio::test]
async fn server_conditions_are_refused_for_a_target_and_cores_we_do_not_have() {
    for flag in [["--server-cpus", "1"], ["--server-cores", "0"], ["--server-runtime", "per-core"]]
    {
        let output = compare(&["--rest-target", "127.0.0.1:1", flag[0], flag[1]], &[]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("{} applies to the server compare starts", flag[0])),
            "{stderr}"
        );
    }
    let output = compare(&["--server-cores", "100000"], &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("core 100000 is not among the cores compare may run on"), "{stderr}");
}

/// The first core this test may run on (the server must be given one of compare's own).
fn first_own_core() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).unwrap();
    let first = list.trim().split([',', '-']).next().unwrap();
    first.parse().unwrap()
}
