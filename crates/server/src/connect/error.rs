//! Connect's errors: the JSON error (`{"code": …, "message": …}`) a unary call, and any call
//! refused before it reaches the services, is answered with, with the HTTP status of its code;
//! and the error object a stream's end-of-stream message carries.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::Response,
};
use tonic::Status;

use super::{EncodingHeaders, codes, metadata};

/// What a call whose head cannot be translated gets: Connect's error; an encoding not served is
/// answered with the ones that are, in the header the call named its own accepted ones in.
pub(super) fn head_refusal(status: &Status, encodings: &EncodingHeaders) -> Response {
    let mut reply = error_reply(status, None, &HeaderMap::new());
    if status.code() == tonic::Code::Unimplemented {
        let served = HeaderValue::from_static("gzip, zstd");
        reply.headers_mut().insert(encodings.accepted.clone(), served);
    }
    reply
}

/// What a call to a method nobody serves gets: 404, as Connect servers answer it.
pub(super) fn no_such_method(parts: &Parts) -> Response {
    let status = Status::unimplemented(format!("no method {} is served here", parts.uri.path()));
    error_reply(&status, Some(StatusCode::NOT_FOUND), &HeaderMap::new())
}

/// Connect's error reply: `{"code": "invalid_argument", "message": "…"}`, with the HTTP status
/// of its code (or `http`, where the specification asks for another), and the call's metadata.
pub(super) fn error_reply(
    status: &Status,
    http: Option<StatusCode>,
    metadata_of: &HeaderMap,
) -> Response {
    let mut reply = Response::new(Body::from(error_json(status)));
    *reply.status_mut() = http.unwrap_or_else(|| codes::http_status(status.code()));
    let headers = reply.headers_mut();
    for (name, value) in metadata(metadata_of) {
        headers.append(name.clone(), value.clone());
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// An error as Connect writes it in JSON.
fn error_json(status: &Status) -> Vec<u8> {
    serde_json::to_vec(&error_object(status)).expect("a map of strings is JSON")
}

/// An error's JSON object: its code's Connect name and its message.
pub(super) fn error_object(status: &Status) -> serde_json::Map<String, serde_json::Value> {
    let mut error = serde_json::Map::new();
    error.insert("code".into(), codes::name(status.code()).into());
    if !status.message().is_empty() {
        error.insert("message".into(), status.message().into());
    }
    error
}
