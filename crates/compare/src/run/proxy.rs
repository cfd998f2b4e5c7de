//! An L7 proxy between compare's clients and the server(s), as a condition of the run
//! (`--via nginx`): the system's nginx, started unprivileged on loopback ports with a
//! configuration compare writes in a folder of its own, and stopped (the folder removed) when
//! compare is done with it. Where the link's relays (`--link`) model the network, the proxy
//! models the hop a deployment puts in front of its servers: what it costs each protocol in
//! latency and CPU, and how it spreads the calls over several servers (`--servers N`): per
//! call, where an L4 balancer spreads connections.
//!
//! nginx 1.22 speaks HTTP/2 on a plaintext port with prior knowledge only (no HTTP/1.1 beside
//! it on that port), so the proxy has a listener per (port, HTTP version) that the cells use:
//! see [`Listener`]. nginx speaks HTTP/2 to a gRPC upstream (`grpc_pass`) and HTTP/1.1 to any
//! other, one request per upstream connection at a time, kept alive between requests.

use std::{
    fmt::Write as _,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use nix::sys::signal::Signal;

use super::{
    address::{GrpcTarget, RestTarget},
    affinity::CoreList,
};
use crate::clients::cell::{Api, Cell};

/// The proxies compare can put between its clients and the servers (`--via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// The system's nginx (Debian: `apt-get install nginx-core`).
    Nginx,
}

/// Requests a connection carries before nginx closes it, on the client side (HTTP/1.1
/// keep-alive and HTTP/2 alike) and to the upstreams: nginx 1.22's default, 1,000, would
/// reconnect every 1,000 calls mid-run; 100 million lasts over 15 minutes at 100,000 calls a
/// second on one connection.
pub(crate) const KEEPALIVE_REQUESTS: u64 = 100_000_000;
/// Idle upstream connections each worker keeps (per upstream block): more than the calls
/// compare has in flight, so that none is closed between calls. nginx proxies one request per
/// upstream connection at a time, gRPC too.
pub(crate) const UPSTREAM_KEEPALIVE: usize = 1024;
/// Streams in flight on one client HTTP/2 connection (nginx's default is 128): above
/// compare's concurrency, so that the proxy does not queue what the server would carry.
pub(crate) const HTTP2_MAX_CONCURRENT_STREAMS: usize = 1024;
/// Connections per worker, clients' and upstreams' together.
pub(crate) const WORKER_CONNECTIONS: usize = 8192;
/// The buffer nginx reads an upstream's reply into, and with buffering off forwards from.
pub(crate) const BUFFER: &str = "64k";

/// Where compare started nginx when printing a configuration without a run: the listeners'
/// placeholder addresses.
const PLACEHOLDER_PORTS: [u16; 4] = [9090, 9091, 9080, 9081];

/// One of the proxy's loopback ports: which cells connect to it, and how it passes them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    /// HTTP/2 with prior knowledge to the gRPC port, passed on by `grpc_pass` (HTTP/2):
    /// `grpc` and `connect-*-h2`.
    GrpcH2,
    /// HTTP/1.1 to the gRPC port (which serves Connect over HTTP/1.1), passed on by
    /// `proxy_pass` over HTTP/1.1: `connect-*-h1`.
    GrpcH1,
    /// HTTP/1.1 to the REST port, passed on by `proxy_pass` over HTTP/1.1, WebSocket upgrades
    /// included: `rest-*-h1`.
    RestH1,
    /// h2c to the REST port, passed on by `proxy_pass` over HTTP/1.1: `rest-json-h2`,
    /// `rest-proto-h2`, `rest-sse-h2`.
    RestH2,
}

