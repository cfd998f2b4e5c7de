//! The command line: `serve` (the default when no subcommand is given) and its siblings.

use clap::{Parser, Subcommand};

use compare::CompareConfig;
use server::{config::ServeConfig, telemetry::LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "rpc-vs-rest",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = contract::durations::HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// `serve`'s settings, so that a bare `rpc-vs-rest --rest-addr …` serves.
    #[command(flatten)]
    pub serve: ServeConfig,

    /// How log lines look; which ones are written is set by RUST_LOG (default `info`).
    #[arg(long, global = true, env = "RPC_VS_REST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the Greeter over gRPC and REST (the default).
    #[command(after_help = contract::durations::HELP)]
    Serve(Box<ServeConfig>),

    /// Print the OpenAPI document of the REST API (what `/openapi.json` serves).
    Openapi,

    /// Compare gRPC and REST on the same workloads (starts its own server unless given targets).
    #[command(after_help = contract::durations::HELP)]
    Compare(Box<CompareConfig>),
}
