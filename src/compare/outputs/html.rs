//! The HTML report: one self-contained file (inline SVG, no scripts, nothing downloaded) that
//! reads in black and white (bars and lines told apart by pattern and label, not colour):
//! where the numbers came from, the verdicts, then per workload the throughput, the latency
//! distribution, bytes on the wire and server CPU per cell, the change from a baseline when
//! there is one, and every measurement as a table.

use std::fmt::Write as _;

use super::{
    baseline::{self, Change},
    provenance::Provenance,
    report::{self, Format},
    verdict::{Verdict, distinct, label},
};
use crate::compare::run::{LatencyAt, Measurement};

/// A comparison's report, and optionally how it changed from an earlier one.
pub(crate) struct Page<'a> {
    pub(crate) provenance: &'a Provenance,
    pub(crate) measurements: &'a [Measurement],
    pub(crate) verdicts: &'a [Verdict],
    pub(crate) baseline: Option<(&'a Provenance, Vec<Change<'a>>)>,
}

pub(crate) fn render(page: &Page<'_>) -> String {
    let mut body = String::new();
    section(&mut body, "provenance", "Where these numbers came from", &provenance(page.provenance));
    let mut verdicts = String::new();
    for verdict in page.verdicts {
        let _ = write!(verdicts, "<h3>{}</h3><ul>", escape(&verdict.workload));
        for line in &verdict.lines {
            let _ = write!(verdicts, "<li>{}</li>", escape(line));
        }
        verdicts += "</ul>";
    }
    section(&mut body, "verdicts", "Verdicts", &verdicts);

    let measurements = page.measurements;
    let (mut throughput, mut latency, mut bytes, mut cpu) =
        (String::new(), String::new(), String::new(), String::new());
    for (workload, concurrency) in
        distinct(measurements.iter().map(|m| (m.scenario(), m.concurrency)))
    {
        let rows: Vec<&Measurement> = measurements
            .iter()
            .filter(|m| m.scenario() == workload && m.concurrency == concurrency)
            .collect();
        let name = |m: &Measurement| label(m, &rows);
        let title = format!("{workload}, {concurrency} in flight");
        throughput += &bar_chart(
            &format!("{title}: calls per second (higher is better)"),
            &rows.iter().map(|m| (name(m), vec![m.requests_per_second])).collect::<Vec<_>>(),
            &["calls/s"],
            0,
        );
        latency += &curve_chart(
            &format!("{title}: latency by percentile, ms (lower is better)"),
            &rows
                .iter()
                .map(|m| (name(m), m.latency_percentiles.clone(), m.p99_us))
                .collect::<Vec<_>>(),
        );
        bytes += &bar_chart(
            &format!("{title}: bytes on the wire per call (fewer is better)"),
            &rows
                .iter()
                .map(|m| (name(m), vec![m.request_bytes_per_call, m.response_bytes_per_call]))
                .collect::<Vec<_>>(),
            &["request B", "reply B"],
            0,
        );
        // Through a proxy (`--via`), its CPU beside the server's.
        let proxied = rows.iter().any(|m| m.proxy_cpu_ms_per_1000_calls.is_some());
        let with_cpu: Vec<(String, Vec<f64>)> = rows
            .iter()
            .filter_map(|m| {
                let mut values = vec![m.server_cpu_ms_per_1000_calls?];
                if proxied {
                    values.push(m.proxy_cpu_ms_per_1000_calls.unwrap_or(0.0));
                }
                Some((name(m), values))
            })
            .collect();
        if !with_cpu.is_empty() {
            let (what, series): (&str, &[&str]) = match proxied {
                true => ("server and proxy CPU", &["server CPU ms", "proxy CPU ms"]),
                false => ("server CPU", &["CPU ms"]),
            };
            cpu += &bar_chart(
                &format!("{title}: {what} per 1,000 calls, ms (less is better)"),
                &with_cpu,
                series,
                0,
            );
        }
    }
    section(&mut body, "throughput", "Throughput", &charts(&throughput));
    section(&mut body, "latency", "Latency distribution", &charts(&latency));
    section(&mut body, "bytes", "Bytes on the wire", &charts(&bytes));
    if cpu.is_empty() {
        cpu = "<p>The server ran elsewhere: its CPU was not measured.</p>".into();
    }
    section(&mut body, "cpu", "Server CPU", &charts(&cpu));
    if let Some((before, changes)) = &page.baseline {
        let mut html = format!(
            "<p>Baseline: {} at {} ({}).</p>",
            escape(&before.command),
            escape(&before.date),
            escape(&before.commit)
        );
        html += &charts(&bar_chart(
            "change in calls per second from the baseline, % (higher is better)",
            &changes
                .iter()
                .map(|c| {
                    let name =
                        format!("{} {} ×{}", c.after.cell, c.after.workload, c.after.concurrency);
                    (
                        name,
                        vec![baseline::percent(
                            c.before.requests_per_second,
                            c.after.requests_per_second,
                        )],
                    )
                })
                .collect::<Vec<_>>(),
            &["%"],
            1,
        ));
        html += &table(baseline::headers(), &baseline::rows(changes));
        section(&mut body, "baseline", "Change from the baseline", &html);
    }
    let text = report::render(measurements, Format::Markdown).unwrap_or_default();
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .filter(|line| !line.starts_with("|---"))
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect();
    let headers: Vec<String> = if rows.is_empty() { Vec::new() } else { rows.remove(0) };
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    section(&mut body, "measurements", "Every measurement", &table(&headers, &rows));
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>rpc-vs-rest compare</title>\
         <style>body{{font-family:sans-serif;margin:2em;color:#000;background:#fff}}\
         .charts{{display:flex;gap:2em;flex-wrap:wrap}} table{{border-collapse:collapse}}\
         td,th{{border:1px solid #777;padding:2px 6px;text-align:right}} dt{{font-weight:bold}}\
         dl{{display:grid;grid-template-columns:max-content auto;gap:2px 1em}}</style>\
         <h1>gRPC vs REST: rpc-vs-rest compare</h1>{PATTERNS}{body}</html>"
    )
}

fn section(body: &mut String, id: &str, title: &str, content: &str) {
    let _ = write!(body, "<section id=\"{id}\"><h2>{title}</h2>{content}</section>");
}

fn charts(svgs: &str) -> String {
    format!("<div class=charts>{svgs}</div>")
}

fn provenance(run: &Provenance) -> String {
    let mut html = String::from("<dl>");
    for (key, value) in run.lines() {
        let _ = write!(html, "<dt>{key}</dt><dd>{}</dd>", escape(&value));
    }
    html + "</dl>"
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><tr>");
    for header in headers {
        let _ = write!(html, "<th>{}</th>", escape(header));
    }
    html += "</tr>";
    for row in rows {
        html += "<tr>";
        for cell in row {
            let _ = write!(html, "<td>{}</td>", escape(cell));
        }
        html += "</tr>";
    }
    html + "</table>"
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Fills that print apart in black and white: solid, hatched, dotted.
const PATTERNS: &str = "<svg width=0 height=0 style='position:absolute'><defs>\
    <pattern id=fill0 width=4 height=4 patternUnits=userSpaceOnUse><rect width=4 height=4 fill='#333'/></pattern>\
    <pattern id=fill1 width=6 height=6 patternUnits=userSpaceOnUse patternTransform='rotate(45)'>\
    <rect width=6 height=6 fill='#fff'/><rect width=2 height=6 fill='#333'/></pattern>\
    <pattern id=fill2 width=5 height=5 patternUnits=userSpaceOnUse><rect width=5 height=5 fill='#fff'/>\
    <circle cx=2.5 cy=2.5 r=1.2 fill='#333'/></pattern></defs></svg>";

/// Horizontal bars, one row per cell, one bar per series, each bar labelled with its value
/// (`decimals` after the point). Negative values (a change) grow left from a middle axis.
fn bar_chart(title: &str, rows: &[(String, Vec<f64>)], series: &[&str], decimals: usize) -> String {
    let extent = rows
        .iter()
        .flat_map(|(_, values)| values.iter().map(|v| v.abs()))
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let signed = rows.iter().any(|(_, values)| values.iter().any(|v| *v < 0.0));
    let (label_width, bar_width, bar_height) = (190.0, 300.0, 14.0);
    let zero = if signed { label_width + bar_width / 2.0 } else { label_width };
    let scale = if signed { bar_width / 2.0 } else { bar_width };
    let row_height = bar_height * series.len() as f64 + 8.0;
    let height = 40.0 + row_height * rows.len() as f64;
    let width = label_width + bar_width + 130.0;
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role=img>\
         <text x='0' y='14' font-weight='bold' font-size='13'>{}</text>",
        escape(title)
    );
    for (i, (cell, values)) in rows.iter().enumerate() {
        let top = 28.0 + row_height * i as f64;
        let _ = write!(
            svg,
            "<text x='0' y='{}' font-size='12'>{}</text>",
            top + bar_height,
            escape(cell)
        );
        for (j, value) in values.iter().enumerate() {
            let y = top + bar_height * j as f64;
            let length = scale * value.abs() / extent;
            let x = if *value < 0.0 { zero - length } else { zero };
            let text_x = if *value < 0.0 { zero + 4.0 } else { zero + length + 4.0 };
            let _ = write!(
                svg,
                "<rect x='{x:.1}' y='{y}' width='{length:.1}' height='{}' fill='url(#fill{j})' stroke='#000' stroke-width='0.5'/>\
                 <text x='{text_x:.1}' y='{}' font-size='11'>{value:.decimals$} {}</text>",
                bar_height - 2.0,
                y + bar_height - 4.0,
                series[j]
            );
        }
    }
    svg + "</svg>"
}

/// Dash patterns that tell the curves apart without colour.
const DASHES: [&str; 8] = ["", "8 4", "2 3", "10 3 2 3", "1 5", "6 2 1 2 1 2", "14 4", "3 6"];

/// Where a percentile sits on the curve's x axis: log scale of 1 ÷ (1 − p), so that p50, p90,
/// p99, p99.9 and p99.99 are evenly spaced, as in HdrHistogram's plots.
fn percentile_position(percentile: f64) -> f64 {
    (1.0 / (1.0 - percentile / 100.0)).log10()
}

/// The latency curve of every cell on one chart: x the percentile (log scale, p50 to p99.99),
/// y the latency in ms; each curve dashed its own way and named in the legend with its p99.
fn curve_chart(title: &str, curves: &[(String, Vec<LatencyAt>, u64)]) -> String {
    let (left, top, plot_width, plot_height) = (50.0, 30.0, 380.0, 200.0);
    let max_ms = curves
        .iter()
        .flat_map(|(_, points, _)| points.iter().map(|p| p.us as f64 / 1000.0))
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let (x_min, x_max) = (percentile_position(50.0), percentile_position(99.99));
    let x = |p: f64| left + plot_width * (percentile_position(p) - x_min) / (x_max - x_min);
    let y = |ms: f64| top + plot_height * (1.0 - ms / max_ms);
    let legend_top = top + plot_height + 40.0;
    let height = legend_top + 16.0 * curves.len() as f64 + 10.0;
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{height}' role=img>\
         <text x='0' y='14' font-weight='bold' font-size='13'>{}</text>\
         <rect x='{left}' y='{top}' width='{plot_width}' height='{plot_height}' fill='none' stroke='#000'/>",
        (left + plot_width + 20.0).max(title.len() as f64 * 7.2),
        escape(title)
    );
    for tick in [50.0, 90.0, 99.0, 99.9, 99.99] {
        let _ = write!(
            svg,
            "<line x1='{0:.1}' x2='{0:.1}' y1='{top}' y2='{1}' stroke='#bbb'/><text x='{0:.1}' y='{2}' font-size='10' text-anchor='middle'>p{tick}</text>",
            x(tick),
            top + plot_height,
            top + plot_height + 14.0
        );
    }
    for fraction in [0.0, 0.5, 1.0] {
        let ms = max_ms * fraction;
        let _ = write!(
            svg,
            "<text x='{}' y='{:.1}' font-size='10' text-anchor='end'>{ms:.2}</text>",
            left - 4.0,
            y(ms) + 3.0
        );
    }
    for (i, (cell, points, p99_us)) in curves.iter().enumerate() {
        let dash = DASHES[i % DASHES.len()];
        let path: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.percentile), y(p.us as f64 / 1000.0)))
            .collect();
        let _ = write!(
            svg,
            "<polyline points='{}' fill='none' stroke='#000' stroke-width='1.6' stroke-dasharray='{dash}'/>",
            path.join(" ")
        );
        let legend_y = legend_top + 16.0 * i as f64;
        let _ = write!(
            svg,
            "<line x1='{left}' x2='{}' y1='{legend_y}' y2='{legend_y}' stroke='#000' stroke-width='1.6' stroke-dasharray='{dash}'/>\
             <text x='{}' y='{}' font-size='11'>{} (p99 {:.2} ms)</text>",
            left + 40.0,
            left + 46.0,
            legend_y + 4.0,
            escape(cell),
            *p99_us as f64 / 1000.0
        );
    }
    svg + "</svg>"
}
