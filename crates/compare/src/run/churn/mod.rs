//! Servers that come and go during a run (`--churn`), as pods do in a cluster: compare
//! changes the set of servers it started while one cell's calls go on at a fixed rate, and
//! reports what each change cost (calls failed and sent again, the p99 around it, how long
//! until every server holds its fair share) and the run second by second ([`report`]).
//!
//! The events, as Kubernetes plays them:
//! - `scale:2->3@10s`: servers start (or stop) until there are 3; a new one joins the
//!   endpoints once its /readyz answers 200.
//! - `rolling@10s`: each server in turn is replaced: its replacement starts and joins once
//!   ready; the old one leaves the endpoints at the same moment, as a terminating pod does,
//!   and gets SIGTERM once its preStop hook has run (`--churn-pre-stop`, 5 s as in
//!   k8s/base/deployment.yaml: the proxy's old connections still bring calls meanwhile), then
//!   drains as our server does; then the next.
//! - `kill:1@20s`: the first server gets SIGKILL (a crashed pod) and leaves the endpoints.
//!
//! The endpoints are the proxy's servers: `--via nginx` (per request) rereads them in a
//! graceful reload; `--via envoy` (per request) reads them from files it watches; `--via tcp` (HAProxy in TCP mode, per connection, as kube-proxy) takes them
//! through its admin socket, leaving established connections where they are.

pub(crate) mod report;

use std::{
    fmt,
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{
    Measurement, Plan, Session,
    proxy::{self, Upstreams},
    target::{ServerConditions, Target},
};
use crate::{clients::cell::Cell, workload::Workload};
use contract::settings::{Http2Windows, Profile};

/// What happens to the servers, and when (from the measured run's start).
#[derive(Debug, Clone, PartialEq)]
pub struct Churn(pub(crate) Vec<Event>);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) at: Duration,
    pub(crate) change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Servers start or stop until there are this many.
    Scale { from: usize, to: usize },
    /// Each server in turn replaced by a new one.
    Rolling,
    /// The server at this place (1-based) is killed.
    Kill(usize),
}

/// The form, quoted whenever a schedule is refused.
const FORM: &str = "events separated by commas: scale:2->3@10s, rolling@10s, kill:1@20s";

impl std::str::FromStr for Churn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut events = Vec::new();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (what, at) =
                part.rsplit_once('@').ok_or_else(|| format!("{part:?} has no @TIME: {FORM}"))?;
            let at = contract::durations::seconds_or_unit(at)?;
            let change = match what.split_once(':') {
                None if what == "rolling" => Change::Rolling,
                Some(("scale", counts)) => {
                    let (from, to) = counts
                        .split_once("->")
                        .and_then(|(from, to)| Some((from.parse().ok()?, to.parse().ok()?)))
                        .filter(|&(from, to): &(usize, usize)| from >= 1 && to >= 1 && from != to)
                        .ok_or_else(|| {
                            format!("{part:?}: scale:FROM->TO, two counts of 1 or more that differ")
                        })?;
                    Change::Scale { from, to }
                }
                Some(("kill", place)) => {
                    Change::Kill(
                        place.parse().ok().filter(|&place| place >= 1).ok_or_else(|| {
                            format!("{part:?}: kill:I, the server's place, from 1")
                        })?,
                    )
                }
                _ => return Err(format!("{part:?} is not an event: {FORM}")),
            };
            events.push(Event { at, change });
        }
        if events.is_empty() {
            return Err(format!("no event: {FORM}"));
        }
        events.sort_by_key(|event| event.at);
        Ok(Self(events))
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.as_secs_f64();
        match self.change {
            Change::Scale { from, to } => write!(f, "scale:{from}->{to}@{at}s"),
            Change::Rolling => write!(f, "rolling@{at}s"),
            Change::Kill(place) => write!(f, "kill:{place}@{at}s"),
        }
    }
}

impl fmt::Display for Churn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&events.join(","))
    }
}

