//! Connect's unary calls: a POST whose body is the bare message (`application/proto`,
//! `application/json`), or a GET whose query carries it, answered with the bare reply and HTTP
//! 200, or with Connect's JSON error and the HTTP status of its code.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::Response,
};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use tonic::{Code, Status};

use super::{
    GrpcServices, UNARY_ENCODINGS,
    error::{error_reply, head_refusal, no_such_method},
    into_grpc_head, metadata,
};
use crate::grpc_wire::{
    MethodShape, ReplyFuture,
    frames::{COMPRESSED, envelope, take_message},
};

/// How long a cache may keep a GET's reply: a greeting for a name does not change.
const GET_MAX_AGE: &str = "max-age=300";

/// A Connect unary POST to `shape`'s method (`None`: no such method). The gRPC call starts at
/// once, with a body that envelopes the message once it has all arrived, so that the call's
/// deadline and the message limit cover reading it, as they do for gRPC.
pub(crate) fn unary(
    inner: &mut impl GrpcServices,
    request: Request,
    shape: Option<MethodShape>,
    json: bool,
    limit: usize,
) -> ReplyFuture {
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = check_unary(&parts, shape) {
        return ready(refusal);
    }
    let flags = match into_grpc_head(&mut parts, json, &UNARY_ENCODINGS) {
        Ok(encoding) => encoding.map_or(0, |_| COMPRESSED),
        Err(status) => return ready(head_refusal(&status, &UNARY_ENCODINGS)),
    };
    let enveloped = futures_util::stream::once(async move {
        match Limited::new(body, limit).collect().await {
            Ok(message) => Ok(envelope(flags, &message.to_bytes())),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(Status::resource_exhausted(format!(
                    "the message is larger than this server accepts ({limit} bytes)"
                )))
            }
            Err(error) => Err(Status::invalid_argument(format!(
                "the request body could not be read: {error}"
            ))),
        }
    });
    let call = inner.call(Request::from_parts(parts, Body::from_stream(enveloped)));
    Box::pin(async move {
        let Ok(response) = call.await;
        Ok(from_grpc(response, json).await)
    })
}

/// A Connect GET: the message in the query (`?encoding=json&message=…`, `base64=1` for bytes,
/// `compression=gzip`), for a method marked free of side effects; its reply may be cached.
pub(crate) fn get(
    inner: &mut impl GrpcServices,
    request: Request,
    shape: Option<MethodShape>,
    limit: usize,
) -> ReplyFuture {
    let (mut parts, _) = request.into_parts();
    let Some(shape) = shape else {
        return ready(no_such_method(&parts));
    };
    if !shape.no_side_effects || shape.client_streams || shape.server_streams {
        let status = Status::unimplemented(format!(
            "{} may have side effects, so it is served by POST only",
            parts.uri.path()
        ));
        let mut reply =
            error_reply(&status, Some(StatusCode::METHOD_NOT_ALLOWED), &HeaderMap::new());
        reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return ready(reply);
    }
    let (message, json) = match query_message(&mut parts, limit) {
        Ok(found) => found,
        Err(status) => return ready(error_reply(&status, None, &HeaderMap::new())),
    };
    let private = parts.headers.contains_key(header::AUTHORIZATION);
    let flags = match into_grpc_head(&mut parts, json, &UNARY_ENCODINGS) {
        Ok(encoding) => encoding.map_or(0, |_| COMPRESSED),
        Err(status) => return ready(head_refusal(&status, &UNARY_ENCODINGS)),
    };
    let call = inner.call(Request::from_parts(parts, Body::from(envelope(flags, &message))));
    Box::pin(async move {
        let Ok(response) = call.await;
        let mut reply = from_grpc(response, json).await;
        let cache_control = if reply.status() != StatusCode::OK {
            "no-store".to_owned()
        } else if private {
            // Asked with credentials: no shared cache may hand it to anyone else.
            format!("private, {GET_MAX_AGE}")
        } else {
            format!("public, {GET_MAX_AGE}")
        };
        let headers = reply.headers_mut();
        let cache_control = HeaderValue::try_from(cache_control).expect("ascii");
        headers.insert(header::CACHE_CONTROL, cache_control);
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        Ok(reply)
    })
}

fn ready(reply: Response) -> ReplyFuture {
    Box::pin(std::future::ready(Ok(reply)))
}

