//! Connect's streams: enveloped messages both ways (`application/connect+proto`,
//! `application/connect+json`), the same five-byte framing as gRPC's, so the messages pass as
//! they are; the reply always has HTTP 200 once it starts, and ends with an end-of-stream
//! message (`{"error": …, "metadata": …}`) where gRPC has trailers.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, Version, header, request::Parts},
    response::Response,
};
use bytes::Bytes;
use http_body::Frame;
use tonic::{Code, Status};

use super::{
    GrpcServices, STREAM_ENCODINGS,
    error::{error_object, error_reply, head_refusal, no_such_method},
    into_grpc_head, metadata,
};
use crate::grpc_wire::{
    MethodShape, ReplyFuture,
    frames::{END_STREAM, envelope},
};

/// A Connect stream to `shape`'s method (`None`: no such method).
pub(crate) fn stream(
    inner: &mut impl GrpcServices,
    request: Request,
    shape: Option<MethodShape>,
    json: bool,
) -> ReplyFuture {
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = check_stream(&parts, shape) {
        return Box::pin(std::future::ready(Ok(refusal)));
    }
    if let Err(status) = into_grpc_head(&mut parts, json, &STREAM_ENCODINGS) {
        return Box::pin(std::future::ready(Ok(head_refusal(&status, &STREAM_ENCODINGS))));
    }
    // The envelopes are gRPC's frames: the body passes as it came.
    let call = inner.call(Request::from_parts(parts, body));
    Box::pin(async move {
        let Ok(response) = call.await;
        Ok(from_grpc(response, json))
    })
}

/// What a stream gets when its method is unary or not there, or streams both ways (which
/// needs HTTP/2) over HTTP/1.1.
fn check_stream(parts: &Parts, shape: Option<MethodShape>) -> Option<Response> {
    let Some(shape) = shape else {
        return Some(no_such_method(parts));
    };
    let path = parts.uri.path();
    if !shape.client_streams && !shape.server_streams {
        let status = Status::unimplemented(format!(
            "{path} is unary: send application/proto or application/json"
        ));
        return Some(error_reply(
            &status,
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            &HeaderMap::new(),
        ));
    }
    if shape.client_streams && shape.server_streams && parts.version < Version::HTTP_2 {
        let status = Status::unimplemented(format!(
            "{path} streams both ways, which needs HTTP/2: HTTP/1.1 cannot send and receive at once"
        ));
        let http = Some(StatusCode::HTTP_VERSION_NOT_SUPPORTED);
        return Some(error_reply(&status, http, &HeaderMap::new()));
    }
    None
}

/// A gRPC streaming reply as Connect's.
fn from_grpc(response: Response, json: bool) -> Response {
    let (parts, body) = response.into_parts();
    let trailers_only = parts.headers.contains_key("grpc-status").then(|| parts.headers.clone());
    let mut reply =
        Response::new(Body::new(EndStream { inner: body, trailers_only, ended: false }));
    let headers = reply.headers_mut();
    for (name, value) in metadata(&parts.headers) {
        headers.append(name.clone(), value.clone());
    }
    if let Some(encoding) = parts.headers.get("grpc-encoding") {
        headers.insert("connect-content-encoding", encoding.clone());
    }
    let media = if json { "application/connect+json" } else { "application/connect+proto" };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    reply
}

/// A gRPC reply body whose trailers (or trailers-only head) become the end-of-stream message.
struct EndStream {
    inner: Body,
    trailers_only: Option<HeaderMap>,
    ended: bool,
}

impl http_body::Body for EndStream {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(head) = this.trailers_only.take() {
            this.ended = true;
            return Poll::Ready(Some(Ok(Frame::data(end_of_stream(&head)))));
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(error))),
            None => {
                this.ended = true;
                return Poll::Ready(Some(Ok(Frame::data(end_of_stream(&HeaderMap::new())))));
            }
        };
        Poll::Ready(Some(Ok(match frame.into_trailers() {
            Ok(trailers) => {
                this.ended = true;
                Frame::data(end_of_stream(&trailers))
            }
            Err(data) => data,
        })))
    }
}

/// The end-of-stream message for a call that ended with `trailers`.
pub(crate) fn end_of_stream(trailers: &HeaderMap) -> Bytes {
    let status = Status::from_header_map(trailers)
        .unwrap_or_else(|| Status::internal("the call ended without a status"));
    let mut end = serde_json::Map::new();
    if status.code() != Code::Ok {
        end.insert("error".into(), error_object(&status).into());
    }
    let mut metadata_json = serde_json::Map::new();
    for (name, value) in metadata(trailers) {
        let values = metadata_json
            .entry(name.as_str())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let (serde_json::Value::Array(values), Ok(value)) = (values, value.to_str()) {
            values.push(value.into());
        }
    }
    if !metadata_json.is_empty() {
        end.insert("metadata".into(), metadata_json.into());
    }
    envelope(END_STREAM, &serde_json::to_vec(&end).expect("a map of strings is JSON"))
}
