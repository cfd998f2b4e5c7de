//! What a packet link is: its round trip, rate, loss and queue, and how a `--link` text names
//! them (`rtt=20ms,rate=100mbit,loss=1%,queue=100p`; the round trip, the rate and the presets
//! are read as the byte relay's [`Link`] reads them).

use std::{fmt, str::FromStr, time::Duration};

pub(crate) use super::loss::Loss;
use crate::run::link::Link;

/// The largest IP packet either end sends: the TUN devices' MTU, Ethernet's.
pub(crate) const MTU: usize = 1500;

/// A packet link: each packet waits its turn at `bits_per_second` (`None`: no limit) behind a
/// drop-tail `queue`, may be lost, and arrives half the round trip after it left.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PacketLinkSpec {
    pub(crate) rtt: Duration,
    pub(crate) bits_per_second: Option<u64>,
    pub(crate) loss: Loss,
    pub(crate) queue: QueueLimit,
}

/// How much may wait to leave before an arriving packet is dropped (drop-tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueLimit {
    Packets(usize),
    Bytes(usize),
}

impl PacketLinkSpec {
    /// A link of this round trip and rate that loses nothing, with the [default
    /// queue](Self::default_queue).
    #[cfg(test)]
    pub(crate) fn new(rtt: Duration, bits_per_second: Option<u64>) -> Self {
        Self {
            rtt,
            bits_per_second,
            loss: Loss::None,
            queue: Self::default_queue(rtt, bits_per_second),
        }
    }

    /// The queue a link gets when none is named: one bandwidth-delay product, the classic
    /// size that lets a single TCP flow keep the line busy after it halves its window, and
    /// never under 64 full packets (a short round trip would leave a queue too small for a
    /// burst). Without a rate nothing ever waits, so the limit is nominal.
    pub(crate) fn default_queue(rtt: Duration, bits_per_second: Option<u64>) -> QueueLimit {
        match bits_per_second {
            Some(bits) => {
                let bandwidth_delay = (bits as f64 / 8.0 * rtt.as_secs_f64()) as usize;
                QueueLimit::Bytes(bandwidth_delay.max(64 * MTU))
            }
            None => QueueLimit::Packets(1000),
        }
    }
}

impl fmt::Display for PacketLinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bits_per_second {
            Some(_) => {
                let line = Link {
                    name: None,
                    rtt: self.rtt,
                    bits_per_second: self.bits_per_second,
                    packet: None,
                };
                write!(f, "{line}")?;
            }
            // The relay's link writes `rate=unlimited`, which no `--link` reads back.
            None => write!(f, "rtt={}ms", self.rtt.as_secs_f64() * 1000.0)?,
        }
        write!(f, ",loss={},queue={}", self.loss, self.queue)
    }
}

impl FromStr for PacketLinkSpec {
    type Err = String;

    /// A preset or `rtt=…,rate=…` as for the byte relay, with `loss=…` and `queue=…` parts
    /// anywhere among them; each may be left out (no delay, no limit, no loss, the default
    /// queue).
    fn from_str(text: &str) -> Result<Self, String> {
        let (mut loss, mut queue) = (Loss::None, None);
        let mut line_parts = Vec::new();
        for part in text.split(',') {
            match part.split_once('=') {
                Some(("loss", value)) => loss = value.parse().map_err(|e| format!("loss: {e}"))?,
                Some(("queue", value)) => {
                    queue = Some(value.parse().map_err(|e| format!("queue: {e}"))?);
                }
                _ => line_parts.push(part),
            }
        }
        let line = match line_parts.join(",") {
            empty if empty.is_empty() => Link::LOOPBACK,
            line => line.parse::<Link>()?,
        };
        Ok(Self {
            rtt: line.rtt,
            bits_per_second: line.bits_per_second,
            loss,
            queue: queue.unwrap_or_else(|| Self::default_queue(line.rtt, line.bits_per_second)),
        })
    }
}

impl fmt::Display for QueueLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueLimit::Packets(packets) => write!(f, "{packets}p"),
            QueueLimit::Bytes(bytes) => write!(f, "{bytes}B"),
        }
    }
}

impl FromStr for QueueLimit {
    type Err = String;

