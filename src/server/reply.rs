//! The response future of the shared layers that touch every reply on its way out: the inner
//! service's future, and what the layer kept of the request until its reply came.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::response::Response;

/// What a layer kept of a request, and what it does to the request's reply.
pub(super) trait FinishReply {
    fn finish(self, response: Response) -> Response;
}

pin_project_lite::pin_project! {
    /// `inner`'s reply, finished by `kept` once it comes.
    pub(super) struct Finishing<F, K> {
        #[pin]
        inner: F,
        kept: Option<K>,
    }
}

impl<F, K> Finishing<F, K> {
    pub(super) fn new(inner: F, kept: K) -> Self {
        Self { inner, kept: Some(kept) }
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
        let Ok(response) = std::task::ready!(this.inner.poll(cx));
        Poll::Ready(Ok(match this.kept.take() {
            Some(kept) => kept.finish(response),
            None => response,
        }))
    }
}
