//! Which packets a packet link loses: none, each on its own with probability p, or in bursts
//! (the Gilbert–Elliott model), as a `--link` part names it (`loss=1%`, `loss=2%/burst=4`),
//! and the process that decides packet by packet.

use std::{fmt, str::FromStr};

/// How a link loses packets, in each direction alike.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) enum Loss {
    #[default]
    None,
    /// Each packet lost with probability `p`, whatever became of the one before.
    Independent { p: f64 },
    /// Two states: Good loses nothing, Bad loses everything. The transitions are chosen so
    /// that a fraction `p` of packets is lost in the long run, in runs of `mean_burst`
    /// packets on average.
    GilbertElliott { p: f64, mean_burst: f64 },
}

impl Loss {
    /// The fraction of packets lost in the long run.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        match *self {
            Loss::None => 0.0,
            Loss::Independent { p } | Loss::GilbertElliott { p, .. } => p,
        }
    }

    /// The packet-by-packet decisions, drawn from `rng` (seeded for a test that must repeat).
    pub(crate) fn process(&self, rng: fastrand::Rng) -> LossProcess {
        let model = match *self {
            Loss::None => Model::None,
            Loss::Independent { p } => Model::Independent { p },
            Loss::GilbertElliott { p, mean_burst } => {
                let bad_to_good = 1.0 / mean_burst;
                Model::GilbertElliott { good_to_bad: p * bad_to_good / (1.0 - p), bad_to_good }
            }
        };
        LossProcess { model, rng, bad: false }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rounded, so that 7% reads `7%` rather than `7.000000000000001%`.
        let percent = |p: f64| (p * 100.0 * 1e9).round() / 1e9;
        match *self {
            Loss::None => f.write_str("0%"),
            Loss::Independent { p } => write!(f, "{}%", percent(p)),
            Loss::GilbertElliott { p, mean_burst } => {
                write!(f, "{}%/burst={mean_burst}", percent(p))
            }
        }
    }
}

impl FromStr for Loss {
    type Err = String;

    /// `1%` (each packet on its own), `2%/burst=4` (in bursts of 4 packets on average), or
    /// `0%` (none).
    fn from_str(text: &str) -> Result<Self, String> {
        let (rate, burst) = match text.split_once('/') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let percent = rate
            .strip_suffix('%')
            .and_then(|number| number.parse::<f64>().ok())
            .ok_or_else(|| format!("a loss is a percentage such as 1% or 0.5%, not {rate:?}"))?;
        if !(0.0..100.0).contains(&percent) {
            return Err(format!("a loss from 0% up to (not including) 100%, not {rate:?}"));
        }
        let p = percent / 100.0;
        let Some(burst) = burst else {
            return Ok(if p == 0.0 { Loss::None } else { Loss::Independent { p } });
        };
        let mean_burst =
            burst.strip_prefix("burst=").and_then(|number| number.parse::<f64>().ok()).ok_or_else(
                || format!("after the loss, /burst=N: the mean run of lost packets, not {burst:?}"),
            )?;
        if p == 0.0 {
            return Err(format!("a burst of losses needs a loss above 0%: {text:?}"));
        }
        // Good→Bad = p·r/(1−p) is a probability only while the mean burst is at least p/(1−p).
        let shortest = (p / (1.0 - p)).max(1.0);
        if mean_burst.is_nan() || mean_burst < shortest {
            return Err(format!(
                "at a loss of {percent}% the mean burst is at least {shortest} packets, not \
                 {burst:?}"
            ));
        }
        Ok(Loss::GilbertElliott { p, mean_burst })
    }
}

/// A [`Loss`] at work: asked once per packet whether that packet is lost.
#[derive(Debug)]
pub(crate) struct LossProcess {
    model: Model,
    rng: fastrand::Rng,
    /// Gilbert–Elliott's state: in Bad, every packet is lost.
    bad: bool,
}

#[derive(Debug, Clone, Copy)]
enum Model {
    None,
    Independent { p: f64 },
    GilbertElliott { good_to_bad: f64, bad_to_good: f64 },
}

