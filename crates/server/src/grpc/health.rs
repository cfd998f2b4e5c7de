//! `grpc.health.v1.Health` as tonic-health serves it, except `Watch` on a service this server
//! does not know: gRPC's `health.proto` says that call stays open and first sends
//! `SERVICE_UNKNOWN`, so that a client can wait for a service that comes later, where
//! tonic-health ends it with NOT_FOUND. (`Check` on an unknown service is NOT_FOUND, as the
//! protocol asks.) And once the server drains, every `Watch` ends, right after the
//! NOT_SERVING it is owed, with UNAVAILABLE: a watch is a call that never finishes by itself,
//! and an open one would hold every shutdown for the whole drain deadline. A client doing
//! health checking has by then been told NOT_SERVING and GOAWAY; UNAVAILABLE is the status it
//! retries elsewhere.

use std::pin::Pin;

use futures_util::{Stream, StreamExt as _, stream};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status};
use tonic_health::{
    pb::{
        HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
        health_server,
    },
    server::HealthService,
};

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[derive(Debug)]
pub struct Health {
    inner: HealthService,
    draining: CancellationToken,
}

impl Health {
    /// `draining` is cancelled when the server drains.
    pub fn new(
        inner: HealthService,
        draining: CancellationToken,
    ) -> health_server::HealthServer<Self> {
        health_server::HealthServer::new(Self { inner, draining })
    }
}

#[tonic::async_trait]
impl health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        health_server::Health::check(&self.inner, request).await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let statuses: WatchStream = match health_server::Health::watch(&self.inner, request).await {
            Ok(statuses) => Box::pin(statuses.into_inner()),
            Err(status) if status.code() == Code::NotFound => {
                let unknown = HealthCheckResponse { status: ServingStatus::ServiceUnknown.into() };
                Box::pin(stream::iter([Ok(unknown)]).chain(stream::pending()))
            }
            Err(status) => return Err(status),
        };
        Ok(Response::new(until_drained(statuses, self.draining.clone())))
    }
}

/// The watch's statuses until the server drains, then UNAVAILABLE. A status that is ready when
/// the drain begins (the NOT_SERVING it announces) goes out first: the statuses are polled
/// before the drain on every turn.
fn until_drained(statuses: WatchStream, draining: CancellationToken) -> WatchStream {
    let watching = Some((statuses, draining));
    Box::pin(stream::unfold(watching, |watching| async move {
        let (mut statuses, draining) = watching?;
        tokio::select! {
            biased;
            status = statuses.next() => Some((status?, Some((statuses, draining)))),
            () = draining.cancelled() => {
                Some((Err(Status::unavailable(crate::serving::DRAINING)), None))
            }
        }
    }))
}
