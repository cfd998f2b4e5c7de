//! Comparing two runs: a previous run's JSON (`compare --format json`) read back, and the
//! change in each cell that both measured, so that a user sees what a setting, a machine or a
//! code change did.

use std::path::Path;

use super::{
    report::{self, Format},
    verdict::bytes_per_call,
};
use crate::run::Measurement;

/// One cell measured by both runs, at the same workload, concurrency and connections.
#[derive(Debug, Clone)]
pub(crate) struct Change<'a> {
    pub(crate) before: &'a Measurement,
    pub(crate) after: &'a Measurement,
}

fn same_point(a: &Measurement, b: &Measurement) -> bool {
    (a.cell.as_str(), a.scenario(), a.concurrency, a.connections)
        == (b.cell.as_str(), b.scenario(), b.concurrency, b.connections)
}

/// The cells both runs measured, in this run's order.
pub(crate) fn changes<'a>(before: &'a [Measurement], after: &'a [Measurement]) -> Vec<Change<'a>> {
    after
        .iter()
        .filter_map(|after| {
            let before = before.iter().find(|before| same_point(before, after))?;
            Some(Change { before, after })
        })
        .collect()
}

/// The relative change from `before` to `after`, in percent.
pub(crate) fn percent(before: f64, after: f64) -> f64 {
    (after - before) * 100.0 / before.max(f64::MIN_POSITIVE)
}

const HEADERS: [&str; 12] = [
    "cell",
    "workload",
    "conc",
    "conns",
    "req/s before",
    "req/s after",
    "req/s change",
    "p99 ms before",
    "p99 ms after",
    "p99 change",
    "B/call before → after",
    "srv CPU ms/1k before → after",
];

fn row(change: &Change<'_>) -> [String; 12] {
    let (b, a) = (change.before, change.after);
    let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
    let cpu =
        |m: &Measurement| m.server_cpu_ms_per_1000_calls.map_or("-".into(), |c| format!("{c:.0}"));
    [
        a.cell.clone(),
        a.workload.clone(),
        a.concurrency.to_string(),
        a.connections.to_string(),
        format!("{:.0}", b.requests_per_second),
        format!("{:.0}", a.requests_per_second),
        format!("{:+.1} %", percent(b.requests_per_second, a.requests_per_second)),
        ms(b.p99_us),
        ms(a.p99_us),
        format!("{:+.1} %", percent(b.p99_us as f64, a.p99_us as f64)),
        format!("{:.0} → {:.0}", bytes_per_call(b), bytes_per_call(a)),
        format!("{} → {}", cpu(b), cpu(a)),
    ]
}

/// The change per cell, as text: a table, or markdown.
pub(crate) fn render(changes: &[Change<'_>], baseline: &Path, format: Format) -> String {
    let heading = format!(
        "\nChange from the baseline {} ({} cells in both runs)\n",
        baseline.display(),
        changes.len()
    );
    heading + &report::table(&HEADERS, &rows(changes), format, 2)
}

pub(crate) fn headers() -> &'static [&'static str] {
    &HEADERS
}

pub(crate) fn rows(changes: &[Change<'_>]) -> Vec<Vec<String>> {
    changes.iter().map(|change| row(change).to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::report::Report;

    #[test]
    fn a_baseline_written_before_the_later_fields_still_loads() {
        let measurement = serde_json::json!({
            "cell": "grpc", "workload": "unary", "server_profile": "default",
            "concurrency": 1, "connections": 1, "calls": 10, "servers": {},
            "requests_per_second": 100.0, "p50_us": 1, "p90_us": 2, "p99_us": 3,
            "p999_us": 4, "max_us": 5, "errors": 0, "first_error": null,
            "request_bytes_per_call": 67.0, "response_bytes_per_call": 88.0,
            "server_cpu_ms_per_1000_calls": null
        });
        let run = serde_json::json!({
            "command": "rpc-vs-rest compare", "version": "0.1.0", "commit": "unknown",
            "date": "2026-11-27T00:00:00Z",
            "machine": {"cpu": "x", "client_cores": 2, "server_cores": null,
                        "memory_mib": null, "kernel": "k"},
            "server": {"started_by_compare": true, "profile": "default",
                       "grpc": ["127.0.0.1:1"], "rest": "127.0.0.1:2"},
            "settings": {"cells": ["grpc"], "workloads": ["unary"], "concurrency": [1],
                         "connections": [1], "warmup_seconds": 1.0, "duration_seconds": 2.0,
                         "repeats": 1, "rate": null}
        });
        let text = serde_json::json!({"run": run, "measurements": [measurement]}).to_string();
        let report: Report = serde_json::from_str(&text).unwrap();
        assert!(report.measurements[0].latency_percentiles.is_empty());
        assert_eq!(report.measurements[0].window_ms, [0, 0]);
    }
}
