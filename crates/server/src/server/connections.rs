//! The accept loop both ports share. Per socket: TCP_NODELAY, a cap on open connections, a
//! deadline for the first bytes (and on HTTP/1.1 for every request head, see `head_watch`),
//! one hyper connection (HTTP/1.1 or HTTP/2 by prior knowledge,
//! upgrades allowed) with header, stream and reset limits, and a graceful close when the
//! connection falls silent. On shutdown: close every connection gracefully, refuse what still
//! arrives until every port's connections are done, then stop accepting,
//! and cut what is left at the drain deadline, since hyper's graceful shutdown waits for ever
//! on a stuck peer.

use std::{sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, oneshot, watch},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::{
    activity::{Activity, TrackedIo},
    close_order::{CloseOrder, close_orders},
    head_watch::HeadWatch,
    layers::ServedPort,
};
use crate::{config::ConnectionLimits, serving::Sessions};
use contract::settings::Http2Windows;
use runtime::Spread;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long to back off after a failed accept (out of file descriptors, say) before trying
/// again, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Once drained, how long the listener must see no new connection before it closes.
const LISTENER_QUIET: Duration = Duration::from_millis(100);

/// RST_STREAMs a client may send for streams the server has not yet accepted, per connection:
/// beyond it the connection is closed with GOAWAY (HTTP/2 rapid reset, CVE-2023-44487).
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;

pub(super) struct Port<A> {
    pub(super) name: &'static str,
    pub(super) listener: TcpListener,
    pub(super) app: A,
    pub(super) tls: Option<Tls>,
    /// The HTTP/2 receive windows the port advertises.
    pub(super) http2: Http2Windows,
    /// Whether the port serves WebSocket over HTTP/2 (RFC 8441) and so advertises
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL: the REST port does, the gRPC port has no WebSocket.
    pub(super) websocket_over_http2: bool,
}

/// The TLS acceptor and how long a handshake may take.
#[derive(Clone)]
pub(super) struct Tls {
    pub(super) acceptor: TlsAcceptor,
    pub(super) handshake_timeout: Duration,
}

/// The open connections of every port, counted together, and the WebSocket sessions that
/// outlive theirs: while any is open, every listener stays open, so that the REST port's
/// liveness and readiness keep answering while gRPC calls finish (and the other way round).
#[derive(Clone, Debug)]
pub(super) struct OpenConnections(Arc<watch::Sender<usize>>, Sessions);

impl OpenConnections {
    pub(super) fn new(sessions: Sessions) -> Self {
        Self(Arc::new(watch::Sender::new(0)), sessions)
    }

    /// Counts a connection until the returned guard is dropped (also when its task is aborted).
    fn count(&self) -> Counted {
        self.0.send_modify(|open| *open += 1);
        Counted(self.clone())
    }
}

struct Counted(OpenConnections);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0.send_modify(|open| *open -= 1);
    }
}

pub(super) async fn serve<A: ServedPort>(
    port: Port<A>,
    limits: ConnectionLimits,
    stop: CancellationToken,
    drain_deadline: Duration,
    every_port: OpenConnections,
    spread: Arc<Spread>,
) {
    let Port { name, listener, app, tls, http2, websocket_over_http2 } = port;
    let mut all_open = every_port.0.subscribe();
    let mut connections = Connections {
        every_port,
        open: JoinSet::new(),
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        port: Arc::new(PortContext {
            name,
            builder: http_builder(&limits, http2, websocket_over_http2),
            app,
            tls,
            limits,
        }),
        stop: stop.clone(),
        spread,
        accepted: 0,
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = connections.open.join_next(), if !connections.open.is_empty() => {}
            accepted = listener.accept() => connections.admit(accepted).await,
        }
    }
    // Draining: the listener stays open while the connections of every port finish, and what
    // still arrives is accepted and refused at the HTTP level (503 / UNAVAILABLE, except
    // health and readiness; see `serving::Gate`). Closing it at once would reset
    // connections the kernel had already completed, which a client cannot tell from a call
    // cut mid-way.
    let deadline = tokio::time::sleep(drain_deadline);
    tokio::pin!(deadline);
    let sessions = connections.every_port.1.clone();
    let mut open_sessions = sessions.watch();
    tracing::info!(
        port = name,
        connections = connections.open.len(),
        sessions = sessions.open(),
        "draining: waiting for this port's connections and the server's WebSocket sessions"
    );
    loop {
        let all_done =
            *all_open.borrow_and_update() == 0 && *open_sessions.borrow_and_update() == 0;
        tokio::select! {
            Some(_) = connections.open.join_next(), if !connections.open.is_empty() => {}
            Ok(()) = all_open.changed() => {}
            Ok(()) = open_sessions.changed() => {}
            // Every connection is done; close once clients have stopped arriving too, since
            // close() resets any the kernel has completed but we have not yet accepted.
            () = tokio::time::sleep(LISTENER_QUIET), if all_done => break,
            () = &mut deadline => {
                let open = connections.open.len();
                if open > 0 {
                    tracing::warn!(port = name, connections = open, "drain deadline passed; cutting this port's remaining connections");
                }
                // Sessions are the REST port's; they end with the process.
                if name == "rest" && sessions.open() > 0 {
                    tracing::warn!(port = name, sessions = sessions.open(), "drain deadline passed; cutting the remaining WebSocket sessions");
                }
                connections.open.abort_all();
                while connections.open.join_next().await.is_some() {}
                break;
            }
            accepted = listener.accept() => connections.admit(accepted).await,
        }
    }
}

