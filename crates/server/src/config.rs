//! The settings of each subcommand, read from flags with environment fallbacks. Every limit
//! has a safe default and lives here, once: in its flag's `default_value`, which the `Default`
//! of each settings struct reads too (see [`flag_defaults`]).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use contract::settings::{DEFAULT_MAX_MESSAGE_BYTES, Http2Windows, Profile, flag_defaults};
use runtime::RuntimeKind;

use crate::auth::BearerToken;

/// `rpc-vs-rest serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Where the gRPC port listens (gRPC, gRPC-Web, health, reflection). Port 0 picks a free one.
    #[arg(long, env = "RPC_VS_REST_GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,

    /// Where the REST port listens (JSON and protobuf over HTTP/1.1 and h2c). Port 0 picks a
    /// free one.
    #[arg(long, env = "RPC_VS_REST_REST_ADDR", default_value = "0.0.0.0:8080")]
    pub rest_addr: SocketAddr,

    /// After SIGTERM or SIGINT, how long in-flight calls may take to finish before the
    /// remaining connections are cut.
    #[arg(
        long,
        env = "RPC_VS_REST_SHUTDOWN_TIMEOUT",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit,
        default_value = "10s"
    )]
    pub shutdown_timeout: Duration,

    #[command(flatten)]
    pub connections: ConnectionLimits,

    #[command(flatten)]
    pub access: AccessConfig,

    #[command(flatten)]
    pub tls: TlsConfig,

    /// The name this server gives in the `x-served-by` header of every reply (in Kubernetes,
    /// the pod name). Default: the host name.
    #[arg(long, env = "RPC_VS_REST_SERVER_NAME")]
    pub server_name: Option<String>,

    #[command(flatten)]
    pub rest: RestLimits,

    #[command(flatten)]
    pub grpc: GrpcLimits,

    #[command(flatten)]
    pub http2: Http2Windows,

    /// The per-call features besides the protocols: `default` gives every request an id
    /// (`x-request-id`, and in its log lines) and counts every call in `/metrics`; `lean` does
    /// neither, to measure the protocols alone. Limits, load shedding, deadlines, TLS and auth
    /// are the same in both.
    #[arg(long, env = "RPC_VS_REST_PROFILE", value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,

    /// Once both ports listen, print their addresses on stdout as one line of JSON,
    /// `{"grpc_addr":"127.0.0.1:50051","rest_addr":"127.0.0.1:8080"}`: how a program that starts
    /// the server on port 0 learns its ports (`compare` does), without reading the logs.
    #[arg(long, env = "RPC_VS_REST_PRINT_ADDRESSES")]
    pub print_addresses: bool,

    /// How async work is scheduled: `per-core` (one current-thread runtime per usable core,
    /// each serving whole connections, handed out in turn) or `multi-thread` (tokio's work
    /// stealing over every usable core). Usable cores: the CPU affinity, capped by the CPU
    /// quota rounded up. Connection and in-flight limits stay process-wide.
    #[arg(long, env = "RPC_VS_REST_RUNTIME", value_enum, default_value_t = RuntimeKind::PerCore)]
    pub runtime: RuntimeKind,
}

impl ServeConfig {
    /// `--server-name`, or the host name, or "unknown".
    pub fn server_name(&self) -> String {
        self.server_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown".into())
    }

    pub fn shutdown_deadline(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Loopback, free ports and default limits: what tests and `compare` start.
    pub fn loopback() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rest_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }
}

/// `Default` from the flags' defaults, for each settings struct.
macro_rules! default_from_flags {
    ($($settings:ty),*) => {$(
        impl Default for $settings {
            fn default() -> Self {
                flag_defaults()
            }
        }
    )*};
}

default_from_flags!(ServeConfig, RestLimits, GrpcLimits, ConnectionLimits, AccessConfig, TlsConfig);

