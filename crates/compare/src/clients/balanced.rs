//! Calls spread by the client itself over every server it knows of, as a gRPC client's
//! `round_robin` policy spreads them over a headless Service's addresses: the addresses come
//! from an [`Answer`] (a DNS name, or the list compare keeps for the servers it started,
//! standing for a headless Service's DNS answer), asked again every `--resolve-every` and as
//! soon as a connection is lost (at most once a second), each address gets its connections
//! (HTTP/2: shared by the tasks; HTTP/1.1: each task its own), and each call goes to the next
//! address in turn. A server that leaves the answer gets no new call once the client has asked
//! again, which is the delay DNS-based balancing has and a proxy does not.
//!
//! A connection that is lost (closed, or going away) is replaced only if a fresh answer still
//! lists its address: a server that drains after leaving the answer is not dialled again. A
//! call that cannot have a connection to its address (refused, dialling in backoff, or no
//! longer listed) never left the client: it goes to the next address, as gRPC's picker skips
//! a subchannel that is not ready. The resolutions the timer asks for run in a task of their
//! own, so that no call waits for them.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::StatusCode;

use super::{
    check::{CallError, Retry, ServedBy},
    http1::{Http1Connection, call_http1},
    http2::{Http2Request, Received},
    redial::{Redialled, StillListed},
    tls::ClientTls,
    wire::WireCounters,
};
use contract::settings::Http2Windows;

/// The least time between two resolutions that failed calls asked for, so that a server gone
/// for good does not have every call ask again.
const LEAST_BETWEEN_LOSSES: Duration = Duration::from_secs(1);

/// Where the servers' addresses come from.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `dns:///host:port`: every address the name resolves to, asked of the system's resolver.
    Dns(String),
    /// The servers compare started and keeps changing (`--churn`), as a headless Service's
    /// DNS answer lists the ready pods.
    Published(Published),
}

/// An address list compare changes and the clients read when they resolve.
#[derive(Debug, Clone, Default)]
pub struct Published(Arc<Mutex<Vec<SocketAddr>>>);

impl Published {
    pub(crate) fn new(addrs: Vec<SocketAddr>) -> Self {
        Self(Arc::new(Mutex::new(addrs)))
    }

    pub(crate) fn set(&self, addrs: Vec<SocketAddr>) {
        *self.0.lock().expect("no holder panics") = addrs;
    }

    fn get(&self) -> Vec<SocketAddr> {
        self.0.lock().expect("no holder panics").clone()
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Dns(host_port) => write!(f, "dns:///{host_port}"),
            Answer::Published(_) => f.write_str("the list of ready servers compare keeps"),
        }
    }
}

impl Answer {
    async fn addresses(&self) -> anyhow::Result<Vec<SocketAddr>> {
        match self {
            Answer::Dns(host_port) => every_address(host_port).await,
            Answer::Published(list) => Ok(list.get()),
        }
    }
}

/// Where each port's addresses come from, when the clients balance over the servers.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// The gRPC port's (gRPC and Connect cells); `None`: its addresses as they were given.
    pub grpc: Option<Answer>,
    /// The REST port's; `None`: its one address.
    pub rest: Option<Answer>,
}

