//! The JSON codec of the gRPC port: a call marked [`JsonMessages`] (gRPC, gRPC-Web or Connect
//! with proto3 JSON messages) has each message turned into protobuf on its way in and back into
//! JSON on its way out, so that the guard, the metrics and the services see plain gRPC.
//! Compression happens here too, on the JSON bytes: requests are decompressed before they are
//! read, and replies compressed, when the client accepts it, after they are written.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::{HeaderValue, header::CONTENT_TYPE},
    response::Response,
};
use bytes::Bytes;
use futures_util::future::Either;
use tonic::Status;
use tower::Service;

use super::{
    ReplyFuture,
    compression::MessageEncoding,
    frames::{COMPRESSED, Rewritten},
};
use contract::proto::json::{JsonCodec, codec_for};

/// Marks a call whose messages are proto3 JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonMessages;

/// A gRPC service that also takes calls in proto3 JSON (see the module's comment). Calls in
/// protobuf pass straight through, at the cost of one look into the request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct JsonCoded<S> {
    inner: S,
    max_message_bytes: usize,
}

impl<S> JsonCoded<S> {
    pub(crate) fn new(inner: S, max_message_bytes: usize) -> Self {
        Self { inner, max_message_bytes }
    }
}

impl<S> Service<Request> for JsonCoded<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Either<Ready<Result<Response, Infallible>>, ReplyFuture>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.extensions().get::<JsonMessages>().is_none() {
            return Either::Left(self.inner.call(request));
        }
        match to_protobuf(request, self.max_message_bytes) {
            Ok((request, codec, reply_encoding)) => {
                let call = self.inner.call(request);
                Either::Right(Either::Right(Box::pin(async move {
                    let response = call.await?;
                    Ok(to_json(response, codec, reply_encoding))
                })))
            }
            Err(status) => Either::Right(Either::Left(ready(Ok(status.into_http())))),
        }
    }
}

/// The call with its JSON messages turned into protobuf as they arrive, its method's codec, and
/// the encoding its replies are to be compressed with.
fn to_protobuf(
    request: Request,
    limit: usize,
) -> Result<(Request, &'static JsonCodec, Option<MessageEncoding>), Status> {
    let path = request.uri().path();
    let codec: &'static JsonCodec = codec_for(path).ok_or_else(|| {
        Status::unimplemented(format!(
            "{path} takes protobuf only: proto3 JSON is served for helloworld.Greeter's methods"
        ))
    })?;
    let (mut parts, body) = request.into_parts();
    let encoding =
        MessageEncoding::named(parts.headers.get("grpc-encoding").map(|v| v.as_bytes()))?;
    parts.headers.remove("grpc-encoding");
    // Replies come back uncompressed, to be written as JSON and compressed then.
    let reply_encoding = parts
        .headers
        .remove("grpc-accept-encoding")
        .and_then(|accepted| MessageEncoding::first_accepted(accepted.as_bytes()));
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let body = Rewritten::body(
        body,
        limit,
        Box::new(move |flags, payload: Bytes| {
            let json = match (flags & COMPRESSED != 0, encoding) {
                (false, _) => payload,
                (true, Some(encoding)) => encoding.decompress(&payload, limit)?,
                (true, None) => {
                    return Err(Status::internal(
                        "a message is flagged compressed, but no encoding was named",
                    ));
                }
            };
            let protobuf = (codec.request_to_protobuf)(&json).map_err(Status::invalid_argument)?;
            Ok((0, protobuf.into()))
        }),
    );
    Ok((Request::from_parts(parts, body), codec, reply_encoding))
}

/// The reply with its protobuf messages written as JSON as they leave.
fn to_json(
    response: Response,
    codec: &'static JsonCodec,
    encoding: Option<MessageEncoding>,
) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc+json"));
    if let Some(encoding) = encoding {
        parts.headers.insert("grpc-encoding", HeaderValue::from_static(encoding.name()));
    }
    let body = Rewritten::body(
        body,
        usize::MAX,
        Box::new(move |_, payload: Bytes| {
            let json = (codec.reply_to_json)(&payload).map_err(Status::internal)?;
            match encoding {
                Some(encoding) => Ok((COMPRESSED, encoding.compress(&json)?)),
                None => Ok((0, json.into())),
            }
        }),
    );
    Response::from_parts(parts, body)
}
