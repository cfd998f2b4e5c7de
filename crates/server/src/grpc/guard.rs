//! What stands between a gRPC call and the Greeter: the bearer token (UNAUTHENTICATED), load
//! shedding (UNAVAILABLE when too many calls are in flight) and the deadline (DEADLINE_EXCEEDED
//! after the server's request timeout or the client's shorter `grpc-timeout`; for a stream the
//! client sends, between its messages). Health and reflection stay open.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{
        HeaderValue, StatusCode, Version,
        header::{ACCEPT, CONTENT_TYPE, TE, TRAILER},
    },
    response::Response,
    routing::future::RouteFuture,
};
use futures_util::future::Either;
use tonic::Status;
use tonic_web::GrpcWebLayer;
use tower::{Service, ServiceBuilder, service_fn};

use super::{content_types, content_types::Speaks, metrics::GrpcCallWatch};
use crate::{
    auth::BearerToken,
    config::ConnectionLimits,
    connect,
    grpc_wire::{JsonCoded, JsonMessages, Methods, ReplyFuture},
    metrics::Metrics,
    serving::{Admission, Admitted, Finishing, Gate, PortService, Refused, header_block_size},
};

/// Services anyone may call, token or not: probes and tools need them.
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The gate (header limit, drain), the guard and the call's metrics around every gRPC service,
/// as one plain service over the services' router, with the other protocols of the port
/// translated in front by content type (`content_types`): gRPC-Web (tonic-web), Connect, and
/// the JSON codec of each. No layer boxes anything per plain gRPC or gRPC-Web call (layers
/// added with `Router::layer` and `from_fn` boxed and cloned several times a call); plain gRPC
/// skips every translation.
pub(super) fn guard(
    router: Router,
    limits: &ConnectionLimits,
    token: Option<BearerToken>,
    metrics: Option<Metrics>,
    methods: Methods,
    max_message_bytes: usize,
    gate: Gate,
) -> impl PortService {
    let guarded = Guard { token, admission: Admission::new(limits), metrics, methods, router };
    // Plain gRPC goes through the JSON codec's service too, which passes it straight on after
    // one look into the request's extensions: one guard fewer to clone per request than a
    // separate path to the guard would cost.
    let mut coded = JsonCoded::new(guarded, max_message_bytes);
    // gRPC-Web calls are translated first, so the guard and the metrics see plain gRPC.
    let mut web = ServiceBuilder::new()
        .map_response(|response: http::Response<tonic::body::Body>| response.map(Body::new))
        .layer(GrpcWebLayer::new())
        .map_request(|request: http::Request<tonic::body::Body>| request.map(Body::new))
        .service(coded.clone());
    // All are always ready, and called here without a clone (the front clones this service,
    // and so each, once per request).
    service_fn(move |mut request: Request| {
        if let Some(refusal) = gate.refusal(&request, header_block_size(request.headers())) {
            return Either::Right(ready_reply(refusal));
        }
        let content_type = request.headers().get(CONTENT_TYPE).map(|media| media.as_bytes());
        let http1 = request.version() < Version::HTTP_2;
        match Speaks::of(request.method(), content_type) {
            Speaks::Grpc { json } if http1 => {
                Either::Right(grpc_over_http1(&mut coded, request, json))
            }
            Speaks::Grpc { json: false } => Either::Left(Either::Left(coded.call(request))),
            Speaks::GrpcWeb { text, json: false } => {
                if text {
                    reply_in_text_unless_asked_otherwise(&mut request);
                }
                Either::Left(Either::Right(web.call(request)))
            }
            Speaks::Grpc { json: true } => {
                request.extensions_mut().insert(JsonMessages);
                Either::Right(Box::pin(coded.call(request)) as ReplyFuture)
            }
            Speaks::GrpcWeb { text, json: true } => {
                Either::Right(grpc_web_json(&mut web, request, text))
            }
            Speaks::ConnectUnary { json } => {
                let shape = methods.shape(request.uri().path());
                Either::Right(connect::unary(&mut coded, request, shape, json, max_message_bytes))
            }
            Speaks::ConnectStream { json } => {
                let shape = methods.shape(request.uri().path());
                Either::Right(connect::stream(&mut coded, request, shape, json))
            }
            Speaks::ConnectGet => {
                let shape = methods.shape(request.uri().path());
                Either::Right(connect::get(&mut coded, request, shape, max_message_bytes))
            }
            Speaks::GrpcOtherCodec(codec) => {
                let status = Status::unimplemented(format!(
                    "the {codec} codec is not served here: send protobuf \
                     (application/grpc or application/grpc+proto) or JSON (application/grpc+json)"
                ));
                Either::Right(ready_reply(status_response(status)))
            }
            Speaks::Unsupported => Either::Right(ready_reply(unsupported_media_type(&request))),
        }
    })
}

