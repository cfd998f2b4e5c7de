//! The server's entry points that the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the corpus
//! replay (`tests/fuzz_corpus.rs`) share (compare's own are in its crate's `fuzzing`): one per
//! parser we wrote, each taking bytes, calling the function the server calls on what a client
//! sent, and checking
//! what must hold of its answer. A panic is a finding; an error is the parser doing its job.
//! docs/security.md ("Fuzzing") says what each target covers and how a campaign runs. Not an
//! API: nothing else should call these.

// Each wrapper is a bytes-in entry point; their docs are in [`TARGETS`] and docs/security.md.
#![allow(missing_docs)]

use std::{collections::BTreeMap, sync::LazyLock};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header},
};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use prost::Message as _;
use serde::{Serialize, de::DeserializeOwned};
use tower::ServiceExt as _;

use crate::{
    connect,
    grpc_wire::{
        compression::MessageEncoding,
        frames::{COMPRESSED, END_STREAM, Rewritten, envelope, take_message},
    },
    rest,
};
use contract::{
    greeter::Greeter,
    proto::{self, UniqueKeys, json::decode_object},
    settings::DEFAULT_MAX_MESSAGE_BYTES,
};

use crate::grpc::content_types as grpc_content_types;

/// A target's entry point: the fuzzer's bytes in; a panic is a finding.
pub type EntryPoint = fn(&[u8]);

/// Every target: its name (the file in `fuzz/fuzz_targets/` and the folder of its corpus in
/// `fuzz/corpus/`) and its entry point.
pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("connect_get", connect_get),
    ("connect_head", connect_head),
    ("connect_envelopes", connect_envelopes),
    ("connect_end_of_stream", connect_end_of_stream),
    ("media_types", media_types),
    ("json_codec", json_codec),
    ("unique_keys", unique_keys),
    ("rest_path", rest_path),
    ("chat_message", chat_message),
    ("compression", compression),
];

/// A limit small enough that inputs of a few KiB (libFuzzer's) reach the checks against it;
/// the server's own is [`DEFAULT_MAX_MESSAGE_BYTES`].
const SMALL_LIMIT: usize = 1024;

/// The first byte (which picks a variant), and the rest.
fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, &[]),
    }
}

/// Header lines (`name: value`, one a line) as a map; lines that are no valid header skipped.
fn header_lines(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    headers
}

thread_local! {
    /// The runtime the async entry points run on, one per thread (the replay runs in several).
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
}

fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Connect's GET query (`connect::unary::query_message`): `encoding`, `base64`, `compression`
/// and the percent-encoded `message`. Checks: what it takes is within the limit, the content
/// type it sets matches `encoding`, and the message, sent again in base64, reads the same.
pub fn connect_get(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(uri) = Uri::try_from(format!("/helloworld.Greeter/SayHello?{query}")) else { return };
    let (mut parts, ()) = Request::get(uri).body(()).expect("a request").into_parts();
    let Ok((message, json)) = connect::unary::query_message(&mut parts, SMALL_LIMIT) else {
        return;
    };
    assert!(message.len() <= 2 * SMALL_LIMIT, "{} bytes taken", message.len());
    assert_eq!(parts.method, Method::POST);
    let media = if json { "application/json" } else { "application/proto" };
    assert_eq!(parts.headers[header::CONTENT_TYPE], media);
    let again = form_urlencoded::Serializer::new(String::new())
        .append_pair("encoding", "proto")
        .append_pair("base64", "1")
        .append_pair("message", &base64::engine::general_purpose::STANDARD.encode(&message))
        .finish();
    let uri = Uri::try_from(format!("/helloworld.Greeter/SayHello?{again}")).expect("a query");
    let (mut parts, ()) = Request::get(uri).body(()).expect("a request").into_parts();
    let read = connect::unary::query_message(&mut parts, DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(read.expect("a message sent in base64 reads again").0, message);
}

/// A Connect call's head as a gRPC call's (`connect::into_grpc_head`): the protocol version,
/// `Connect-Timeout-Ms`, the message encodings. The first byte picks JSON (bit 0) and a stream's
/// encoding headers (bit 1); the rest is header lines. Checks: a translated head is gRPC's
/// (content type, `te`), with no Connect header left and, from `Connect-Timeout-Ms`, a
/// `grpc-timeout` gRPC can read.
pub fn connect_head(data: &[u8]) {
    let (first, lines) = split_first(data);
    let (json, stream) = (first & 1 != 0, first & 2 != 0);
    let encodings = if stream { &connect::STREAM_ENCODINGS } else { &connect::UNARY_ENCODINGS };
    let (mut parts, ()) =
        Request::post("/helloworld.Greeter/SayHello").body(()).expect("a request").into_parts();
    parts.headers = header_lines(lines);
    // gRPC's own fields a client sent pass as they came (found by this target: its input is
    // kept); the checks are of the fields the translation writes.
    let sent_grpc_encoding = parts.headers.contains_key("grpc-encoding");
    let sent_timeout = parts.headers.contains_key("connect-timeout-ms");
    let encoding = match connect::into_grpc_head(&mut parts, json, encodings) {
        Ok(encoding) => encoding,
        Err(status) => {
            let code = status.code();
            assert!(
                matches!(code, tonic::Code::InvalidArgument | tonic::Code::Unimplemented),
                "{status:?}"
            );
            return;
        }
    };
    let headers = &parts.headers;
    assert_eq!(headers[header::CONTENT_TYPE], "application/grpc");
    assert_eq!(headers[header::TE], "trailers");
    let sent = if stream { "connect-content-encoding" } else { "content-encoding" };
    for gone in ["connect-protocol-version", "connect-timeout-ms", sent] {
        assert!(!headers.contains_key(gone), "{gone} left in {headers:?}");
    }
    if !sent_grpc_encoding {
        assert_eq!(encoding.is_some(), headers.contains_key("grpc-encoding"));
    }
    if let Some(timeout) = headers.get("grpc-timeout").filter(|_| sent_timeout) {
        let timeout = timeout.as_bytes();
        let (digits, unit) = timeout.split_at(timeout.len() - 1);
        assert!((1..=8).contains(&digits.len()), "{timeout:?}");
        assert!(digits.iter().all(u8::is_ascii_digit) && matches!(unit, b"m" | b"S"));
    }
}

/// A stream of enveloped messages (`grpc_wire::frames::Rewritten`, over `take_message`), as the
/// JSON codec reads a request body. The first byte sets the limit (in 16-byte steps; 255: the
/// server's), the second the size of the pieces the body arrives in. Checks: a body read whole
/// is, message by message, the body that came.
pub fn connect_envelopes(data: &[u8]) {
    let (first, rest) = split_first(data);
    let limit = if first == u8::MAX { DEFAULT_MAX_MESSAGE_BYTES } else { usize::from(first) * 16 };
    let (piece, body) = split_first(rest);
    let pieces: Vec<Result<Bytes, std::convert::Infallible>> = body
        .chunks(usize::from(piece).max(1))
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    let inner = Body::from_stream(futures_util::stream::iter(pieces));
    let identity = Box::new(|flags, payload| Ok((flags, payload)));
    let read = block_on(Rewritten::body(inner, limit, identity).collect());
    if let Ok(read) = read {
        assert_eq!(read.to_bytes(), body, "the messages read are not the ones sent");
    }
    // The step the body repeats, on the whole buffer at once: each message is within the limit.
    let mut buffer = BytesMut::from(body);
    while let Ok(Some((flags, payload))) = take_message(&mut buffer, limit) {
        assert!(payload.len() <= limit);
        let _ = (flags & COMPRESSED, envelope(flags, &payload));
    }
}

/// Connect's end-of-stream message (`connect::stream::end_of_stream`), written from a gRPC
/// call's trailers (header lines). Checks: it is one whole envelope flagged end-of-stream, its
/// JSON an object, with an `error` exactly when the trailers' status is not OK.
pub fn connect_end_of_stream(data: &[u8]) {
    let trailers = header_lines(data);
    let written = connect::stream::end_of_stream(&trailers);
    let mut buffer = BytesMut::from(&written[..]);
    let (flags, json) =
        take_message(&mut buffer, usize::MAX).expect("no limit").expect("one whole message");
    assert!(buffer.is_empty());
    assert_eq!(flags, END_STREAM);
    let end: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).expect("the end-of-stream message is a JSON object");
    let ok = tonic::Status::from_header_map(&trailers).is_some_and(|s| s.code() == tonic::Code::Ok);
    assert_eq!(end.contains_key("error"), !ok, "{end:?}");
}

