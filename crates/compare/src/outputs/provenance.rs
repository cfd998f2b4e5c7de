//! Where a comparison's numbers came from: the command, the build, the machine, the server and
//! the settings that bear on them. Printed with every format, so that two runs can be set side
//! by side with confidence.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    CompareConfig,
    run::{
        affinity::{self, CoreList},
        target::Target,
    },
};

/// The provenance of one `compare` run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub command: String,
    pub version: String,
    pub commit: String,
    /// When the run started, RFC 3339, UTC.
    pub date: String,
    pub machine: Machine,
    pub server: Server,
    /// The L7 proxy between the clients and the server(s) (`--via`), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    pub settings: Settings,
    /// This run's part of a sharded load (`--shard`), if it is one.
    #[serde(default)]
    pub shard: Option<crate::run::shard::Shard>,
    /// How late this shard began after `--start-at`, in seconds, if it did.
    #[serde(default)]
    pub late_by_seconds: Option<f64>,
    /// For a merged run: the shards' files, and how far their measurement windows overlapped.
    #[serde(default)]
    pub merged: Option<Merged>,
}

/// Where a merged run came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Merged {
    pub files: Vec<String>,
    /// The smallest overlap of the shards' windows over all measurements: the time every shard
    /// was measuring, as a share of the longest window (1.0: they ran exactly together).
    pub worst_overlap: f64,
}

// The parts of a provenance below are plain records, alike in shape because they are all data
// read once and printed; one struct each keeps the JSON grouped as a reader looks for it.

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub cpu: String,
    /// Cores `compare` (the client) may run on.
    pub client_cores: usize,
    /// Cores the server may run on, when it is compare's own child (its CPU affinity).
    pub server_cores: Option<usize>,
    /// Whether client and server may run on the same cores (known when compare started the
    /// server): then the client's CPU is taken from the server's, and its own per-cell cost
    /// enters the figures.
    #[serde(default)]
    pub shared_cores: Option<bool>,
    pub memory_mib: Option<u64>,
    pub kernel: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Server {
    /// Started by `compare` on this machine, or given by address.
    pub started_by_compare: bool,
    /// The profile of the server compare started (one given by address keeps its own).
    pub profile: Option<String>,
    /// How the server compare started schedules its work (`serve --runtime`):
    /// `--server-runtime`, else `RPC_VS_REST_RUNTIME`, else `per-core`.
    #[serde(default)]
    pub runtime: Option<String>,
    /// The cgroup holding the CPU quota of the server compare started (`--server-cpus`).
    #[serde(default)]
    pub cgroup: Option<Cgroup>,
    pub grpc: Vec<String>,
    pub rest: String,
    /// How many servers compare started behind the proxy (`--servers N`), when more than one;
    /// `grpc` and `rest` then list every one's addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// When the clients spread their calls over the servers themselves (no proxy): what they
    /// ask for the addresses (`dns:///host:port`, or the list compare keeps of its servers)
    /// and how often (`--resolve-every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balanced_by_clients: Option<ClientBalancing>,
}

/// How clients that balance over the servers themselves learn the servers' addresses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientBalancing {
    /// `dns:///host:port` for the gRPC port, `compare's list` for servers compare started.
    pub grpc: Option<String>,
    pub rest: Option<String>,
    pub resolve_every_seconds: f64,
}

/// The proxy a run went through (`--via`): what it is, how compare configured it, and the
/// cells it could not carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Proxy {
    /// `nginx`, `envoy` or `mesh` (two Envoys).
    pub name: String,
    /// As the proxy says it (`1.22.1`, `1.40.0`).
    pub version: String,
    pub path: String,
    /// Its worker processes (`--proxy-workers`).
    pub workers: usize,
    /// The user its workers ran as, when compare ran as root.
    #[serde(default)]
    pub user: Option<String>,
    /// Its loopback listeners: name, address, and what each passes on how, to whom.
    pub listeners: Vec<ProxyListener>,
    /// The servers it passed calls on to, round robin per call.
    pub upstreams_grpc: Vec<String>,
    pub upstreams_rest: Vec<String>,
    /// The settings that bear on the figures, by the proxy's own names for them.
    pub settings: std::collections::BTreeMap<String, String>,
    /// The cells of the run that could not go through it, and why.
    #[serde(default)]
    pub skipped: Vec<SkippedCell>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProxyListener {
    pub name: String,
    pub address: String,
    pub route: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkippedCell {
    pub cell: String,
    pub reason: String,
}

/// Where the server's CPU quota was set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cgroup {
    /// The interface: `v1` (the cpu controller's `cpu.cfs_quota_us`) or `v2` (`cpu.max`).
    pub version: String,
    /// The group's directory.
    pub path: String,
    /// The quota: this many µs of CPU every `period_us`.
    pub quota_us: u64,
    pub period_us: u64,
}