impl Listener {
    const ALL: [Listener; 4] =
        [Listener::GrpcH2, Listener::GrpcH1, Listener::RestH1, Listener::RestH2];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Listener::GrpcH2 => "grpc-h2",
            Listener::GrpcH1 => "grpc-h1",
            Listener::RestH1 => "rest-h1",
            Listener::RestH2 => "rest-h2",
        }
    }

    fn grpc_port(self) -> bool {
        matches!(self, Listener::GrpcH2 | Listener::GrpcH1)
    }

    fn http2(self) -> bool {
        matches!(self, Listener::GrpcH2 | Listener::RestH2)
    }

    /// What it takes, how it passes it on, and for which cells: the provenance's words.
    pub(crate) fn route(self) -> &'static str {
        match self {
            Listener::GrpcH2 => {
                "HTTP/2 (prior knowledge) → grpc_pass grpc://grpc_servers (HTTP/2): grpc, \
                 connect-*-h2"
            }
            Listener::GrpcH1 => {
                "HTTP/1.1 → proxy_pass http://grpc_servers_h1 (HTTP/1.1): connect-*-h1"
            }
            Listener::RestH1 => {
                "HTTP/1.1 → proxy_pass http://rest_servers (HTTP/1.1, WebSocket upgrades): \
                 rest-*-h1"
            }
            Listener::RestH2 => {
                "h2c (prior knowledge) → proxy_pass http://rest_servers (HTTP/1.1): \
                 rest-json-h2, rest-proto-h2, rest-sse-h2"
            }
        }
    }

    /// The listener a cell's clients connect to, or why the cell cannot go through nginx.
    pub(crate) fn of(cell: Cell) -> Result<Listener, &'static str> {
        Ok(match (cell.api, cell.http2()) {
            (Api::Grpc | Api::Connect(_), true) => Listener::GrpcH2,
            (Api::Connect(_), false) => Listener::GrpcH1,
            (Api::Grpc, false) => return Err("gRPC needs HTTP/2"),
            (Api::WebSocket, true) => {
                return Err("nginx does not proxy WebSocket over HTTP/2 (RFC 8441's extended \
                            CONNECT); rest-ws-h1 goes through it");
            }
            (Api::Rest(_) | Api::Sse | Api::WebSocket, false) => Listener::RestH1,
            (Api::Rest(_) | Api::Sse, true) => Listener::RestH2,
        })
    }

    /// The listeners a proxy in front of these upstreams needs: the gRPC port's with gRPC
    /// upstreams, the REST port's with REST ones.
    fn wanted(upstreams: &Upstreams) -> impl Iterator<Item = Listener> + '_ {
        Listener::ALL.into_iter().filter(|listener| match listener.grpc_port() {
            true => !upstreams.grpc.is_empty(),
            false => !upstreams.rest.is_empty(),
        })
    }
}

/// The servers behind the proxy: every server's gRPC and REST addresses.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upstreams {
    pub(crate) grpc: Vec<SocketAddr>,
    pub(crate) rest: Vec<SocketAddr>,
}

impl Upstreams {
    /// Where `serve` listens by default, `count` servers on successive ports: what
    /// `--print-proxy-config` shows when compare is given no targets.
    pub(crate) fn placeholders(count: usize) -> Self {
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            grpc: (0..count).map(|i| loopback(50051 + i as u16)).collect(),
            rest: (0..count).map(|i| loopback(8080 + i as u16)).collect(),
        }
    }
}

/// A configuration's listeners at placeholder addresses (see [`PLACEHOLDER_PORTS`]).
pub(crate) fn placeholder_listeners(upstreams: &Upstreams) -> Vec<(Listener, SocketAddr)> {
    Listener::wanted(upstreams)
        .map(|listener| {
            let at = Listener::ALL.iter().position(|l| *l == listener).unwrap_or(0);
            (listener, SocketAddr::from(([127, 0, 0, 1], PLACEHOLDER_PORTS[at])))
        })
        .collect()
}

