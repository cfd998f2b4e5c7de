//! Where `compare` sends its load: a running server (`--grpc-target`, `--rest-target`), or,
//! by default, this binary started as a child process on free loopback ports, with the
//! runtime, CPU quota and cores it was asked for (`--server-runtime`, `--server-cpus`,
//! `--server-cores`); with `--servers N`, N of them, and with `--via`, behind a proxy
//! ([`super::proxy`]) whose listener for each cell the clients connect to instead.

use std::{net::SocketAddr, process::Stdio, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::{
    address::{GrpcTarget, RestTarget},
    affinity::CoreList,
    cgroup::{CpuGroup, CpuStat},
    packet_link::{PacketLink, Side},
    proxy::{Proxy, Upstreams},
};
use crate::clients::{
    balanced::{Answer, Answers, Published},
    cell::Cell,
    tls::ClientTls,
};
use contract::{facts::BoundAddresses, settings::Http2Windows, settings::Profile};
use runtime::{RUNTIME_ENV, RuntimeKind};

/// Where a target that was not given "is": an address no cell connects to.
pub(crate) const UNSPECIFIED: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

pub(crate) struct Target {
    /// The proxy between the clients and the server(s) (`--via`), stopped first on drop.
    proxy: Option<Proxy>,
    /// One gRPC connection per address; calls go round robin when there are several.
    pub(crate) grpc: Vec<SocketAddr>,
    pub(crate) rest: SocketAddr,
    /// The child's profile, when `compare` started it.
    pub(crate) profile: Option<Profile>,
    /// The child's runtime (`serve --runtime`), when `compare` started it: the one asked for,
    /// else the one the environment names, else the default.
    pub(crate) runtime: Option<String>,
    /// The child server, when `compare` started it (killed and reaped on drop).
    child: Option<Child>,
    /// The child's cgroup and CPU quota (`--server-cpus`), removed once the child is reaped.
    cpu_group: Option<CpuGroup>,
    /// The cores the child may run on (`--server-cores`).
    pub(crate) cores: Option<CoreList>,
    /// How the clients speak TLS to it; `None`: plaintext.
    pub(crate) tls: Option<ClientTls>,
    /// The certificate of the server compare started, kept while it runs.
    _certificate: Option<CertificateFiles>,
    /// The other servers compare started (`--servers N`), behind the proxy with this one.
    others: Vec<Target>,
    /// Where the clients take the servers' addresses from when they balance over them
    /// themselves (a `dns:///` gRPC target, or compare's servers without a proxy).
    answers: Option<Answers>,
    /// The packet link the server sits behind, kept until the server is gone (last, so that
    /// its namespaces are removed after the child is killed).
    packet_link: Option<Arc<PacketLink>>,
}

/// How compare runs the server it starts, beyond its profile and windows: the flags
/// `--server-runtime`, `--server-cpus` and `--server-cores`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerConditions {
    /// `serve --runtime`; `None`: the child reads `RPC_VS_REST_RUNTIME` as `serve` does.
    pub(crate) runtime: Option<RuntimeKind>,
    /// A CFS quota, in cores, on a cgroup of the server's own.
    pub(crate) cpus: Option<f64>,
    /// The server's CPU affinity.
    pub(crate) cores: Option<CoreList>,
    /// `serve --server-name`, what its replies' `x-served-by` says; `None`: the host name.
    pub(crate) name: Option<String>,
    /// `serve --max-connection-age`; `None`: connections live as long as their clients want.
    pub(crate) max_connection_age: Option<std::time::Duration>,
    /// The packet link the server sits behind: it runs in the link's server namespace, on the
    /// link's address.
    pub(crate) packet_link: Option<Arc<PacketLink>>,
}

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND: u64 = 100;

