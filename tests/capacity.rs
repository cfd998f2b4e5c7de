//! An operator asks compare how many calls a second each protocol serves within a latency
//! objective (`--slo p99=100ms`), or walks the offered rate up a schedule
//! (`--rate step:START..END+STEP@DURATION`) to draw latency against load.

mod common;

use common::compare_runs;
use serde_json::Value;

/// `compare` with `args`, measuring unary calls from 8 in flight.
async fn compare(args: &[&str]) -> (bool, String, String) {
    let settings = ["--warmup", "0.2", "--workloads", "unary", "--concurrency", "8"];
    compare_runs::run(&[&settings[..], args].concat()).await
}

// The objectives here are far above loopback's latency: these tests check the search, not the
// speed, and at 20 ms a shared machine's stalls (tens of ms) once failed every confirmation run.
#[tokio::test]
async fn a_search_finds_each_cells_capacity_and_shows_every_step() {
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h1",
        "--slo",
        "p99=100ms",
        "--slo-step-duration",
        "0.5",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "{stderr}");
    let output = compare_runs::report(&stdout);
    assert_eq!(output["run"]["settings"]["slo"]["objective"], "p99<=100ms");
    let rows = compare_runs::rows(&output);
    assert_eq!(rows.len(), 2, "one row per cell: {stdout}");
    for row in rows {
        let cell = row["cell"].as_str().unwrap();
        let capacity = &row["capacity"];
        assert_eq!(capacity["objective"], "p99<=100ms", "{cell}");
        let served = capacity["calls_per_s"]
            .as_f64()
            .unwrap_or_else(|| panic!("{cell}: no capacity found: {}", capacity["unmet"]));
        let steps = capacity["steps"].as_array().unwrap();
        assert!(steps.len() >= 3, "{cell}: a probe's half, then growth and bisection: {steps:?}");
        let offered = |step: &Value| step["offered_per_s"].as_f64().unwrap();
        // The capacity is a rate that held over a confirmation run, three steps long: no call
        // failed, the calls offered were made, and p99 was within 100 ms.
        let confirmation = |step: &&Value| step["confirmation"] == true;
        let at = steps
            .iter()
            .filter(confirmation)
            .find(|step| offered(step) == served)
            .expect("a confirmation run at capacity");
        assert_eq!(at["met"], true, "{cell}: {at}");
        assert!(at["calls"].as_f64().unwrap() >= 0.98 * served * 1.5, "3 steps of 0.5 s: {at}");
        assert_eq!(at["errors"], 0, "{cell}: {at}");
        assert!(at["achieved_per_s"].as_f64().unwrap() >= 0.98 * served, "{cell}: {at}");
        assert!(at["p99_us"].as_u64().unwrap() <= 100_000, "{cell}: {at}");
        assert_eq!(capacity["p99_us"], at["p99_us"], "{cell}");
        // No confirmation run above it held, and a rate above it missed: the search bracketed
        // it (a short step above it may have met, then failed its confirmation).
        for step in steps.iter().filter(confirmation).filter(|step| offered(step) > served) {
            assert_eq!(step["met"], false, "{cell}: {step} is above the capacity {served}");
        }
        let missed_above: Vec<&Value> =
            steps.iter().filter(|step| offered(step) > served && step["met"] == false).collect();
        assert!(!missed_above.is_empty(), "{cell}: {steps:?}");
        for step in missed_above {
            assert!(step["missed"].as_str().is_some_and(|why| !why.is_empty()), "{step}");
        }
        assert!(capacity["server_cpu_ms_per_1000_calls"].as_f64().is_some(), "{cell}");
    }
}

#[tokio::test]
async fn the_table_and_the_verdict_say_what_each_cell_serves_within_the_objective() {
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h1",
        "--slo",
        "p99=100ms",
        "--slo-step-duration",
        "0.5",
    ])
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.lines().next().unwrap().contains("calls/s at p99<=100ms"), "{stdout}");
    let verdict = stdout
        .lines()
        .find(|line| line.contains("At p99 ≤ 100ms and 8 in flight, "))
        .unwrap_or_else(|| panic!("no capacity verdict: {stdout}"));
    assert!(verdict.contains(" serves ") && verdict.contains("calls/s"), "{verdict}");
    assert!(verdict.contains("grpc") && verdict.contains("rest-json-h1"), "{verdict}");
    assert!(stdout.contains("capacity at p99<=100ms"), "the load line names the search: {stdout}");
}

#[tokio::test]
async fn an_objective_no_rate_can_meet_is_said_plainly() {
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc",
        "--slo",
        "p99=1us",
        "--slo-step-duration",
        "0.5",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "no call failed, so the run itself did not: {stderr}");
    let output = compare_runs::report(&stdout);
    let capacity = &compare_runs::rows(&output)[0]["capacity"];
    assert_eq!(capacity["calls_per_s"], Value::Null, "{capacity}");
    let unmet = capacity["unmet"].as_str().unwrap();
    assert!(unmet.starts_with("not met at any rate tried, down to "), "{unmet}");
    assert!(unmet.contains("> 1us"), "it names the limit broken: {unmet}");
    let steps = capacity["steps"].as_array().unwrap();
    assert!(steps.iter().all(|step| step["met"] == false), "{steps:?}");

    let (_, table, _) =
        compare(&["--cells", "grpc", "--slo", "p99=1us", "--slo-step-duration", "0.5"]).await;
    assert!(table.contains("no rate tried met it for grpc"), "{table}");
}

#[tokio::test]
async fn a_malformed_objective_is_refused_naming_the_form() {
    for objective in ["99=5ms", "p99=5", "p99<5ms", "p101=5ms"] {
        let (ok, _, stderr) = compare(&["--slo", objective]).await;
        assert!(!ok, "{objective}");
        assert!(stderr.contains("pPERCENTILE=LATENCY"), "{objective}: {stderr}");
    }
    let (ok, _, stderr) = compare(&["--slo", "p99=5ms", "--rate", "1000"]).await;
    assert!(!ok);
    assert!(stderr.contains("--slo searches the rate itself"), "{stderr}");
}

#[tokio::test]
async fn a_step_schedule_measures_each_rate_as_a_row() {
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h1",
        "--rate",
        "step:200..600+200@0.5s",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "{stderr}");
    let output = compare_runs::report(&stdout);
    assert_eq!(output["run"]["settings"]["rate_schedule"], "step:200..600+200@0.5s");
    let rows = compare_runs::rows(&output);
    for cell in ["grpc", "rest-json-h1"] {
        let steps: Vec<&Value> = rows.iter().filter(|row| row["cell"] == cell).collect();
        let offered: Vec<f64> =
            steps.iter().map(|row| row["offered_per_second"].as_f64().unwrap()).collect();
        assert_eq!(offered, [200.0, 400.0, 600.0], "{cell}");
        for row in steps {
            let (offered, made) = (
                row["offered_per_second"].as_f64().unwrap(),
                row["requests_per_second"].as_f64().unwrap(),
            );
            assert!(made > 0.8 * offered && made < 1.05 * offered, "{cell}: {made} of {offered}");
            assert_eq!(row["errors"], 0, "{cell}");
        }
    }
}

#[tokio::test]
async fn a_malformed_schedule_is_refused_naming_the_forms() {
    for rate in ["step:600..200+200", "ramp:1..2+1", "step:100..200+10@soon", "0"] {
        let (ok, _, stderr) = compare(&["--rate", rate]).await;
        assert!(!ok, "{rate}");
        assert!(stderr.contains("step:START..END+STEP"), "{rate}: {stderr}");
    }
}