/// nginx's configuration: `workers` worker processes, the listeners at their addresses, the
/// upstreams; `user` when the master runs as root (its workers then run as that user). Every
/// relative path (pid, temporary files) is under the prefix (`nginx -p DIR`).
pub(crate) fn configuration(
    upstreams: &Upstreams,
    listeners: &[(Listener, SocketAddr)],
    workers: usize,
    user: Option<&str>,
) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Written by `rpc-vs-rest compare --via nginx` (nginx 1.22 or later). Run from a folder\n\
         # of its own, DIR, which holds the pid and temporary files (relative paths are in it):\n\
         #   nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off; master_process on;'\n"
    );
    if let Some(user) = user {
        let _ = writeln!(c, "# The master runs as root; its workers as:\nuser {user};");
    }
    let _ = writeln!(
        c,
        "worker_processes {workers};\n\
         worker_rlimit_nofile {files};\n\
         pid nginx.pid;\n\
         \n\
         events {{\n    worker_connections {WORKER_CONNECTIONS};\n}}\n\
         \n\
         http {{\n    \
             access_log off;\n    \
             client_body_temp_path client_body_temp;\n    \
             proxy_temp_path proxy_temp;\n    \
             fastcgi_temp_path fastcgi_temp;\n    \
             uwsgi_temp_path uwsgi_temp;\n    \
             scgi_temp_path scgi_temp;\n\
         \n    \
             # Client connections are kept for the whole run (1.22's default closes them every\n    \
             # 1,000 requests), and carry as many calls at once as compare has in flight.\n    \
             keepalive_requests {KEEPALIVE_REQUESTS};\n    \
             http2_max_concurrent_streams {HTTP2_MAX_CONCURRENT_STREAMS};\n    \
             # No body limit of nginx's own (the servers' limits apply); bodies up to 1 MiB in\n    \
             # memory, none to disk.\n    \
             client_max_body_size 0;\n    \
             client_body_buffer_size 1m;\n\
         \n    \
             # `Connection: upgrade` for a WebSocket handshake, and none (keep-alive) otherwise.\n    \
             map $http_upgrade $connection_upgrade {{\n        \
                 default upgrade;\n        \
                 '' '';\n    \
             }}",
        files = WORKER_CONNECTIONS * 2,
    );
    // One upstream block per protocol nginx speaks to it: a kept-alive connection is reused
    // only for requests of the same kind (an HTTP/2 connection for gRPC, HTTP/1.1 otherwise).
    let blocks: [(&str, &[SocketAddr], bool); 3] = [
        ("grpc_servers", &upstreams.grpc, listeners.iter().any(|(l, _)| *l == Listener::GrpcH2)),
        ("grpc_servers_h1", &upstreams.grpc, listeners.iter().any(|(l, _)| *l == Listener::GrpcH1)),
        ("rest_servers", &upstreams.rest, listeners.iter().any(|(l, _)| !l.grpc_port())),
    ];
    for (name, servers, used) in blocks {
        if !used || servers.is_empty() {
            continue;
        }
        let _ = writeln!(c, "\n    # Round robin per request, connections kept alive.");
        let _ = writeln!(c, "    upstream {name} {{");
        for server in servers {
            let _ = writeln!(c, "        server {server};");
        }
        let _ = writeln!(
            c,
            "        keepalive {UPSTREAM_KEEPALIVE};\n        \
                 keepalive_requests {KEEPALIVE_REQUESTS};\n    }}"
        );
    }
    for &(listener, address) in listeners {
        let http2 = if listener.http2() { " http2" } else { "" };
        let _ = writeln!(c, "\n    # {}", listener.route());
        let _ =
            writeln!(c, "    server {{\n        listen {address}{http2};\n        location / {{");
        let location = match listener {
            Listener::GrpcH2 => format!(
                "grpc_pass grpc://grpc_servers;\n\
                 grpc_buffer_size {BUFFER};\n\
                 grpc_read_timeout 300s;\n\
                 grpc_send_timeout 300s;"
            ),
            Listener::GrpcH1 => format!(
                "proxy_pass http://grpc_servers_h1;\n\
                 proxy_http_version 1.1;\n\
                 proxy_set_header Connection \"\";\n\
                 # Streams go out as they come.\n\
                 proxy_buffering off;\n\
                 proxy_request_buffering off;\n\
                 proxy_buffer_size {BUFFER};\n\
                 proxy_buffers 8 {BUFFER};"
            ),
            Listener::RestH1 | Listener::RestH2 => format!(
                "proxy_pass http://rest_servers;\n\
                 proxy_http_version 1.1;\n\
                 proxy_set_header Upgrade $http_upgrade;\n\
                 proxy_set_header Connection $connection_upgrade;\n\
                 # NDJSON and SSE streams go out as they come.\n\
                 proxy_buffering off;\n\
                 proxy_request_buffering off;\n\
                 proxy_buffer_size {BUFFER};\n\
                 proxy_buffers 8 {BUFFER};"
            ),
        };
        for line in location.lines() {
            let _ = writeln!(c, "            {line}");
        }
        let _ = writeln!(c, "        }}\n    }}");
    }
    c.push_str("}\n");
    c
}

/// A running nginx: its master process (its workers are the master's children), the folder
/// of its configuration, pid and temporary files, and its listeners. Stopped, and the folder
/// removed, when dropped.
pub(crate) struct Proxy {
    master: Child,
    dir: PathBuf,
    listeners: Vec<(Listener, SocketAddr)>,
    /// `nginx -v`'s version (`1.22.1`).
    pub(crate) version: String,
    pub(crate) path: PathBuf,
    pub(crate) workers: usize,
    /// The user its workers run as, when the master runs as root.
    pub(crate) user: Option<String>,
}

