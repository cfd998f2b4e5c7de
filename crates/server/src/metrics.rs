//! Prometheus metrics, served at `/metrics` on the REST port: per protocol and method, calls by
//! status (for gRPC the gRPC status, not the HTTP 200 it rides on) and a latency histogram
//! (for gRPC, until the call's last frame; for REST, until the response headers).
//!
//! Recording sits on every call's path, so it is built to cost about nothing and never to make
//! cores wait on each other: each thread records into a shard of its own (a lock no other
//! thread takes between scrapes, on a cache line of its own), looked up by the call's method
//! and status without allocating; a scrape sums the shards. prometheus-client's families
//! took a lock that every core shared, and allocated the labels, on every call.
//!
//! No label takes a value the client chooses: a gRPC `method` is one the server serves or
//! `unmatched`, a REST one a route template or `unmatched`, with a standard HTTP method or
//! `OTHER`; statuses are the server's own. So no client can grow the series (and the memory
//! and the scrape behind them) by calling made-up paths.
//!
//! What a call is called and how it ended are read by each adapter from its own protocol
//! (`rest::metrics`: the route template and HTTP status; `grpc::metrics`: the path and the
//! gRPC status from the headers or trailers); this module only counts and encodes.

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _},
    metrics::{MetricType, counter::ConstCounter},
    registry::Registry,
};

#[derive(Clone, Debug)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    registry: Registry,
    calls: &'static Calls,
}

impl Metrics {
    /// Metrics for a server whose gRPC port serves `grpc_methods` (their paths,
    /// `/package.Service/Method`): calls to any other path count as `unmatched`.
    ///
    /// The shards live as long as the process (a few KiB per server), so that a call can hold
    /// them without a reference count: cloning an `Arc` on every call would bump one counter,
    /// on one cache line, from every core.
    pub fn new(grpc_methods: impl IntoIterator<Item = String>) -> Self {
        let calls: &'static Calls = Box::leak(Box::new(Calls::new(grpc_methods)));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(CallsCollector(calls)));
        Self(Arc::new(Inner { registry, calls }))
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.0.registry) {
            tracing::error!(%error, "could not encode the metrics");
        }
        text
    }

    /// What a call records into: a plain reference, so that holding it costs a call no
    /// reference count (cloning `Metrics` would bump one, on one cache line, from every core).
    pub(crate) fn recorder(&self) -> Recorder {
        Recorder(self.0.calls)
    }
}

/// Records calls into a server's metrics; see [`Metrics::recorder`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorder(&'static Calls);

impl Recorder {
    /// Counts one call: by its name, its status (the gRPC code, or the HTTP status) and how
    /// long it took. Each adapter reads these from its own protocol (`rest::metrics`,
    /// `grpc::metrics`).
    pub(crate) fn record(self, call: CallName<'_>, status: u16, latency: Duration) {
        self.0.record(call, status, latency);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Protocol {
    Grpc,
    Rest,
    /// Connect calls on the gRPC port, counted apart from gRPC's.
    Connect,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Rest => "rest",
            Protocol::Connect => "connect",
        }
    }
}

/// Which method a call was, as the call's own request has it (nothing copied): for gRPC the
/// path, for REST the HTTP method and the route template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallName<'a> {
    pub(crate) protocol: Protocol,
    pub(crate) verb: &'a str,
    pub(crate) path: &'a str,
}

/// A [`CallName`] kept in a shard. Hashes exactly as the `CallName` it was made from, so a call
/// finds its entry without building a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CallKey {
    protocol: Protocol,
    verb: Box<str>,
    path: Box<str>,
}

impl Hash for CallKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        CallName { protocol: self.protocol, verb: &self.verb, path: &self.path }.hash(state);
    }
}

impl Hash for CallName<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.protocol.hash(state);
        self.verb.hash(state);
        self.path.hash(state);
    }
}

impl hashbrown::Equivalent<CallKey> for CallName<'_> {
    fn equivalent(&self, key: &CallKey) -> bool {
        self.protocol == key.protocol && self.verb == &*key.verb && self.path == &*key.path
    }
}

impl CallKey {
    fn new(name: CallName<'_>) -> Self {
        Self { protocol: name.protocol, verb: name.verb.into(), path: name.path.into() }
    }

    /// The `method` label: the gRPC path, or "GET /v1/…" for REST.
    fn method_label(&self) -> String {
        if self.verb.is_empty() {
            self.path.to_string()
        } else {
            format!("{} {}", self.verb, self.path)
        }
    }
}

