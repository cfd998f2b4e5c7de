//! `rpc-vs-rest compare`: the same workload through every protocol stack, side by side.
//! Cells: `grpc` (protobuf, HTTP/2, gRPC framing), REST with JSON or protobuf bodies over
//! HTTP/1.1 or h2c, SSE and WebSocket, and Connect in JSON or protobuf on the gRPC port, each
//! compressed or not. Workloads: unary SayHello, batches of N names, server streams of N, chats
//! of N, and the payload echoes (grpc_bench's complex message, N person records). Every reply
//! is checked; latency percentiles, throughput, bytes on the wire per call and server CPU per
//! call are measured.
//!
//! Its rooms, in the order a run uses them: `workload` (what a call sends), `clients` (the
//! cells, their clients and connections, the check of each reply), `run` (the server under
//! test, the link, the load generator and its measurements, shards) and `outputs` (the report,
//! verdicts, provenance, baselines, merges). Each room uses only the rooms before it; `config`
//! holds the command's options, and this file puts a run together. A new client goes in
//! `clients` (and a cell in `clients/cell.rs`), a new output in `outputs`.
//!
//! It depends on the contract (`rpc-vs-rest-contract`: the domain that checks each reply, the
//! messages, gRPC's framing, the REST paths) and on no code of the server's: the instrument is
//! held apart from what it measures by Cargo.

pub(crate) mod clients;
mod config;
/// The entry points the fuzz targets (`fuzz/`) and the corpus replay (`tests/fuzz_corpus.rs`)
/// share: one per reader of a server's bytes. Not an API.
#[doc(hidden)]
pub mod fuzzing;
mod outputs;
mod run;
mod workload;

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use contract::settings::Profile;

pub use clients::cell::{Api, Cell, CellClient, Encoding, HttpVersion};
pub use clients::check::ServedBy;
pub use clients::check::{CallError, Expected};
pub use clients::compression::Compression;
pub use clients::grpc::GrpcClients;
pub use clients::http2::Http2;
pub use clients::unary::{ClientOptions, ConnectionPolicy};
pub use clients::wire::{CountingConnector, CountingStream, WireCounters};
pub use config::{ClientRuntime, CompareCommand, CompareConfig};
pub use outputs::provenance::Provenance;
pub use outputs::report::Format;
pub use outputs::report::Report;
pub use outputs::verdict::{Verdict, verdicts};
pub use run::address::{GrpcTarget, RestTarget};
pub use run::affinity::CoreList;
pub use run::capacity::{Capacity, Step};
pub use run::cgroup::Throttling;
pub use run::objective::Objective;
pub use run::schedule::{RateSchedule, RateStep};
pub use run::shard::{Shard, StartAt};
pub use run::{LatencyAt, Measurement, decode_histogram};
pub use workload::{Shape, Workload, payload};

/// The descriptor set `--via transcoder` gives Envoy's gRPC-JSON transcoder (`greeter.pb`
/// beside the bootstrap `--print-proxy-config` prints): helloworld.proto's, with the API's REST
/// rules as `google.api.http` options.
pub fn transcoder_descriptor_set() -> anyhow::Result<Vec<u8>> {
    run::proxy::transcoder::descriptor_set()
}

