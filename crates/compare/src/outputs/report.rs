//! The comparison's output: a table for the terminal, or markdown, CSV or JSON.

use std::{fmt::Write as _, path::Path};

use anyhow::Context as _;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::{provenance::Provenance, verdict::Verdict};
use crate::run::Measurement;

/// What `compare --format json` writes: where the numbers came from, and the numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub run: Provenance,
    pub measurements: Vec<Measurement>,
    /// What the measurements say, with each margin's factors (recomputed, not read, by a
    /// merge or a baseline).
    #[serde(default)]
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Reads a previous run's JSON; the error names the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the baseline {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!("{} is not the JSON of `compare --format json`", path.display())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

const HEADERS: [&str; 17] = [
    "cell",
    "workload",
    "conc",
    "conns",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "B/call out",
    "B/call in",
    "srv CPU ms/1k",
    "cli CPU ms/1k",
    "servers",
    "link",
];

/// Where the proxy's CPU goes, when there is one: after the client's.
const PROXY_CPU_COLUMN: usize = 15;

/// Where an `--slo` search's capacity goes: after the closed loop's calls/s.
const CAPACITY_COLUMN: usize = 5;

/// Where an open loop's offered rate goes: before the calls/s made.
const OFFERED_COLUMN: usize = 4;

/// A search's capacity ("3153"), or `none` when no rate met the objective.
fn capacity(m: &Measurement) -> String {
    match &m.capacity {
        Some(capacity) => capacity.calls_per_s.map_or("none".into(), |rate| format!("{rate:.0}")),
        None => "-".into(),
    }
}

fn row(m: &Measurement) -> [String; 17] {
    let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
    [
        m.cell.clone(),
        m.workload.clone(),
        m.concurrency.to_string(),
        m.connections.to_string(),
        format!("{:.0}", m.requests_per_second),
        ms(m.p50_us),
        ms(m.p90_us),
        ms(m.p99_us),
        ms(m.p999_us),
        ms(m.max_us),
        m.errors.to_string(),
        format!("{:.0}", m.request_bytes_per_call),
        format!("{:.0}", m.response_bytes_per_call),
        m.server_cpu_ms_per_1000_calls.map_or("-".into(), |cpu| format!("{cpu:.0}")),
        m.client_cpu_ms_per_1000_calls.map_or("-".into(), |cpu| format!("{cpu:.0}")),
        spread(m),
        m.condition(),
    ]
}

/// How the calls spread over the servers that answered: their number, then each one's share,
/// largest first ("3: 34/33/33%"; "1: 100%" is a pinned connection).
fn spread(m: &Measurement) -> String {
    let total: u64 = m.servers.values().sum();
    if total == 0 {
        return "-".into();
    }
    let mut calls: Vec<u64> = m.servers.values().copied().collect();
    calls.sort_unstable_by(|a, b| b.cmp(a));
    let shares: Vec<String> =
        calls.iter().map(|c| format!("{:.0}", *c as f64 * 100.0 / total as f64)).collect();
    format!("{}: {}%", calls.len(), shares.join("/"))
}

pub(crate) fn render(measurements: &[Measurement], format: Format) -> anyhow::Result<String> {
    // Throttling has a column only when the server ran under a quota, and the proxy's CPU,
    // beside the server's and the client's, only when the calls went through one (`--via`).
    let throttled = measurements.iter().any(|m| m.server_throttling.is_some());
    let proxied = measurements.iter().any(|m| m.proxy_cpu_ms_per_1000_calls.is_some());
    // An open loop's offered rate, and a search's capacity, beside the calls/s made.
    let offered = measurements.iter().any(|m| m.offered_per_second.is_some());
    let objective = measurements.iter().find_map(|m| m.capacity.as_ref()).map(|c| &c.objective);
    let capacity_header = objective.map(|objective| format!("calls/s at {objective}"));
    let mut headers = HEADERS.to_vec();
    if proxied {
        headers.insert(PROXY_CPU_COLUMN, "proxy CPU ms/1k");
    }
    if let Some(header) = &capacity_header {
        headers.insert(CAPACITY_COLUMN, header);
    }
    if offered {
        headers.insert(OFFERED_COLUMN, "offered/s");
    }
    if throttled {
        headers.push("srv throttled");
    }
    let rows: Vec<Vec<String>> = measurements
        .iter()
        .map(|m| {
            let mut cells = Vec::from(row(m));
            if proxied {
                let cpu =
                    m.proxy_cpu_ms_per_1000_calls.map_or("-".into(), |cpu| format!("{cpu:.0}"));
                cells.insert(PROXY_CPU_COLUMN, cpu);
            }
            if capacity_header.is_some() {
                cells.insert(CAPACITY_COLUMN, capacity(m));
            }
            if offered {
                let rate = m.offered_per_second.map_or("-".into(), |rate| format!("{rate:.0}"));
                cells.insert(OFFERED_COLUMN, rate);
            }
            if throttled {
                cells.push(throttling(m));
            }
            cells
        })
        .collect();
    let mut out = String::new();
    match format {
        Format::Json => out = serde_json::to_string_pretty(measurements)?,
        Format::Csv => {
            writeln!(out, "{}", headers.join(","))?;
            for row in rows {
                writeln!(out, "{}", row.join(","))?;
            }
        }
        Format::Markdown | Format::Table => out = table(&headers, &rows, format, 2),
    }
    Ok(out)
}

