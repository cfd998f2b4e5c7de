//! What serving a request takes on either port, below both protocol adapters and the server
//! that wires them (named `serving`, not `port`, which read as a TCP port): the shape of a
//! port's service, the gate (header limit and drain) and admission (load shedding and
//! deadlines), which both ports apply alike, the future that finishes a reply on its way out, and the
//! sessions (WebSocket) that outlive their HTTP exchange, and the budget of request bytes both
//! ports' bodies count against.

mod admission;
mod body_budget;
mod finishing;
mod gate;
mod sessions;

pub use admission::{Admission, Admitted, Refused};
pub use body_budget::{BodyBudget, BodyBytesExhausted, Counted, FREE_BYTES_PER_BODY};
pub use finishing::{FinishReply, Finishing};
pub use gate::{
    Draining, Gate, GateAnswers, OpenedBeforeDrain, header_block_size, header_field_size,
};
pub use sessions::{Session, Sessions};

/// What a call shed for load is told, on both ports (503 on REST, UNAVAILABLE on gRPC).
pub const OVERLOADED: &str = "the server is at capacity; retry shortly";

/// What a new call is told once the server drains, on both ports.
pub const DRAINING: &str = "the server is shutting down";

/// A port's service: cloneable, always ready (its `poll_ready` is `Ready` at once, so the
/// front calls it without asking), and answering every request (errors are responses too).
/// What each adapter hands the server, which puts its own front around it (`server::layers`).
/// Named once, so the adapters can return plain services instead of routers with boxed layers.
pub trait PortService:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

// The bounds again, as the blanket impl of a trait alias must restate them.
impl<T> PortService for T where
    T: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}
