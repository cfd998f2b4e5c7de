//! The REST adapter: every Greeter RPC as a route under `/v1/`, health and readiness, the
//! OpenAPI document at `/openapi.json` and interactive docs at `/docs`, as one axum router
//! that `server` serves on the REST port.

pub(crate) mod chat;
mod coalesce;
pub(crate) mod encoding;
mod endpoint;
mod error;
pub(crate) mod extract;
mod guard;
mod health;
mod metrics;
pub mod openapi;
mod record_schemas;
pub(crate) mod routes;

pub(crate) use contract::rest_api::media_types;
mod stream;
mod unary;

use axum::{Router, routing::get};

use utoipa_swagger_ui::SwaggerUi;

use crate::{
    auth::BearerToken,
    config::ConnectionLimits,
    config::ServeConfig,
    metrics::Metrics,
    readiness::Readiness,
    serving::{Draining, Gate, GateAnswers, PortService, Sessions},
};
use contract::greeter::Greeter;

/// What the REST port's routes read: the domain, the readiness switch, the metrics (none
/// in the lean profile), and the server's WebSocket sessions (counted for its drain, told when
/// to leave). Each route is given only its part, since axum clones a route's state on every
/// request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub greeter: Greeter,
    pub readiness: Readiness,
    pub metrics: Option<Metrics>,
    pub sessions: Sessions,
    /// The request bytes both ports may hold; REST counts decompressed bodies against it too.
    pub body_budget: crate::serving::BodyBudget,
}

/// The OpenAPI document of the REST API, made from the route table: what `/openapi.json`
/// serves and `rpc-vs-rest openapi` prints.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let greeter = routes::GREETER.iter().map(|route| (route.path, route.path_item()));
    let health = routes::HEALTH.iter().map(|route| (route.path, route.path_item()));
    openapi::document(greeter.chain(health))
}

/// What a request gets once the server drains: 503 in the API's error shape.
fn draining_refusal(_: &http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    error::Refusal::Draining.into_response()
}

/// What a request whose headers are over the limit gets: 431 in the API's error shape.
fn headers_too_large(_: &http::HeaderMap, limit: usize) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    error::headers_too_large(limit).into_response()
}

/// What a request body fails with past the server's body budget (`serving::BodyBudget`); its
/// handler answers 503 in the API's error shape.
pub fn body_bytes_exhausted() -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(crate::serving::BodyBytesExhausted)
}

/// While draining, liveness stays 200 (the process is finishing its calls, not broken) and
/// readiness answers its own `NOT_SERVING`.
fn serves_while_draining(path: &str) -> bool {
    routes::HEALTH.iter().any(|route| route.path == path)
}

/// Where the interactive docs and the OpenAPI document are served.
const DOCS: &str = "/docs";
const OPENAPI: &str = "/openapi.json";

/// The routes the docs add (Swagger UI redirects `/docs` to `/docs/`), as the metrics count
/// them.
const DOCS_PATHS: [&str; 4] = [DOCS, "/docs/", "/docs/{*rest}", OPENAPI];

/// The REST API as plain axum: every documented route (the Greeter's, health and readiness),
/// the docs, and the API's own answers to unknown routes and methods. No token, limits or
/// metrics: what our server adds around it is in [`router`]. The same-API baseline
/// (`examples/same_api_axum.rs`) serves exactly this through `axum::serve`, so that the
/// comparison can tell what the REST contract costs from what our server adds.
pub fn api(greeter: Greeter, readiness: Readiness) -> Router {
    let session = session_limits(&ConnectionLimits::default(), Sessions::default());
    documented(greeter, readiness, None, None, session)
}

/// What bounds a chat session: the request timeout for each message, the idle timeout for
/// any frame, and the server's drain.
fn session_limits(limits: &ConnectionLimits, sessions: Sessions) -> chat::SessionLimits {
    chat::SessionLimits {
        message_timeout: limits.request_timeout(),
        idle_timeout: limits.idle_timeout(),
        sessions,
    }
}

/// The REST port's router. The Greeter routes sit behind the bearer token (if any), and the
/// front (`guard::guarded`) bounds them with load shedding and the request timeout; health,
/// readiness and the docs stay open and unbounded, so an overloaded server still answers its
/// probes. `/metrics` is there when metrics are.
pub fn router(
    state: AppState,
    config: &ServeConfig,
    token: Option<BearerToken>,
    draining: Draining,
) -> impl PortService {
    let AppState { greeter, readiness, metrics, sessions, body_budget } = state;
    let calls = metrics.as_ref().map(metrics::RestCalls::new);
    let session = session_limits(&config.connections, sessions);
    let router = documented(greeter, readiness, token, metrics.as_ref(), session);
    let answers = GateAnswers { headers_too_large, draining_refusal, serves_while_draining };
    let gate = Gate::new(draining, &config.connections, answers);
    let max_body_bytes = config.rest.max_body_bytes;
    guard::guarded(router, &config.connections, max_body_bytes, calls, body_budget, gate)
}

