//! The checks across `compare`'s flags, and its presets: what a combination of options means
//! or refuses, settled before anything starts, so that a run never measures something other
//! than what was asked for.

use super::CompareConfig;
use crate::{
    clients::cell::{Api, Cell},
    run::schedule::RateSchedule,
};

impl CompareConfig {
    /// Applies the presets (`--full`), narrows the cells to the targets given, and refuses the
    /// combinations of flags that cannot be honoured, each with the flag to change.
    pub(crate) fn settle(&mut self) -> anyhow::Result<()> {
        if self.full {
            self.apply_full_preset()?;
        }
        self.cells = cells_with_targets(self)?;
        // Refused before anything runs: the lean client is the one that pools or reconnects.
        if self.h1_connections.is_some() || self.connect_per_call {
            if let Some(workload) = self.workloads.iter().find(|w| !w.is_single_call()) {
                anyhow::bail!(
                    "--h1-connections and --connect-per-call apply to unary and batch workloads, \
                     not {workload}"
                );
            }
        }
        refuse_server_conditions_for_targets(self)?;
        refuse_churn_conditions(self)?;
        refuse_proxy_conditions(self)?;
        refuse_packet_link_conditions(self)?;
        refuse_load_conditions(self)
    }

    /// `--full`: every workload of the ladder, at 1 to 256 in flight, on one connection and
    /// on one per core.
    fn apply_full_preset(&mut self) -> anyhow::Result<()> {
        self.workloads =
            ["unary", "batch-1", "batch-10", "batch-100", "batch-1000", "stream-100", "chat-100"]
                .iter()
                .map(|w| w.parse().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?;
        self.concurrency = vec![1, 16, 64, 256];
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        self.connections = if cores > 1 { vec![1, cores] } else { vec![1] };
        Ok(())
    }
}

/// The cells to run given the targets: with one target only, the default cells narrow to those
/// it serves (not Connect's: a gRPC server need not speak it; name them to run them), and a
/// cell asked for by name without its target is refused, naming the flag.
fn cells_with_targets(config: &CompareConfig) -> anyhow::Result<Vec<Cell>> {
    let (grpc, rest) = (config.grpc_target.is_some(), config.rest_target.is_some());
    if grpc == rest {
        return Ok(config.cells.clone());
    }
    // Connect is served on the gRPC port; through the transcoder, REST is too.
    let transcoded = config.via == Some(crate::run::proxy::Via::Transcoder);
    let needs_grpc = |cell: &Cell| transcoded || matches!(cell.api, Api::Grpc | Api::Connect(_));
    let served = |cell: &&Cell| if needs_grpc(cell) { grpc } else { rest };
    let defaults: Vec<Cell> = super::DEFAULT_CELLS
        .split(',')
        .map(|name| name.parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    if config.cells == defaults {
        let connect = |cell: &&Cell| matches!(cell.api, Api::Connect(_));
        return Ok(config
            .cells
            .iter()
            .filter(served)
            .filter(|cell| !connect(cell))
            .copied()
            .collect());
    }
    if let Some(cell) = config.cells.iter().find(|cell| !served(cell)) {
        let (needed, given) = match needs_grpc(cell) {
            true => ("--grpc-target", "--rest-target"),
            false => ("--rest-target", "--grpc-target"),
        };
        anyhow::bail!("the {cell} cell needs {needed}; only {given} was given");
    }
    Ok(config.cells.clone())
}

/// The flags that set how compare runs its own server, refused with targets: a quota or cores
/// the user believes applied, but did not, would be a wrong measurement rather than a lesser
/// one.
fn refuse_server_conditions_for_targets(config: &CompareConfig) -> anyhow::Result<()> {
    if config.grpc_target.is_none() && config.rest_target.is_none() {
        return Ok(());
    }
    let given = [
        ("--server-cpus", config.server_cpus.is_some()),
        ("--server-cores", config.server_cores.is_some()),
        ("--server-runtime", config.server_runtime.is_some()),
        ("--server-max-connection-age", config.server_max_connection_age.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        anyhow::bail!(
            "{flag} applies to the server compare starts; with --grpc-target or --rest-target \
             the server is not compare's to run (set it where that server starts)"
        );
    }
    Ok(())
}

/// What `--churn` needs: servers of compare's own behind nginx, whose set it can change, a
/// fixed rate (so that a stall shows as latency and failures, not as fewer calls sent), and
/// one measurement (the servers it changes are not put back for another).
fn refuse_churn_conditions(config: &CompareConfig) -> anyhow::Result<()> {
    let Some(churn) = &config.churn else { return Ok(()) };
    if config.grpc_target.is_some() || config.rest_target.is_some() {
        anyhow::bail!("--churn changes the servers compare starts: leave the targets out");
    }
    use crate::run::proxy::Via;
    if !matches!(config.via, None | Some(Via::Nginx | Via::Envoy | Via::Tcp)) {
        anyhow::bail!(
            "--churn runs without --via (the clients spread their calls over the servers), or \
             with --via nginx (per request; its servers changed by a graceful reload), --via \
             envoy (per request; by the endpoint files it watches) or --via tcp (per \
             connection, as kube-proxy; through HAProxy's admin socket)"
        );
    }
    if config.rate.as_ref().and_then(RateSchedule::constant).is_none() {
        anyhow::bail!("--churn runs at a fixed --rate, so that a stall shows as latency");
    }
    let single = [
        ("--cells", config.cells.len()),
        ("--workloads", config.workloads.len()),
        ("--concurrency", config.concurrency.len()),
        ("--connections", config.connections.len()),
        ("--link", config.link.len()),
    ];
    if let Some((flag, _)) = single.iter().find(|(_, count)| *count != 1) {
        anyhow::bail!(
            "--churn measures one cell at a time (the servers it changes are not put back for \
             another): give one value to {flag}"
        );
    }
    if config.repeats > 1 || config.slo.is_some() || config.shard.is_some() || config.tls {
        anyhow::bail!("--churn runs once, without --repeats, --slo, --shard or --tls");
    }
    if let Some(last) = churn.0.last().filter(|event| event.at >= config.duration) {
        anyhow::bail!("--churn: {last} comes after the run's {:?}", config.duration);
    }
    churn.check(config.servers).map_err(|why| anyhow::anyhow!("--churn: {why}"))
}

/// What `--slo` and a rate schedule cannot be combined with: a search sets its own rates, and
/// shards run apart, so neither a search nor a schedule's steps would line up across them.
fn refuse_load_conditions(config: &CompareConfig) -> anyhow::Result<()> {
    let schedule = matches!(config.rate, Some(RateSchedule::Steps { .. }));
    if config.slo.is_some() && config.rate.is_some() {
        anyhow::bail!("--slo searches the rate itself: leave --rate out");
    }
    if config.shard.is_some() && (config.slo.is_some() || schedule) {
        anyhow::bail!(
            "--shard runs with a closed loop or one --rate: an --slo search or a rate schedule \
             runs from one compare (give it the calls in flight of every shard)"
        );
    }
    if config.slo.is_some() && config.repeats > 1 {
        anyhow::bail!("--slo runs each rate once (its steps are the repeats): leave --repeats out");
    }
    Ok(())
}

/// What a packet link (`--link packet,…`) needs: compare's own server(s), which it starts in
/// the link's server namespace, and no other link in the run (one link of namespaces per run).
fn refuse_packet_link_conditions(config: &CompareConfig) -> anyhow::Result<()> {
    if !config.link.iter().any(|link| link.packet().is_some()) {
        return Ok(());
    }
    if config.link.len() > 1 {
        anyhow::bail!("a packet link (with loss=, queue= or packet) runs alone: give one --link");
    }
    if config.grpc_target.is_some() || config.rest_target.is_some() || config.via.is_some() {
        anyhow::bail!(
            "a packet link puts compare's own server(s) in a network namespace of its own: leave \
             out --grpc-target, --rest-target and --via"
        );
    }
    if config.shard.is_some() || config.churn.is_some() {
        anyhow::bail!("a packet link runs without --shard or --churn");
    }
    Ok(())
}

/// What `--via` and `--servers` cannot be combined with, refused before anything starts.
fn refuse_proxy_conditions(config: &CompareConfig) -> anyhow::Result<()> {
    let targets = config.grpc_target.is_some() || config.rest_target.is_some();
    let balanced_by_clients =
        config.via.is_none() && (config.servers > 1 || config.churn.is_some());
    if balanced_by_clients {
        if let Some(workload) = config.workloads.iter().find(|workload| !workload.is_single_call())
        {
            anyhow::bail!(
                "--servers {} without --via spreads the calls over the servers in the unary \
                 client: unary and batch workloads, not {workload} (put a proxy in front: \
                 --via nginx, envoy or mesh)",
                config.servers
            );
        }
        if config.h1_connections.is_some() || config.connect_per_call {
            anyhow::bail!(
                "--servers without --via keeps a connection to each server (per task on \
                 HTTP/1.1): not with --h1-connections or --connect-per-call"
            );
        }
        if config.link.iter().any(|link| !link.is_loopback()) {
            anyhow::bail!(
                "--servers without --via needs the servers' own addresses, which --link's \
                 relays hide: leave --link out, or put a proxy in front (--via)"
            );
        }
    }
    if config.servers > 1 && targets {
        anyhow::bail!(
            "--servers applies to the servers compare starts; with --grpc-target or \
             --rest-target the proxy passes calls on to the targets' addresses (give \
             `--grpc-target ipv4:a:p,b:p` for several gRPC servers)"
        );
    }
    if config.via.is_some() && config.tls {
        anyhow::bail!(
            "--via with --tls is not supported: the proxy would need a certificate of its own \
             and TLS to the servers; run the proxy without --tls"
        );
    }
    Ok(())
}
