//! HTTP/2 frames as the lean client reads and writes them (RFC 9113 §4 and §6): the 9-byte
//! header, the frames a client sends, and a reader that takes whole frames off the front of a
//! buffer in pure steps (the fuzz target `compare_http2_frames` drives it).

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY: u8 = 0x20;

pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub(crate) const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(crate) const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// What a client sends first (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest frame payload either side may send before SETTINGS say otherwise.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 16_384;

/// The largest frame payload this client accepts (it advertises none: the default).
const MAX_FRAME_SIZE_ACCEPTED: usize = DEFAULT_MAX_FRAME_SIZE;

/// One frame, its payload with padding and priority fields taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Bytes,
}

/// Why the peer's bytes are not HTTP/2 this client can read: a connection error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("a frame of {0} bytes, over the {MAX_FRAME_SIZE_ACCEPTED} allowed")]
    TooLarge(usize),
    #[error("a padded frame whose padding is longer than its payload")]
    BadPadding,
    #[error("a {kind:#x} frame of {length} bytes, not the size its kind has")]
    BadSize { kind: u8, length: usize },
}

impl Frame {
    pub(crate) fn end_stream(&self) -> bool {
        self.flags & END_STREAM != 0
    }

    pub(crate) fn end_headers(&self) -> bool {
        self.flags & END_HEADERS != 0
    }
}

/// Takes the next whole frame off the front of `buffer`; `None` until one has arrived.
pub(crate) fn next_frame(buffer: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    if buffer.len() < 9 {
        return Ok(None);
    }
    let length = u32::from_be_bytes([0, buffer[0], buffer[1], buffer[2]]) as usize;
    if length > MAX_FRAME_SIZE_ACCEPTED {
        return Err(FrameError::TooLarge(length));
    }
    if buffer.len() < 9 + length {
        return Ok(None);
    }
    let (kind, flags) = (buffer[3], buffer[4]);
    let stream = u32::from_be_bytes([buffer[5], buffer[6], buffer[7], buffer[8]]) & 0x7fff_ffff;
    buffer.advance(9);
    let mut payload = buffer.split_to(length).freeze();
    let fixed = match kind {
        RST_STREAM | WINDOW_UPDATE => Some(4),
        PING => Some(8),
        _ => None,
    };
    if fixed.is_some_and(|size| size != length)
        || (kind == GOAWAY && length < 8)
        || (kind == SETTINGS && length % 6 != 0)
    {
        return Err(FrameError::BadSize { kind, length });
    }
    if matches!(kind, DATA | HEADERS | PUSH_PROMISE) && flags & PADDED != 0 {
        let padding = *payload.first().ok_or(FrameError::BadPadding)? as usize;
        if padding + 1 > payload.len() {
            return Err(FrameError::BadPadding);
        }
        payload = payload.slice(1..payload.len() - padding);
    }
    if kind == HEADERS && flags & PRIORITY != 0 {
        if payload.len() < 5 {
            return Err(FrameError::BadSize { kind, length });
        }
        payload.advance(5);
    }
    Ok(Some(Frame { kind, flags, stream, payload }))
}

/// Appends a frame's 9-byte header to `out`; its payload follows.
pub(crate) fn put_header(out: &mut BytesMut, length: usize, kind: u8, flags: u8, stream: u32) {
    out.put_uint(length as u64, 3);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
}

/// A header block as HEADERS and, past `max_frame_size`, CONTINUATION frames.
pub(crate) fn put_headers(
    out: &mut BytesMut,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: usize,
) {
    let mut chunks = block.chunks(max_frame_size).peekable();
    let mut kind = HEADERS;
    let mut flags = if end_stream { END_STREAM } else { 0 };
    if block.is_empty() {
        put_header(out, 0, HEADERS, flags | END_HEADERS, stream);
        return;
    }
    while let Some(chunk) = chunks.next() {
        if chunks.peek().is_none() {
            flags |= END_HEADERS;
        }
        put_header(out, chunk.len(), kind, flags, stream);
        out.put_slice(chunk);
        (kind, flags) = (CONTINUATION, 0);
    }
}

