//! `x-request-id` on every request and its reply: the client's own, or a new UUID. One small
//! service instead of tower-http's pair (`SetRequestId` and `PropagateRequestId`), which
//! formatted each UUID through `Display`, kept a copy in the request's extensions as well as
//! its headers, and so cost a request as much as the rest of our per-call features together.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use axum::{extract::Request, response::Response};
use http::{HeaderName, HeaderValue};
use tower::{Layer, Service};

use super::reply::{FinishReply, Finishing};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds the request id to requests that have none, and to every reply.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIds { inner }
    }
}

#[derive(Clone, Debug)]
pub(super) struct RequestIds<S> {
    inner: S,
}

impl<S> Service<Request> for RequestIds<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Finishing<S::Future, EchoedId>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let mut id = match request.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        // Unique to each reply, so HTTP/2's header compression gains nothing by indexing it,
        // and searching and filling its table for it cost an HTTP/2 reply about 3,000
        // instructions: sent as a literal, never indexed.
        id.set_sensitive(true);
        Finishing::new(self.inner.call(request), EchoedId(id))
    }
}

/// A new random (version 4) UUID, formatted straight into the header's bytes.
fn new_request_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// The request id, kept for the reply (unless the reply already carries one).
pub(super) struct EchoedId(HeaderValue);

impl FinishReply for EchoedId {
    fn finish(self, mut response: Response) -> Response {
        response.headers_mut().entry(REQUEST_ID).or_insert(self.0);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_hyphenated_version_4_uuids() {
        let id = new_request_id();
        let parsed = uuid::Uuid::parse_str(id.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id.len(), 36);
        assert_ne!(new_request_id(), id);
    }
}
