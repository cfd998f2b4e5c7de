//! The REST port's metrics: `GET /metrics`, and every call counted by its route template
//! (never the raw path) and HTTP status.

use std::time::Instant;

use axum::{
    extract::{Request, State},
    http::{Method, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};

use super::routes;
use crate::{
    metrics::{CallName, Metrics, Protocol, Recorder, UNMATCHED},
    serving::FinishReply,
};

/// `GET /metrics`.
pub(crate) async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
}

/// Where the REST port's metrics are served.
pub(crate) const PATH: &str = "/metrics";

/// Counts REST calls by route template (never the raw path: names would explode the label
/// set) and HTTP status, from the port's front: one lookup in a table of the templates per
/// call. A layer on the router (which is how the template is usually read, from `MatchedPath`)
/// wraps every route in one more boxed service, which each call clones: about 800
/// instructions a call that the gRPC side's count does not pay.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RestCalls {
    recorder: Recorder,
    templates: &'static matchit::Router<&'static str>,
}

impl RestCalls {
    /// Counts into `metrics`, by the templates of every route the router serves.
    pub(crate) fn new(metrics: &Metrics) -> Self {
        let mut templates = matchit::Router::new();
        let api = routes::GREETER.iter().map(|route| route.path);
        let health = routes::HEALTH.iter().map(|route| route.path);
        for template in api.chain(health).chain([PATH]).chain(super::DOCS_PATHS) {
            templates.insert(template, template).expect("the router's own templates are distinct");
        }
        Self { recorder: metrics.recorder(), templates: Box::leak(Box::new(templates)) }
    }

    /// Starts counting a call, when it comes in.
    pub(crate) fn start(&self, request: &Request) -> RestCallWatch {
        let template = self.templates.at(request.uri().path()).map_or(UNMATCHED, |m| *m.value);
        RestCallWatch {
            recorder: self.recorder,
            verb: request.method().clone(),
            template,
            started: Instant::now(),
        }
    }
}

/// A REST call being counted: started when the request came in.
#[derive(Debug)]
pub(crate) struct RestCallWatch {
    recorder: Recorder,
    verb: Method,
    template: &'static str,
    started: Instant,
}

impl FinishReply for RestCallWatch {
    /// Counts the call by its reply's status.
    fn finish(self, response: Response) -> Response {
        let call =
            CallName { protocol: Protocol::Rest, verb: self.verb.as_str(), path: self.template };
        self.recorder.record(call, response.status().as_u16(), self.started.elapsed());
        response
    }
}
