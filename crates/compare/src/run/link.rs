//! An emulated network link between `compare`'s clients and the server, the same for every
//! cell: a relay on loopback in front of each server address that holds every byte for half
//! the round trip in each direction, data and control frames alike, and paces the bytes of
//! each direction at the link's rate, one line shared by all of a cell's connections (64
//! HTTP/1.1 connections share what one HTTP/2 connection gets). In user space: no root, no
//! netem. What it does not model: loss, TCP's congestion control and slow start at the
//! emulated round trip (the relay's sockets are loopback sockets), and the link's own queue
//! (bytes wait in the relay without bound on the number of connections, up to a budget per
//! connection). A new connection waits one round trip before its first byte moves, for the
//! TCP handshake the relay's local accept skipped. The default, `loopback`, adds nothing: no
//! relay at all.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fmt, io,
    net::SocketAddr,
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::Thread,
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Semaphore, mpsc, oneshot},
};
use tokio_util::sync::CancellationToken;

use super::packet_link::PacketLinkSpec;

/// A link's round trip and rate (`None`: unlimited), and the preset's name if it is one; with
/// `packet`, emulated on IP packets between network namespaces ([`super::packet_link`]), with
/// loss and a queue, instead of by the byte relay.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub name: Option<&'static str>,
    pub rtt: Duration,
    pub bits_per_second: Option<u64>,
    pub(crate) packet: Option<Box<PacketLinkSpec>>,
}

/// The word that makes a link one on packets (also implied by `loss=` or `queue=`).
const PACKET: &str = "packet";

/// The presets, modelled on grpc-go's benchmark latency package.
const PRESETS: [(&str, u64, u64); 3] = [
    // name, Mbit/s, round trip in ms
    ("lan", 100, 2),
    ("wan", 20, 30),
    ("longhaul", 1000, 200),
];

impl Link {
    pub const LOOPBACK: Link =
        Link { name: Some("loopback"), rtt: Duration::ZERO, bits_per_second: None, packet: None };

    pub fn is_loopback(&self) -> bool {
        self.rtt.is_zero() && self.bits_per_second.is_none() && self.packet.is_none()
    }

    /// The packet link's settings, when it is one.
    pub(crate) fn packet(&self) -> Option<&PacketLinkSpec> {
        self.packet.as_deref()
    }

    /// The preset's name, or the round trip and rate: what a table's column shows.
    pub fn short_name(&self) -> String {
        match self.name {
            Some(name) => name.to_owned(),
            None => self.to_string(),
        }
    }

    fn bytes_per_second(&self) -> Option<f64> {
        self.bits_per_second.map(|bits| bits as f64 / 8.0)
    }
}

impl Default for Link {
    fn default() -> Self {
        Self::LOOPBACK
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = match self.bits_per_second {
            Some(bits) if bits % 1_000_000 == 0 => format!("{}mbit", bits / 1_000_000),
            Some(bits) if bits % 1_000 == 0 => format!("{}kbit", bits / 1_000),
            Some(bits) => format!("{bits}bit"),
            None => "unlimited".into(),
        };
        if let Some(packet) = &self.packet {
            return write!(f, "{PACKET},{packet}");
        }
        let rtt = format!("rtt={}ms,rate={rate}", self.rtt.as_secs_f64() * 1000.0);
        match self.name {
            Some("loopback") => f.write_str("loopback"),
            Some(name) => write!(f, "{name} ({rtt})"),
            None => f.write_str(&rtt),
        }
    }
}

impl FromStr for Link {
    type Err = String;

    /// A preset (`loopback`, `lan`, `wan`, `longhaul`) or `rtt=20ms,rate=50mbit` (either part
    /// may be left out: no delay, or no limit).
    fn from_str(text: &str) -> Result<Self, String> {
        if text == "loopback" {
            return Ok(Self::LOOPBACK);
        }
        // `packet`, or any part only a packet link has, makes it one.
        let parts: Vec<&str> = text.split(',').collect();
        let packet_part = |part: &&str| {
            *part == PACKET || part.starts_with("loss=") || part.starts_with("queue=")
        };
        if parts.iter().any(packet_part) {
            let rest: Vec<&str> = parts.into_iter().filter(|part| *part != PACKET).collect();
            let spec: PacketLinkSpec = rest.join(",").parse()?;
            return Ok(Link {
                name: None,
                rtt: spec.rtt,
                bits_per_second: spec.bits_per_second,
                packet: Some(Box::new(spec)),
            });
        }
        if let Some(&(name, mbit, rtt_ms)) = PRESETS.iter().find(|(name, ..)| *name == text) {
            return Ok(Link {
                name: Some(name),
                rtt: Duration::from_millis(rtt_ms),
                bits_per_second: Some(mbit * 1_000_000),
                packet: None,
            });
        }
        let mut link = Link { name: None, ..Self::LOOPBACK };
        for part in text.split(',') {
            match part.split_once('=') {
                Some(("rtt", value)) => link.rtt = parse_duration(value)?,
                Some(("rate", value)) => link.bits_per_second = Some(parse_rate(value)?),
                _ => {
                    return Err(format!(
                        "unknown link {text:?}: loopback, lan (100 Mbit/s, 2 ms), wan (20 Mbit/s, \
                         30 ms), longhaul (1 Gbit/s, 200 ms), or rtt=20ms,rate=50mbit; on \
                         packets, with loss: packet,rtt=20ms,loss=1% or loss=2%/burst=4"
                    ));
                }
            }
        }
        Ok(link)
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = contract::durations::with_unit(value).ok_or_else(|| {
        format!("a round trip needs a unit (ms, us or s) after its number: {value:?}")
    })?;
    if duration > Duration::from_secs(60) {
        return Err(format!("a round trip between 0 and 60 s, not {value:?}"));
    }
    Ok(duration)
}

fn parse_rate(value: &str) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let (number, scale) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .iter()
        .find_map(|(unit, scale)| lower.strip_suffix(unit).map(|number| (number, *scale)))
        .ok_or_else(|| format!("a rate needs a unit (gbit, mbit, kbit or bit): {value:?}"))?;
    let number: f64 = number.parse().map_err(|_| format!("not a number: {value:?}"))?;
    let bits = (number * scale).round();
    if bits < 8_000.0 {
        return Err(format!("a rate of at least 8kbit, not {value:?}"));
    }
    Ok(bits as u64)
}

