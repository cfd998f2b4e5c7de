//! gRPC's length-prefixed messages, which Connect's envelopes are too (the same five bytes:
//! flags, then a big-endian length), and their compression: the wire below every protocol of
//! the gRPC port, written once for the server that reads them and the clients that send them,
//! so that the two cannot disagree.

pub mod compression;

use bytes::{BufMut as _, Bytes, BytesMut};

/// The flag of a message whose bytes are compressed.
pub const COMPRESSED: u8 = 0b01;
/// The flag of Connect's end-of-stream message.
pub const END_STREAM: u8 = 0b10;
/// The prefix's length: a byte of flags, then four of length.
pub const PREFIX: usize = 5;

/// `payload` behind its five-byte prefix.
pub fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut framed = BytesMut::new();
    put_envelope(&mut framed, flags, payload);
    framed.freeze()
}

/// Appends `payload` behind its five-byte prefix to `buffer`.
pub fn put_envelope(buffer: &mut BytesMut, flags: u8, payload: &[u8]) {
    buffer.reserve(PREFIX + payload.len());
    buffer.put_u8(flags);
    buffer.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    buffer.put_slice(payload);
}

/// The flags and the payload's length that the prefix at the front of `bytes` holds, or `None`
/// until all five of its bytes are there. What the server's reader takes messages
/// with, and `compare`'s gRPC client too.
pub fn prefix(bytes: &[u8]) -> Option<(u8, usize)> {
    let &[flags, a, b, c, d] = bytes.first_chunk::<PREFIX>()?;
    Some((flags, u32::from_be_bytes([a, b, c, d]) as usize))
}