/// How a capacity search ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloSettings {
    pub objective: String,
    pub step_seconds: f64,
    pub resolution: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub cells: Vec<String>,
    pub workloads: Vec<String>,
    pub concurrency: Vec<usize>,
    pub connections: Vec<usize>,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub repeats: usize,
    /// Open loop at this many calls per second in all; `None`: closed loop (back to back), a
    /// schedule, or a search.
    pub rate: Option<f64>,
    /// A schedule of open-loop rates (`step:1000..20000+1000@2s`), each step a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_schedule: Option<String>,
    /// `--slo`: the objective each cell's capacity was searched at, with the search's step
    /// duration and resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSettings>,
    /// The emulated network between the clients and the server (`loopback`: none).
    #[serde(default = "loopback")]
    pub link: String,
    /// HTTP/1.1 cells' shared connections (`None`: one per call in flight).
    #[serde(default)]
    pub h1_connections: Option<usize>,
    /// Whether every call opened a connection of its own.
    #[serde(default)]
    pub connect_per_call: bool,
    /// The HTTP/2 receive windows of compare's clients (and of its own server).
    #[serde(default)]
    pub http2_windows: String,
    /// Whether every cell ran over TLS.
    #[serde(default)]
    pub tls: bool,
    /// With TLS: whether connections could resume an earlier session.
    #[serde(default = "resuming")]
    pub tls_resumption: bool,
    /// The CPU quota of the server compare started, in cores (`--server-cpus`).
    #[serde(default)]
    pub server_cpus: Option<f64>,
    /// The cores the server compare started may run on (`--server-cores`), as `0-1,4`.
    #[serde(default)]
    pub server_cores: Option<String>,
    /// The maximum connection age of the servers compare started
    /// (`--server-max-connection-age`), in seconds; `None`: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_max_connection_age_seconds: Option<f64>,
    /// What the clients did with calls the server never began (`--retry`).
    #[serde(default = "transparent")]
    pub retry: String,
    /// How compare's clients scheduled their work (`--client-runtime`).
    #[serde(default = "multi_thread")]
    pub client_runtime: String,
    /// `--fair`: as many connections per HTTP/2 cell as the server has cores, and the server
    /// and compare on separate cores where there were two or more.
    #[serde(default)]
    pub fair: bool,
    /// The allocator this binary was built with (compare's, and the server's it starts).
    #[serde(default = "system_allocator")]
    pub allocator: String,
}

fn transparent() -> String {
    "transparent".into()
}

fn multi_thread() -> String {
    "multi-thread".into()
}

fn system_allocator() -> String {
    "system".into()
}

fn resuming() -> bool {
    true
}

fn loopback() -> String {
    "loopback".into()
}

