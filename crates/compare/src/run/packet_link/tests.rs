//! The packet link against the kernel's own TCP, end to end: a handshake takes one round
//! trip, a bulk flow fills the rate, a lossy flow gets what Mathis et al. predict, the
//! server's retransmissions match the link's drops, and the forwarder's ceiling in packets a
//! second. They need root and /dev/net/tun: without them a check says so and passes, except
//! under CI (`CI=true`), where it fails. One runs at a time: each measures timing, which a
//! neighbour's load would skew.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use super::{PacketLink, PacketLinkSpec, Side, namespaces::check_prerequisites, spec::Loss};

const MS: Duration = Duration::from_millis(1);
const MBIT: u64 = 1_000_000;
/// TCP's payload in a 1,500-byte packet with timestamps: 1,500 − 20 (IP) − 32 (TCP).
const MSS: f64 = 1448.0;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running link, and this check's turn; the link goes first when dropped.
struct Turn {
    link: PacketLink,
    _turn: MutexGuard<'static, ()>,
}

/// The link `spec` with this check's turn, or `None` (and why, on stderr) where packet links
/// cannot run and this is not CI.
fn start_or_skip(spec: PacketLinkSpec) -> Option<Turn> {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(why) = check_prerequisites() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI runs this check, but {why}");
        eprintln!("skipped: {why}");
        return None;
    }
    Some(Turn { link: PacketLink::start(spec).expect("the packet link starts"), _turn: turn })
}

fn spec(rtt_ms: u64, rate_mbit: Option<u64>, loss: Loss) -> PacketLinkSpec {
    PacketLinkSpec {
        loss,
        ..PacketLinkSpec::new(Duration::from_millis(rtt_ms), rate_mbit.map(|rate| rate * MBIT))
    }
}

/// A listener on the server's end, made inside its namespace.
fn listen(link: &PacketLink) -> TcpListener {
    let address = SocketAddr::new(link.server_address(), 0);
    link.namespaces().run_in(Side::Server, move || TcpListener::bind(address)).unwrap().unwrap()
}

fn within(measured: f64, expected: f64, tolerance: f64) -> bool {
    (measured - expected).abs() <= expected * tolerance
}

#[test]
fn a_tcp_handshake_takes_one_round_trip() {
    let Some(turn) = start_or_skip(spec(20, Some(100), Loss::None)) else { return };
    let link = &turn.link;
    let listener = listen(link);
    let address = listener.local_addr().unwrap();
    let acceptor = thread::spawn(move || {
        (0..5).map(|_| listener.accept().map(|(stream, _)| stream)).collect::<Vec<_>>()
    });
    let mut handshakes: Vec<Duration> = (0..5)
        .map(|_| {
            let connect = move || {
                let started = Instant::now();
                TcpStream::connect(address).map(|stream| (started.elapsed(), stream))
            };
            let thread = link.namespaces().spawn_in(Side::Client, connect).unwrap();
            thread.join().unwrap().expect("connects across the link").0
        })
        .collect();
    assert!(acceptor.join().unwrap().iter().all(Result::is_ok));
    handshakes.sort();
    let median = handshakes[2];
    println!("handshakes over a 20 ms link: {handshakes:?}, median {median:?}");
    let error = median.abs_diff(20 * MS);
    assert!(error <= MS + MS / 2, "a handshake took {median:?}, not 20 ms ± 1.5 ms");
}

#[test]
fn a_command_runs_inside_its_namespace() {
    let Some(turn) = start_or_skip(spec(0, None, Loss::None)) else { return };
    let link = &turn.link;
    let output =
        link.namespaces().command_in(Side::Server, "ip").args(["-4", "-o", "addr"]).output();
    let addresses = String::from_utf8(output.unwrap().stdout).unwrap();
    assert!(addresses.contains("inet 10.77.0.2 peer 10.77.0.1/32"), "{addresses}");
    assert!(!addresses.contains("10.77.0.1 peer"), "{addresses}");
    // What the namespace was told, as a process inside it reads it.
    let setting = link
        .namespaces()
        .command_in(Side::Server, "cat")
        .arg("/proc/sys/net/ipv4/tcp_no_metrics_save")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&setting.stdout).trim(), "1");
}