pub async fn run(mut config: CompareConfig) -> anyhow::Result<()> {
    if let Some(CompareCommand::Merge(merge)) = &config.command {
        return outputs::merge::run(merge);
    }
    config.settle()?;
    if config.print_proxy_config {
        let Some(settings) = config.proxy_settings() else {
            anyhow::bail!("--print-proxy-config needs --via")
        };
        let targets = (config.grpc_target.as_ref(), config.rest_target.as_ref());
        return run::proxy::print_configuration(&settings, config.servers, targets).await;
    }
    // `--fair` took the server's cores from compare's own before narrowing compare's.
    if let Some(cores) = config.server_cores.as_ref().filter(|_| !config.fair) {
        cores.check_allowed()?;
    }
    // Read first, so that a bad baseline fails before the measuring does.
    let before = config.baseline.as_deref().map(Report::load).transpose()?;
    let target = connect(&config, config.server_profile).await?;
    let mut provenance = Provenance::of(&config, &target);
    if let Some(start) = config.start_at {
        provenance.late_by_seconds = start.wait().await;
        if let Some(late) = provenance.late_by_seconds {
            eprintln!("compare: started {late:.1} s after --start-at");
        }
    }
    let measurements = measure_all(&config, &target).await?;
    let verdicts = outputs::verdict::verdicts(&measurements, &provenance);
    println!(
        "{}",
        outputs::report::document(&provenance, &measurements, &verdicts, config.format)?
    );
    let changes = before
        .as_ref()
        .map(|before| outputs::baseline::changes(&before.measurements, &measurements));
    if let (Some(changes), Some(path)) = (&changes, &config.baseline) {
        if matches!(config.format, Format::Table | Format::Markdown) {
            println!("{}", outputs::baseline::render(changes, path, config.format));
        }
    }
    if let Some(path) = &config.report {
        let page = outputs::html::Page {
            provenance: &provenance,
            measurements: &measurements,
            verdicts: &verdicts,
            baseline: before.as_ref().zip(changes).map(|(before, changes)| (&before.run, changes)),
        };
        std::fs::write(path, outputs::html::render(&page))?;
        eprintln!("wrote {}", path.display());
    }
    let local = target.profile.is_some();
    drop(target);
    if config.full && local && matches!(config.format, Format::Table | Format::Markdown) {
        let costs = feature_costs(&config).await?;
        println!("{}", outputs::report::render_feature_costs(&costs, config.format)?);
    }
    if matches!(config.format, Format::Table | Format::Markdown) {
        for churn in measurements.iter().filter_map(|m| m.churn.as_ref()) {
            println!("{}", run::churn::report::render(churn));
        }
    }
    retried_calls(&measurements);
    failed_calls(&measurements)
}

/// Says on stderr which measurements sent calls again, and why (see `--retry`): calls that
/// went through, but a client without retries would have lost.
fn retried_calls(measurements: &[Measurement]) {
    for m in measurements.iter().filter(|m| !m.retried.is_empty()) {
        let why: Vec<String> = m.retried.iter().map(|(why, n)| format!("{why}: {n}")).collect();
        eprintln!(
            "compare: {} {} x{}: calls the server never began, sent again ({})",
            m.cell,
            m.workload,
            m.concurrency,
            why.join(", ")
        );
    }
}

/// An error, after the results are out, when any call failed: a run with failures exits with
/// a status that says so, naming each measurement's first failure.
fn failed_calls(measurements: &[Measurement]) -> anyhow::Result<()> {
    let failed: Vec<&Measurement> = measurements.iter().filter(|m| m.errors > 0).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for m in &failed {
        let first = m.first_error.as_deref().unwrap_or("(no reason kept)");
        eprintln!(
            "compare: {} {} x{}: {} of {} calls failed; the first: {first}",
            m.cell,
            m.workload,
            m.concurrency,
            m.errors,
            m.calls + m.errors
        );
        for (kind, errors) in &m.errors_by_kind {
            eprintln!("  {kind}: {} calls; the first: {}", errors.calls, errors.first);
        }
    }
    anyhow::bail!("{} of {} measurements had failed calls", failed.len(), measurements.len())
}

/// How compare runs the servers it starts.
fn server_conditions(config: &CompareConfig) -> run::target::ServerConditions {
    run::target::ServerConditions {
        runtime: config.server_runtime,
        cpus: config.server_cpus,
        cores: config.server_cores.clone(),
        name: None,
        max_connection_age: config.server_max_connection_age,
        packet_link: None,
    }
}

