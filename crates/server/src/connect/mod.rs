//! The Connect protocol (connectrpc.com) on the gRPC port, as a translation in front of the
//! gRPC services, as tonic-web is for gRPC-Web: a Connect call becomes a gRPC call to the same
//! services, behind the same guard (token, load shedding, deadline) and metrics, and its gRPC
//! reply becomes Connect's. Unary calls are a POST of the bare message (`application/proto` or
//! `application/json`) or, for methods marked `NO_SIDE_EFFECTS`, a cacheable GET; streams
//! carry enveloped messages and end with a JSON end-of-stream message holding the status.
//! Our own adapter rather than a crate: the Rust Connect crates bring a code generator of their
//! own, where this one serves the tonic services we have, message for message.
//!
//! What the gRPC port's protocols share (the method table, length-prefixed messages and their
//! compression, the JSON codec) is below this adapter and gRPC's, in `grpc_wire`: only Connect
//! is here.

mod codes;
mod error;
pub(crate) mod stream;
pub(crate) mod unary;

use std::convert::Infallible;

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, header, request::Parts},
    response::Response,
};
use tonic::Status;
use tower::Service;

pub(crate) use stream::stream;
pub(crate) use unary::{get, unary};

/// Connect's error reply for `status`: its JSON, with the HTTP status of its code.
pub(crate) fn error_reply(status: &Status) -> Response {
    error::error_reply(status, None, &HeaderMap::new())
}

use crate::{
    grpc_wire::{JsonMessages, compression::MessageEncoding},
    metrics::Protocol,
};

/// The gRPC services a Connect call is translated to: the guarded services of the port.
pub(crate) trait GrpcServices:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Send + 'static
{
}

impl<S> GrpcServices for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Send
        + 'static
{
}

/// The headers that name a call's message encodings: unary calls use HTTP's own, streams
/// Connect's, since theirs compress message by message.
pub(crate) struct EncodingHeaders {
    sent: HeaderName,
    accepted: HeaderName,
}

pub(crate) const UNARY_ENCODINGS: EncodingHeaders =
    EncodingHeaders { sent: header::CONTENT_ENCODING, accepted: header::ACCEPT_ENCODING };
pub(crate) const STREAM_ENCODINGS: EncodingHeaders = EncodingHeaders {
    sent: HeaderName::from_static("connect-content-encoding"),
    accepted: HeaderName::from_static("connect-accept-encoding"),
};

const PROTOCOL_VERSION: &str = "connect-protocol-version";
const TIMEOUT: &str = "connect-timeout-ms";

/// Turns a Connect call's head into a gRPC call's: the content type, the deadline
/// (`Connect-Timeout-Ms` as `grpc-timeout`), the message encodings (as `grpc-encoding` and
/// `grpc-accept-encoding`), the JSON mark and the metrics' protocol. Returns the encoding the
/// request's messages are compressed with.
pub(crate) fn into_grpc_head(
    parts: &mut Parts,
    json: bool,
    encodings: &EncodingHeaders,
) -> Result<Option<MessageEncoding>, Status> {
    let headers = &mut parts.headers;
    if let Some(version) = headers.remove(PROTOCOL_VERSION) {
        if version != "1" {
            return Err(Status::invalid_argument(format!(
                "connect-protocol-version must be 1, got {:?}",
                String::from_utf8_lossy(version.as_bytes())
            )));
        }
    }
    if let Some(timeout) = headers.remove(TIMEOUT) {
        headers.insert("grpc-timeout", grpc_timeout(&timeout)?);
    }
    let encoding = MessageEncoding::named(headers.get(&encodings.sent).map(|v| v.as_bytes()))?;
    headers.remove(&encodings.sent);
    if let Some(encoding) = encoding {
        headers.insert("grpc-encoding", HeaderValue::from_static(encoding.name()));
    }
    if let Some(accepted) = headers.remove(&encodings.accepted) {
        headers.insert("grpc-accept-encoding", accepted);
    }
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    if json {
        parts.extensions.insert(JsonMessages);
    }
    parts.extensions.insert(Protocol::Connect);
    Ok(encoding)
}

/// `Connect-Timeout-Ms` (at most 10 digits) as a `grpc-timeout` (at most 8).
fn grpc_timeout(timeout: &HeaderValue) -> Result<HeaderValue, Status> {
    let millis = timeout
        .to_str()
        .ok()
        .filter(|digits| (1..=10).contains(&digits.len()))
        .and_then(|digits| digits.parse::<u64>().ok())
        .ok_or_else(|| {
            Status::invalid_argument("connect-timeout-ms must be a positive number of milliseconds")
        })?;
    let value =
        if millis <= 99_999_999 { format!("{millis}m") } else { format!("{}S", millis / 1000) };
    Ok(HeaderValue::try_from(value).expect("digits and a unit make a header value"))
}

/// The metadata a gRPC reply carries in `headers`, without gRPC's own fields.
fn metadata(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    headers.iter().filter(|(name, _)| {
        let name = name.as_str();
        !name.starts_with("grpc-") && name != "content-type" && name != "te"
    })
}
