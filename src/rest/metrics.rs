//! The REST port's metrics: `GET /metrics`, and every call counted by its route template
//! (never the raw path) and HTTP status.

use std::{convert::Infallible, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::header::CONTENT_TYPE,
    response::IntoResponse,
    routing::Route,
};
use tower::{Service as _, layer::layer_fn, service_fn};

use crate::metrics::{CallName, Metrics, Protocol, UNMATCHED};

/// `GET /metrics`.
pub(crate) async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
}

/// Counts REST calls by route template (never the raw path: names would explode the label
/// set) and HTTP status. A plain service around each route rather than `from_fn`, which boxed
/// and cloned the rest of the stack on every request.
pub(crate) fn record_rest_calls<S>(router: Router<S>, metrics: Metrics) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let recorder = metrics.recorder();
    router.layer(layer_fn(move |mut route: Route| {
        service_fn(move |request: Request| {
            let started = Instant::now();
            let verb = request.method().clone();
            let template = request.extensions().get::<MatchedPath>().cloned();
            // `Route` is always ready, and its `call` clones what it runs: no clone of our own.
            let response = route.call(request);
            async move {
                let response = response.await?;
                let template = template.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
                let call =
                    CallName { protocol: Protocol::Rest, verb: verb.as_str(), path: template };
                recorder.record(call, response.status().as_u16(), started.elapsed());
                Ok::<_, Infallible>(response)
            }
        })
    }))
}
