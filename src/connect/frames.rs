//! Length-prefixed messages, as gRPC frames them and as Connect envelopes them (the same five
//! bytes: flags, then a big-endian length), and bodies whose messages are rewritten one by one
//! on their way through (the JSON codec) while their trailers pass untouched.

use std::{
    io::Read as _,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::body::Body;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http_body::Frame;
use tonic::Status;

/// The flag of a message whose bytes are compressed.
pub(crate) const COMPRESSED: u8 = 0b01;
/// The flag of Connect's end-of-stream message.
pub(crate) const END_STREAM: u8 = 0b10;
const PREFIX: usize = 5;

/// `payload` behind its five-byte prefix.
pub(crate) fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(PREFIX + payload.len());
    framed.put_u8(flags);
    framed.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    framed.put_slice(payload);
    framed.freeze()
}

/// Takes one whole message off the front of `buffer`: its flags and payload, or `None` until
/// all its bytes are there. A message longer than `limit` is refused before it is buffered.
pub(crate) fn take_message(
    buffer: &mut BytesMut,
    limit: usize,
) -> Result<Option<(u8, Bytes)>, Status> {
    if buffer.len() < PREFIX {
        return Ok(None);
    }
    let length = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if length > limit {
        return Err(Status::resource_exhausted(format!(
            "a message of {length} bytes is larger than this server accepts ({limit} bytes)"
        )));
    }
    if buffer.len() < PREFIX + length {
        return Ok(None);
    }
    let flags = buffer.get_u8();
    buffer.advance(4);
    Ok(Some((flags, buffer.split_to(length).freeze())))
}

/// The message encodings served besides `identity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageEncoding {
    Gzip,
    Zstd,
}

