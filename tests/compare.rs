//! A user runs `rpc-vs-rest compare` with no server running: it starts its own, measures every
//! cell, checks every reply, and prints the table in the format asked for.

mod common;

use common::{browser::Browser, compare_runs};
use serde_json::Value;
use tokio::process::Command;

/// The measurements of `compare --format json`'s output, from a report that says it is
/// compare's.
fn measurements(stdout: &str) -> Vec<Value> {
    let output = compare_runs::report(stdout);
    assert!(output["run"]["command"].as_str().is_some_and(|c| c.contains("compare")), "{output}");
    compare_runs::rows(&output).to_vec()
}

/// Every row made calls, and none of them failed (a wrong reply counts as a failure).
fn assert_every_call_succeeded(rows: &[Value]) {
    for row in rows {
        let label = format!("{} {}", row["cell"], row["workload"]);
        assert_eq!(row["errors"], 0, "{label}: {}", row["first_error"]);
        assert!(row["calls"].as_u64().unwrap() > 0, "{label}");
    }
}

/// `compare` with `args`, briefly: these tests check what it measures and prints, not speed.
async fn compare(args: &[&str]) -> (bool, String, String) {
    compare_runs::run(&[&["--warmup", "200ms", "--duration", "500ms"], args].concat()).await
}

#[tokio::test]
async fn compare_measures_every_cell_with_checked_replies() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "unary,batch-100", "--concurrency", "4", "--format", "json"])
            .await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    assert_eq!(rows.len(), 18, "9 cells (gRPC, REST, Connect) × 2 workloads");
    assert_every_call_succeeded(&rows);
    for row in &rows {
        let label = format!("{} {}", row["cell"], row["workload"]);
        assert!(row["requests_per_second"].as_f64().unwrap() > 0.0, "{label}");
        assert!(row["p50_us"].as_u64().unwrap() <= row["p99_us"].as_u64().unwrap(), "{label}");
        assert!(row["request_bytes_per_call"].as_f64().unwrap() > 0.0, "{label}");
        assert!(row["server_cpu_ms_per_1000_calls"].as_f64().is_some(), "{label}");
    }
    let batch = |cell: &str| {
        rows.iter()
            .find(|r| r["cell"] == cell && r["workload"] == "batch-100")
            .map(|r| r["response_bytes_per_call"].as_f64().unwrap())
            .unwrap()
    };
    assert!(
        batch("rest-proto-h2") < batch("rest-json-h2"),
        "protobuf replies are smaller than JSON"
    );
    let conns = |cell: &str| {
        rows.iter().find(|r| r["cell"] == cell).unwrap()["connections"].as_u64().unwrap()
    };
    assert_eq!(conns("grpc"), 1);
    assert_eq!(conns("rest-json-h1"), 4);
}

#[tokio::test]
async fn compare_prints_a_table_and_markdown() {
    let (ok, stdout, stderr) =
        compare(&["--cells", "grpc,rest-json-h1", "--workloads", "unary", "--concurrency", "1"])
            .await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("cell "), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("grpc ")), "{stdout}");
    let (ok, stdout, _) = compare(&[
        "--cells",
        "grpc",
        "--workloads",
        "unary",
        "--concurrency",
        "1",
        "--format",
        "markdown",
    ])
    .await;
    assert!(ok);
    assert!(stdout.starts_with("| cell |"), "{stdout}");
}

#[tokio::test]
async fn compare_refuses_unknown_cells_clearly() {
    let (ok, _, stderr) = compare(&["--cells", "soap"]).await;
    assert!(!ok);
    assert!(stderr.contains("unknown cell \"soap\""), "{stderr}");
}