/// One direction of a link: every connection's bytes that way take turns on it.
#[derive(Debug)]
struct Line {
    one_way: Duration,
    bytes_per_second: Option<f64>,
    /// When the line has sent everything given to it so far.
    free_at: Mutex<Instant>,
}

impl Line {
    fn new(link: &Link) -> Arc<Self> {
        Arc::new(Self {
            one_way: link.rtt / 2,
            bytes_per_second: link.bytes_per_second(),
            free_at: Mutex::new(Instant::now()),
        })
    }

    /// When `len` bytes given to the line now arrive at the other end.
    fn arrival(&self, len: usize) -> Instant {
        let now = Instant::now();
        let Some(rate) = self.bytes_per_second else { return now + self.one_way };
        let mut free_at = self.free_at.lock().unwrap_or_else(|poison| poison.into_inner());
        let sent = (*free_at).max(now) + Duration::from_secs_f64(len as f64 / rate);
        *free_at = sent;
        sent + self.one_way
    }

    /// The most bytes read and scheduled as one piece: what the line carries in a
    /// millisecond, so that a piece is never held back much longer than its last byte would
    /// be on a real link (which delivers bytes as they come, not a read's worth at once).
    fn piece(&self) -> usize {
        self.bytes_per_second
            .map_or(64 * 1024, |rate| (rate / 1000.0) as usize)
            .clamp(1500, 64 * 1024)
    }

    /// The bytes a connection may have on this line at once before the relay stops reading
    /// from it: twice what the link holds in a round trip, and at least 1 MiB.
    fn budget(&self) -> usize {
        let in_flight =
            self.bytes_per_second.map_or(0.0, |rate| rate * self.one_way.as_secs_f64() * 2.0);
        ((in_flight * 2.0) as usize).max(1 << 20)
    }
}

/// When each piece is due, kept by a thread of its own: tokio's timers tick by the
/// millisecond, which would add up to a millisecond each way (doubling a 2 ms round trip),
/// while a parked thread wakes within tens of microseconds of its deadline.
#[derive(Debug)]
struct Clock {
    alarms: Mutex<BinaryHeap<Reverse<Alarm>>>,
    thread: Thread,
    stopped: AtomicBool,
    made: AtomicU64,
}

#[derive(Debug)]
struct Alarm {
    at: Instant,
    /// Breaks ties in the order the alarms were set.
    number: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.number) == (other.at, other.number)
    }
}

impl Eq for Alarm {}

impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Alarm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.number).cmp(&(other.at, other.number))
    }
}

impl Clock {
    fn start() -> Arc<Self> {
        let (sender, receiver) = std::sync::mpsc::channel::<Arc<Clock>>();
        let thread = std::thread::Builder::new()
            .name("link-clock".into())
            .spawn(move || {
                if let Ok(clock) = receiver.recv() {
                    clock.run();
                }
            })
            .expect("a thread for the link's clock");
        let clock = Arc::new(Self {
            alarms: Mutex::new(BinaryHeap::new()),
            thread: thread.thread().clone(),
            stopped: AtomicBool::new(false),
            made: AtomicU64::new(0),
        });
        let _ = sender.send(clock.clone());
        clock
    }

    fn run(&self) {
        while !self.stopped.load(Ordering::Acquire) {
            let next = {
                let mut alarms = self.alarms.lock().unwrap_or_else(|poison| poison.into_inner());
                let now = Instant::now();
                while alarms.peek().is_some_and(|Reverse(alarm)| alarm.at <= now) {
                    if let Some(Reverse(alarm)) = alarms.pop() {
                        let _ = alarm.wake.send(());
                    }
                }
                alarms.peek().map(|Reverse(alarm)| alarm.at - now)
            };
            match next {
                Some(wait) => std::thread::park_timeout(wait),
                None => std::thread::park(),
            }
        }
    }