/// The documented routes, with the token on the Greeter's and `/metrics` when given; the
/// fallbacks come last, so that they cover every route. The WebSocket chat is told what bounds
/// its sessions.
fn documented(
    greeter: Greeter,
    readiness: Readiness,
    token: Option<BearerToken>,
    metrics: Option<&Metrics>,
    session: chat::SessionLimits,
) -> Router {
    let api = routes::GREETER.iter().fold(Router::new(), |api, route| {
        let served = route.method_router();
        // Only the chat's requests carry the extension: the others pay nothing for it.
        let served = if route.path == routes::CHAT.path {
            served.layer(axum::Extension(session.clone()))
        } else {
            served
        };
        api.route(route.path, served)
    });
    let api = guard::require_token(api, token).with_state(greeter);
    let health = routes::HEALTH
        .iter()
        .fold(Router::new(), |health, route| health.route(route.path, route.method_router()))
        .with_state(readiness);
    let mut router = Router::new()
        .merge(api)
        .merge(health)
        .merge(SwaggerUi::new(DOCS).url(OPENAPI, openapi_document()));
    if let Some(metrics) = metrics {
        router = router.route(metrics::PATH, get(metrics::serve).with_state(metrics.clone()));
    }
    router.fallback(error::not_found).method_not_allowed_fallback(error::method_not_allowed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// What a router serves, path by path, with the methods its `Allow` names. axum offers no
    /// way to list a router's routes; its `Debug` form names each route's path and `Allow`, and
    /// this reads them from there (a change of that form fails here, loudly, not in silence).
    fn served_routes(router: &Router) -> BTreeMap<String, String> {
        let text = format!("{router:?}");
        // The routes proper come first; the fallbacks' own router after them.
        let routes = text.split("fallback_router:").next().unwrap_or_default();
        let allow_by_id: BTreeMap<&str, &str> =
            regex::Regex::new(r#"RouteId\((\d+)\): MethodRouter\(MethodRouter \{[^}]*allow_header: Bytes\(b"([^"]*)"\)"#)
                .unwrap()
                .captures_iter(routes)
                .map(|found| (found.get(1).unwrap().as_str(), found.get(2).unwrap().as_str()))
                .collect();
        let served: BTreeMap<String, String> = regex::Regex::new(r#"RouteId\((\d+)\): "([^"]*)""#)
            .unwrap()
            .captures_iter(routes)
            .map(|found| {
                let path = found[2].to_owned();
                let allow = allow_by_id.get(&found[1]).copied().unwrap_or("?");
                (path, allow.to_owned())
            })
            .collect();
        assert!(
            served.len() >= 10,
            "could not read the routes from the router's Debug form: {text}"
        );
        served
    }

    /// The router the REST port serves (all but the front that bounds it), with metrics on.
    async fn served() -> BTreeMap<String, String> {
        let readiness = Readiness::new(tonic_health::server::HealthReporter::new()).await;
        let metrics = Metrics::new(Vec::new());
        let session = session_limits(&ConnectionLimits::default(), Sessions::default());
        let router = documented(Greeter::new(), readiness, None, Some(&metrics), session);
        served_routes(&router)
    }

    /// Walks the router: every route it serves is in the document with the same methods (GET
    /// also answers HEAD), save the docs and `/metrics`, which are not part of the API; and
    /// every documented operation is served.
    #[tokio::test]
    async fn the_router_serves_exactly_the_documented_operations() {
        let document = serde_json::to_value(openapi_document()).unwrap();
        let documented: BTreeMap<String, String> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(path, item)| {
                let methods =
                    item.as_object().unwrap().keys().map(|method| match method.as_str() {
                        "get" => "GET,HEAD".to_owned(),
                        other => other.to_uppercase(),
                    });
                (path.clone(), methods.collect::<Vec<_>>().join(","))
            })
            .collect();
        let mut served = served().await;
        for path in DOCS_PATHS.into_iter().chain([metrics::PATH]) {
            assert!(served.remove(path).is_some(), "{path} is not served");
        }
        for (path, allow) in &served {
            assert_eq!(
                documented.get(path),
                Some(allow),
                "{path} is served with {allow}, the document says {:?}",
                documented.get(path)
            );
        }
        assert_eq!(served.len(), documented.len(), "documented but not served: {documented:?}");
    }
}
