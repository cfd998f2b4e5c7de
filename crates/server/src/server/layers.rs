//! Layers both ports share, outermost first: a request id (`x-request-id`: the client's, or a
//! new UUID; echoed on the response), a tracing span per request that carries the id when
//! per-request DEBUG lines are on, a log line for each failed request (with its id),
//! `x-served-by`, CORS (when origins are allowed), and, while the server drains or once the
//! connection is past its maximum age, `Connection: close` on HTTP/1.1 replies (the refusals are each adapter's, through its gate:
//! `serving::Gate`). The lean profile leaves out the request id and the span.
//!
//! Every request passes through here, on both ports alike, so nothing here may cost a request
//! more than a bare server pays: no lock, no value whose clone touches a counter every core
//! shares, and no span that no enabled event will use.

use std::{cell::RefCell, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Method, Request, StatusCode, Version, header::CONNECTION},
    response::Response,
};
use hyper::body::Incoming;
use std::pin::Pin;
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    trace::TraceLayer,
};

use super::head_watch::HeadWatch;
use super::request_id::{REQUEST_ID, ensure_request_id};
use crate::{
    config::AccessConfig,
    serving::{BodyBudget, Draining, FinishReply, Finishing, OpenedBeforeDrain, PortService},
};
use contract::{facts::SERVED_BY, settings::Profile};

/// How long a browser may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(3600);

/// What a port is and how its requests are treated, for [`port_front`].
pub(super) struct PortSettings<'a> {
    pub(super) port: &'static str,
    pub(super) access: &'a AccessConfig,
    /// Whether the server drains: HTTP/1.1 replies then carry `Connection: close`.
    pub(super) draining: Draining,
    pub(super) server_name: &'a str,
    pub(super) profile: Profile,
    /// The request bytes both ports' bodies may hold (see `serving::BodyBudget`).
    pub(super) body_budget: BodyBudget,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared layers around a port's service, served by hyper as they are: one front service
/// (request id, reply front) that each connection calls by reference, around the optional
/// span and CORS layers. A `ServiceBuilder` stack here cost a request a clone of every layer
/// (hyper's tower adapter clones the whole stack per request), a boxed future of its own and
/// a move of the request through each layer: about 2,000 instructions a call, on both ports.
pub(super) fn port_front(
    inner: impl PortService,
    settings: PortSettings<'_>,
    bodies: BodyCounting,
) -> anyhow::Result<impl ServedPort> {
    let PortSettings { port, access, draining, server_name, profile, body_budget } = settings;
    let cors = match access.cors_allow_origins.as_slice() {
        [] => None,
        origins => Some(cors(origins)?),
    };
    let served_by = static_header_value(server_name)?;
    let request_ids = profile == Profile::Default;
    // A span per request only when something will write inside it: the per-request DEBUG
    // lines. Otherwise the only lines a request writes are its failures, and those name the
    // request id themselves (see `PortFront`).
    let spans = request_ids
        && tracing::enabled!(target: "tower_http::trace::on_response", tracing::Level::DEBUG);
    let inner = ServiceBuilder::new()
        .option_layer(spans.then(|| {
            let trace = TraceLayer::new_for_http()
                .make_span_with(move |request: &Request<_>| {
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
                })
                // Failures are logged by `PortFront`, at the level each one deserves.
                .on_failure(());
            ServiceBuilder::new()
                .map_response(|response: Response<_>| response.map(Body::new))
                .layer(trace)
        }))
        .option_layer(cors)
        .service(inner);
    Ok(PortFront { inner, port, served_by, draining, request_ids, budget: body_budget, bodies })
}

/// How a port's request bodies count against the body budget: at most `most_per_body` bytes
/// each (the port's body or message limit), and what a body past the budget fails with, in the
/// port's terms.
#[derive(Clone, Copy)]
pub(super) struct BodyCounting {
    pub(super) most_per_body: usize,
    pub(super) exhausted: fn() -> BoxError,
}

/// What the accept loop serves: a port's front, shared by every connection of the port, which
/// gives each connection a service of its own.
pub(super) trait ServedPort: Send + Sync + 'static {
    type Connection: hyper::service::Service<
            Request<Incoming>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Send
        + 'static;

    /// The service of one connection; `heads` counts its requests when it is HTTP/1.1.
    fn for_connection(&self, heads: Option<Arc<HeadWatch>>) -> Self::Connection;
}

impl<S: PortService + Sync> ServedPort for PortFront<S> {
    type Connection = ConnectionFront<S>;

    fn for_connection(&self, heads: Option<Arc<HeadWatch>>) -> ConnectionFront<S> {
        let opened_before_drain = !self.draining.is_on();
        ConnectionFront { front: RefCell::new(self.clone()), heads, opened_before_drain }
    }
}

/// A port's front on one connection. hyper calls a connection's service by shared reference,
/// and a tower service is called by exclusive one: a front shared by the connections would
/// clone the whole stack of the port's services for every request (two reference counts
/// bumped and dropped, and the copy; about 100 instructions a call). A connection's requests
/// are taken one at a time, by its own task, so its own copy is borrowed instead.
pub(super) struct ConnectionFront<S> {
    front: RefCell<PortFront<S>>,
    /// On HTTP/1.1, the connection's requests and replies, counted for the slow-header
    /// defence (see `head_watch`).
    heads: Option<Arc<HeadWatch>>,
    /// Whether the server had the connection before it began to drain: its requests are
    /// served through the drain (see `serving::Gate`).
    opened_before_drain: bool,
}

