//! The request timeout for streams a client sends (client streaming and bidi calls): each
//! message, or the stream's end, must arrive within the timeout of the previous one, so that a
//! client cannot hold a call open for ever by sending nothing. A unary call is bounded whole by
//! the guard's deadline instead; replies the server streams are not timed here.

use std::{
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Status;

/// Whether a call to `path` has the client send a stream: read once from the served services'
/// descriptors (the Greeter's bidi stream and reflection's), so a new streaming RPC is covered
/// without being listed.
pub(super) fn client_streams(path: &str) -> bool {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    PATHS
        .get_or_init(|| {
            super::served_method_descriptors()
                .filter(|(_, method)| method.client_streaming())
                .map(|(path, _)| path)
                .collect()
        })
        .iter()
        .any(|streaming| streaming == path)
}

/// A client's stream, ended with DEADLINE_EXCEEDED when the server has waited `limit` for its
/// next frame. The timer runs only while the service is waiting for the client (polling this
/// body); time the service spends elsewhere, such as waiting for the client to take its
/// replies, does not count.
pub(super) struct ClientPaced {
    inner: Body,
    limit: Duration,
    /// Boxed and made on the first wait, then reset for each later one.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the timer counts down the current wait (set on a wait, cleared by a frame).
    waiting: bool,
}

impl ClientPaced {
    pub(super) fn new(inner: Body, limit: Duration) -> Self {
        Self { inner, limit, timer: None, waiting: false }
    }
}

impl http_body::Body for ClientPaced {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame);
        }
        let deadline = tokio::time::Instant::now() + this.limit;
        let timer = match &mut this.timer {
            Some(timer) => {
                if !this.waiting {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => this.timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        this.waiting = true;
        ready!(timer.as_mut().poll(cx));
        let status = Status::deadline_exceeded(format!(
            "the client sent no message for {} s (the server's request timeout)",
            this.limit.as_secs_f64()
        ));
        Poll::Ready(Some(Err(axum::Error::new(status))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