/// Every address `host_port` resolves to, sorted, each once.
pub(crate) async fn every_address(host_port: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = lookup(host_port).await?;
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// Every address `host_port` resolves to, in the resolver's order; at least one.
pub(crate) async fn lookup(host_port: &str) -> anyhow::Result<Vec<SocketAddr>> {
    use anyhow::Context as _;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(host_port)
        .await
        .with_context(|| format!("cannot resolve {host_port}"))?
        .collect();
    anyhow::ensure!(!addrs.is_empty(), "{host_port} resolves to no address");
    Ok(addrs)
}

/// The answers, and how often the clients ask them again (`--resolve-every`).
#[derive(Debug, Clone)]
pub struct Balance {
    pub answers: Answers,
    pub every: Duration,
}

/// How a balanced client connects to each address.
#[derive(Debug, Clone)]
pub(crate) enum Dialling {
    /// `connections` HTTP/2 connections per address, shared by every task.
    Http2 { windows: Http2Windows, request: Box<Http2Request>, connections: usize },
    /// An HTTP/1.1 connection per address for each task, opened at its first call there.
    Http1 { request: Bytes },
}

/// What every task of a balanced client shares: the answer, the connections to the addresses
/// it last gave, and whether it is to be asked again.
struct Shared {
    answer: Answer,
    dialling: Dialling,
    tls: Option<ClientTls>,
    counters: Arc<WireCounters>,
    /// The addresses, each HTTP/2 address with its connections; changed only by a resolution.
    channels: RwLock<Arc<Vec<Channel>>>,
    /// Bumped each time `channels` changes, so that a task sees a change with one load.
    generation: AtomicU64,
    /// Set by the timer every `--resolve-every`.
    due: AtomicBool,
    /// Set by a task whose call failed on its connection or found no server to take it.
    lost: AtomicBool,
    /// Whether a resolution the timer or a loss asked for is under way.
    resolving: AtomicBool,
    /// One resolution at a time; how many have begun.
    resolution: tokio::sync::Mutex<()>,
    begun: AtomicU64,
    /// What each HTTP/2 connection asks before it replaces itself.
    listed: StillListed,
    /// When the last resolution began, in milliseconds from `origin`.
    last_resolution_ms: AtomicU64,
    origin: Instant,
}

#[derive(Clone)]
struct Channel {
    addr: SocketAddr,
    /// The address's HTTP/2 connections (none on HTTP/1.1).
    http2: Vec<Redialled>,
}

/// One task's handle on a balanced client: its own view of the addresses (its handles on the
/// HTTP/2 connections, or its HTTP/1.1 connections), refreshed when a resolution changed them.
pub(crate) struct Balanced {
    shared: Arc<Shared>,
    seen: u64,
    view: Vec<Turn>,
    next: usize,
}

/// One turn of the round robin: an HTTP/2 connection, or an address and this task's HTTP/1.1
/// connection to it.
enum Turn {
    Http2(Redialled),
    Http1(Http1Turn),
}

/// An address, this task's HTTP/1.1 connection to it, and whether a connection of the task's
/// to it has closed (the next one is opened only if the address is still listed).
struct Http1Turn {
    addr: SocketAddr,
    connection: Option<Http1Connection>,
    lost: bool,
}

impl Http1Turn {
    /// An address this task has no connection to yet.
    fn new(addr: SocketAddr) -> Self {
        Self { addr, connection: None, lost: false }
    }
}

impl Clone for Turn {
    /// A clone shares the HTTP/2 connection, and opens an HTTP/1.1 connection of its own.
    fn clone(&self) -> Self {
        match self {
            Turn::Http2(connection) => Turn::Http2(connection.clone()),
            Turn::Http1(turn) => Turn::Http1(Http1Turn::new(turn.addr)),
        }
    }
}

impl Turn {
    fn addr(&self) -> SocketAddr {
        match self {
            Turn::Http2(connection) => connection.addr(),
            Turn::Http1(turn) => turn.addr,
        }
    }
}

/// A reply, as the transport of the address it came from reads it.
pub(crate) enum Answered {
    Http2(Received),
    Http1(StatusCode, ServedBy, Bytes),
}

impl std::fmt::Debug for Balanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<SocketAddr> = self.view.iter().map(Turn::addr).collect();
        write!(f, "Balanced({} over {addrs:?})", self.shared.answer)
    }
}

impl Clone for Balanced {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            seen: self.seen,
            view: self.view.clone(),
            next: self.next,
        }
    }
}

