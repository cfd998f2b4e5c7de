//! A call's reply, finished on its way out by what was kept of the request when it came in:
//! the front's `x-served-by` and request id, each adapter's count for the metrics. One future
//! for all of them, so that each says only what it does to a reply ([`FinishReply`]).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::response::Response;

/// What was kept of a request, and what it does to the reply once it comes.
pub trait FinishReply {
    fn finish(self, response: Response) -> Response;
}

pin_project_lite::pin_project! {
    /// `call`'s reply, finished by `kept` (when there is something kept).
    pub struct Finishing<F, K> {
        #[pin]
        call: F,
        kept: Option<K>,
    }
}

impl<F, K> Finishing<F, K> {
    pub fn new(call: F, kept: Option<K>) -> Self {
        Self { call, kept }
    }
}

impl<F, K> Future for Finishing<F, K>
where
    F: Future<Output = Result<Response, Infallible>>,
    K: FinishReply,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = std::task::ready!(this.call.poll(cx));
        Poll::Ready(Ok(match this.kept.take() {
            Some(kept) => kept.finish(response),
            None => response,
        }))
    }
}
