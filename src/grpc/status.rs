//! The one place a [`DomainError`] becomes a gRPC [`Status`], by the error table in docs/api.md ("The API: every RPC and its REST route").

use tonic::Status;

use crate::greeter::DomainError;

// Every variant is named (no `_` arm), here and in the REST adapter's twin mapping
// (`rest::error`), so that a new domain error fails to compile until each protocol has decided
// its answer.
impl From<DomainError> for Status {
    fn from(error: DomainError) -> Self {
        match error {
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
            | DomainError::InEntry { .. } => Status::invalid_argument(error.to_string()),
        }
    }
}
