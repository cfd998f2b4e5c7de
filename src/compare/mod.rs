//! `rpc-vs-rest compare`: the same workload through every protocol stack, side by side.
//! Cells: `grpc` (protobuf, HTTP/2, gRPC framing), REST with JSON or protobuf bodies over
//! HTTP/1.1 or h2c, SSE and WebSocket, and Connect in JSON or protobuf on the gRPC port, each
//! compressed or not. Workloads: unary SayHello, batches of N names, server streams of N, chats
//! of N, and the payload echoes (grpc_bench's complex message, N person records). Every reply
//! is checked; latency percentiles, throughput, bytes on the wire per call and server CPU per
//! call are measured.
//!
//! Its rooms, in the order a run uses them: `workload` (what a call sends), `clients` (the
//! cells, their clients and connections, the check of each reply), `run` (the server under
//! test, the link, the load generator and its measurements, shards) and `outputs` (the report,
//! verdicts, provenance, baselines, merges). Each room uses only the rooms before it; this file
//! holds the command's options and puts a run together. A new client goes in `clients` (and a
//! cell in `clients/cell.rs`), a new output in `outputs`.

pub(crate) mod clients;
mod outputs;
mod run;
mod workload;

use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Profile;

pub use clients::cell::{Api, Cell, CellClient, Encoding, HttpVersion};
pub use clients::check::ServedBy;
pub use clients::check::{CallError, Expected};
pub use clients::compression::Compression;
pub use clients::grpc::GrpcClients;
pub use clients::http2::Http2;
pub use clients::unary::{ClientOptions, ConnectionPolicy};
pub use clients::wire::{CountingConnector, CountingStream, WireCounters};
pub use outputs::provenance::Provenance;
pub use outputs::report::Format;
pub use outputs::report::Report;
pub use outputs::verdict::{Verdict, verdicts};
pub use run::address::{GrpcTarget, RestTarget};
pub use run::affinity::CoreList;
pub use run::capacity::{Capacity, Step};
pub use run::cgroup::Throttling;
pub use run::objective::Objective;
pub use run::schedule::{RateSchedule, RateStep};
pub use run::shard::{Shard, StartAt};
pub use run::{LatencyAt, Measurement, decode_histogram};
pub use workload::{Workload, payload};

/// The cells a run compares unless told otherwise: every one.
const DEFAULT_CELLS: &str = "grpc,rest-json-h1,rest-json-h2,rest-proto-h1,rest-proto-h2,\
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
            ClientRuntime::Auto if crate::runtime::usable_cores() == 1 => {
                ClientRuntime::CurrentThread
            }
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
    pub server_runtime: Option<crate::runtime::RuntimeKind>,

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

    /// HTTP/1.1 cells share at most this many connections among the calls in flight (a
    /// browser allows 6 per host); a call waits for a free one. Default: one per call in
    /// flight. Unary and batch workloads.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub h1_connections: Option<usize>,

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
    /// counts as the client's.
    #[arg(long, value_delimiter = ';', default_value = "loopback")]
    pub link: Vec<run::link::Link>,

    /// An L7 proxy between every cell's clients and the server(s): `nginx` (the system's;
    /// Debian: `apt-get install nginx-core`), started unprivileged on loopback ports with a
    /// configuration compare writes (see `--print-proxy-config`), and stopped when compare
    /// ends. gRPC and Connect over HTTP/2 go through `grpc_pass`, the rest through
    /// `proxy_pass` over HTTP/1.1, with kept-alive upstream connections and calls spread over
    /// the servers round robin per call. A cell nginx cannot carry (`rest-ws-h2`) is skipped
    /// with a line saying why. Each row adds the proxy's CPU per 1,000 calls (`proxy CPU`).
    #[arg(long, value_enum, value_name = "PROXY")]
    pub via: Option<run::proxy::Via>,

    /// With `--via`: the servers compare starts behind the proxy, named `server-1` …
    /// `server-N` in their replies' `x-served-by` (the `servers` column); their CPU is
    /// counted together. With targets, the targets' addresses are the upstreams instead, and
    /// N > 1 is refused.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count_at_least_one)]
    pub servers: usize,

    /// With `--via`: the proxy's worker processes. 1, the default, keeps the proxy to one core
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
    pub http2: crate::config::Http2Windows,

    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,

    /// Seconds each measurement lasts.
    #[arg(long, default_value_t = 2.0)]
    pub duration: f64,

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

    /// Seconds each step of an `--slo` search lasts (after one warm-up per cell).
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    pub slo_step_duration: f64,

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

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 600.0 => Ok(seconds),
        _ => Err(format!("seconds, above 0 and at most 600, not {text:?}")),
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

