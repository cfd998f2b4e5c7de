//! The load generator: for each cell, workload, concurrency and connection count, a warm-up,
//! then closed-loop calls for a fixed time from `concurrency` tasks (HTTP/2 tasks share the
//! cell's connections, each HTTP/1.1 task keeps its own, reused throughout), every reply checked. Latency goes into an
//! HDR histogram; bytes are counted at the client's sockets; the server's CPU time is read
//! from /proc when the server is local, and its throttling from its cgroup under a quota; a
//! proxy's (`--via`) from its workers' /proc.

pub(crate) mod address;
pub(crate) mod affinity;
pub(crate) mod capacity;
pub(crate) mod cgroup;
pub(crate) mod churn;
pub(crate) mod link;
pub(crate) mod objective;
pub(crate) mod packet_link;
pub(crate) mod proxy;
pub(crate) mod schedule;
pub(crate) mod shard;
pub(crate) mod target;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use self::{
    link::{Link, Relays},
    shard::{Shard, unix_ms},
    target::Target,
};
use crate::{
    clients::balanced::Balance,
    clients::cell::{Cell, CellClient},
    clients::check::{CallError, Expected, ServedBy},
    clients::unary::ClientOptions,
    clients::wire::WireCounters,
    workload::Workload,
};

/// What one (cell, workload, concurrency) measured: the median run of `repeats` by throughput.
/// Fields added after the first JSON format default when read back, so that a baseline written
/// before them still loads.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Measurement {
    pub cell: String,
    pub workload: String,
    /// The profile of the server `compare` started (`None` for a server given by address).
    pub server_profile: Option<String>,
    pub concurrency: usize,
    pub connections: usize,
    pub calls: u64,
    /// Calls answered by each server, by the name in its `x-served-by` header: how the
    /// calls spread when several servers stand behind the target.
    pub servers: BTreeMap<String, u64>,
    pub requests_per_second: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Failed calls by kind (`transport`, `wrong reply`, `gRPC Unavailable`, `REST 503`…),
    /// each with the first failure of its kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_kind: BTreeMap<String, ErrorsOfAKind>,
    /// Calls sent again because the server never began them (`--retry transparent`), by why
    /// (`above GOAWAY`, `REFUSED_STREAM`, `keep-alive closed`); absent when none was. A retried
    /// call that then went through counts once in `calls`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retried: BTreeMap<String, u64>,
    /// The connections the clients opened during the measurement: those a server closed
    /// (its maximum age, a drain) were replaced; absent in reports from before it was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_connections_opened: Option<u64>,
    pub request_bytes_per_call: f64,
    pub response_bytes_per_call: f64,
    /// Server CPU (user + system) per 1,000 calls, when the server runs on this machine.
    pub server_cpu_ms_per_1000_calls: Option<f64>,
    /// `compare`'s own CPU (user + system) per 1,000 calls: the instrument's cost, which takes
    /// from the server's when both share cores.
    #[serde(default)]
    pub client_cpu_ms_per_1000_calls: Option<f64>,
    /// The proxy's worker processes' CPU (user + system) per 1,000 calls, when the calls went
    /// through a proxy compare started (`--via`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_cpu_ms_per_1000_calls: Option<f64>,
    /// With `--via mesh`: each sidecar's CPU per 1,000 calls, by name (`client sidecar`,
    /// `server sidecar`); together they are `proxy_cpu_ms_per_1000_calls`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_cpu_ms_per_1000_calls_by_process: BTreeMap<String, f64>,
    /// Through Envoy (`--via envoy|mesh`): the connections the hop in front of the servers
    /// opened to them during the measurement (new ones only; those kept from warm-up are not
    /// counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_upstream_connections_opened: Option<u64>,
    /// How the server's CPU quota (`--server-cpus`) held it back during the measurement;
    /// absent without a quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_throttling: Option<cgroup::Throttling>,
    /// The latency distribution: the latency at each of [`PERCENTILES`].
    #[serde(default)]
    pub latency_percentiles: Vec<LatencyAt>,
    /// Every repeat's throughput (this measurement is their median).
    #[serde(default)]
    pub repeats_requests_per_second: Vec<f64>,
    /// When the measured run began and ended, Unix milliseconds: how shards' windows overlap.
    #[serde(default)]
    pub window_ms: [u64; 2],
    /// A shard's latency histogram (HdrHistogram's V2 encoding, base64), which `compare merge`
    /// adds up exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
    /// The emulated link it ran over (`loopback`: none).
    #[serde(default = "loopback")]
    pub link: String,
    /// Whether it ran over TLS.
    #[serde(default)]
    pub tls: bool,
    /// Open loop: the calls per second this generator offered (a schedule's step, or
    /// `--rate`, its shard's share); absent in a closed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_per_second: Option<f64>,
    /// With `--slo`: the highest rate served within the objective, and every rate tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<capacity::Capacity>,
    /// With `--churn`: what each event cost, and the run second by second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<churn::report::ChurnReport>,
    /// Over a packet link (`--link packet,…`): what the link dropped each way during the
    /// measurement, and what the two sides' TCP sent again for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet_link: Option<PacketLinkFigures>,
    /// The run's latency histogram, kept in memory for what reads percentiles beyond the
    /// fixed ones (an objective); never written.
    #[serde(skip)]
    pub(crate) latency: Option<Histogram<u64>>,
}