/// Latency buckets: upper bounds of 50 µs doubling 22 times (to about 3.5 minutes), then +Inf.
const FIRST_BUCKET: Duration = Duration::from_micros(50);
const BUCKETS: usize = 22;

/// The `method` of a call to a path the server does not serve.
pub(crate) const UNMATCHED: &str = "unmatched";

/// The HTTP methods a REST call's label keeps; any other (HTTP lets a client make up its own)
/// counts as [`OTHER_VERB`].
const STANDARD_VERBS: [&str; 9] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
const OTHER_VERB: &str = "OTHER";

/// What one method's calls came to, in one shard.
#[derive(Debug, Clone, Default)]
struct CallStats {
    /// Calls by status: the gRPC code, or the HTTP status. A handful at most, so a list.
    statuses: Vec<(u16, u64)>,
    /// Calls per latency bucket (not cumulative), the last one +Inf.
    buckets: [u64; BUCKETS + 1],
    seconds: f64,
}

impl CallStats {
    fn add(&mut self, status: u16, latency: Duration) {
        match self.statuses.iter_mut().find(|(known, _)| *known == status) {
            Some((_, calls)) => *calls += 1,
            None => self.statuses.push((status, 1)),
        }
        self.buckets[bucket(latency)] += 1;
        self.seconds += latency.as_secs_f64();
    }

    fn merge(&mut self, other: &CallStats) {
        for &(status, calls) in &other.statuses {
            match self.statuses.iter_mut().find(|(known, _)| *known == status) {
                Some((_, total)) => *total += calls,
                None => self.statuses.push((status, calls)),
            }
        }
        for (total, calls) in self.buckets.iter_mut().zip(other.buckets) {
            *total += calls;
        }
        self.seconds += other.seconds;
    }
}

/// The first bucket whose upper bound (50 µs · 2^i) is at least `latency`.
fn bucket(latency: Duration) -> usize {
    let first = FIRST_BUCKET.as_nanos();
    let multiples = latency.as_nanos().saturating_sub(1) / first;
    let doublings = (u128::BITS - multiples.leading_zeros()) as usize;
    doublings.min(BUCKETS)
}

/// Every shard's calls. A thread keeps to one shard, so shards are only contended by a
/// scrape (or by threads beyond the shard count, which share).
#[derive(Debug)]
struct Calls {
    shards: Box<[Shard]>,
    /// The paths the gRPC port serves: the only gRPC `method` labels besides `unmatched`.
    grpc_methods: std::collections::HashSet<Box<str>>,
}

/// One shard, on a cache line of its own so that two cores' counts never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<hashbrown::HashMap<CallKey, CallStats>>);

/// Which shard the current thread records into, handed out in turn as threads first record.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|index| *index)
}

impl Calls {
    fn new(grpc_methods: impl IntoIterator<Item = String>) -> Self {
        // Room for every worker thread and the odd blocking one, each with a shard of its own.
        let threads = std::thread::available_parallelism().map_or(8, usize::from);
        Self {
            shards: (0..threads * 2 + 2).map(|_| Shard::default()).collect(),
            grpc_methods: grpc_methods.into_iter().map(String::into_boxed_str).collect(),
        }
    }

    fn record(&self, name: CallName<'_>, status: u16, latency: Duration) {
        let shard = &self.shards[shard_index() % self.shards.len()];
        let mut calls = shard.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A name already counted is one the bounds let through: a served call pays one lookup.
        if let Some(stats) = calls.get_mut(&name) {
            return stats.add(status, latency);
        }
        let name = self.bounded(name);
        match calls.get_mut(&name) {
            Some(stats) => stats.add(status, latency),
            None => calls.entry(CallKey::new(name)).or_default().add(status, latency),
        }
    }

    /// The name a call is counted under: its own, when the server serves it.
    fn bounded<'a>(&self, name: CallName<'a>) -> CallName<'a> {
        match name.protocol {
            Protocol::Grpc | Protocol::Connect if self.grpc_methods.contains(name.path) => name,
            Protocol::Grpc | Protocol::Connect => CallName { path: UNMATCHED, ..name },
            Protocol::Rest => {
                let verb = STANDARD_VERBS.into_iter().find(|verb| *verb == name.verb);
                CallName { verb: verb.unwrap_or(OTHER_VERB), ..name }
            }
        }
    }

    /// Every shard summed, by method.
    fn totals(&self) -> BTreeMap<CallKey, CallStats> {
        let mut totals = BTreeMap::<CallKey, CallStats>::new();
        for shard in &self.shards {
            let calls = shard.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (key, stats) in calls.iter() {
                totals.entry(key.clone()).or_default().merge(stats);
            }
        }
        totals
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    protocol: &'static str,
    method: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    protocol: &'static str,
    method: String,
}

