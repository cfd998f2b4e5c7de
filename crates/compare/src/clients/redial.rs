//! The lean HTTP/2 client's connections kept as a conforming gRPC client keeps them, so that a
//! server that drains or recycles its connections (GOAWAY) or goes away costs no call it never
//! began: a connection closed or going away is replaced by a new one to the same address,
//! dialled by the first task to find it gone while the others wait for it (gRPC's CONNECTING);
//! while dialling fails, calls fail at once until a backoff has passed (gRPC's connection
//! backoff: 1 s, then ×1.6 up to 120 s, ±20 %). A call the server never began (above its
//! GOAWAY's last stream, or refused with REFUSED_STREAM) is sent once more, transparently, as
//! gRFC A6 says, and counted; with `--retry none` it fails as it came.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;

use super::{
    check::{CallError, NotBegun, Retry},
    http2::{Http2Request, Received},
    lean_h2::LeanH2,
    tls::ClientTls,
    wire::WireCounters,
};
use contract::settings::Http2Windows;

/// gRPC's connection backoff (gRPC's connection-backoff.md).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const BACKOFF_MULTIPLIER: f64 = 1.6;
const MAX_BACKOFF: Duration = Duration::from_secs(120);
const BACKOFF_JITTER: f64 = 0.2;

/// How many times one call looks for a live connection before it fails: a connection dialled
/// for it may itself be gone by the time the call is sent.
const MOST_REDIALS: usize = 3;

/// One of a cell's HTTP/2 connections, as a calling task holds it: its handle on the
/// connection it last used, and the slot's dialler, which every task shares.
#[derive(Clone)]
pub(crate) struct Redialled {
    connection: LeanH2,
    dialler: Arc<Dialler>,
}

impl std::fmt::Debug for Redialled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redialled({})", self.dialler.addr)
    }
}

struct Dialler {
    addr: SocketAddr,
    windows: Http2Windows,
    tls: Option<ClientTls>,
    counters: Arc<WireCounters>,
    request: Http2Request,
    current: tokio::sync::Mutex<Dialled>,
    /// Asked before a connection found gone is replaced, by a client that then asks for the
    /// servers' addresses again ([`super::balanced`]).
    listed: Option<StillListed>,
}

/// Whether an address is still among the servers, asked afresh: a lost connection is
/// replaced only if it is, as a balancing gRPC client drops a subchannel its resolver no longer
/// names instead of reconnecting to it.
pub(crate) type StillListed = Arc<dyn Fn(SocketAddr) -> BoxFuture<'static, bool> + Send + Sync>;

/// The slot's latest connection, and whether dialling is failing.
struct Dialled {
    connection: LeanH2,
    /// Until when calls fail at once, with the last dial's error.
    failing: Option<(Instant, String)>,
    backoff: Duration,
}

impl Redialled {
    /// Opens the slot's first connection; with `listed`, a lost one is replaced only while
    /// its address is still listed.
    pub(crate) async fn connect(
        addr: SocketAddr,
        windows: Http2Windows,
        tls: Option<&ClientTls>,
        counters: Arc<WireCounters>,
        request: &Http2Request,
        listed: Option<StillListed>,
    ) -> anyhow::Result<Self> {
        let connection = LeanH2::connect(addr, windows, tls, counters.clone(), request).await?;
        let dialled =
            Dialled { connection: connection.clone(), failing: None, backoff: FIRST_BACKOFF };
        let dialler = Dialler {
            addr,
            windows,
            tls: tls.cloned(),
            counters,
            request: request.clone(),
            current: tokio::sync::Mutex::new(dialled),
            listed,
        };
        Ok(Self { connection, dialler: Arc::new(dialler) })
    }

    /// The address the slot dials.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.dialler.addr
    }

    /// One call, on a live connection, sent once more if the server never began it and
    /// `retry` allows.
    pub(crate) async fn call(&mut self, retry: Retry) -> Result<Received, CallError> {
        let (mut retries, mut redials) = (retry.budget(), 0);
        loop {
            match self.connection.call().await {
                // It never left the client: it goes on a new connection, and is no retry.
                Err(CallError::NotBegun { why: NotBegun::ConnectionGone, detail }) => {
                    if redials == MOST_REDIALS {
                        return Err(CallError::Transport(detail));
                    }
                    redials += 1;
                    self.connection = self.dialler.replace(&self.connection).await?;
                }
                Err(CallError::NotBegun { why, .. }) if retries > 0 => {
                    retries -= 1;
                    self.dialler.counters.count_retry(why);
                }
                Err(CallError::NotBegun { detail, .. }) => {
                    return Err(CallError::Transport(detail));
                }
                done => return done,
            }
        }
    }
}

impl Dialler {
    /// The slot's connection in place of `gone`: the one another task dialled since, or a new
    /// one, unless dialling failed less than a backoff ago.
    async fn replace(&self, gone: &LeanH2) -> Result<LeanH2, CallError> {
        let mut dialled = self.current.lock().await;
        if !dialled.connection.is(gone) {
            return Ok(dialled.connection.clone());
        }
        if let Some(listed) = &self.listed
            && !listed(self.addr).await
        {
            return Err(CallError::Unreachable(format!("{} is no longer listed", self.addr)));
        }
        if let Some((until, why)) = &dialled.failing
            && Instant::now() < *until
        {
            return Err(CallError::Unreachable(why.clone()));
        }
        let tls = self.tls.as_ref();
        match LeanH2::connect(self.addr, self.windows, tls, self.counters.clone(), &self.request)
            .await
        {
            Ok(connection) => {
                dialled.connection = connection.clone();
                dialled.failing = None;
                dialled.backoff = FIRST_BACKOFF;
                Ok(connection)
            }
            Err(error) => {
                let why = format!("connect: {error:#}");
                let jitter = 1.0 + BACKOFF_JITTER * (2.0 * fastrand::f64() - 1.0);
                dialled.failing =
                    Some((Instant::now() + dialled.backoff.mul_f64(jitter), why.clone()));
                dialled.backoff = dialled.backoff.mul_f64(BACKOFF_MULTIPLIER).min(MAX_BACKOFF);
                Err(CallError::Unreachable(why))
            }
        }
    }
}
