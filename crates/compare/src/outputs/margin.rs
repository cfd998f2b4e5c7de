//! Why one cell served more calls a second than another, read from the two rows' own figures.
//!
//! A cell's calls/s is the CPU it kept busy divided by the CPU each call took. So the ratio of
//! two cells is a product of three factors, each a ratio of figures the run measured:
//! - the server's cost: the slower cell's server CPU per call over the faster one's;
//! - compare's own cost, where client and server share cores (the client's CPU per call then
//!   comes out of the server's share): (1 + client/server) of the slower over the faster;
//! - the cores in use: calls/s × CPU per call of the faster over the slower (the server's
//!   alone where the client has cores of its own).
//!
//! The three multiply back to the measured ratio by construction. Where something other than
//! CPU held a cell back (the client on cores of its own, the link's rate, its round trips),
//! the split is still given, and the line says what bound it.

use serde::{Deserialize, Serialize};

use super::provenance::Provenance;
use crate::run::{Measurement, link::Link};

/// A cell held back this close to a limit is said to be bound by it.
const NEAR_A_LIMIT: f64 = 0.8;

/// A factor this far from 1 (either way) is worth a reason.
const WORTH_NAMING: f64 = 1.1;

/// What the run's setting says about where the CPU came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setting {
    /// Client and server ran on the same cores.
    pub shared_cores: bool,
    /// Cores compare may use (where it has its own).
    pub client_cores: usize,
    /// The runtime of the server compare started (`per-core`, `multi-thread`).
    pub server_runtime: Option<String>,
    pub server_cores: Option<usize>,
    /// `--fair`: as many HTTP/2 connections as the server has cores, server and client apart.
    pub fair: bool,
    /// The proxy the calls went through.
    pub proxy: Option<String>,
}

impl Setting {
    pub(crate) fn of(provenance: &Provenance) -> Self {
        Self {
            shared_cores: provenance.machine.shared_cores == Some(true),
            client_cores: provenance.machine.client_cores,
            server_runtime: provenance.server.runtime.clone(),
            server_cores: provenance.machine.server_cores,
            fair: provenance.settings.fair,
            proxy: provenance.proxy.as_ref().map(|proxy| proxy.name.clone()),
        }
    }
}

/// What held a cell's calls/s where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// The CPU it kept busy: the decomposition is the whole story.
    Cpu,
    /// compare's client, on cores of its own, was near all of them.
    Client,
    /// The bytes a second were near the emulated link's rate.
    LinkRate,
    /// Each call waited its round trips: the calls in flight over the round trip.
    RoundTrips,
    /// The run has no CPU figures for the server (a target's server is not compare's child).
    Unknown,
}

/// Why `faster` served `ratio` times `slower`'s calls a second (the JSON's `verdicts[].factors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factors {
    pub concurrency: usize,
    pub faster: String,
    pub slower: String,
    /// Calls/s of `faster` over `slower`'s.
    pub ratio: f64,
    /// The slower cell's server CPU per call over the faster's.
    pub server_cost: Option<f64>,
    /// Where client and server share cores: the slower cell's (1 + client/server CPU per call)
    /// over the faster's. `None` where the client had cores of its own.
    pub client_cost: Option<f64>,
    /// Cores kept busy (calls/s × CPU per call on the cores that serve) of the faster over the
    /// slower: `faster_cores` over `slower_cores`.
    pub cores_in_use: Option<f64>,
    pub faster_cores: Option<f64>,
    pub slower_cores: Option<f64>,
    /// What held the two cells: the slower's, unless only the faster was bound elsewhere.
    pub bound: Bound,
    /// The largest factor, in words.
    pub cause: String,
}

impl Factors {
    /// The factors that were measured, multiplied: `ratio` again, within rounding.
    pub fn product(&self) -> Option<f64> {
        let cores = self.cores_in_use?;
        Some(self.server_cost? * self.client_cost.unwrap_or(1.0) * cores)
    }
}

/// A cell's CPU per call in µs (which is also ms per 1,000 calls): the server's, and what the
/// client side (compare, and a proxy, which run beside it) spent.
struct Costs {
    server: f64,
    client: f64,
}

fn costs(m: &Measurement) -> Option<Costs> {
    let server = m.server_cpu_ms_per_1000_calls.filter(|cpu| *cpu > 0.0)?;
    let client = m.client_cpu_ms_per_1000_calls.unwrap_or(0.0)
        + m.proxy_cpu_ms_per_1000_calls.unwrap_or(0.0);
    Some(Costs { server, client })
}

/// The CPU per call on the cores that serve: the server's, plus the client's where they share.
fn serving_cost(costs: &Costs, setting: &Setting) -> f64 {
    if setting.shared_cores { costs.server + costs.client } else { costs.server }
}