/// What a download measured from the moment it had `skip` behind it to its end.
#[derive(Debug)]
struct Download {
    /// As the receiver read it: what already waited in its socket at the mark counts too, so
    /// this reads a little high (by up to a receive buffer over the whole time).
    payload_bytes: u64,
    /// The link's bytes server → client in that time, IP headers included.
    wire_bytes: u64,
    elapsed: Duration,
}

impl Download {
    fn goodput_mbit(&self) -> f64 {
        self.payload_bytes as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e6
    }

    fn wire_mbit(&self) -> f64 {
        self.wire_bytes as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e6
    }
}

/// How long a download's sender goes on.
#[derive(Clone, Copy)]
enum Amount {
    Bytes(u64),
    For(Duration),
}

/// One TCP flow from the server's end to the client's, as fast as the link lets it: sent
/// until `amount`, measured after the receiver has had `skip` (slow start's part).
fn download(link: &PacketLink, amount: Amount, skip: Amount) -> Download {
    let listener = listen(link);
    let address = listener.local_addr().unwrap();
    let sender = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let (chunk, started, mut sent) = (vec![7u8; 64 * 1024], Instant::now(), 0u64);
        while match amount {
            Amount::Bytes(total) => sent < total,
            Amount::For(duration) => started.elapsed() < duration,
        } {
            stream.write_all(&chunk).unwrap();
            sent += chunk.len() as u64;
        }
    });
    let mut stream = link.namespaces().connect_in(Side::Client, address).unwrap();
    let (mut buffer, started, mut received) = (vec![0u8; 256 * 1024], Instant::now(), 0u64);
    let mut mark = None;
    loop {
        let read = stream.read(&mut buffer).unwrap();
        received += read as u64;
        let skipped = match skip {
            Amount::Bytes(bytes) => received >= bytes,
            Amount::For(duration) => started.elapsed() >= duration,
        };
        if mark.is_none() && skipped {
            mark = Some((Instant::now(), received, link.counters().server_to_client));
        }
        if read == 0 {
            break;
        }
    }
    sender.join().unwrap();
    let (at, before, counters) = mark.expect("the download went past its skip");
    Download {
        payload_bytes: received - before,
        wire_bytes: link.counters().server_to_client.forwarded_bytes - counters.forwarded_bytes,
        elapsed: at.elapsed(),
    }
}

/// The CPU time the link's forwarding threads have used so far (the instrument's own cost).
fn forwarding_cpu() -> Duration {
    let mut used = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.starts_with("link-c2s") || name.starts_with("link-s2c") {
            // schedstat's first figure: nanoseconds on a CPU.
            let schedstat = std::fs::read_to_string(task.join("schedstat")).unwrap_or_default();
            let nanos = schedstat.split_whitespace().next().and_then(|n| n.parse().ok());
            used += Duration::from_nanos(nanos.unwrap_or(0));
        }
    }
    used
}

#[test]
fn a_bulk_flow_fills_the_rate() {
    let Some(turn) = start_or_skip(spec(20, Some(100), Loss::None)) else { return };
    let link = &turn.link;
    let cpu_before = forwarding_cpu();
    let flow = download(link, Amount::Bytes(20_000_000), Amount::Bytes(1_000_000));
    let cpu = forwarding_cpu() - cpu_before;
    let (wire, goodput) = (flow.wire_mbit(), flow.goodput_mbit());
    let counters = link.counters().server_to_client;
    println!(
        "20 MB over 100 Mbit/s, 20 ms, after the first MB: {wire:.2} Mbit/s on the wire, \
         {goodput:.2} Mbit/s of payload in {:?}; the link's threads used {cpu:?} of CPU; \
         {counters:?}",
        flow.elapsed
    );
    assert!(within(wire, 100.0, 0.05), "the wire carried {wire:.2} Mbit/s, not 100 ± 5%");
    // A full packet carries 1,448 bytes of payload: 96.5 Mbit/s at most.
    let most = 100.0 * MSS / 1500.0;
    assert!(within(goodput, most, 0.05), "{goodput:.2} Mbit/s of payload, not {most:.1} ± 5%");
}

/// The server's namespace's TCP segments retransmitted so far.
fn retransmitted(link: &PacketLink) -> u64 {
    link.retransmitted_segments(Side::Server).unwrap()
}

