//! Length-prefixed messages, as gRPC frames them and as Connect envelopes them (the same five
//! bytes: flags, then a big-endian length), and bodies whose messages are rewritten one by one
//! on their way through (the JSON codec) while their trailers pass untouched.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::body::Body;
use bytes::{Buf as _, Bytes, BytesMut};
use http_body::Frame;
use tonic::Status;

pub(crate) use contract::grpc_messages::{
    COMPRESSED, END_STREAM, PREFIX, envelope, prefix, put_envelope,
};

/// Takes one whole message off the front of `buffer`: its flags and payload, or `None` until
/// all its bytes are there. A message longer than `limit` is refused before it is buffered.
pub(crate) fn take_message(
    buffer: &mut BytesMut,
    limit: usize,
) -> Result<Option<(u8, Bytes)>, Status> {
    let Some((flags, length)) = prefix(buffer) else {
        return Ok(None);
    };
    if length > limit {
        return Err(Status::resource_exhausted(format!(
            "a message of {length} bytes is larger than this server accepts ({limit} bytes)"
        )));
    }
    if buffer.len() < PREFIX + length {
        return Ok(None);
    }
    buffer.advance(PREFIX);
    Ok(Some((flags, buffer.split_to(length).freeze())))
}

/// What a [`Rewritten`] body does to each message: its flags and payload in, new ones out.
pub(crate) type Rewrite = Box<dyn FnMut(u8, Bytes) -> Result<(u8, Bytes), Status> + Send>;

/// A body of length-prefixed messages, each rewritten by `rewrite`; trailers pass as they
/// came. A body that ends inside a message fails, as does a message longer than the limit.
///
/// The messages that arrived together leave together, in one chunk, as tonic wrote them (its
/// write policy, which every cell of the comparison shares): a chunk per message cost a stream
/// of 100 greetings 100 DATA frames, and a client's defence against floods of small DATA frames
/// (the `h2` crate's, since 0.4.20) closed the connection with ENHANCE_YOUR_CALM once a few
/// dozen such streams were in flight.
pub(crate) struct Rewritten {
    inner: Body,
    buffer: BytesMut,
    limit: usize,
    rewrite: Rewrite,
    /// A message that failed after others of its chunk were rewritten: its error is the
    /// body's next frame, after theirs.
    failed: Option<Status>,
}

impl Rewritten {
    pub(crate) fn body(inner: Body, limit: usize, rewrite: Rewrite) -> Body {
        Body::new(Self { inner, buffer: BytesMut::new(), limit, rewrite, failed: None })
    }

    /// Every whole message the buffer holds, rewritten, in one chunk (empty when none is whole).
    fn whole_messages(&mut self) -> Result<BytesMut, Status> {
        let mut chunk = BytesMut::new();
        loop {
            let rewritten = take_message(&mut self.buffer, self.limit).and_then(|taken| {
                taken.map(|(flags, payload)| (self.rewrite)(flags, payload)).transpose()
            });
            match rewritten {
                Ok(Some((flags, payload))) => put_envelope(&mut chunk, flags, &payload),
                Ok(None) => return Ok(chunk),
                Err(status) => {
                    // Nothing after a failed message is read: the body ends with its error.
                    self.buffer.clear();
                    self.inner = Body::empty();
                    if chunk.is_empty() {
                        return Err(status);
                    }
                    self.failed = Some(status);
                    return Ok(chunk);
                }
            }
        }
    }
}

impl http_body::Body for Rewritten {
    type Data = Bytes;
    type Error = tower::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(status) = this.failed.take() {
            return Poll::Ready(Some(Err(status.into())));
        }
        loop {
            let chunk = this.whole_messages()?;
            if !chunk.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(chunk.freeze()))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.buffer.extend_from_slice(&data),
                    Err(trailers) if this.buffer.is_empty() => {
                        return Poll::Ready(Some(Ok(trailers)));
                    }
                    Err(_) => return Poll::Ready(Some(Err(truncated().into()))),
                },
                Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
                None if this.buffer.is_empty() => return Poll::Ready(None),
                None => return Poll::Ready(Some(Err(truncated().into()))),
            }
        }
    }
}

fn truncated() -> Status {
    Status::invalid_argument(
        "the body ended inside a message (a truncated length prefix or payload)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_taken_only_once_whole() {
        let framed = envelope(COMPRESSED, b"hello");
        let mut buffer = BytesMut::from(&framed[..7]);
        assert_eq!(take_message(&mut buffer, 100).unwrap(), None);
        buffer.extend_from_slice(&framed[7..]);
        assert_eq!(
            take_message(&mut buffer, 100).unwrap(),
            Some((COMPRESSED, Bytes::from("hello")))
        );
        assert!(buffer.is_empty());
    }

    /// Messages rewritten to a JSON-like form: a byte more each, so the test sees every one.
    fn marked() -> Rewrite {
        Box::new(|flags, payload: Bytes| {
            if payload.as_ref() == b"bad" {
                return Err(Status::invalid_argument("a bad message"));
            }
            Ok((flags, [&payload[..], b"!"].concat().into()))
        })
    }

    async fn frames(mut body: Body) -> Vec<Result<Bytes, String>> {
        use http_body_util::BodyExt as _;
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            frames.push(frame.map(|f| f.into_data().unwrap()).map_err(|e| e.to_string()));
        }
        frames
    }

    #[tokio::test]
    async fn messages_that_arrive_together_leave_together() {
        let chunk = [envelope(0, b"a"), envelope(0, b"bb"), envelope(0, b"ccc")].concat();
        let rewritten = Rewritten::body(Body::from(chunk), 100, marked());
        let expected = [envelope(0, b"a!"), envelope(0, b"bb!"), envelope(0, b"ccc!")].concat();
        assert_eq!(frames(rewritten).await, vec![Ok(Bytes::from(expected))]);
    }

    #[tokio::test]
    async fn a_failed_message_fails_the_body_after_the_messages_before_it() {
        let chunk = [envelope(0, b"a"), envelope(0, b"bad"), envelope(0, b"c")].concat();
        let rewritten = Rewritten::body(Body::from(chunk), 100, marked());
        let frames = frames(rewritten).await;
        assert_eq!(frames[0], Ok(envelope(0, b"a!")));
        assert!(
            frames[1].as_ref().is_err_and(|error| error.contains("a bad message")),
            "{frames:?}"
        );
        assert_eq!(frames.len(), 2, "{frames:?}");
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_prefix() {
        let mut buffer = BytesMut::from(&envelope(0, &[0; 10])[..5]);
        let refused = take_message(&mut buffer, 9).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    }
}
