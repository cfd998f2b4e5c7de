//! What a churn run reports, from every call's record: per event, the calls that failed and
//! were sent again from its start to 2 s after its end, the p99 there against the steady p99
//! (the calls before the first event), and how long after the event every server behind the
//! proxy held its fair share; and the run second by second.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{Churn, Played};
use crate::{clients::wire::WireCounters, run::CallRecord};

/// How long after an event its window lasts.
const AFTER_EVENT: Duration = Duration::from_secs(2);
/// Fair share: each server's part of the calls within ±10 % of 1/N ...
const FAIR_TOLERANCE: f64 = 0.10;
/// ... in every 1 s window (slid by [`FAIR_STEP`]) of 3 s in a row.
const FAIR_WINDOW: Duration = Duration::from_secs(1);
const FAIR_FOR: Duration = Duration::from_secs(3);
const FAIR_STEP: Duration = Duration::from_millis(250);

/// What a run under `--churn` went through.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChurnReport {
    pub schedule: String,
    /// The p99 of the calls that ended before the first event.
    pub steady_p99_us: Option<u64>,
    pub events: Vec<EventFigures>,
    pub timeline: Vec<Second>,
}

/// What one event cost.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EventFigures {
    pub event: String,
    /// When it began, in seconds from the run's start, and how long it took (a new server's
    /// start until ready, for a scale-up; every server's, one after another, for a rolling one).
    pub began_s: f64,
    pub took_s: f64,
    /// The servers behind the proxy after it.
    pub servers_after: Vec<String>,
    /// From its start to 2 s after its end: the calls that failed, those sent again (the
    /// server never began them), and the p99 of those that succeeded.
    pub failed: u64,
    pub retried: u64,
    pub p99_us: Option<u64>,
    /// Seconds from its end until every server behind the proxy held its fair share (±10 %
    /// of 1/N of the calls, in every 1 s window over 3 s); `None`: not before the next event
    /// or the run's end.
    pub fair_share_after_s: Option<f64>,
    /// Each server's part of the calls answered from its end to the run's end (or the next
    /// event's start).
    pub shares_after: BTreeMap<String, f64>,
}

/// One second of the run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Second {
    pub second: u64,
    pub ok: u64,
    pub failed: u64,
    pub retried: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// Calls answered by each server.
    pub servers: BTreeMap<String, u64>,
}

/// The calls sent again so far, every 100 ms.
pub(crate) struct RetrySamples(Vec<(Instant, u64)>);

