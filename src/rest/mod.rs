//! The REST adapter: every Greeter RPC as a route under `/v1/`, health and readiness, the
//! OpenAPI document at `/openapi.json` and interactive docs at `/docs`, as one axum router
//! that `server` serves on the REST port.

mod chat;
mod encoding;
mod error;
mod extract;
mod greeter_routes;
mod health;
pub mod openapi;
mod stream;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};

use utoipa_swagger_ui::SwaggerUi;

use crate::{config::RestLimits, greeter::Greeter, readiness::Readiness};

#[derive(Debug, Clone)]
pub struct AppState {
    pub greeter: Greeter,
    pub readiness: Readiness,
}

pub fn router(state: AppState, limits: &RestLimits) -> Router {
    Router::new()
        .route("/v1/greeter/hello", post(greeter_routes::say_hello))
        .route("/v1/greeter/hello/{name}", get(greeter_routes::say_hello_by_path))
        .route("/v1/greeter/hello-again", post(greeter_routes::say_hello_again))
        .route("/v1/greeter/hello/{name}/stream", get(stream::say_hello_stream))
        .route("/v1/greeter/chat", get(chat::chat))
        .route("/v1/greeter/batch", post(greeter_routes::say_hello_batch))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::document()))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}
