//! The verdict lines of a comparison, computed from its measurements (never written by hand):
//! per workload, which cell is fastest and by how much, which sends the fewest bytes, where
//! the ranking changes with load, and which cells varied too much between repeats to rank;
//! and why each winner won (see [`super::margin`]).

use serde::{Deserialize, Serialize};

use super::{
    margin::{self, Factors, Setting},
    provenance::Provenance,
};
use crate::run::{Measurement, objective::Objective};

/// Throughput that varies more than this between repeats (relative to the median) is too
/// noisy to rank a cell by.
pub(crate) const NOISY_SPREAD: f64 = 0.10;

/// The cell every other is measured against for bytes: JSON over HTTP/1.1, the common REST.
const BYTES_REFERENCE: &str = "rest-json-h1";

/// The cells set against each other in every run that measures both: gRPC and the common REST.
const HEADLINE: (&str, &str) = ("grpc", "rest-json-h1");

/// One workload's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub workload: String,
    pub lines: Vec<String>,
    /// Each throughput margin the lines explain, split into its factors.
    #[serde(default)]
    pub factors: Vec<Factors>,
}

/// A measurement's name in a verdict or a chart: its cell, with its connections when the same
/// cell ran with several counts among `group`.
pub(crate) fn label(m: &Measurement, group: &[&Measurement]) -> String {
    let same_cell = group.iter().filter(|other| other.cell == m.cell).count();
    if same_cell > 1 { format!("{} ({} conns)", m.cell, m.connections) } else { m.cell.clone() }
}

/// The measurements of one scenario (a workload under its conditions, see
/// [`Measurement::scenario`]) at one concurrency, fastest first.
fn ranked<'a>(
    measurements: &'a [Measurement],
    workload: &str,
    concurrency: usize,
) -> Vec<&'a Measurement> {
    // A cell none of whose calls succeeded has no per-call figures to rank.
    let mut group: Vec<&Measurement> = measurements
        .iter()
        .filter(|m| m.scenario() == workload && m.concurrency == concurrency && m.calls > 0)
        .collect();
    // At an offered rate, every cell that keeps up makes the same calls/s: the lower p99 wins.
    match group.iter().all(|m| m.offered_per_second.is_some()) {
        true => group.sort_by_key(|m| m.p99_us),
        false => group.sort_by(|a, b| b.requests_per_second.total_cmp(&a.requests_per_second)),
    }
    group
}

/// In the order the measurements first name them.
pub(crate) fn distinct<T: PartialEq + Clone>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

pub fn verdicts(measurements: &[Measurement], provenance: &Provenance) -> Vec<Verdict> {
    let setting = Setting::of(provenance);
    let mut verdicts: Vec<Verdict> = distinct(measurements.iter().map(Measurement::scenario))
        .into_iter()
        .map(|workload| {
            let mut lines = Vec::new();
            let mut factors = Vec::new();
            let levels = distinct(
                measurements.iter().filter(|m| m.scenario() == workload).map(|m| m.concurrency),
            );
            let mut fastest = Vec::new();
            for &concurrency in &levels {
                let group = ranked(measurements, &workload, concurrency);
                let Some(best) = group.first() else { continue };
                let best_label = label(best, &group);
                match (group.get(1), best.offered_per_second) {
                    (Some(second), Some(offered)) => lines.push(format!(
                        "At {concurrency} in flight and {offered:.0} calls/s offered, {best_label} has the lowest p99: {:.2} ms, against {:.2} ms for {}.",
                        best.p99_us as f64 / 1000.0,
                        second.p99_us as f64 / 1000.0,
                        label(second, &group),
                    )),
                    (Some(second), None) => lines.push(format!(
                        "At {concurrency} in flight, {best_label} is fastest: {:.0} calls/s, {:.2}× {} ({:.0}).",
                        best.requests_per_second,
                        best.requests_per_second / second.requests_per_second.max(f64::MIN_POSITIVE),
                        label(second, &group),
                        second.requests_per_second,
                    )),
                    (None, _) => lines.push(format!(
                        "At {concurrency} in flight, only {best_label} was measured: {:.0} calls/s.",
                        best.requests_per_second
                    )),
                }
                if best.offered_per_second.is_none() {
                    for (faster, slower) in margins(&group) {
                        let split = margin::split(
                            (faster, label(faster, &group)),
                            (slower, label(slower, &group)),
                            &setting,
                        );
                        lines.push(margin::line(&split, faster, slower, &setting));
                        factors.push(split);
                    }
                    if let Some(second) = group.get(1) {
                        lines.push(margin::latency_line(
                            (best, &best_label),
                            (second, &label(second, &group)),
                        ));
                    }
                }
                fastest.push((concurrency, best_label));
                lines.extend(capacity_line(measurements, &workload, concurrency));
            }
            if fastest.len() > 1 {
                let winners = distinct(fastest.iter().map(|(_, cell)| cell.clone()));
                if winners.len() == 1 {
                    lines.push(format!("{} is fastest at every concurrency measured.", winners[0]));
                } else {
                    let path: Vec<String> =
                        fastest.iter().map(|(c, cell)| format!("{cell} at {c}")).collect();
                    lines.push(format!("The ranking changes with load: fastest is {}.", path.join(", ")));
                }
            }
            if let Some(line) = bytes_line(measurements, &workload, levels.first().copied()) {
                lines.push(line);
            }
            if let Some(line) = instrument_line(measurements, &workload, &setting) {
                lines.push(line);
            }
            for m in measurements.iter().filter(|m| m.scenario() == workload) {
                if let Some(spread) = m.spread().filter(|spread| *spread > NOISY_SPREAD) {
                    let group = ranked(measurements, &workload, m.concurrency);
                    lines.push(format!(
                        "{} at {} in flight varied by {:.0} % over {} repeats: too noisy to rank.",
                        label(m, &group),
                        m.concurrency,
                        spread * 100.0,
                        m.repeats_requests_per_second.len()
                    ));
                }
            }
            Verdict { workload, lines, factors }
        })
        .collect();
    verdicts.extend(across_conditions(measurements));
    verdicts
}

