//! How a process of this project schedules its async work, a setting every Rust server of the
//! comparison honours (`serve --runtime`, and the examples through `RPC_VS_REST_RUNTIME`):
//!
//! - `per-core` (the default): one current-thread runtime per usable core, each serving whole
//!   connections (handed out in turn by one acceptor): a connection, its streams' tasks and
//!   its timers stay on one thread, with no cross-thread wakes. One connection then uses one
//!   core at most.
//! - `multi-thread`: tokio's work-stealing runtime, one worker per usable core. Any task may
//!   run on any core; hyper's HTTP/2 server spawns a task per stream, so every gRPC call is a
//!   task a worker may steal, and each of its wakes may cross threads.
//!
//! "Usable cores" are the ones the process may run on (its CPU affinity), capped by its CPU
//! quota rounded up (cgroup `cpu.max` or `cpu.cfs_quota_us`): what a pod with
//! `limits.cpu: "1"` gets is one runtime, not one per core of the node.
//!
//! [`allocator`]: which global allocator the process uses (a cargo feature of this crate).

pub mod allocator;

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures_util::Stream;
use tokio::{
    net::TcpStream,
    runtime::{Builder, Handle, Runtime},
    sync::{mpsc, oneshot},
};

/// The environment variable `serve --runtime` reads, and the examples too.
pub const RUNTIME_ENV: &str = "RPC_VS_REST_RUNTIME";

/// How the process schedules its async work: see the module's comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// tokio's work-stealing runtime over every usable core.
    MultiThread,
    /// One current-thread runtime per usable core, each serving whole connections: the
    /// default, since it serves more calls for less CPU on one core and on two, most of all
    /// over HTTP/2 (docs/comparison.md, "Tuning").
    #[default]
    PerCore,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::MultiThread => "multi-thread",
            RuntimeKind::PerCore => "per-core",
        }
    }

    /// From `RPC_VS_REST_RUNTIME` (default `per-core`), for programs without our command
    /// line: the baselines read the same variable as `serve`.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(RUNTIME_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(Self::default()),
            Ok(value) => <Self as clap::ValueEnum>::from_str(&value, true).map_err(|_| {
                anyhow::anyhow!("{RUNTIME_ENV}={value:?}: expected multi-thread or per-core")
            }),
            Err(error) => Err(anyhow::anyhow!("{RUNTIME_ENV}: {error}")),
        }
    }

    /// The runtime the process's main future runs on: the multi-thread one, or the first of
    /// the per-core ones (the others are [`Spread`]'s, started by whoever serves).
    pub fn build(self) -> io::Result<Runtime> {
        match self {
            RuntimeKind::MultiThread => Builder::new_multi_thread().enable_all().build(),
            RuntimeKind::PerCore => Builder::new_current_thread().enable_all().build(),
        }
    }
}

/// The cores this process may use: its CPU affinity, capped by its CPU quota rounded up.
pub fn usable_cores() -> usize {
    num_cpus::get().max(1)
}

/// The runtimes connections are spread over: the caller's own, and with `per-core` one
/// current-thread runtime more on a thread of its own per further usable core. Dropping it
/// stops those threads' runtimes (and whatever still runs on them).
#[derive(Debug)]
pub struct Spread {
    /// The other runtimes' handles; the caller's own runtime is not among them.
    others: Vec<Handle>,
    /// Dropped to stop the other runtimes.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Spread {
    /// Every connection on the caller's runtime: what `multi-thread` does (its workers share
    /// the connections among themselves).
    pub fn here() -> Self {
        Self { others: Vec::new(), _stop: Vec::new() }
    }

    /// For `kind`: [`Spread::here`], or one runtime per usable core, the caller's among them.
    pub fn new(kind: RuntimeKind) -> io::Result<Self> {
        match kind {
            RuntimeKind::MultiThread => Ok(Self::here()),
            RuntimeKind::PerCore => Self::with_runtimes(usable_cores()),
        }
    }

    /// `runtimes` runtimes in all: the caller's and `runtimes - 1` current-thread ones.
    pub fn with_runtimes(runtimes: usize) -> io::Result<Self> {
        let mut spread = Self::here();
        for index in 1..runtimes {
            let (handle, stop) = start_runtime(index)?;
            spread.others.push(handle);
            spread._stop.push(stop);
        }
        Ok(spread)
    }

    /// How many runtimes serve connections, the caller's included.
    pub fn runtimes(&self) -> usize {
        self.others.len() + 1
    }

    /// The runtime the `n`-th connection goes to, in turn: `None` for the caller's own.
    pub fn runtime_for(&self, n: usize) -> Option<&Handle> {
        match n % self.runtimes() {
            0 => None,
            index => self.others.get(index - 1),
        }
    }
}

/// A current-thread runtime on a thread of its own, running until the sender is dropped.
fn start_runtime(index: usize) -> io::Result<(Handle, oneshot::Sender<()>)> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new().name(format!("runtime-{index}")).spawn(move || {
        let _ = runtime.block_on(stopped);
    })?;
    Ok((handle, stop))
}

