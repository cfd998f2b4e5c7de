//! SayHelloStreamReply as `GET /v1/greeter/hello/{name}/stream?count=N`: Server-Sent Events or
//! newline-delimited JSON, by `Accept`. Each event or line is one `HelloReply` in proto3 JSON.

use std::convert::Infallible;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, header},
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
};
use futures_util::stream;
use serde::Deserialize;

use super::{
    AppState,
    encoding::{NDJSON, SSE, negotiate},
    error::ApiError,
    extract::{ApiPath, ApiQuery},
    greeter_routes::NamePath,
};
use crate::proto::HelloReply;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    count: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
enum StreamFormat {
    ServerSentEvents,
    NdJson,
}

pub(crate) async fn say_hello_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(path): ApiPath<NamePath>,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let format = negotiate(
        &headers,
        &[(SSE, StreamFormat::ServerSentEvents), (NDJSON, StreamFormat::NdJson)],
        StreamFormat::NdJson,
    )?;
    let replies = state
        .greeter
        .say_hello_stream(&path.name, query.count)?
        .map(|message| HelloReply { message });
    Ok(match format {
        StreamFormat::ServerSentEvents => {
            let events = replies.map(|reply| Event::default().json_data(reply));
            Sse::new(stream::iter(events)).into_response()
        }
        StreamFormat::NdJson => {
            let lines = replies.map(|reply| {
                let mut line = serde_json::to_vec(&reply).unwrap_or_default();
                line.push(b'\n');
                Ok::<_, Infallible>(line)
            });
            ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(stream::iter(lines)))
                .into_response()
        }
    })
}
