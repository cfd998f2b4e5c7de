//! The accept loop both ports share: one hyper connection per socket (HTTP/1.1 or HTTP/2 by
//! prior knowledge, upgrades allowed), TCP_NODELAY on every socket, and a graceful drain
//! bounded by a deadline, since hyper's own graceful shutdown waits for ever on a stuck peer.

use std::time::Duration;

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// How long to back off after a failed accept (out of file descriptors, say) before trying
/// again, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(super) async fn serve(
    port_name: &'static str,
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    drain_deadline: Duration,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    // Without it, small HTTP/2 frames wait on the peer's delayed ACK (~40 ms).
                    if let Err(error) = socket.set_nodelay(true) {
                        tracing::debug!(%error, %peer, "could not set TCP_NODELAY");
                    }
                    let service = TowerToHyperService::new(app.clone());
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(socket), service)
                        .into_owned();
                    let connection = graceful.watch(connection);
                    connections.spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(port = port_name, %peer, %error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(port = port_name, %error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    drop(listener);
    let open = connections.len();
    if tokio::time::timeout(drain_deadline, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            port = port_name,
            open,
            "drain deadline passed; cutting the remaining connections"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