/// What a unary POST gets when its method is not unary, or not there.
fn check_unary(parts: &Parts, shape: Option<MethodShape>) -> Option<Response> {
    let Some(shape) = shape else {
        return Some(no_such_method(parts));
    };
    if shape.client_streams || shape.server_streams {
        let status = Status::unimplemented(format!(
            "{} is a stream: send application/connect+proto or application/connect+json",
            parts.uri.path()
        ));
        return Some(error_reply(
            &status,
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            &HeaderMap::new(),
        ));
    }
    None
}

/// The message a GET carries in its query, with the content type and encoding it names put
/// where a POST has them, and whether it is JSON. Unknown parameters are ignored.
pub(crate) fn query_message(parts: &mut Parts, limit: usize) -> Result<(Bytes, bool), Status> {
    let query = parts.uri.query().unwrap_or_default();
    let (mut message, mut json, mut base64, mut compression) = (None, None, false, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "connect" if value != "v1" => {
                return Err(Status::invalid_argument(format!(
                    "connect={value} is not a protocol version served here: send connect=v1"
                )));
            }
            "encoding" => match &*value {
                "json" => json = Some(true),
                "proto" => json = Some(false),
                other => {
                    return Err(Status::invalid_argument(format!(
                        "encoding={other} is not served: send encoding=json or encoding=proto"
                    )));
                }
            },
            "message" => message = Some(value.into_owned()),
            "base64" => base64 = value == "1",
            "compression" => compression = Some(value.into_owned()),
            _ => {}
        }
    }
    let json = json.ok_or_else(|| Status::invalid_argument("the query names no encoding"))?;
    let message =
        message.ok_or_else(|| Status::invalid_argument("the query carries no message"))?;
    if message.len() > limit.saturating_mul(2) {
        return Err(Status::resource_exhausted(format!(
            "the message is larger than this server accepts ({limit} bytes)"
        )));
    }
    let message = if base64 {
        let unpadded = message.trim_end_matches('=').replace('+', "-").replace('/', "_");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded).map_err(|error| {
            Status::invalid_argument(format!("the message is not valid base64: {error}"))
        })?
    } else {
        message.into_bytes()
    };
    let headers = &mut parts.headers;
    let media = if json { "application/json" } else { "application/proto" };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Some(compression) = compression {
        let value = HeaderValue::try_from(compression)
            .map_err(|_| Status::invalid_argument("compression names no encoding"))?;
        headers.insert(header::CONTENT_ENCODING, value);
    }
    parts.method = Method::POST;
    Ok((message.into(), json))
}

/// A gRPC unary reply as Connect's: the bare message and 200, or the error.
async fn from_grpc(response: Response, json: bool) -> Response {
    let (parts, body) = response.into_parts();
    if let Some(status) = Status::from_header_map(&parts.headers) {
        if status.code() != Code::Ok {
            return error_reply(&status, None, &parts.headers);
        }
    }
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(error) => {
            let status = Status::internal(format!("the reply could not be read: {error}"));
            return error_reply(&status, None, &parts.headers);
        }
    };
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let status = Status::from_header_map(&trailers)
        .unwrap_or_else(|| Status::internal("the call ended without a status"));
    if status.code() != Code::Ok {
        let mut metadata_too = parts.headers.clone();
        metadata_too.extend(trailers.clone());
        return error_reply(&status, None, &metadata_too);
    }
    let mut buffer = bytes::BytesMut::from(collected.to_bytes());
    let message = match take_message(&mut buffer, usize::MAX) {
        Ok(Some(message)) if buffer.is_empty() => message,
        _ => {
            let status = Status::internal("a unary reply must hold exactly one message");
            return error_reply(&status, None, &parts.headers);
        }
    };
    let (flags, payload) = message;
    let mut reply = Response::new(Body::from(payload));
    let headers = reply.headers_mut();
    for (name, value) in metadata(&parts.headers) {
        headers.append(name.clone(), value.clone());
    }
    add_trailers(headers, &trailers);
    let media = if json { "application/json" } else { "application/proto" };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if flags & COMPRESSED != 0 {
        if let Some(encoding) = parts.headers.get("grpc-encoding") {
            headers.insert(header::CONTENT_ENCODING, encoding.clone());
        }
    }
    reply
}

/// A unary reply's trailers ride as headers prefixed `trailer-`.
fn add_trailers(headers: &mut HeaderMap, trailers: &HeaderMap) {
    for (name, value) in metadata(trailers) {
        if let Ok(name) = HeaderName::try_from(format!("trailer-{name}")) {
            headers.append(name, value.clone());
        }
    }
}
