//! One direction of a packet link at work: a reader thread takes each packet where it enters,
//! asks the [`Schedule`] its fate, and hands those to deliver to a writer thread, which puts
//! each out at the other end at its delivery time. Where packets come from and go to is a
//! [`PacketSource`] and a [`PacketSink`]: TUN devices in a link, channels in a test.

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::schedule::{Fate, Schedule};

/// Where a direction's packets enter.
pub(crate) trait PacketSource: Send + 'static {
    /// Waits up to `patience` for the next packet and copies it into `buffer`: its length, or
    /// `None` when none came in time (so that the reader can see whether it should stop).
    fn receive(&mut self, buffer: &mut [u8], patience: Duration) -> io::Result<Option<usize>>;
}

/// Where a direction's packets come out.
pub(crate) trait PacketSink: Send + 'static {
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
}

/// What one direction did with its packets, counted as it goes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    forwarded_packets: AtomicU64,
    forwarded_bytes: AtomicU64,
    lost_packets: AtomicU64,
    queue_drops: AtomicU64,
    send_errors: AtomicU64,
}

/// [`Counters`] read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CounterSnapshot {
    /// Packets put out at the far end, and their bytes (IP headers included).
    pub(crate) forwarded_packets: u64,
    pub(crate) forwarded_bytes: u64,
    /// Packets the loss model took.
    pub(crate) lost_packets: u64,
    /// Packets that found the queue full.
    pub(crate) queue_drops: u64,
    /// Packets the far end refused (a device already gone, say).
    pub(crate) send_errors: u64,
}

impl CounterSnapshot {
    /// Packets the link itself dropped: lost, or at a full queue.
    pub(crate) fn dropped(&self) -> u64 {
        self.lost_packets + self.queue_drops
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            forwarded_packets: self.forwarded_packets.load(Ordering::Relaxed),
            forwarded_bytes: self.forwarded_bytes.load(Ordering::Relaxed),
            lost_packets: self.lost_packets.load(Ordering::Relaxed),
            queue_drops: self.queue_drops.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
        }
    }
}

/// How long a thread waits before it looks whether it was asked to stop.
const PATIENCE: Duration = Duration::from_millis(20);

/// The most packets on their way at once (admitted, not yet put out): beyond it the reader
/// waits for the writer, and the kernel's own queue in front of the source drops instead.
const IN_FLIGHT: usize = 1 << 16;

/// The largest packet a source hands over: an IP packet's most.
const LARGEST_PACKET: usize = 65_535;

/// A running direction; it stops when dropped.
#[derive(Debug)]
pub(crate) struct Forwarder {
    stopping: Arc<AtomicBool>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
}

/// A packet admitted to the link, and when it is due at the far end.
type Due = (Instant, Vec<u8>);

impl Forwarder {
    /// Starts the reader and the writer threads, named after `direction` (`c2s`, `s2c`).
    ///
    /// # Errors
    /// When a thread cannot be started.
    pub(crate) fn start(
        direction: &str,
        source: impl PacketSource,
        sink: impl PacketSink,
        schedule: Schedule,
    ) -> io::Result<Self> {
        let (to_writer, from_reader) = mpsc::sync_channel::<Due>(IN_FLIGHT);
        let mut forwarder = Forwarder {
            stopping: Arc::new(AtomicBool::new(false)),
            counters: Arc::new(Counters::default()),
            threads: Vec::with_capacity(2),
        };
        // Dropped on an error below, it stops the thread already started.
        let (stopping, counters) = (forwarder.stopping.clone(), forwarder.counters.clone());
        let writer = std::thread::Builder::new()
            .name(format!("link-{direction}-write"))
            .spawn(move || write(&from_reader, sink, &counters, &stopping))?;
        forwarder.threads.push(writer);
        let (stopping, counters) = (forwarder.stopping.clone(), forwarder.counters.clone());
        let name = direction.to_owned();
        let reader = std::thread::Builder::new()
            .name(format!("link-{direction}-read"))
            .spawn(move || read(source, schedule, &to_writer, &counters, &stopping, &name))?;
        forwarder.threads.push(reader);
        Ok(forwarder)
    }

