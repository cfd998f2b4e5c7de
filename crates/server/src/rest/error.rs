//! The one error shape of the REST API, Google's:
//! `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"…"}}`.
//! Domain errors map here by the gRPC code ↔ HTTP status table in docs/api.md ("The API: every
//! RPC and its REST route"), and so do the framework's own rejections, so a client never sees
//! a plain-text error.

use axum::{
    Json,
    extract::rejection::{BytesRejection, PathRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::media_types::{JSON, PROTOBUF};
use crate::serving::BodyBytesExhausted;
use contract::greeter::{DomainError, ErrorKind};

/// The canonical codes of google/rpc/code.proto that this API answers with today; each
/// carries the HTTP status docs/api.md's error table maps it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Code {
    InvalidArgument,
    Unauthenticated,
    NotFound,
    ResourceExhausted,
    Internal,
    Unimplemented,
    Unavailable,
    DeadlineExceeded,
}

impl Code {
    fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

/// An error on its way to a REST client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: Code,
    message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// The HTTP status, repeated for clients that only see the body.
    code: u16,
    /// The canonical gRPC code: what a gRPC client would have seen for the same call.
    status: Code,
    /// What went wrong, for a person to read.
    message: String,
}

impl ApiError {
    /// An error whose HTTP status is the one the table gives its code.
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self { status: code.http_status(), code, message: message.into() }
    }

    /// A protocol-level rejection with an HTTP status of its own (405, 406, 413, 415) that
    /// has no row in the table; `code` says what gRPC would have answered.
    pub(crate) fn with_status(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl ApiError {
    /// The error shape, for bodies and for WebSocket frames alike.
    pub(crate) fn into_body(self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.status.as_u16(),
                status: self.code,
                message: self.message,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.into_body())).into_response()
    }
}

// Every kind is named, as in the gRPC adapter's mapping (`grpc::status`): a new kind fails to
// compile until each protocol has decided its answer.
impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error.kind() {
            ErrorKind::InvalidInput => Self::invalid_argument(error.to_string()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::BodyTooLarge.error()
        } else if let Some(exhausted) = source_of::<BodyBytesExhausted>(&rejection) {
            // Load shed by memory: 503, as when too many requests are in flight.
            Self::new(Code::Unavailable, exhausted.to_string())
        } else {
            Self::invalid_argument(format!(
                "could not read the request body: {}",
                rejection.body_text()
            ))
        }
    }
}

/// The first error of type `E` in `error`'s chain of sources, itself included.
fn source_of<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    std::iter::successors(Some(error), |error| error.source())
        .find_map(|error| error.downcast_ref())
}

impl From<PathRejection> for ApiError {
    /// In the API's words where a client can get it wrong (a name whose percent-escapes are
    /// not UTF-8); the framework's for what only a bug of ours would cause.
    fn from(rejection: PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        if let PathRejection::FailedToDeserializePathParams(error) = &rejection
            && let ErrorKind::InvalidUtf8InPathParam { key } = error.kind()
        {
            return Self::invalid_argument(format!(
                "the path's `{key}` is not UTF-8 once its percent-escapes are decoded: a \
                 {key} is text, its bytes percent-encoded as UTF-8 (`%C3%A9` for `é`)"
            ));
        }
        Self::invalid_argument(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    /// The parameter and what was wrong with it (`count` must be a whole number, an unknown
    /// or repeated parameter), without the framework's "Failed to deserialize" preamble.
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let reason = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
        Self::invalid_argument(format!("the query string is not valid: {reason}"))
    }
}

/// The API's own refusals, besides the domain's rule errors: each one's status, code and
/// message, written once for the code that refuses and for the document that lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401: the server requires a bearer token and the request lacks it.
    BadToken,
    /// 503: too many requests in flight.
    Overloaded,
    /// 503: the server drains before it stops.
    Draining,
    /// 504: the request ran past the server's time limit.
    TimedOut,
    /// 404: no route for the path.
    NotFound,
    /// 405: a known path, a method it does not take.
    MethodNotAllowed,
    /// 413: the body (after decompression) is over the limit.
    BodyTooLarge,
    /// 415: a `Content-Type` that is neither JSON nor protobuf.
    UnsupportedMediaType,
    /// 415: a `Content-Encoding` other than gzip, zstd or identity.
    UnsupportedEncoding,
}

impl Refusal {
    pub(crate) fn error(self) -> ApiError {
        match self {
            Self::BadToken => ApiError::new(Code::Unauthenticated, crate::auth::REFUSED),
            Self::Overloaded => ApiError::new(Code::Unavailable, crate::serving::OVERLOADED),
            Self::Draining => ApiError::new(Code::Unavailable, crate::serving::DRAINING),
            Self::TimedOut => ApiError::new(
                Code::DeadlineExceeded,
                "the request took longer than the server allows",
            ),
            Self::NotFound => ApiError::new(
                Code::NotFound,
                "no route for this path; see /openapi.json for the API",
            ),
            Self::MethodNotAllowed => ApiError::with_status(
                StatusCode::METHOD_NOT_ALLOWED,
                Code::Unimplemented,
                "this path does not take this method; see /openapi.json for the API",
            ),
            Self::BodyTooLarge => ApiError::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ResourceExhausted,
                "request body is larger than this server accepts",
            ),
            Self::UnsupportedMediaType => ApiError::with_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                format!(
                    "Content-Type must be {JSON} or {PROTOBUF} (curl -d sends \
                     application/x-www-form-urlencoded: add -H 'Content-Type: {JSON}')"
                ),
            ),
            Self::UnsupportedEncoding => ApiError::with_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "Content-Encoding must be gzip, zstd or identity",
            ),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.error().into_response()
    }
}

/// 406: `Accept` allows none of `offers` (media types, comma-separated).
pub(crate) fn not_acceptable(offers: &str) -> ApiError {
    ApiError::with_status(
        StatusCode::NOT_ACCEPTABLE,
        Code::InvalidArgument,
        format!("Accept must allow one of: {offers}"),
    )
}

/// 431: the request's header block is over `limit` bytes.
pub(crate) fn headers_too_large(limit: usize) -> ApiError {
    ApiError::with_status(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Code::ResourceExhausted,
        format!("the request's headers are larger than this server accepts ({limit} bytes)"),
    )
}

/// For paths no route matches.
pub(crate) async fn not_found() -> ApiError {
    Refusal::NotFound.error()
}

/// For a known path called with a method it does not take.
pub(crate) async fn method_not_allowed() -> ApiError {
    Refusal::MethodNotAllowed.error()
}
