//! What stands between a REST request and its handler: the bearer token (401), load shedding
//! (503 when too many requests are in flight), the request timeout (504) and gzip request
//! bodies (decompressed before the body limit counts them; other encodings 415), each answered
//! in the API's error shape.

use std::convert::Infallible;

use axum::http::{StatusCode, header::CONTENT_ENCODING};
use axum::{
    BoxError, Router,
    error_handling::HandleErrorLayer,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::decompression::RequestDecompressionLayer;

use super::{
    AppState,
    error::{ApiError, Code},
};
use crate::{auth::BearerToken, config::ConnectionLimits};

/// Requires the token on every route of `api`, when there is one.
pub(crate) fn require_token(api: Router<AppState>, token: Option<BearerToken>) -> Router<AppState> {
    match token {
        Some(token) => api.layer(middleware::from_fn_with_state(token, check_token)),
        None => api,
    }
}

async fn check_token(State(token): State<BearerToken>, request: Request, next: Next) -> Response {
    if token.admits(request.headers()) {
        next.run(request).await
    } else {
        ApiError::new(Code::Unauthenticated, "missing or invalid bearer token").into_response()
    }
}

/// Sheds load beyond `max_in_flight` requests and times out requests after `request_timeout`.
pub(crate) fn bound_requests(
    router: Router<AppState>,
    limits: &ConnectionLimits,
) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(overload_or_timeout))
            .load_shed()
            // Router::layer wraps every route on its own: the limit must share one
            // semaphore across them to bound the port, not each route.
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
            .timeout(limits.request_timeout()),
    )
}

async fn overload_or_timeout(error: BoxError) -> Result<Response, Infallible> {
    let error = if error.is::<tower::load_shed::error::Overloaded>() {
        ApiError::new(Code::Unavailable, "the server is at capacity; retry shortly")
    } else if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(Code::DeadlineExceeded, "the request took longer than the server allows")
    } else {
        tracing::error!(%error, "request failed in a middleware");
        ApiError::new(Code::Internal, "internal error")
    };
    Ok(error.into_response())
}

/// Accepts gzip bodies, counting the body limit after decompression so a small bomb cannot
/// expand past it; refuses other encodings in the API's error shape.
pub(crate) fn decompress_requests(router: Router) -> Router {
    router
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::from_fn(refuse_unknown_encodings))
}

async fn refuse_unknown_encodings(request: Request, next: Next) -> Response {
    let encoding =
        request.headers().get(CONTENT_ENCODING).map(|value| value.as_bytes().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some(b"gzip" | b"identity") => next.run(request).await,
        Some(_) => ApiError::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            "Content-Encoding must be gzip or identity",
        )
        .into_response(),
    }
}