impl LossProcess {
    /// Whether the next packet is lost.
    pub(crate) fn loses_next(&mut self) -> bool {
        match self.model {
            Model::None => false,
            Model::Independent { p } => self.rng.f64() < p,
            Model::GilbertElliott { good_to_bad, bad_to_good } => {
                // This packet meets the state as it is; the state moves on for the next one.
                let lost = self.bad;
                let leave = if self.bad { bad_to_good } else { good_to_bad };
                if self.rng.f64() < leave {
                    self.bad = !self.bad;
                }
                lost
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_read_as_percentages_with_an_optional_burst() {
        let cases = [
            ("1%", Loss::Independent { p: 0.01 }),
            ("0.5%", Loss::Independent { p: 0.005 }),
            ("0%", Loss::None),
            ("2%/burst=4", Loss::GilbertElliott { p: 0.02, mean_burst: 4.0 }),
            ("50%/burst=1", Loss::GilbertElliott { p: 0.5, mean_burst: 1.0 }),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Loss>(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn a_loss_written_out_reads_back_the_same() {
        for loss in [
            Loss::None,
            Loss::Independent { p: 0.01 },
            Loss::GilbertElliott { p: 0.02, mean_burst: 4.0 },
        ] {
            assert_eq!(loss.to_string().parse::<Loss>(), Ok(loss), "{loss}");
        }
    }

    #[test]
    fn malformed_losses_are_refused_with_what_is_expected() {
        let cases = [
            ("1", "a percentage"),
            ("one%", "a percentage"),
            ("100%", "up to (not including) 100%"),
            ("-1%", "from 0%"),
            ("1%/4", "/burst=N"),
            ("1%/burst=x", "/burst=N"),
            ("0%/burst=4", "above 0%"),
            ("2%/burst=0.5", "at least 1 packets"),
            ("75%/burst=2", "at least 3 packets"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<Loss>().expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    /// The fraction lost and the mean run of consecutive losses over `packets` packets.
    fn observe(loss: Loss, packets: usize) -> (f64, f64) {
        let mut process = loss.process(fastrand::Rng::with_seed(7));
        let (mut lost, mut bursts, mut in_burst) = (0usize, 0usize, false);
        for _ in 0..packets {
            let this = process.loses_next();
            lost += usize::from(this);
            bursts += usize::from(this && !in_burst);
            in_burst = this;
        }
        (lost as f64 / packets as f64, lost as f64 / bursts.max(1) as f64)
    }

    fn assert_within(measured: f64, expected: f64, tolerance: f64, what: &str) {
        let error = (measured - expected).abs() / expected;
        assert!(error <= tolerance, "{what}: {measured} against {expected} (off by {error:.3})");
    }

    #[test]
    fn gilbert_elliott_loses_p_in_bursts_of_the_mean_length() {
        for (p, mean_burst) in [(0.02, 4.0), (0.01, 2.0), (0.05, 10.0)] {
            let (rate, burst) = observe(Loss::GilbertElliott { p, mean_burst }, 1_000_000);
            assert_within(rate, p, 0.05, &format!("loss rate at p={p}, burst={mean_burst}"));
            assert_within(burst, mean_burst, 0.10, &format!("burst at p={p}, burst={mean_burst}"));
        }
    }

    #[test]
    fn independent_loss_loses_p_in_runs_of_one_over_one_minus_p() {
        for p in [0.01, 0.05] {
            let (rate, burst) = observe(Loss::Independent { p }, 1_000_000);
            assert_within(rate, p, 0.05, &format!("loss rate at p={p}"));
            // A run of independent losses ends at each packet with probability 1 − p.
            assert_within(burst, 1.0 / (1.0 - p), 0.10, &format!("burst at p={p}"));
        }
    }

    #[test]
    fn no_loss_loses_nothing() {
        assert_eq!(observe(Loss::None, 10_000).0, 0.0);
    }
}
