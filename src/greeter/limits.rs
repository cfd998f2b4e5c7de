//! The domain's bounds, in one place: the adapters, the OpenAPI document and the tests read
//! them from here.

/// A name may hold at most this many bytes of UTF-8, before trimming.
pub const MAX_NAME_BYTES: usize = 256;

/// A greeting stream holds between 1 and this many greetings.
pub const MAX_STREAM_COUNT: u32 = 1000;

/// How many greetings a stream holds when the caller does not say.
pub const DEFAULT_STREAM_COUNT: u32 = 10;

/// A batch holds between 1 and this many names.
pub const MAX_BATCH_NAMES: usize = 10_000;