/// SETTINGS with these (identifier, value) pairs.
pub(crate) fn put_settings(out: &mut BytesMut, settings: &[(u16, u32)]) {
    put_header(out, settings.len() * 6, SETTINGS, 0, 0);
    for &(id, value) in settings {
        out.put_u16(id);
        out.put_u32(value);
    }
}

pub(crate) fn put_window_update(out: &mut BytesMut, stream: u32, increment: u32) {
    put_header(out, 4, WINDOW_UPDATE, 0, stream);
    out.put_u32(increment);
}

pub(crate) fn put_rst_stream(out: &mut BytesMut, stream: u32, code: u32) {
    put_header(out, 4, RST_STREAM, 0, stream);
    out.put_u32(code);
}

/// The (identifier, value) pairs of a SETTINGS payload (its size checked by [`next_frame`]).
pub(crate) fn settings_of(payload: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    payload.chunks_exact(6).map(|pair| {
        (
            u16::from_be_bytes([pair[0], pair[1]]),
            u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]),
        )
    })
}

/// A 4-byte payload as a number, the top bit cleared (WINDOW_UPDATE, RST_STREAM's code).
pub(crate) fn u31_of(payload: &[u8]) -> u32 {
    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        put_header(&mut out, payload.len(), kind, flags, stream);
        out.put_slice(payload);
        out
    }

    #[test]
    fn frames_come_off_whole_and_one_at_a_time() {
        let mut buffer = frame(DATA, END_STREAM, 3, b"hello");
        buffer.extend_from_slice(&frame(PING, 0, 0, b"12345678")[..13]);
        let data = next_frame(&mut buffer).unwrap().unwrap();
        assert_eq!((data.kind, data.stream, &data.payload[..]), (DATA, 3, &b"hello"[..]));
        assert!(data.end_stream());
        assert_eq!(next_frame(&mut buffer), Ok(None), "half a PING waits for the rest");
        buffer.extend_from_slice(b"5678");
        assert_eq!(
            next_frame(&mut buffer).unwrap().unwrap().payload,
            Bytes::from_static(b"12345678")
        );
    }

    #[test]
    fn padding_and_priority_are_taken_off() {
        let mut buffer =
            frame(HEADERS, PADDED | PRIORITY | END_HEADERS, 1, b"\x02\0\0\0\0\x10block\0\0");
        let headers = next_frame(&mut buffer).unwrap().unwrap();
        assert_eq!(&headers.payload[..], b"block");
        let mut buffer = frame(DATA, PADDED, 1, b"\x09short");
        assert_eq!(next_frame(&mut buffer), Err(FrameError::BadPadding));
    }

    #[test]
    fn oversized_and_missized_frames_are_connection_errors() {
        let mut buffer = BytesMut::new();
        put_header(&mut buffer, 1 << 20, DATA, 0, 1);
        assert_eq!(next_frame(&mut buffer), Err(FrameError::TooLarge(1 << 20)));
        let mut buffer = frame(WINDOW_UPDATE, 0, 0, b"\0\0\x01");
        assert!(matches!(next_frame(&mut buffer), Err(FrameError::BadSize { .. })));
        let mut buffer = frame(SETTINGS, 0, 0, b"\0\x01\0\0\x10");
        assert!(matches!(next_frame(&mut buffer), Err(FrameError::BadSize { .. })));
    }

    #[test]
    fn a_long_header_block_continues() {
        let mut out = BytesMut::new();
        put_headers(&mut out, 5, &[7u8; 40], true, 16);
        let kinds: Vec<(u8, u8, usize)> = std::iter::from_fn(|| next_frame(&mut out).unwrap())
            .map(|f| (f.kind, f.flags, f.payload.len()))
            .collect();
        assert_eq!(
            kinds,
            [(HEADERS, END_STREAM, 16), (CONTINUATION, 0, 16), (CONTINUATION, END_HEADERS, 8)]
        );
    }
}
