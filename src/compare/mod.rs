//! `rpc-vs-rest compare`: the same workload through every protocol stack, side by side.
//! Cells: `grpc` (protobuf, HTTP/2, gRPC framing) and REST with JSON or protobuf bodies over
//! HTTP/1.1 or h2c. Workloads: unary SayHello and batches of N names. Every reply is checked;
//! latency percentiles, throughput, bytes on the wire per call and server CPU per call.

mod address;
mod cell;
mod report;
mod run;
mod server;
mod wire;
mod workload;

use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

pub use address::{GrpcTarget, RestTarget};
pub use cell::{Cell, CellClient, GrpcClients, ServedBy};
pub use report::Format;
pub use run::Measurement;
pub use wire::{CountingConnector, CountingStream, WireCounters};
pub use workload::Workload;

/// `rpc-vs-rest compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareConfig {
    /// A running server's gRPC address: `host:port` (one connection), `dns:///host:port`
    /// (every address behind the name, e.g. a headless Service, calls round robin) or
    /// `ipv4:a:p,b:p`. Without targets, compare starts its own server.
    #[arg(long, env = "RPC_VS_REST_GRPC_TARGET", requires = "rest_target")]
    pub grpc_target: Option<GrpcTarget>,

    /// A running server's REST address: `host:port`.
    #[arg(long, env = "RPC_VS_REST_REST_TARGET", requires = "grpc_target")]
    pub rest_target: Option<RestTarget>,

    /// Cells to compare (comma-separated). A cell runs only the workloads it can carry:
    /// `rest-proto-*` no streams, `rest-sse-*` only streams (`rest-json-*` streams NDJSON),
    /// `rest-ws-h1` only chats.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "grpc,rest-json-h1,rest-json-h2,rest-proto-h1,rest-proto-h2,rest-sse-h1,rest-sse-h2,rest-ws-h1"
    )]
    pub cells: Vec<Cell>,

    /// Workloads: `unary`, `batch-N`, `stream-N`, `chat-N` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "unary,batch-1000")]
    pub workloads: Vec<Workload>,

    /// Calls in flight (comma-separated). HTTP/2 cells use one connection; HTTP/1.1 cells one
    /// connection per call in flight.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,

    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,

    /// Seconds each measurement lasts.
    #[arg(long, default_value_t = 2.0)]
    pub duration: f64,

    /// Measurements per combination; the median by throughput is reported.
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,

    /// Open loop: send this many calls per second in total (spread over the concurrency's
    /// tasks), timing each from when it was meant to go, instead of back to back.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Also write an HTML report with charts (throughput and latency per cell) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,

    /// The whole matrix: workloads unary, batch-1/10/100/1000, stream-100 and chat-100, concurrency
    /// 1/16/64/256.
    #[arg(long)]
    pub full: bool,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(mut config: CompareConfig) -> anyhow::Result<()> {
    if config.full {
        config.workloads =
            ["unary", "batch-1", "batch-10", "batch-100", "batch-1000", "stream-100", "chat-100"]
                .iter()
                .map(|w| w.parse().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?;
        config.concurrency = vec![1, 16, 64, 256];
    }
    let measurements = measure_all(&config).await?;
    println!("{}", report::render(&measurements, config.format)?);
    if let Some(path) = &config.report {
        std::fs::write(path, report::html(&measurements))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Runs every combination and returns the measurements, in order.
pub async fn measure_all(config: &CompareConfig) -> anyhow::Result<Vec<Measurement>> {
    let target = match (&config.grpc_target, &config.rest_target) {
        (Some(grpc), Some(rest)) => server::Target::remote(grpc, rest).await?,
        _ => server::Target::local().await?,
    };
    let plan = run::Plan {
        warmup: Duration::from_secs_f64(config.warmup),
        duration: Duration::from_secs_f64(config.duration),
        repeats: config.repeats,
        rate: config.rate,
    };
    let runs: Vec<(&Workload, usize, Cell)> = config
        .workloads
        .iter()
        .flat_map(|workload| {
            config.concurrency.iter().flat_map(move |&concurrency| {
                config
                    .cells
                    .iter()
                    .filter(|cell| cell.carries(workload))
                    .map(move |&cell| (workload, concurrency, cell))
            })
        })
        .collect();
    let total = runs.len();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut measurements = Vec::with_capacity(total);
    for (workload, concurrency, cell) in runs {
        progress.set_message(format!("{cell} {workload} x{concurrency}"));
        measurements.push(run::measure(&target, cell, workload, concurrency, &plan).await?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(measurements)
}