fn loopback() -> String {
    "loopback".into()
}

impl Measurement {
    /// The conditions it ran under: the link, and `+tls`.
    pub fn condition(&self) -> String {
        if self.tls { format!("{}+tls", self.link) } else { self.link.clone() }
    }

    /// Its workload under its conditions: what verdicts and charts group by (`unary`, or
    /// `unary @ wan+tls` away from plain loopback).
    pub fn scenario(&self) -> String {
        let workload = match self.condition().as_str() {
            "loopback" => self.workload.clone(),
            condition => format!("{} @ {condition}", self.workload),
        };
        // A schedule's steps are scenarios apart: each at its own offered rate.
        match self.offered_per_second {
            Some(rate) => format!("{workload}, {rate:.0} calls/s offered"),
            None => workload,
        }
    }
}

/// The failed calls of one kind, and the first of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorsOfAKind {
    pub calls: u64,
    pub first: String,
}

/// Adds `other`'s failures by kind to `into`'s, keeping the first of each kind already there.
pub(crate) fn add_errors(
    into: &mut BTreeMap<String, ErrorsOfAKind>,
    other: &BTreeMap<String, ErrorsOfAKind>,
) {
    for (kind, errors) in other {
        into.entry(kind.clone())
            .and_modify(|kept| kept.calls += errors.calls)
            .or_insert_with(|| errors.clone());
    }
}

/// The latency at one percentile.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyAt {
    pub percentile: f64,
    pub us: u64,
}

/// The percentiles of the latency curve: from the median to p99.99, as HdrHistogram and wrk2
/// users plot them.
pub(crate) const PERCENTILES: [f64; 9] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99];

/// A measurement's latency figures, read from its histogram the one way that both a run and
/// a merge of shards read them.
pub(crate) struct Latencies {
    pub(crate) p50_us: u64,
    pub(crate) p90_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) p999_us: u64,
    pub(crate) max_us: u64,
    pub(crate) latency_percentiles: Vec<LatencyAt>,
}

impl Latencies {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            latency_percentiles: PERCENTILES
                .iter()
                .map(|&percentile| LatencyAt {
                    percentile,
                    us: histogram.value_at_quantile(percentile / 100.0),
                })
                .collect(),
        }
    }
}

impl Measurement {
    /// How far apart the repeats' throughputs are, relative to their median: (max − min) ÷
    /// median. `None` with one repeat.
    pub fn spread(&self) -> Option<f64> {
        let rates = &self.repeats_requests_per_second;
        if rates.len() < 2 {
            return None;
        }
        let (min, max) =
            rates.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        Some((max - min) / self.requests_per_second.max(f64::MIN_POSITIVE))
    }
}

