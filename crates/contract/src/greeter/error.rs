//! The one error type of the domain, and the kind of each error in the domain's own terms.
//! Each adapter maps kinds (not variants) to its protocol in one place (the server's
//! `grpc::status` and `rest::error`); the messages here are what a client reads.

use super::limits::{MAX_BATCH_NAMES, MAX_NAME_CHARS, MAX_STREAM_COUNT};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("name must not be empty")]
    EmptyName,

    #[error("name is {len} characters long; at most {MAX_NAME_CHARS} are allowed")]
    NameTooLong { len: usize },

    #[error("name must not contain control characters (found U+{code_point:04X} at byte {index})")]
    NameHasControlCharacter { code_point: u32, index: usize },

    #[error("count must be between 1 and {MAX_STREAM_COUNT}, got {count}")]
    StreamCountOutOfRange { count: u32 },

    #[error("batch must hold at least one name")]
    EmptyBatch,

    #[error("batch holds {len} names; at most {MAX_BATCH_NAMES} are allowed")]
    BatchTooLarge { len: usize },

    #[error("names[{index}]: {source}")]
    InvalidBatchName { index: usize, source: Box<DomainError> },

    #[error("{field} must hold at least one entry")]
    NoEntries { field: &'static str },

    #[error("{field} holds {len} entries; at most {max} are allowed")]
    TooManyEntries { field: &'static str, len: usize, max: usize },

    #[error("{field} is {len} bytes long; at most {max} are allowed")]
    TooManyBytes { field: &'static str, len: usize, max: usize },

    #[error("{field} must be positive, got {value}")]
    NotPositive { field: &'static str, value: i64 },

    #[error("{field} must be a finite number")]
    NotFinite { field: &'static str },

    #[error("{field} has no value numbered {value}")]
    UnknownEnumValue { field: &'static str, value: i32 },

    #[error(
        "{field} must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z \
         (got {seconds} seconds and {nanos} nanoseconds)"
    )]
    TimestampOutOfRange { field: &'static str, seconds: i64, nanos: i32 },

    /// A rule broken inside one entry of a list: `people[3]: id must be positive, got 0`.
    #[error("{list}[{index}].{source}")]
    InEntry { list: &'static str, index: usize, source: Box<DomainError> },
}

/// What kind of error a [`DomainError`] is, protocol-neutral: each adapter maps a kind to its
/// protocol's answer (a gRPC code, an HTTP status), so that a new variant of an existing kind
/// needs no adapter's change, and a new kind fails to compile until every adapter maps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request breaks one of the domain's rules: sent again unchanged, it fails again.
    InvalidInput,
}

impl DomainError {
    /// This error's kind: the one place that names every variant.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::EmptyName
            | DomainError::NameTooLong { .. }
            | DomainError::NameHasControlCharacter { .. }
            | DomainError::StreamCountOutOfRange { .. }
            | DomainError::EmptyBatch
            | DomainError::BatchTooLarge { .. }
            | DomainError::InvalidBatchName { .. }
            | DomainError::NoEntries { .. }
            | DomainError::TooManyEntries { .. }
            | DomainError::TooManyBytes { .. }
            | DomainError::NotPositive { .. }
            | DomainError::NotFinite { .. }
            | DomainError::UnknownEnumValue { .. }
            | DomainError::TimestampOutOfRange { .. }
            | DomainError::InEntry { .. } => ErrorKind::InvalidInput,
        }
    }

    /// `source`, broken in entry `index` of the list `list`.
    pub fn in_entry(list: &'static str, index: usize, source: DomainError) -> Self {
        Self::InEntry { list, index, source: Box::new(source) }
    }
}
