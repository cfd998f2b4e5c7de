//! A process-wide bound on the request bytes the server holds while bodies arrive. Each
//! port's handlers read a body whole (REST) or a message at a time (gRPC, Connect), up to the
//! body limit each (16 MiB by default): thirty slow uploads of 15 MiB took a server in a
//! 256 MiB pod, the memory our manifests give it, past its limit, and the kernel killed it.
//! With the budget, such uploads get 503 / UNAVAILABLE once the bytes held reach
//! `--max-body-bytes-held`, and everyone else is still served.
//!
//! The first [`FREE_BYTES_PER_BODY`] of each body are not counted, so that the calls that
//! carry small messages (nearly all) touch no counter shared by every core; what they can hold
//! is bounded by the calls in flight (`--max-in-flight`) instead; a body that declares a length
//! within them is not even wrapped. Past them, a body's bytes are counted as they arrive, at
//! most the port's body limit per body (a long client stream holds no more than one message at
//! a time), and given back when the body ends or is dropped.

use std::{
    pin::Pin,
    sync::atomic::{AtomicUsize, Ordering},
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes of each body never counted against the budget.
pub const FREE_BYTES_PER_BODY: usize = 16 * 1024;

/// What a body that would pass the budget fails with; each adapter turns it into its answer.
#[derive(Debug, thiserror::Error)]
#[error("the server holds as many request bytes as it may (--max-body-bytes-held); retry shortly")]
pub struct BodyBytesExhausted;

/// The budget, shared by both ports. Its count lives as long as the process (a word per
/// server), so that every body holds it without a reference count all cores would bump.
#[derive(Debug, Clone, Copy)]
pub struct BodyBudget {
    held: &'static AtomicUsize,
    limit: usize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Self {
        Self { held: Box::leak(Box::new(AtomicUsize::new(0))), limit }
    }

    /// `body`, counted against the budget past its free bytes, up to `most_per_body`; the
    /// error of a body over the budget is `exhausted()`, in the port's own terms.
    pub fn count<B>(
        &self,
        body: B,
        most_per_body: usize,
        exhausted: fn() -> BoxError,
    ) -> Counted<B> {
        Counted { body, budget: *self, most_per_body, exhausted, received: 0, charged: 0 }
    }

    /// `body` as the port's handlers read it: counted as [`count`](Self::count) counts it,
    /// unless its declared length is within the free bytes, when there is nothing to count and
    /// it is not wrapped at all (HTTP/1.1 reads no more than a `Content-Length`, and HTTP/2
    /// resets a stream whose data overruns it).
    pub fn guard<B>(
        &self,
        body: B,
        most_per_body: usize,
        exhausted: fn() -> BoxError,
    ) -> axum::body::Body
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match body.size_hint().upper() {
            Some(length) if length <= FREE_BYTES_PER_BODY as u64 => axum::body::Body::new(body),
            _ => axum::body::Body::new(self.count(body, most_per_body, exhausted)),
        }
    }

    /// The bytes counted now, over every body.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn try_charge(&self, bytes: usize) -> bool {
        let charged = self.held.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if charged > self.limit {
            self.held.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::AcqRel);
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body counted against the [`BodyBudget`].
    pub struct Counted<B> {
        #[pin]
        body: B,
        budget: BodyBudget,
        most_per_body: usize,
        exhausted: fn() -> BoxError,
        received: usize,
        charged: usize,
    }

    impl<B> PinnedDrop for Counted<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.budget.give_back(std::mem::take(this.charged));
        }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frame = match ready!(this.body.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            None => {
                this.budget.give_back(std::mem::take(this.charged));
                return Poll::Ready(None);
            }
        };
        if let Some(data) = frame.data_ref() {
            *this.received = this.received.saturating_add(data.len());
            let owed = this
                .received
                .saturating_sub(FREE_BYTES_PER_BODY)
                .min(*this.most_per_body)
                .saturating_sub(*this.charged);
            if owed > 0 {
                if !this.budget.try_charge(owed) {
                    return Poll::Ready(Some(Err((this.exhausted)())));
                }
                *this.charged += owed;
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    fn exhausted() -> BoxError {
        Box::new(BodyBytesExhausted)
    }

    fn frames(sizes: &[usize]) -> impl Body<Data = Bytes, Error = std::convert::Infallible> {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            sizes.iter().map(|&size| Ok(Frame::data(Bytes::from(vec![0u8; size])))).collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_small_body_is_never_counted() {
        let budget = BodyBudget::new(0);
        let body = budget.count(Full::new(Bytes::from(vec![1; 1000])), 1 << 20, exhausted);
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 1000);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn bytes_past_the_free_ones_are_held_until_the_body_ends_or_drops() {
        let budget = BodyBudget::new(1 << 20);
        let mut body = Box::pin(budget.count(frames(&[20_000, 10_000]), 1 << 20, exhausted));
        body.frame().await.unwrap().unwrap();
        assert_eq!(budget.held(), 20_000 - FREE_BYTES_PER_BODY);
        body.frame().await.unwrap().unwrap();
        assert_eq!(budget.held(), 30_000 - FREE_BYTES_PER_BODY);
        assert!(body.frame().await.is_none());
        assert_eq!(budget.held(), 0);

        let mut dropped = Box::pin(budget.count(frames(&[40_000]), 1 << 20, exhausted));
        dropped.frame().await.unwrap().unwrap();
        assert_eq!(budget.held(), 40_000 - FREE_BYTES_PER_BODY);
        drop(dropped);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_body_past_the_budget_fails_and_the_others_keep_theirs() {
        let budget = BodyBudget::new(50_000);
        let mut first = Box::pin(budget.count(frames(&[60_000]), 1 << 20, exhausted));
        first.frame().await.unwrap().unwrap();
        let mut second = Box::pin(budget.count(frames(&[60_000]), 1 << 20, exhausted));
        let error = second.frame().await.unwrap().unwrap_err();
        assert!(error.is::<BodyBytesExhausted>(), "{error}");
        assert_eq!(budget.held(), 60_000 - FREE_BYTES_PER_BODY);
    }

    #[tokio::test]
    async fn a_long_stream_holds_at_most_one_body_limit() {
        let budget = BodyBudget::new(1 << 20);
        let body = budget.count(frames(&[30_000; 10]), 50_000, exhausted);
        let mut body = Box::pin(body);
        while let Some(frame) = body.frame().await {
            frame.unwrap();
            assert!(budget.held() <= 50_000);
        }
        assert_eq!(budget.held(), 0);
    }
}
