//! A latency objective (`--slo p99=5ms`, several joined by commas): the percentiles a rate
//! must keep under their limits for compare to count it as served.

use std::{fmt, str::FromStr, time::Duration};

use hdrhistogram::Histogram;

/// Every limit must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    limits: Vec<Limit>,
}

/// One percentile's limit: `p99<=5ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limit {
    percentile: f64,
    at_most: Duration,
}

/// The form, quoted whenever an objective is refused.
const FORM: &str = "an objective is pPERCENTILE=LATENCY, several separated by commas, all \
                    required (p99=5ms; p50=1ms,p99.9=20ms; units us, ms or s)";

impl FromStr for Objective {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = |why: String| format!("{why}: {FORM}");
        let limits = text
            .split(',')
            .map(|limit| {
                let limit = limit.trim();
                let (percentile, latency) = limit
                    .split_once("<=")
                    .or_else(|| limit.split_once('='))
                    .ok_or_else(|| refuse(format!("{limit:?} has no '='")))?;
                let percentile = percentile
                    .trim()
                    .strip_prefix('p')
                    .and_then(|p| p.parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p < 100.0)
                    .ok_or_else(|| {
                        refuse(format!("{percentile:?} is not a percentile between p0 and p100"))
                    })?;
                let at_most = latency_of(latency.trim()).ok_or_else(|| {
                    refuse(format!("{latency:?} is not a latency above zero with its unit"))
                })?;
                Ok(Limit { percentile, at_most })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { limits })
    }
}

/// A latency above zero and under an hour.
fn latency_of(text: &str) -> Option<Duration> {
    contract::durations::with_unit(text)
        .filter(|latency| !latency.is_zero() && *latency < Duration::from_secs(3600))
}

impl fmt::Display for Objective {
    /// `p99<=5ms,p99.9<=20ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limits: Vec<String> = self
            .limits
            .iter()
            .map(|limit| format!("p{}<={}", limit.percentile, shown(limit.at_most)))
            .collect();
        f.write_str(&limits.join(","))
    }
}

/// A latency as a person writes it: `5ms`, `250us`, `1.5s`.
fn shown(latency: Duration) -> String {
    let us = latency.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{}us", round(us))
    } else if us < 1e6 {
        format!("{}ms", round(us / 1e3))
    } else {
        format!("{}s", round(us / 1e6))
    }
}

/// At most three decimals, trailing zeros dropped.
fn round(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl Objective {
    /// The first limit the latencies break (`p99 7.21 ms > 5ms`), or none.
    pub(crate) fn missed(&self, latency: &Histogram<u64>) -> Option<String> {
        self.limits.iter().find_map(|limit| {
            let us = latency.value_at_quantile(limit.percentile / 100.0);
            (us as f64 > limit.at_most.as_secs_f64() * 1e6).then(|| {
                format!(
                    "p{} {:.2} ms > {}",
                    limit.percentile,
                    us as f64 / 1000.0,
                    shown(limit.at_most)
                )
            })
        })
    }

    /// The highest percentile it names: how many calls a step needs for it to mean anything.
    pub(crate) fn highest_percentile(&self) -> f64 {
        self.limits.iter().map(|limit| limit.percentile).fold(0.0, f64::max)
    }

    /// As a verdict says it: `p99 ≤ 5ms and p99.9 ≤ 20ms`.
    pub(crate) fn spoken(&self) -> String {
        let limits: Vec<String> = self.labelled_limits().map(|(label, _)| label).collect();
        limits.join(" and ")
    }

    /// Each limit named as a person reads it (`p99 ≤ 5ms`), with its latency in ms: what the
    /// report's capacity chart draws.
    pub(crate) fn labelled_limits(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        self.limits.iter().map(|limit| {
            let label = format!("p{} ≤ {}", limit.percentile, shown(limit.at_most));
            (label, limit.at_most.as_secs_f64() * 1e3)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_or_several_limits_in_either_spelling() {
        let objective: Objective = "p99=5ms".parse().unwrap();
        assert_eq!(objective.to_string(), "p99<=5ms");
        let objective: Objective = "p50<=250us, p99.9=1.5s".parse().unwrap();
        assert_eq!(objective.to_string(), "p50<=250us,p99.9<=1.5s");
        assert_eq!(objective.spoken(), "p50 ≤ 250us and p99.9 ≤ 1.5s");
        assert_eq!(objective.highest_percentile(), 99.9);
    }

    #[test]
    fn refuses_what_is_not_an_objective_naming_the_form() {
        for text in ["99=5ms", "p99", "p100=5ms", "p99=5", "p99=fast", "p99=0ms", "p99=5ms,"] {
            let error = text.parse::<Objective>().unwrap_err();
            assert!(error.contains("pPERCENTILE=LATENCY"), "{text}: {error}");
        }
    }

    #[test]
    fn says_which_limit_a_latency_breaks() {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=1000 {
            latency.record(us * 10).unwrap();
        }
        let met: Objective = "p99=10ms".parse().unwrap();
        assert_eq!(met.missed(&latency), None);
        let missed: Objective = "p50=10ms,p99=5ms".parse().unwrap();
        assert_eq!(missed.missed(&latency).unwrap(), "p99 9.90 ms > 5ms");
    }
}