    /// `100p` (packets), or bytes: `64kB`, `64KiB`, `1MB`, `1MiB`, `150000B`.
    fn from_str(text: &str) -> Result<Self, String> {
        const UNITS: [(&str, usize); 6] = [
            ("KiB", 1 << 10),
            ("MiB", 1 << 20),
            ("kB", 1000),
            ("MB", 1_000_000),
            ("B", 1),
            ("p", 0),
        ];
        let (number, scale) = UNITS
            .iter()
            .find_map(|(unit, scale)| text.strip_suffix(unit).map(|number| (number, *scale)))
            .ok_or_else(|| {
                format!(
                    "a queue in packets (100p) or bytes (64kB, 64KiB, 1MB, 150000B), not {text:?}"
                )
            })?;
        let count: usize =
            number.parse().map_err(|_| format!("a whole number before the unit, not {text:?}"))?;
        match scale {
            0 if count == 0 => Err(format!("a queue of at least one packet, not {text:?}")),
            0 => Ok(QueueLimit::Packets(count)),
            _ if count * scale < MTU => {
                Err(format!("a queue of at least one packet ({MTU} bytes), not {text:?}"))
            }
            _ => Ok(QueueLimit::Bytes(count * scale)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_its_round_trip_rate_loss_and_queue() {
        let spec: PacketLinkSpec =
            "rtt=20ms,rate=100mbit,loss=2%/burst=4,queue=100p".parse().unwrap();
        assert_eq!(
            spec,
            PacketLinkSpec {
                rtt: Duration::from_millis(20),
                bits_per_second: Some(100_000_000),
                loss: Loss::GilbertElliott { p: 0.02, mean_burst: 4.0 },
                queue: QueueLimit::Packets(100),
            }
        );
    }

    #[test]
    fn a_preset_takes_loss_and_queue_parts_in_any_order() {
        let spec: PacketLinkSpec = "queue=64kB,wan,loss=1%".parse().unwrap();
        assert_eq!(spec.rtt, Duration::from_millis(30));
        assert_eq!(spec.bits_per_second, Some(20_000_000));
        assert_eq!(spec.loss, Loss::Independent { p: 0.01 });
        assert_eq!(spec.queue, QueueLimit::Bytes(64_000));
    }

    #[test]
    fn loss_alone_is_a_link_without_delay_or_limit() {
        let spec: PacketLinkSpec = "loss=1%".parse().unwrap();
        assert_eq!(
            spec,
            PacketLinkSpec {
                loss: Loss::Independent { p: 0.01 },
                ..PacketLinkSpec::new(Duration::ZERO, None)
            }
        );
    }

    #[test]
    fn the_default_queue_is_one_bandwidth_delay_product_and_at_least_64_packets() {
        let queue =
            |rtt_ms, bits| PacketLinkSpec::default_queue(Duration::from_millis(rtt_ms), bits);
        // 100 Mbit/s × 20 ms = 250 kB.
        assert_eq!(queue(20, Some(100_000_000)), QueueLimit::Bytes(250_000));
        // 100 Mbit/s × 2 ms = 25 kB, under 64 packets.
        assert_eq!(queue(2, Some(100_000_000)), QueueLimit::Bytes(64 * MTU));
        assert_eq!(queue(20, None), QueueLimit::Packets(1000));
    }

    #[test]
    fn a_link_written_out_reads_back_the_same() {
        for text in ["rtt=20ms,rate=100mbit,loss=1%,queue=100p", "lan,loss=2%/burst=4", "rtt=5ms"] {
            let spec: PacketLinkSpec = text.parse().unwrap();
            assert_eq!(
                spec.to_string().parse::<PacketLinkSpec>(),
                Ok(spec.clone()),
                "{text} → {spec}"
            );
        }
    }

    #[test]
    fn queues_read_in_packets_or_bytes() {
        let cases = [
            ("100p", QueueLimit::Packets(100)),
            ("64kB", QueueLimit::Bytes(64_000)),
            ("64KiB", QueueLimit::Bytes(65_536)),
            ("1MB", QueueLimit::Bytes(1_000_000)),
            ("1MiB", QueueLimit::Bytes(1 << 20)),
            ("150000B", QueueLimit::Bytes(150_000)),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<QueueLimit>(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn malformed_parts_are_refused_with_what_is_expected() {
        let cases = [
            ("queue=100", "queue: a queue in packets (100p) or bytes"),
            ("queue=1.5MB", "queue: a whole number"),
            ("queue=0p", "at least one packet"),
            ("queue=1kB", "at least one packet (1500 bytes)"),
            ("loss=1", "loss: a loss is a percentage"),
            ("rtt=20ms,jitter=1ms", "unknown link"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<PacketLinkSpec>().expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