impl RetrySamples {
    pub(crate) async fn during(counters: &Arc<WireCounters>, until: Instant) -> Self {
        let mut samples = Vec::new();
        loop {
            let total = counters.retried().iter().map(|(_, count)| count).sum();
            samples.push((Instant::now(), total));
            if Instant::now() >= until {
                return Self(samples);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The calls sent again between two moments, as far as the samples tell.
    fn between(&self, from: Instant, to: Instant) -> u64 {
        let at = |moment: Instant| {
            self.0.iter().take_while(|(when, _)| *when <= moment).last().map_or(0, |(_, n)| *n)
        };
        at(to).saturating_sub(at(from))
    }
}

fn percentile(latencies: &mut [u64], quantile: f64) -> Option<u64> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let rank = ((latencies.len() as f64 * quantile).ceil() as usize).clamp(1, latencies.len());
    Some(latencies[rank - 1])
}

fn name_of(record: &CallRecord) -> Option<String> {
    Some(String::from_utf8_lossy(record.server.as_ref()?.as_bytes()).into_owned())
}

impl ChurnReport {
    pub(crate) fn of(
        churn: &Churn,
        records: &[CallRecord],
        started: Instant,
        played: &[Played],
        retried: &RetrySamples,
    ) -> Self {
        let since = |moment: Instant| moment.saturating_duration_since(started);
        let ok_latencies = |from: Duration, to: Duration| -> Vec<u64> {
            records
                .iter()
                .filter(|r| r.failed.is_none() && r.done >= from && r.done < to)
                .map(|r| r.latency_us)
                .collect()
        };
        let first_event = played.first().map_or(Duration::MAX, |p| since(p.began));
        let steady_p99_us = percentile(&mut ok_latencies(Duration::ZERO, first_event), 0.99);
        let run_end = records.iter().map(|r| r.done).max().unwrap_or_default();
        let events = played
            .iter()
            .enumerate()
            .map(|(index, p)| {
                let (from, to) = (since(p.began), since(p.ended) + AFTER_EVENT);
                let until = played.get(index + 1).map_or(run_end, |next| since(next.began));
                EventFigures {
                    event: p.event.clone(),
                    began_s: from.as_secs_f64(),
                    took_s: (p.ended - p.began).as_secs_f64(),
                    servers_after: p.members.clone(),
                    failed: records
                        .iter()
                        .filter(|r| r.failed.is_some() && r.done >= from && r.done < to)
                        .count() as u64,
                    retried: retried.between(p.began, p.ended + AFTER_EVENT),
                    p99_us: percentile(&mut ok_latencies(from, to), 0.99),
                    fair_share_after_s: fair_share_after(
                        records,
                        since(p.ended),
                        until,
                        &p.members,
                    )
                    .map(|after| after.as_secs_f64()),
                    shares_after: shares(records, since(p.ended), until),
                }
            })
            .collect();
        let seconds = run_end.as_secs() + 1;
        let timeline = (0..seconds)
            .map(|second| {
                let (from, to) = (Duration::from_secs(second), Duration::from_secs(second + 1));
                let within: Vec<&CallRecord> =
                    records.iter().filter(|r| r.done >= from && r.done < to).collect();
                let mut latencies: Vec<u64> =
                    within.iter().filter(|r| r.failed.is_none()).map(|r| r.latency_us).collect();
                let mut servers = BTreeMap::new();
                for record in within.iter().filter(|r| r.failed.is_none()) {
                    if let Some(name) = name_of(record) {
                        *servers.entry(name).or_insert(0) += 1;
                    }
                }
                Second {
                    second,
                    ok: latencies.len() as u64,
                    failed: within.iter().filter(|r| r.failed.is_some()).count() as u64,
                    retried: retried.between(started + from, started + to),
                    p50_us: percentile(&mut latencies, 0.50),
                    p99_us: percentile(&mut latencies, 0.99),
                    servers,
                }
            })
            .collect();
        Self { schedule: churn.to_string(), steady_p99_us, events, timeline }
    }
}

/// Each server's part of the calls answered between two moments of the run.
fn shares(records: &[CallRecord], from: Duration, to: Duration) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    let mut total = 0u64;
    for record in records.iter().filter(|r| r.failed.is_none() && r.done >= from && r.done <= to) {
        total += 1;
        if let Some(name) = name_of(record) {
            *counts.entry(name).or_insert(0u64) += 1;
        }
    }
    counts.into_iter().map(|(name, count)| (name, count as f64 / total.max(1) as f64)).collect()
}

/// How long after `from` every one of `members` held its fair share of the calls (see
/// [`EventFigures::fair_share_after_s`]), if it did before `end`.
fn fair_share_after(
    records: &[CallRecord],
    from: Duration,
    end: Duration,
    members: &[String],
) -> Option<Duration> {
    if members.is_empty() {
        return None;
    }
    let fair = 1.0 / members.len() as f64;
    // The successful calls in order of their end, each with its server's place in `members`.
    let mut calls: Vec<(Duration, Option<usize>)> = records
        .iter()
        .filter(|r| r.failed.is_none())
        .map(|r| (r.done, name_of(r).and_then(|name| members.iter().position(|m| *m == name))))
        .collect();
    calls.sort_unstable_by_key(|(done, _)| *done);
    let window_is_fair = |start: Duration| {
        let first = calls.partition_point(|(done, _)| *done < start);
        let last = calls.partition_point(|(done, _)| *done < start + FAIR_WINDOW);
        let mut counts = vec![0u64; members.len()];
        for (_, member) in &calls[first..last] {
            if let Some(at) = member {
                counts[*at] += 1;
            }
        }
        let total = (last - first) as f64;
        total > 0.0
            && counts
                .iter()
                .all(|&count| (count as f64 / total - fair).abs() <= fair * FAIR_TOLERANCE)
    };
    let windows = (FAIR_FOR - FAIR_WINDOW).as_millis() / FAIR_STEP.as_millis() + 1;
    let mut start = from;
    while start + FAIR_FOR <= end {
        let held = (0..windows as u32).all(|step| window_is_fair(start + FAIR_STEP * step));
        if held {
            return Some(start - from);
        }
        start += FAIR_STEP;
    }
    None
}

/// The churn's figures as lines after the table: per event, then the run second by second.
pub(crate) fn render(report: &ChurnReport) -> String {
    let micros = |us: Option<u64>| us.map_or("-".to_owned(), |us| format!("{us} µs"));
    let mut text = format!(
        "churn {}: steady p99 {} (the calls before the first event)\n",
        report.schedule,
        micros(report.steady_p99_us)
    );
    for event in &report.events {
        let shares: Vec<String> = event
            .shares_after
            .iter()
            .map(|(name, share)| format!("{name} {:.0} %", share * 100.0))
            .collect();
        let fair = match event.fair_share_after_s {
            Some(after) => format!("fair share {after:.2} s after it"),
            None => "no fair share within the run".to_owned(),
        };
        let fair = format!("{fair}; shares after it: {}", shares.join(", "));
        text += &format!(
            "  {} at {:.1} s, took {:.1} s; then {}: {} failed, {} sent again, p99 {} (to 2 s \
             after); {fair}\n",
            event.event,
            event.began_s,
            event.took_s,
            event.servers_after.join(" "),
            event.failed,
            event.retried,
            micros(event.p99_us),
        );
    }
    text += "  second  ok  failed  retried  p99  calls per server\n";
    for second in &report.timeline {
        let servers: Vec<String> =
            second.servers.iter().map(|(name, calls)| format!("{name} {calls}")).collect();
        text += &format!(
            "  {:>6}  {}  {}  {}  {}  {}\n",
            second.second,
            second.ok,
            second.failed,
            second.retried,
            micros(second.p99_us),
            servers.join(", ")
        );
    }
    text
}