/// With a packet link (`--link packet,…`): the link, started now, with every client
/// connection of this process opened from inside its clients' namespace from now on.
fn start_packet_link(
    config: &CompareConfig,
) -> anyhow::Result<Option<std::sync::Arc<run::packet_link::PacketLink>>> {
    let Some(spec) = config.link.iter().find_map(|link| link.packet()) else { return Ok(None) };
    let link = std::sync::Arc::new(run::packet_link::PacketLink::start(spec.clone())?);
    // Weak: the process-wide dialer must not keep the link (and its namespaces) alive.
    let weak = std::sync::Arc::downgrade(&link);
    let dialed = clients::wire::dial_with(std::sync::Arc::new(move |addr| {
        let link = weak.upgrade().ok_or_else(|| std::io::Error::other("the link is gone"))?;
        link.namespaces().connect_in(run::packet_link::Side::Client, addr)
    }));
    anyhow::ensure!(dialed, "one packet link per compare run");
    Ok(Some(link))
}

/// The servers compare starts (`--servers N`, each named `server-I` when there are several),
/// behind the proxy with `--via`.
async fn own_target(
    config: &CompareConfig,
    profile: Profile,
) -> anyhow::Result<run::target::Target> {
    let packet_link = start_packet_link(config)?;
    let mut servers = Vec::with_capacity(config.servers);
    for index in 1..=config.servers {
        let conditions = run::target::ServerConditions {
            name: (config.servers > 1 || config.churn.is_some()).then(|| format!("server-{index}")),
            packet_link: packet_link.clone(),
            ..server_conditions(config)
        };
        servers.push(
            run::target::Target::local(profile, config.http2, config.tls, &conditions).await?,
        );
    }
    let target = run::target::Target::together(servers)?;
    if config.via.is_none() && (config.servers > 1 || config.churn.is_some()) {
        return Ok(target.balanced_by_clients());
    }
    behind_proxy(config, target).await
}

/// The target behind the proxy, with `--via`: its servers are the proxy's upstreams.
async fn behind_proxy(
    config: &CompareConfig,
    target: run::target::Target,
) -> anyhow::Result<run::target::Target> {
    let Some(settings) = config.proxy_settings() else { return Ok(target) };
    let proxy = run::proxy::Proxy::start(&settings, target.upstreams()).await?;
    Ok(target.behind(proxy))
}

async fn connect(config: &CompareConfig, profile: Profile) -> anyhow::Result<run::target::Target> {
    let mut target = connect_resuming(config, profile).await?;
    if !config.tls_resumption {
        target.tls = target.tls.take().map(clients::tls::ClientTls::without_resumption);
    }
    Ok(target)
}

async fn connect_resuming(
    config: &CompareConfig,
    profile: Profile,
) -> anyhow::Result<run::target::Target> {
    match (&config.grpc_target, &config.rest_target) {
        (None, None) => own_target(config, profile).await,
        (grpc, rest) => {
            let tls = match (config.tls, &config.tls_ca) {
                (false, _) => None,
                (true, None) => anyhow::bail!("--tls with targets needs --tls-ca FILE.pem"),
                (true, Some(ca)) => {
                    use anyhow::Context as _;
                    let pem = std::fs::read(ca)
                        .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
                    let name = match (&config.tls_server_name, rest) {
                        (Some(name), _) => name.clone(),
                        (None, Some(rest)) => rest.host(),
                        (None, None) => anyhow::bail!(
                            "--tls with --grpc-target alone needs --tls-server-name NAME"
                        ),
                    };
                    Some(clients::tls::ClientTls::trusting(&pem, &name)?)
                }
            };
            let target = run::target::Target::remote(grpc.as_ref(), rest.as_ref(), tls).await?;
            behind_proxy(config, target).await
        }
    }
}

