//! What serves a route of the table (`super::routes`): a handler on the route's method and the
//! operation the document lists for it. Unary RPCs are served by `super::unary`'s one generic
//! handler; routes of a shape of their own (streams, the chat, the probes) name theirs.

use axum::routing::{MethodFilter, MethodRouter};
use utoipa::openapi::path::OperationBuilder;

/// What serves a route: its handler, on the route's method (given as a filter, so that the
/// method is written once, in the route), and the operation the document lists for it.
pub(crate) trait Endpoint<S>: Sync {
    fn method_router(&'static self, method: MethodFilter) -> MethodRouter<S>;
    fn operation(&self) -> OperationBuilder;
}

/// A route whose handler has a shape of its own (streams, the chat, the probes).
pub(crate) struct Handler<S> {
    pub(crate) handler: fn(MethodFilter) -> MethodRouter<S>,
    pub(crate) operation: fn() -> OperationBuilder,
}

impl<S> Endpoint<S> for Handler<S> {
    fn method_router(&'static self, method: MethodFilter) -> MethodRouter<S> {
        (self.handler)(method)
    }

    fn operation(&self) -> OperationBuilder {
        (self.operation)()
    }
}
