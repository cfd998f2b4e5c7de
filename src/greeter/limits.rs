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