/// A user types durations as wrk, oha, ghz and h2load take them: with a unit, or bare seconds.
#[tokio::test]
async fn durations_take_units_and_a_bare_number_is_seconds() {
    let run = |warmup: &'static str, duration: &'static str| async move {
        let (ok, stdout, stderr) = compare_runs::run(&[
            "--cells",
            "rest-json-h1",
            "--workloads",
            "unary",
            "--concurrency",
            "1",
            "--format",
            "json",
            "--warmup",
            warmup,
            "--duration",
            duration,
        ])
        .await;
        assert!(ok, "--warmup {warmup} --duration {duration}: {stderr}");
        let report = compare_runs::report(&stdout);
        let settings = &report["run"]["settings"];
        (
            settings["warmup_seconds"].as_f64().unwrap(),
            settings["duration_seconds"].as_f64().unwrap(),
        )
    };
    assert_eq!(run("100ms", "0.3s").await, (0.1, 0.3));
    assert_eq!(run("0", "0.25").await, (0.0, 0.25));

    let (refused, _, stderr) = compare_runs::run(&["--duration", "10x"]).await;
    assert!(!refused);
    assert!(
        stderr.contains("\"10x\" is not a duration") && stderr.contains("500ms, 10s, 2m"),
        "{stderr}"
    );
    for subcommand in ["compare", "serve"] {
        let help = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
            .args([subcommand, "--help"])
            .output()
            .await
            .unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains("Durations take a unit: 250us, 500ms, 10s, 2m"),
            "{subcommand}: {help}"
        );
    }
}

#[tokio::test]
async fn open_loop_holds_the_rate_and_writes_an_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h1",
        "--workloads",
        "unary",
        "--concurrency",
        "4",
        "--rate",
        "200",
        "--format",
        "json",
        "--report",
        report.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    for row in &rows {
        let rate = row["requests_per_second"].as_f64().unwrap();
        assert!(
            (150.0..=210.0).contains(&rate),
            "{}: {rate} req/s for a 200/s schedule",
            row["cell"]
        );
    }
    let html = std::fs::read_to_string(report).unwrap();
    assert!(
        html.contains("<svg") && html.contains("rest-json-h1") && html.contains("calls per second")
    );
    assert!(
        html.contains("open loop, 200 calls/s in all"),
        "the report says how the load was made"
    );
}

/// The payload workloads send realistic records back and forth: every cell's replies are
/// checked field by field, and JSON costs more bytes than protobuf for them.
#[tokio::test]
async fn payload_workloads_echo_complex_messages_and_records_on_every_cell() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "complex,records-20", "--concurrency", "2", "--format", "json"])
            .await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    assert_eq!(rows.len(), 18, "9 cells (gRPC, REST, Connect) × 2 workloads");
    assert_every_call_succeeded(&rows);
    let reply_bytes = |cell: &str| {
        rows.iter()
            .find(|r| r["cell"] == cell && r["workload"] == "records-20")
            .map(|r| r["response_bytes_per_call"].as_f64().unwrap())
            .unwrap()
    };
    assert!(reply_bytes("rest-json-h2") > 1.5 * reply_bytes("rest-proto-h2"));
    assert!(reply_bytes("connect-json-h2") > 1.5 * reply_bytes("connect-proto-h2"));
}

/// Compressed cells compress the request and ask for a compressed reply, on both protocols:
/// every reply still checked, and records shrink several times on the wire.
#[tokio::test]
async fn compressed_cells_send_fewer_bytes_with_checked_replies() {
    let cells = "grpc,grpc+zstd,rest-json-h1,rest-json-h1+gzip,rest-json-h2+zstd,\
                 rest-proto-h1+gzip,connect-json-h2,connect-json-h2+gzip,connect-proto-h1+zstd";
    let args = ["--cells", cells, "--workloads", "records-20", "--concurrency", "2"];
    let (ok, stdout, stderr) = compare(&[&args[..], &["--format", "json"]].concat()).await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    assert_eq!(rows.len(), 9);
    assert_every_call_succeeded(&rows);
    let bytes = |cell: &str| {
        let row = rows.iter().find(|r| r["cell"] == cell).unwrap();
        row["request_bytes_per_call"].as_f64().unwrap()
            + row["response_bytes_per_call"].as_f64().unwrap()
    };
    assert!(bytes("grpc+zstd") * 3.0 < bytes("grpc"), "{} {}", bytes("grpc+zstd"), bytes("grpc"));
    assert!(bytes("rest-json-h1+gzip") * 3.0 < bytes("rest-json-h1"));
    assert!(bytes("connect-json-h2+gzip") * 3.0 < bytes("connect-json-h2"));
    let (ok, _, stderr) = compare(&["--cells", "rest-sse-h1+gzip"]).await;
    assert!(!ok && stderr.contains("not compressed here"), "{stderr}");
}