impl Target {
    /// Running servers: the gRPC one, the REST one, or both. A missing one is left without
    /// addresses (no gRPC address, REST at the unspecified address), which no cell of the run
    /// uses: the cells are narrowed to the targets first.
    pub(crate) async fn remote(
        grpc: Option<&GrpcTarget>,
        rest: Option<&RestTarget>,
        tls: Option<ClientTls>,
    ) -> anyhow::Result<Self> {
        let given = grpc;
        let grpc = match given {
            Some(grpc) => grpc.resolve().await?,
            None => Vec::new(),
        };
        let rest = match rest {
            Some(rest) => Some(rest.resolve().await?),
            None => None,
        };
        Ok(Self {
            proxy: None,
            grpc,
            rest: rest.unwrap_or(UNSPECIFIED),
            profile: None,
            runtime: None,
            child: None,
            cpu_group: None,
            cores: None,
            packet_link: None,
            answers: given
                .and_then(GrpcTarget::answer)
                .map(|grpc| Answers { grpc: Some(grpc), rest: None }),
            tls,
            _certificate: None,
            others: Vec::new(),
        })
    }

    /// Starts `rpc-vs-rest serve --profile PROFILE` on loopback and waits for its addresses,
    /// which it prints on stdout (`--print-addresses`). Its errors go to our stderr.
    /// With `tls`, the server gets a certificate made now (its files are removed when the
    /// server stops), and the clients trust it. Under `conditions`' quota and cores from its
    /// start: see [`CpuGroup::spawn_inside`] and [`CoreList::spawn_on`].
    pub(crate) async fn local(
        profile: Profile,
        windows: Http2Windows,
        tls: bool,
        conditions: &ServerConditions,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this binary to start a server")?;
        let certificate = tls.then(CertificateFiles::new).transpose()?;
        let cpu_group = conditions.cpus.map(CpuGroup::create).transpose()?;
        let (mut command, host) = match &conditions.packet_link {
            Some(link) => {
                let command = link.namespaces().command_in(Side::Server, &exe);
                (Command::from(command), link.server_address().to_string())
            }
            None => (Command::new(exe), "127.0.0.1".to_owned()),
        };
        let any_port = format!("{host}:0");
        command
            .args([
                "serve",
                "--grpc-addr",
                &any_port,
                "--rest-addr",
                &any_port,
                "--print-addresses",
                "--profile",
                profile.as_str(),
            ])
            .args([
                format!("--http2-stream-window={}", windows.stream),
                format!("--http2-connection-window={}", windows.connection),
            ])
            .args(windows.adaptive.then_some("--http2-adaptive-window"))
            .args(certificate.iter().flat_map(|files| {
                [
                    "--tls-cert".as_ref(),
                    files.cert.as_os_str(),
                    "--tls-key".as_ref(),
                    files.key.as_os_str(),
                ]
            }))
            .args(conditions.runtime.iter().flat_map(|runtime| ["--runtime", runtime.as_str()]))
            .args(conditions.name.iter().flat_map(|name| ["--server-name", name.as_str()]))
            .args(conditions.max_connection_age.iter().flat_map(|age| {
                ["--max-connection-age".to_owned(), format!("{}ms", age.as_millis().max(1))]
            }))
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // The spawn runs on this thread without awaiting, so that the thread's cgroup and
        // affinity, changed around it, are the ones the child is born with.
        let mut spawn = || match &conditions.cores {
            Some(cores) => cores.spawn_on(|| command.spawn()),
            None => Ok(command.spawn()),
        };
        let spawned = match &cpu_group {
            Some(group) => group.spawn_inside(spawn)?,
            None => spawn(),
        };
        let mut child = spawned?.context("cannot start the server")?;
        let runtime = match conditions.runtime {
            Some(runtime) => runtime.as_str().to_owned(),
            None => std::env::var(RUNTIME_ENV)
                .unwrap_or_else(|_| RuntimeKind::default().as_str().to_owned()),
        };
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        // Made now, so that the child is killed and reaped, and its group removed, on any
        // error below.
        let mut target = Self {
            proxy: None,
            grpc: Vec::new(),
            rest: UNSPECIFIED,
            profile: Some(profile),
            runtime: Some(runtime),
            child: Some(child),
            cpu_group,
            cores: conditions.cores.clone(),
            tls: certificate.as_ref().map(|files| files.client.clone()),
            _certificate: certificate,
            others: Vec::new(),
            answers: None,
            packet_link: conditions.packet_link.clone(),
        };
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .context("the server did not start within 30 s")??
            .context("the server exited before it served")?;
        let addresses: BoundAddresses = serde_json::from_str(&line)
            .with_context(|| format!("the server printed {line:?}, not its addresses"))?;
        (target.grpc, target.rest) = (vec![addresses.grpc_addr], addresses.rest_addr);
        // Serving, its runtime's threads all exist: each must be under the quota and on the
        // cores, or the measurement would not be the one asked for.
        let pid = target.pid().context("the server exited before it served")?;
        if let Some(group) = &target.cpu_group {
            group.check_holds(pid)?;
        }
        if let Some(cores) = &target.cores {
            cores.check_holds(pid)?;
        }
        Ok(target)
    }

