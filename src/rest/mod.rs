//! The REST adapter: every Greeter RPC as a route under `/v1/`, health and readiness, the
//! OpenAPI document at `/openapi.json` and interactive docs at `/docs`, as one axum router
//! that `server` serves on the REST port.

mod chat;
mod coalesce;
mod encoding;
mod error;
mod extract;
mod greeter_routes;
mod guard;
mod health;
pub mod openapi;
mod stream;

use axum::{
    Router,
    routing::{get, post},
};

use utoipa_swagger_ui::SwaggerUi;

use crate::{
    auth::BearerToken,
    config::ServeConfig,
    greeter::Greeter,
    metrics::{self, Metrics},
    port::PortService,
    readiness::Readiness,
};

/// What the REST port's routes read: the domain, the readiness switch, and the metrics (none
/// in the lean profile). Each route is given only its part, since axum clones a route's state
/// on every request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub greeter: Greeter,
    pub readiness: Readiness,
    pub metrics: Option<Metrics>,
}

/// What a request gets once the server drains: 503 in the API's error shape.
pub fn draining_refusal() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    error::ApiError::new(error::Code::Unavailable, "the server is shutting down").into_response()
}

/// What a request whose headers are over the limit gets: 431 in the API's error shape.
pub fn headers_too_large(limit: usize) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    error::ApiError::with_status(
        axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        error::Code::ResourceExhausted,
        format!("the request's headers are larger than this server accepts ({limit} bytes)"),
    )
    .into_response()
}

/// While draining, liveness stays 200 (the process is finishing its calls, not broken) and
/// readiness answers its own `NOT_SERVING`.
pub fn serves_while_draining(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// The REST port's router. The Greeter routes sit behind the bearer token (if any), and the
/// front (`guard::front`) bounds them with load shedding and the request timeout; health,
/// readiness and the docs stay open and unbounded, so an overloaded server still answers its
/// probes. `/metrics` is there when metrics are.
pub fn router(
    state: AppState,
    config: &ServeConfig,
    token: Option<BearerToken>,
) -> impl PortService {
    let AppState { greeter, readiness, metrics } = state;
    let api = Router::new()
        .route("/v1/greeter/hello", post(greeter_routes::say_hello))
        .route("/v1/greeter/hello/{name}", get(greeter_routes::say_hello_by_path))
        .route("/v1/greeter/hello-again", post(greeter_routes::say_hello_again))
        .route("/v1/greeter/hello/{name}/stream", get(stream::say_hello_stream))
        .route("/v1/greeter/chat", get(chat::chat))
        .route("/v1/greeter/batch", post(greeter_routes::say_hello_batch));
    let api = guard::require_token(api, token).with_state(greeter);
    let mut router = Router::new()
        .merge(api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz).with_state(readiness))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::document()));
    if let Some(metrics) = &metrics {
        router = router.route("/metrics", get(metrics::serve).with_state(metrics.clone()));
    }
    let router =
        router.fallback(error::not_found).method_not_allowed_fallback(error::method_not_allowed);
    let router = match metrics {
        Some(metrics) => metrics::record_rest_calls(router, metrics),
        None => router,
    };
    guard::front(router, &config.connections, config.rest.max_body_bytes)
}
