//! The fate of each packet in one direction of a packet link: lost, dropped at the tail of a
//! full queue, or delivered at a time this works out. Arithmetic only (no clock, no thread),
//! so that the link's timing is tested exactly.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use super::{
    loss::LossProcess,
    spec::{PacketLinkSpec, QueueLimit},
};

/// What becomes of a packet that entered the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// It comes out of the other end at this time.
    Deliver(Instant),
    /// The loss model took it.
    Lost,
    /// The queue was full when it came (drop-tail).
    QueueFull,
}

/// One direction's line: a queue in front of a rate, then half the round trip of travel.
#[derive(Debug)]
pub(crate) struct Schedule {
    one_way: Duration,
    bits_per_second: Option<u64>,
    limit: QueueLimit,
    loss: LossProcess,
    /// The packets admitted that have not finished leaving yet: when each will have, and its
    /// size. In the order they leave.
    waiting: VecDeque<(Instant, usize)>,
    waiting_bytes: usize,
    /// When the line finishes sending what it has been given so far.
    line_free_at: Option<Instant>,
}

impl Schedule {
    /// A direction of `spec`, its losses drawn from `rng`.
    pub(crate) fn new(spec: &PacketLinkSpec, rng: fastrand::Rng) -> Self {
        Self {
            one_way: spec.rtt / 2,
            bits_per_second: spec.bits_per_second,
            limit: spec.queue,
            loss: spec.loss.process(rng),
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            line_free_at: None,
        }
    }

    /// The fate of a packet of `size` bytes that reaches the link at `arrival`; arrivals come
    /// in time order. Loss comes first, as on a line that corrupts what it carries before
    /// the queue sees it: a lost packet takes no room in the queue and no time on the line.
    /// Deliveries come out in the order the packets came in, so that one FIFO holds them.
    pub(crate) fn admit(&mut self, arrival: Instant, size: usize) -> Fate {
        if self.loss.loses_next() {
            return Fate::Lost;
        }
        let Some(bits_per_second) = self.bits_per_second else {
            return Fate::Deliver(arrival + self.one_way);
        };
        while self.waiting.front().is_some_and(|&(departure, _)| departure <= arrival) {
            if let Some((_, left)) = self.waiting.pop_front() {
                self.waiting_bytes -= left;
            }
        }
        let full = match self.limit {
            QueueLimit::Packets(packets) => self.waiting.len() + 1 > packets,
            QueueLimit::Bytes(bytes) => self.waiting_bytes + size > bytes,
        };
        if full {
            return Fate::QueueFull;
        }
        let start = self.line_free_at.map_or(arrival, |free| free.max(arrival));
        let departure = start + transmission(size, bits_per_second);
        self.line_free_at = Some(departure);
        self.waiting.push_back((departure, size));
        self.waiting_bytes += size;
        Fate::Deliver(departure + self.one_way)
    }
}

