//! The compression part of a cell: request messages compressed, and replies asked for in the
//! same encoding (gRPC's `grpc-encoding` and `grpc-accept-encoding`, REST's `Content-Encoding`
//! and `Accept-Encoding`), at each library's default level, as tonic and tower-http compress
//! on the server (gzip 6, zstd 3).

use std::io::{Read as _, Write as _};

use super::check::CallError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The encoding's name in `grpc-encoding` and `Content-Encoding` (`None` has none).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// `message` compressed (as it is, for `None`).
    pub fn compress(self, message: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        Ok(match self {
            Compression::None => message,
            Compression::Gzip => {
                let level = flate2::Compression::default();
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
                encoder.write_all(&message)?;
                encoder.finish()?
            }
            Compression::Zstd => zstd::encode_all(message.as_slice(), 3)?,
        })
    }

    /// Whether a REST reply body is in this encoding, by the encoding's magic number (the
    /// lean client reads no HTTP/1.1 headers but the status): a server may send a reply
    /// uncompressed, as ours does for a body it declines to compress.
    pub(crate) fn is_in(self, body: &[u8]) -> bool {
        match self {
            Compression::None => false,
            Compression::Gzip => body.starts_with(&[0x1f, 0x8b]),
            Compression::Zstd => body.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        }
    }

    pub fn decompress(self, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let bad =
            |error: std::io::Error| CallError::WrongReply(format!("bad compression: {error}"));
        let mut plain = Vec::new();
        match self {
            Compression::None => plain.extend_from_slice(body),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(body).read_to_end(&mut plain).map_err(bad)?;
            }
            Compression::Zstd => plain = zstd::decode_all(body).map_err(bad)?,
        }
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_encoding_reads_back_what_it_wrote() {
        let message = b"{\"people\":[]}".repeat(50);
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let compressed = compression.compress(message.clone()).unwrap();
            assert_eq!(compression.is_in(&compressed), compression != Compression::None);
            assert_eq!(compression.decompress(&compressed).unwrap(), message);
        }
        assert!(!Compression::Zstd.is_in(b"{}"));
    }
}