#[tokio::test]
async fn streams_compare_grpc_ndjson_sse_and_connect() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "stream-10", "--concurrency", "2", "--format", "json"]).await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    let cells: Vec<&str> = rows.iter().map(|r| r["cell"].as_str().unwrap()).collect();
    assert_eq!(
        cells,
        [
            "grpc",
            "rest-json-h1",
            "rest-json-h2",
            "rest-sse-h1",
            "rest-sse-h2",
            "connect-json-h1",
            "connect-json-h2",
            "connect-proto-h1",
            "connect-proto-h2",
        ]
    );
    assert_every_call_succeeded(&rows);
}

/// 64 streams of 100 greetings in flight on one HTTP/2 connection, in JSON and protobuf, every
/// reply checked: the connection stays open under an `h2` client's guard against floods of
/// small DATA frames, which closed it when each JSON greeting was a frame of its own.
#[tokio::test]
async fn many_streams_in_flight_on_one_connection_all_succeed() {
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h2,connect-json-h2,connect-proto-h2",
        "--workloads",
        "stream-100",
        "--concurrency",
        "64",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "{stderr}");
    assert_every_call_succeeded(&measurements(&stdout));
}

#[tokio::test]
async fn chats_compare_grpc_bidi_streams_and_websockets_over_both_http_versions() {
    let (ok, stdout, stderr) =
        compare(&["--workloads", "chat-5", "--concurrency", "2", "--format", "json"]).await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    let cells: Vec<&str> = rows.iter().map(|r| r["cell"].as_str().unwrap()).collect();
    assert_eq!(cells, ["grpc", "rest-ws-h1", "rest-ws-h2"]);
    assert_every_call_succeeded(&rows);
}

/// What a reader of `--report` sees, rendered by a real browser: where the numbers came from,
/// the verdicts, and per cell the throughput, the latency curve, bytes and CPU, with the
/// numbers of the JSON beside them, and the change from a baseline run.
#[tokio::test]
async fn the_html_report_shows_its_provenance_verdicts_and_every_axis() {
    let Some(browser) = Browser::require() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (before, report) = (dir.path().join("before.json"), dir.path().join("report.html"));
    let shape = ["--cells", "grpc,rest-json-h1,rest-proto-h2", "--workloads", "unary"];
    let shape =
        [&shape[..], &["--concurrency", "1,4", "--repeats", "2", "--format", "json"]].concat();
    let (ok, first, stderr) = compare(&shape).await;
    assert!(ok, "{stderr}");
    std::fs::write(&before, &first).unwrap();
    let with_report =
        ["--baseline", before.to_str().unwrap(), "--report", report.to_str().unwrap()];
    let (ok, second, stderr) = compare(&[&shape[..], &with_report].concat()).await;
    assert!(ok, "{stderr}");
    let run = compare_runs::report(&second);
    let rows = measurements(&second);

    let dom = browser.dom(&report);
    let section = |id: &str| -> String {
        let start =
            dom.find(&format!("<section id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} section"));
        let end = dom[start..].find("</section>").unwrap() + start;
        dom[start..end].to_owned()
    };
    let provenance = section("provenance");
    for field in ["commit", "date"] {
        let value = run["run"][field].as_str().unwrap();
        assert!(provenance.contains(value), "the report names its {field} {value}");
    }
    assert!(provenance.contains("closed loop") && provenance.contains("median of 2"));
    let (throughput, latency, bytes, cpu) =
        (section("throughput"), section("latency"), section("bytes"), section("cpu"));
    for row in &rows {
        let cell = row["cell"].as_str().unwrap();
        let number = |field: &str| row[field].as_f64().unwrap();
        let rps = format!("{:.0} calls/s", number("requests_per_second"));
        assert!(throughput.contains(&rps), "{cell}: {rps}");
        let p99 = format!("{cell} (p99 {:.2} ms)", number("p99_us") / 1000.0);
        assert!(latency.contains(&p99), "{p99}");
        for (field, unit) in
            [("request_bytes_per_call", "request B"), ("response_bytes_per_call", "reply B")]
        {
            let shown = format!("{:.0} {unit}", number(field));
            assert!(bytes.contains(&shown), "{cell}: {shown}");
        }
        let shown = format!("{:.0} CPU ms", number("server_cpu_ms_per_1000_calls"));
        assert!(cpu.contains(&shown), "{cell}: {shown}");
        let curve = row["latency_percentiles"].as_array().unwrap();
        assert_eq!(curve.last().unwrap()["percentile"], 99.99, "the curve reaches p99.99");
    }
    // The verdicts agree with the table: the fastest cell at each concurrency, by its numbers.
    let verdicts = section("verdicts");
    for concurrency in [1, 4] {
        let fastest = rows
            .iter()
            .filter(|row| row["concurrency"] == concurrency)
            .max_by(|a, b| {
                let rps = |row: &&Value| row["requests_per_second"].as_f64().unwrap();
                rps(a).total_cmp(&rps(b))
            })
            .unwrap();
        let line = format!(
            "At {concurrency} in flight, {} is fastest: {:.0} calls/s",
            fastest["cell"].as_str().unwrap(),
            fastest["requests_per_second"].as_f64().unwrap()
        );
        assert!(verdicts.contains(&line), "{line} in {verdicts}");
    }
    assert!(verdicts.contains("Fewest bytes on the wire: rest-proto-h2"), "{verdicts}");
    let baseline = section("baseline");
    assert!(baseline.contains("req/s change") && baseline.contains("rest-proto-h2"), "{baseline}");
    assert!(section("measurements").contains("rest-json-h1"));

    // The picture in the README is this report, as this browser draws it.
    let picture = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare-report.png");
    assert!(browser.screenshot(&report, &picture, "1400,3000").success());
    assert!(std::fs::metadata(&picture).unwrap().len() > 10_000, "a screenshot of the report");
}

