//! nginx as the proxy (`--via nginx`): its configuration, where to find it and its version.
//! nginx 1.22 speaks HTTP/2 on a plaintext port with prior knowledge only (no HTTP/1.1 beside
//! it on that port), so the proxy has a listener per (port, HTTP version) that the cells use
//! (see [`Listener`]). nginx speaks HTTP/2 to a gRPC upstream (`grpc_pass`) and HTTP/1.1 to any
//! other, one request per upstream connection at a time, kept alive between requests.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::Context as _;

use super::{Listener, Upstreams};

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
        let _ = writeln!(c, "\n    # {}", route(listener));
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

/// nginx on `PATH`, or in /usr/sbin (where Debian puts it, off a user's `PATH`).
pub(super) fn find() -> anyhow::Result<PathBuf> {
    super::system_program("nginx").context(
        "--via nginx needs nginx, found neither on PATH nor in /usr/sbin: install it \
             (Debian, Ubuntu: `apt-get install nginx-core`)",
    )
}

/// `nginx -v`'s version (it prints `nginx version: nginx/1.22.1` on stderr).
pub(super) fn version_of(path: &Path) -> anyhow::Result<String> {
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

/// The command that runs nginx from `dir` (its prefix: pid and temporary files) with the
/// configuration `conf`, in the foreground with its master and workers.
pub(super) fn command(path: &Path, dir: &Path, conf: &Path) -> Command {
    let mut command = Command::new(path);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(dir.join("error.log"))
        .args(["-g", "daemon off; master_process on;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// What a listener takes, how nginx passes it on, and for which cells: the provenance's words.
pub(super) fn route(listener: Listener) -> &'static str {
    match listener {
        Listener::GrpcH2 => {
            "HTTP/2 (prior knowledge) → grpc_pass grpc://grpc_servers (HTTP/2): grpc, \
             connect-*-h2"
        }
        Listener::GrpcH1 => "HTTP/1.1 → proxy_pass http://grpc_servers_h1 (HTTP/1.1): connect-*-h1",
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
