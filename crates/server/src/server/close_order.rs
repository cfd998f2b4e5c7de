//! How a connection's watcher task tells the connection to close: gracefully (it fell silent,
//! or the server drains) or at once (a request head overran its deadline). The connection
//! checks for an order on every wake, which on HTTP/1.1 is every request, so the check is one
//! atomic load, with the task's waker registered once (two tokio oneshots cost each request
//! about 200 instructions, their cooperative budget and state checks; `tokio::select!` over the
//! connection and a registration on every wake, about 170).

use std::{
    future::{Future, poll_fn},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    task::{Poll, Waker},
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
    /// Drives `connection` until it ends (`Ok`, with its output) or until an order of at least
    /// `least` is given (`Err`, with the order), looking at the connection first, since nearly
    /// every wake is for it. The task's waker is registered once, and again only if it changes:
    /// on HTTP/1.1 every request wakes the task, and then costs one atomic load here.
    pub(super) async fn serve_until<F: Future>(
        &self,
        mut connection: Pin<&mut F>,
        least: CloseOrder,
    ) -> Result<F::Output, CloseOrder> {
        let mut registered: Option<Waker> = None;
        poll_fn(move |cx| {
            if let Poll::Ready(output) = connection.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            if !registered.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
                self.0.connection.register(cx.waker());
                registered = Some(cx.waker().clone());
            }
            // Looked at after the registration: an order given before it woke no one.
            match self.given(least) {
                Some(order) => Poll::Ready(Err(order)),
                None => Poll::Pending,
            }
        })
        .await
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
    async fn an_order_ends_the_wait_and_a_cut_outranks_a_graceful_close() {
        let (orders, received) = close_orders();
        let waiting = tokio::spawn(async move {
            let never = std::pin::pin!(std::future::pending::<()>());
            let first = received.serve_until(never, CloseOrder::Gracefully).await;
            let never = std::pin::pin!(std::future::pending::<()>());
            let second = received.serve_until(never, CloseOrder::Cut).await;
            (first, second)
        });
        tokio::task::yield_now().await;
        orders.give(CloseOrder::Gracefully);
        tokio::task::yield_now().await;
        orders.give(CloseOrder::Cut);
        orders.give(CloseOrder::Gracefully);
        let (first, second) = waiting.await.unwrap();
        assert_eq!((first, second), (Err(CloseOrder::Gracefully), Err(CloseOrder::Cut)));
    }

    #[tokio::test]
    async fn a_connection_that_ends_first_gives_its_output() {
        let (_orders, received) = close_orders();
        let done = std::pin::pin!(async { 7 });
        assert_eq!(received.serve_until(done, CloseOrder::Gracefully).await, Ok(7));
    }
}
