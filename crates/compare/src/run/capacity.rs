//! `--slo`: a cell's capacity at a latency objective, the highest open-loop rate at which
//! every limit of the objective holds, no call fails and the calls offered are made. An
//! operator sizes a service by that number, not by a closed loop's peak.
//!
//! The search: a closed-loop probe gives the peak; open-loop steps start at half of it, double
//! while the objective holds (or quarter while it does not), then bisect (geometrically)
//! between the highest rate met and the lowest missed until they are within the resolution;
//! last, the rate found must hold over a run three steps long, or is lowered until one does.
//! Every step is a row of `steps`, so the curve of latency against offered load can be drawn.

use std::time::Duration;

use super::{Measurement, Session, objective::Objective};

/// A cell's capacity at an objective, and every rate tried on the way.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Capacity {
    /// `p99<=5ms`.
    pub objective: String,
    /// The highest offered rate that met the objective; `None`: no rate tried did.
    pub calls_per_s: Option<f64>,
    /// The latency at that rate.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    /// CPU per 1,000 calls at that rate: the server's (when local) and compare's own.
    pub server_cpu_ms_per_1000_calls: Option<f64>,
    pub client_cpu_ms_per_1000_calls: Option<f64>,
    /// Why no rate met the objective, when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmet: Option<String>,
    /// Every step, in the order it ran.
    pub steps: Vec<Step>,
}

/// One open-loop step of the search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub offered_per_s: f64,
    /// Calls answered well ÷ the step's duration.
    pub achieved_per_s: f64,
    pub calls: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub server_cpu_ms_per_1000_calls: Option<f64>,
    /// Whether the step met the objective; if not, the first reason it did not.
    pub met: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<String>,
    /// A longer run at the capacity found, which it must hold (see [`search`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmation: bool,
}

/// What `--slo`, `--slo-step-duration` and `--slo-resolution` asked for.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub(crate) objective: Objective,
    pub(crate) step: Duration,
    /// Stop when the highest rate met and the lowest missed are within this fraction.
    pub(crate) resolution: f64,
}

/// A step must make at least this share of the calls it offered: below it, the server (or
/// the calls in flight) could not keep up, whatever the latency of the calls that went.
pub(crate) const ACHIEVED_SHARE: f64 = 0.98;

/// A search that has not converged after this many steps stops with what it has.
const MAX_STEPS: usize = 24;

/// A confirmation run lasts this many steps.
const CONFIRMATION_STEPS: u32 = 3;

/// At most this many confirmation runs, each 2 × the resolution below the last.
const MAX_CONFIRMATIONS: usize = 4;

