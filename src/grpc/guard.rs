//! What stands between a gRPC call and the Greeter: the bearer token (UNAUTHENTICATED), load
//! shedding (UNAVAILABLE when too many calls are in flight) and the deadline (DEADLINE_EXCEEDED
//! after the server's request timeout or the client's shorter `grpc-timeout`). Health and
//! reflection stay open.

use std::{convert::Infallible, time::Duration};

use axum::{
    BoxError, Router,
    error_handling::HandleErrorLayer,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use tonic::Status;
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};

use crate::{auth::BearerToken, config::ConnectionLimits};

/// Services anyone may call, token or not: probes and tools need them.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

pub(super) fn guard(
    router: Router,
    limits: &ConnectionLimits,
    token: Option<BearerToken>,
) -> Router {
    let router = router.layer(middleware::from_fn_with_state(limits.request_timeout(), deadline));
    let router = router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(overloaded))
            .load_shed()
            // Router::layer wraps every route on its own: the limit must share one
            // semaphore across them to bound the port, not each route.
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight)),
    );
    match token {
        Some(token) => router.layer(middleware::from_fn_with_state(token, check_token)),
        None => router,
    }
}

fn status_response(status: Status) -> Response {
    status.into_http::<axum::body::Body>()
}

async fn check_token(State(token): State<BearerToken>, request: Request, next: Next) -> Response {
    let open = OPEN_SERVICES.iter().any(|service| request.uri().path().starts_with(service));
    if open || token.admits(request.headers()) {
        next.run(request).await
    } else {
        status_response(Status::unauthenticated("missing or invalid bearer token"))
    }
}

async fn overloaded(error: BoxError) -> Result<Response, Infallible> {
    let status = if error.is::<tower::load_shed::error::Overloaded>() {
        Status::unavailable("the server is at capacity; retry shortly")
    } else {
        tracing::error!(%error, "call failed in a middleware");
        Status::internal("internal error")
    };
    Ok(status_response(status))
}

/// Bounds the time to the response headers (for unary calls, the whole call) by the server's
/// limit or the client's `grpc-timeout`, whichever is shorter.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let timeout = request
        .headers()
        .get("grpc-timeout")
        .and_then(|value| parse_grpc_timeout(value.to_str().ok()?))
        .map_or(limit, |client| client.min(limit));
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            status_response(Status::deadline_exceeded("the call took longer than its deadline"))
        }
    }
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
