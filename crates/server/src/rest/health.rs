//! `/healthz` (the process is alive) and `/readyz` (it wants traffic; 503 while draining).

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;

use crate::readiness::Readiness;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HealthStatus {
    /// `SERVING` or `NOT_SERVING`, as gRPC health reports it.
    status: &'static str,
}

pub(crate) async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "SERVING" })
}

pub(crate) async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, Json<HealthStatus>) {
    if readiness.is_ready() {
        (StatusCode::OK, Json(HealthStatus { status: "SERVING" }))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(HealthStatus { status: "NOT_SERVING" }))
    }
}
