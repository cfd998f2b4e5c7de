//! The comparison's output: a table for the terminal, or markdown, CSV or JSON.

use std::fmt::Write as _;

use clap::ValueEnum;

use super::run::Measurement;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

const HEADERS: [&str; 14] = [
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
];

fn row(m: &Measurement) -> [String; 14] {
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
    ]
}

pub(crate) fn render(measurements: &[Measurement], format: Format) -> anyhow::Result<String> {
    let rows: Vec<[String; 14]> = measurements.iter().map(row).collect();
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
