//! Layers both ports share, outermost first: CORS (when origins are allowed), a request id
//! (`x-request-id`: the client's, or a new UUID; echoed on the response), a tracing span
//! per request that carries the id, so every log line of a request names it, and, while the
//! server drains, `Connection: close` on HTTP/1.1 replies.

use std::time::Duration;

use axum::{
    Router,
    extract::State,
    http::{HeaderName, HeaderValue, Method, Request, Version, header::CONNECTION},
    middleware::{self, Next},
    response::Response,
};
use tokio_util::sync::CancellationToken;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::config::AccessConfig;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Names the server (in Kubernetes, the pod) that answered: how `compare` sees the spread.
pub const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// How long a browser may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(3600);

pub(super) fn shared(
    router: Router,
    port: &'static str,
    access: &AccessConfig,
    stop: CancellationToken,
    refusal: fn() -> Response,
    server_name: &str,
) -> anyhow::Result<Router> {
    let served_by = HeaderValue::from_str(server_name).map_err(|_| {
        anyhow::anyhow!("--server-name {server_name:?} is not a valid header value")
    })?;
    let router = router
        .layer(middleware::from_fn_with_state((stop, refusal), refuse_when_draining))
        // Which server answered: behind a load balancer, this shows how calls spread.
        .layer(SetResponseHeaderLayer::overriding(SERVED_BY, served_by))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(move |request: &Request<_>| {
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|id| id.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!(
                "request",
                port,
                request_id,
                method = %request.method(),
                path = %request.uri().path(),
            )
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    if access.cors_allow_origins.is_empty() {
        return Ok(router);
    }
    Ok(router.layer(cors(&access.cors_allow_origins)?))
}

/// Once the server drains, a new request is refused before it starts (503 on REST,
/// UNAVAILABLE on gRPC) and HTTP/1.1 replies carry `Connection: close`, so that clients move
/// on to another server instead of reusing a connection that is about to close.
async fn refuse_when_draining(
    State((stop, refusal)): State<(CancellationToken, fn() -> Response)>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let http1 = request.version() <= Version::HTTP_11;
    let mut response = if stop.is_cancelled() { refusal() } else { next.run(request).await };
    if http1 && stop.is_cancelled() {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let origins = origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin.trim()).map_err(|_| {
                anyhow::anyhow!("--cors-allow-origin {origin:?} is not a valid origin")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let header = HeaderName::from_static;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header("content-type"),
            header("accept"),
            header("authorization"),
            header("x-request-id"),
            // gRPC-Web clients send these.
            header("x-grpc-web"),
            header("x-user-agent"),
            header("grpc-timeout"),
        ])
        .expose_headers([
            header("x-request-id"),
            header("grpc-status"),
            header("grpc-message"),
            header("grpc-status-details-bin"),
        ])
        .max_age(CORS_MAX_AGE))
}