impl<S: PortService> hyper::service::Service<Request<Incoming>> for ConnectionFront<S> {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<Finishing<S::Future, FrontOfReply>>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        if let Some(heads) = &self.heads {
            heads.head_taken();
        }
        let mut front = self.front.borrow_mut();
        // Only while draining: an extension costs the request an allocation.
        if self.opened_before_drain && front.draining.is_on() {
            request.extensions_mut().insert(OpenedBeforeDrain);
        }
        front.call(request, self.heads.clone())
    }
}

/// The server's name as a header value whose clones share nothing: made once per server and
/// kept for the life of the process, since every reply clones it (a value built at run time
/// would bump one reference count, on one cache line, from every core on every reply).
fn static_header_value(server_name: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(server_name).map_err(|_| {
        anyhow::anyhow!("--server-name {server_name:?} is not a valid header value")
    })?;
    let name: &'static str = Box::leak(server_name.to_owned().into_boxed_str());
    Ok(HeaderValue::from_static(name))
}

/// How far beyond `--max-header-bytes` the HTTP stack itself lets a header block go, so that
/// each port's gate (`serving::Gate`) answers in the port's error shape; beyond this, the
/// stack answers a bare 431.
pub(super) fn stack_header_limit(max_header_bytes: usize) -> usize {
    max_header_bytes.saturating_mul(2).saturating_add(8192)
}

/// The front of a port, the first and last service every request meets:
/// - the request id (`x-request-id`, in the default profile): the client's, or a new UUID,
///   on the request and on its reply (see `request_id`);
/// - on the way out, `x-served-by` (which server answered: behind a load balancer, this shows
///   how calls spread), `Connection: close` on HTTP/1.1 once the server drains (so that
///   clients do not reuse a connection about to close), and a log line for a request that
///   failed on the server's side, with its request id: ERROR for a 500 (a bug, or a failure
///   the client cannot fix), WARN for the other 5xx, except 503, which the server answers on
///   purpose while it sheds load or drains (counted in the metrics, not logged). 4xx are the
///   client's mistakes and are not logged.
///
/// Its future is boxed, one allocation per request, so that hyper moves a pointer, not the
/// future, into each HTTP/2 stream's task (measured: the unboxed future's copies cost a gRPC
/// call more than the allocation does). Boxing the router's future in each adapter's front
/// instead, and this one not, was measured too: 250 instructions a call less on REST over
/// HTTP/1.1, 800 more on gRPC and on REST over h2c.
#[derive(Clone)]
pub(super) struct PortFront<S> {
    inner: S,
    port: &'static str,
    served_by: HeaderValue,
    draining: Draining,
    request_ids: bool,
    budget: BodyBudget,
    bodies: BodyCounting,
}

impl<S: PortService> PortFront<S> {
    fn call(
        &mut self,
        request: Request<Incoming>,
        heads: Option<Arc<HeadWatch>>,
    ) -> Pin<Box<Finishing<S::Future, FrontOfReply>>> {
        // Boxed as it would be anyway (axum's `Body`), with the budget's count around it.
        let BodyCounting { most_per_body, exhausted } = self.bodies;
        let mut request = request.map(|body| self.budget.guard(body, most_per_body, exhausted));
        // The lean profile has no request ids: not even the client's is read (a lookup by a
        // custom header name, on every call of both ports).
        let (request_id, echo_id) = if self.request_ids {
            (Some(ensure_request_id(request.headers_mut())), true)
        } else {
            (None, false)
        };
        let kept = FrontOfReply {
            port: self.port,
            served_by: self.served_by.clone(),
            draining: self.draining,
            http1: request.version() <= Version::HTTP_11,
            request_id,
            echo_id,
            request_line: (request.method().clone(), request.uri().path_and_query().cloned()),
            heads,
        };
        // Called at once, without `poll_ready`: a port's services are always ready (see
        // `PortService`), and a `Oneshot` would carry the request through the boxed future.
        Box::pin(Finishing::new(self.inner.call(request), Some(kept)))
    }
}

/// What [`PortFront`] keeps of a request until its reply.
pub(super) struct FrontOfReply {
    port: &'static str,
    served_by: HeaderValue,
    draining: Draining,
    http1: bool,
    request_id: Option<HeaderValue>,
    /// Whether the reply carries the request id back (the default profile).
    echo_id: bool,
    request_line: (Method, Option<http::uri::PathAndQuery>),
    heads: Option<Arc<HeadWatch>>,
}

impl FinishReply for FrontOfReply {
    fn finish(self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(SERVED_BY, self.served_by);
        if let (true, Some(id)) = (self.echo_id, &self.request_id) {
            headers.entry(REQUEST_ID).or_insert_with(|| id.clone());
        }
        let aged = self.heads.as_ref().is_some_and(|heads| heads.closes_with_this_reply());
        if self.http1 && (self.draining.is_on() || aged) {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let status = response.status();
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            let request_id = self.request_id.as_ref().and_then(|id| id.to_str().ok());
            let (method, path) = &self.request_line;
            let path = path.as_ref().map_or("", |path| path.path());
            let port = self.port;
            let status = status.as_u16();
            if status == 500 {
                tracing::error!(port, request_id, %method, path, status, "request failed");
            } else {
                tracing::warn!(port, request_id, %method, path, status, "request failed");
            }
        }
        if let Some(heads) = self.heads {
            heads.answered(&response);
        }
        response
    }
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
            // Connect clients send these.
            header("connect-protocol-version"),
            header("connect-timeout-ms"),
            header("connect-content-encoding"),
            header("connect-accept-encoding"),
            header("content-encoding"),
        ])
        .expose_headers([
            header("x-request-id"),
            header("x-served-by"),
            header("grpc-status"),
            header("grpc-message"),
            header("grpc-status-details-bin"),
            header("grpc-encoding"),
            header("connect-content-encoding"),
            header("content-encoding"),
        ])
        .max_age(CORS_MAX_AGE))
}