/// `--slo` searches each cell's capacity at a latency objective; the report draws, per cell,
/// latency against the rates offered, every step a dot, the objective across and the capacity
/// marked, with the numbers of the JSON in its legend.
#[tokio::test]
async fn the_html_report_draws_latency_against_offered_load_with_the_capacity_marked() {
    let Some(browser) = Browser::require() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let (ok, stdout, stderr) = compare(&[
        "--cells",
        "grpc,rest-json-h1",
        "--workloads",
        "unary",
        "--concurrency",
        "8",
        "--slo",
        "p99=20ms",
        "--slo-step-duration",
        "0.5",
        "--format",
        "json",
        "--report",
        report.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{stderr}");
    let rows = measurements(&stdout);
    assert_eq!(rows.len(), 2);

    let dom = browser.dom(&report);
    let start = dom.find("<section id=\"capacity\"").expect("a capacity section");
    let end = dom[start..].find("</section>").unwrap() + start;
    let capacity = &dom[start..end];
    assert!(
        dom.find("<section id=\"latency\"").is_some_and(|latency| latency < start),
        "after the latency distribution"
    );
    assert!(capacity.contains("p99 ≤ 20ms"), "the objective is drawn: {capacity}");
    let (mut steps, mut found) = (0, 0);
    for row in &rows {
        let cell = row["cell"].as_str().unwrap();
        let searched = &row["capacity"];
        assert_eq!(searched["objective"], "p99<=20ms", "{cell}");
        let line = match searched["calls_per_s"].as_f64() {
            Some(rate) => {
                found += 1;
                let p99 = searched["p99_us"].as_f64().unwrap() / 1000.0;
                format!("{cell}: capacity {rate:.0} calls/s (p99 {p99:.2} ms)")
            }
            // The browser writes the objective's `<` back escaped.
            None => format!("{cell}: no rate met p99&lt;=20ms"),
        };
        assert!(capacity.contains(&line), "{line} in {capacity}");
        let tried = searched["steps"].as_array().unwrap().len();
        assert!(tried > 0, "{cell}: the search ran steps");
        steps += tried;
    }
    assert_eq!(capacity.matches("class=\"step\"").count(), steps, "a dot per step tried");
    assert_eq!(capacity.matches("class=\"capacity\"").count(), found, "a line per capacity");

    let picture = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare-capacity.png");
    assert!(browser.screenshot(&report, &picture, "1200,2000").success());
    assert!(std::fs::metadata(&picture).unwrap().len() > 10_000, "a screenshot of the report");
}
