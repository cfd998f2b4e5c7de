//! Content negotiation for the REST adapter: request bodies are decoded by `Content-Type` and
//! replies encoded by `Accept`, as proto3 JSON (`application/json`, the default) or as the same
//! protobuf messages (`application/x-protobuf`).

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, header, request::Parts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use super::error::{ApiError, Code, Refusal, not_acceptable};

use super::media_types::{JSON, PROTOBUF};

/// How a message travels in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Json,
    Protobuf,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Self::Json => JSON,
            Self::Protobuf => PROTOBUF,
        }
    }

    /// Wraps a reply message so that it goes out in this encoding.
    pub(crate) fn reply<T>(self, message: T) -> Reply<T> {
        Reply { encoding: self, message }
    }
}

/// A reply message and the encoding the client asked for.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    encoding: Encoding,
    message: T,
}

impl<T: Serialize + prost::Message> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let body = match self.encoding {
            Encoding::Protobuf => self.message.encode_to_vec(),
            Encoding::Json => match serde_json::to_vec(&self.message) {
                Ok(body) => body,
                Err(error) => {
                    tracing::error!(%error, "could not encode a reply as JSON");
                    return ApiError::new(Code::Internal, "internal error").into_response();
                }
            },
        };
        ([(header::CONTENT_TYPE, self.encoding.content_type())], body).into_response()
    }
}

/// The encoding of the reply, from the request's `Accept` header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyEncoding(pub Encoding);

impl<S: Send + Sync> FromRequestParts<S> for ReplyEncoding {
    type Rejection = ApiError;

    /// Without a preference (no `Accept`, `*/*`), the reply is in the request's own encoding:
    /// a client that sends protobuf reads protobuf.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        negotiate(
            &parts.headers,
            &[
                (JSON, Encoding::Json),
                (PROTOBUF, Encoding::Protobuf),
                ("application/protobuf", Encoding::Protobuf),
            ],
            request_encoding(&parts.headers).unwrap_or(Encoding::Json),
        )
        .map(ReplyEncoding)
    }
}

/// A request message decoded by the request's `Content-Type`. A body without a
/// `Content-Type` is read as JSON, which is what most hand-written clients mean.
#[derive(Debug)]
pub(crate) struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned + prost::Message + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let encoding = request_encoding(request.headers())?;
        let bytes = Bytes::from_request(request, state).await?;
        let message = match encoding {
            Encoding::Json => decode_json_object(&bytes)?,
            Encoding::Protobuf => T::decode(bytes).map_err(|error| {
                ApiError::invalid_argument(format!("invalid protobuf body: {error}"))
            })?,
        };
        Ok(Self(message))
    }
}

/// A proto3 JSON body, or a 400 naming the field where reading it failed.
pub(crate) fn decode_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    contract::proto::json::decode_object(bytes).map_err(ApiError::invalid_argument)
}

pub(crate) fn request_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Encoding::Json);
    };
    // The media types as clients almost always write them, before the general parse: every
    // request pays this, and the parse cost a call about 700 instructions.
    match value.as_bytes() {
        bytes if bytes == JSON.as_bytes() => return Ok(Encoding::Json),
        bytes if bytes == PROTOBUF.as_bytes() => return Ok(Encoding::Protobuf),
        _ => {}
    }
    let essence = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
    let is = |media: &str| essence.eq_ignore_ascii_case(media);
    match () {
        () if is(JSON) => Ok(Encoding::Json),
        () if is(PROTOBUF) || is("application/protobuf") => Ok(Encoding::Protobuf),
        () => Err(Refusal::UnsupportedMediaType.error()),
    }
}

/// Picks the offer the `Accept` header likes best (highest q, then the client's order).
/// No header, `*/*` or `application/*` get `default`; a header that accepts none of the
/// offers is refused with 406 and the list of what is on offer.
pub(crate) fn negotiate<T: Copy>(
    headers: &HeaderMap,
    offers: &[(&str, T)],
    default: T,
) -> Result<T, ApiError> {
    let mut accept = headers.get_all(header::ACCEPT).iter();
    // One `Accept` of a single media type with no parameters, the common case, before the
    // general parse (which allocates).
    if let (Some(only), None) = (accept.next(), accept.next()) {
        let only = only.as_bytes();
        if only == b"*/*" {
            return Ok(default);
        }
        if let Some((_, offer)) = offers.iter().find(|(name, _)| name.as_bytes() == only) {
            return Ok(*offer);
        }
    }
    let mut ranges: Vec<(f32, &str)> = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        for range in value.to_str().unwrap_or_default().split(',') {
            let mut pieces = range.split(';');
            let media = pieces.next().unwrap_or_default().trim();
            let quality = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if !media.is_empty() && quality > 0.0 {
                ranges.push((quality, media));
            }
        }
    }
    if ranges.is_empty() && headers.get(header::ACCEPT).is_none() {
        return Ok(default);
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, media) in ranges {
        if media == "*/*" || media.eq_ignore_ascii_case("application/*") {
            return Ok(default);
        }
        if let Some((_, offer)) = offers.iter().find(|(name, _)| name.eq_ignore_ascii_case(media)) {
            return Ok(*offer);
        }
    }
    let names: Vec<&str> = offers.iter().map(|(name, _)| *name).collect();
    Err(not_acceptable(&names.join(", ")))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    const OFFERS: &[(&str, Encoding)] = &[(JSON, Encoding::Json), (PROTOBUF, Encoding::Protobuf)];

    // One small test per rule of negotiation, each of the same shape, so a failure names the
    // rule it broke.

    #[test]
    fn no_accept_header_gets_the_default() {
        assert_eq!(negotiate(&HeaderMap::new(), OFFERS, Encoding::Json), Ok(Encoding::Json));
    }

    #[test]
    fn the_highest_quality_wins() {
        let headers = accept("application/json;q=0.5, application/x-protobuf");
        assert_eq!(negotiate(&headers, OFFERS, Encoding::Json), Ok(Encoding::Protobuf));
    }

    #[test]
    fn wildcards_get_the_default() {
        assert_eq!(
            negotiate(&accept("text/html, */*;q=0.8"), OFFERS, Encoding::Json),
            Ok(Encoding::Json)
        );
    }

    #[test]
    fn refused_media_types_are_skipped() {
        let headers = accept("application/x-protobuf;q=0, application/json");
        assert_eq!(negotiate(&headers, OFFERS, Encoding::Protobuf), Ok(Encoding::Json));
    }

    #[test]
    fn nothing_acceptable_is_406() {
        let error = negotiate(&accept("text/html"), OFFERS, Encoding::Json).unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::NOT_ACCEPTABLE);
    }
}
