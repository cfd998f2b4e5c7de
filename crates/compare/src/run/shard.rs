//! One generator's part of a load spread over several (`--shard I/N`): its share of the calls
//! in flight, of the connections and of the open-loop rate, and a shared start
//! (`--start-at`) so that every shard measures at the same time.

use std::{fmt, str::FromStr, time::SystemTime};

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (0-based, as Kubernetes numbers an Indexed Job's pods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// This shard's part of `total`: equal parts, the first `total % count` shards one more.
    pub(crate) fn share(self, total: usize) -> usize {
        total / self.count + usize::from(self.index < total % self.count)
    }

    /// This shard's part of a rate in calls per second.
    pub(crate) fn share_rate(self, rate: f64) -> f64 {
        rate / self.count as f64
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = text.split_once('/').and_then(|(index, count)| {
            Some(Self { index: index.trim().parse().ok()?, count: count.trim().parse().ok()? })
        });
        match parsed {
            Some(shard) if shard.count > 0 && shard.index < shard.count => Ok(shard),
            _ => Err(format!("{text:?} is not a shard: write I/N with 0 <= I < N, e.g. 0/3")),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// When every shard starts: an RFC 3339 time (`2026-11-27T15:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt(pub time::OffsetDateTime);

impl FromStr for StartAt {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(StartAt)
            .map_err(|error| {
                format!("{text:?} is not an RFC 3339 time ({error}), e.g. 2026-11-27T15:00:00Z")
            })
    }
}

impl StartAt {
    /// Waits until the start; returns how late this shard was, in seconds, if it was.
    pub(crate) async fn wait(self) -> Option<f64> {
        let start = SystemTime::from(self.0);
        match start.duration_since(SystemTime::now()) {
            Ok(wait) => {
                tokio::time::sleep(wait).await;
                None
            }
            Err(late) => Some(late.duration().as_secs_f64()),
        }
    }
}

/// Now, as Unix milliseconds: when a measurement's window opened and closed.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_whole() {
        for total in [0, 1, 5, 6, 64] {
            let parts: usize = (0..3).map(|index| Shard { index, count: 3 }.share(total)).sum();
            assert_eq!(parts, total);
        }
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
