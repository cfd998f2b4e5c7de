//! The domain's bounds, in one place: the adapters, the OpenAPI document and the tests read
//! them from here.

/// A name may hold at most this many characters (Unicode scalar values), before trimming.
/// Characters rather than bytes, because that is what JSON Schema's `maxLength` counts: the
/// OpenAPI document can then state the rule exactly. It still bounds a name at 1 KiB of UTF-8.
pub const MAX_NAME_CHARS: usize = 256;

/// A greeting stream holds between 1 and this many greetings.
pub const MAX_STREAM_COUNT: u32 = 1000;

/// How many greetings a stream holds when the caller does not say.
pub const DEFAULT_STREAM_COUNT: u32 = 10;

/// A batch holds between 1 and this many names.
pub const MAX_BATCH_NAMES: usize = 10_000;

/// The payload workloads (`EchoComplex`, `EchoPeople`) carry at most this many pets or people.
pub const MAX_RECORDS: usize = 1000;

/// A person's avatar holds at most this many bytes.
pub const MAX_AVATAR_BYTES: usize = 64 * 1024;

/// A person holds at most this many labels, and at most this many tags.
pub const MAX_LABELS: usize = 32;
pub const MAX_TAGS: usize = 32;

/// The range of a timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, the
/// years RFC 3339 can write (and so the range proto3 JSON allows).
pub const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
pub const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