impl Churn {
    /// Refuses a schedule that cannot be played on `servers` servers, each event after the
    /// previous one.
    pub(crate) fn check(&self, servers: usize) -> Result<(), String> {
        let mut now = servers;
        for event in &self.0 {
            match event.change {
                Change::Scale { from, .. } if from != now => {
                    return Err(format!("{event}: there are {now} servers then, not {from}"));
                }
                Change::Scale { to, .. } => now = to,
                Change::Kill(place) if place > now => {
                    return Err(format!("{event}: there are {now} servers then"));
                }
                Change::Kill(_) if now == 1 => {
                    return Err(format!("{event}: it would kill the last server"));
                }
                Change::Kill(_) => now -= 1,
                Change::Rolling => {}
            }
        }
        Ok(())
    }
}

/// How compare starts a server during the run: as it started the first ones.
pub(crate) struct ServerRecipe {
    pub(crate) profile: Profile,
    pub(crate) windows: Http2Windows,
    pub(crate) conditions: ServerConditions,
    /// How long a server that leaves keeps serving before its SIGTERM (a pod's preStop).
    pub(crate) pre_stop: Duration,
}

/// One server behind the proxy.
struct Member {
    name: String,
    pid: u32,
    grpc: SocketAddr,
    rest: SocketAddr,
}

/// The servers as the run changes them: the members behind the proxy, and the servers
/// started during the run (kept until it ends, so that a drained one is reaped then).
struct Fleet<'a> {
    target: &'a Target,
    recipe: &'a ServerRecipe,
    members: Vec<Member>,
    started: Vec<Target>,
    /// The next new server's number (`server-N`).
    next: usize,
}

/// What happened at one event: when it began and ended (the endpoints changed), and the
/// servers behind the proxy after it.
pub(crate) struct Played {
    pub(crate) event: String,
    pub(crate) began: Instant,
    pub(crate) ended: Instant,
    pub(crate) members: Vec<String>,
    pub(crate) error: Option<String>,
}

impl Fleet<'_> {
    fn upstreams(&self) -> Upstreams {
        Upstreams {
            grpc: self.members.iter().map(|member| member.grpc).collect(),
            rest: self.members.iter().map(|member| member.rest).collect(),
        }
    }

    /// Tells the proxy the servers, or, without one, changes the list the clients read when
    /// they next resolve.
    fn publish(&self) -> anyhow::Result<()> {
        let upstreams = self.upstreams();
        match self.target.proxy() {
            Some(proxy) => proxy.set_upstreams(&upstreams),
            None if self.target.publish_addresses(&upstreams) => Ok(()),
            None => anyhow::bail!("--churn needs --via, or clients that balance themselves"),
        }
    }

    /// Starts a server and waits until it is ready (/readyz answers 200).
    async fn start_one(&mut self) -> anyhow::Result<Member> {
        self.next += 1;
        let name = format!("server-{}", self.next);
        let conditions =
            ServerConditions { name: Some(name.clone()), ..self.recipe.conditions.clone() };
        let server =
            Target::local(self.recipe.profile, self.recipe.windows, false, &conditions).await?;
        let (pid, grpc, rest) =
            server.servers().into_iter().next().context("the new server has no address")?;
        wait_until_ready(rest).await?;
        self.started.push(server);
        Ok(Member { name, pid, grpc, rest })
    }

    /// Takes the member at `place` out of the endpoints, then signals it: SIGKILL at once (a
    /// crash), SIGTERM once the preStop delay has passed (the run goes on meanwhile).
    fn remove(&mut self, place: usize, signal: Signal) -> anyhow::Result<()> {
        let member = self.members.remove(place);
        self.publish()?;
        let pid = member.pid;
        let delay = if signal == Signal::SIGKILL { Duration::ZERO } else { self.recipe.pre_stop };
        if delay.is_zero() {
            proxy::signal(signal, pid)
                .with_context(|| format!("cannot signal {} ({signal})", member.name))?;
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = proxy::signal(signal, pid);
            });
        }
        Ok(())
    }

    async fn play(&mut self, change: Change) -> anyhow::Result<()> {
        match change {
            Change::Scale { to, .. } => {
                while self.members.len() < to {
                    let member = self.start_one().await?;
                    self.members.push(member);
                    self.publish()?;
                }
                while self.members.len() > to {
                    self.remove(self.members.len() - 1, Signal::SIGTERM)?;
                }
            }
            Change::Rolling => {
                for _ in 0..self.members.len() {
                    let member = self.start_one().await?;
                    // The replacement joins and the oldest leaves at the same moment.
                    self.members.push(member);
                    self.remove(0, Signal::SIGTERM)?;
                }
            }
            Change::Kill(place) => self.remove(place - 1, Signal::SIGKILL)?,
        }
        Ok(())
    }
}