/// The pairs whose margins a verdict explains, faster first: the fastest cell against the
/// next, and gRPC against REST JSON over HTTP/1.1 where both ran (once per connection count).
fn margins<'a>(group: &[&'a Measurement]) -> Vec<(&'a Measurement, &'a Measurement)> {
    let mut pairs = Vec::new();
    if let [best, second, ..] = group {
        pairs.push((*best, *second));
    }
    let (grpc, rest) = HEADLINE;
    let rest = group.iter().find(|m| m.cell == rest);
    for grpc in group.iter().filter(|m| m.cell == grpc) {
        let Some(rest) = rest else { break };
        let pair = match grpc.requests_per_second >= rest.requests_per_second {
            true => (*grpc, *rest),
            false => (*rest, *grpc),
        };
        if !pairs.iter().any(|(a, b)| std::ptr::eq(*a, pair.0) && std::ptr::eq(*b, pair.1)) {
            pairs.push(pair);
        }
    }
    pairs
}

/// With `--slo`: what each cell serves within the objective, most first, each against the
/// most ("At p99 ≤ 5ms and 64 in flight, rest-json-h1 serves 3153 calls/s, grpc 1846 (×1.71)").
fn capacity_line(
    measurements: &[Measurement],
    workload: &str,
    concurrency: usize,
) -> Option<String> {
    let group: Vec<&Measurement> = measurements
        .iter()
        .filter(|m| m.scenario() == workload && m.concurrency == concurrency)
        .filter(|m| m.capacity.is_some())
        .collect();
    let objective = &group.first()?.capacity.as_ref()?.objective;
    let spoken = objective.parse::<Objective>().map_or(objective.clone(), |o| o.spoken());
    let rate = |m: &Measurement| m.capacity.as_ref().and_then(|c| c.calls_per_s);
    let mut served: Vec<(&Measurement, f64)> =
        group.iter().filter_map(|m| Some((*m, rate(m)?))).collect();
    served.sort_by(|a, b| b.1.total_cmp(&a.1));
    let unmet: Vec<String> =
        group.iter().filter(|m| rate(m).is_none()).map(|m| label(m, &group)).collect();
    let mut line = format!("At {spoken} and {concurrency} in flight, ");
    if let Some(&(best, most)) = served.first() {
        line += &format!("{} serves {most:.0} calls/s", label(best, &group));
        for &(m, calls) in &served[1..] {
            line += &format!(", {} {calls:.0} (×{:.2})", label(m, &group), most / calls.max(1.0));
        }
        if !unmet.is_empty() {
            line += "; ";
        }
    }
    if !unmet.is_empty() {
        line += &format!("no rate tried met it for {}", unmet.join(", "));
    }
    Some(line + ".")
}

