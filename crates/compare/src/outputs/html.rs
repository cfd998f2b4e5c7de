//! The HTML report: one self-contained file (inline SVG, no scripts, nothing downloaded) that
//! reads in black and white (bars and lines told apart by pattern and label, not colour; only
//! a churn timeline's servers are told apart by colour alone, each named in its key):
//! where the numbers came from, the verdicts, then per workload the throughput, the latency
//! distribution, latency against offered load with the capacity at a latency objective (when
//! `--slo` searched for it), a churn run's timeline and what each of its events cost (when
//! `--churn` changed the servers), bytes on the wire and server CPU per cell, the change from a
//! baseline when there is one, and every measurement as a table.

use std::fmt::Write as _;

use super::{
    baseline::{self, Change},
    churn_chart,
    provenance::Provenance,
    report::{self, Format},
    svg::{axis, decimals, escape, text_width},
    verdict::{Verdict, distinct, label},
};
use crate::run::{
    LatencyAt, Measurement,
    capacity::{Capacity, Step},
    objective::Objective,
};

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
    let (mut throughput, mut latency, mut capacity, mut bytes, mut cpu) =
        (String::new(), String::new(), String::new(), String::new(), String::new());
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
        let searched: Vec<(String, &Capacity)> =
            rows.iter().filter_map(|m| Some((name(m), m.capacity.as_ref()?))).collect();
        if !searched.is_empty() {
            // One run has one objective; a merge of runs searched at different ones names each.
            let objectives = distinct(searched.iter().map(|(_, c)| c.objective.clone()));
            capacity += &capacity_chart(
                &format!(
                    "{title}: latency against offered calls/s at {} (lower is better)",
                    objectives.join(" / ")
                ),
                &objectives,
                &searched,
            );
        }
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
    if !capacity.is_empty() {
        section(&mut body, "capacity", "Capacity at the objective", &charts(&capacity));
    }
    let churned = churned(measurements);
    if !churned.is_empty() {
        section(&mut body, "churn", "When servers came and went", &churned);
    }
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