/// Asks the server's /readyz until it answers 200 (within 10 s).
async fn wait_until_ready(rest: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = async {
            let mut socket = tokio::net::TcpStream::connect(rest).await?;
            socket
                .write_all(b"GET /readyz HTTP/1.1\r\nhost: r\r\nconnection: close\r\n\r\n")
                .await?;
            let mut reply = Vec::new();
            socket.read_to_end(&mut reply).await?;
            std::io::Result::Ok(reply.starts_with(b"HTTP/1.1 200"))
        };
        if matches!(tokio::time::timeout(Duration::from_secs(1), answer).await, Ok(Ok(true))) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the new server at {rest} was not ready in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One cell's calls at `plan.rate` while `churn` changes the servers behind the proxy: the
/// measurement, with its churn report.
pub(crate) async fn measure(
    target: &Target,
    (cell, workload): (Cell, &Workload),
    (concurrency, connections): (usize, usize),
    plan: &Plan,
    churn: &Churn,
    recipe: &ServerRecipe,
) -> anyhow::Result<Measurement> {
    let members: Vec<Member> = target
        .servers()
        .into_iter()
        .enumerate()
        .map(|(index, (pid, grpc, rest))| Member {
            name: format!("server-{}", index + 1),
            pid,
            grpc,
            rest,
        })
        .collect();
    let next = members.len();
    let mut fleet = Fleet { target, recipe, members, started: Vec::new(), next };
    let mut session = Session::open(target, cell, workload, concurrency, connections, plan).await?;
    let counters = session.counters.clone();
    let origin = Instant::now();
    let events = async {
        let mut played = Vec::new();
        for event in &churn.0 {
            tokio::time::sleep_until((origin + event.at).into()).await;
            let began = Instant::now();
            let error = fleet.play(event.change).await.err().map(|error| format!("{error:#}"));
            played.push(Played {
                event: event.to_string(),
                began,
                ended: Instant::now(),
                members: fleet.members.iter().map(|member| member.name.clone()).collect(),
                error,
            });
        }
        played
    };
    let retries = report::RetrySamples::during(&counters, origin + plan.duration);
    let (mut measurement, records, started, (played, retried)) = session
        .run_beside(plan.duration, plan.rate, true, async { tokio::join!(events, retries) })
        .await;
    if let Some(error) = played.iter().find_map(|played| played.error.clone()) {
        anyhow::bail!("--churn could not play its events: {error}");
    }
    measurement.churn = Some(report::ChurnReport::of(churn, &records, started, &played, &retried));
    drop(fleet);
    Ok(measurement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_reads_back_as_written_in_time_order() {
        let churn: Churn = "kill:1@20s, scale:2->3@10s,rolling@15s".parse().unwrap();
        assert_eq!(churn.to_string(), "scale:2->3@10s,rolling@15s,kill:1@20s");
        assert_eq!(
            churn.0[0],
            Event { at: Duration::from_secs(10), change: Change::Scale { from: 2, to: 3 } }
        );
    }

    #[test]
    fn schedules_that_cannot_be_played_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "no event"),
            ("scale:2->3", "has no @TIME"),
            ("scale:2->2@1s", "two counts"),
            ("kill:0@1s", "from 1"),
            ("restart@1s", "is not an event"),
            ("scale:2->3@soon", "is not a duration"),
        ] {
            let refused = text.parse::<Churn>().unwrap_err();
            assert!(refused.contains(reason), "{text}: {refused}");
        }
        let check = |text: &str, servers| text.parse::<Churn>().unwrap().check(servers);
        assert!(check("scale:2->3@1s,kill:3@2s,rolling@3s", 2).is_ok());
        assert!(check("scale:2->3@1s", 3).unwrap_err().contains("there are 3 servers then"));
        assert!(check("kill:3@1s", 2).unwrap_err().contains("there are 2 servers then"));
        assert!(check("kill:1@1s", 1).unwrap_err().contains("the last server"));
    }
}