impl Proxy {
    /// Starts the proxy in front of `upstreams`, with `workers` worker processes, on `cores`
    /// when given (the servers' `--server-cores`: the proxy is on the servers' side of the
    /// machine), and waits until every listener accepts connections.
    pub(crate) async fn start(
        via: Via,
        upstreams: Upstreams,
        workers: usize,
        cores: Option<&CoreList>,
    ) -> anyhow::Result<Self> {
        let Via::Nginx = via;
        let path = find_nginx()?;
        let version = version_of(&path)?;
        // The listeners' ports are found free, then given to nginx: another program may take
        // one in between, so a start that finds its port taken tries again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&path, &version, &upstreams, workers, cores).await {
                Err(error) if attempt < 3 && format!("{error:#}").contains("in use") => {
                    tracing::debug!(%error, "a proxy port was taken; trying others");
                }
                started => return started,
            }
        }
    }

    async fn start_once(
        path: &Path,
        version: &str,
        upstreams: &Upstreams,
        workers: usize,
        cores: Option<&CoreList>,
    ) -> anyhow::Result<Self> {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let started = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir()
            .join(format!("rpc-vs-rest-nginx-{}-{started}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot make the proxy's folder {}", dir.display()))?;
        // Workers that run as another user (under a root master) pass through it.
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        }
        let listeners = Listener::wanted(upstreams)
            .map(|listener| Ok((listener, free_loopback_port()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let user = running_as_root().then(unprivileged_user);
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, configuration(upstreams, &listeners, workers, user.as_deref()))?;
        let stderr = std::fs::File::create(dir.join("stderr.log"))?;
        let mut command = Command::new(path);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off; master_process on;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let master = match cores {
            Some(cores) => cores.spawn_on(|| command.spawn())?,
            None => command.spawn(),
        };
        let master = match master {
            Ok(master) => master,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error).with_context(|| format!("cannot start {}", path.display()));
            }
        };
        // Made now, so that nginx is stopped and its folder removed on any error below.
        let mut proxy = Self {
            master,
            dir,
            listeners,
            version: version.to_owned(),
            path: path.to_owned(),
            workers,
            user,
        };
        proxy.wait_until_listening().await?;
        Ok(proxy)
    }

    /// Waits until nginx accepts on every listener, or fails with its error log's last lines.
    async fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.master.try_wait()? {
                anyhow::bail!("nginx exited ({status}) before it served:\n{}", self.log_tail());
            }
            let listening = self.listeners.iter().all(|(_, address)| {
                TcpStream::connect_timeout(address, Duration::from_millis(100)).is_ok()
            });
            if listening && !self.worker_pids().is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("nginx did not listen within 10 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines nginx logged (its error log, and what it wrote to stderr before it
    /// opened the log).
    fn log_tail(&self) -> String {
        let mut lines = Vec::new();
        for file in ["stderr.log", "error.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(file)) {
                lines.extend(text.lines().map(str::to_owned));
            }
        }
        let from = lines.len().saturating_sub(10);
        match lines[from..].join("\n") {
            tail if tail.is_empty() => "(nginx logged nothing)".into(),
            tail => tail,
        }
    }

    /// The address a cell's clients connect to, or why the cell cannot go through the proxy.
    pub(crate) fn address(&self, cell: Cell) -> Result<SocketAddr, String> {
        let listener = Listener::of(cell).map_err(str::to_owned)?;
        self.listeners
            .iter()
            .find(|(l, _)| *l == listener)
            .map(|(_, address)| *address)
            .ok_or_else(|| format!("the proxy has no {} listener", listener.name()))
    }

    pub(crate) fn listeners(&self) -> &[(Listener, SocketAddr)] {
        &self.listeners
    }

    /// The master's children: its worker processes (and, briefly, a cache loader, which this
    /// configuration does not start).
    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        let master = self.master.id();
        if let Ok(children) =
            std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
        {
            return children.split_whitespace().filter_map(|pid| pid.parse().ok()).collect();
        }
        // Kernels without CONFIG_PROC_CHILDREN: every process whose parent is the master.
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                    fields.split_whitespace().nth(1) == Some(&master.to_string())
                })
            })
            .collect()
    }
}