impl Balanced {
    /// Asks `answer` for the addresses, connects to each (HTTP/2 now, HTTP/1.1 at each task's
    /// first call there), and asks again every `every` for as long as the client lives.
    pub(crate) async fn connect(
        answer: Answer,
        every: Duration,
        dialling: Dialling,
        tls: Option<ClientTls>,
        counters: Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new_cyclic(|shared: &std::sync::Weak<Shared>| {
            let shared = shared.clone();
            let listed: StillListed = Arc::new(move |addr| {
                let shared = shared.clone();
                Box::pin(async move {
                    match shared.upgrade() {
                        Some(shared) => shared.still_listed(addr).await,
                        None => false,
                    }
                })
            });
            Shared {
                answer,
                dialling,
                tls,
                counters,
                channels: RwLock::new(Arc::new(Vec::new())),
                generation: AtomicU64::new(0),
                due: AtomicBool::new(false),
                lost: AtomicBool::new(false),
                resolving: AtomicBool::new(false),
                resolution: tokio::sync::Mutex::new(()),
                begun: AtomicU64::new(0),
                listed,
                last_resolution_ms: AtomicU64::new(0),
                origin: Instant::now(),
            }
        });
        shared.resolve().await?;
        anyhow::ensure!(
            !shared.channels.read().expect("no holder panics").is_empty(),
            "{} gave no address to connect to",
            shared.answer
        );
        let timer = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at((Instant::now() + every).into(), every);
            loop {
                ticks.tick().await;
                let Some(shared) = timer.upgrade() else { break };
                shared.due.store(true, Ordering::Relaxed);
            }
        });
        let mut balanced = Self { shared, seen: u64::MAX, view: Vec::new(), next: 0 };
        balanced.refresh();
        Ok(balanced)
    }

    /// The handle task number `task` uses: its turns start at its own address.
    pub(crate) fn for_task(&self, task: usize) -> Self {
        let mut handle = self.clone();
        handle.next = task % self.view.len().max(1);
        handle
    }

    /// How many connections are open at once: each HTTP/2 address's, or one per task and
    /// address on HTTP/1.1.
    pub(crate) fn connections(&self, concurrency: usize) -> usize {
        match self.shared.dialling {
            Dialling::Http2 { .. } => self.view.len(),
            Dialling::Http1 { .. } => self.view.len() * concurrency,
        }
    }

    /// One call, to the next address that can take it.
    pub(crate) async fn call(&mut self, retry: Retry) -> Result<Answered, CallError> {
        self.shared.resolve_if_asked();
        self.refresh();
        let mut unreachable = String::from("no server in the answer");
        for _ in 0..self.view.len() {
            let turn = self.next;
            self.next = (turn + 1) % self.view.len();
            let result = match &mut self.view[turn] {
                Turn::Http2(connection) => connection.call(retry).await.map(Answered::Http2),
                Turn::Http1(turn) => self.shared.call_http1(turn, retry).await,
            };
            match result {
                Err(CallError::Unreachable(why)) => {
                    self.shared.lost.store(true, Ordering::Relaxed);
                    unreachable = why;
                }
                Err(error @ CallError::Transport(_)) => {
                    self.shared.lost.store(true, Ordering::Relaxed);
                    return Err(error);
                }
                done => return done,
            }
        }
        self.shared.lost.store(true, Ordering::Relaxed);
        Err(CallError::Unreachable(unreachable))
    }

    /// Takes the latest addresses, when a resolution changed them: keeps this task's
    /// connections to the addresses still there, and starts at the same place in the turn.
    fn refresh(&mut self) {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation == self.seen {
            return;
        }
        let channels = self.shared.channels.read().expect("no holder panics").clone();
        let mut kept = std::mem::take(&mut self.view);
        for channel in channels.iter() {
            match &self.shared.dialling {
                Dialling::Http2 { .. } => {
                    self.view.extend(channel.http2.iter().cloned().map(Turn::Http2));
                }
                Dialling::Http1 { .. } => {
                    let addr = channel.addr;
                    let turn = kept.iter_mut().find_map(|turn| match turn {
                        Turn::Http1(turn) if turn.addr == addr => {
                            Some(std::mem::replace(turn, Http1Turn::new(addr)))
                        }
                        _ => None,
                    });
                    self.view.push(Turn::Http1(turn.unwrap_or_else(|| Http1Turn::new(addr))));
                }
            }
        }
        self.next %= self.view.len().max(1);
        self.seen = generation;
    }
}