impl MessageEncoding {
    /// The encoding a header names: `Ok(None)` for none or `identity`, an error (UNIMPLEMENTED,
    /// naming what is served) for one this server does not have.
    pub(crate) fn named(name: Option<&[u8]>) -> Result<Option<Self>, Status> {
        match name.map(<[u8]>::trim_ascii) {
            None | Some(b"identity" | b"") => Ok(None),
            Some(b"gzip") => Ok(Some(Self::Gzip)),
            Some(b"zstd") => Ok(Some(Self::Zstd)),
            Some(other) => Err(Status::unimplemented(format!(
                "messages compressed with {:?} are not served: send gzip, zstd or identity",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The first encoding served in an `accept-encoding`-style list (`gzip, br`), if any.
    pub(crate) fn first_accepted(list: &[u8]) -> Option<Self> {
        list.split(|&b| b == b',')
            .map(|name| name.split(|&b| b == b';').next().unwrap_or_default())
            .find_map(|name| Self::named(Some(name)).ok().flatten())
    }

    pub(crate) fn compress(self, message: &[u8]) -> Result<Bytes, Status> {
        use std::io::Write as _;
        let compressed = match self {
            Self::Gzip => {
                let mut gzip =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gzip.write_all(message).and_then(|()| gzip.finish())
            }
            Self::Zstd => zstd::encode_all(message, 0),
        };
        compressed.map(Bytes::from).map_err(|error| {
            Status::internal(format!("a {} message did not compress: {error}", self.name()))
        })
    }

    /// `compressed`, decompressed, refused once it grows past `limit` bytes (a bomb stops there).
    pub(crate) fn decompress(self, compressed: &[u8], limit: usize) -> Result<Bytes, Status> {
        let mut out = Vec::new();
        let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let read = match self {
            Self::Gzip => flate2::read::GzDecoder::new(compressed).take(take).read_to_end(&mut out),
            // zstd allocates the window a frame declares, up to 128 MiB by default, before it
            // writes a byte: a 27-byte frame could make the server allocate that much. The
            // window may be as large as the limit (or zstd's levels' own, 8 MiB), no larger.
            Self::Zstd => zstd::stream::read::Decoder::new(compressed).and_then(|mut decoder| {
                decoder.window_log_max(zstd_window_log(limit))?;
                decoder.take(take).read_to_end(&mut out)
            }),
        };
        read.map_err(|error| {
            if matches!(self, Self::Zstd) && error.to_string().contains(ZSTD_WINDOW_TOO_LARGE) {
                return Status::resource_exhausted(format!(
                    "a zstd message's window is larger than this server accepts ({} bytes)",
                    1_usize << zstd_window_log(limit)
                ));
            }
            Status::invalid_argument(format!(
                "a {} message did not decompress: {error}",
                self.name()
            ))
        })?;
        if out.len() > limit {
            return Err(Status::resource_exhausted(format!(
                "a message decompresses to more than this server accepts ({limit} bytes)"
            )));
        }
        Ok(out.into())
    }
}

/// zstd's error for a frame whose window is past the decoder's `window_log_max`.
const ZSTD_WINDOW_TOO_LARGE: &str = "Frame requires too much memory for decoding";

/// The largest zstd window (log2 of its bytes) a message decompressed up to `limit` may
/// declare: the limit rounded up to a power of two, at least 8 MiB (what zstd's levels 1 to 19
/// write) and at most 128 MiB (zstd's own default).
fn zstd_window_log(limit: usize) -> u32 {
    let log = usize::BITS - limit.saturating_sub(1).leading_zeros();
    log.clamp(23, 27)
}

/// What a [`Rewritten`] body does to each message: its flags and payload in, new ones out.
pub(crate) type Rewrite = Box<dyn FnMut(u8, Bytes) -> Result<(u8, Bytes), Status> + Send>;

/// A body of length-prefixed messages, each rewritten by `rewrite`; trailers pass as they
/// came. A body that ends inside a message fails, as does a message longer than the limit.
pub(crate) struct Rewritten {
    inner: Body,
    buffer: BytesMut,
    limit: usize,
    rewrite: Rewrite,
}

impl Rewritten {
    pub(crate) fn body(inner: Body, limit: usize, rewrite: Rewrite) -> Body {
        Body::new(Self { inner, buffer: BytesMut::new(), limit, rewrite })
    }

    fn next_message(&mut self) -> Result<Option<Bytes>, Status> {
        match take_message(&mut self.buffer, self.limit)? {
            Some((flags, payload)) => {
                let (flags, payload) = (self.rewrite)(flags, payload)?;
                Ok(Some(envelope(flags, &payload)))
            }
            None => Ok(None),
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
        loop {
            if let Some(message) = this.next_message()? {
                return Poll::Ready(Some(Ok(Frame::data(message))));
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

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_prefix() {
        let mut buffer = BytesMut::from(&envelope(0, &[0; 10])[..5]);
        let refused = take_message(&mut buffer, 9).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn the_first_served_encoding_of_a_list_is_chosen() {
        assert_eq!(
            MessageEncoding::first_accepted(b"br, zstd;q=0.5, gzip"),
            Some(MessageEncoding::Zstd)
        );
        assert_eq!(MessageEncoding::first_accepted(b"identity"), None);
        let message = MessageEncoding::Gzip.compress(b"hello").unwrap();
        assert_eq!(&MessageEncoding::Gzip.decompress(&message, 5).unwrap()[..], b"hello");
    }

    /// Found by fuzzing (`compression`): a 27-byte zstd frame declaring a 64 MiB window made
    /// the JSON codec allocate 64 MiB before reading a byte of it.
    #[test]
    fn a_zstd_window_past_the_limit_is_refused_before_it_is_allocated() {
        // `{"name":"Ada"}` as the zstd tool writes it (a 2 MiB window: descriptor 0x58), and the
        // same frame declaring 128 MiB (0x88): one raw block, then its checksum.
        let frame = |window: u8| {
            let header = [0x28, 0xb5, 0x2f, 0xfd, 0x04, window, 0x71, 0, 0];
            [&header[..], br#"{"name":"Ada"}"#, &[0xf5, 0x79, 0x57, 0x4e]].concat()
        };
        let limit = 16 << 20;
        let read = MessageEncoding::Zstd.decompress(&frame(0x58), limit).unwrap();
        assert_eq!(&read[..], br#"{"name":"Ada"}"#);
        let refused = MessageEncoding::Zstd.decompress(&frame(0x88), limit).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains("window is larger"), "{refused:?}");
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        use std::io::Write as _;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&[0; 10_000]).unwrap();
        let bomb = gzip.finish().unwrap();
        let refused = MessageEncoding::Gzip.decompress(&bomb, 1_000).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert_eq!(MessageEncoding::Gzip.decompress(&bomb, 10_000).unwrap().len(), 10_000);
    }
}
