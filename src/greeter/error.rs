//! The one error type of the domain. Each adapter maps it to its protocol in one place
//! (`grpc::status`, `rest::error`); the messages here are what a client reads.

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
}