/// Content types and `Accept` on both ports: the gRPC port's table (`grpc::content_types::Speaks::of`;
/// the first byte picks the method) and the REST port's (`rest::encoding::request_encoding`,
/// `negotiate`). Checks: a type the gRPC port takes is one of those it says it serves.
pub fn media_types(data: &[u8]) {
    use grpc_content_types::Speaks;
    let (first, content_type) = split_first(data);
    let method = match first % 4 {
        1 => Method::GET,
        2 => Method::PUT,
        _ => Method::POST,
    };
    let speaks = Speaks::of(&method, (first & 4 == 0).then_some(content_type));
    let served = matches!(
        speaks,
        Speaks::Grpc { .. }
            | Speaks::GrpcWeb { .. }
            | Speaks::ConnectUnary { .. }
            | Speaks::ConnectStream { .. }
    );
    if served {
        let text = std::str::from_utf8(content_type).expect("served types are text");
        let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let listed = grpc_content_types::SERVED.split(", ").any(|media| media == essence);
        assert!(listed, "{essence:?} is taken but not in the list of served types");
    }
    let Ok(value) = HeaderValue::from_bytes(content_type) else { return };
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.clone());
        let _ = rest::encoding::request_encoding(&headers);
        let offers = [
            (rest::media_types::JSON, rest::encoding::Encoding::Json),
            (rest::media_types::PROTOBUF, rest::encoding::Encoding::Protobuf),
            ("application/protobuf", rest::encoding::Encoding::Protobuf),
        ];
        let _ = rest::encoding::negotiate(&headers, &offers, rest::encoding::Encoding::Json);
    }
}

/// The Greeter's methods' paths, in order, as the JSON codec knows them.
static METHODS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let set = prost_types::FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptors decode");
    let greeter = set.file.iter().flat_map(|file| &file.service).find(|s| s.name() == "Greeter");
    let methods = &greeter.expect("the Greeter is described").method;
    methods.iter().map(|method| format!("/helloworld.Greeter/{}", method.name())).collect()
});

/// The JSON codec (`proto::json::codec_for`): the first byte picks a Greeter method, and the
/// rest is read both as its request in proto3 JSON (`request_to_protobuf`) and as its reply in
/// protobuf (`reply_to_json`), as the gRPC port's JSON codec does. Then the same byte picks a
/// message, and the rest goes round: JSON → message → JSON → message, and protobuf → message →
/// JSON → message; each time, what is read again encodes as the first did.
pub fn json_codec(data: &[u8]) {
    let (first, rest) = split_first(data);
    let path = &METHODS[usize::from(first) % METHODS.len()];
    let codec = proto::json::codec_for(path).expect("every Greeter method has a JSON codec");
    let _ = (codec.request_to_protobuf)(rest);
    let _ = (codec.reply_to_json)(rest);
    match first % 9 {
        0 => round_trips::<proto::HelloRequest>(rest),
        1 => round_trips::<proto::HelloReply>(rest),
        2 => round_trips::<proto::HelloStreamRequest>(rest),
        3 => round_trips::<proto::BatchHelloRequest>(rest),
        4 => round_trips::<proto::BatchHelloReply>(rest),
        5 => round_trips::<proto::ComplexRequest>(rest),
        6 => round_trips::<proto::ComplexReply>(rest),
        7 => round_trips::<proto::PeopleRequest>(rest),
        _ => round_trips::<proto::PeopleReply>(rest),
    }
}

fn round_trips<M>(bytes: &[u8])
where
    M: prost::Message + Default + Serialize + DeserializeOwned + std::fmt::Debug,
{
    if let Ok(message) = decode_object::<M>(bytes) {
        json_again(&message);
    }
    if let Ok(message) = M::decode(bytes) {
        json_again(&message);
    }
}

