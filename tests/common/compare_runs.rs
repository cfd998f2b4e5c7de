//! Running the binary's `compare` subcommand as a user does, and reading the rows of the report
//! it prints with `--format json` (`{"run": …, "measurements": […]}`).

use serde_json::Value;
use tokio::process::Command;

use super::outside;

/// `rpc-vs-rest compare` with `args`, ready to run.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(super::binary_path());
    command.arg("compare").args(args);
    command
}

/// Runs `compare` with `args` to the end: whether it succeeded, what it printed on stdout and
/// on stderr. For the tests that check a refusal as well as a report.
pub async fn run(args: &[&str]) -> (bool, String, String) {
    let output = command(args).output().await.expect("run compare");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `compare` with `args` (`--format json` among them) and returns its report and what it
/// said on stderr; fails the test, naming `what` and showing stderr, if it did not succeed.
pub async fn report_of(what: &str, args: &[&str]) -> (Value, String) {
    let output = outside::run_ok(what, &mut command(args)).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (outside::json_printed("compare", &output), stderr)
}

/// The report `compare --format json` printed.
pub fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap()
}

/// A report's rows: one per cell, workload, concurrency and rate measured.
pub fn rows(report: &Value) -> &[Value] {
    report["measurements"].as_array().unwrap()
}

/// Through a proxy compare started: every row made calls, none failed (a wrong reply counts as
/// a failure), and the proxy's CPU is reported beside the server's.
pub fn assert_every_call_went_through_the_proxy(rows: &[Value]) {
    for row in rows {
        let label = format!("{} {}", row["cell"], row["workload"]);
        assert_eq!(row["errors"], 0, "{label}: {}", row["first_error"]);
        assert!(row["calls"].as_u64().unwrap() > 0, "{label}");
        assert!(row["proxy_cpu_ms_per_1000_calls"].is_number(), "{label}: {row}");
        assert!(row["server_cpu_ms_per_1000_calls"].is_number(), "{label}: {row}");
    }
}