/// A port's open connections, and what each new one is served with.
struct Connections<A> {
    every_port: OpenConnections,
    open: JoinSet<()>,
    /// One permit per open connection, up to `max_connections`.
    slots: Arc<Semaphore>,
    port: Arc<PortContext<A>>,
    stop: CancellationToken,
    /// The runtimes this port's connections are handed to in turn.
    spread: Arc<Spread>,
    /// Connections accepted so far: whose turn it is.
    accepted: usize,
}

/// What every connection of a port is served with, shared by them all.
struct PortContext<A> {
    name: &'static str,
    builder: auto::Builder<TokioExecutor>,
    app: A,
    tls: Option<Tls>,
    limits: ConnectionLimits,
}

impl<A: ServedPort> Connections<A> {
    /// Serves an accepted socket, or closes it at once when the port is full.
    async fn admit(&mut self, accepted: std::io::Result<(TcpStream, std::net::SocketAddr)>) {
        let name = self.port.name;
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(port = name, %error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                return;
            }
        };
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(port = name, %peer, limit = self.port.limits.max_connections, "connection limit reached; closing");
            return;
        };
        // A token of the connection's own: its task polls it on every wake, and polling the
        // server's token there took a mutex that every connection on every core shares
        // (tokio's Notify locks its waiter list each time a waiting future is polled).
        let (port, stop) = (self.port.clone(), self.stop.child_token());
        let counted = self.every_port.count();
        let done = move |result: Result<(), BoxError>| {
            if let Err(error) = result {
                tracing::debug!(port = name, %peer, %error, "connection ended with an error");
            }
            drop(permit);
            drop(counted);
        };
        let turn = self.accepted;
        self.accepted = self.accepted.wrapping_add(1);
        match self.spread.runtime_for(turn) {
            None => {
                let connection = serve_connection(socket, port, stop);
                self.open.spawn(async move { done(connection.await) });
            }
            Some(runtime) => {
                // Off this runtime's reactor, so that the runtime that serves it registers it
                // with its own: its wakes then stay on that runtime's thread.
                let socket = match socket.into_std() {
                    Ok(socket) => socket,
                    Err(error) => return done(Err(error.into())),
                };
                self.open.spawn_on(
                    async move {
                        let connection = match TcpStream::from_std(socket) {
                            Ok(socket) => serve_connection(socket, port, stop).await,
                            Err(error) => Err(error.into()),
                        };
                        done(connection)
                    },
                    runtime,
                );
            }
        }
    }
}

fn http_builder(
    limits: &ConnectionLimits,
    windows: Http2Windows,
    websocket_over_http2: bool,
) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header-read timer of hyper's: it costs every HTTP/1.1 request a timer of its own,
    // and `head_watch` keeps the same bound per connection.
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(super::layers::stack_header_limit(limits.max_header_bytes));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(
            u32::try_from(super::layers::stack_header_limit(limits.max_header_bytes))
                .unwrap_or(u32::MAX),
        )
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
        .initial_stream_window_size(windows.stream)
        .initial_connection_window_size(windows.connection)
        .adaptive_window(windows.adaptive);
    if websocket_over_http2 {
        builder.http2().enable_connect_protocol();
    }
    builder
}

async fn serve_connection<A: ServedPort>(
    socket: TcpStream,
    port: Arc<PortContext<A>>,
    stop: CancellationToken,
) -> Result<(), BoxError> {
    // Without it, small HTTP/2 frames wait on the peer's delayed ACK (~40 ms).
    socket.set_nodelay(true)?;
    if let Some(tls) = &port.tls {
        let Ok(handshake) =
            tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(socket)).await
        else {
            return Ok(());
        };
        let stream = handshake?;
        let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        return Box::pin(drive(stream, http2, &port, stop)).await;
    }
    // A client that connects and says nothing never reaches hyper's own header timeout.
    let mut first_bytes = [0u8; 3];
    let header_read_timeout = port.limits.header_read_timeout();
    match tokio::time::timeout(header_read_timeout, socket.peek(&mut first_bytes)).await {
        Ok(Ok(0)) | Err(_) => Ok(()),
        Ok(Err(error)) => Err(error.into()),
        // The HTTP/2 connection preface starts "PRI * HTTP/2.0".
        Ok(Ok(n)) => {
            let http2 = first_bytes[..n] == b"PRI"[..n];
            Box::pin(drive(socket, http2, &port, stop)).await
        }
    }
}