/// Encodes the shards' totals at each scrape, through prometheus-client's encoder.
#[derive(Debug)]
struct CallsCollector(&'static Calls);

impl Collector for CallsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let totals = self.0.totals();
        let mut family = encoder.encode_descriptor(
            "rpc_calls",
            "Calls by protocol, method and status",
            None,
            MetricType::Counter,
        )?;
        for (key, stats) in &totals {
            for &(status, calls) in &stats.statuses {
                let status = match key.protocol {
                    // Connect calls are counted by the gRPC status they were translated from.
                    Protocol::Grpc | Protocol::Connect => {
                        format!("{:?}", tonic::Code::from(i32::from(status)))
                    }
                    Protocol::Rest => status.to_string(),
                };
                let labels = CallLabels {
                    protocol: key.protocol.as_str(),
                    method: key.method_label(),
                    status,
                };
                ConstCounter::new(calls).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "rpc_call_duration_seconds",
            "Call latency by protocol and method",
            None,
            MetricType::Histogram,
        )?;
        for (key, stats) in &totals {
            let labels =
                MethodLabels { protocol: key.protocol.as_str(), method: key.method_label() };
            let mut upper = FIRST_BUCKET.as_secs_f64();
            let buckets: Vec<(f64, u64)> = stats
                .buckets
                .iter()
                .enumerate()
                .map(|(i, &calls)| {
                    let bound = if i == BUCKETS { f64::INFINITY } else { upper };
                    upper *= 2.0;
                    (bound, calls)
                })
                .collect();
            let count = buckets.iter().map(|(_, calls)| calls).sum();
            family.encode_family(&labels)?.encode_histogram::<MethodLabels>(
                stats.seconds,
                count,
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_the_first_bucket_whose_bound_holds_them() {
        let us = Duration::from_micros;
        for (latency, expected) in [
            (us(0), 0),
            (us(50), 0),
            (Duration::from_nanos(50_001), 1),
            (us(100), 1),
            (us(101), 2),
            (us(200), 2),
            (us(50 << 21), 21),
            (us((50 << 21) + 1), 22),
            (Duration::from_secs(3600), 22),
        ] {
            assert_eq!(bucket(latency), expected, "{latency:?}");
        }
    }

    #[test]
    fn shards_add_up_and_only_served_methods_get_a_label_of_their_own() {
        let calls = Calls::new(["/a/B".to_owned()]);
        fn grpc(path: &str) -> CallName<'_> {
            CallName { protocol: Protocol::Grpc, verb: "", path }
        }
        calls.record(grpc("/a/B"), 0, Duration::from_micros(10));
        std::thread::scope(|scope| {
            scope.spawn(|| calls.record(grpc("/a/B"), 3, Duration::from_micros(70)));
        });
        for i in 0..1_000 {
            let path = format!("/x{i}.Svc/Method{i}");
            calls.record(grpc(&path), 12, Duration::ZERO);
            let verb = format!("VERB{i}");
            let rest = CallName { protocol: Protocol::Rest, verb: &verb, path: UNMATCHED };
            calls.record(rest, 404, Duration::ZERO);
        }
        let totals = calls.totals();
        let stats = &totals[&CallKey::new(grpc("/a/B"))];
        assert_eq!(stats.statuses.iter().map(|(_, n)| n).sum::<u64>(), 2);
        assert_eq!((stats.buckets[0], stats.buckets[1]), (1, 1));
        let unmatched = &totals[&CallKey::new(grpc(UNMATCHED))];
        assert_eq!(unmatched.statuses, [(12, 1_000)]);
        let other_verb = CallName { protocol: Protocol::Rest, verb: OTHER_VERB, path: UNMATCHED };
        assert_eq!(totals[&CallKey::new(other_verb)].statuses, [(404, 1_000)]);
        assert_eq!(totals.len(), 3, "{:?}", totals.keys());
    }
}