impl Provenance {
    pub(crate) fn of(config: &CompareConfig, target: &Target) -> Self {
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "unknown".into());
        // The server's cores, read once: their count and whether the client shares one.
        let server_cores = target.pid().and_then(|pid| affinity::of_process(&pid.to_string()));
        Self {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: env!("RPC_VS_REST_COMMIT").into(),
            date,
            machine: Machine {
                cpu: cpu_model().unwrap_or_else(|| "unknown".into()),
                client_cores: std::thread::available_parallelism().map_or(1, usize::from),
                server_cores: server_cores.as_ref().map(CoreList::len),
                shared_cores: server_cores.as_ref().and_then(|server| {
                    Some(affinity::of_process("self")?.shares_a_core_with(server))
                }),
                memory_mib: memory_mib(),
                kernel: read_trimmed("/proc/sys/kernel/osrelease")
                    .unwrap_or_else(|| std::env::consts::OS.into()),
            },
            server: Server {
                started_by_compare: target.profile.is_some(),
                profile: target.profile.map(|profile| profile.as_str().into()),
                runtime: target.runtime.clone(),
                cgroup: target.cpu_group().map(|group| Cgroup {
                    version: group.version().as_str().into(),
                    path: group.dir().display().to_string(),
                    quota_us: group.quota_us(),
                    period_us: crate::run::cgroup::PERIOD_US,
                }),
                grpc: target.upstreams().grpc.iter().map(ToString::to_string).collect(),
                rest: match target.upstreams().rest[..] {
                    [] => "none".into(),
                    ref rest => rest.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                },
                count: Some(target.servers_started()).filter(|&count| count > 1),
                balanced_by_clients: target.answers().map(|answers| ClientBalancing {
                    grpc: answers.grpc.as_ref().map(ToString::to_string),
                    rest: answers.rest.as_ref().map(ToString::to_string),
                    resolve_every_seconds: config.resolve_every.as_secs_f64(),
                }),
            },
            proxy: proxy_of(config, target),
            settings: Settings {
                cells: config.cells.iter().map(ToString::to_string).collect(),
                workloads: config.workloads.iter().map(ToString::to_string).collect(),
                concurrency: config.concurrency.clone(),
                connections: config.connections.clone(),
                warmup_seconds: config.warmup.as_secs_f64(),
                duration_seconds: config.duration.as_secs_f64(),
                repeats: config.repeats.max(1),
                rate: config.rate.as_ref().and_then(crate::RateSchedule::constant),
                rate_schedule: config
                    .rate
                    .as_ref()
                    .filter(|rate| rate.constant().is_none())
                    .map(ToString::to_string),
                slo: config.slo.as_ref().map(|objective| SloSettings {
                    objective: objective.to_string(),
                    step_seconds: config.slo_step_duration.as_secs_f64(),
                    resolution: config.slo_resolution,
                }),
                link: config.link.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                h1_connections: config.h1_connections,
                connect_per_call: config.connect_per_call,
                http2_windows: config.http2.to_string(),
                tls: config.tls,
                tls_resumption: config.tls_resumption,
                server_cpus: target.cpu_group().and(config.server_cpus),
                server_cores: target.cores.as_ref().map(ToString::to_string),
                server_max_connection_age_seconds: config
                    .server_max_connection_age
                    .map(|age| age.as_secs_f64()),
                retry: match config.retry {
                    crate::clients::check::Retry::Transparent => "transparent".into(),
                    crate::clients::check::Retry::None => "none".into(),
                },
                client_runtime: config.client_runtime.as_str().into(),
                fair: config.fair,
                allocator: runtime::allocator::ALLOCATOR.into(),
            },
            shard: config.shard,
            late_by_seconds: None,
            merged: None,
        }
    }

    /// The proxy's lines: what it is and how it ran, its listeners, its settings, and the
    /// cells it could not carry.
    fn proxy_lines(&self) -> Vec<(&'static str, String)> {
        let Some(proxy) = &self.proxy else { return Vec::new() };
        let servers = proxy.upstreams_grpc.len().max(proxy.upstreams_rest.len());
        let user = proxy.user.as_ref().map_or(String::new(), |user| format!(" as {user}"));
        let mut lines = vec![
            (
                "proxy",
                format!(
                    "{} {} ({}), {} worker {}{user}, between every cell's clients and {} \
                     server{}, round robin per call; `proxy CPU` is its {} CPU (from /proc) per \
                     1,000 calls",
                    proxy.name,
                    proxy.version,
                    proxy.path,
                    proxy.workers,
                    match (proxy.name.as_str(), proxy.workers) {
                        ("nginx", 1) => "process",
                        ("nginx", _) => "processes",
                        ("mesh", 1) => "thread per sidecar",
                        ("mesh", _) => "threads per sidecar",
                        (_, 1) => "thread",
                        _ => "threads",
                    },
                    servers,
                    if servers == 1 { "" } else { "s" },
                    match proxy.name.as_str() {
                        "nginx" => "workers'",
                        "mesh" => "two sidecars' (each apart in the JSON)",
                        _ => "process's",
                    },
                ),
            ),
            (
                "proxy listeners",
                proxy
                    .listeners
                    .iter()
                    .map(|l| format!("{} {} ({})", l.name, l.address, l.route))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            (
                "proxy settings",
                proxy
                    .settings
                    .iter()
                    .map(|(key, value)| format!("{key} {value}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ];
        if !proxy.skipped.is_empty() {
            lines.push((
                "proxy skipped",
                proxy
                    .skipped
                    .iter()
                    .map(|skipped| format!("{}: {}", skipped.cell, skipped.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        lines
    }

    /// The provenance as `key: value` lines, in the order a reader wants them.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let Machine { cpu, client_cores, server_cores, shared_cores, memory_mib, kernel } =
            &self.machine;
        let sharing = match shared_cores {
            Some(true) => {
                ", shared: the client's CPU (cli CPU) is taken from the server's, and its \
                 own cost per cell enters every figure"
            }
            Some(false) => ", separate",
            None => "",
        };
        let server = match (&self.server.started_by_compare, &self.server.profile) {
            (true, Some(profile)) => {
                let runtime = self
                    .server
                    .runtime
                    .as_ref()
                    .map_or(String::new(), |runtime| format!(" --runtime {runtime}"));
                format!("started by compare on this machine, `serve --profile {profile}{runtime}`")
            }
            _ => "given by address (its profile is its own); `srv CPU` is `-`: compare reads \
                  CPU only for a server it started; `servers` is `-` where replies carry no \
                  `x-served-by` (a server other than ours)"
                .into(),
        };
        let s = &self.settings;
        let list =
            |values: &[usize]| values.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let load = match (s.rate, &s.rate_schedule, &s.slo) {
            (_, _, Some(slo)) => format!(
                "capacity at {}: a closed-loop probe, then open-loop steps of {} s, searched to \
                 within {:.0} %",
                slo.objective,
                slo.step_seconds,
                slo.resolution * 100.0
            ),
            (Some(rate), _, _) => format!("open loop, {rate} calls/s in all"),
            (None, Some(schedule), _) => format!("open loop, rate schedule {schedule}"),
            (None, None, None) => "closed loop (each task calls back to back)".into(),
        };
        let mut lines = vec![
            ("command", self.command.clone()),
            ("version", format!("{} ({})", self.version, self.commit)),
            ("date", self.date.clone()),
            ("cpu", cpu.clone()),
            (
                "cores",
                format!(
                    "{client_cores} for the client, {} for the server{sharing}",
                    server_cores.map_or("unknown".into(), |cores| cores.to_string())
                ),
            ),
            ("memory", memory_mib.map_or("unknown".into(), |mib| format!("{mib} MiB"))),
            ("kernel", kernel.clone()),
            ("server", server),
            (
                "build",
                format!(
                    "{} allocator; client runtime {}",
                    self.settings.allocator, self.settings.client_runtime
                ),
            ),
        ];
        if let Some(count) = self.server.count {
            let how = match self.server.balanced_by_clients {
                Some(_) => "no proxy: the clients spread their calls over them",
                None => "behind the proxy",
            };
            lines.push((
                "servers",
                format!("{count}, named server-1 … server-{count} in `x-served-by`, {how}"),
            ));
        }
        if let Some(balancing) = &self.server.balanced_by_clients {
            let ports: Vec<String> = [("gRPC", &balancing.grpc), ("REST", &balancing.rest)]
                .into_iter()
                .filter_map(|(port, answer)| Some(format!("{port} from {}", answer.as_ref()?)))
                .collect();
            lines.push((
                "client balancing",
                format!(
                    "round robin per call over every address, {}; asked again every {}s \
                     (--resolve-every) and when a connection is lost (at most once a second)",
                    ports.join(", "),
                    balancing.resolve_every_seconds
                ),
            ));
        }
        lines.extend(self.proxy_lines());
        if let Some(line) = self.quota_line() {
            lines.push(("server cpu quota", line));
        }
        if let Some(cores) = &self.settings.server_cores {
            lines.push((
                "server cores",
                format!("{cores} (--server-cores: the server's CPU affinity from its start)"),
            ));
        }
        lines.extend([
            (
                "server addresses",
                format!(
                    "gRPC {}, REST {}",
                    match self.server.grpc.is_empty() {
                        true => "none".into(),
                        false => self.server.grpc.join(" "),
                    },
                    self.server.rest
                ),
            ),
            ("cells", s.cells.join(",")),
            ("workloads", s.workloads.join(",")),
            ("concurrency", list(&s.concurrency)),
            ("connections", connections_line(s, &list(&s.connections))),
            (
                "timing",
                format!(
                    "{}s warm-up, {}s measured, median of {} by throughput",
                    s.warmup_seconds, s.duration_seconds, s.repeats
                ),
            ),
            ("load", load),
            ("link", link_line(&s.link)),
            (
                "tls",
                match (s.tls, s.tls_resumption) {
                    (true, true) => {
                        "every cell over TLS (rustls; ALPN h2 for HTTP/2, http/1.1 for \
                         HTTP/1.1; sessions resumed)"
                    }
                    (true, false) => {
                        "every cell over TLS (rustls; ALPN h2 for HTTP/2, http/1.1 for \
                         HTTP/1.1; no session resumption: a full handshake per connection)"
                    }
                    (false, _) => "none: h2c and plain HTTP/1.1",
                }
                .into(),
            ),
            ("http2 windows", windows_line(&s.http2_windows, self.server.started_by_compare)),
            (
                "servers going away",
                format!(
                    "{}; calls the server never began: {}",
                    match s.server_max_connection_age_seconds {
                        Some(age) => format!(
                            "the servers compare started close each connection at {age} s ±10 % \
                             (--server-max-connection-age), and the clients replace it"
                        ),
                        None => "connections kept while the server keeps them".into(),
                    },
                    match s.retry.as_str() {
                        "none" => "not sent again (--retry none)",
                        _ => "sent once more (--retry transparent)",
                    }
                ),
            ),
        ]);
        if let Some(shard) = self.shard {
            let late = self
                .late_by_seconds
                .map_or(String::new(), |late| format!(", started {late:.1} s late"));
            lines.push(("shard", format!("{shard} of the load{late}")));
        }
        if let Some(merged) = &self.merged {
            lines.push((
                "merged",
                format!(
                    "{} shards ({}); their windows overlapped by {:.0} % at worst",
                    merged.files.len(),
                    merged.files.join(", "),
                    merged.worst_overlap * 100.0
                ),
            ));
        }
        lines
    }

    /// The server's CPU quota, where it was set, and how the table shows its throttling.
    fn quota_line(&self) -> Option<String> {
        let (cpus, cgroup) = (self.settings.server_cpus?, self.server.cgroup.as_ref()?);
        Some(format!(
            "{cpus} cores (--server-cpus): a CFS quota of {} µs every {} µs on cgroup {} {}; \
             `srv throttled` is the quota periods in which the server was throttled, of those it \
             ran in, and the time its threads waited",
            cgroup.quota_us, cgroup.period_us, cgroup.version, cgroup.path
        ))
    }
}

/// The proxy of a run (`--via`), as the provenance records it.
fn proxy_of(config: &CompareConfig, target: &Target) -> Option<Proxy> {
    use crate::run::proxy::{Via, envoy, haproxy, nginx};
    let running = target.proxy()?;
    let upstreams = target.upstreams();
    let settings: Vec<(&str, String)> = match running.via() {
        Via::Nginx => vec![
            (
                "keepalive_requests",
                format!("{} (clients' and upstreams')", nginx::KEEPALIVE_REQUESTS),
            ),
            (
                "keepalive",
                format!("{} (idle upstream connections per worker)", nginx::UPSTREAM_KEEPALIVE),
            ),
            ("http2_max_concurrent_streams", nginx::HTTP2_MAX_CONCURRENT_STREAMS.to_string()),
            ("worker_connections", nginx::WORKER_CONNECTIONS.to_string()),
            ("proxy_buffering", "off (streams go out as they come)".to_owned()),
            ("grpc_buffer_size/proxy_buffer_size", nginx::BUFFER.to_owned()),
            ("client_max_body_size", "0 (the servers' limits apply)".to_owned()),
        ],
        Via::Envoy | Via::Mesh | Via::Transcoder => vec![
            ("concurrency", format!("{} worker threads per Envoy", running.workers)),
            (
                "http2_protocol_options.max_concurrent_streams",
                format!("{} (downstream and upstream)", envoy::HTTP2_MAX_CONCURRENT_STREAMS),
            ),
            (
                "circuit_breakers",
                format!("{} connections, pending and requests per cluster", envoy::CIRCUIT_BREAKER),
            ),
            ("lb_policy", "ROUND_ROBIN (per request)".to_owned()),
            ("route timeout", "0s (none: streams last as long as they last)".to_owned()),
            ("generate_request_id", "false".to_owned()),
            (
                "hops",
                match running.via() {
                    Via::Mesh => "client sidecar → server sidecar (plaintext between them)",
                    Via::Transcoder => {
                        "one; REST listeners transcode JSON to gRPC (grpc_json_transcoder, \
                         rules from the contract's HTTP_RULES, streams as NDJSON)"
                    }
                    _ => "one",
                }
                .to_owned(),
            ),
        ],
        Via::Tcp => vec![
            ("mode", "tcp: bytes passed on, no HTTP seen".to_owned()),
            (
                "balance",
                "random, per new connection (established ones stay where they are, as \
                 kube-proxy's)"
                    .to_owned(),
            ),
            ("nbthread", running.workers.to_string()),
            ("maxconn", haproxy::MAX_CONNECTIONS.to_string()),
            ("retries", "1, with option redispatch (a refused connect goes elsewhere)".to_owned()),
        ],
    };
    let skipped = config
        .cells
        .iter()
        .filter(|cell| config.workloads.iter().any(|workload| cell.carries(workload)))
        .filter_map(|cell| {
            let reason = target.addresses(*cell).err()?;
            Some(SkippedCell { cell: cell.to_string(), reason })
        })
        .collect();
    Some(Proxy {
        name: running.via().name().into(),
        version: running.version.clone(),
        path: running.path.display().to_string(),
        workers: running.workers,
        user: running.user.clone(),
        listeners: running
            .listeners()
            .iter()
            .map(|(listener, address)| ProxyListener {
                name: listener.name().into(),
                address: address.to_string(),
                route: running.route(*listener).into(),
            })
            .collect(),
        upstreams_grpc: upstreams.grpc.iter().map(ToString::to_string).collect(),
        upstreams_rest: upstreams.rest.iter().map(ToString::to_string).collect(),
        settings: settings.into_iter().map(|(key, value)| (key.to_owned(), value)).collect(),
        skipped,
    })
}

fn connections_line(settings: &Settings, http2: &str) -> String {
    if settings.connect_per_call {
        return "a new connection for every call (closed after its reply), on every cell".into();
    }
    let http1 = match settings.h1_connections {
        Some(pool) => format!("at most {pool} shared by the calls in flight on HTTP/1.1"),
        None => "one per call in flight on HTTP/1.1".into(),
    };
    let preset = match settings.fair {
        true => " (--fair: one per server core; like with like)",
        false => "",
    };
    format!("{http2} per HTTP/2 cell{preset}; {http1}")
}

fn windows_line(windows: &str, own_server: bool) -> String {
    let server = if own_server { "and the server's" } else { "(the target's are its own)" };
    format!(
        "{windows}: compare's clients' {server}; the unary client (the h2 crate) has no \
         adaptive window"
    )
}

fn link_line(link: &str) -> String {
    if link == "loopback" {
        return "loopback: no emulated delay or rate".into();
    }
    if link.starts_with("packet,") {
        return format!(
            "{link}, emulated on IP packets: the server(s) in a network namespace, the clients in \
             another, joined by two TUN devices whose packets compare holds for half the round \
             trip each way, paces at the rate behind a drop-tail queue, and drops as the loss \
             says; both kernels' TCP see it. Its forwarding threads' CPU counts as the client's"
        );
    }
    format!(
        "{link}, emulated by a relay in compare (each direction one line shared by the cell's \
         connections; no loss, congestion control or slow start); its CPU counts as the client's"
    )
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|text| text.trim().to_owned())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|line| {
        line.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned())
    })
}

fn memory_mib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}