impl Drop for Proxy {
    /// Stops nginx (SIGTERM: the master stops its workers at once, then exits), kills what
    /// is left after 3 s, reaps the master and removes the folder.
    fn drop(&mut self) {
        let workers = self.worker_pids();
        let master = self.master.id();
        if matches!(self.master.try_wait(), Ok(None)) {
            let _ = signal(Signal::SIGTERM, master);
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(self.master.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(self.master.try_wait(), Ok(None)) {
                let _ = self.master.kill();
                let _ = self.master.wait();
            }
        }
        for worker in workers {
            if std::path::Path::new(&format!("/proc/{worker}")).exists() {
                let _ = signal(Signal::SIGKILL, worker);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(signal: Signal, pid: u32) -> nix::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| nix::errno::Errno::ESRCH)?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
}

/// nginx on `PATH`, or in /usr/sbin (where Debian puts it, off a user's `PATH`).
fn find_nginx() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
        .context(
            "--via nginx needs nginx, found neither on PATH nor in /usr/sbin: install it \
             (Debian, Ubuntu: `apt-get install nginx-core`)",
        )
}

/// `nginx -v`'s version (it prints `nginx version: nginx/1.22.1` on stderr).
fn version_of(path: &Path) -> anyhow::Result<String> {
    let output = Command::new(path)
        .arg("-v")
        .output()
        .with_context(|| format!("cannot run {} -v", path.display()))?;
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix("nginx/"))
        .with_context(|| format!("{} -v printed no version: {text:?}", path.display()))?;
    Ok(version.to_owned())
}

/// The proxy's version and path, without starting it: for `--print-proxy-config`.
pub(crate) fn version(via: Via) -> anyhow::Result<String> {
    let Via::Nginx = via;
    version_of(&find_nginx()?)
}

fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?)
}

/// Whether this process runs as root (its effective user id, from /proc).
pub(crate) fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}

/// The user and group workers run as under a root master: `nobody`, with Debian's `nogroup`
/// where it exists.
pub(crate) fn unprivileged_user() -> String {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    match groups.lines().any(|line| line.starts_with("nogroup:")) {
        true => "nobody nogroup".into(),
        false => "nobody".into(),
    }
}

/// `--print-proxy-config`: the configuration a run would start the proxy with, at placeholder
/// listeners, in front of the targets' addresses (gRPC's, REST's) or `serve`'s default ports.
pub(crate) async fn print_configuration(
    via: Via,
    servers: usize,
    (grpc_target, rest_target): (Option<&GrpcTarget>, Option<&RestTarget>),
    workers: usize,
) -> anyhow::Result<()> {
    let mut upstreams = Upstreams::placeholders(servers);
    if grpc_target.is_some() || rest_target.is_some() {
        upstreams.grpc = match grpc_target {
            Some(grpc) => grpc.resolve().await?,
            None => Vec::new(),
        };
        upstreams.rest = match rest_target {
            Some(rest) => vec![rest.resolve().await?],
            None => Vec::new(),
        };
    }
    let user = running_as_root().then(unprivileged_user);
    let listeners = placeholder_listeners(&upstreams);
    let text = configuration(&upstreams, &listeners, workers, user.as_deref());
    print!("{text}");
    // Said on stderr, so that stdout is the file itself.
    match version(via) {
        Ok(version) => eprintln!(
            "compare: what `--via` runs nginx {version} with; a run puts the listeners on free \
             ports"
        ),
        Err(error) => eprintln!("compare: {error:#}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_has_a_listener_but_websocket_over_http2() {
        for cell in Cell::ALL {
            let route = Listener::of(cell);
            assert_eq!(route.is_err(), cell.to_string() == "rest-ws-h2", "{cell}: {route:?}");
        }
    }

    #[test]
    fn the_configuration_passes_grpc_by_http2_and_keeps_connections() {
        let upstreams = Upstreams::placeholders(3);
        let conf = configuration(&upstreams, &placeholder_listeners(&upstreams), 1, None);
        for expected in [
            "grpc_pass grpc://grpc_servers;",
            "listen 127.0.0.1:9090 http2;",
            "listen 127.0.0.1:9080;",
            "server 127.0.0.1:50053;",
            "server 127.0.0.1:8082;",
            "keepalive 1024;",
            "keepalive_requests 100000000;",
            "proxy_buffering off;",
            "worker_processes 1;",
        ] {
            assert!(conf.contains(expected), "{expected} missing from:\n{conf}");
        }
        assert!(!conf.contains("user "), "no user directive unless root:\n{conf}");
    }

    #[test]
    fn a_grpc_only_proxy_has_no_rest_listener() {
        let upstreams = Upstreams { grpc: Upstreams::placeholders(1).grpc, rest: Vec::new() };
        let listeners = placeholder_listeners(&upstreams);
        assert_eq!(listeners.len(), 2);
        assert!(!configuration(&upstreams, &listeners, 1, None).contains("rest_servers"));
    }
}