#[derive(Debug, Clone, Args)]
pub struct RestLimits {
    /// The largest REST request body, in bytes; larger ones get 413.
    #[arg(long = "rest-max-body-bytes", env = "RPC_VS_REST_REST_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Args)]
pub struct GrpcLimits {
    /// The largest gRPC message, in bytes, received or sent; larger ones get OUT_OF_RANGE
    /// (tonic's code), or RESOURCE_EXHAUSTED when a compressed one grows past it.
    #[arg(long = "grpc-max-message-bytes", env = "RPC_VS_REST_GRPC_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

/// Limits of both ports' connections and requests: what keeps slow, silent, greedy or hostile
/// clients from holding the server's memory, sockets or tasks.
#[derive(Debug, Clone, Args)]
pub struct ConnectionLimits {
    /// Most concurrent HTTP/2 streams (calls) per connection; more are refused by the peer's
    /// own HTTP/2 stack (REFUSED_STREAM).
    #[arg(long, env = "RPC_VS_REST_MAX_CONCURRENT_STREAMS", default_value_t = 100)]
    pub max_concurrent_streams: u32,

    /// Largest request header block, in bytes, counted as HTTP/2 does (each field's name and
    /// value plus 32): larger ones get 431 in the API's error shape (gRPC: RESOURCE_EXHAUSTED);
    /// past twice the limit plus 8 KiB the HTTP stack refuses them itself, with a bare 431.
    #[arg(long, env = "RPC_VS_REST_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// How long a client has to send its first bytes; on HTTP/1.1, also how long bytes may
    /// trickle in without completing a request's headers (while nothing is being answered)
    /// before the connection is cut.
    #[arg(
        long,
        env = "RPC_VS_REST_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit,
        default_value = "10s"
    )]
    pub header_read_timeout: Duration,

    /// How long a connection may pass without a byte in either direction before it is closed
    /// (gracefully: in-flight work is not cut). Long-lived idle streams need client pings.
    #[arg(
        long,
        env = "RPC_VS_REST_IDLE_TIMEOUT",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit,
        default_value = "10s"
    )]
    pub idle_timeout: Duration,

    /// The age at which a connection is asked to close, so that clients reconnect and calls
    /// spread over servers that joined since (gRFC A9's MAX_CONNECTION_AGE), ±10 % per
    /// connection so that connections opened together do not close together. HTTP/2 gets
    /// GOAWAY (its calls in flight finish); HTTP/1.1 gets `Connection: close` on its next
    /// reply. Off unless set.
    #[arg(
        long,
        env = "RPC_VS_REST_MAX_CONNECTION_AGE",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit
    )]
    pub max_connection_age: Option<Duration>,

    /// How long a connection past its `--max-connection-age` may go on finishing its calls
    /// before it is cut (gRFC A9's MAX_CONNECTION_AGE_GRACE). Unset: until they finish.
    #[arg(
        long,
        env = "RPC_VS_REST_MAX_CONNECTION_AGE_GRACE",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit,
        requires = "max_connection_age"
    )]
    pub max_connection_age_grace: Option<Duration>,

    /// Most open connections per port; connections beyond it are closed at once.
    #[arg(long, env = "RPC_VS_REST_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Most requests in flight per port; beyond it requests are shed at once with 503 /
    /// UNAVAILABLE instead of queueing.
    #[arg(long, env = "RPC_VS_REST_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,

    /// Most request bytes the server holds while bodies arrive, over every body of both ports
    /// (past each body's first 16 KiB); a body that would go past it fails with 503 /
    /// UNAVAILABLE. Without it, a few dozen slow uploads at the body limit exhaust a 256 MiB
    /// pod (the manifests' memory limit); the default leaves that pod room for the rest.
    #[arg(long, env = "RPC_VS_REST_MAX_BODY_BYTES_HELD", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes_held: usize,

    /// How long the server waits on a client. A unary call must be answered within it (504 /
    /// DEADLINE_EXCEEDED; a gRPC client's shorter `grpc-timeout` wins). A stream the client
    /// sends (a gRPC client or bidi stream, the WebSocket chat) must bring its next message, or
    /// its end, within it of the previous one: otherwise the call ends with DEADLINE_EXCEEDED
    /// (WebSocket: an error message, then Close 1008). Replies the server streams are not
    /// timed by it.
    #[arg(
        long,
        env = "RPC_VS_REST_REQUEST_TIMEOUT",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit,
        default_value = "30s"
    )]
    pub request_timeout: Duration,
}