/// The probe's closed-loop measurement, its `capacity` filled in.
pub(crate) async fn search(session: &mut Session<'_>, search: &Search) -> Measurement {
    let seconds = search.step.as_secs_f64();
    let mut probe = session.run(search.step, None).await;
    let peak = probe.calls as f64 / seconds;
    let mut steps: Vec<Step> = Vec::new();
    let mut met: Option<(f64, Measurement)> = None;
    let mut missed: Option<f64> = None;
    // A rate so low that a step holds too few calls to read the objective's percentile: fewer
    // than 5 calls beyond it (500 for p99).
    let fewest_calls = (5.0 / (1.0 - search.objective.highest_percentile() / 100.0)).max(100.0);
    let floor = (fewest_calls / seconds).max(peak / 1024.0);
    let mut unmet = None;
    if probe.calls == 0 {
        unmet = Some(format!(
            "the closed-loop probe got no call through ({})",
            probe.first_error.as_deref().unwrap_or("no call answered")
        ));
    }
    // Bracket: from half the peak, double while met, quarter while missed.
    let mut rate = peak / 2.0;
    while unmet.is_none() && steps.len() < MAX_STEPS {
        let (step, measurement) = try_rate(session, search, rate).await;
        let held = step.met;
        steps.push(step);
        if held {
            met = Some((rate, measurement));
            if missed.is_some() {
                break;
            }
            rate *= 2.0;
        } else {
            missed = Some(rate);
            if met.is_some() {
                break;
            }
            if rate / 4.0 < floor {
                let last = steps.last().and_then(|step| step.missed.clone()).unwrap_or_default();
                unmet = Some(format!(
                    "not met at any rate tried, down to {rate:.0} calls/s ({last}); a step of \
                     {seconds} s below {floor:.0} calls/s has too few calls to read the objective"
                ));
            }
            rate /= 4.0;
        }
    }
    // Bisect between the highest rate met and the lowest missed.
    while let (Some((low, _)), Some(high)) = (&met, missed) {
        if high / low <= 1.0 + search.resolution || steps.len() >= MAX_STEPS {
            break;
        }
        let rate = (low * high).sqrt();
        let (step, measurement) = try_rate(session, search, rate).await;
        match step.met {
            true => met = Some((rate, measurement)),
            false => missed = Some(rate),
        }
        steps.push(step);
    }
    // Confirm: a rate met in a few seconds may have missed the transient backlogs (a burst of
    // other work, a descheduled thread) that a longer run meets; measured, a 2 s step's capacity
    // failed a 10 s run at 0.9 × in 3 of 3 runs. The capacity must hold over a run of
    // CONFIRMATION_STEPS steps; while it does not, it is lowered by twice the resolution.
    let mut confirmations = 0;
    while let Some((rate, _)) = &met {
        if confirmations == MAX_CONFIRMATIONS {
            unmet = Some(format!(
                "no rate held over a confirmation run of {:.0} s, down to {rate:.0} calls/s",
                seconds * CONFIRMATION_STEPS as f64
            ));
            met = None;
            break;
        }
        confirmations += 1;
        let rate = *rate;
        let duration = search.step * CONFIRMATION_STEPS;
        let (mut step, measurement) = try_rate_for(session, search, rate, duration).await;
        step.confirmation = true;
        let held = step.met;
        steps.push(step);
        if held {
            met = Some((rate, measurement));
            break;
        }
        met = Some((rate * (1.0 - 2.0 * search.resolution), measurement));
    }
    let at = met.as_ref().map(|(_, measurement)| measurement);
    probe.capacity = Some(Capacity {
        objective: search.objective.to_string(),
        calls_per_s: met.as_ref().map(|(rate, _)| *rate),
        p50_us: at.map(|m| m.p50_us),
        p99_us: at.map(|m| m.p99_us),
        p999_us: at.map(|m| m.p999_us),
        server_cpu_ms_per_1000_calls: at.and_then(|m| m.server_cpu_ms_per_1000_calls),
        client_cpu_ms_per_1000_calls: at.and_then(|m| m.client_cpu_ms_per_1000_calls),
        unmet: if met.is_some() { None } else { unmet.or(Some("the search stopped".into())) },
        steps,
    });
    probe
}

/// One open-loop step at `rate`, judged.
async fn try_rate(session: &mut Session<'_>, search: &Search, rate: f64) -> (Step, Measurement) {
    try_rate_for(session, search, rate, search.step).await
}

/// An open-loop run of `duration` at `rate`, judged as a step.
async fn try_rate_for(
    session: &mut Session<'_>,
    search: &Search,
    rate: f64,
    duration: Duration,
) -> (Step, Measurement) {
    let measurement = session.run(duration, Some(rate)).await;
    let achieved = measurement.calls as f64 / duration.as_secs_f64();
    let missed = if measurement.errors > 0 {
        Some(format!(
            "{} calls failed ({})",
            measurement.errors,
            measurement.first_error.as_deref().unwrap_or("")
        ))
    } else if achieved < ACHIEVED_SHARE * rate {
        Some(format!("{achieved:.0} of {rate:.0} calls/s made"))
    } else {
        measurement.latency.as_ref().and_then(|latency| search.objective.missed(latency))
    };
    tracing::debug!(cell = %measurement.cell, rate, achieved, ?missed, "capacity step");
    let step = Step {
        offered_per_s: rate,
        achieved_per_s: achieved,
        calls: measurement.calls,
        errors: measurement.errors,
        p50_us: measurement.p50_us,
        p99_us: measurement.p99_us,
        p999_us: measurement.p999_us,
        server_cpu_ms_per_1000_calls: measurement.server_cpu_ms_per_1000_calls,
        met: missed.is_none(),
        missed,
        confirmation: false,
    };
    (step, measurement)
}