/// Serves HTTP on an established (plain or TLS) stream until it ends, closing it gracefully
/// on shutdown or when it falls silent.
async fn drive<T, A>(
    stream: T,
    http2: bool,
    port: &PortContext<A>,
    stop: CancellationToken,
) -> Result<(), BoxError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: ServedPort,
{
    let activity = Activity::new();
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    // HTTP/1.1's slow-header defence, kept by this connection's watcher (`head_watch`).
    let heads = (!http2).then(|| HeadWatch::new(activity.clone()));
    let app = port.app.for_connection(heads.clone());
    // On the heap: hyper's connection (both protocols' state machines) is tens of kilobytes,
    // which every move of the futures that hold it would copy.
    let mut connection = Box::pin(port.builder.serve_connection_with_upgrades(io, app));
    // The reasons to close gracefully are watched by a task of their own, which sends word
    // here: polled beside the connection, they cost a timer poll and a lock on every wake of
    // this task, which is every request on HTTP/1.1.
    // HTTP/2 gets GOAWAY at once on shutdown or at its maximum age, which tells the client which
    // calls were taken.
    // HTTP/1.1 replies carry `Connection: close` once the server drains; a keep-alive
    // connection is closed only once quiet, so a request already on its way is not cut. A
    // connection opened while the server already drains is closed once quiet too, whatever its
    // protocol: a GOAWAY before its first request would reach the client as a reset stream,
    // where the refusal it gets instead (503 / UNAVAILABLE) says to go elsewhere.
    let close_when_quiet = !http2 || stop.is_cancelled();
    // A slow-header client is cut (the connection dropped, as hyper's own timeout did):
    // closing gracefully would wait for the head it is trickling. So the watcher keeps
    // watching for it after asking for a graceful close, and can still cut.
    let (orders, received) = close_orders();
    // Dropped when this function returns, which tells the watcher to stop watching.
    let (_alive, mut ended) = oneshot::channel::<()>();
    let idle_timeout = port.limits.idle_timeout();
    let header_read_timeout = port.limits.header_read_timeout();
    let (max_age, grace) =
        (port.limits.max_age_of_a_connection(), port.limits.max_connection_age_grace);
    tokio::spawn(async move {
        let overdue = async {
            match &heads {
                Some(heads) => heads.overdue(header_read_timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(overdue);
        let aged = tokio::select! {
            () = drained(&stop, close_when_quiet, &activity) => false,
            () = activity.silent_for(idle_timeout) => false,
            () = after(max_age) => true,
            () = &mut overdue => return orders.give(CloseOrder::Cut),
            _ = &mut ended => return,
        };
        // Past its age, a connection has the grace to finish its calls, then is cut.
        let cut = after(grace.filter(|_| aged));
        tokio::pin!(cut);
        if let (true, Some(heads)) = (aged, &heads) {
            // A graceful close drops an idle HTTP/1.1 connection at once, while its client may
            // be sending a request on it; its next reply says `Connection: close` instead.
            heads.close_after_next_reply();
            tokio::select! {
                () = drained(&stop, close_when_quiet, &activity) => {}
                () = activity.silent_for(idle_timeout) => {}
                () = &mut cut => return orders.give(CloseOrder::Cut),
                () = &mut overdue => return orders.give(CloseOrder::Cut),
                _ = &mut ended => return,
            }
        }
        orders.give(CloseOrder::Gracefully);
        tokio::select! {
            () = cut => orders.give(CloseOrder::Cut),
            () = overdue => orders.give(CloseOrder::Cut),
            _ = ended => {}
        }
    });
    match received.serve_until(connection.as_mut(), CloseOrder::Gracefully).await {
        Ok(result) => return result,
        Err(CloseOrder::Cut) => return Ok(()),
        Err(CloseOrder::Gracefully) => {}
    }
    connection.as_mut().graceful_shutdown();
    received.serve_until(connection.as_mut(), CloseOrder::Cut).await.unwrap_or(Ok(()))
}

/// Resolves `wait` from now; never when there is none.
async fn after(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// How long a connection closed when quiet must be so, once the server drains, to be closed.
const DRAIN_QUIET: Duration = Duration::from_millis(250);

async fn drained(stop: &CancellationToken, when_quiet: bool, activity: &Activity) {
    stop.cancelled().await;
    if when_quiet {
        activity.silent_for(DRAIN_QUIET).await;
    }
}
