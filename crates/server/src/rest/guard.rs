//! What stands between a REST request and its handler: the gate (431 for a header block over
//! the limit, 503 once the server drains; see `serving::Gate`), the bearer token (401), load
//! shedding (503 when too many requests are in flight), the request timeout (504), gzip and zstd
//! request bodies (decompressed before the body limit counts them; other encodings 415) and
//! replies compressed when `Accept-Encoding` asks, each answered in the API's error shape.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    pin::Pin,
    task::{Context, Poll},
};

use axum::http::{
    HeaderMap, StatusCode, Version,
    header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE},
};
use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::future::Either;
use tower::{Service, ServiceBuilder};
use tower_http::{
    body::UnsyncBoxBody, compression::CompressionLayer, decompression::RequestDecompressionLayer,
};

use super::{
    error::Refusal,
    media_types::{JSON, PROTOBUF},
    metrics::{RestCallWatch, RestCalls},
};
use crate::{
    auth::BearerToken,
    config::ConnectionLimits,
    serving::{
        Admission, Admitted, BodyBudget, Finishing, Gate, PortService, Refused, header_field_size,
    },
};
use contract::greeter::Greeter;

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
        Refusal::BadToken.into_response()
    }
}

/// The REST port's front, as one plain service around the whole router (no route lookup,
/// boxed layer or shared counter of its own per request):
/// - the gate: a header block over the limit (431), and every request but the probes once the
///   server drains (503);
/// - the body limit, counted after decompression so that a small bomb cannot expand past it,
///   and the decompressed bytes counted against the server's body budget;
/// - gzip and zstd request bodies decompressed, other encodings refused (415), and replies
///   (JSON or protobuf messages, not streams) compressed in the encoding `Accept-Encoding`
///   prefers, as tonic does for gRPC's `grpc-accept-encoding`; requests that ask for neither
///   pass straight through, without the encoding wrappers;
/// - on the Greeter routes (`/v1/`), load shedding beyond `max_in_flight` requests (503) and
///   the request timeout (504), as the gRPC guard applies them. Health, readiness, metrics and
///   the docs stay unbounded, so an overloaded server still answers its probes.
pub(crate) fn guarded(
    router: Router,
    limits: &ConnectionLimits,
    max_body_bytes: usize,
    calls: Option<RestCalls>,
    body_budget: BodyBudget,
    gate: Gate,
) -> impl PortService {
    let router = ServiceBuilder::new().layer(DefaultBodyLimit::max(max_body_bytes)).service(router);
    let encoding = ServiceBuilder::new()
        .map_response(|response: http::Response<_>| response.map(Body::new))
        .layer(CompressionLayer::new().no_br().no_deflate().compress_when(is_a_message))
        .map_response(into_axum_body)
        .layer(RequestDecompressionLayer::new().no_br().no_deflate())
        // What a small compressed body expands to counts against the body budget too.
        .map_request(move |request: http::Request<_>| {
            request.map(|body| {
                Body::new(body_budget.count(body, max_body_bytes, super::body_bytes_exhausted))
            })
        })
        .service(router.clone());
    Front { gate, admission: Admission::new(limits), router, encoding, calls }
}

/// Whether a reply is a message (JSON or protobuf, an error included), which is compressed
/// whatever its size, as gRPC compresses every message. Streams (NDJSON, SSE) are not: a
/// compressor holds their items back until it has enough to write.
fn is_a_message(_: StatusCode, _: Version, headers: &HeaderMap, _: &http::Extensions) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value.starts_with(JSON.as_bytes()) || value.starts_with(PROTOBUF.as_bytes())
    })
}

#[derive(Clone)]
struct Front<R, D> {
    gate: Gate,
    admission: Admission,
    router: R,
    /// The router behind request decompression and reply compression.
    encoding: D,
    /// The metrics' count of calls, in the default profile.
    calls: Option<RestCalls>,
}

/// The router's reply (plain or through the encoding twin). The twin's future, several times
/// the plain one's size, is boxed: unboxed, it would size every request's future, which is
/// moved a few times on its way into the front's box.
type Routed<R, D> =
    Either<<R as Service<Request>>::Future, Pin<Box<<D as Service<Request>>::Future>>>;

/// The front's answer: a refusal of its own, or the router's reply, within admission or not.
type Answer<R, D> =
    Either<Ready<Result<Response, Infallible>>, Either<Routed<R, D>, Admitted<Routed<R, D>>>>;

impl<R, D> Service<Request> for Front<R, D>
where
    R: PortService,
    D: PortService,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Finishing<Answer<R, D>, RestCallWatch>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// Calls the router at once (it is always ready, as axum's `Router` is), so that the
    /// request is moved into it here rather than carried through this front's future: every
    /// move of a request copies a few hundred bytes.
    fn call(&mut self, request: Request) -> Self::Future {
        let watch = self.calls.map(|calls| calls.start(&request));
        Finishing::new(self.route(request), watch)
    }
}

impl<R, D> Front<R, D>
where
    R: PortService,
    D: PortService,
{
    fn route(&mut self, request: Request) -> Answer<R, D> {
        let bounded = request.uri().path().starts_with("/v1/");
        // One pass over the few headers a request has, for the gate's count and the encodings,
        // rather than a pass and a lookup for each name.
        let (mut header_block_size, mut accept_encoding, mut content_encoding) = (0, None, None);
        for (name, value) in request.headers() {
            header_block_size += header_field_size(name, value);
            if *name == ACCEPT_ENCODING {
                accept_encoding.get_or_insert(value);
            } else if *name == CONTENT_ENCODING {
                content_encoding.get_or_insert(value);
            }
        }
        if let Some(refusal) = self.gate.refusal(&request, header_block_size) {
            return Either::Left(ready(Ok(refusal)));
        }
        let compressed_reply = accept_encoding.is_some_and(|value| {
            let asks =
                |w: &[u8]| w.eq_ignore_ascii_case(b"gzip") || w.eq_ignore_ascii_case(b"zstd");
            value.as_bytes().windows(4).any(asks)
        });
        let compressed_body = match content_encoding.map(|value| value.as_bytes()) {
            None => false,
            Some(value) if value.eq_ignore_ascii_case(b"identity") => false,
            Some(value) if value.eq_ignore_ascii_case(b"gzip") => true,
            Some(value) if value.eq_ignore_ascii_case(b"zstd") => true,
            Some(_) => {
                return Either::Left(ready(Ok(Refusal::UnsupportedEncoding.into_response())));
            }
        };
        let call = if compressed_body || compressed_reply {
            Either::Right(Box::pin(self.encoding.call(request)))
        } else {
            Either::Left(self.router.call(request))
        };
        if !bounded {
            return Either::Right(Either::Left(call));
        }
        Either::Right(Either::Right(self.admission.admit(None, refusal, call)))
    }
}

fn refusal(refused: Refused) -> Result<Response, Infallible> {
    Ok(match refused {
        Refused::Overloaded => Refusal::Overloaded.into_response(),
        Refused::TimedOut => Refusal::TimedOut.into_response(),
    })
}

fn into_axum_body(response: http::Response<UnsyncBoxBody<Bytes, axum::BoxError>>) -> Response {
    response.map(Body::new)
}
