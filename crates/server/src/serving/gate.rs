//! What is refused before a request reaches a port's services, on both ports alike: a request
//! whose header block is over the limit, and, once the server drains, any request on a
//! connection opened during the drain, so that clients move on to another server (health and
//! readiness still answer then, with what they know). A request on a connection the server
//! had before the drain is served: it is one the HTTP/2 GOAWAY let through, or one an HTTP/1.1
//! client sent before its connection's `Connection: close` reached it, and refusing it would
//! fail a call no client could have sent elsewhere (what a rolling restart then loses). Each adapter answers in its own protocol's terms (431 or 503 on REST,
//! RESOURCE_EXHAUSTED or UNAVAILABLE on gRPC, in Connect's shape for a Connect call), and asks
//! at the top of its own front rather than through a layer of its own: a layer moved every
//! request and reply once more, and REST reads its headers in the same pass as its encodings.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::{extract::Request, response::Response};
use http::HeaderMap;

use crate::config::ConnectionLimits;

/// Whether the server is draining: set once, read by every request. A flag rather than the
/// shutdown `CancellationToken`, whose clone locks a mutex all cores share; and one that lives
/// as long as the process (a byte per server), so that requests hold it without a reference
/// count that every core would bump.
#[derive(Clone, Copy, Debug)]
pub struct Draining(&'static AtomicBool);

impl Default for Draining {
    fn default() -> Self {
        Self(Box::leak(Box::new(AtomicBool::new(false))))
    }
}

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Marks a request that came on a connection the server had before it began to drain (put
/// there by the connection's front, only while the server drains): the gate lets it through.
#[derive(Clone, Copy, Debug)]
pub struct OpenedBeforeDrain;

/// One port's gate: its header limit, the server's drain, and the port's answers to each.
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    draining: Draining,
    /// The largest header block a request may have (`--max-header-bytes`).
    max_header_bytes: usize,
    answers: GateAnswers,
}

/// What a port answers to what its gate refuses, in its protocol's terms: each adapter
/// declares these once, and [`Gate::new`] builds every port's gate from them.
#[derive(Clone, Copy, Debug)]
pub struct GateAnswers {
    /// What a request whose header block is over the limit gets, in the shape its headers
    /// say it reads.
    pub headers_too_large: fn(&HeaderMap, usize) -> Response,
    /// What a request gets once the server drains, in the shape its headers say it reads.
    pub draining_refusal: fn(&HeaderMap) -> Response,
    /// The paths still served while draining: health and readiness, so that probes read
    /// "alive, not ready" rather than an error.
    pub serves_while_draining: fn(&str) -> bool,
}

impl Gate {
    /// A port's gate: the connections' header limit and the server's drain, answered as the
    /// port's adapter says.
    pub fn new(draining: Draining, limits: &ConnectionLimits, answers: GateAnswers) -> Self {
        Self { draining, max_header_bytes: limits.max_header_bytes, answers }
    }

    /// The answer to `request` if it may not pass, given the size of its header block
    /// ([`header_block_size`], which the caller may have counted in a pass of its own).
    pub fn refusal(&self, request: &Request, header_block_size: usize) -> Option<Response> {
        if header_block_size > self.max_header_bytes {
            let answer = self.answers.headers_too_large;
            return Some(answer(request.headers(), self.max_header_bytes));
        }
        if self.draining.is_on()
            && !(self.answers.serves_while_draining)(request.uri().path())
            && request.extensions().get::<OpenedBeforeDrain>().is_none()
        {
            return Some((self.answers.draining_refusal)(request.headers()));
        }
        None
    }
}

/// A header block's size as HTTP/2 counts it (RFC 9113, section 6.5.2): each field's name and
/// value and 32 bytes more, on HTTP/1.1 as on HTTP/2.
pub fn header_block_size(headers: &HeaderMap) -> usize {
    headers.iter().map(|(name, value)| header_field_size(name, value)).sum()
}

/// One field's share of [`header_block_size`].
pub fn header_field_size(name: &http::HeaderName, value: &http::HeaderValue) -> usize {
    name.as_str().len() + value.len() + 32
}
