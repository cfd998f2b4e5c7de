//! SayHelloStreamReply as `GET /v1/greeter/hello/{name}/stream?count=N`: Server-Sent Events or
//! newline-delimited JSON, by `Accept`. Each event or line is one `HelloReply` in proto3 JSON;
//! greetings ready together are written together (see [`super::coalesce`]).

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use bytes::{BufMut as _, BytesMut};
use futures_util::stream;
use serde::Deserialize;

use super::{
    coalesce::Coalesce,
    encoding::negotiate,
    error::ApiError,
    extract::{ApiPath, ApiQuery},
    media_types::{NDJSON, SSE},
};
use contract::{greeter::Greeter, proto::HelloReply};

#[derive(Debug, Deserialize)]
pub(crate) struct NamePath {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    #[serde(default, deserialize_with = "whole_count")]
    count: Option<u32>,
}

/// `count` as a whole number, refused in words that say so (the domain checks its range).
fn whole_count<'de, D: serde::Deserializer<'de>>(count: D) -> Result<Option<u32>, D::Error> {
    let count = String::deserialize(count)?;
    count.parse().map(Some).map_err(|_| {
        let digits = !count.is_empty() && count.bytes().all(|byte| byte.is_ascii_digit());
        serde::de::Error::custom(if digits {
            format!("{count} greetings are far too many (the stream's limit is far lower)")
        } else {
            format!("a whole number of greetings is expected, not {count:?}")
        })
    })
}

#[derive(Debug, Clone, Copy)]
enum StreamFormat {
    ServerSentEvents,
    NdJson,
}

pub(crate) async fn say_hello_stream(
    State(greeter): State<Greeter>,
    headers: HeaderMap,
    ApiPath(path): ApiPath<NamePath>,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let format = negotiate(
        &headers,
        &[(SSE, StreamFormat::ServerSentEvents), (NDJSON, StreamFormat::NdJson)],
        StreamFormat::NdJson,
    )?;
    let replies =
        greeter.say_hello_stream(&path.name, query.count)?.map(|message| HelloReply { message });
    let body = match format {
        StreamFormat::ServerSentEvents => Body::from_stream(Coalesce::new(
            stream::iter(replies),
            |reply, buffer: &mut BytesMut| {
                buffer.extend_from_slice(b"data: ");
                write_json(&reply, buffer);
                buffer.extend_from_slice(b"\n\n");
            },
        )),
        StreamFormat::NdJson => Body::from_stream(Coalesce::new(
            stream::iter(replies),
            |reply, buffer: &mut BytesMut| {
                write_json(&reply, buffer);
                buffer.extend_from_slice(b"\n");
            },
        )),
    };
    let media = match format {
        StreamFormat::ServerSentEvents => SSE,
        StreamFormat::NdJson => NDJSON,
    };
    Ok(([(header::CONTENT_TYPE, media), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}

/// A reply in proto3 JSON, straight into the body's buffer.
fn write_json(reply: &HelloReply, buffer: &mut BytesMut) {
    if let Err(error) = serde_json::to_writer(buffer.writer(), reply) {
        tracing::error!(%error, "could not encode a stream reply as JSON");
    }
}