    pub(crate) fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }
}

/// The reader's loop: each packet from `source` to its fate, until a stop is asked.
fn read(
    mut source: impl PacketSource,
    mut schedule: Schedule,
    to_writer: &mpsc::SyncSender<Due>,
    counters: &Counters,
    stopping: &AtomicBool,
    direction: &str,
) {
    let mut buffer = vec![0; LARGEST_PACKET];
    while !stopping.load(Ordering::Acquire) {
        let size = match source.receive(&mut buffer, PATIENCE) {
            Ok(Some(size)) => size,
            Ok(None) => continue,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(%error, "the packet link's {direction} reader stops");
                return;
            }
        };
        let dropped = match schedule.admit(Instant::now(), size) {
            Fate::Deliver(at) => match to_writer.send((at, buffer[..size].to_vec())) {
                Ok(()) => continue,
                Err(_) => return,
            },
            Fate::Lost => &counters.lost_packets,
            Fate::QueueFull => &counters.queue_drops,
        };
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The writer's loop: each admitted packet out to `sink` at its time, until the reader has
/// gone or a stop is asked.
fn write(
    from_reader: &mpsc::Receiver<Due>,
    mut sink: impl PacketSink,
    counters: &Counters,
    stopping: &AtomicBool,
) {
    let mut alarm = Alarm::new();
    while let Some((at, packet)) = next_packet(from_reader, stopping) {
        if !alarm.wait_until(at, stopping) {
            return;
        }
        if sink.send(&packet).is_ok() {
            counters.forwarded_packets.fetch_add(1, Ordering::Relaxed);
            counters.forwarded_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
        } else {
            counters.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The next packet to deliver, or `None` once the reader has gone or a stop was asked.
fn next_packet(from_reader: &mpsc::Receiver<Due>, stopping: &AtomicBool) -> Option<Due> {
    loop {
        match from_reader.recv_timeout(PATIENCE) {
            Ok(packet) => return Some(packet),
            Err(mpsc::RecvTimeoutError::Timeout) if !stopping.load(Ordering::Acquire) => {}
            Err(_) => return None,
        }
    }
}

/// The writer's clock. A sleep wakes late (by the timer slack, and by the scheduler), so the
/// alarm learns by how much on average and sleeps that much less: packets leave on time on
/// average, each within the wake-up jitter (tens of microseconds) either way, and no core
/// spins waiting for them (a spin for the last stretch kept one busy at 100 Mbit/s).
#[derive(Debug)]
struct Alarm {
    lateness: Duration,
}

impl Alarm {
    /// For the calling thread, whose timer slack it lowers.
    fn new() -> Self {
        lower_timer_slack();
        Self { lateness: Duration::from_micros(50) }
    }

    /// Waits until about `at`; `false` if asked to stop first.
    fn wait_until(&mut self, at: Instant, stopping: &AtomicBool) -> bool {
        loop {
            let now = Instant::now();
            // Due, or so nearly that a sleep would wake after it.
            let Some(wake) = at.checked_sub(self.lateness).filter(|&wake| wake > now) else {
                return true;
            };
            if stopping.load(Ordering::Acquire) {
                return false;
            }
            if wake - now > PATIENCE {
                std::thread::sleep(PATIENCE);
                continue;
            }
            std::thread::sleep(wake - now);
            let late = Instant::now().saturating_duration_since(wake);
            // An average over the last eight or so sleeps, capped so that one stall of the
            // whole machine does not send the next packets a millisecond early.
            self.lateness = ((self.lateness * 7 + late) / 8).min(Duration::from_micros(500));
            return true;
        }
    }
}

/// Asks the kernel to wake this thread within a microsecond of its sleeps' ends rather than
/// the default 50 µs late: less lateness, and less of its jitter. `/proc/<tid>` is this
/// thread's own directory (`/proc/thread-self` has no `timerslack_ns`). Best effort: without
/// it, the alarm learns the larger lateness.
fn lower_timer_slack() {
    let path = format!("/proc/{}/timerslack_ns", nix::unistd::gettid());
    let _ = std::fs::write(path, "1000");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::packet_link::spec::{Loss, PacketLinkSpec};

    /// Packets handed in by the test, one by one.
    struct ChannelSource(mpsc::Receiver<Vec<u8>>);

    impl PacketSource for ChannelSource {
        fn receive(&mut self, buffer: &mut [u8], patience: Duration) -> io::Result<Option<usize>> {
            match self.0.recv_timeout(patience) {
                Ok(packet) => {
                    buffer[..packet.len()].copy_from_slice(&packet);
                    Ok(Some(packet.len()))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::ErrorKind::BrokenPipe.into()),
            }
        }
    }

    /// Packets handed back to the test, with when they came out.
    struct ChannelSink(mpsc::Sender<(Instant, Vec<u8>)>);

    impl PacketSink for ChannelSink {
        fn send(&mut self, packet: &[u8]) -> io::Result<()> {
            self.0
                .send((Instant::now(), packet.to_vec()))
                .map_err(|_| io::ErrorKind::BrokenPipe.into())
        }
    }

    /// A forwarder between two channels: packets go in at `to_link`, come out at `from_link`.
    struct Rig {
        to_link: mpsc::Sender<Vec<u8>>,
        from_link: mpsc::Receiver<(Instant, Vec<u8>)>,
        forwarder: Forwarder,
    }

    fn forwarder(spec: &PacketLinkSpec) -> Rig {
        let (to_link, source) = mpsc::channel();
        let (sink, from_link) = mpsc::channel();
        let schedule = Schedule::new(spec, fastrand::Rng::with_seed(1));
        let forwarder =
            Forwarder::start("test", ChannelSource(source), ChannelSink(sink), schedule).unwrap();
        Rig { to_link, from_link, forwarder }
    }

    #[test]
    fn packets_come_out_in_order_half_the_round_trip_later() {
        let Rig { to_link, from_link, forwarder } =
            forwarder(&PacketLinkSpec::new(Duration::from_millis(20), None));
        let sent = Instant::now();
        for n in 0..3u8 {
            to_link.send(vec![n; 100]).unwrap();
        }
        for n in 0..3u8 {
            let (at, packet) = from_link.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(packet, vec![n; 100]);
            let delay = at - sent;
            // The writer's alarm may go off a little early (by its wake-up jitter).
            assert!(delay >= Duration::from_micros(9_500), "packet {n} came out after {delay:?}");
            assert!(delay < Duration::from_millis(100), "packet {n} came out after {delay:?}");
        }
        let counters = forwarder.counters();
        assert_eq!((counters.forwarded_packets, counters.forwarded_bytes), (3, 300));
    }

    #[test]
    fn lost_packets_are_counted_and_never_come_out() {
        let spec = PacketLinkSpec {
            loss: Loss::Independent { p: 1.0 },
            ..PacketLinkSpec::new(Duration::ZERO, None)
        };
        let Rig { to_link, from_link, forwarder } = forwarder(&spec);
        for _ in 0..5 {
            to_link.send(vec![0; 60]).unwrap();
        }
        assert!(from_link.recv_timeout(Duration::from_millis(200)).is_err());
        assert_eq!(forwarder.counters().lost_packets, 5);
    }

    #[test]
    fn a_dropped_forwarder_stops_its_threads() {
        let Rig { forwarder, .. } =
            forwarder(&PacketLinkSpec::new(Duration::from_millis(20), None));
        let started = Instant::now();
        drop(forwarder);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