/// Makes the server's TCP, which sends the downloads, use `algorithm` from now on.
fn use_congestion_control(link: &PacketLink, algorithm: &str) {
    let algorithm = algorithm.to_owned();
    let set = move || std::fs::write("/proc/sys/net/ipv4/tcp_congestion_control", algorithm);
    link.namespaces().run_in(Side::Server, set).unwrap().expect("the congestion control is set");
}

#[test]
fn a_lossy_reno_flow_gets_what_mathis_predicts_and_retransmits_what_the_link_dropped() {
    let lossy = spec(20, Some(100), Loss::Independent { p: 0.01 });
    let Some(turn) = start_or_skip(lossy) else { return };
    let link = &turn.link;
    // Mathis et al. model Reno. The host's default may be BBR, which does not slow down for
    // a loss it does not take for congestion (it fills the 100 Mbit/s at 1% loss), and a
    // namespace may not choose CUBIC unless the host allows it
    // (net.ipv4.tcp_allowed_congestion_control); Reno it always may.
    use_congestion_control(link, "reno");
    let (retransmitted_before, dropped_before) =
        (retransmitted(link), link.counters().server_to_client.dropped());
    let flow =
        download(link, Amount::For(Duration::from_secs(7)), Amount::For(Duration::from_secs(1)));
    let retransmissions = retransmitted(link) - retransmitted_before;
    let drops = link.counters().server_to_client.dropped() - dropped_before;

    // Mathis, Semke, Mahdavi and Ott (1997): MSS / RTT × 1.22 / √p.
    let (rtt, p) = (link.spec().rtt.as_secs_f64(), link.spec().loss.rate());
    let mathis = MSS * 8.0 / rtt * 1.22 / p.sqrt() / 1e6;
    let (goodput, ratio) = (flow.goodput_mbit(), flow.goodput_mbit() / mathis);
    println!(
        "one Reno flow at 1% loss, 20 ms: {goodput:.2} Mbit/s over {:?}, Mathis {mathis:.2} \
         (ratio {ratio:.2}); server retransmitted {retransmissions} segments, the link \
         dropped {drops} packets server → client (ratio {:.2}); {:?}",
        flow.elapsed,
        retransmissions as f64 / drops.max(1) as f64,
        link.counters()
    );
    assert!((0.65..=1.35).contains(&ratio), "{goodput:.2} Mbit/s is {ratio:.2} × Mathis");
    // Each lost data segment is sent again once; the server sends little but data.
    assert!(
        within(retransmissions as f64, drops as f64, 0.25),
        "{retransmissions} retransmissions for {drops} drops"
    );
}

#[test]
fn the_forwarder_carries_at_least_100_000_packets_a_second() {
    let Some(turn) = start_or_skip(spec(20, None, Loss::None)) else { return };
    let link = &turn.link;
    let (client, server) = (link.client_address(), link.server_address());
    let receiver = link
        .namespaces()
        .run_in(Side::Server, move || UdpSocket::bind(SocketAddr::new(server, 0)))
        .unwrap()
        .unwrap();
    let sender = link
        .namespaces()
        .run_in(Side::Client, move || UdpSocket::bind(SocketAddr::new(client, 0)))
        .unwrap()
        .unwrap();
    sender.connect(receiver.local_addr().unwrap()).unwrap();
    receiver.set_read_timeout(Some(200 * MS)).unwrap();
    let counting = thread::spawn(move || {
        let (mut buffer, mut received) = ([0u8; 2048], 0u64);
        while receiver.recv(&mut buffer).is_ok() {
            received += 1;
        }
        received
    });

    let blast = Duration::from_secs(1);
    let before = link.counters().client_to_server;
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < blast {
        for _ in 0..64 {
            sent += u64::from(sender.send(&[0u8; 64]).is_ok());
        }
    }
    let elapsed = started.elapsed();
    // What was sent in the blast is forwarded within the link's 10 ms each way.
    thread::sleep(20 * MS);
    let after = link.counters().client_to_server;
    let received = counting.join().unwrap();
    let forwarded = after.forwarded_packets - before.forwarded_packets;
    let per_second = forwarded as f64 / elapsed.as_secs_f64();
    println!(
        "92-byte packets, 1 s: sent {sent}, forwarded {forwarded} ({per_second:.0} packets/s), \
         received {received}; {after:?}"
    );
    assert!(received > 0, "nothing came through");
    assert!(per_second >= 100_000.0, "the forwarder carried {per_second:.0} packets/s");
}