    /// Servers compare started, as one target: the first with the others beside it
    /// (`--servers N`, behind a proxy). Their CPU is counted together.
    pub(crate) fn together(mut servers: Vec<Target>) -> anyhow::Result<Self> {
        anyhow::ensure!(!servers.is_empty(), "no server to run against");
        let mut first = servers.remove(0);
        first.others = servers;
        Ok(first)
    }

    /// These servers without a proxy: the clients take their addresses from a list compare
    /// keeps (as a headless Service's DNS answer), and spread their calls over them.
    pub(crate) fn balanced_by_clients(mut self) -> Self {
        let upstreams = self.upstreams();
        self.answers = Some(Answers {
            grpc: Some(Answer::Published(Published::new(upstreams.grpc))),
            rest: Some(Answer::Published(Published::new(upstreams.rest))),
        });
        self
    }

    /// The packet link between the clients and the server(s), when there is one.
    pub(crate) fn packet_link(&self) -> Option<&PacketLink> {
        self.packet_link.as_deref()
    }

    /// Where the clients take the servers' addresses from, when they balance themselves
    /// (never behind a proxy, which is then the one address they know).
    pub(crate) fn answers(&self) -> Option<&Answers> {
        self.answers.as_ref().filter(|_| self.proxy.is_none())
    }

    /// Changes the addresses the clients balancing over compare's servers will find when they
    /// next ask; false when they do not balance over a list compare keeps.
    pub(crate) fn publish_addresses(&self, upstreams: &Upstreams) -> bool {
        let Some(Answers {
            grpc: Some(Answer::Published(grpc)),
            rest: Some(Answer::Published(rest)),
        }) = &self.answers
        else {
            return false;
        };
        grpc.set(upstreams.grpc.clone());
        rest.set(upstreams.rest.clone());
        true
    }

    /// This target behind a proxy: every cell's clients connect to the proxy's listener for
    /// it (see [`Target::addresses`]).
    pub(crate) fn behind(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The proxy in front of the server(s), if any.
    pub(crate) fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// Every server's gRPC addresses and REST address (the targets' given ones, or those of
    /// each server compare started): what a proxy passes calls on to.
    pub(crate) fn upstreams(&self) -> Upstreams {
        let servers = || std::iter::once(self).chain(&self.others);
        Upstreams {
            grpc: servers().flat_map(|server| server.grpc.iter().copied()).collect(),
            rest: servers().map(|server| server.rest).filter(|rest| *rest != UNSPECIFIED).collect(),
        }
    }

    /// The servers compare started, in order: each one's process id, gRPC address and REST
    /// address.
    pub(crate) fn servers(&self) -> Vec<(u32, SocketAddr, SocketAddr)> {
        std::iter::once(self)
            .chain(&self.others)
            .filter_map(|server| Some((server.pid()?, *server.grpc.first()?, server.rest)))
            .collect()
    }

    /// How many servers compare started (0 for targets given by address).
    pub(crate) fn servers_started(&self) -> usize {
        if self.child.is_none() { 0 } else { 1 + self.others.len() }
    }

    /// Where a cell's clients connect: the server's gRPC addresses and REST address, or,
    /// behind a proxy, the proxy's listener for the cell (as both); `Err` says why a cell
    /// cannot go through the proxy.
    pub(crate) fn addresses(&self, cell: Cell) -> Result<(Vec<SocketAddr>, SocketAddr), String> {
        match &self.proxy {
            None => Ok((self.grpc.clone(), self.rest)),
            Some(proxy) => proxy.address(cell).map(|address| (vec![address], address)),
        }
    }

    /// The server's process id, when it is a local child.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref()?.id()
    }

