//! `compare merge`: the shards of one run made into one, exactly. Latency histograms are
//! added (HDR histograms merge without loss, so the percentiles are those one generator with
//! every shard's calls would have measured); calls, errors, bytes and per-server counts are
//! summed; throughput is the sum of the shards' rates over windows that overlap (the merge
//! says how well they did).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;

use super::{
    html,
    provenance::{Merged, Provenance},
    report::{self, Format, Report},
    verdict,
};
use crate::run::{Latencies, Measurement, decode_histogram, encode_histogram, new_histogram};

/// `rpc-vs-rest compare merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeConfig {
    /// The shards' `--format json` results: files, or folders whose `*.json` files are read.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the HTML report of the merged run.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Also show each shard's throughput and p99 side by side, so that a generator that could
    /// not keep up stands out.
    #[arg(long)]
    pub per_shard: bool,
}

pub(crate) fn run(config: &MergeConfig) -> anyhow::Result<()> {
    let files = files(&config.inputs)?;
    let shards: Vec<(String, Report)> = files
        .iter()
        .map(|file| Ok((file.display().to_string(), load(file)?)))
        .collect::<anyhow::Result<_>>()?;
    let merged = merge(&shards)?;
    let verdicts = verdict::verdicts(&merged.measurements, &merged.run);
    println!("{}", report::document(&merged.run, &merged.measurements, &verdicts, config.format)?);
    if config.per_shard && matches!(config.format, Format::Table | Format::Markdown) {
        println!("{}", per_shard(&shards, config.format));
    }
    if let Some(path) = &config.report {
        let page = html::Page {
            provenance: &merged.run,
            measurements: &merged.measurements,
            verdicts: &verdicts,
            baseline: None,
        };
        std::fs::write(path, html::render(&page))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The inputs, folders expanded to their `*.json` files in name order.
fn files(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("cannot read the folder {}", input.display()))?
                .filter_map(|entry| Some(entry.ok()?.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!("no shard results to merge in {inputs:?}");
    }
    Ok(files)
}

/// A shard's result: the JSON of `compare --format json`, also when it sits among other lines
/// (what `kubectl logs` gives when the pod also wrote to stderr).
fn load(file: &Path) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the shard result {}", file.display()))?;
    let json = match (text.find("\n{\n").map(|at| at + 1), text.starts_with("{\n")) {
        (_, true) => &text[..],
        (Some(start), false) => &text[start..],
        (None, false) => &text[..],
    };
    let json = json.rfind("\n}").map_or(json, |end| &json[..end + 2]);
    serde_json::from_str(json).with_context(|| {
        format!("{} is not a complete result of `compare --format json`", file.display())
    })
}

/// Refuses shards that are not parts of one run: each must be a shard of the same count, with
/// its own index, of the same version, settings and server.
fn check_together(shards: &[(String, Report)]) -> anyhow::Result<()> {
    let (first_file, first) = &shards[0];
    let shard_of = |file: &str, run: &Provenance| {
        run.shard
            .with_context(|| format!("{file} is not a shard's result (it ran without --shard)"))
    };
    let count = shard_of(first_file, &first.run)?.count;
    let mut seen = vec![false; count];
    for (file, report) in shards {
        let run = &report.run;
        let shard = shard_of(file, run)?;
        let differs = |what: &str| {
            anyhow::anyhow!("{file} does not belong with {first_file}: its {what} differ")
        };
        if shard.count != count {
            return Err(differs("shard counts"));
        }
        if std::mem::replace(&mut seen[shard.index], true) {
            bail!("{file} is shard {shard} again: each shard's result may be merged once");
        }
        if (&run.version, &run.commit) != (&first.run.version, &first.run.commit) {
            return Err(differs("versions"));
        }
        if run.settings != first.run.settings {
            return Err(differs("settings (cells, workloads, concurrency, connections or timing)"));
        }
        if run.server != first.run.server {
            return Err(differs("targets"));
        }
        if run.server.started_by_compare {
            bail!(
                "{file} measured a server of its own: shards must share one target (--grpc-target, --rest-target)"
            );
        }
        let points = |report: &Report| -> Vec<(String, String, usize)> {
            report
                .measurements
                .iter()
                .map(|m| (m.cell.clone(), m.scenario(), m.concurrency))
                .collect()
        };
        if points(report) != points(first) {
            return Err(differs("measurements (cells, workloads or concurrency)"));
        }
        if report.measurements.iter().any(|m| m.latency_histogram.is_none()) {
            bail!("{file} has no latency histograms: was it written by a version without --shard?");
        }
    }
    if let Some(missing) = seen.iter().position(|seen| !seen) {
        eprintln!("compare merge: shard {missing}/{count} is missing; merging the others");
    }
    Ok(())
}

fn merge(shards: &[(String, Report)]) -> anyhow::Result<Report> {
    check_together(shards)?;
    let mut measurements = Vec::new();
    let mut worst_overlap = 1.0_f64;
    for position in 0..shards[0].1.measurements.len() {
        let parts: Vec<(&str, &Measurement)> = shards
            .iter()
            .map(|(file, report)| (file.as_str(), &report.measurements[position]))
            .collect();
        let (measurement, overlap) = merge_point(&parts)?;
        worst_overlap = worst_overlap.min(overlap);
        measurements.push(measurement);
    }
    let mut run = shards[0].1.run.clone();
    run.command = std::env::args().collect::<Vec<_>>().join(" ");
    run.shard = None;
    run.late_by_seconds = None;
    run.merged = Some(Merged {
        files: shards.iter().map(|(file, _)| file.clone()).collect(),
        worst_overlap,
    });
    Ok(Report { run, measurements, verdicts: Vec::new() })
}

/// One (cell, workload, concurrency) of every shard, as one measurement; and how much of the
/// longest shard's window every shard was measuring.
fn merge_point(parts: &[(&str, &Measurement)]) -> anyhow::Result<(Measurement, f64)> {
    let mut histogram = new_histogram();
    for (file, part) in parts {
        let encoded = part.latency_histogram.as_deref().unwrap_or_default();
        let shard = decode_histogram(encoded)
            .with_context(|| format!("{file}: a latency histogram is damaged"))?;
        histogram
            .add(shard)
            .with_context(|| format!("{file}: a latency histogram does not fit"))?;
    }
    let first = parts[0].1;
    let calls: u64 = parts.iter().map(|(_, m)| m.calls).sum();
    let weighted = |bytes: fn(&Measurement) -> f64| {
        parts.iter().map(|(_, m)| bytes(m) * m.calls as f64).sum::<f64>() / calls.max(1) as f64
    };
    let mut servers = std::collections::BTreeMap::new();
    for (_, part) in parts {
        for (server, count) in &part.servers {
            *servers.entry(server.clone()).or_insert(0) += count;
        }
    }
    let opened = parts.iter().map(|(_, m)| m.window_ms[0]).max().unwrap_or(0);
    let closed = parts.iter().map(|(_, m)| m.window_ms[1]).min().unwrap_or(0);
    let longest =
        parts.iter().map(|(_, m)| m.window_ms[1].saturating_sub(m.window_ms[0])).max().unwrap_or(0);
    let overlap = closed.saturating_sub(opened) as f64 / longest.max(1) as f64;
    let requests_per_second: f64 = parts.iter().map(|(_, m)| m.requests_per_second).sum();
    let Latencies { p50_us, p90_us, p99_us, p999_us, max_us, latency_percentiles } =
        Latencies::of(&histogram);
    let merged = Measurement {
        cell: first.cell.clone(),
        workload: first.workload.clone(),
        server_profile: first.server_profile.clone(),
        concurrency: first.concurrency,
        connections: parts.iter().map(|(_, m)| m.connections).sum(),
        calls,
        servers,
        requests_per_second,
        p50_us,
        p90_us,
        p99_us,
        p999_us,
        max_us,
        errors: parts.iter().map(|(_, m)| m.errors).sum(),
        first_error: parts.iter().find_map(|(_, m)| m.first_error.clone()),
        client_connections_opened: parts
            .iter()
            .map(|(_, m)| m.client_connections_opened)
            .sum::<Option<u64>>(),
        retried: parts.iter().fold(std::collections::BTreeMap::new(), |mut by_why, (_, m)| {
            for (why, retried) in &m.retried {
                *by_why.entry(why.clone()).or_default() += retried;
            }
            by_why
        }),
        errors_by_kind: parts.iter().fold(Default::default(), |mut by_kind, (_, m)| {
            crate::run::add_errors(&mut by_kind, &m.errors_by_kind);
            by_kind
        }),
        request_bytes_per_call: weighted(|m| m.request_bytes_per_call),
        response_bytes_per_call: weighted(|m| m.response_bytes_per_call),
        server_cpu_ms_per_1000_calls: None,
        // A proxy is compare's own, and shards measure targets.
        proxy_cpu_ms_per_1000_calls: None,
        proxy_cpu_ms_per_1000_calls_by_process: std::collections::BTreeMap::new(),
        proxy_upstream_connections_opened: None,
        // Shards measure a target, whose quota is not theirs to read.
        server_throttling: None,
        // Every shard's client is its own process: their CPU per call, weighted by calls.
        client_cpu_ms_per_1000_calls: parts
            .iter()
            .map(|(_, m)| m.client_cpu_ms_per_1000_calls.map(|cpu| cpu * m.calls as f64))
            .sum::<Option<f64>>()
            .map(|total| total / calls.max(1) as f64),
        latency_percentiles,
        repeats_requests_per_second: vec![requests_per_second],
        window_ms: [
            parts.iter().map(|(_, m)| m.window_ms[0]).min().unwrap_or(0),
            parts.iter().map(|(_, m)| m.window_ms[1]).max().unwrap_or(0),
        ],
        latency_histogram: Some(encode_histogram(&histogram)),
        link: first.link.clone(),
        tls: first.tls,
        // Every shard offered its share: together, the rate in total.
        offered_per_second: parts.iter().map(|(_, m)| m.offered_per_second).sum(),
        capacity: None,
        churn: None,
        packet_link: None,
        latency: None,
    };
    Ok((merged, overlap))
}

/// Each shard's throughput and p99 per measurement, side by side.
fn per_shard(shards: &[(String, Report)], format: Format) -> String {
    let mut headers = vec!["cell".to_owned(), "workload".to_owned(), "conc".to_owned()];
    for (_, report) in shards {
        let shard = report.run.shard.map_or("?".into(), |shard| shard.to_string());
        headers.push(format!("{shard} calls/s"));
        headers.push(format!("{shard} p99 ms"));
    }
    let rows: Vec<Vec<String>> = (0..shards[0].1.measurements.len())
        .map(|position| {
            let first = &shards[0].1.measurements[position];
            let mut row =
                vec![first.cell.clone(), first.workload.clone(), first.concurrency.to_string()];
            for (_, report) in shards {
                let m = &report.measurements[position];
                row.push(format!("{:.0}", m.requests_per_second));
                row.push(format!("{:.2}", m.p99_us as f64 / 1000.0));
            }
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    format!("\nPer shard: calls/s and p99\n{}", report::table(&headers, &rows, format, 2))
}