#[derive(Clone)]
pub(crate) struct Plan {
    /// This generator's part of the load, when it is one of several.
    pub(crate) shard: Option<Shard>,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) repeats: usize,
    /// Open loop: calls per second in total, each timed from when it was meant to be sent.
    pub(crate) rate: Option<f64>,
    /// The emulated network between the clients and the server.
    pub(crate) link: Link,
    /// How calls get connections (pooled HTTP/1.1, or a new one per call), and HTTP/2's
    /// windows.
    pub(crate) client: ClientOptions,
    /// How often clients that balance over the servers themselves ask for their addresses
    /// again (`--resolve-every`).
    pub(crate) resolve_every: Duration,
}

/// A packet link's counters and both sides' retransmissions at one moment.
struct LinkSnapshot {
    to_server: packet_link::CounterSnapshot,
    to_client: packet_link::CounterSnapshot,
    by_clients: u64,
    by_server: u64,
}

impl LinkSnapshot {
    fn of(link: &packet_link::PacketLink) -> Self {
        let counters = link.counters();
        // An unreadable count (none should be) reads as 0 rather than failing the measurement.
        let retransmitted = |side| {
            link.retransmitted_segments(side).map_err(|e| tracing::warn!("{e:#}")).unwrap_or(0)
        };
        Self {
            to_server: counters.client_to_server,
            to_client: counters.server_to_client,
            by_clients: retransmitted(packet_link::Side::Client),
            by_server: retransmitted(packet_link::Side::Server),
        }
    }
}

/// What a packet link did during one measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PacketLinkFigures {
    /// IP packets the link carried each way, and those it dropped (its loss, or a full queue).
    pub packets_to_server: u64,
    pub packets_to_client: u64,
    pub dropped_to_server: u64,
    pub dropped_to_client: u64,
    /// TCP segments the clients' kernel and the server's kernel sent again.
    pub retransmitted_by_clients: u64,
    pub retransmitted_by_server: u64,
    /// Calls that took longer than Linux's least retransmission timeout (200 ms): each met a
    /// timeout on its connection, or waited behind one.
    pub calls_over_200ms: u64,
}

pub(crate) async fn measure(
    target: &Target,
    cell: Cell,
    workload: &Workload,
    concurrency: usize,
    connections: usize,
    plan: &Plan,
) -> anyhow::Result<Measurement> {
    let mut session = Session::open(target, cell, workload, concurrency, connections, plan).await?;
    let mut runs = Vec::with_capacity(plan.repeats);
    for _ in 0..plan.repeats.max(1) {
        runs.push(session.run(plan.duration, plan.rate).await);
    }
    let rates: Vec<f64> = runs.iter().map(|run| run.requests_per_second).collect();
    runs.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
    let mut median = runs.swap_remove(runs.len() / 2);
    median.repeats_requests_per_second = rates;
    Ok(median)
}

/// A schedule's steps, each one run a row: the same warm clients carry every step, one after
/// the other.
pub(crate) async fn measure_schedule(
    target: &Target,
    (cell, workload): (Cell, &Workload),
    (concurrency, connections): (usize, usize),
    plan: &Plan,
    steps: &[schedule::RateStep],
) -> anyhow::Result<Vec<Measurement>> {
    let first = steps.first().map(|step| step.rate);
    let warm_plan = Plan { rate: first, ..plan.clone() };
    let mut session =
        Session::open(target, cell, workload, concurrency, connections, &warm_plan).await?;
    let mut rows = Vec::with_capacity(steps.len());
    for step in steps {
        rows.push(session.run(step.duration.unwrap_or(plan.duration), Some(step.rate)).await);
    }
    Ok(rows)
}

/// One cell's clients at one concurrency, connected and warmed up: every run it measures goes
/// over the same connections.
pub(crate) struct Session<'a> {
    target: &'a Target,
    cell: Cell,
    workload: Workload,
    concurrency: usize,
    /// The connections the tasks share, as the row reports them.
    connections: usize,
    shard: Option<Shard>,
    link: String,
    counters: Arc<WireCounters>,
    clients: Vec<CellClient>,
    /// The emulated link's relays, kept running while the session lasts.
    _relays: Option<Relays>,
    /// How long after a run's end a call may still finish.
    call_grace: Duration,
}

