//! How a connection's watcher task tells the connection to close: gracefully (it fell silent,
//! or the server drains) or at once (a request head overran its deadline). The connection
//! checks for an order on every wake, which on HTTP/1.1 is every request, so the check is one
//! atomic load and a waker registration that clones nothing when the task is the same (two
//! tokio oneshots cost each request about 200 instructions: their cooperative budget and
//! state checks).

use std::{
    future::poll_fn,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    task::{Context, Poll},
};

use futures_util::task::AtomicWaker;

/// What the watcher asks of the connection; a later order can only raise an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum CloseOrder {
    /// Finish what is in flight, then close.
    Gracefully = 1,
    /// Drop the connection now.
    Cut = 2,
}

#[derive(Default)]
struct Shared {
    order: AtomicU8,
    connection: AtomicWaker,
}

/// The watcher's end.
pub(super) struct Orders(Arc<Shared>);

/// The connection's end.
pub(super) struct OrdersReceived(Arc<Shared>);

pub(super) fn close_orders() -> (Orders, OrdersReceived) {
    let shared = Arc::new(Shared::default());
    (Orders(shared.clone()), OrdersReceived(shared))
}

impl Orders {
    pub(super) fn give(&self, order: CloseOrder) {
        self.0.order.fetch_max(order as u8, Ordering::AcqRel);
        self.0.connection.wake();
    }
}

impl OrdersReceived {
    /// The strongest order given so far, once there is one.
    pub(super) async fn any(&self) -> CloseOrder {
        poll_fn(|cx| self.poll_at_least(cx, CloseOrder::Gracefully)).await
    }

    /// Resolves once the connection is to be cut.
    pub(super) async fn cut(&self) {
        poll_fn(|cx| self.poll_at_least(cx, CloseOrder::Cut)).await;
    }

    fn poll_at_least(&self, cx: &mut Context<'_>, least: CloseOrder) -> Poll<CloseOrder> {
        if let Some(order) = self.given(least) {
            return Poll::Ready(order);
        }
        self.0.connection.register(cx.waker());
        // An order given between the load and the registration woke no one: look again.
        match self.given(least) {
            Some(order) => Poll::Ready(order),
            None => Poll::Pending,
        }
    }

    fn given(&self, least: CloseOrder) -> Option<CloseOrder> {
        match self.0.order.load(Ordering::Acquire) {
            2 => Some(CloseOrder::Cut),
            1 if least == CloseOrder::Gracefully => Some(CloseOrder::Gracefully),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cut_outranks_a_graceful_close_and_wakes_the_connection() {
        let (orders, received) = close_orders();
        let waiting = tokio::spawn(async move {
            let first = received.any().await;
            received.cut().await;
            (first, received.any().await)
        });
        tokio::task::yield_now().await;
        orders.give(CloseOrder::Gracefully);
        tokio::task::yield_now().await;
        orders.give(CloseOrder::Cut);
        orders.give(CloseOrder::Gracefully);
        assert_eq!(waiting.await.unwrap(), (CloseOrder::Gracefully, CloseOrder::Cut));
    }
}
