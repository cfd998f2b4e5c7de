//! The write policy streamed REST bodies share with gRPC: items that are ready together go out
//! as one chunk, up to 32 KiB (tonic's threshold for a run of gRPC messages), and an item that
//! had to wait for its producer goes out at once rather than waiting for the next one. Handing
//! hyper one tiny chunk per item instead cost NDJSON and SSE over HTTP/2 a DATA frame and a
//! wake-up of the connection per greeting, which gRPC on the same HTTP/2 never paid.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;

/// How many bytes of ready items go out in one chunk at most: tonic's `yield_threshold`.
pub(crate) const CHUNK_BYTES: usize = 32 * 1024;

pin_project_lite::pin_project! {
    /// A body stream of `items`, each written by `encode`, coalesced as the module says.
    pub(crate) struct Coalesce<S, E> {
        #[pin]
        items: S,
        encode: E,
        buffer: BytesMut,
        done: bool,
    }
}

impl<S, E> Coalesce<S, E>
where
    S: Stream,
    E: FnMut(S::Item, &mut BytesMut),
{
    pub(crate) fn new(items: S, encode: E) -> Self {
        Self { items, encode, buffer: BytesMut::new(), done: false }
    }
}

impl<S, E> Stream for Coalesce<S, E>
where
    S: Stream,
    E: FnMut(S::Item, &mut BytesMut),
{
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.done {
            match this.items.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    (this.encode)(item, this.buffer);
                    if this.buffer.len() >= CHUNK_BYTES {
                        break;
                    }
                }
                Poll::Ready(None) => *this.done = true,
                // Nothing more is ready: what is buffered goes out now.
                Poll::Pending if this.buffer.is_empty() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        if this.buffer.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(this.buffer.split().freeze())))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{StreamExt as _, stream};

    use super::*;

    fn lines(
        items: impl Stream<Item = u32>,
    ) -> Coalesce<impl Stream<Item = u32>, impl FnMut(u32, &mut BytesMut)> {
        Coalesce::new(items, |item, buffer: &mut BytesMut| {
            buffer.extend_from_slice(format!("{item}\n").as_bytes());
        })
    }

    #[tokio::test]
    async fn items_ready_together_go_out_as_one_chunk() {
        let chunks: Vec<_> = lines(stream::iter(1..=3)).map(Result::unwrap).collect().await;
        assert_eq!(chunks, [Bytes::from("1\n2\n3\n")]);
    }

    #[tokio::test]
    async fn a_chunk_ends_at_the_threshold() {
        let big = stream::iter(0..CHUNK_BYTES as u32);
        let chunks: Vec<_> = lines(big).map(Result::unwrap).collect().await;
        assert!(chunks.len() > 1, "one chunk of {} bytes", chunks[0].len());
        assert!(chunks.iter().all(|chunk| chunk.len() < CHUNK_BYTES + 16));
    }

    #[tokio::test]
    async fn an_item_that_waited_goes_out_before_the_next_is_made() {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut body =
            Box::pin(lines(tokio_stream::wrappers::UnboundedReceiverStream::new(receiver)));
        sender.send(1).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "1\n");
        sender.send(2).unwrap();
        sender.send(3).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "2\n3\n");
        drop(sender);
        assert!(body.next().await.is_none());
    }
}