impl<'a> Session<'a> {
    /// Connects, then warms up for `plan.warmup` (at `plan.rate`, when there is one).
    pub(crate) async fn open(
        target: &'a Target,
        cell: Cell,
        workload: &Workload,
        concurrency: usize,
        connections: usize,
        plan: &Plan,
    ) -> anyhow::Result<Session<'a>> {
        // A shard runs its part of the calls in flight and of the connections.
        let (tasks, connections) = match plan.shard {
            Some(shard) => (shard.share(concurrency), shard.share(connections).max(1)),
            None => (concurrency, connections),
        };
        let counters = Arc::new(WireCounters::default());
        // The server's addresses, or the proxy's listener for this cell.
        let (grpc, rest) = target.addresses(cell).map_err(anyhow::Error::msg)?;
        // Every measurement gets a link of its own: no cell inherits another's queue.
        let relays = match plan.link.is_loopback() || plan.link.packet().is_some() {
            true => None,
            false => Some(Relays::start(&plan.link, &grpc, rest).await?),
        };
        let (grpc, rest) = match &relays {
            Some(relays) => (&relays.grpc[..], relays.rest),
            None => (&grpc[..], rest),
        };
        // Balancing by the clients needs the servers' own addresses: a link's relays hide them.
        let balance = match (&relays, target.answers()) {
            (None, Some(answers)) => {
                Some(Balance { answers: answers.clone(), every: plan.resolve_every })
            }
            _ => None,
        };
        let client = CellClient::connect(
            cell,
            workload,
            (grpc, rest),
            connections,
            ClientOptions { tls: target.tls.clone(), balance, ..plan.client.clone() },
            counters.clone(),
        )
        .await?;
        let clients: Vec<CellClient> = (0..tasks).map(|task| client.for_task(task)).collect();
        let grace = match plan.link.packet() {
            Some(_) => PACKET_LINK_CALL_GRACE,
            None => CALL_GRACE,
        };
        let connections = if tasks == 0 { 0 } else { client.connections(tasks) };
        let mut session = Session {
            target,
            cell,
            workload: workload.clone(),
            concurrency,
            connections,
            shard: plan.shard,
            link: plan.link.short_name(),
            counters,
            clients,
            _relays: relays,
            call_grace: grace,
        };
        // Each run hands the tasks' clients back, so that a connection opened in the warm-up
        // (an HTTP/1.1 task's own) carries the measured calls too, as HTTP/2's shared ones do.
        let rate = session.share(plan.rate);
        let (_, clients) = drive(
            std::mem::take(&mut session.clients),
            workload,
            (plan.warmup, grace),
            rate,
            false,
        )
        .await;
        session.clients = clients;
        Ok(session)
    }

    /// This generator's part of a rate in total.
    fn share(&self, rate: Option<f64>) -> Option<f64> {
        match self.shard {
            Some(shard) => rate.map(|rate| shard.share_rate(rate)),
            None => rate,
        }
    }

    /// One measured run: closed loop, or `rate` calls per second in total.
    pub(crate) async fn run(&mut self, duration: Duration, rate: Option<f64>) -> Measurement {
        self.run_beside(duration, rate, false, std::future::ready(())).await.0
    }

    /// One measured run with `beside` running alongside the calls (a churn's events); with
    /// `timeline`, every call's record too, and when their clock started.
    pub(crate) async fn run_beside<F: std::future::Future>(
        &mut self,
        duration: Duration,
        rate: Option<f64>,
        timeline: bool,
        beside: F,
    ) -> (Measurement, Vec<CallRecord>, Instant, F::Output) {
        let (target, counters) = (self.target, &self.counters);
        let own_rate = self.share(rate);
        let (sent_before, received_before) = counters.snapshot();
        let retried_before = counters.retried();
        let opened_before = counters.connections.load(std::sync::atomic::Ordering::Relaxed);
        let cpu_before = target.server_cpu();
        let throttling_before = target.server_cpu_stat();
        let client_cpu_before = target::client_cpu();
        let proxy_cpu_before = target.proxy_cpu();
        let proxy_parts_before = target.proxy_cpu_by_process();
        let upstream_connections_before = target.proxy_upstream_connections();
        let link_before = target.packet_link().map(LinkSnapshot::of);
        let opened = unix_ms();
        let clients = std::mem::take(&mut self.clients);
        let ((mut run, clients), beside) = tokio::join!(
            drive(clients, &self.workload, (duration, self.call_grace), own_rate, timeline),
            beside
        );
        self.clients = clients;
        let (records, started) = (std::mem::take(&mut run.records), run.started);
        let window_ms = [opened, unix_ms()];
        let (sent, received) = counters.snapshot();
        let since = |after: Option<Duration>, before: Option<Duration>| {
            after.zip(before).map(|(after, before)| after.saturating_sub(before))
        };
        let cpu = since(target.server_cpu(), cpu_before);
        // Every server's throttling, added up (one server but with `--servers N`).
        let throttling =
            target.server_cpu_stat().zip(throttling_before).and_then(|(after, before)| {
                after.into_iter().zip(before).map(|(after, before)| after.since(before)).reduce(
                    |sum, one| cgroup::Throttling {
                        periods: sum.periods + one.periods,
                        throttled_periods: sum.throttled_periods + one.throttled_periods,
                        throttled_ms: sum.throttled_ms + one.throttled_ms,
                    },
                )
            });
        let client_cpu = since(target::client_cpu(), client_cpu_before);
        let proxy_cpu = since(target.proxy_cpu(), proxy_cpu_before);
        let proxy_parts: Vec<(&str, Option<Duration>)> = target
            .proxy_cpu_by_process()
            .into_iter()
            .zip(proxy_parts_before)
            .map(|((name, after), (_, before))| (name, since(after, before)))
            .collect();
        let upstream_connections_opened = target
            .proxy_upstream_connections()
            .zip(upstream_connections_before)
            .map(|(after, before)| after.saturating_sub(before));
        let packet_link = target.packet_link().zip(link_before).map(|(link, before)| {
            let after = LinkSnapshot::of(link);
            PacketLinkFigures {
                packets_to_server: after.to_server.forwarded_packets
                    - before.to_server.forwarded_packets,
                packets_to_client: after.to_client.forwarded_packets
                    - before.to_client.forwarded_packets,
                dropped_to_server: after.to_server.dropped() - before.to_server.dropped(),
                dropped_to_client: after.to_client.dropped() - before.to_client.dropped(),
                retransmitted_by_clients: after.by_clients.saturating_sub(before.by_clients),
                retransmitted_by_server: after.by_server.saturating_sub(before.by_server),
                calls_over_200ms: run.latency.count_between(200_001, u64::MAX),
            }
        });
        let calls = run.calls.max(1) as f64;
        let per_1000_calls = |cpu: Duration| cpu.as_secs_f64() * 1000.0 * 1000.0 / calls;
        let Latencies { p50_us, p90_us, p99_us, p999_us, max_us, latency_percentiles } =
            Latencies::of(&run.latency);
        let measurement = Measurement {
            cell: self.cell.to_string(),
            workload: self.workload.to_string(),
            server_profile: target.profile.map(|profile| profile.as_str().to_owned()),
            concurrency: self.concurrency,
            connections: self.connections,
            calls: run.calls,
            servers: run.servers.by_name(),
            requests_per_second: run.calls as f64 / run.elapsed.as_secs_f64(),
            p50_us,
            p90_us,
            p99_us,
            p999_us,
            max_us,
            errors: run.errors,
            first_error: run.first_error,
            errors_by_kind: run.errors_by_kind,
            retried: counters
                .retried()
                .into_iter()
                .zip(retried_before)
                .map(|((why, after), (_, before))| (why.name().to_owned(), after - before))
                .filter(|(_, retried)| *retried > 0)
                .collect(),
            client_connections_opened: Some(
                counters.connections.load(std::sync::atomic::Ordering::Relaxed) - opened_before,
            ),
            request_bytes_per_call: (sent - sent_before) as f64 / calls,
            response_bytes_per_call: (received - received_before) as f64 / calls,
            server_cpu_ms_per_1000_calls: cpu.map(per_1000_calls),
            client_cpu_ms_per_1000_calls: client_cpu.map(per_1000_calls),
            proxy_cpu_ms_per_1000_calls: proxy_cpu.map(per_1000_calls),
            // Apart only where there is more than one process (a mesh's sidecars).
            proxy_cpu_ms_per_1000_calls_by_process: match proxy_parts.len() {
                0 | 1 => BTreeMap::new(),
                _ => proxy_parts
                    .into_iter()
                    .filter_map(|(name, cpu)| Some((name.to_owned(), per_1000_calls(cpu?))))
                    .collect(),
            },
            proxy_upstream_connections_opened: upstream_connections_opened,
            server_throttling: throttling,
            latency_percentiles,
            repeats_requests_per_second: Vec::new(),
            window_ms,
            latency_histogram: self.shard.map(|_| encode_histogram(&run.latency)),
            link: self.link.clone(),
            tls: target.tls.is_some(),
            offered_per_second: own_rate,
            capacity: None,
            churn: None,
            packet_link,
            latency: Some(run.latency),
        };
        (measurement, records, started, beside)
    }
}