/// What held `m`, from its own figures and the link it ran over.
fn bound_of(m: &Measurement, setting: &Setting) -> Bound {
    let link: Link = m.link.parse().unwrap_or_default();
    if let Some(bits) = link.bits_per_second {
        let busiest = m.request_bytes_per_call.max(m.response_bytes_per_call);
        if busiest * m.requests_per_second * 8.0 >= NEAR_A_LIMIT * bits as f64 {
            return Bound::LinkRate;
        }
    }
    let rtt = link.rtt.as_secs_f64();
    if rtt > 0.0 && m.requests_per_second * rtt >= NEAR_A_LIMIT * m.concurrency as f64 {
        return Bound::RoundTrips;
    }
    let Some(costs) = costs(m) else { return Bound::Unknown };
    let client_busy = m.requests_per_second * costs.client / 1e6;
    if !setting.shared_cores && client_busy >= NEAR_A_LIMIT * setting.client_cores.max(1) as f64 {
        return Bound::Client;
    }
    Bound::Cpu
}

/// The split of `faster`'s margin over `slower` (labels as the verdict names them).
pub(crate) fn split(
    faster: (&Measurement, String),
    slower: (&Measurement, String),
    setting: &Setting,
) -> Factors {
    let ((f, faster), (s, slower)) = (faster, slower);
    let ratio = f.requests_per_second / s.requests_per_second.max(f64::MIN_POSITIVE);
    let bound = match (bound_of(f, setting), bound_of(s, setting)) {
        (Bound::Cpu, theirs) => theirs,
        (ours, _) => ours,
    };
    let mut factors = Factors {
        concurrency: f.concurrency,
        faster,
        slower,
        ratio,
        server_cost: None,
        client_cost: None,
        cores_in_use: None,
        faster_cores: None,
        slower_cores: None,
        bound,
        cause: String::new(),
    };
    let (Some(fc), Some(sc)) = (costs(f), costs(s)) else {
        factors.cause = "no server CPU figures (the server is not compare's own)".into();
        return factors;
    };
    let cores = |m: &Measurement, c: &Costs| m.requests_per_second * serving_cost(c, setting) / 1e6;
    let (faster_cores, slower_cores) = (cores(f, &fc), cores(s, &sc));
    factors.server_cost = Some(sc.server / fc.server);
    factors.client_cost = setting.shared_cores.then(|| {
        (serving_cost(&sc, setting) / sc.server) / (serving_cost(&fc, setting) / fc.server)
    });
    factors.cores_in_use = Some(faster_cores / slower_cores.max(f64::MIN_POSITIVE));
    factors.faster_cores = Some(faster_cores);
    factors.slower_cores = Some(slower_cores);
    factors.cause = parts(&factors, (f, &fc), (s, &sc), setting)
        .into_iter()
        .max_by(|a, b| a.0.ln().abs().total_cmp(&b.0.ln().abs()))
        .map(|(factor, what, why)| format!("{factor:.2}× from {what} ({why})"))
        .unwrap_or_default();
    factors
}

/// Each measured factor with its name and its reason.
fn parts(
    factors: &Factors,
    (f, fc): (&Measurement, &Costs),
    (s, sc): (&Measurement, &Costs),
    setting: &Setting,
) -> Vec<(f64, &'static str, String)> {
    let mut parts = Vec::new();
    if let Some(server) = factors.server_cost {
        parts.push((
            server,
            "the server's cost",
            format!("{:.1} vs {:.1} µs a call", fc.server, sc.server),
        ));
    }
    if let Some(client) = factors.client_cost {
        let whose =
            if setting.proxy.is_some() { "compare's and the proxy's" } else { "compare's own" };
        parts.push((
            client,
            whose,
            format!("{:.1} vs {:.1} µs; client and server share cores", fc.client, sc.client),
        ));
    }
    if let (Some(cores), Some(fcores), Some(scores)) =
        (factors.cores_in_use, factors.faster_cores, factors.slower_cores)
    {
        parts.push((
            cores,
            "cores in use",
            format!("{fcores:.1} vs {scores:.1}: {}", cores_reason(f, s, setting)),
        ));
    }
    parts
}

/// Why two cells kept different numbers of cores busy, from what the run knows.
fn cores_reason(f: &Measurement, s: &Measurement, setting: &Setting) -> String {
    let mut reason = match (f.connections, s.connections) {
        (1, 1) => return "one connection each".into(),
        (a, b) if a == b => return format!("the same {a} connections"),
        (1, b) => format!("1 connection against {b}"),
        (a, b) => format!("{a} connections against {b}"),
    };
    let fewest = f.connections.min(s.connections);
    let per_core = setting.server_runtime.as_deref() == Some("per-core");
    if per_core && setting.server_cores.is_some_and(|cores| fewest < cores) {
        reason += &format!(
            "; the per-core server runs each connection on one of its {} cores",
            setting.server_cores.unwrap_or_default()
        );
    }
    reason
}

