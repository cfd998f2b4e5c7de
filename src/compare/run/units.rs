//! Durations as the command line writes them: `20ms`, `250us` (or `µs`), `1.5s`.

use std::time::Duration;

/// A duration with its unit; `None` for anything else (a bare number, a negative one).
pub(crate) fn duration_of(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_number_and_its_unit() {
        assert_eq!(duration_of("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(duration_of("250us"), Some(Duration::from_micros(250)));
        assert_eq!(duration_of("250µs"), Some(Duration::from_micros(250)));
        assert_eq!(duration_of("1.5s"), Some(Duration::from_millis(1500)));
        for text in ["20", "ms", "-1ms", "1h", "1.2.3s"] {
            assert_eq!(duration_of(text), None, "{text}");
        }
    }
}