    /// The server's CPU time so far (user + system), when it is a local child; with
    /// `--servers N`, every server's together.
    pub(crate) fn server_cpu(&self) -> Option<Duration> {
        let own = process_cpu(&self.pid()?.to_string());
        self.others.iter().map(Target::server_cpu).fold(own, |sum, cpu| Some(sum? + cpu?))
    }

    /// The proxy's worker processes' CPU time so far (user + system), behind a proxy.
    pub(crate) fn proxy_cpu(&self) -> Option<Duration> {
        let pids = self.proxy.as_ref()?.cpu_pids();
        if pids.is_empty() {
            return None;
        }
        pids.iter().map(|pid| process_cpu(&pid.to_string())).sum()
    }

    /// The same, process by process (a mesh's client and server sidecars apart).
    pub(crate) fn proxy_cpu_by_process(&self) -> Vec<(&'static str, Option<Duration>)> {
        let Some(proxy) = &self.proxy else { return Vec::new() };
        let cpu = |pids: &[u32]| pids.iter().map(|pid| process_cpu(&pid.to_string())).sum();
        proxy.cpu_pids_by_process().iter().map(|(name, pids)| (*name, cpu(pids))).collect()
    }

    /// The connections the proxy has opened to the servers so far, through Envoy.
    pub(crate) fn proxy_upstream_connections(&self) -> Option<u64> {
        self.proxy.as_ref()?.upstream_connections()
    }

    /// The server's cgroup, when it runs under a CPU quota (`--server-cpus`).
    pub(crate) fn cpu_group(&self) -> Option<&CpuGroup> {
        self.cpu_group.as_ref()
    }

    /// The throttling counters of the server's quota so far, when it has one; with
    /// `--servers N`, every server's, in order.
    pub(crate) fn server_cpu_stat(&self) -> Option<Vec<CpuStat>> {
        std::iter::once(self)
            .chain(&self.others)
            .map(|server| server.cpu_group.as_ref()?.cpu_stat())
            .collect()
    }
}

impl Drop for Target {
    /// Kills the child and waits for it, so that its cgroup, dropped next, is empty and can be
    /// removed (`kill_on_drop` alone leaves the reaping to later).
    fn drop(&mut self) {
        // The proxy first, so that no call reaches a server on its way out.
        self.proxy.take();
        let Some(child) = &mut self.child else { return };
        if child.start_kill().is_err() {
            return; // already reaped
        }
        for _ in 0..200 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A certificate for the server compare starts, in files the server reads at start; removed
/// when dropped.
struct CertificateFiles {
    dir: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    /// Clients that trust it.
    client: ClientTls,
}

impl CertificateFiles {
    fn new() -> anyhow::Result<Self> {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rpc-vs-rest-compare-{}-{made}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (cert_pem, key_pem) = crate::clients::tls::self_signed()?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &cert_pem)?;
        std::fs::write(&key, key_pem)?;
        let client = ClientTls::trusting(cert_pem.as_bytes(), "localhost")?;
        Ok(Self { dir, cert, key, client })
    }
}

impl Drop for CertificateFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// This process's CPU time so far (user + system): the client's own cost, which takes from
/// the server's cores when both run on the same ones.
pub(crate) fn client_cpu() -> Option<Duration> {
    process_cpu("self")
}

/// A process's CPU time so far (user + system), from `/proc/PID/stat`.
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}
