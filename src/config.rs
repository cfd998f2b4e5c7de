//! The settings of each subcommand, read from flags with environment fallbacks. Every limit
//! has a safe default and lives here, once.

use std::{net::SocketAddr, time::Duration};

use clap::Args;

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
        value_name = "SECONDS",
        default_value_t = 10
    )]
    pub shutdown_timeout: u64,

    #[command(flatten)]
    pub rest: RestLimits,

    #[command(flatten)]
    pub grpc: GrpcLimits,
}

impl ServeConfig {
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout)
    }

    /// Loopback, free ports and default limits: what tests and `compare` start.
    pub fn loopback() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rest_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_timeout: 10,
            rest: RestLimits::default(),
            grpc: GrpcLimits::default(),
        }
    }
}

/// The largest valid batch (10,000 names of 256 four-byte characters, about 10 MiB in either
/// encoding, request or reply) fits in either limit.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct RestLimits {
    /// The largest REST request body, in bytes; larger ones get 413.
    #[arg(long = "rest-max-body-bytes", env = "RPC_VS_REST_REST_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_body_bytes: usize,
}

impl Default for RestLimits {
    fn default() -> Self {
        Self { max_body_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }
}

#[derive(Debug, Clone, Args)]
pub struct GrpcLimits {
    /// The largest gRPC message, in bytes, received or sent; larger ones get RESOURCE_EXHAUSTED.
    #[arg(long = "grpc-max-message-bytes", env = "RPC_VS_REST_GRPC_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        Self { max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }
}
