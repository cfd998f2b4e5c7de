//! The `rpc-vs-rest` binary: parse the command line and hand off to the server's crate or to
//! compare's.

use clap::Parser;
use server::{
    server::{self as serving_ports, Listeners},
    telemetry,
};

use crate::cli::{Cli, Command};

mod cli;

fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    telemetry::init(cli.log_format);
    // `serve --runtime` decides how the server schedules its work, `compare --client-runtime`
    // how the load generator does; `openapi` needs no more than one thread.
    let runtime = match &mut cli.command {
        None => cli.serve.runtime.build()?,
        Some(Command::Serve(config)) => config.runtime.build()?,
        Some(Command::Compare(config)) => {
            // Before the runtime's threads exist: they inherit the affinity it sets.
            config.settle_fair()?;
            config.client_runtime.build()?
        }
        Some(Command::Openapi) => {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Thousands of connections need thousands of descriptors; the soft limit is often 1024.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open file limit"),
    }
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::Compare(config)) => compare::run(*config).await,
        Some(Command::Openapi) => {
            println!("{}", server::rest::openapi_document().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn serve(config: server::config::ServeConfig) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&config).await?;
    // Before the ports are announced: whoever reads them may signal at once.
    let shutdown = serving_ports::termination_signal();
    if config.print_addresses {
        // Stdout is line-buffered: the line is out before the first call can arrive.
        println!("{}", serde_json::to_string(&listeners.addresses()?)?);
    }
    serving_ports::run(listeners, &config, shutdown).await
}