/// `message` written as proto3 JSON (where it can be) and read again encodes as it did.
fn json_again<M>(message: &M)
where
    M: prost::Message + Default + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let Ok(json) = serde_json::to_vec(message) else { return };
    // A non-finite double is written as `null` (JSON has no NaN or infinity), which reads as
    // nothing: the domain refuses such numbers before any reply is written
    // (`greeter::records`), so no server writes one. Found by this target; its input is kept.
    let value: serde_json::Value = serde_json::from_slice(&json).expect("what we write is JSON");
    if has_null(&value) {
        return;
    }
    let again: M = decode_object(&json).unwrap_or_else(|error| {
        panic!(
            "{message:?} written as {} does not read again: {error}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(again.encode_to_vec(), message.encode_to_vec(), "{message:?} read as {again:?}");
}

fn has_null(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Array(values) => values.iter().any(has_null),
        serde_json::Value::Object(fields) => fields.values().any(has_null),
        _ => false,
    }
}

/// The map reader that refuses a key given twice (`proto::UniqueKeys`), as the generated code
/// reads `labels`. Checks: it agrees with serde's own map, but for a repeated key.
pub fn unique_keys(data: &[u8]) {
    let unique = serde_json::from_slice::<UniqueKeys<String, String>>(data);
    let plain = serde_json::from_slice::<BTreeMap<String, String>>(data);
    match (unique, plain) {
        (Ok(unique), Ok(plain)) => assert_eq!(unique.0, plain),
        (Ok(unique), Err(error)) => panic!("{unique:?} read, where serde's map says {error}"),
        (Err(error), Ok(_)) => {
            assert!(error.to_string().starts_with("duplicate key"), "{error}");
        }
        (Err(_), Err(_)) => {}
    }
}

/// The REST API (`rest::api`), as the server's router serves it.
static REST_API: LazyLock<axum::Router> = LazyLock::new(|| {
    block_on(async {
        let (health, _) = tonic_health::server::health_reporter();
        rest::api(Greeter::new(), crate::readiness::Readiness::new(health).await)
    })
});

/// The REST path's percent-decoding: `GET /v1/greeter/hello/{name}` with the bytes as the
/// name, through the API's router (`rest::extract::ApiPath`, `malformed_escape`, axum's path
/// extractor, the domain). Checks: a malformed escape in the name is a 400, and no path is a
/// 5xx.
pub fn rest_path(data: &[u8]) {
    let Ok(name) = std::str::from_utf8(data) else { return };
    const PREFIX: &str = "/v1/greeter/hello/";
    let path = format!("{PREFIX}{name}");
    let Ok(uri) = Uri::try_from(&path) else { return };
    let uri_path = uri.path().to_owned();
    let malformed = rest::extract::malformed_escape(&uri_path);
    let request = Request::get(uri).body(Body::empty()).expect("a request");
    let reply = block_on(REST_API.clone().oneshot(request)).expect("the router is infallible");
    let status = reply.status();
    assert!(!status.is_server_error(), "{path:?}: {status}");
    // A path no route matches is a 404 before any extractor reads it; one the name's route
    // matches (a single segment) and that holds a malformed escape is a 400.
    let one_segment = !uri_path[PREFIX.len()..].contains('/');
    if malformed.is_some() && one_segment {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path:?}");
    }
}

/// The WebSocket chat's messages (`rest::chat::answer_json`, `answer_protobuf`): the first
/// byte's bit 0 picks a text frame (JSON; only valid UTF-8 arrives as one) or a binary one
/// (protobuf). Checks: an answer is a `HelloReply` in the frame's encoding.
pub fn chat_message(data: &[u8]) {
    use axum::extract::ws::Message;
    let (first, message) = split_first(data);
    let greeter = Greeter::new();
    if first & 1 == 0 {
        let Ok(text) = std::str::from_utf8(message) else { return };
        if let Ok(answer) = rest::chat::answer_json(&greeter, text.as_bytes()) {
            let Message::Text(reply) = answer else { panic!("a text frame answered {answer:?}") };
            let _: proto::HelloReply =
                serde_json::from_str(reply.as_str()).expect("the answer is a HelloReply");
        }
    } else if let Ok(answer) = rest::chat::answer_protobuf(&greeter, message) {
        let Message::Binary(reply) = answer else { panic!("a binary frame answered {answer:?}") };
        proto::HelloReply::decode(reply).expect("the answer is a HelloReply");
    }
}

/// Message compression (`grpc_wire::compression::MessageEncoding`), as the JSON codec
/// decompresses a request: bit 0 of the first byte picks gzip or zstd, bit 1 the server's limit,
/// or else the rest of the byte a small one (in 256-byte steps); the bytes are also read as the
/// encoding headers (`named`, `first_accepted`). Checks: what decompresses is within the limit,
/// and compressed again it decompresses to the same bytes.
pub fn compression(data: &[u8]) {
    let (first, compressed) = split_first(data);
    let _ = MessageEncoding::named(Some(compressed));
    let _ = MessageEncoding::first_accepted(compressed);
    let encoding = if first & 1 == 0 { MessageEncoding::Gzip } else { MessageEncoding::Zstd };
    let limit =
        if first & 2 != 0 { DEFAULT_MAX_MESSAGE_BYTES } else { usize::from(first >> 2) * 256 };
    let Ok(message) = encoding.decompress(compressed, limit) else { return };
    assert!(message.len() <= limit, "{} bytes past a limit of {limit}", message.len());
    let again = encoding.compress(&message).expect("compression does not fail");
    assert_eq!(encoding.decompress(&again, limit).expect("what we compress decompresses"), message);
}
