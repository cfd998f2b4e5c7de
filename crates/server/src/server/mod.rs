//! Runs both ports as one server: binds the listeners, serves the gRPC and REST routers, and
//! shuts both down together (readiness off, drain, hard deadline). The wiring above the two
//! adapters; what the adapters themselves build on is in `serving`.

mod activity;
mod close_order;
mod connections;
mod head_watch;
mod layers;
mod request_id;
mod tls;

pub use request_id::{MAX_CLIENT_REQUEST_ID, REQUEST_ID};

use std::{future::Future, io, net::SocketAddr};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::ServeConfig,
    grpc,
    metrics::Metrics,
    readiness::Readiness,
    rest::{self, AppState},
    serving::{Draining, Sessions},
};
use contract::{facts::BoundAddresses, greeter::Greeter, settings::Profile};
use runtime::Spread;

/// The two bound listeners. Binding is separate from serving so that callers (tests,
/// `compare`) can bind port 0 and learn the ports before the server runs.
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub rest: TcpListener,
}

impl Listeners {
    pub async fn bind(config: &ServeConfig) -> io::Result<Self> {
        Ok(Self {
            grpc: TcpListener::bind(config.grpc_addr).await?,
            rest: TcpListener::bind(config.rest_addr).await?,
        })
    }

    pub fn grpc_addr(&self) -> io::Result<SocketAddr> {
        self.grpc.local_addr()
    }

    pub fn rest_addr(&self) -> io::Result<SocketAddr> {
        self.rest.local_addr()
    }

    pub fn addresses(&self) -> io::Result<BoundAddresses> {
        Ok(BoundAddresses { grpc_addr: self.grpc_addr()?, rest_addr: self.rest_addr()? })
    }
}

/// Serves until `shutdown` resolves, then drains: readiness goes NOT_SERVING on both
/// protocols, new requests are refused (health and readiness still answer), in-flight calls
/// finish, health watches and WebSocket sessions are told to end, the listeners close once
/// every port's connections and every session are done, and whatever is still open at the
/// deadline is cut.
pub async fn run(
    listeners: Listeners,
    config: &ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let health_reporter = tonic_health::server::HealthReporter::new();
    let health_service = grpc::health::Health::new(
        tonic_health::server::HealthService::from_health_reporter(health_reporter.clone()),
        stop.clone(),
    );
    let readiness = Readiness::new(health_reporter).await;
    let greeter = Greeter::new();
    let token = config.access.bearer_token()?;
    let metrics =
        (config.profile == Profile::Default).then(|| Metrics::new(grpc::served_methods()));
    // Set once the server drains; each port's gate refuses new requests from then on.
    let draining = Draining::default();
    let grpc_router = grpc::router(
        greeter.clone(),
        health_service,
        config,
        token.clone(),
        metrics.clone(),
        draining,
    )?;
    let sessions = Sessions::default();
    let body_budget = crate::serving::BodyBudget::new(config.connections.max_body_bytes_held);
    let state = AppState {
        greeter,
        readiness: readiness.clone(),
        metrics,
        sessions: sessions.clone(),
        body_budget,
    };
    let rest_router = rest::router(state, config, token.clone(), draining);
    let name = config.server_name();
    let settings = |port| layers::PortSettings {
        port,
        access: &config.access,
        draining,
        server_name: &name,
        profile: config.profile,
        body_budget,
    };
    let grpc_router = layers::port_front(
        grpc_router,
        settings("grpc"),
        layers::BodyCounting {
            most_per_body: config.grpc.max_message_bytes,
            exhausted: grpc::body_bytes_exhausted,
        },
    )?;
    let rest_router = layers::port_front(
        rest_router,
        settings("rest"),
        layers::BodyCounting {
            most_per_body: config.rest.max_body_bytes,
            exhausted: rest::body_bytes_exhausted,
        },
    )?;

    tracing::info!(
        grpc_addr = %listeners.grpc_addr()?,
        rest_addr = %listeners.rest_addr()?,
        tls = config.tls.tls_cert.is_some(),
        mtls = config.tls.tls_client_ca.is_some(),
        auth = token.is_some(),
        profile = config.profile.as_str(),
        "serving gRPC and REST"
    );
    let deadline = config.shutdown_deadline();
    let tls = tls::acceptor(&config.tls)?.map(|acceptor| connections::Tls {
        acceptor,
        handshake_timeout: config.tls.handshake_timeout(),
    });
    let grpc = connections::Port {
        name: "grpc",
        listener: listeners.grpc,
        app: grpc_router,
        tls: tls.clone(),
        http2: config.http2,
        websocket_over_http2: false,
    };
    let rest = connections::Port {
        name: "rest",
        listener: listeners.rest,
        app: rest_router,
        tls,
        http2: config.http2,
        websocket_over_http2: true,
    };
    let limits = &config.connections;
    let open = connections::OpenConnections::new(sessions.clone());
    // With `per-core`, each port hands its connections in turn to one runtime per core (this
    // one among them); they run until the ports below are done.
    let spread = std::sync::Arc::new(Spread::new(config.runtime)?);
    tracing::info!(runtime = config.runtime.as_str(), runtimes = spread.runtimes(), "runtime");
    let grpc = tokio::spawn(connections::serve(
        grpc,
        limits.clone(),
        stop.clone(),
        deadline,
        open.clone(),
        spread.clone(),
    ));
    let rest = tokio::spawn(connections::serve(
        rest,
        limits.clone(),
        stop.clone(),
        deadline,
        open,
        spread.clone(),
    ));

    shutdown.await;
    tracing::info!(deadline_seconds = deadline.as_secs(), "shutting down: readiness off, draining");
    readiness.set_draining().await;
    draining.start();
    stop.cancel();
    sessions.close_all();
    let (grpc, rest) = tokio::join!(grpc, rest);
    grpc?;
    rest?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Resolves on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C). The handlers are installed
/// when this is called, not when the future is first polled, so that a signal that comes as
/// soon as the ports are announced (`--print-addresses`) is not taken by the default handler,
/// which would end the process without a drain.
pub fn termination_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate()).and_then(|terminate| {
            signal(SignalKind::interrupt()).map(|interrupt| (terminate, interrupt))
        });
        async move {
            match handlers {
                Ok((mut terminate, mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
