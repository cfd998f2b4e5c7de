//! Durations as people write them on a command line or in an environment variable: a number
//! and its unit (`250us`, `500ms`, `10s`, `2m`), as wrk, oha, ghz and h2load take them. Flags
//! that have always taken seconds still take a bare number as seconds.

use std::time::Duration;

/// What `--help` says under the flags of `serve` and `compare`.
pub const HELP: &str =
    "Durations take a unit: 250us, 500ms, 10s, 2m. A bare number is seconds (--duration 10).";

/// A number with its unit (`us` or `µs`, `ms`, `s`, `m`); `None` for anything else, a bare
/// number or a negative one among them.
pub fn with_unit(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// A flag's duration: a number with its unit, or a bare number of seconds (`1.5`).
pub fn seconds_or_unit(text: &str) -> Result<Duration, String> {
    let bare = text.trim().parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok());
    bare.or_else(|| with_unit(text)).ok_or_else(|| {
        format!("{text:?} is not a duration: a number and its unit (500ms, 10s, 2m), or seconds")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_number_and_its_unit() {
        assert_eq!(with_unit("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(with_unit("250us"), Some(Duration::from_micros(250)));
        assert_eq!(with_unit("250µs"), Some(Duration::from_micros(250)));
        assert_eq!(with_unit("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(with_unit("2m"), Some(Duration::from_secs(120)));
        for text in ["20", "ms", "-1ms", "1h", "1.2.3s", "10 s"] {
            assert_eq!(with_unit(text), None, "{text}");
        }
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(seconds_or_unit("10"), Ok(Duration::from_secs(10)));
        assert_eq!(seconds_or_unit("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds_or_unit("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(seconds_or_unit("500ms"), Ok(Duration::from_millis(500)));
        for text in ["-1", "ten", "10x", "", "inf"] {
            let refusal = seconds_or_unit(text).unwrap_err();
            assert!(refusal.contains("500ms, 10s, 2m"), "{text}: {refusal}");
        }
    }
}