/// How long `size` bytes take to leave at `bits_per_second`.
fn transmission(size: usize, bits_per_second: u64) -> Duration {
    let nanos = size as u128 * 8 * 1_000_000_000 / u128::from(bits_per_second);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::packet_link::spec::Loss;

    const MS: Duration = Duration::from_millis(1);

    /// 8 Mbit/s: a 1,000-byte packet takes exactly a millisecond to leave.
    fn line(rtt: Duration, queue: QueueLimit) -> Schedule {
        let spec = PacketLinkSpec { queue, ..PacketLinkSpec::new(rtt, Some(8_000_000)) };
        Schedule::new(&spec, fastrand::Rng::with_seed(1))
    }

    #[test]
    fn packets_queue_behind_each_other_at_the_rate_then_travel_half_the_round_trip() {
        let mut schedule = line(20 * MS, QueueLimit::Packets(100));
        let t0 = Instant::now();
        let fates: Vec<Fate> = (0..3).map(|_| schedule.admit(t0, 1000)).collect();
        assert_eq!(
            fates,
            [11, 12, 13].map(|ms| Fate::Deliver(t0 + ms * MS)),
            "each leaves a millisecond after the one before, and arrives 10 ms later"
        );
    }

    #[test]
    fn a_packet_that_finds_the_line_idle_leaves_after_its_own_transmission() {
        let mut schedule = line(20 * MS, QueueLimit::Packets(100));
        let t0 = Instant::now();
        assert_eq!(schedule.admit(t0, 1000), Fate::Deliver(t0 + 11 * MS));
        // The line has been idle since t0 + 1 ms.
        assert_eq!(schedule.admit(t0 + 5 * MS, 500), Fate::Deliver(t0 + 15 * MS + MS / 2));
    }

    #[test]
    fn transmission_time_is_size_over_rate() {
        assert_eq!(transmission(1500, 100_000_000), Duration::from_micros(120));
        assert_eq!(transmission(1000, 8_000_000), MS);
        assert_eq!(transmission(1, 3), Duration::from_nanos(2_666_666_666));
    }

    #[test]
    fn without_a_rate_every_packet_arrives_half_the_round_trip_after_it_came() {
        let spec = PacketLinkSpec::new(20 * MS, None);
        let mut schedule = Schedule::new(&spec, fastrand::Rng::with_seed(1));
        let t0 = Instant::now();
        for n in 0..2_000 {
            assert_eq!(schedule.admit(t0, 1500), Fate::Deliver(t0 + 10 * MS), "packet {n}");
        }
    }

    #[test]
    fn a_queue_full_of_packets_drops_the_newcomer_until_one_leaves() {
        let mut schedule = line(Duration::ZERO, QueueLimit::Packets(2));
        let t0 = Instant::now();
        let fates: Vec<Fate> = (0..4).map(|_| schedule.admit(t0, 1000)).collect();
        assert_eq!(
            fates,
            [Fate::Deliver(t0 + MS), Fate::Deliver(t0 + 2 * MS), Fate::QueueFull, Fate::QueueFull]
        );
        // The first has left at t0 + 1 ms: room for one more, which leaves after the second.
        assert_eq!(schedule.admit(t0 + MS, 1000), Fate::Deliver(t0 + 3 * MS));
        assert_eq!(schedule.admit(t0 + MS, 1000), Fate::QueueFull);
    }

    #[test]
    fn a_queue_limited_in_bytes_takes_what_fits() {
        let mut schedule = line(Duration::ZERO, QueueLimit::Bytes(2500));
        let t0 = Instant::now();
        assert!(matches!(schedule.admit(t0, 1000), Fate::Deliver(_)));
        assert!(matches!(schedule.admit(t0, 1000), Fate::Deliver(_)));
        assert_eq!(schedule.admit(t0, 1000), Fate::QueueFull, "3,000 bytes would not fit");
        assert_eq!(schedule.admit(t0, 500), Fate::Deliver(t0 + 2 * MS + MS / 2), "2,500 do");
    }

    #[test]
    fn lost_packets_take_no_room_in_the_queue_nor_time_on_the_line() {
        let spec = PacketLinkSpec {
            loss: Loss::Independent { p: 1.0 },
            queue: QueueLimit::Packets(1),
            ..PacketLinkSpec::new(Duration::ZERO, Some(8_000_000))
        };
        let mut schedule = Schedule::new(&spec, fastrand::Rng::with_seed(1));
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(schedule.admit(t0, 1000), Fate::Lost);
        }
        assert_eq!(schedule.waiting.len(), 0);
        assert_eq!(schedule.line_free_at, None);
    }

    #[test]
    fn deliveries_never_go_back_in_time() {
        let spec = PacketLinkSpec {
            loss: Loss::GilbertElliott { p: 0.05, mean_burst: 3.0 },
            queue: QueueLimit::Bytes(20_000),
            ..PacketLinkSpec::new(20 * MS, Some(10_000_000))
        };
        let mut schedule = Schedule::new(&spec, fastrand::Rng::with_seed(3));
        let mut rng = fastrand::Rng::with_seed(4);
        let (mut now, mut last) = (Instant::now(), None);
        for _ in 0..10_000 {
            now += Duration::from_micros(rng.u64(0..2_000));
            if let Fate::Deliver(at) = schedule.admit(now, rng.usize(40..=1500)) {
                assert!(last.is_none_or(|last| at >= last));
                last = Some(at);
            }
        }
    }
}
