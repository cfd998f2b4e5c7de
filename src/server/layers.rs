//! Layers both ports share, outermost first: a request id (`x-request-id`: the client's, or a
//! new UUID; echoed on the response), a tracing span per request that carries the id, so every
//! log line of a request names it, `x-served-by`, CORS (when origins are allowed), and, while
//! the server drains, refusals and `Connection: close` on HTTP/1.1 replies.

use std::time::Duration;

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Method, Request, Version, header::CONNECTION},
    response::Response,
};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;
use tower::{ServiceBuilder, ServiceExt as _, service_fn};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use super::{PortService, connections::App};
use crate::config::AccessConfig;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Names the server (in Kubernetes, the pod) that answered: how `compare` sees the spread.
pub const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// How long a browser may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(3600);

/// The shared layers around a port's service, as one `ServiceBuilder` stack boxed once:
/// `Router::layer` boxed every layer around every route and cloned each box per request
/// (measured: about a third of a SayHello's server CPU).
pub(super) fn shared(
    inner: impl PortService,
    port: &'static str,
    access: &AccessConfig,
    stop: CancellationToken,
    refusal: fn() -> Response,
    server_name: &str,
) -> anyhow::Result<App> {
    let served_by = HeaderValue::from_str(server_name).map_err(|_| {
        anyhow::anyhow!("--server-name {server_name:?} is not a valid header value")
    })?;
    let cors = match access.cors_allow_origins.as_slice() {
        [] => None,
        origins => Some(cors(origins)?),
    };
    let stack = ServiceBuilder::new()
        .boxed_clone()
        .map_response(|response: Response<_>| response.map(Body::new))
        .map_request(|request: Request<Incoming>| request.map(Body::new))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(move |request: &Request<_>| {
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|id| id.to_str().ok())
                .unwrap_or_default();
            // The method and path only when DEBUG logs (TraceLayer's per-request lines) are on:
            // formatting them into every span cost ~3% of a SayHello's server CPU, and at
            // INFO the request id already ties a line to the client's request.
            if tracing::enabled!(target: "tower_http::trace::on_response", tracing::Level::DEBUG) {
                tracing::info_span!(
                    "request",
                    port,
                    request_id,
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            } else {
                tracing::info_span!("request", port, request_id)
            }
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // Which server answered: behind a load balancer, this shows how calls spread.
        .layer(SetResponseHeaderLayer::overriding(SERVED_BY, served_by))
        .option_layer(cors)
        .service(refuse_when_draining(inner, stop, refusal));
    Ok(stack)
}

/// Once the server drains, a new request is refused before it starts (503 on REST,
/// UNAVAILABLE on gRPC) and HTTP/1.1 replies carry `Connection: close`, so that clients move
/// on to another server instead of reusing a connection that is about to close.
fn refuse_when_draining(
    inner: impl PortService,
    stop: CancellationToken,
    refusal: fn() -> Response,
) -> impl PortService {
    service_fn(move |request: axum::extract::Request| {
        let (inner, stop) = (inner.clone(), stop.clone());
        async move {
            let http1 = request.version() <= Version::HTTP_11;
            let mut response =
                if stop.is_cancelled() { refusal() } else { inner.oneshot(request).await? };
            if http1 && stop.is_cancelled() {
                response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }
    })
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
