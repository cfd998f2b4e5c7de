//! Where a packet link's two ends live: two network namespaces, the clients' and the
//! servers', each joined to the link by a TUN device, and each with a thread of ours inside
//! it that does what must be done from there (make the device, open a socket: a socket stays
//! in the namespace it was made in, whichever thread then uses it). Both namespaces, and so
//! their devices, are removed when the [`Namespaces`] are dropped, on every error path too.
//!
//! Names: `rvr-c<pid>-<n>` and `rvr-s<pid>-<n>`, within the 15 characters of an interface
//! name so that any tool shows them whole; `<n>` tells apart the links of one process.

use std::{
    ffi::OsStr,
    fs::File,
    io,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::Path,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    thread::JoinHandle,
};

use anyhow::Context as _;
use nix::sched::{CloneFlags, setns};
use tun_rs::SyncDevice;

use super::{spec::MTU, tun_device};

/// Either end of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    /// This end's address on the link: an address of the private range that exists only
    /// inside the two namespaces, and no other host's.
    pub(crate) fn address(self) -> Ipv4Addr {
        match self {
            Side::Client => Ipv4Addr::new(10, 77, 0, 1),
            Side::Server => Ipv4Addr::new(10, 77, 0, 2),
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// The TUN device's name in either namespace: each has its own, so one name serves both.
const DEVICE: &str = "rvr-link";

/// Where `ip netns` keeps its namespaces' names.
const NAMESPACES: &str = "/var/run/netns";

/// What the setup says first when it fails for want of privileges.
const NEEDS: &str = "the packet link needs root and /dev/net/tun";

/// Tells apart the links of one process.
static NEXT_LINK: AtomicU32 = AtomicU32::new(0);

/// A link's two namespaces, each with its thread inside.
#[derive(Debug)]
pub(crate) struct Namespaces {
    client: Namespace,
    server: Namespace,
}

impl Namespaces {
    /// Adds both namespaces (no devices yet: [`Namespaces::open_device`]).
    ///
    /// # Errors
    /// Without root, /dev/net/tun or `ip`, or when `ip netns add` fails.
    pub(crate) fn create() -> anyhow::Result<Self> {
        check_prerequisites().map_err(anyhow::Error::msg)?;
        remove_orphans();
        let (pid, link) = (std::process::id(), NEXT_LINK.fetch_add(1, Ordering::Relaxed) % 100);
        let client = Namespace::create(namespace_name(Side::Client, pid, link))?;
        let server = Namespace::create(namespace_name(Side::Server, pid, link))?;
        Ok(Self { client, server })
    }

    /// The name `ip netns` knows `side`'s namespace by.
    pub(crate) fn name(&self, side: Side) -> &str {
        &self.namespace(side).name
    }

    /// Makes `side`'s TUN device inside its namespace and brings it up: its address, the
    /// other end's as its peer (a point-to-point route, so no reverse-path filter objects),
    /// an Ethernet MTU; loopback up too. The device is removed when the last handle to it is
    /// dropped.
    ///
    /// # Errors
    /// When the device cannot be made (without root, say) or an `ip` command fails.
    pub(crate) fn open_device(&self, side: Side) -> anyhow::Result<Arc<SyncDevice>> {
        let name = self.name(side);
        let device = self
            .run_in(side, || {
                settle_namespace();
                tun_device::create(DEVICE)
            })?
            .with_context(|| format!("{NEEDS}: making TUN device {DEVICE} in {name}"))?;
        let (own, peer) =
            (format!("{}/32", side.address()), format!("{}/32", side.other().address()));
        ip(&["-n", name, "addr", "add", &own, "peer", &peer, "dev", DEVICE])?;
        ip(&["-n", name, "link", "set", "dev", DEVICE, "mtu", &MTU.to_string(), "up"])?;
        ip(&["-n", name, "link", "set", "dev", "lo", "up"])?;
        Ok(device)
    }

    /// Runs `job` on `side`'s thread, inside its namespace, and returns what it returned. Jobs
    /// run one at a time: a long one belongs in [`Namespaces::spawn_in`].
    ///
    /// # Errors
    /// When the namespace's thread has gone (a job panicked).
    pub(crate) fn run_in<T: Send + 'static>(
        &self,
        side: Side,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        self.namespace(side).run(job)
    }

    /// Starts a thread inside `side`'s namespace (a thread starts in its parent's) running
    /// `job`.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub(crate) fn spawn_in<T: Send + 'static>(
        &self,
        side: Side,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<JoinHandle<T>> {
        let name = format!("in-{}", self.name(side));
        self.run_in(side, move || std::thread::Builder::new().name(name).spawn(job))?
    }

    /// A TCP connection to `address` opened from inside `side`'s namespace, on a thread of its
    /// own so that connections to a distant server open side by side.
    ///
    /// # Errors
    /// When the connection fails.
    pub(crate) fn connect_in(&self, side: Side, address: SocketAddr) -> io::Result<TcpStream> {
        self.spawn_in(side, move || TcpStream::connect(address))?
            .join()
            .map_err(|_| io::Error::other("the thread opening the connection panicked"))?
    }

    /// `program` (with whatever arguments the caller adds) to be run inside `side`'s
    /// namespace, by `ip netns exec`: a `pre_exec` hook that joins it would be unsafe code.
    pub(crate) fn command_in(&self, side: Side, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(ip_program());
        command.args(["netns", "exec", self.name(side)]).arg(program);
        command
    }

    fn namespace(&self, side: Side) -> &Namespace {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }
}

/// The name of `side`'s namespace in link number `link` of process `pid`.
fn namespace_name(side: Side, pid: u32, link: u32) -> String {
    let letter = match side {
        Side::Client => 'c',
        Side::Server => 's',
    };
    format!("rvr-{letter}{pid}-{link}")
}

/// The process that made the namespace `name`, if the name is one [`namespace_name`] gives.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("rvr-c").or_else(|| name.strip_prefix("rvr-s"))?;
    let (pid, link) = rest.split_once('-')?;
    link.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Removes the namespaces of links whose process has gone without removing them (killed,
/// say): only names of this module's own shape, and only when their process is not running.
fn remove_orphans() {
    let Ok(entries) = std::fs::read_dir(NAMESPACES) else { return };
    for name in entries.flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()) {
        let Some(pid) = owner(&name) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() && ip(&["netns", "del", &name]).is_ok() {
            tracing::info!("removed namespace {name}, left by process {pid}");
        }
    }
}

/// Sets what the kernel would otherwise carry from one connection to the next or add to the
/// link's traffic, from a thread inside the namespace (`/proc/sys/net` is the reading
/// thread's namespace's). Best effort: a kernel without IPv6 has no such file.
fn settle_namespace() {
    // Without it, a connection starts with the window and threshold its predecessor to the
    // same address ended with, and a link's measurements would depend on their order.
    let _ = std::fs::write("/proc/sys/net/ipv4/tcp_no_metrics_save", "1");
    // The devices made after this get no IPv6 (link-local addresses, router and multicast
    // solicitations): the link carries the measured traffic only.
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
}

type Job = Box<dyn FnOnce() + Send>;

/// One network namespace and the thread of ours inside it.
#[derive(Debug)]
struct Namespace {
    name: String,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Namespace {
    fn create(name: String) -> anyhow::Result<Self> {
        ip(&["netns", "add", &name])
            .with_context(|| format!("{NEEDS}: adding namespace {name}"))?;
        // From here on, dropping it removes the namespace.
        let mut namespace = Namespace { name, jobs: None, thread: None };
        let path = format!("{NAMESPACES}/{}", namespace.name);
        let (jobs, incoming) = mpsc::channel::<Job>();
        let (entered, entering) = mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new().name(format!("ns-{}", namespace.name)).spawn(
            move || {
                let joined =
                    File::open(&path).and_then(|file| Ok(setns(file, CloneFlags::CLONE_NEWNET)?));
                let inside = joined.is_ok();
                let _ = entered.send(joined);
                if inside {
                    for job in incoming {
                        job();
                    }
                }
            },
        )?;
        namespace.thread = Some(thread);
        namespace.jobs = Some(jobs);
        entering
            .recv()
            .map_err(|_| io::Error::other("the namespace's thread ended before joining it"))
            .and_then(|joined| joined)
            .with_context(|| format!("{NEEDS}: joining namespace {}", namespace.name))?;
        Ok(namespace)
    }

    fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        let gone = || io::Error::other(format!("the thread in namespace {} has gone", self.name));
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = reply.send(job());
        });
        self.jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The thread holds the namespace while it is inside: let it end first.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Err(error) = ip(&["netns", "del", &self.name]) {
            tracing::warn!(%error, "the packet link's namespace {} stays", self.name);
        }
    }
}

