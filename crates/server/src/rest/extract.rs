//! axum's path and query extractors, with their rejections in the API's error shape. The path
//! is also refused when it holds a malformed percent-escape, which axum would take literally
//! (`%ZZ` as the three characters), where a client meant something it did not manage to say.

use axum::{
    extract::{FromRequestParts, Path, Query},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(at) = malformed_escape(parts.uri.path()) {
            return Err(ApiError::invalid_argument(format!(
                "the path has a malformed percent-escape at byte {at}: `%` must be followed by \
                 two hex digits (RFC 3986, section 2.1); a literal `%` is `%25`"
            )));
        }
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Where the first `%` not followed by two hex digits is, if any.
pub(crate) fn malformed_escape(path: &str) -> Option<usize> {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().find_map(|(at, &byte)| {
        let escape = bytes.get(at + 1..at + 3);
        let well_formed = escape.is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit));
        (byte == b'%' && !well_formed).then_some(at)
    })
}

#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_needs_two_hex_digits() {
        for (path, malformed) in [
            ("/v1/greeter/hello/Ada", None),
            ("/v1/greeter/hello/%C3%A9", None),
            ("/v1/greeter/hello/%FF", None),
            ("/v1/greeter/hello/%25", None),
            ("/v1/greeter/hello/%ZZ", Some(18)),
            ("/v1/greeter/hello/a%2", Some(19)),
            ("/v1/greeter/hello/%", Some(18)),
            ("/v1/greeter/hello/%41%g1", Some(21)),
        ] {
            assert_eq!(malformed_escape(path), malformed, "{path}");
        }
    }
}
