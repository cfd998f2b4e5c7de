//! The comparison's output: a table for the terminal, or markdown, CSV or JSON.

use std::fmt::Write as _;

use clap::ValueEnum;

use super::run::Measurement;
use crate::config::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

const HEADERS: [&str; 15] = [
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
    "servers",
];

fn row(m: &Measurement) -> [String; 15] {
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
        spread(m),
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
    let rows: Vec<[String; 15]> = measurements.iter().map(row).collect();
    let mut out = String::new();
    match format {
        Format::Json => out = serde_json::to_string_pretty(measurements)?,
        Format::Csv => {
            writeln!(out, "{}", HEADERS.join(","))?;
            for row in rows {
                writeln!(out, "{}", row.join(","))?;
            }
        }
        Format::Markdown => {
            writeln!(out, "| {} |", HEADERS.join(" | "))?;
            writeln!(out, "|{}", "---|".repeat(HEADERS.len()))?;
            for row in rows {
                writeln!(out, "| {} |", row.join(" | "))?;
            }
        }
        Format::Table => {
            let widths: Vec<usize> = (0..HEADERS.len())
                .map(|i| {
                    rows.iter().map(|r| r[i].len()).chain([HEADERS[i].len()]).max().unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| {
                cells
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", line(HEADERS.to_vec()))?;
            for row in &rows {
                writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
            }
        }
    }
    Ok(out)
}

/// Which server the table measured.
pub(crate) fn server_line(profile: Option<Profile>) -> String {
    match profile {
        Some(profile) => format!(
            "server: started by compare on this machine, `serve --profile {}`",
            profile.as_str()
        ),
        None => "server: given by address (its profile is its own)".into(),
    }
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

/// A self-contained HTML page (inline SVG, no scripts, no downloads): per workload and
/// concurrency, throughput per cell and p50/p99 latency per cell, then the full table.
pub(crate) fn html(measurements: &[Measurement]) -> String {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for m in measurements {
        if !groups.contains(&(m.workload.clone(), m.concurrency)) {
            groups.push((m.workload.clone(), m.concurrency));
        }
    }
    let mut body = String::new();
    for (workload, concurrency) in groups {
        let rows: Vec<&Measurement> = measurements
            .iter()
            .filter(|m| m.workload == workload && m.concurrency == concurrency)
            .collect();
        let _ = write!(body, "<h2>{workload}, {concurrency} in flight</h2><div class=charts>");
        body += &bar_chart(
            "requests per second (higher is better)",
            &rows
                .iter()
                .map(|m| (m.cell.as_str(), vec![m.requests_per_second]))
                .collect::<Vec<_>>(),
            &["req/s"],
        );
        body += &bar_chart(
            "latency, ms (lower is better)",
            &rows
                .iter()
                .map(|m| {
                    (m.cell.as_str(), vec![m.p50_us as f64 / 1000.0, m.p99_us as f64 / 1000.0])
                })
                .collect::<Vec<_>>(),
            &["p50", "p99"],
        );
        body += "</div>";
    }
    let table = render(measurements, Format::Markdown).unwrap_or_default();
    let mut rows_html = String::new();
    for (i, line) in table.lines().enumerate().filter(|(i, _)| *i != 1) {
        let tag = if i == 0 { "th" } else { "td" };
        rows_html += "<tr>";
        for cell in line.trim_matches('|').split('|') {
            let _ = write!(rows_html, "<{tag}>{}</{tag}>", cell.trim());
        }
        rows_html += "</tr>";
    }
    format!(
        "<!doctype html><meta charset=utf-8><title>rpc-vs-rest compare</title><style>\
         body{{font-family:sans-serif;margin:2em}} .charts{{display:flex;gap:2em;flex-wrap:wrap}}\
         table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
         </style><h1>gRPC vs REST: rpc-vs-rest compare</h1>{body}<h2>All measurements</h2><table>{rows_html}</table>"
    )
}

const COLOURS: [&str; 2] = ["#4e79a7", "#f28e2b"];

/// Horizontal bars, one row per cell, one bar per series.
fn bar_chart(title: &str, rows: &[(&str, Vec<f64>)], series: &[&str]) -> String {
    let max = rows
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (label_width, bar_width, bar_height) = (110.0, 320.0, 14.0);
    let row_height = bar_height * series.len() as f64 + 8.0;
    let height = 40.0 + row_height * rows.len() as f64;
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{height}'><text x='0' y='14' font-weight='bold'>{title}</text>",
        label_width + bar_width + 90.0
    );
    for (i, (cell, values)) in rows.iter().enumerate() {
        let top = 28.0 + row_height * i as f64;
        let _ = write!(svg, "<text x='0' y='{}' font-size='12'>{cell}</text>", top + bar_height);
        for (j, value) in values.iter().enumerate() {
            let y = top + bar_height * j as f64;
            let width = bar_width * value / max;
            let _ = write!(
                svg,
                "<rect x='{label_width}' y='{y}' width='{width:.1}' height='{}' fill='{}'/><text x='{:.1}' y='{}' font-size='11'>{} {value:.2}</text>",
                bar_height - 2.0,
                COLOURS[j % COLOURS.len()],
                label_width + width + 4.0,
                y + bar_height - 4.0,
                series[j]
            );
        }
    }
    svg + "</svg>"
}
