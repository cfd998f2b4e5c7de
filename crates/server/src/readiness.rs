//! Whether this process wants new work: `/readyz` on the REST port and `grpc.health.v1` on the
//! gRPC port read the same switch, which shutdown turns off before the listeners close.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tonic_health::{ServingStatus, server::HealthReporter};

/// The fully-qualified name health checks and Kubernetes probes ask about, as tonic generates it.
use contract::proto::greeter_server::SERVICE_NAME as GREETER_SERVICE_NAME;

#[derive(Debug, Clone)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    health: HealthReporter,
}

impl Readiness {
    /// Starts ready, and reports SERVING for the whole server (`""`) and for the Greeter.
    pub async fn new(health: HealthReporter) -> Self {
        for service in ["", GREETER_SERVICE_NAME] {
            health.set_service_status(service, ServingStatus::Serving).await;
        }
        Self { ready: Arc::new(AtomicBool::new(true)), health }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Turns readiness off on both protocols, for good: a draining process never comes back.
    pub async fn set_draining(&self) {
        self.ready.store(false, Ordering::SeqCst);
        for service in ["", GREETER_SERVICE_NAME] {
            self.health.set_service_status(service, ServingStatus::NotServing).await;
        }
    }
}