struct Run {
    /// Every call, when the run keeps a timeline (`--churn`); empty otherwise.
    records: Vec<CallRecord>,
    /// When the calls' clock started.
    started: Instant,
    calls: u64,
    servers: Spread,
    errors: u64,
    first_error: Option<String>,
    errors_by_kind: BTreeMap<String, ErrorsOfAKind>,
    latency: Histogram<u64>,
    elapsed: Duration,
}

/// `concurrency` tasks calling until `duration` has passed: back to back (closed loop), or,
/// with a `rate`, each call at its scheduled time and its latency counted from that time, so
/// a stalled server shows as latency rather than as fewer samples (no coordinated omission).
async fn drive(
    clients: Vec<CellClient>,
    workload: &Workload,
    (duration, grace): (Duration, Duration),
    rate: Option<f64>,
    timeline: bool,
) -> (Run, Vec<CellClient>) {
    // What every reply must say, asked of the domain once rather than per call.
    let expected = Arc::new(Expected::of(workload));
    let started = Instant::now();
    let deadline = started + duration;
    let concurrency = clients.len();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(task, mut client)| {
            let workload = workload.clone();
            let expected = expected.clone();
            // Task `task` owns calls task, task + concurrency, task + 2·concurrency, …
            let interval = rate.map(|rate| Duration::from_secs_f64(concurrency as f64 / rate));
            let offset = rate.map(|rate| Duration::from_secs_f64(task as f64 / rate));
            tokio::spawn(async move {
                let mut latency = new_histogram();
                let mut servers = Spread::default();
                let (mut calls, mut errors, mut first_error) = (0u64, 0u64, None);
                let mut by_kind = BTreeMap::<String, ErrorsOfAKind>::new();
                let mut records = Vec::new();
                let mut next =
                    offset.map(|offset| tokio::time::Instant::from_std(started) + offset);
                while Instant::now() < deadline {
                    let sent = match (next.as_mut(), interval) {
                        (Some(next), Some(interval)) => {
                            let intended = *next;
                            *next += interval;
                            if intended.into_std() >= deadline {
                                break;
                            }
                            if tokio::time::Instant::now() < intended {
                                // On time: the timer's own slack (up to a millisecond) is
                                // ours, not the server's, so time from when the call goes.
                                tokio::time::sleep_until(intended).await;
                                Instant::now()
                            } else {
                                // Behind schedule, because earlier calls were slow: that
                                // wait is the server's, so time from when it was due.
                                intended.into_std()
                            }
                        }
                        _ => Instant::now(),
                    };
                    // A call still waiting `grace` after the run's end is cut: a server that
                    // stalls mid-reply must not hold the run open.
                    let result = tokio::time::timeout_at(
                        (deadline + grace).into(),
                        client.call(&workload, &expected),
                    )
                    .await
                    .unwrap_or_else(|_| Err(CallError::Transport(stalled(grace))));
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    if timeline {
                        records.push(CallRecord {
                            done: started.elapsed(),
                            latency_us: micros.min(MAX_LATENCY_US),
                            server: result.as_ref().ok().cloned().flatten(),
                            failed: result.as_ref().err().map(CallError::kind),
                        });
                    }
                    match result {
                        Ok(served_by) => {
                            servers.count(served_by, 1);
                            calls += 1;
                            latency.saturating_record(micros.min(MAX_LATENCY_US));
                        }
                        Err(error) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| error.to_string());
                            by_kind
                                .entry(error.kind())
                                .and_modify(|kind| kind.calls += 1)
                                .or_insert_with(|| ErrorsOfAKind {
                                    calls: 1,
                                    first: error.to_string(),
                                });
                        }
                    }
                }
                (latency, servers, calls, errors, first_error, by_kind, client, records)
            })
        })
        .collect();
    let mut run = Run {
        records: Vec::new(),
        started,
        calls: 0,
        servers: Spread::default(),
        errors: 0,
        first_error: None,
        errors_by_kind: BTreeMap::new(),
        latency: new_histogram(),
        elapsed: Duration::ZERO,
    };
    let mut clients = Vec::with_capacity(concurrency);
    for task in tasks {
        if let Ok((latency, servers, calls, errors, first_error, by_kind, client, records)) =
            task.await
        {
            run.records.extend(records);
            add_errors(&mut run.errors_by_kind, &by_kind);
            clients.push(client);
            run.latency.add(latency).expect("histograms of the same bounds add up");
            for (server, calls) in servers.0 {
                run.servers.count(server, calls);
            }
            run.calls += calls;
            run.errors += errors;
            if run.first_error.is_none() {
                run.first_error = first_error;
            }
        }
    }
    run.elapsed = started.elapsed();
    (run, clients)
}