/// The verdict's sentence: the margin, its factors and what bound it.
pub(crate) fn line(
    factors: &Factors,
    f: &Measurement,
    s: &Measurement,
    setting: &Setting,
) -> String {
    let Factors { faster, slower, ratio, .. } = factors;
    let mut line = format!("{faster} served {ratio:.2}× {slower}");
    match (costs(f), costs(s)) {
        (Some(fc), Some(sc)) => {
            let parts: Vec<String> = parts(factors, (f, &fc), (s, &sc), setting)
                .into_iter()
                .map(|(factor, what, why)| format!("{factor:.2}× from {what} ({why})"))
                .collect();
            line += &format!(": {}", parts.join(" × "));
        }
        _ => line += &format!(": {}", factors.cause),
    }
    line += ".";
    match factors.bound {
        Bound::Cpu | Bound::Unknown => {}
        Bound::Client => {
            let cores = match setting.client_cores {
                1 => "its core".to_owned(),
                cores => format!("its {cores} cores"),
            };
            line += &format!(
                " But compare's client was bound: it kept {cores} near full, so the figures are \
                 the instrument's limit as much as the server's."
            );
        }
        Bound::LinkRate => {
            line += " But the link's rate bound them: bytes a second, not CPU, set the pace."
        }
        Bound::RoundTrips => {
            line += " But round trips bound them: calls in flight over the link's round trip set the pace."
        }
    }
    if let Some(largest) = largest_named(factors).filter(|_| factors.bound == Bound::Cpu) {
        line += &format!(" The largest part: {largest}.");
    }
    line += if setting.fair {
        " (Like with like: --fair.)"
    } else if setting.shared_cores {
        " (As stock clients connect, on shared cores; --fair compares like with like.)"
    } else {
        " (As stock clients connect; --fair compares like with like.)"
    };
    line
}

/// The factor farthest from 1 (either way), by name, when it is far enough to name.
fn largest_named(factors: &Factors) -> Option<&'static str> {
    let whose = if factors.client_cost.is_some() { "compare's own cost" } else { "" };
    [
        (factors.server_cost, "the server's cost"),
        (factors.client_cost, whose),
        (factors.cores_in_use, "cores in use"),
    ]
    .into_iter()
    .filter_map(|(factor, name)| Some((factor?, name)))
    .filter(|(factor, _)| *factor >= WORTH_NAMING || *factor <= 1.0 / WORTH_NAMING)
    .max_by(|a, b| a.0.ln().abs().total_cmp(&b.0.ln().abs()))
    .map(|(_, name)| name)
}