impl ConnectionLimits {
    pub fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// This connection's age limit: `--max-connection-age` moved by up to ±10 %, drawn per
    /// connection (gRFC A9's jitter); `None` when off.
    pub fn max_age_of_a_connection(&self) -> Option<Duration> {
        self.max_connection_age.map(|age| age.mul_f64(fastrand::f64().mul_add(0.2, 0.9)))
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// Who may call: an optional bearer token, and the browser origins CORS lets in.
#[derive(Debug, Clone, Args)]
pub struct AccessConfig {
    /// Require `authorization: Bearer TOKEN` on every Greeter call, REST and gRPC (health,
    /// readiness, reflection, metrics and docs stay open).
    #[arg(
        long,
        env = "RPC_VS_REST_AUTH_TOKEN",
        hide_env_values = true,
        conflicts_with = "auth_token_file"
    )]
    pub auth_token: Option<BearerToken>,

    /// Read the bearer token from this file instead (a mounted secret, say).
    #[arg(long, env = "RPC_VS_REST_AUTH_TOKEN_FILE", value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,

    /// A browser origin allowed to call both ports (CORS), e.g. `https://app.example.com`;
    /// repeat the flag, or separate with commas in the environment. None: no CORS headers.
    #[arg(
        long = "cors-allow-origin",
        env = "RPC_VS_REST_CORS_ALLOW_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_allow_origins: Vec<String>,
}

impl AccessConfig {
    /// The token to require, from the flag or the file, if any.
    pub fn bearer_token(&self) -> anyhow::Result<Option<BearerToken>> {
        match (&self.auth_token, &self.auth_token_file) {
            (Some(token), _) => Ok(Some(token.clone())),
            (None, Some(path)) => BearerToken::from_file(path).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// TLS on both ports; off unless a certificate and key are given.
#[derive(Debug, Clone, Args)]
pub struct TlsConfig {
    /// PEM certificate chain for both ports; turns TLS on (with --tls-key).
    #[arg(long, env = "RPC_VS_REST_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "RPC_VS_REST_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificates: require clients to present a certificate signed by one (mTLS).
    #[arg(long, env = "RPC_VS_REST_TLS_CLIENT_CA", value_name = "PATH", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// How long a client has to complete the TLS handshake.
    #[arg(
        long,
        env = "RPC_VS_REST_TLS_HANDSHAKE_TIMEOUT",
        value_name = "DURATION",
        value_parser = contract::durations::seconds_or_unit,
        default_value = "10s"
    )]
    pub tls_handshake_timeout: Duration,
}

impl TlsConfig {
    pub fn handshake_timeout(&self) -> Duration {
        self.tls_handshake_timeout
    }
}

#[cfg(test)]
mod defaults_tests {
    use super::*;

    #[test]
    fn code_gets_the_defaults_that_help_promises() {
        let config = ServeConfig::default();
        assert_eq!(config.grpc_addr, SocketAddr::from(([0, 0, 0, 0], 50051)));
        assert_eq!(config.rest_addr, SocketAddr::from(([0, 0, 0, 0], 8080)));
        assert_eq!(config.connections.max_in_flight, 1024);
        assert_eq!(config.tls.tls_handshake_timeout, Duration::from_secs(10));
        assert_eq!(config.rest.max_body_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert!(config.access.auth_token.is_none() && !config.print_addresses);
        let loopback = ServeConfig::loopback();
        assert_eq!(loopback.grpc_addr, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(loopback.connections.request_timeout, config.connections.request_timeout);
    }

    /// docs/running.md says every flag of `serve` has an environment fallback.
    #[test]
    fn every_serve_flag_has_an_environment_fallback() {
        let serve = ServeConfig::augment_args(clap::Command::new("serve"));
        let without: Vec<_> = serve
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .filter(|arg| arg.get_env().is_none())
            .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())))
            .collect();
        assert!(without.is_empty(), "flags without an RPC_VS_REST_* variable: {without:?}");
    }
}
