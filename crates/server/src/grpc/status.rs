//! The one place a [`DomainError`] becomes a gRPC [`Status`], by its kind, as the error table in
//! docs/api.md ("The API: every RPC and its REST route") says.

use contract::greeter::{DomainError, ErrorKind};
use tonic::Status;

/// `error` as the gRPC status a client reads. Every kind is named (no `_` arm), here and in the
/// REST adapter's mapping (`rest::error`), so that a new kind fails to compile until each
/// protocol has decided its answer.
pub(crate) fn status_of(error: DomainError) -> Status {
    match error.kind() {
        ErrorKind::InvalidInput => Status::invalid_argument(error.to_string()),
    }
}
