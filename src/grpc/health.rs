//! `grpc.health.v1.Health` as tonic-health serves it, except `Watch` on a service this server
//! does not know: gRPC's `health.proto` says that call stays open and first sends
//! `SERVICE_UNKNOWN`, so that a client can wait for a service that comes later, where
//! tonic-health ends it with NOT_FOUND. (`Check` on an unknown service is NOT_FOUND, as the
//! protocol asks.)

use std::pin::Pin;

use futures_util::{Stream, StreamExt as _, stream};
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
}

impl Health {
    pub fn new(inner: HealthService) -> health_server::HealthServer<Self> {
        health_server::HealthServer::new(Self { inner })
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
        match health_server::Health::watch(&self.inner, request).await {
            Ok(statuses) => Ok(statuses.map(|statuses| Box::pin(statuses) as WatchStream)),
            Err(status) if status.code() == Code::NotFound => {
                let unknown = HealthCheckResponse { status: ServingStatus::ServiceUnknown.into() };
                let open = stream::iter([Ok(unknown)]).chain(stream::pending());
                Ok(Response::new(Box::pin(open)))
            }
            Err(status) => Err(status),
        }
    }
}
