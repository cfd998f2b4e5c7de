//! HAProxy in TCP mode as the proxy (`--via tcp`): a balancer that picks a server per new
//! connection, at random, and leaves an established connection where it is, as kube-proxy
//! does for a ClusterIP Service (its iptables mode writes DNAT rules with `-m statistic
//! --mode random`). Chosen over kube-proxy's own rules because compare's clients run in this
//! process, in the machine's own network namespace, and its servers on loopback: DNAT rules
//! for traffic a machine sends to itself would go in the machine's own nat table, which a
//! benchmark must not touch, and moving the servers into a namespace of their own would change
//! every cell's path (a veth pair instead of loopback). HAProxy's cost is its own process's,
//! counted as the proxy's CPU. The servers behind it change at run time through its admin
//! socket ([`set_servers`]): a server's slot gets an address and `ready`, or `maint`; neither
//! touches an established connection.

use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    net::SocketAddr,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;

use super::{Listener, Upstreams};

/// Server slots per backend: the most servers a run may have behind it at once.
pub(crate) const SLOTS: usize = 16;
/// Connections HAProxy holds at once, clients' and servers' together (it needs two file
/// descriptors each, within the usual limit of 20,000).
pub(crate) const MAX_CONNECTIONS: usize = 8_000;

/// The backend a listener's connections go to: the servers' gRPC port or their REST port.
fn backend(listener: Listener) -> &'static str {
    if listener.grpc_port() { "grpc_servers" } else { "rest_servers" }
}

/// HAProxy's configuration: `threads` threads, the listeners, and a backend per port with a
/// slot per server (the servers in the first, the others in maintenance until a server
/// takes them); `user` when compare runs as root (HAProxy drops to it once its sockets are
/// open).
pub(crate) fn configuration(
    upstreams: &Upstreams,
    listeners: &[(Listener, SocketAddr)],
    threads: usize,
    user: Option<&str>,
    admin_socket: &Path,
) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Written by `rpc-vs-rest compare --via tcp` (HAProxy 2.6 or later): TCP mode, a server\n\
         # picked at random per new connection, as kube-proxy's iptables rules pick one.\n\
         global\n    \
             nbthread {threads}\n    \
             maxconn {MAX_CONNECTIONS}\n    \
             # The servers behind it change at run time through this socket.\n    \
             stats socket {} mode 600 level admin",
        admin_socket.display()
    );
    if let Some(user) = user {
        let (user, group) = user.split_once(' ').unwrap_or((user, user));
        let _ = writeln!(c, "    user {user}\n    group {group}");
    }
    let _ = writeln!(
        c,
        "\ndefaults\n    \
             mode tcp\n    \
             timeout connect 2s\n    \
             # Connections last as long as their clients keep them.\n    \
             timeout client 1h\n    \
             timeout server 1h\n    \
             # A connection refused by a server that just went is tried once more elsewhere.\n    \
             retries 1\n    \
             option redispatch"
    );
    for (listener, address) in listeners {
        let _ = writeln!(
            c,
            "\nfrontend {}\n    bind {address}\n    default_backend {}",
            listener.name(),
            backend(*listener)
        );
    }
    for (name, servers) in [("grpc_servers", &upstreams.grpc), ("rest_servers", &upstreams.rest)] {
        if !listeners.iter().any(|(listener, _)| backend(*listener) == name) {
            continue;
        }
        let _ = writeln!(c, "\nbackend {name}\n    balance random");
        for slot in 0..SLOTS {
            match servers.get(slot) {
                Some(server) => {
                    let _ = writeln!(c, "    server s{} {server}", slot + 1);
                }
                None => {
                    let _ = writeln!(c, "    server s{} 127.0.0.1:1 disabled", slot + 1);
                }
            }
        }
    }
    c
}

/// Gives each backend's slots the servers of `upstreams`, in order, and puts the rest in
/// maintenance: new connections go only to these servers, and established ones stay where
/// they are.
pub(crate) fn set_servers(admin_socket: &Path, upstreams: &Upstreams) -> anyhow::Result<()> {
    anyhow::ensure!(
        upstreams.grpc.len() <= SLOTS && upstreams.rest.len() <= SLOTS,
        "at most {SLOTS} servers behind HAProxy"
    );
    let mut commands = Vec::new();
    for (name, servers) in [("grpc_servers", &upstreams.grpc), ("rest_servers", &upstreams.rest)] {
        for slot in 0..SLOTS {
            let server = format!("{name}/s{}", slot + 1);
            match servers.get(slot) {
                Some(address) => {
                    commands.push(format!(
                        "set server {server} addr {} port {}",
                        address.ip(),
                        address.port()
                    ));
                    commands.push(format!("set server {server} state ready"));
                }
                None => commands.push(format!("set server {server} state maint")),
            }
        }
    }
    for command in commands {
        let answer = ask(admin_socket, &command)?;
        // A backend the run does not use has no such server; anything else is a failure.
        if !answer.trim().is_empty()
            && !answer.contains("No such backend")
            && !answer.contains("IP changed")
            && !answer.contains("no need to change")
            && !answer.contains("port changed")
        {
            anyhow::bail!("HAProxy refused `{command}`: {}", answer.trim());
        }
    }
    Ok(())
}

/// One command on HAProxy's admin socket, and its answer.
fn ask(admin_socket: &Path, command: &str) -> anyhow::Result<String> {
    let mut socket = UnixStream::connect(admin_socket).with_context(|| {
        format!("cannot reach HAProxy's admin socket {}", admin_socket.display())
    })?;
    socket.write_all(format!("{command}\n").as_bytes())?;
    let mut answer = String::new();
    socket.read_to_string(&mut answer)?;
    Ok(answer)
}

/// HAProxy, on PATH or where Debian puts it (`apt-get install haproxy`).
pub(crate) fn find() -> anyhow::Result<PathBuf> {
    super::system_program("haproxy")
        .context("--via tcp needs HAProxy, found neither on PATH nor in /usr/sbin (Debian: apt-get install haproxy)")
}

/// Its version, as `haproxy -v` says it (`2.6.12-1+deb12u4`).
pub(crate) fn version_of(path: &Path) -> anyhow::Result<String> {
    let output = Command::new(path).arg("-v").output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .skip_while(|word| *word != "version")
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("no version in `{} -v`: {text}", path.display()))
}

/// How to run it: in the foreground, with this configuration.
pub(crate) fn command(path: &Path, conf: &Path) -> Command {
    let mut command = Command::new(path);
    command.args(["-db", "-f"]).arg(conf);
    command
}

/// What a listener does, in HAProxy's terms.
pub(crate) fn route(listener: Listener) -> String {
    format!("TCP → {} (a server at random per connection)", backend(listener))
}
