//! What stands between a gRPC call and the Greeter: the bearer token (UNAUTHENTICATED), load
//! shedding (UNAVAILABLE when too many calls are in flight) and the deadline (DEADLINE_EXCEEDED
//! after the server's request timeout or the client's shorter `grpc-timeout`). Health and
//! reflection stay open.

use std::{convert::Infallible, time::Duration};

use axum::{Router, body::Body, extract::Request, response::Response};
use tonic::Status;
use tonic_web::GrpcWebLayer;
use tower::{ServiceBuilder, ServiceExt as _, service_fn};

use crate::{
    auth::BearerToken,
    config::ConnectionLimits,
    metrics::Metrics,
    server::{Admission, PortService, Refused},
};

/// Services anyone may call, token or not: probes and tools need them.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The guard and the call's metrics around every gRPC service, as one async function over
/// the services' router, with gRPC-Web translated in front: no layer boxes or clones anything
/// per call (layers added with `Router::layer` and `from_fn` did both, several times a call).
pub(super) fn guard(
    router: Router,
    limits: &ConnectionLimits,
    token: Option<BearerToken>,
    metrics: Metrics,
) -> impl PortService {
    let guard = Guard { token, admission: Admission::new(limits), metrics };
    let guarded = service_fn(move |request: http::Request<tonic::body::Body>| {
        let (guard, router) = (guard.clone(), router.clone());
        async move { Ok::<_, Infallible>(guard.call(router, request.map(Body::new)).await) }
    });
    // gRPC-Web calls are translated first, so the guard and the metrics see plain gRPC.
    ServiceBuilder::new()
        .map_response(|response: http::Response<tonic::body::Body>| response.map(Body::new))
        .layer(GrpcWebLayer::new())
        .service(guarded)
}

#[derive(Clone)]
struct Guard {
    token: Option<BearerToken>,
    admission: Admission,
    metrics: Metrics,
}

impl Guard {
    async fn call(&self, router: Router, request: Request) -> Response {
        let watch = self.metrics.watch_grpc(request.uri().path());
        let response = self.admit(router, request).await;
        watch.finish(response)
    }

    /// The token (UNAUTHENTICATED), load shedding (UNAVAILABLE), then the call within its
    /// deadline (DEADLINE_EXCEEDED).
    async fn admit(&self, router: Router, request: Request) -> Response {
        if let Some(token) = &self.token {
            let open =
                OPEN_SERVICES.iter().any(|service| request.uri().path().starts_with(service));
            if !open && !token.admits(request.headers()) {
                return status_response(Status::unauthenticated("missing or invalid bearer token"));
            }
        }
        // The client's `grpc-timeout`, when shorter than the server's limit, bounds the time to
        // the response headers (for unary calls, the whole call).
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| parse_grpc_timeout(value.to_str().ok()?));
        match self.admission.run(deadline, router.oneshot(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(infallible)) => match infallible {},
            Err(Refused::Overloaded) => {
                status_response(Status::unavailable("the server is at capacity; retry shortly"))
            }
            Err(Refused::TimedOut) => {
                status_response(Status::deadline_exceeded("the call took longer than its deadline"))
            }
        }
    }
}

fn status_response(status: Status) -> Response {
    status.into_http::<axum::body::Body>()
}

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n), per the gRPC HTTP/2 spec.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_by_unit() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse_grpc_timeout("10n"), Some(Duration::from_nanos(10)));
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for value in ["", "S", "5", "5s", "123456789S", "-5S", "5 S"] {
            assert_eq!(parse_grpc_timeout(value), None, "{value:?}");
        }
    }
}
