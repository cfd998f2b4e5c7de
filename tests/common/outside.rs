//! Running an outside program a test drives (a stock client, a browser script, `compare`): run
//! it to the end, fail the test with what it said if it failed, and read the JSON it printed.

use std::process::Output;

use serde_json::Value;
use tokio::process::Command;

/// Runs `command` to the end; fails the test, naming `what` and showing its stderr, if it could
/// not start or exited unsuccessfully.
pub async fn run_ok(what: &str, command: &mut Command) -> Output {
    let output =
        command.output().await.unwrap_or_else(|error| panic!("could not run {what}: {error}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed ({}):\n{stderr}", output.status);
    output
}

/// Runs `command` as [`run_ok`] does and returns the JSON value it printed on stdout.
pub async fn json_of(what: &str, command: &mut Command) -> Value {
    json_printed(what, &run_ok(what, command).await)
}

/// The JSON value a program printed on stdout; fails the test, showing what it printed instead,
/// if there is none.
pub fn json_printed(what: &str, output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        panic!("{what} printed no JSON ({error}):\n{stdout}\n{stderr}")
    })
}