/// Each churn run (`--churn`): its timeline, its steady p99 and what each event cost; empty
/// when no measurement churned.
fn churned(measurements: &[Measurement]) -> String {
    let mut html = String::new();
    for m in measurements {
        let Some(churn) = &m.churn else { continue };
        let title = format!(
            "{}, {}, {} in flight: churn {}, second by second",
            m.cell,
            m.scenario(),
            m.concurrency,
            churn.schedule
        );
        html += &churn_chart::timeline_chart(&title, churn);
        let steady = churn
            .steady_p99_us
            .map_or("none".to_owned(), |us| format!("{:.2} ms", us as f64 / 1000.0));
        let _ = write!(
            html,
            "<p>Steady p99 (the calls before the first event): {steady}. Per event: the calls \
             that failed or were sent again, and the p99, from its start to 2 s after its end; \
             then how long until every server held its fair share, and each one's share.</p>"
        );
        html += &table(&churn_chart::EVENT_HEADERS, &churn_chart::event_rows(churn));
    }
    html
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

/// One limit of an objective as the capacity chart draws it: a line at `ms`, labelled
/// `p99 ≤ 5ms`.
struct Limit {
    label: String,
    ms: f64,
}

/// The limits an objective names (`p99<=5ms`, several joined by commas, as `--slo` writes
/// them). Read from the text because that is all a measurement keeps of its objective (and
/// all a merged or earlier JSON has); an objective that does not read is left undrawn rather
/// than failing the report.
fn limits(objective: &str) -> Vec<Limit> {
    objective.parse::<Objective>().map_or_else(
        |_| Vec::new(),
        |objective| objective.labelled_limits().map(|(label, ms)| Limit { label, ms }).collect(),
    )
}

/// Latency against offered load for every cell that searched its capacity (`--slo`): x the
/// calls per second offered by each open-loop step, y the step's p99 (thick) and p50 (thin)
/// in ms, each cell dashed its own way, each step a dot (filled: it met the objective;
/// hollow: it missed), the objective's limits dotted across and each cell's capacity a
/// vertical line, named in the legend.
fn capacity_chart(title: &str, objectives: &[String], cells: &[(String, &Capacity)]) -> String {
    // Each capacity's label gets a row of its own above the plot: there they cross neither
    // the curves nor each other, however close the capacities.
    let labelled = cells.iter().filter(|(_, capacity)| capacity.calls_per_s.is_some()).count();
    let (left, plot_width, plot_height) = (56.0, 440.0, 220.0);
    let top = 30.0 + 12.0 * labelled as f64;
    let limits: Vec<Limit> = objectives.iter().flat_map(|objective| limits(objective)).collect();
    // The search runs its steps out of order (doubling, then bisecting): a curve goes by rate.
    let cells: Vec<(&String, &Capacity, Vec<&Step>)> = cells
        .iter()
        .map(|(cell, capacity)| {
            let mut steps: Vec<&Step> = capacity.steps.iter().collect();
            steps.sort_by(|a, b| a.offered_per_s.total_cmp(&b.offered_per_s));
            (cell, *capacity, steps)
        })
        .collect();
    let every_step = || cells.iter().flat_map(|(_, _, steps)| steps.iter());
    let (x_end, x_step) = axis(every_step().map(|s| s.offered_per_s).fold(0.0, f64::max));
    let worst_ms = every_step().map(|s| s.p99_us.max(s.p50_us) as f64 / 1000.0).fold(0.0, f64::max);
    // The knee is what this chart is for, and past it the p99 of a step that cannot keep up
    // climbs by orders of magnitude (calls queue for the rest of the step): on a linear axis
    // reaching that far, every rate that met the objective would lie flat on the floor. So
    // the axis stops at 4× the objective's highest limit and what lies above is drawn on the
    // top edge (and said so below); it reaches a little above the limit when every step is
    // far under it, so that the limit is always drawn, and to twice the best p99 of any step
    // when even that is above the cap (no rate met the objective), so that the curves show.
    let highest_limit = limits.iter().map(|limit| limit.ms).reduce(f64::max);
    let best_ms = every_step().map(|s| s.p99_us as f64 / 1000.0).reduce(f64::min).unwrap_or(0.0);
    let shown_ms = match highest_limit {
        Some(limit) => worst_ms.max(limit * 1.25).min((limit * 4.0).max(best_ms * 2.0)),
        None => worst_ms,
    };
    let (y_end, y_step) = axis(shown_ms);
    let clipped = worst_ms > y_end;
    let x = |rate: f64| left + plot_width * rate / x_end;
    let y = |ms: f64| top + plot_height * (1.0 - ms.min(y_end) / y_end);
    let bottom = top + plot_height;
    let legend_top = bottom + 52.0;
    let key_y = legend_top + 16.0 * cells.len() as f64 + 6.0;
    let height = key_y + if clipped { 34.0 } else { 16.0 };
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{height}' role=img>\
         <text x='0' y='14' font-weight='bold' font-size='13'>{}</text>\
         <rect x='{left}' y='{top}' width='{plot_width}' height='{plot_height}' fill='none' stroke='#000'/>\
         <text transform='translate(12 {middle}) rotate(-90)' font-size='11' text-anchor='middle'>latency, ms</text>\
         <text x='{center}' y='{}' font-size='11' text-anchor='middle'>offered calls/s</text>",
        (left + plot_width + 20.0).max(title.len() as f64 * 7.2),
        escape(title),
        bottom + 30.0,
        middle = top + plot_height / 2.0,
        center = left + plot_width / 2.0,
    );
    for i in 0..=(x_end / x_step).round() as usize {
        let rate = x_step * i as f64;
        let _ = write!(
            svg,
            "<line x1='{at:.1}' x2='{at:.1}' y1='{top}' y2='{bottom}' stroke='#ccc'/>\
             <text x='{at:.1}' y='{text_y}' font-size='10' text-anchor='middle'>{rate:.places$}</text>",
            at = x(rate),
            text_y = bottom + 14.0,
            places = decimals(x_step)
        );
    }
    for i in 0..=(y_end / y_step).round() as usize {
        let ms = y_step * i as f64;
        let _ = write!(
            svg,
            "<line x1='{left}' x2='{right}' y1='{at:.1}' y2='{at:.1}' stroke='#ccc'/>\
             <text x='{text_x}' y='{text_y:.1}' font-size='10' text-anchor='end'>{ms:.places$}</text>",
            right = left + plot_width,
            at = y(ms),
            text_x = left - 4.0,
            text_y = y(ms) + 3.0,
            places = decimals(y_step)
        );
    }
    // Labelled at the left, where the curves lie low (light load) and the capacity lines
    // (near the highest rates) rarely reach.
    for limit in &limits {
        let _ = write!(
            svg,
            "<line x1='{left}' x2='{right}' y1='{at:.1}' y2='{at:.1}' stroke='#000' stroke-width='1' stroke-dasharray='1 3'/>\
             <text class='objective' x='{text_x}' y='{text_y:.1}' font-size='10'>{label}</text>",
            right = left + plot_width,
            at = y(limit.ms),
            text_x = left + 4.0,
            text_y = y(limit.ms) - 3.0,
            label = escape(&limit.label)
        );
    }
    let mut label_row = 0.0;
    for (i, (cell, capacity, steps)) in cells.iter().enumerate() {
        let dash = DASHES[i % DASHES.len()];
        for (width, us) in [(1.6, (|s: &Step| s.p99_us) as fn(&Step) -> u64), (0.8, |s| s.p50_us)] {
            let path: Vec<String> = steps
                .iter()
                .map(|s| format!("{:.1},{:.1}", x(s.offered_per_s), y(us(s) as f64 / 1000.0)))
                .collect();
            let _ = write!(
                svg,
                "<polyline points='{}' fill='none' stroke='#000' stroke-width='{width}' stroke-dasharray='{dash}'/>",
                path.join(" ")
            );
        }
        for s in steps {
            let verdict = match (&s.missed, s.met) {
                (_, true) => "met".to_owned(),
                (Some(why), false) => format!("missed: {why}"),
                (None, false) => "missed".to_owned(),
            };
            let _ = write!(
                svg,
                "<circle class='step' cx='{:.1}' cy='{:.1}' r='3' fill='{}' stroke='#000'>\
                 <title>{}</title></circle>",
                x(s.offered_per_s),
                y(s.p99_us as f64 / 1000.0),
                if s.met { "#000" } else { "#fff" },
                escape(&format!(
                    "{cell}: {:.0} calls/s offered, {:.0} made, p50 {:.2} ms, p99 {:.2} ms; {verdict}",
                    s.offered_per_s,
                    s.achieved_per_s,
                    s.p50_us as f64 / 1000.0,
                    s.p99_us as f64 / 1000.0
                ))
            );
        }
        if let Some(rate) = capacity.calls_per_s {
            // The line rises to its label, in its row above the plot; the label turns to the
            // line's left where it would run past the plot's right edge.
            let text = format!("{cell} {rate:.0} calls/s");
            let at = x(rate);
            let text_y = 30.0 + 12.0 * label_row;
            label_row += 1.0;
            let (text_x, anchor) = match at + 3.0 + text_width(&text) > left + plot_width {
                true => (at - 3.0, "end"),
                false => (at + 3.0, "start"),
            };
            let _ = write!(
                svg,
                "<line class='capacity' x1='{at:.1}' x2='{at:.1}' y1='{}' y2='{bottom}' stroke='#000' stroke-width='1' stroke-dasharray='{dash}'/>\
                 <text x='{text_x:.1}' y='{text_y}' font-size='10' text-anchor='{anchor}'>{}</text>",
                text_y - 8.0,
                escape(&text)
            );
        }
        let legend_y = legend_top + 16.0 * i as f64;
        let line = match (capacity.calls_per_s, capacity.p99_us) {
            (Some(rate), Some(p99)) => {
                format!("{cell}: capacity {rate:.0} calls/s (p99 {:.2} ms)", p99 as f64 / 1000.0)
            }
            (Some(rate), None) => format!("{cell}: capacity {rate:.0} calls/s"),
            (None, _) => format!("{cell}: no rate met {}", capacity.objective),
        };
        let _ = write!(
            svg,
            "<line x1='{left}' x2='{}' y1='{legend_y}' y2='{legend_y}' stroke='#000' stroke-width='1.6' stroke-dasharray='{dash}'/>\
             <text x='{}' y='{}' font-size='11'>{}</text>",
            left + 40.0,
            left + 46.0,
            legend_y + 4.0,
            escape(&line)
        );
    }
    // The key: what thickness, fill and the vertical lines mean, one item after another.
    let mut key_x = left;
    for (sample, text) in [
        ("line-1.6", "p99"),
        ("line-0.8", "p50"),
        ("#000", "step met the objective"),
        ("#fff", "step missed it"),
        ("", "vertical line: capacity"),
    ] {
        if let Some(width) = sample.strip_prefix("line-") {
            let _ = write!(
                svg,
                "<line x1='{key_x}' x2='{}' y1='{key_y}' y2='{key_y}' stroke='#000' stroke-width='{width}'/>",
                key_x + 24.0
            );
            key_x += 28.0;
        } else if !sample.is_empty() {
            let _ = write!(
                svg,
                "<circle cx='{}' cy='{key_y}' r='3' fill='{sample}' stroke='#000'/>",
                key_x + 3.0
            );
            key_x += 10.0;
        }
        let _ = write!(svg, "<text x='{key_x}' y='{}' font-size='10'>{text}</text>", key_y + 3.0);
        key_x += text_width(text) + 16.0;
    }
    if clipped {
        let _ = write!(
            svg,
            "<text x='{left}' y='{}' font-size='10'>Latencies above {y_end:.places$} ms are drawn on the top edge (worst p99 {worst_ms:.2} ms).</text>",
            key_y + 21.0,
            places = decimals(y_step)
        );
    }
    svg + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_limit_of_an_objective_in_ms() {
        let read: Vec<(String, f64)> = limits("p50<=250us,p99.9<=1.5s,p99=5ms")
            .into_iter()
            .map(|limit| (limit.label, limit.ms))
            .collect();
        assert_eq!(
            read,
            [
                ("p50 ≤ 250us".to_owned(), 0.25),
                ("p99.9 ≤ 1.5s".to_owned(), 1500.0),
                ("p99 ≤ 5ms".to_owned(), 5.0)
            ]
        );
        assert!(limits("p99<=fast").is_empty());
    }

    /// A page of one measurement of `grpc`, with `churn` as its churn report.
    fn page_with(churn: serde_json::Value) -> String {
        let measurement: Measurement = serde_json::from_value(serde_json::json!({
            "cell": "grpc", "workload": "unary", "server_profile": "default",
            "concurrency": 8, "connections": 1, "calls": 300, "servers": {},
            "requests_per_second": 100.0, "p50_us": 900, "p90_us": 1500, "p99_us": 2000,
            "p999_us": 4000, "max_us": 5000, "errors": 0, "first_error": null,
            "request_bytes_per_call": 67.0, "response_bytes_per_call": 88.0,
            "server_cpu_ms_per_1000_calls": null, "churn": churn
        }))
        .unwrap();
        let provenance: Provenance = serde_json::from_value(serde_json::json!({
            "command": "rpc-vs-rest compare", "version": "0.1.0", "commit": "unknown",
            "date": "2026-11-27T00:00:00Z",
            "machine": {"cpu": "x", "client_cores": 2, "server_cores": null,
                        "memory_mib": null, "kernel": "k"},
            "server": {"started_by_compare": true, "profile": "default",
                       "grpc": ["127.0.0.1:1"], "rest": "127.0.0.1:2"},
            "settings": {"cells": ["grpc"], "workloads": ["unary"], "concurrency": [8],
                         "connections": [1], "warmup_seconds": 1.0, "duration_seconds": 3.0,
                         "repeats": 1, "rate": 100.0}
        }))
        .unwrap();
        render(&Page {
            provenance: &provenance,
            measurements: &[measurement],
            verdicts: &[],
            baseline: None,
        })
    }

    #[test]
    fn the_churn_section_shows_only_for_a_run_that_churned() {
        let calm = page_with(serde_json::Value::Null);
        assert!(!calm.contains("id=\"churn\""), "no churn report, no churn section");
        let churned = page_with(serde_json::json!({
            "schedule": "kill:2@1s", "steady_p99_us": 2000,
            "events": [{"event": "kill:2@1s", "began_s": 1.0, "took_s": 0.0,
                        "servers_after": ["server-0"], "failed": 3, "retried": 1,
                        "p99_us": 9000, "fair_share_after_s": null,
                        "shares_after": {"server-0": 1.0}}],
            "timeline": [
                {"second": 0, "ok": 100, "failed": 0, "retried": 0, "p50_us": 900,
                 "p99_us": 2000, "servers": {"server-0": 50, "server-1": 50}},
                {"second": 1, "ok": 97, "failed": 3, "retried": 1, "p50_us": 900,
                 "p99_us": 9000, "servers": {"server-0": 97}}
            ]
        }));
        let section = churned.split("<section id=\"churn\">").nth(1).expect("a churn section");
        let section = section.split("</section>").next().unwrap_or_default();
        assert!(section.contains("<h2>When servers came and went</h2>"));
        assert!(section.contains("grpc, unary, 8 in flight: churn kill:2@1s"), "{section}");
        assert!(section.contains("<td>kill:2@1s</td><td>1.0</td>"), "the event's row: {section}");
        assert!(section.contains("<td>not within the run</td>"), "{section}");
    }

    #[test]
    fn axes_end_on_a_round_number_with_three_to_five_ticks() {
        for max in [0.0, 0.3, 0.8, 1.0, 7.0, 19.9, 20.0, 21.0, 80.0, 1258.1, 2538.5, 4999.0, 5001.0]
        {
            let (end, step) = axis(max);
            let ticks = (end / step).round() as usize + 1;
            assert!(end >= max && (3..=5).contains(&ticks), "{max}: {end} in steps of {step}");
        }
        assert_eq!(axis(2538.5), (3000.0, 1000.0));
        assert_eq!(axis(80.0), (80.0, 20.0));
    }
}
