//! Optional bearer-token auth, the same on both ports: a request must carry
//! `authorization: Bearer <token>`. The comparison runs in constant time, and the token never
//! reaches a log line (its `Debug` is redacted).

use std::{fmt, str::FromStr, sync::Arc};

use http::{HeaderMap, header::AUTHORIZATION};
use subtle::ConstantTimeEq;

/// What a call without the server's token is told, on both ports.
pub const REFUSED: &str = "missing or invalid bearer token";

#[derive(Clone)]
pub struct BearerToken(Arc<[u8]>);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl FromStr for BearerToken {
    type Err = String;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let token = token.trim();
        if token.is_empty() {
            return Err("the auth token must not be empty".into());
        }
        Ok(Self(token.as_bytes().into()))
    }
}

impl BearerToken {
    /// Reads the token from a file (a mounted Kubernetes Secret, say); surrounding white space
    /// is ignored.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let contents = std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!("cannot read the auth token file {}: {error}", path.display())
        })?;
        contents.parse().map_err(anyhow::Error::msg)
    }

    /// Whether the request's `authorization` header carries this token. The scheme's name is
    /// case-insensitive (RFC 9110, section 11.1): `bearer` and `BEARER` are `Bearer` too.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(presented) =
            headers.get(AUTHORIZATION).and_then(|value| bearer_credentials(value.as_bytes()))
        else {
            return false;
        };
        // Only the length can leak, as ConstantTimeEq answers unequal lengths at once.
        presented.ct_eq(&self.0).into()
    }
}

/// What follows `Bearer ` (in any case) in an `authorization` value.
fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    let (scheme, credentials) = value.split_at_checked(SCHEME.len())?;
    scheme.eq_ignore_ascii_case(SCHEME).then_some(credentials)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn the_right_token_is_admitted() {
        let token: BearerToken = "s3cret".parse().unwrap();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert!(token.admits(&headers(&format!("{scheme} s3cret"))), "{scheme}");
        }
    }

    #[test]
    fn wrong_missing_or_malformed_tokens_are_not() {
        let token: BearerToken = "s3cret".parse().unwrap();
        for value in
            ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer ", "Bearers3cret"]
        {
            assert!(!token.admits(&headers(value)), "{value:?}");
        }
        assert!(!token.admits(&HeaderMap::new()));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token: BearerToken = "s3cret".parse().unwrap();
        assert_eq!(format!("{token:?}"), "BearerToken([redacted])");
    }

    #[test]
    fn an_empty_token_is_refused() {
        assert!("  ".parse::<BearerToken>().is_err());
    }
}