/// Serves `serve` on every runtime of `kind`: on one (multi-thread), or on each of one
/// runtime per usable core, each fed its share of the connections `listener` accepts, in
/// turn. `serve` builds a runtime's server over its [`Incoming`] connections (tonic's
/// `serve_with_incoming`, `axum::serve`): how the baselines honour `RPC_VS_REST_RUNTIME`.
/// Returns when the server on the caller's runtime returns.
pub fn serve_on_each<S, F, E>(
    kind: RuntimeKind,
    listener: std::net::TcpListener,
    serve: S,
) -> anyhow::Result<()>
where
    S: Fn(Incoming) -> F,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<anyhow::Error> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    kind.build()?.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let spread = Spread::new(kind)?;
        if spread.runtimes() == 1 {
            return serve(Incoming::Listener(listener)).await.map_err(Into::into);
        }
        // One channel of sockets per runtime, the caller's first, in `Spread`'s order.
        let local_addr = listener.local_addr()?;
        let (senders, mut receivers): (Vec<_>, Vec<_>) =
            (0..spread.runtimes()).map(|_| mpsc::unbounded_channel()).unzip();
        let own = Incoming::Handed { connections: receivers.remove(0), local_addr };
        for (n, connections) in (1..).zip(receivers) {
            let server = serve(Incoming::Handed { connections, local_addr });
            spread.runtime_for(n).expect("a runtime of its own").spawn(async move {
                if let Err(error) = server.await {
                    tracing::error!(error = %error.into(), runtime = n, "server failed");
                }
            });
        }
        let accept = async move {
            for n in 0usize.. {
                let socket = match listener.accept().await {
                    // Off this runtime's reactor, so that the one that serves it registers it.
                    Ok((socket, _)) => socket.into_std(),
                    Err(error) => Err(error),
                };
                match socket {
                    Ok(socket) => {
                        let _ = senders[n % senders.len()].send(socket);
                    }
                    // Out of descriptors, say: back off rather than spin, as `serve` does.
                    Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
                }
            }
        };
        tokio::select! {
            () = accept => Ok(()),
            result = serve(own) => result.map_err(Into::into),
        }
    })
}

/// How long the baselines' acceptor backs off after a failed accept.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// One runtime's connections (with TCP_NODELAY set), as a server library takes them: a [`Stream`] of sockets (tonic's
/// `serve_with_incoming`) and an [`axum::serve::Listener`].
#[derive(Debug)]
pub enum Incoming {
    /// All of the listener's connections.
    Listener(tokio::net::TcpListener),
    /// This runtime's share, handed over by the acceptor.
    Handed { connections: mpsc::UnboundedReceiver<std::net::TcpStream>, local_addr: SocketAddr },
}

impl Stream for Incoming {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = match self.get_mut() {
            Incoming::Listener(listener) => {
                ready!(listener.poll_accept(cx)).map(|(socket, _)| socket)
            }
            Incoming::Handed { connections, .. } => match ready!(connections.poll_recv(cx)) {
                Some(socket) => TcpStream::from_std(socket),
                None => return Poll::Ready(None),
            },
        };
        // TCP_NODELAY, as our server sets it: without it small HTTP/2 frames wait on the
        // peer's delayed ACK.
        Poll::Ready(Some(next.and_then(|socket| socket.set_nodelay(true).map(|()| socket))))
    }
}

#[cfg(feature = "axum")]
impl axum::serve::Listener for Incoming {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let next = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await;
            match next.map(|socket| socket.and_then(|socket| Ok((socket.peer_addr()?, socket)))) {
                Some(Ok((peer, socket))) => return (socket, peer),
                // A failed accept (out of descriptors, say) or a peer gone already: next.
                Some(Err(_)) => tokio::task::yield_now().await,
                // The acceptor has stopped: nothing more will come.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match self {
            Incoming::Listener(listener) => listener.local_addr(),
            Incoming::Handed { local_addr, .. } => Ok(*local_addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_read_from_the_environment_by_its_flag_names() {
        assert_eq!(
            <RuntimeKind as clap::ValueEnum>::from_str("per-core", true),
            Ok(RuntimeKind::PerCore)
        );
        assert_eq!(RuntimeKind::default().as_str(), "per-core");
    }

    #[tokio::test]
    async fn connections_go_to_each_runtime_in_turn() {
        let spread = Spread::with_runtimes(3).unwrap();
        assert_eq!(spread.runtimes(), 3);
        assert!(spread.runtime_for(0).is_none() && spread.runtime_for(3).is_none());
        let names = futures_util::future::join_all((1..3).map(|n| {
            spread.runtime_for(n).unwrap().spawn(async {
                std::thread::current().name().map(str::to_owned).unwrap_or_default()
            })
        }))
        .await;
        let names: Vec<String> = names.into_iter().map(Result::unwrap).collect();
        assert_eq!(names, ["runtime-1", "runtime-2"]);
    }
}
