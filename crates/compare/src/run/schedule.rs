//! `--rate`: one open-loop rate, or a schedule of rates, each step measured as a row of its
//! own, so that latency can be drawn against offered load (as ghz's `--load-schedule` users
//! do by hand).
//!
//! - `2000`: 2,000 calls/s for the whole `--duration`;
//! - `step:1000..20000+1000@2s`: 1,000 calls/s, then 2,000, … up to 20,000, each for 2 s
//!   (`@…` left out: `--duration` each); `-STEP` walks down from a higher start;
//! - `line:1000..5000+500`: ghz's `line` at a resolution of one second: the rate grows by 500
//!   calls/s every second, each second a row.

use std::{fmt, str::FromStr, time::Duration};

#[derive(Debug, Clone, PartialEq)]
pub enum RateSchedule {
    Constant(f64),
    Steps { text: String, steps: Vec<RateStep> },
}

/// One step of a schedule: its rate, and how long it lasts (`None`: `--duration`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStep {
    pub rate: f64,
    pub duration: Option<Duration>,
}

/// More steps than this is a typo, not a plan.
const MAX_STEPS: usize = 1000;

const FORM: &str = "a rate is calls per second (2000), step:START..END+STEP[@DURATION] \
                    (step:1000..20000+1000@2s) or line:START..END+STEP (the rate grows by STEP \
                    every second)";

impl FromStr for RateSchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = |why: &str| format!("{text:?}: {why}; {FORM}");
        let (kind, spec) = match text.split_once(':') {
            None => {
                return match text.trim().parse::<f64>() {
                    Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(Self::Constant(rate)),
                    _ => Err(refuse("not a rate above zero")),
                };
            }
            Some(split) => split,
        };
        let (range, duration) = match (kind, spec.split_once('@')) {
            ("step", Some((range, duration))) => {
                let duration = contract::durations::with_unit(duration)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| refuse("the step's duration is not one (2s, 500ms)"))?;
                (range, Some(duration))
            }
            ("step", None) => (spec, None),
            ("line", None) => (spec, Some(Duration::from_secs(1))),
            ("line", Some(_)) => return Err(refuse("a line grows every second, it takes no @")),
            _ => return Err(refuse("the schedules are step and line")),
        };
        let (start, rest) = range.split_once("..").ok_or_else(|| refuse("no START..END"))?;
        let sign = rest.find(['+', '-']).ok_or_else(|| refuse("no +STEP or -STEP"))?;
        let (end, step) = rest.split_at(sign);
        let number = |text: &str| text.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        let (Some(start), Some(end), Some(step)) = (number(start), number(end), number(step))
        else {
            return Err(refuse("START, END and STEP are numbers"));
        };
        if start <= 0.0 || end <= 0.0 {
            return Err(refuse("rates are above zero"));
        }
        if step == 0.0 || (end - start) * step < 0.0 {
            return Err(refuse("STEP must lead from START to END"));
        }
        let count = ((end - start) / step).floor() as usize + 1;
        if count > MAX_STEPS {
            return Err(refuse(&format!("more than {MAX_STEPS} steps")));
        }
        let steps =
            (0..count).map(|i| RateStep { rate: start + step * i as f64, duration }).collect();
        Ok(Self::Steps { text: text.to_owned(), steps })
    }
}

impl fmt::Display for RateSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Constant(rate) => write!(f, "{rate}"),
            Self::Steps { text, .. } => f.write_str(text),
        }
    }
}

impl RateSchedule {
    /// The one rate of a constant schedule.
    pub fn constant(&self) -> Option<f64> {
        match self {
            Self::Constant(rate) => Some(*rate),
            Self::Steps { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Vec<(f64, Option<Duration>)> {
        match text.parse::<RateSchedule>().unwrap() {
            RateSchedule::Steps { steps, .. } => {
                steps.iter().map(|step| (step.rate, step.duration)).collect()
            }
            constant => panic!("{constant:?}"),
        }
    }

    #[test]
    fn a_number_is_one_rate() {
        assert_eq!("2000".parse(), Ok(RateSchedule::Constant(2000.0)));
    }

    #[test]
    fn a_step_schedule_climbs_or_descends_to_its_end() {
        let two = Some(Duration::from_secs(2));
        assert_eq!(steps("step:1000..3000+1000@2s"), [(1000.0, two), (2000.0, two), (3000.0, two)]);
        assert_eq!(steps("step:300..100-100"), [(300.0, None), (200.0, None), (100.0, None)]);
        // An end the steps do not land on is not passed.
        assert_eq!(steps("step:100..250+100").len(), 2);
    }

    #[test]
    fn a_line_grows_every_second() {
        let one = Some(Duration::from_secs(1));
        assert_eq!(steps("line:100..200+50"), [(100.0, one), (150.0, one), (200.0, one)]);
    }

    #[test]
    fn refuses_what_is_not_a_schedule_naming_the_forms() {
        for text in [
            "0",
            "fast",
            "step:100..200",
            "step:200..100+100",
            "step:100..200+0",
            "step:100..200+10@never",
            "line:100..200+10@2s",
            "ramp:1..2+1",
            "step:1..1000000+1",
        ] {
            let error = text.parse::<RateSchedule>().unwrap_err();
            assert!(error.contains("step:START..END+STEP"), "{text}: {error}");
        }
    }
}