/// `status` as the call's protocol writes an error: Connect's JSON error for a Connect call
/// (by its content type; a GET has none), gRPC's status headers for the rest.
pub(super) fn refusal_in_protocol(headers: &http::HeaderMap, status: Status) -> Response {
    let content_type = headers.get(CONTENT_TYPE).map(|media| media.as_bytes());
    match Speaks::of(&http::Method::POST, content_type) {
        Speaks::ConnectUnary { .. } | Speaks::ConnectStream { .. } => connect::error_reply(&status),
        Speaks::Unsupported if content_type.is_none() => connect::error_reply(&status),
        _ => status.into_http(),
    }
}

/// gRPC-Web with JSON messages: tonic-web translates it as binary or text gRPC-Web with
/// protobuf, the JSON codec (inside it) turns the messages, and the reply says JSON again.
fn grpc_web_json<S>(web: &mut S, mut request: Request, text: bool) -> ReplyFuture
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    let (as_protobuf, as_json) = if text {
        ("application/grpc-web-text+proto", "application/grpc-web-text+json")
    } else {
        ("application/grpc-web+proto", "application/grpc-web+json")
    };
    request.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(as_protobuf));
    request.headers_mut().insert(ACCEPT, HeaderValue::from_static(as_protobuf));
    request.extensions_mut().insert(JsonMessages);
    let call = web.call(request);
    Box::pin(async move {
        let mut response = call.await?;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(as_json));
        Ok(response)
    })
}

/// Plain gRPC over HTTP/1.1, as connectrpc's Python client speaks it to an `http://` address.
/// Its status travels in trailers, which HTTP/1.1 carries only at the end of a chunked body,
/// only to a client that asked for them (`te: trailers`, which gRPC requires), and, in hyper,
/// only for the fields the reply's `Trailer` header names: such a call gets that header and
/// ends as it would over HTTP/2. Without `te: trailers` the status could not reach the client,
/// so the call is refused, in headers the client can read, with why.
fn grpc_over_http1<S>(coded: &mut S, mut request: Request, json: bool) -> ReplyFuture
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    let asks_for_trailers = request.headers().get_all(TE).iter().any(|value| {
        value.as_bytes().split(|&byte| byte == b',').any(|coding| {
            let coding = coding.split(|&byte| byte == b';').next().unwrap_or_default();
            coding.trim_ascii().eq_ignore_ascii_case(b"trailers")
        })
    });
    if !asks_for_trailers {
        let status = Status::invalid_argument(
            "gRPC over HTTP/1.1 needs `te: trailers`: the call's status comes in trailers, \
             which HTTP/1.1 sends only to a client that asks for them; send it, or call over \
             HTTP/2, gRPC-Web or Connect",
        );
        return ready_reply(status_response(status));
    }
    if json {
        request.extensions_mut().insert(JsonMessages);
    }
    let call = coded.call(request);
    Box::pin(async move {
        let mut response = call.await?;
        response.headers_mut().insert(
            TRAILER,
            HeaderValue::from_static("grpc-status, grpc-message, grpc-status-details-bin"),
        );
        Ok(response)
    })
}