/// Why this machine cannot run a packet link, if it cannot: it takes root (to add
/// namespaces and make devices), /dev/net/tun and iproute2's `ip`.
///
/// # Errors
/// The first of those that is missing, in words.
pub(crate) fn check_prerequisites() -> Result<(), String> {
    match effective_uid() {
        Some(0) => {}
        Some(uid) => return Err(format!("{NEEDS}: this process runs as uid {uid}")),
        None => return Err(format!("{NEEDS}: /proc/self/status gives no uid")),
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(format!("{NEEDS}: /dev/net/tun is missing"));
    }
    let version = Command::new(ip_program()).arg("-V").stdout(Stdio::null()).status();
    if !version.is_ok_and(|status| status.success()) {
        return Err("the packet link needs iproute2's `ip`, which does not run here".into());
    }
    Ok(())
}

/// The effective user id, from /proc (nix's `geteuid` needs a feature the workspace leaves
/// off).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `ip`, where iproute2 installs it: /usr/sbin is not on every user's PATH.
fn ip_program() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("ip")
}

/// Runs `ip` with `args`; its complaint, if it fails.
fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new(ip_program()).args(args).stdin(Stdio::null()).output()?;
    if output.status.success() {
        return Ok(());
    }
    let complaint = String::from_utf8_lossy(&output.stderr);
    Err(io::Error::other(format!("`ip {}` failed: {}", args.join(" "), complaint.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_name_fits_an_interface_name() {
        // The longest pid Linux gives (pid_max ≤ 4,194,304) and the highest link number.
        assert!(namespace_name(Side::Client, 4_194_304, 99).len() <= 15);
        assert!(DEVICE.len() <= 15);
    }

    #[test]
    fn only_names_of_this_shape_are_taken_for_a_links_own() {
        assert_eq!(owner(&namespace_name(Side::Server, 4321, 7)), Some(4321));
        assert_eq!(owner(&namespace_name(Side::Client, 1, 0)), Some(1));
        for stranger in ["rvr-c", "rvr-c12", "rvr-x12-1", "rvr-c12-a", "vpn", "rvr-cab-1"] {
            assert_eq!(owner(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn the_ends_are_each_others_peers() {
        assert_eq!(Side::Client.other(), Side::Server);
        assert_eq!(Side::Server.other().address(), Ipv4Addr::new(10, 77, 0, 1));
    }
}