/// Runs every combination and returns the measurements, in order.
async fn measure_all(
    config: &CompareConfig,
    target: &run::target::Target,
) -> anyhow::Result<Vec<Measurement>> {
    let base = plan(config);
    // Cells the proxy cannot carry are skipped, each with a line saying why.
    let mut passable = Vec::with_capacity(config.cells.len());
    for &cell in &config.cells {
        match target.addresses(cell) {
            Ok(_) => passable.push(cell),
            Err(why) if config.workloads.iter().any(|workload| cell.carries(workload)) => {
                eprintln!("compare: {cell}: skipped, it cannot go through the proxy ({why})");
            }
            Err(_) => {}
        }
    }
    let passable = &passable;
    let runs: Vec<(&run::link::Link, &Workload, usize, usize, Cell)> = config
        .link
        .iter()
        .flat_map(|link| {
            config.workloads.iter().flat_map(move |workload| {
                config.concurrency.iter().flat_map(move |&concurrency| {
                    passable.iter().filter(|cell| cell.carries(workload)).flat_map(move |&cell| {
                        connection_counts(cell, concurrency, &config.connections).into_iter().map(
                            move |connections| (link, workload, concurrency, connections, cell),
                        )
                    })
                })
            })
        })
        .collect();
    let total = runs.len();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut measurements = Vec::with_capacity(total);
    let mut unserved: Vec<(Cell, &Workload)> = Vec::new();
    for (link, workload, concurrency, connections, cell) in runs {
        if unserved.contains(&(cell, workload)) {
            progress.inc(1);
            continue;
        }
        progress.set_message(format!(
            "{cell} {workload} x{concurrency} /{connections} @{}",
            link.short_name()
        ));
        let plan = run::Plan { link: link.clone(), ..base.clone() };
        let mut rows = match (&config.slo, &config.rate) {
            _ if config.churn.is_some() => {
                let churn = config.churn.as_ref().expect("just seen");
                let recipe = run::churn::ServerRecipe {
                    profile: target.profile.unwrap_or_default(),
                    windows: config.http2,
                    conditions: server_conditions(config),
                    pre_stop: config.churn_pre_stop,
                };
                let shape = (concurrency, connections);
                let plan = &plan;
                vec![
                    run::churn::measure(target, (cell, workload), shape, plan, churn, &recipe)
                        .await?,
                ]
            }
            (Some(objective), _) => {
                let search = run::capacity::Search {
                    objective: objective.clone(),
                    step: config.slo_step_duration,
                    resolution: config.slo_resolution,
                };
                let mut session =
                    run::Session::open(target, cell, workload, concurrency, connections, &plan)
                        .await?;
                vec![run::capacity::search(&mut session, &search).await]
            }
            (None, Some(RateSchedule::Steps { steps, .. })) => {
                let shape = (concurrency, connections);
                run::measure_schedule(target, (cell, workload), shape, &plan, steps).await?
            }
            (None, _) => {
                vec![run::measure(target, cell, workload, concurrency, connections, &plan).await?]
            }
        };
        let measurement = rows.remove(0);
        // A server that stalled every call is not one that lacks the workload: not asked.
        let stalled = measurement.first_error.as_deref() == Some(run::STALLED);
        if measurement.calls == 0 && measurement.errors > 0 && !stalled {
            if let Some(error) = not_served(target, &plan, cell, workload).await? {
                progress.suspend(|| {
                    eprintln!(
                        "compare: {cell} {workload}: skipped, the target does not serve it \
                         ({error})"
                    );
                });
                unserved.push((cell, workload));
                progress.inc(1);
                continue;
            }
        }
        measurements.push(measurement);
        measurements.append(&mut rows);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(measurements)
}

/// How long [`not_served`] waits for a connection or an answer.
const NOT_SERVED_WAIT: Duration = Duration::from_secs(1);

/// Why a cell's workload failed every call, when the reason is that the target does not
/// serve it (UNIMPLEMENTED, 404 or 405 to one more call: a grpcio helloworld server has
/// SayHello alone). Such a workload is skipped with a line saying so rather than reported as
/// a row of errors; errors of any other kind are measured as ever. Compare's own server serves
/// every workload and is not asked. Only a measurement without a single good call asks, so a
/// run that goes well opens no connection more than it measures.
async fn not_served(
    target: &run::target::Target,
    plan: &run::Plan,
    cell: Cell,
    workload: &Workload,
) -> anyhow::Result<Option<CallError>> {
    if target.profile.is_some() {
        return Ok(None);
    }
    let options = ClientOptions { tls: target.tls.clone(), ..plan.client.clone() };
    let counters = std::sync::Arc::new(WireCounters::default());
    let (grpc, rest) = target.addresses(cell).map_err(anyhow::Error::msg)?;
    let addresses = (&grpc[..], rest);
    // A server that stalls is not one that refuses: each question is bounded.
    let connect = CellClient::connect(cell, workload, addresses, 1, options, counters);
    let Ok(client) = tokio::time::timeout(NOT_SERVED_WAIT, connect).await else {
        return Ok(None);
    };
    let mut client = client?;
    // A few calls, apart: a server still busy with the measurement's backlog may fail the first
    // for another reason (a slow Python server, on shared cores).
    let expected = Expected::of(workload);
    for attempt in 0..3 {
        let call = client.call(workload, &expected);
        match tokio::time::timeout(NOT_SERVED_WAIT, call).await {
            Err(_) => return Ok(None),
            Ok(Err(error)) if error.is_not_served() => return Ok(Some(error)),
            Ok(Err(error)) => {
                tracing::debug!(%cell, %workload, attempt, %error, "not a refusal");
            }
            Ok(Ok(_)) => return Ok(None),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

fn plan(config: &CompareConfig) -> run::Plan {
    run::Plan {
        shard: config.shard,
        warmup: config.warmup,
        duration: config.duration,
        repeats: config.repeats,
        rate: config.rate.as_ref().and_then(RateSchedule::constant),
        link: run::link::Link::LOOPBACK,
        client: ClientOptions {
            policy: ConnectionPolicy {
                h1_pool: config.h1_connections,
                per_call: config.connect_per_call,
            },
            windows: config.http2,
            // The target's: see `run::measure`.
            tls: None,
            retry: config.retry,
            // The target's, with `resolve_every`: see `run::Session::open`.
            balance: None,
        },
        resolve_every: config.resolve_every,
    }
}

/// The connection counts a cell runs with at this concurrency: each of `--connections` (at
/// most one per call in flight) for HTTP/2 cells; HTTP/1.1 cells run once, with a connection
/// per call.
fn connection_counts(cell: Cell, concurrency: usize, connections: &[usize]) -> Vec<usize> {
    if !cell.http2() {
        return vec![concurrency];
    }
    let mut counts: Vec<usize> =
        connections.iter().map(|&n| n.clamp(1, concurrency.max(1))).collect();
    counts.dedup();
    counts
}

/// What the default profile's features (request ids, metrics) cost per call: unary calls, 64
/// in flight, on one connection per HTTP/2 cell, against a default and then a lean server of
/// compare's own.
async fn feature_costs(
    config: &CompareConfig,
) -> anyhow::Result<Vec<outputs::report::FeatureCost>> {
    let cells = [Cell::GRPC, Cell::REST_JSON_H1, Cell::REST_JSON_H2];
    let plan = plan(config);
    let mut by_profile = Vec::new();
    for profile in [Profile::Default, Profile::Lean] {
        let target = own_target(config, profile).await?;
        let mut measured = Vec::new();
        for cell in cells {
            measured.push(run::measure(&target, cell, &Workload::Unary, 64, 1, &plan).await?);
        }
        by_profile.push(measured);
    }
    Ok(by_profile[0]
        .iter()
        .zip(&by_profile[1])
        .map(|(default, lean)| outputs::report::FeatureCost {
            default: default.clone(),
            lean: lean.clone(),
        })
        .collect())
}