/// One call of a run that keeps a timeline: when it ended (since the run began), how long it
/// took, and which server answered it, or why it failed.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub(crate) done: Duration,
    pub(crate) latency_us: u64,
    pub(crate) server: ServedBy,
    pub(crate) failed: Option<String>,
}

/// How long after a run's end a call may still finish; then it is cut and counted as failed.
const CALL_GRACE: Duration = Duration::from_secs(2);

/// The same over a packet link: a connection whose retransmissions are lost again waits a
/// timeout that doubles each time (0.2, 0.4, 0.8 … s), and its calls are late, not failed.
const PACKET_LINK_CALL_GRACE: Duration = Duration::from_secs(30);

/// Why a call cut at the run's end failed (with the default grace).
pub(crate) const STALLED: &str =
    "no complete reply within 2 s of the run's end: the server stalled";

/// Why a call cut `grace` after the run's end failed.
fn stalled(grace: Duration) -> String {
    match grace {
        CALL_GRACE => STALLED.to_owned(),
        _ => format!("no complete reply within {} s of the run's end", grace.as_secs()),
    }
}

/// Latencies are recorded in microseconds, up to a minute (longer ones count as a minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// A histogram in HdrHistogram's V2 encoding (what its other implementations read too), as
/// base64 for JSON.
pub(crate) fn encode_histogram(histogram: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .expect("a histogram serializes into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode_histogram`].
pub fn decode_histogram(text: &str) -> anyhow::Result<Histogram<u64>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    let histogram = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|error| anyhow::anyhow!("not a V2 histogram: {error:?}"))?;
    Ok(histogram)
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Calls per answering server. A handful of servers at most, so a list beats a map, and the
/// header values are kept as they came (no string per call).
#[derive(Default)]
struct Spread(Vec<(ServedBy, u64)>);

impl Spread {
    fn count(&mut self, server: ServedBy, calls: u64) {
        match self.0.iter_mut().find(|(known, _)| *known == server) {
            Some((_, count)) => *count += calls,
            None => self.0.push((server, calls)),
        }
    }

    /// Calls per server name; calls from a server that gave no name are left out.
    fn by_name(&self) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter_map(|(server, calls)| {
                let name = String::from_utf8_lossy(server.as_ref()?.as_bytes()).into_owned();
                Some((name, *calls))
            })
            .collect()
    }
}