fn ready_reply(response: Response) -> ReplyFuture {
    Box::pin(std::future::ready(Ok(response)))
}

/// 415 for a request in no protocol the port serves, with the media types it does serve (as
/// the gRPC specification advises): its body is never read, let alone decoded.
fn unsupported_media_type(request: &Request) -> Response {
    let refused = match request.headers().get(CONTENT_TYPE) {
        None => "a request without a Content-Type is none of gRPC, gRPC-Web and Connect".to_owned(),
        Some(media) => format!(
            "content type {:?} is not gRPC, gRPC-Web or Connect",
            String::from_utf8_lossy(media.as_bytes())
        ),
    };
    let message =
        format!("this is the gRPC port: {refused}; it serves {}\n", content_types::SERVED);
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert("accept-post", HeaderValue::from_static(content_types::SERVED));
    response
}

/// tonic-web answers in the format `Accept` names, binary when it names none; a client that
/// sent base64 text expects text back.
fn reply_in_text_unless_asked_otherwise(request: &mut Request) {
    let asks_for_web = request
        .headers()
        .get_all(ACCEPT)
        .iter()
        .any(|accept| accept.as_bytes().windows(20).any(|w| w == b"application/grpc-web"));
    if !asks_for_web {
        if let Some(media) = request.headers().get(CONTENT_TYPE).cloned() {
            request.headers_mut().insert(ACCEPT, media);
        }
    }
}

#[derive(Clone)]
struct Guard {
    token: Option<BearerToken>,
    admission: Admission,
    metrics: Option<Metrics>,
    methods: Methods,
    router: Router,
}

impl Service<Request> for Guard {
    type Response = Response;
    type Error = Infallible;
    type Future = Finishing<
        Either<Ready<Result<Response, Infallible>>, Admitted<RouteFuture<Infallible>>>,
        GrpcCallWatch,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// The token (UNAUTHENTICATED), load shedding (UNAVAILABLE), then the call within its
    /// deadline (DEADLINE_EXCEEDED), counted by the metrics when there are metrics. The router
    /// is called at once (axum's `Router` is always ready), so that the request is moved into
    /// it here rather than carried through this guard's future.
    fn call(&mut self, request: Request) -> Self::Future {
        let watch = self.metrics.as_ref().map(|metrics| super::metrics::watch(metrics, &request));
        if let Some(token) = &self.token {
            let open =
                OPEN_SERVICES.iter().any(|service| request.uri().path().starts_with(service));
            if !open && !token.admits(request.headers()) {
                let status = Status::unauthenticated(crate::auth::REFUSED);
                return Finishing::new(Either::Left(ready(Ok(status_response(status)))), watch);
            }
        }
        if self.methods.shape(request.uri().path()).is_none() {
            // tonic answers an unknown method of a known service with a bare UNIMPLEMENTED.
            let path = request.uri().path();
            let status = Status::unimplemented(format!("no method {path} is served here"));
            return Finishing::new(Either::Left(ready(Ok(status_response(status)))), watch);
        }
        // The client's `grpc-timeout`, when shorter than the server's limit, bounds the time to
        // the response headers (for unary calls, the whole call).
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| parse_grpc_timeout(value.to_str().ok()?));
        // A stream the client sends is timed message by message instead (`client_pace`).
        let request = if super::client_pace::client_streams(request.uri().path()) {
            let limit = self.admission.time_limit();
            request.map(|body| Body::new(super::client_pace::ClientPaced::new(body, limit)))
        } else {
            request
        };
        let call = self.admission.admit(deadline, refusal, self.router.call(request));
        Finishing::new(Either::Right(call), watch)
    }
}

fn refusal(refused: Refused) -> Result<Response, Infallible> {
    Ok(status_response(match refused {
        Refused::Overloaded => Status::unavailable(crate::serving::OVERLOADED),
        Refused::TimedOut => Status::deadline_exceeded("the call took longer than its deadline"),
    }))
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
