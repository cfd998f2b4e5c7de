//! compare's entry points that the fuzz targets (`fuzz/fuzz_targets/compare_*.rs`) and the
//! corpus replay (`tests/fuzz_corpus.rs`) share, as the server's crate has its own: one per
//! reader of what a server sends, each taking bytes, calling the function compare's clients
//! call, and checking what must hold of its answer. A panic is a finding; an error is the
//! reader doing its job. docs/security.md ("Fuzzing") says what each target covers. Not an
//! API: nothing else should call these.

// Each wrapper is a bytes-in entry point; their docs are in [`TARGETS`] and docs/security.md.
#![allow(missing_docs)]

use bytes::{Bytes, BytesMut};
use contract::grpc_messages::{COMPRESSED, envelope};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::clients::{http1, lean_h2::frames, unary};

/// A target's entry point: the fuzzer's bytes in; a panic is a finding.
pub type EntryPoint = fn(&[u8]);

/// Every target: its name (the file in `fuzz/fuzz_targets/` and the folder of its corpus in
/// `fuzz/corpus/`) and its entry point.
pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("compare_http1_reply", compare_http1_reply),
    ("compare_grpc_frame", compare_grpc_frame),
    ("compare_http2_frames", compare_http2_frames),
];

/// The first byte (which picks a variant), and the rest.
fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, &[]),
    }
}

/// compare's HTTP/1.1 reply reader (`compare::clients::http1`'s `reply_head`, `length_body`,
/// `take_chunk`, which the connection's loop calls), on the bytes as if the server sent them
/// and then nothing more. Checks: a reply read is read alike when sent again by its length and
/// chunked.
pub fn compare_http1_reply(data: &[u8]) {
    let mut buffer = BytesMut::from(data);
    let Ok(Some((status, _, body, _))) = http1::http1_reply(&mut buffer) else { return };
    assert!(body.len() <= data.len());
    let by_length =
        format!("HTTP/1.1 {} x\r\ncontent-length: {}\r\n\r\n", status.as_u16(), body.len());
    let chunked = format!("HTTP/1.1 {} x\r\ntransfer-encoding: chunked\r\n\r\n", status.as_u16());
    for (head, framed) in [(by_length, body.to_vec()), (chunked, chunks(&body))] {
        let mut again = BytesMut::from([head.as_bytes(), &framed].concat().as_slice());
        let read = http1::http1_reply(&mut again).expect("a reply we wrote reads");
        let (status_again, _, body_again, _) = read.expect("a whole reply");
        assert_eq!((status_again, &body_again), (status, &body));
        assert!(again.is_empty());
    }
}

/// `body` chunked: one chunk (none if empty), then the last, empty one.
fn chunks(body: &[u8]) -> Vec<u8> {
    let first = (!body.is_empty())
        .then(|| [format!("{:x}\r\n", body.len()).as_bytes(), body, b"\r\n"].concat());
    [first.unwrap_or_default(), b"0\r\n\r\n".to_vec()].concat()
}

/// compare's gRPC reply reader (`compare::clients::unary::grpc_message`): bits 0-1 of the first
/// byte put `grpc-status` in the headers (a trailers-only reply), the trailers, or nowhere; bit
/// 2 makes the HTTP status 503. The rest is `grpc-status`, a newline, `grpc-message`, a newline
/// and the body. Checks: a message read is the body's one frame, unwrapped.
pub fn compare_grpc_frame(data: &[u8]) {
    let (first, rest) = split_first(data);
    let mut fields = rest.splitn(3, |&b| b == b'\n');
    let (code, message) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
    let body = Bytes::copy_from_slice(fields.next().unwrap_or_default());
    let mut status_fields = HeaderMap::new();
    for (name, value) in [("grpc-status", code), ("grpc-message", message)] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            status_fields.insert(name, value);
        }
    }
    let (headers, trailers) = match first & 3 {
        0 => (status_fields, None),
        1 => (HeaderMap::new(), Some(status_fields)),
        _ => (HeaderMap::new(), None),
    };
    let http = if first & 4 == 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let read = unary::grpc_message(http, &headers, body.clone(), trailers.as_ref());
    if let Ok((compressed, message)) = read {
        let flags = if compressed { COMPRESSED } else { 0 };
        assert_eq!(envelope(flags, &message), body);
    }
}

/// compare's HTTP/2 frame reader (`lean_h2::frames::next_frame`), on bytes as a server sent
/// them: frame after frame until one is incomplete or refused. Checks: each frame's payload is
/// no longer than its declared length, and a frame written again (without padding or priority)
/// reads back the same.
pub fn compare_http2_frames(data: &[u8]) {
    let mut buffer = BytesMut::from(data);
    while let Ok(Some(frame)) = frames::next_frame(&mut buffer) {
        assert!(frame.payload.len() <= data.len());
        let flags = frame.flags & !(frames::PADDED | frames::PRIORITY);
        let mut again = BytesMut::new();
        frames::put_header(&mut again, frame.payload.len(), frame.kind, flags, frame.stream);
        again.extend_from_slice(&frame.payload);
        let read = frames::next_frame(&mut again).expect("a frame we wrote reads");
        assert_eq!(read, Some(frames::Frame { flags, ..frame }));
        assert!(again.is_empty());
    }
}