/// The latency at the run's lowest and highest loads, said for what it is: at 1 in flight, one
/// call's cost and its round trips; beyond, mostly queueing (Little's law).
pub(crate) fn latency_line(f: (&Measurement, &str), s: (&Measurement, &str)) -> String {
    let ((f, faster), (s, slower)) = (f, s);
    let rtt = f.link.parse::<Link>().unwrap_or_default().rtt;
    if f.concurrency == 1 {
        let mut line = format!(
            "At 1 in flight, latency is one call's cost: p50 {} µs for {faster} against {} µs for {slower}",
            f.p50_us, s.p50_us
        );
        if let (Some(fc), Some(sc)) = (costs(f), costs(s)) {
            line += &format!(
                "; a call took {:.0} against {:.0} µs of CPU (server and client, partly in parallel)",
                fc.server + fc.client,
                sc.server + sc.client
            );
        }
        if !rtt.is_zero() {
            line += &format!(" and the link's round trip of {:.0} ms", rtt.as_secs_f64() * 1e3);
        }
        return line + "; the rest is waiting (wake-ups, the network stack).";
    }
    let mean =
        |m: &Measurement| m.concurrency as f64 / m.requests_per_second.max(f64::MIN_POSITIVE) * 1e6;
    format!(
        "At {} in flight, latency is mostly queueing: {} calls ÷ calls/s gives a mean of {:.0} µs \
         for {faster} and {:.0} µs for {slower} (Little's law; p50 {} and {} µs), so the lower \
         latency goes with the higher throughput.",
        f.concurrency,
        f.concurrency,
        mean(f),
        mean(s),
        f.p50_us,
        s.p50_us
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        cell: &str,
        calls_per_s: f64,
        server: f64,
        client: f64,
        connections: usize,
    ) -> Measurement {
        let mut m: Measurement = serde_json::from_value(serde_json::json!({
            "cell": cell, "workload": "unary", "server_profile": "default", "concurrency": 64,
            "connections": connections, "calls": 1000, "servers": {},
            "requests_per_second": calls_per_s, "p50_us": 600, "p90_us": 900, "p99_us": 1500,
            "p999_us": 3000, "max_us": 5000, "errors": 0, "first_error": null,
            "request_bytes_per_call": 60.0, "response_bytes_per_call": 80.0,
            "server_cpu_ms_per_1000_calls": server, "client_cpu_ms_per_1000_calls": client,
        }))
        .unwrap();
        m.link = "loopback".into();
        m
    }

    fn shared() -> Setting {
        Setting {
            shared_cores: true,
            client_cores: 2,
            server_runtime: Some("per-core".into()),
            server_cores: Some(2),
            ..Setting::default()
        }
    }

    /// The issue's own example: REST h1 1.95× gRPC on two shared cores.
    #[test]
    fn the_factors_multiply_back_to_the_ratio_and_name_the_connections() {
        let rest = row("rest-json-h1", 92_764.0, 12.0, 9.0, 64);
        let grpc = row("grpc", 47_694.0, 13.0, 18.0, 1);
        let factors = split((&rest, "rest-json-h1".into()), (&grpc, "grpc".into()), &shared());
        assert!((factors.ratio - 1.945).abs() < 0.01, "{factors:?}");
        assert!((factors.product().unwrap() / factors.ratio - 1.0).abs() < 1e-9);
        assert!((factors.server_cost.unwrap() - 13.0 / 12.0).abs() < 1e-9);
        assert!((factors.client_cost.unwrap() - 1.363).abs() < 0.01, "{factors:?}");
        assert!((factors.cores_in_use.unwrap() - 1.318).abs() < 0.01, "{factors:?}");
        assert_eq!(factors.bound, Bound::Cpu);
        let line = line(&factors, &rest, &grpc, &shared());
        assert!(
            line.starts_with("rest-json-h1 served 1.94× grpc: 1.08× from the server's cost"),
            "{line}"
        );
        assert!(line.contains("1.36× from compare's own (9.0 vs 18.0 µs"), "{line}");
        assert!(
            line.contains("1.32× from cores in use (1.9 vs 1.5: 64 connections against 1"),
            "{line}"
        );
        assert!(
            line.contains("per-core server runs each connection on one of its 2 cores"),
            "{line}"
        );
        assert!(line.contains("The largest part: compare's own cost."), "{line}");
    }

    #[test]
    fn a_client_on_cores_of_its_own_adds_no_factor_and_can_be_the_bound() {
        let apart = Setting { shared_cores: false, client_cores: 1, fair: true, ..shared() };
        let rest = row("rest-json-h1", 80_000.0, 12.0, 9.0, 64);
        let grpc = row("grpc", 50_000.0, 13.0, 18.0, 1);
        let factors = split((&rest, "rest-json-h1".into()), (&grpc, "grpc".into()), &apart);
        assert_eq!(factors.client_cost, None);
        assert!((factors.product().unwrap() / factors.ratio - 1.0).abs() < 1e-9);
        // 50,000 calls/s × 18 µs = 0.9 of compare's one core.
        assert_eq!(factors.bound, Bound::Client);
        let line = line(&factors, &rest, &grpc, &apart);
        assert!(
            line.contains("compare's client was bound")
                && line.ends_with("(Like with like: --fair.)"),
            "{line}"
        );
    }

    #[test]
    fn a_link_near_its_rate_is_named_instead() {
        let mut rest = row("rest-json-h1", 10_000.0, 12.0, 9.0, 64);
        let mut grpc = row("grpc", 9_000.0, 13.0, 18.0, 1);
        for m in [&mut rest, &mut grpc] {
            m.link = "rtt=1ms,rate=10mbit".into();
            m.response_bytes_per_call = 130.0;
        }
        let factors = split((&rest, "rest-json-h1".into()), (&grpc, "grpc".into()), &shared());
        assert_eq!(factors.bound, Bound::LinkRate);
        assert!(line(&factors, &rest, &grpc, &shared()).contains("the link's rate bound them"));
    }

    #[test]
    fn without_server_figures_nothing_is_made_up() {
        let mut rest = row("rest-json-h1", 10_000.0, 12.0, 9.0, 64);
        rest.server_cpu_ms_per_1000_calls = None;
        let grpc = row("grpc", 9_000.0, 13.0, 18.0, 1);
        let factors = split((&rest, "rest-json-h1".into()), (&grpc, "grpc".into()), &shared());
        assert_eq!((factors.product(), factors.bound), (None, Bound::Unknown));
        assert!(line(&factors, &rest, &grpc, &shared()).contains("no server CPU figures"));
    }
}
