//! Prometheus metrics, served at `/metrics` on the REST port: per protocol and method, calls by
//! status (for gRPC the gRPC status, not the HTTP 200 it rides on) and a latency histogram
//! (for gRPC, until the call's last frame; for REST, until the response headers).

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    Router,
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::Route,
};
use http_body::Frame;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tower::{ServiceExt as _, layer::layer_fn, service_fn};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    protocol: &'static str,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    protocol: &'static str,
    method: String,
}

#[derive(Clone, Debug)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let calls = Family::<CallLabels, Counter>::default();
        // 50 µs to about 3 minutes.
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 22))
        });
        let mut registry = Registry::default();
        registry.register("rpc_calls", "Calls by protocol, method and status", calls.clone());
        registry.register(
            "rpc_call_duration_seconds",
            "Call latency by protocol and method",
            latency.clone(),
        );
        Self(Arc::new(Inner { registry, calls, latency }))
    }
}

impl Metrics {
    fn record(&self, protocol: &'static str, method: String, status: String, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        self.0
            .latency
            .get_or_create(&MethodLabels { protocol, method: method.clone() })
            .observe(seconds);
        self.0.calls.get_or_create(&CallLabels { protocol, method, status }).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.0.registry) {
            tracing::error!(%error, "could not encode the metrics");
        }
        text
    }
}

/// `GET /metrics`.
pub async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
}

/// Counts REST calls by route template (never the raw path: names would explode the label
/// set) and HTTP status. A plain service around each route rather than `from_fn`, which boxed
/// and cloned the rest of the stack on every request.
pub fn record_rest_calls<S>(router: Router<S>, metrics: Metrics) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(layer_fn(move |route: Route| {
        let metrics = metrics.clone();
        service_fn(move |request: Request| {
            let (metrics, route) = (metrics.clone(), route.clone());
            async move {
                let template = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                let method = format!("{} {template}", request.method());
                let started = Instant::now();
                let response = route.oneshot(request).await?;
                metrics.record("rest", method, response.status().as_u16().to_string(), started);
                Ok::<_, Infallible>(response)
            }
        })
    }))
}

/// A gRPC call being counted: started when the request came in.
#[derive(Debug)]
pub struct GrpcCallWatch {
    metrics: Metrics,
    method: String,
    started: Instant,
}

impl Metrics {
    /// Starts counting a gRPC call to `method` (the request path).
    pub fn watch_grpc(&self, method: &str) -> GrpcCallWatch {
        GrpcCallWatch { metrics: self.clone(), method: method.to_owned(), started: Instant::now() }
    }
}

impl GrpcCallWatch {
    /// Counts the call by its gRPC status: from the headers of a trailers-only reply, or from
    /// the trailers once the body has been sent.
    pub fn finish(self, response: Response) -> Response {
        let GrpcCallWatch { metrics, method, started } = self;
        if let Some(status) = grpc_status(response.headers()) {
            metrics.record("grpc", method, status, started);
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = StatusWatch { inner: body, metrics, method: Some(method), started };
        Response::from_parts(parts, Body::new(body))
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<String> {
    let code: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    Some(format!("{:?}", tonic::Code::from(code)))
}

/// A response body that records the call when its trailers (or its end) go by.
struct StatusWatch {
    inner: Body,
    metrics: Metrics,
    method: Option<String>,
    started: Instant,
}

impl StatusWatch {
    fn finish(&mut self, status: String) {
        if let Some(method) = self.method.take() {
            self.metrics.record("grpc", method, status, self.started);
        }
    }
}

impl http_body::Body for StatusWatch {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(status) = frame.trailers_ref().and_then(grpc_status) {
                    self.finish(status);
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish("Unknown".into()),
            Poll::Ready(None) => self.finish("Unknown".into()),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for StatusWatch {
    /// A body dropped before its end: the client went away mid-call.
    fn drop(&mut self) {
        self.finish("Cancelled".into());
    }
}