/// The server's throttling under its quota, compactly: throttled periods of those it ran
/// in, and the time its threads waited ("41/50 312ms").
fn throttling(m: &Measurement) -> String {
    m.server_throttling.map_or("-".into(), |t| {
        format!("{}/{} {:.0}ms", t.throttled_periods, t.periods, t.throttled_ms)
    })
}

/// Rows under their headers: a markdown table, or, for the terminal, aligned columns (the
/// first `left` columns, names, to the left; the rest, numbers, to the right).
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>], format: Format, left: usize) -> String {
    let mut out = String::new();
    if format == Format::Markdown {
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
        for row in rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        return out;
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            let cells = rows.iter().filter_map(|row| row.get(i)).map(|cell| cell.chars().count());
            cells.chain([headers[i].chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i < left { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let _ = writeln!(out, "{}", line(&mut headers.iter().copied()));
    for row in rows {
        let _ = writeln!(out, "{}", line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// The whole output of a run in `format`: the measurements with where they came from (JSON:
/// `{"run": …, "measurements": […]}`; CSV: `# key: value` comment lines first; markdown and the
/// table: the provenance and the verdicts after the table).
pub(crate) fn document(
    provenance: &Provenance,
    measurements: &[Measurement],
    verdicts: &[Verdict],
    format: Format,
) -> anyhow::Result<String> {
    let mut out = String::new();
    match format {
        Format::Json => {
            let report = Report {
                run: provenance.clone(),
                measurements: measurements.to_vec(),
                verdicts: verdicts.to_vec(),
            };
            out = serde_json::to_string_pretty(&report)?;
        }
        Format::Csv => {
            for (key, value) in provenance.lines() {
                writeln!(out, "# {key}: {value}")?;
            }
            out += &render(measurements, format)?;
        }
        Format::Markdown | Format::Table => {
            out += &render(measurements, format)?;
            let bullet = if format == Format::Markdown { "- " } else { "" };
            writeln!(out)?;
            for verdict in verdicts {
                writeln!(out, "{bullet}{}:", verdict.workload)?;
                for line in &verdict.lines {
                    writeln!(out, "{bullet}  {line}")?;
                }
            }
            writeln!(out)?;
            for (key, value) in provenance.lines() {
                writeln!(out, "{bullet}{key}: {value}")?;
            }
        }
    }
    Ok(out)
}

/// The same calls against a default and a lean server.
#[derive(Debug, Clone)]
pub(crate) struct FeatureCost {
    pub(crate) default: Measurement,
    pub(crate) lean: Measurement,
}

/// What the default profile's features cost each protocol per call: throughput both ways, and
/// the server's CPU per call both ways and the difference.
pub(crate) fn render_feature_costs(
    costs: &[FeatureCost],
    format: Format,
) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\nPer-call cost of the default profile's features (request ids, metrics): unary, 64 in flight, 1 connection per HTTP/2 cell"
    )?;
    let headers = [
        "cell",
        "req/s default",
        "req/s lean",
        "lean / default",
        "srv CPU µs/call default",
        "srv CPU µs/call lean",
        "cost µs/call",
    ];
    let cpu = |m: &Measurement| m.server_cpu_ms_per_1000_calls;
    let rows: Vec<[String; 7]> = costs
        .iter()
        .map(|cost| {
            let (d, l) = (&cost.default, &cost.lean);
            let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
            [
                d.cell.clone(),
                format!("{:.0}", d.requests_per_second),
                format!("{:.0}", l.requests_per_second),
                format!(
                    "{:.2}",
                    l.requests_per_second / d.requests_per_second.max(f64::MIN_POSITIVE)
                ),
                show(cpu(d)),
                show(cpu(l)),
                show(cpu(d).zip(cpu(l)).map(|(d, l)| d - l)),
            ]
        })
        .collect();
    if format == Format::Markdown {
        writeln!(out, "| {} |", headers.join(" | "))?;
        writeln!(out, "|{}", "---|".repeat(headers.len()))?;
        for row in rows {
            writeln!(out, "| {} |", row.join(" | "))?;
        }
    } else {
        writeln!(out, "{}", headers.join("  "))?;
        for row in rows {
            writeln!(out, "{}", row.join("  "))?;
        }
    }
    Ok(out)
}