/// Where a run measured under several conditions (links, TLS): for each workload and
/// concurrency, the fastest cell under each, by how much, with its p50 and bytes, and whether
/// the winner changes from one condition to another.
fn across_conditions(measurements: &[Measurement]) -> Option<Verdict> {
    let conditions = distinct(measurements.iter().map(Measurement::condition));
    if conditions.len() < 2 {
        return None;
    }
    let mut lines = Vec::new();
    for (workload, concurrency) in
        distinct(measurements.iter().map(|m| (m.workload.clone(), m.concurrency)))
    {
        let mut winners = Vec::new();
        let mut parts = Vec::new();
        for condition in &conditions {
            let mut group: Vec<&Measurement> = measurements
                .iter()
                .filter(|m| {
                    m.workload == workload
                        && m.concurrency == concurrency
                        && &m.condition() == condition
                })
                .collect();
            group.sort_by(|a, b| b.requests_per_second.total_cmp(&a.requests_per_second));
            let Some(best) = group.first() else { continue };
            let margin = group.get(1).map_or(String::new(), |second| {
                format!(
                    ", {:.2}× {}",
                    best.requests_per_second / second.requests_per_second.max(f64::MIN_POSITIVE),
                    label(second, &group)
                )
            });
            parts.push(format!(
                "{condition}: {} ({:.0} calls/s{margin}; p50 {:.1} ms, {:.0} B a call)",
                label(best, &group),
                best.requests_per_second,
                best.p50_us as f64 / 1000.0,
                bytes_per_call(best)
            ));
            winners.push((condition.clone(), label(best, &group)));
        }
        let mut line =
            format!("{workload} at {concurrency} in flight, fastest under {}.", parts.join("; "));
        let changes: Vec<String> = winners
            .windows(2)
            .filter(|pair| pair[0].1 != pair[1].1)
            .map(|pair| format!("{} ({}) to {} ({})", pair[0].0, pair[0].1, pair[1].0, pair[1].1))
            .collect();
        if changes.is_empty() {
            line += " The same cell wins under every condition.";
        } else {
            line += &format!(" The winner changes from {}.", changes.join(" and from "));
        }
        lines.push(line);
    }
    Some(Verdict { workload: "across conditions".into(), lines, factors: Vec::new() })
}

/// How much CPU the client spent per call beside the server, across the workload's cells: on
/// shared cores, that share of each figure is the instrument's, not the protocol's.
fn instrument_line(
    measurements: &[Measurement],
    workload: &str,
    setting: &Setting,
) -> Option<String> {
    let ratios: Vec<f64> = measurements
        .iter()
        .filter(|m| m.scenario() == workload && m.calls > 0)
        .filter_map(|m| {
            let (client, server) =
                (m.client_cpu_ms_per_1000_calls?, m.server_cpu_ms_per_1000_calls?);
            (server > 0.0).then(|| client / server)
        })
        .collect();
    let low = ratios.iter().copied().reduce(f64::min)?;
    let high = ratios.iter().copied().reduce(f64::max)?;
    let consequence = match setting.shared_cores {
        true => "the two share cores, so that much of each cell's figure is the instrument's",
        false => "on cores of its own, it takes nothing from the server's",
    };
    Some(format!(
        "The client (compare) spent {low:.2}× to {high:.2}× the server's CPU per call: \
         {consequence}."
    ))
}

/// Bytes a call puts on the wire, both ways.
pub(crate) fn bytes_per_call(m: &Measurement) -> f64 {
    m.request_bytes_per_call + m.response_bytes_per_call
}

/// Which cell sends the fewest bytes a call (at the lowest concurrency, where no cell's
/// framing is shared between calls), and how many fewer than JSON over HTTP/1.1.
fn bytes_line(
    measurements: &[Measurement],
    workload: &str,
    concurrency: Option<usize>,
) -> Option<String> {
    let group = ranked(measurements, workload, concurrency?);
    let fewest = group.iter().min_by(|a, b| bytes_per_call(a).total_cmp(&bytes_per_call(b)))?;
    let mut line = format!(
        "Fewest bytes on the wire: {}, {:.0} B a call (request and reply)",
        label(fewest, &group),
        bytes_per_call(fewest)
    );
    match group.iter().find(|m| m.cell == BYTES_REFERENCE) {
        Some(reference) if reference.cell != fewest.cell => {
            line += &format!(
                ", {:.0} fewer than {BYTES_REFERENCE} ({:.0} B).",
                bytes_per_call(reference) - bytes_per_call(fewest),
                bytes_per_call(reference)
            )
        }
        _ => line += ".",
    }
    Some(line)
}
