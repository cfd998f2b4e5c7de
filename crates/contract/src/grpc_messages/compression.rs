//! Message compression on the gRPC port: the encodings a message may be compressed with (named
//! by `grpc-encoding`, and by Connect's headers, which name the same), and the one place gzip
//! and zstd are called. The core ([`MessageEncoding::compressed`], `decompressed`) returns the
//! libraries' I/O errors; its callers each say them in their own terms: the server in a
//! [`Status`] ([`MessageEncoding::compress`], and [`MessageEncoding::decompress`], which bounds
//! what it reads by the message limit and refuses a zstd window past it), `compare`'s client in
//! its own (`compare::clients::compression`).

use std::io::Read as _;

use bytes::Bytes;
use tonic::Status;

/// The message encodings served besides `identity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageEncoding {
    Gzip,
    Zstd,
}

impl MessageEncoding {
    /// The encoding a header names: `Ok(None)` for none or `identity`, an error (UNIMPLEMENTED,
    /// naming what is served) for one this server does not have.
    pub fn named(name: Option<&[u8]>) -> Result<Option<Self>, Status> {
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

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The first encoding served in an `accept-encoding`-style list (`gzip, br`), if any.
    pub fn first_accepted(list: &[u8]) -> Option<Self> {
        list.split(|&b| b == b',')
            .map(|name| name.split(|&b| b == b';').next().unwrap_or_default())
            .find_map(|name| Self::named(Some(name)).ok().flatten())
    }

    pub fn compress(self, message: &[u8]) -> Result<Bytes, Status> {
        self.compressed(message).map(Bytes::from).map_err(|error| {
            Status::internal(format!("a {} message did not compress: {error}", self.name()))
        })
    }

    /// `compressed`, decompressed, refused once it grows past `limit` bytes (a bomb stops there).
    pub fn decompress(self, compressed: &[u8], limit: usize) -> Result<Bytes, Status> {
        let out = self.decompressed(compressed, limit).map_err(|error| {
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

    /// The compression core (see the module's comment): `message` compressed at the library's
    /// default level (gzip's 6; zstd's 0 is its default, 3), or the library's error.
    pub fn compressed(self, message: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::Write as _;
        match self {
            Self::Gzip => {
                let mut gzip =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gzip.write_all(message).and_then(|()| gzip.finish())
            }
            Self::Zstd => zstd::encode_all(message, 0),
        }
    }

    /// The decompression core (see the module's comment): `compressed`, decompressed, read no
    /// further than one byte past `limit` (so that a caller sees it went past), with a zstd
    /// window no larger than `limit` allows; or the library's error.
    pub fn decompressed(self, compressed: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let read = match self {
            Self::Gzip => flate2::read::GzDecoder::new(compressed).take(take).read_to_end(&mut out),
            // zstd allocates the window a frame declares, up to 128 MiB by default, before it
            // writes a byte: a 27-byte frame could make the server allocate that much. The
            // window may be as large as the limit (or zstd's levels' own, 8 MiB), no larger.
            Self::Zstd => only_current_zstd_frames(compressed)
                .and_then(|()| zstd::stream::read::Decoder::new(compressed))
                .and_then(|mut decoder| {
                    decoder.window_log_max(zstd_window_log(limit))?;
                    decoder.take(take).read_to_end(&mut out)
                }),
        };
        read.map(|_| out)
    }
}

/// Refuses a message with a frame in one of zstd's formats from before 1.0 ("legacy", v0.1 to
/// v0.7), which the library still reads: their decoders allocate the window a frame declares
/// whatever `window_log_max` says (the fuzzer's `compression` target found a 30-byte v0.6 frame
/// that allocated 64 MiB). Every frame is zstd's own format or a skippable frame, walked by
/// their sizes before any is decoded.
fn only_current_zstd_frames(mut compressed: &[u8]) -> std::io::Result<()> {
    const ZSTD: u32 = 0xFD2F_B528;
    const SKIPPABLE: u32 = 0x184D_2A50;
    let refuse = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    while !compressed.is_empty() {
        let magic = compressed.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        match magic {
            Some(ZSTD) => {}
            Some(magic) if magic & 0xFFFF_FFF0 == SKIPPABLE => {}
            _ => return Err(refuse(NOT_A_ZSTD_FRAME)),
        }
        let size = zstd::zstd_safe::find_frame_compressed_size(compressed)
            .map_err(|code| refuse(zstd::zstd_safe::get_error_name(code)))?;
        compressed = compressed.get(size.max(1)..).unwrap_or_default();
    }
    Ok(())
}

/// Why a frame of another format, legacy zstd's included, is refused.
const NOT_A_ZSTD_FRAME: &str =
    "not a zstd frame of the current format (zstd 1.0's or later; earlier formats are refused)";

/// zstd's error for a frame whose window is past the decoder's `window_log_max`.
const ZSTD_WINDOW_TOO_LARGE: &str = "Frame requires too much memory for decoding";

/// The largest zstd window (log2 of its bytes) a message decompressed up to `limit` may
/// declare: the limit rounded up to a power of two, at least 8 MiB (what zstd's levels 1 to 19
/// write) and at most 128 MiB (zstd's own default).
fn zstd_window_log(limit: usize) -> u32 {
    let log = usize::BITS - limit.saturating_sub(1).leading_zeros();
    log.clamp(23, 27)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_zstd_frame_is_refused_before_it_is_decoded() {
        // The fuzzer's input: a zstd v0.6 frame whose decoder allocated a 64 MiB window.
        let legacy = b"\x26\xb5\x2f\xfd\x5e\x55\xb2\x52\x72\x4c\x49\x54\xaa\x00\x00\x6b\x19\x00\x03\x28\x00\x00\x02\xd0\x01\xc3\x26\x09\x00";
        let error = MessageEncoding::Zstd.decompressed(legacy, 1 << 24).unwrap_err();
        assert_eq!(error.to_string(), NOT_A_ZSTD_FRAME);
        let status = MessageEncoding::Zstd.decompress(legacy, 1 << 24).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        // Frames of today's format, several in a row and a skippable one among them, still read.
        let mut frames = zstd::encode_all(&b"Hello "[..], 3).unwrap();
        frames.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, b'x', b'y']);
        frames.extend(zstd::encode_all(&b"World"[..], 3).unwrap());
        assert_eq!(MessageEncoding::Zstd.decompressed(&frames, 100).unwrap(), b"Hello World");
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