/// What `compare` can do besides measuring.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CompareCommand {
    /// Merge the `--format json` results of the shards of one run (files, or folders of
    /// `*.json`) into one: histograms added exactly, calls, bytes, errors and servers summed.
    Merge(outputs::merge::MergeConfig),
}

pub async fn run(mut config: CompareConfig) -> anyhow::Result<()> {
    if let Some(CompareCommand::Merge(merge)) = &config.command {
        return outputs::merge::run(merge);
    }
    if config.full {
        config.workloads =
            ["unary", "batch-1", "batch-10", "batch-100", "batch-1000", "stream-100", "chat-100"]
                .iter()
                .map(|w| w.parse().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?;
        config.concurrency = vec![1, 16, 64, 256];
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        config.connections = if cores > 1 { vec![1, cores] } else { vec![1] };
    }
    config.cells = cells_with_targets(&config)?;
    // Refused before anything runs: the lean client is the one that pools or reconnects.
    if config.h1_connections.is_some() || config.connect_per_call {
        if let Some(workload) = config.workloads.iter().find(|w| !w.is_unary_or_batch()) {
            anyhow::bail!(
                "--h1-connections and --connect-per-call apply to unary and batch workloads, \
                 not {workload}"
            );
        }
    }
    refuse_server_conditions_for_targets(&config)?;
    refuse_proxy_conditions(&config)?;
    refuse_load_conditions(&config)?;
    if config.print_proxy_config {
        return print_proxy_config(&config).await;
    }
    if let Some(cores) = &config.server_cores {
        cores.check_allowed()?;
    }
    // Read first, so that a bad baseline fails before the measuring does.
    let before = config.baseline.as_deref().map(Report::load).transpose()?;
    let target = connect(&config, config.server_profile).await?;
    let mut provenance = Provenance::of(&config, &target);
    if let Some(start) = config.start_at {
        provenance.late_by_seconds = start.wait().await;
        if let Some(late) = provenance.late_by_seconds {
            eprintln!("compare: started {late:.1} s after --start-at");
        }
    }
    let measurements = measure_all(&config, &target).await?;
    let verdicts = outputs::verdict::verdicts(&measurements);
    println!(
        "{}",
        outputs::report::document(&provenance, &measurements, &verdicts, config.format)?
    );
    let changes = before
        .as_ref()
        .map(|before| outputs::baseline::changes(&before.measurements, &measurements));
    if let (Some(changes), Some(path)) = (&changes, &config.baseline) {
        if matches!(config.format, Format::Table | Format::Markdown) {
            println!("{}", outputs::baseline::render(changes, path, config.format));
        }
    }
    if let Some(path) = &config.report {
        let page = outputs::html::Page {
            provenance: &provenance,
            measurements: &measurements,
            verdicts: &verdicts,
            baseline: before.as_ref().zip(changes).map(|(before, changes)| (&before.run, changes)),
        };
        std::fs::write(path, outputs::html::render(&page))?;
        eprintln!("wrote {}", path.display());
    }
    let local = target.profile.is_some();
    drop(target);
    if config.full && local && matches!(config.format, Format::Table | Format::Markdown) {
        let costs = feature_costs(&config).await?;
        println!("{}", outputs::report::render_feature_costs(&costs, config.format)?);
    }
    failed_calls(&measurements)
}

/// An error, after the results are out, when any call failed: a run with failures exits with
/// a status that says so, naming each measurement's first failure.
fn failed_calls(measurements: &[Measurement]) -> anyhow::Result<()> {
    let failed: Vec<&Measurement> = measurements.iter().filter(|m| m.errors > 0).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for m in &failed {
        let first = m.first_error.as_deref().unwrap_or("(no reason kept)");
        eprintln!(
            "compare: {} {} x{}: {} of {} calls failed; the first: {first}",
            m.cell,
            m.workload,
            m.concurrency,
            m.errors,
            m.calls + m.errors
        );
        for (kind, errors) in &m.errors_by_kind {
            eprintln!("  {kind}: {} calls; the first: {}", errors.calls, errors.first);
        }
    }
    anyhow::bail!("{} of {} measurements had failed calls", failed.len(), measurements.len())
}

/// The cells to run given the targets: with one target only, the default cells narrow to those
/// it serves (not Connect's: a gRPC server need not speak it; name them to run them), and a
/// cell asked for by name without its target is refused, naming the flag.
fn cells_with_targets(config: &CompareConfig) -> anyhow::Result<Vec<Cell>> {
    let (grpc, rest) = (config.grpc_target.is_some(), config.rest_target.is_some());
    if grpc == rest {
        return Ok(config.cells.clone());
    }
    // Connect is served on the gRPC port.
    let needs_grpc =
        |cell: &Cell| matches!(cell.api, clients::cell::Api::Grpc | clients::cell::Api::Connect(_));
    let served = |cell: &&Cell| if needs_grpc(cell) { grpc } else { rest };
    let defaults: Vec<Cell> = DEFAULT_CELLS
        .split(',')
        .map(|name| name.parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    if config.cells == defaults {
        let connect = |cell: &&Cell| matches!(cell.api, clients::cell::Api::Connect(_));
        return Ok(config
            .cells
            .iter()
            .filter(served)
            .filter(|cell| !connect(cell))
            .copied()
            .collect());
    }
    if let Some(cell) = config.cells.iter().find(|cell| !served(cell)) {
        let (needed, given) = match needs_grpc(cell) {
            true => ("--grpc-target", "--rest-target"),
            false => ("--rest-target", "--grpc-target"),
        };
        anyhow::bail!("the {cell} cell needs {needed}; only {given} was given");
    }
    Ok(config.cells.clone())
}

/// The flags that set how compare runs its own server, refused with targets: a quota or cores
/// the user believes applied, but did not, would be a wrong measurement rather than a lesser
/// one.
fn refuse_server_conditions_for_targets(config: &CompareConfig) -> anyhow::Result<()> {
    if config.grpc_target.is_none() && config.rest_target.is_none() {
        return Ok(());
    }
    let given = [
        ("--server-cpus", config.server_cpus.is_some()),
        ("--server-cores", config.server_cores.is_some()),
        ("--server-runtime", config.server_runtime.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        anyhow::bail!(
            "{flag} applies to the server compare starts; with --grpc-target or --rest-target \
             the server is not compare's to run (set it where that server starts)"
        );
    }
    Ok(())
}

/// What `--slo` and a rate schedule cannot be combined with: a search sets its own rates, and
/// shards run apart, so neither a search nor a schedule's steps would line up across them.
fn refuse_load_conditions(config: &CompareConfig) -> anyhow::Result<()> {
    let schedule = matches!(config.rate, Some(RateSchedule::Steps { .. }));
    if config.slo.is_some() && config.rate.is_some() {
        anyhow::bail!("--slo searches the rate itself: leave --rate out");
    }
    if config.shard.is_some() && (config.slo.is_some() || schedule) {
        anyhow::bail!(
            "--shard runs with a closed loop or one --rate: an --slo search or a rate schedule \
             runs from one compare (give it the calls in flight of every shard)"
        );
    }
    if config.slo.is_some() && config.repeats > 1 {
        anyhow::bail!("--slo runs each rate once (its steps are the repeats): leave --repeats out");
    }
    Ok(())
}

/// What `--via` and `--servers` cannot be combined with, refused before anything starts.
fn refuse_proxy_conditions(config: &CompareConfig) -> anyhow::Result<()> {
    let targets = config.grpc_target.is_some() || config.rest_target.is_some();
    if config.servers > 1 && config.via.is_none() {
        anyhow::bail!(
            "--servers {} needs a proxy in front of them (--via nginx): the REST cells' clients \
             connect to one address",
            config.servers
        );
    }
    if config.servers > 1 && targets {
        anyhow::bail!(
            "--servers applies to the servers compare starts; with --grpc-target or \
             --rest-target the proxy passes calls on to the targets' addresses (give \
             `--grpc-target ipv4:a:p,b:p` for several gRPC servers)"
        );
    }
    if config.via.is_some() && config.tls {
        anyhow::bail!(
            "--via with --tls is not supported: the proxy would need a certificate of its own \
             and TLS to the servers; run the proxy without --tls"
        );
    }
    Ok(())
}

/// `--print-proxy-config`: the configuration a run would start the proxy with, at placeholder
/// listeners, in front of the targets' addresses or `serve`'s default ports.
async fn print_proxy_config(config: &CompareConfig) -> anyhow::Result<()> {
    use run::proxy::{Upstreams, configuration, placeholder_listeners};
    let Some(via) = config.via else { anyhow::bail!("--print-proxy-config needs --via") };
    let mut upstreams = Upstreams::placeholders(config.servers);
    if config.grpc_target.is_some() || config.rest_target.is_some() {
        upstreams.grpc = match &config.grpc_target {
            Some(grpc) => grpc.resolve().await?,
            None => Vec::new(),
        };
        upstreams.rest = match &config.rest_target {
            Some(rest) => vec![rest.resolve().await?],
            None => Vec::new(),
        };
    }
    let user = run::proxy::running_as_root().then(run::proxy::unprivileged_user);
    let listeners = placeholder_listeners(&upstreams);
    let text = configuration(&upstreams, &listeners, config.proxy_workers, user.as_deref());
    print!("{text}");
    // Said on stderr, so that stdout is the file itself.
    match run::proxy::version(via) {
        Ok(version) => eprintln!(
            "compare: what `--via` runs nginx {version} with; a run puts the listeners on free \
             ports"
        ),
        Err(error) => eprintln!("compare: {error:#}"),
    }
    Ok(())
}

/// How compare runs the servers it starts.
fn server_conditions(config: &CompareConfig) -> run::target::ServerConditions {
    run::target::ServerConditions {
        runtime: config.server_runtime,
        cpus: config.server_cpus,
        cores: config.server_cores.clone(),
        name: None,
    }
}

/// The servers compare starts (`--servers N`, each named `server-I` when there are several),
/// behind the proxy with `--via`.
async fn own_target(
    config: &CompareConfig,
    profile: Profile,
) -> anyhow::Result<run::target::Target> {
    let mut servers = Vec::with_capacity(config.servers);
    for index in 1..=config.servers {
        let conditions = run::target::ServerConditions {
            name: (config.servers > 1).then(|| format!("server-{index}")),
            ..server_conditions(config)
        };
        servers.push(
            run::target::Target::local(profile, config.http2, config.tls, &conditions).await?,
        );
    }
    let target = run::target::Target::together(servers)?;
    behind_proxy(config, target).await
}

/// The target behind the proxy, with `--via`: its servers are the proxy's upstreams.
async fn behind_proxy(
    config: &CompareConfig,
    target: run::target::Target,
) -> anyhow::Result<run::target::Target> {
    let Some(via) = config.via else { return Ok(target) };
    let cores = config.server_cores.as_ref();
    let proxy =
        run::proxy::Proxy::start(via, target.upstreams(), config.proxy_workers, cores).await?;
    Ok(target.behind(proxy))
}

/// `on` or `off`, as a flag's value.
fn on_off(value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{value:?}: on or off")),
    }
}

async fn connect(config: &CompareConfig, profile: Profile) -> anyhow::Result<run::target::Target> {
    let mut target = connect_resuming(config, profile).await?;
    if !config.tls_resumption {
        target.tls = target.tls.take().map(clients::tls::ClientTls::without_resumption);
    }
    Ok(target)
}

async fn connect_resuming(
    config: &CompareConfig,
    profile: Profile,
) -> anyhow::Result<run::target::Target> {
    match (&config.grpc_target, &config.rest_target) {
        (None, None) => own_target(config, profile).await,
        (grpc, rest) => {
            let tls = match (config.tls, &config.tls_ca) {
                (false, _) => None,
                (true, None) => anyhow::bail!("--tls with targets needs --tls-ca FILE.pem"),
                (true, Some(ca)) => {
                    use anyhow::Context as _;
                    let pem = std::fs::read(ca)
                        .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
                    let name = match (&config.tls_server_name, rest) {
                        (Some(name), _) => name.clone(),
                        (None, Some(rest)) => rest.host(),
                        (None, None) => anyhow::bail!(
                            "--tls with --grpc-target alone needs --tls-server-name NAME"
                        ),
                    };
                    Some(clients::tls::ClientTls::trusting(&pem, &name)?)
                }
            };
            let target = run::target::Target::remote(grpc.as_ref(), rest.as_ref(), tls).await?;
            behind_proxy(config, target).await
        }
    }
}

/// Runs every combination and returns the measurements, in order.
async fn measure_all(
    config: &CompareConfig,
    target: &run::target::Target,
) -> anyhow::Result<Vec<Measurement>> {
    let base = plan(config);
    // Cells the proxy cannot carry are skipped, each with a line saying why.
    let mut passable = Vec::with_capacity(config.cells.len());
    for &cell in &config.cells {
        match target.addresses(cell) {
            Ok(_) => passable.push(cell),
            Err(why) if config.workloads.iter().any(|workload| cell.carries(workload)) => {
                eprintln!("compare: {cell}: skipped, it cannot go through the proxy ({why})");
            }
            Err(_) => {}
        }
    }
    let passable = &passable;
    let runs: Vec<(&run::link::Link, &Workload, usize, usize, Cell)> = config
        .link
        .iter()
        .flat_map(|link| {
            config.workloads.iter().flat_map(move |workload| {
                config.concurrency.iter().flat_map(move |&concurrency| {
                    passable.iter().filter(|cell| cell.carries(workload)).flat_map(move |&cell| {
                        connection_counts(cell, concurrency, &config.connections).into_iter().map(
                            move |connections| (link, workload, concurrency, connections, cell),
                        )
                    })
                })
            })
        })
        .collect();
    let total = runs.len();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut measurements = Vec::with_capacity(total);
    let mut unserved: Vec<(Cell, &Workload)> = Vec::new();
    for (link, workload, concurrency, connections, cell) in runs {
        if unserved.contains(&(cell, workload)) {
            progress.inc(1);
            continue;
        }
        progress.set_message(format!(
            "{cell} {workload} x{concurrency} /{connections} @{}",
            link.short_name()
        ));
        let plan = run::Plan { link: link.clone(), ..base.clone() };
        let mut rows = match (&config.slo, &config.rate) {
            (Some(objective), _) => {
                let search = run::capacity::Search {
                    objective: objective.clone(),
                    step: Duration::from_secs_f64(config.slo_step_duration),
                    resolution: config.slo_resolution,
                };
                let mut session =
                    run::Session::open(target, cell, workload, concurrency, connections, &plan)
                        .await?;
                vec![run::capacity::search(&mut session, &search).await]
            }
            (None, Some(RateSchedule::Steps { steps, .. })) => {
                let shape = (concurrency, connections);
                run::measure_schedule(target, (cell, workload), shape, &plan, steps).await?
            }
            (None, _) => {
                vec![run::measure(target, cell, workload, concurrency, connections, &plan).await?]
            }
        };
        let measurement = rows.remove(0);
        // A server that stalled every call is not one that lacks the workload: not asked.
        let stalled = measurement.first_error.as_deref() == Some(run::STALLED);
        if measurement.calls == 0 && measurement.errors > 0 && !stalled {
            if let Some(error) = not_served(target, &plan, cell, workload).await? {
                progress.suspend(|| {
                    eprintln!(
                        "compare: {cell} {workload}: skipped, the target does not serve it \
                         ({error})"
                    );
                });
                unserved.push((cell, workload));
                progress.inc(1);
                continue;
            }
        }
        measurements.push(measurement);
        measurements.append(&mut rows);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(measurements)
}

/// How long [`not_served`] waits for a connection or an answer.
const NOT_SERVED_WAIT: Duration = Duration::from_secs(1);

/// Why a cell's workload failed every call, when the reason is that the target does not
/// serve it (UNIMPLEMENTED, 404 or 405 to one more call: a grpcio helloworld server has
/// SayHello alone). Such a workload is skipped with a line saying so rather than reported as
/// a row of errors; errors of any other kind are measured as ever. Compare's own server serves
/// every workload and is not asked. Only a measurement without a single good call asks, so a
/// run that goes well opens no connection more than it measures.
async fn not_served(
    target: &run::target::Target,
    plan: &run::Plan,
    cell: Cell,
    workload: &Workload,
) -> anyhow::Result<Option<CallError>> {
    if target.profile.is_some() {
        return Ok(None);
    }
    let options = ClientOptions { tls: target.tls.clone(), ..plan.client.clone() };
    let counters = std::sync::Arc::new(WireCounters::default());
    let (grpc, rest) = target.addresses(cell).map_err(anyhow::Error::msg)?;
    let addresses = (&grpc[..], rest);
    // A server that stalls is not one that refuses: each question is bounded.
    let connect = CellClient::connect(cell, workload, addresses, 1, options, counters);
    let Ok(client) = tokio::time::timeout(NOT_SERVED_WAIT, connect).await else {
        return Ok(None);
    };
    let mut client = client?;
    // A few calls, apart: a server still busy with the measurement's backlog may fail the first
    // for another reason (a slow Python server, on shared cores).
    let expected = Expected::of(workload);
    for attempt in 0..3 {
        let call = client.call(workload, &expected);
        match tokio::time::timeout(NOT_SERVED_WAIT, call).await {
            Err(_) => return Ok(None),
            Ok(Err(error)) if error.is_not_served() => return Ok(Some(error)),
            Ok(Err(error)) => {
                tracing::debug!(%cell, %workload, attempt, %error, "not a refusal");
            }
            Ok(Ok(_)) => return Ok(None),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

fn plan(config: &CompareConfig) -> run::Plan {
    run::Plan {
        shard: config.shard,
        warmup: Duration::from_secs_f64(config.warmup),
        duration: Duration::from_secs_f64(config.duration),
        repeats: config.repeats,
        rate: config.rate.as_ref().and_then(RateSchedule::constant),
        link: run::link::Link::LOOPBACK,
        client: ClientOptions {
            policy: ConnectionPolicy {
                h1_pool: config.h1_connections,
                per_call: config.connect_per_call,
            },
            windows: config.http2,
            // The target's: see `run::measure`.
            tls: None,
        },
    }
}

/// The connection counts a cell runs with at this concurrency: each of `--connections` (at
/// most one per call in flight) for HTTP/2 cells; HTTP/1.1 cells run once, with a connection
/// per call.
fn connection_counts(cell: Cell, concurrency: usize, connections: &[usize]) -> Vec<usize> {
    if !cell.http2() {
        return vec![concurrency];
    }
    let mut counts: Vec<usize> =
        connections.iter().map(|&n| n.clamp(1, concurrency.max(1))).collect();
    counts.dedup();
    counts
}

/// What the default profile's features (request ids, metrics) cost per call: unary calls, 64
/// in flight, on one connection per HTTP/2 cell, against a default and then a lean server of
/// compare's own.
async fn feature_costs(
    config: &CompareConfig,
) -> anyhow::Result<Vec<outputs::report::FeatureCost>> {
    let cells = [Cell::GRPC, Cell::REST_JSON_H1, Cell::REST_JSON_H2];
    let plan = plan(config);
    let mut by_profile = Vec::new();
    for profile in [Profile::Default, Profile::Lean] {
        let target = own_target(config, profile).await?;
        let mut measured = Vec::new();
        for cell in cells {
            measured.push(run::measure(&target, cell, &Workload::Unary, 64, 1, &plan).await?);
        }
        by_profile.push(measured);
    }
    Ok(by_profile[0]
        .iter()
        .zip(&by_profile[1])
        .map(|(default, lean)| outputs::report::FeatureCost {
            default: default.clone(),
            lean: lean.clone(),
        })
        .collect())
}
