//! What stands between a REST request and its handler: the bearer token (401), load shedding
//! (503 when too many requests are in flight), the request timeout (504) and gzip request
//! bodies (decompressed before the body limit counts them; other encodings 415), each answered
//! in the API's error shape.

use std::convert::Infallible;

use axum::http::{StatusCode, header::CONTENT_ENCODING};
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::Route,
};
use bytes::Bytes;
use futures_util::future::Either;
use tower::{ServiceBuilder, ServiceExt as _, layer::layer_fn, service_fn};
use tower_http::{body::UnsyncBoxBody, decompression::RequestDecompressionLayer};

use super::error::{ApiError, Code};
use crate::{
    auth::BearerToken,
    config::ConnectionLimits,
    greeter::Greeter,
    server::{Admission, PortService, Refused},
};

/// Requires the token on every route of `api`, when there is one.
pub(crate) fn require_token(api: Router<Greeter>, token: Option<BearerToken>) -> Router<Greeter> {
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

/// Sheds load beyond `max_in_flight` requests (503) and times out requests after
/// `request_timeout` (504): one plain service around each route, sharing one semaphore, where
/// tower's layers behind `HandleErrorLayer` boxed every request's future.
pub(crate) fn bound_requests(
    router: Router<Greeter>,
    limits: &ConnectionLimits,
) -> Router<Greeter> {
    let admission = Admission::new(limits);
    router.layer(layer_fn(move |route: Route| {
        let admission = admission.clone();
        service_fn(move |request: Request| {
            let (admission, route) = (admission.clone(), route.clone());
            async move {
                Ok::<_, Infallible>(match admission.run(None, route.oneshot(request)).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(infallible)) => match infallible {},
                    Err(Refused::Overloaded) => {
                        ApiError::new(Code::Unavailable, "the server is at capacity; retry shortly")
                            .into_response()
                    }
                    Err(Refused::TimedOut) => ApiError::new(
                        Code::DeadlineExceeded,
                        "the request took longer than the server allows",
                    )
                    .into_response(),
                })
            }
        })
    }))
}

/// Accepts gzip bodies, counting the body limit after decompression so a small bomb cannot
/// expand past it; refuses other encodings in the API's error shape. Built around the whole
/// router, so it costs no route lookup or boxed layer per request.
pub(crate) fn decompress_requests(router: Router) -> impl PortService {
    let decompressing = ServiceBuilder::new()
        .map_response(into_axum_body)
        .layer(RequestDecompressionLayer::new())
        .service(router.clone());
    service_fn(move |request: Request| {
        let encoding = request
            .headers()
            .get(CONTENT_ENCODING)
            .map(|value| value.as_bytes().to_ascii_lowercase());
        // Only a gzip body pays for the decompressing wrapper; the rest go straight through.
        match encoding.as_deref() {
            None | Some(b"identity") => Either::Left(router.clone().oneshot(request)),
            Some(b"gzip") => Either::Right(Either::Left(decompressing.clone().oneshot(request))),
            Some(_) => Either::Right(Either::Right(std::future::ready(Ok(ApiError::with_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "Content-Encoding must be gzip or identity",
            )
            .into_response())))),
        }
    })
}

fn into_axum_body(response: http::Response<UnsyncBoxBody<Bytes, axum::BoxError>>) -> Response {
    response.map(Body::new)
}