    /// Waits until `at`.
    async fn until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        let number = self.made.fetch_add(1, Ordering::Relaxed);
        let earliest = {
            let mut alarms = self.alarms.lock().unwrap_or_else(|poison| poison.into_inner());
            alarms.push(Reverse(Alarm { at, number, wake }));
            alarms.peek().is_some_and(|Reverse(first)| first.number == number)
        };
        if earliest {
            self.thread.unpark();
        }
        let _ = woken.await;
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The relays of one measurement: the addresses its clients connect to instead of the
/// server's, in the same order. The relays stop when this is dropped.
#[derive(Debug)]
pub(crate) struct Relays {
    pub(crate) grpc: Vec<SocketAddr>,
    pub(crate) rest: SocketAddr,
    stop: CancellationToken,
    clock: Arc<Clock>,
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stop.cancel();
        self.clock.stop();
    }
}

impl Relays {
    /// A relay in front of each address, all sharing one line in each direction.
    pub(crate) async fn start(
        link: &Link,
        grpc: &[SocketAddr],
        rest: SocketAddr,
    ) -> io::Result<Self> {
        let stop = CancellationToken::new();
        let clock = Clock::start();
        let lines = (Line::new(link), Line::new(link));
        let rtt = link.rtt;
        let relay = |server: SocketAddr| {
            let (stop, lines, clock) = (stop.clone(), lines.clone(), clock.clone());
            async move {
                let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
                let addr = listener.local_addr()?;
                tokio::spawn(stop.clone().run_until_cancelled_owned(async move {
                    while let Ok((client, _)) = listener.accept().await {
                        let (stop, lines, clock) = (stop.clone(), lines.clone(), clock.clone());
                        tokio::spawn(stop.clone().run_until_cancelled_owned(async move {
                            let _ = relay_connection(client, server, lines, clock, rtt).await;
                        }));
                    }
                }));
                io::Result::Ok(addr)
            }
        };
        let mut relayed = Vec::with_capacity(grpc.len());
        for &addr in grpc {
            relayed.push(relay(addr).await?);
        }
        let rest = relay(rest).await?;
        Ok(Self { grpc: relayed, rest, stop, clock })
    }
}

async fn relay_connection(
    client: TcpStream,
    server: SocketAddr,
    (up, down): (Arc<Line>, Arc<Line>),
    clock: Arc<Clock>,
    rtt: Duration,
) -> io::Result<()> {
    let server = TcpStream::connect(server).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    // The TCP handshake's round trip, which the relay's local accept did not pay.
    clock.until(Instant::now() + rtt).await;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let _ = tokio::join!(
        carry(client_read, server_write, up, &clock),
        carry(server_read, client_write, down, &clock)
    );
    Ok(())
}

/// Moves bytes one way: read as they come, each piece written when the line delivers it.
async fn carry(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    line: Arc<Line>,
    clock: &Clock,
) -> io::Result<()> {
    let budget = Arc::new(Semaphore::new(line.budget()));
    let (pieces, mut arriving) = mpsc::unbounded_channel::<(Instant, Bytes)>();
    let budget_for_writer = budget.clone();
    let writer = async move {
        while let Some((arrival, piece)) = arriving.recv().await {
            clock.until(arrival).await;
            if piece.is_empty() {
                return to.shutdown().await;
            }
            to.write_all(&piece).await?;
            budget_for_writer.add_permits(piece.len());
        }
        Ok(())
    };
    let reader = async move {
        let mut buffer = vec![0; line.piece()];
        loop {
            let read = from.read(&mut buffer).await?;
            if read > 0 {
                let permits = u32::try_from(read).unwrap_or(u32::MAX);
                budget.acquire_many(permits).await.map_err(io::Error::other)?.forget();
            }
            let piece = Bytes::copy_from_slice(&buffer[..read]);
            if pieces.send((line.arrival(read), piece)).is_err() || read == 0 {
                return io::Result::Ok(());
            }
        }
    };
    let (read, written) = tokio::join!(reader, writer);
    read.and(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_a_queue_or_the_word_packet_make_a_link_on_packets_that_reads_back_the_same() {
        for text in ["rtt=20ms,loss=1%", "wan,loss=2%/burst=4", "packet,rtt=10ms", "queue=100p"] {
            let link: Link = text.parse().unwrap();
            assert!(link.packet().is_some() && !link.is_loopback(), "{text}: {link:?}");
            assert_eq!(link.to_string().parse::<Link>(), Ok(link.clone()), "{text} → {link}");
            assert!(link.to_string().starts_with("packet,"), "{link}");
        }
        let relay: Link = "rtt=20ms,rate=50mbit".parse().unwrap();
        assert!(relay.packet().is_none());
        assert_eq!("wan,loss=1%".parse::<Link>().unwrap().rtt, Duration::from_millis(30));
    }
}