impl Shared {
    /// Starts a resolution in a task of its own when the timer or a lost connection asked for
    /// one (a loss at most once a second) and none is under way.
    /// Takes `self` by reference: it runs on every call, and cloning the `Arc` there would bump
    /// one reference count from every task; only a resolution's task holds a clone.
    fn resolve_if_asked(self: &Arc<Self>) {
        let due = self.due.load(Ordering::Relaxed);
        if !due && !self.lost.load(Ordering::Relaxed) {
            return;
        }
        let since_last =
            self.elapsed_ms().saturating_sub(self.last_resolution_ms.load(Ordering::Relaxed));
        if !due && since_last < LEAST_BETWEEN_LOSSES.as_millis() as u64 {
            return;
        }
        if self.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            if let Err(error) = shared.resolve().await {
                tracing::warn!("resolving {} again: {error:#}; the addresses stay", shared.answer);
            }
            shared.resolving.store(false, Ordering::Release);
        });
    }

    /// Whether `addr` is among the servers in an answer asked for after this was called
    /// (waiting for one under way, then asking again unless another began meanwhile). A
    /// failed resolution keeps the addresses as they were.
    async fn still_listed(&self, addr: SocketAddr) -> bool {
        let seen = self.begun.load(Ordering::Acquire);
        let since = {
            let _finished = self.resolution.lock().await;
            self.begun.load(Ordering::Acquire)
        };
        // `begun` counts a resolution as it takes the lock: one under way when this was called
        // is in `seen`, and one counted since began after, and has ended.
        let fresh = since > seen;
        if !fresh && let Err(error) = self.resolve().await {
            tracing::warn!("resolving {} again: {error:#}; the addresses stay", self.answer);
        }
        let channels = self.channels.read().expect("no holder panics");
        channels.iter().any(|channel| channel.addr == addr)
    }

    /// One call on this task's HTTP/1.1 connection to `turn`'s address: a new connection once
    /// the last has closed only if the address is still listed.
    async fn call_http1(&self, turn: &mut Http1Turn, retry: Retry) -> Result<Answered, CallError> {
        let Dialling::Http1 { request } = &self.dialling else {
            unreachable!("HTTP/1.1 turns are made for HTTP/1.1 dialling")
        };
        if turn.lost {
            if !self.still_listed(turn.addr).await {
                return Err(CallError::Unreachable(format!("{} is no longer listed", turn.addr)));
            }
            turn.lost = false;
        }
        let reused = turn.connection.is_some();
        let (tls, counters) = (self.tls.as_ref(), &self.counters);
        let result = call_http1(turn.addr, tls, counters, &mut turn.connection, request, retry);
        let result = result.await;
        turn.lost = reused && turn.connection.is_none();
        result.map(|(status, served_by, body)| Answered::Http1(status, served_by, body))
    }

    fn elapsed_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Asks the answer, and if its addresses changed, connects to the new ones and publishes
    /// them with the connections to the ones that stayed; one resolution at a time.
    async fn resolve(&self) -> anyhow::Result<()> {
        let _one = self.resolution.lock().await;
        self.begun.fetch_add(1, Ordering::AcqRel);
        self.due.store(false, Ordering::Relaxed);
        self.lost.store(false, Ordering::Relaxed);
        self.last_resolution_ms.store(self.elapsed_ms(), Ordering::Relaxed);
        self.take_answer().await
    }

    async fn take_answer(&self) -> anyhow::Result<()> {
        let mut addrs = self.answer.addresses().await?;
        let mut seen = std::collections::HashSet::new();
        addrs.retain(|addr| seen.insert(*addr));
        let current = self.channels.read().expect("no holder panics").clone();
        if current.iter().map(|channel| channel.addr).eq(addrs.iter().copied()) {
            return Ok(());
        }
        let mut channels = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if let Some(kept) = current.iter().find(|channel| channel.addr == addr) {
                channels.push(kept.clone());
                continue;
            }
            match self.dial(addr).await {
                Ok(http2) => channels.push(Channel { addr, http2 }),
                // Left out until the next resolution, as a subchannel that is not ready.
                Err(error) => tracing::debug!(%addr, "not connected: {error:#}"),
            }
        }
        *self.channels.write().expect("no holder panics") = Arc::new(channels);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// A new address's HTTP/2 connections (none for HTTP/1.1: each task opens its own).
    async fn dial(&self, addr: SocketAddr) -> anyhow::Result<Vec<Redialled>> {
        let Dialling::Http2 { windows, request, connections } = &self.dialling else {
            return Ok(Vec::new());
        };
        let mut dialled = Vec::with_capacity(*connections);
        for _ in 0..*connections {
            let (tls, counters) = (self.tls.as_ref(), self.counters.clone());
            let listed = Some(self.listed.clone());
            let connection = Redialled::connect(addr, *windows, tls, counters, request, listed);
            dialled.push(connection.await?);
        }
        Ok(dialled)
    }
}
