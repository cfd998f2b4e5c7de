//! The compression part of a cell: request messages compressed, and replies asked for in the
//! same encoding (gRPC's `grpc-encoding` and `grpc-accept-encoding`, REST's `Content-Encoding`
//! and `Accept-Encoding`), at each library's default level, as tonic and tower-http compress
//! on the server (gzip 6, zstd 3). gzip and zstd are called by the gRPC port's own code
//! (`grpc_wire::compression`'s core, which returns the libraries' errors; here they become a
//! [`CallError`]).

use super::check::CallError;
use contract::grpc_messages::compression::MessageEncoding;

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

    /// The server's name for the encoding (`None` has none).
    fn encoding(self) -> Option<MessageEncoding> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some(MessageEncoding::Gzip),
            Compression::Zstd => Some(MessageEncoding::Zstd),
        }
    }

    /// `message` compressed (as it is, for `None`).
    pub fn compress(self, message: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        Ok(match self.encoding() {
            None => message,
            Some(encoding) => encoding.compressed(&message)?,
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

    /// `body` decompressed, whatever its size (as it is, for `None`); a zstd window may be as
    /// large as zstd's own default maximum, 128 MiB.
    pub fn decompress(self, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let bad =
            |error: std::io::Error| CallError::WrongReply(format!("bad compression: {error}"));
        match self.encoding() {
            None => Ok(body.to_vec()),
            Some(encoding) => encoding.decompressed(body, usize::MAX).map_err(bad),
        }
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
