//! HTTP/1.1's slow-header defence (a client that trickles a request head, or what follows a
//! reply, is cut once `--header-read-timeout` has passed) at a cost per connection rather than
//! per request.
//!
//! hyper's own defence arms a timer at the start of every request head: a boxed `Sleep`
//! registered in tokio's timer wheel and taken out again, on every request of a keep-alive
//! connection, about 1,400 instructions a request that HTTP/2, and so gRPC, never pays. Here
//! a request costs two counter updates: the connection's service ([`Watched`]) counts the heads
//! it is handed and the replies it has produced, the socket ([`Activity`]) counts reads and
//! writes, and the connection's watcher task looks at the counters a few times per timeout
//! ([`HeadWatch::overdue`]). A connection is overdue when, for the whole timeout, bytes
//! arrived but no head was completed, no request was being answered and nothing was written:
//! the shape of a slow-header client, and of one that trickles what follows a reply. A slow
//! request body is not cut here (its request is being answered; the request timeout bounds
//! it), nor an idle keep-alive connection (no bytes arrive; the idle timeout closes it), nor a
//! connection upgraded to a WebSocket (no longer HTTP).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{http::StatusCode, response::Response};
use hyper::{Request, body::Incoming};
use tokio::time::Instant;

use super::activity::Activity;

/// How many times per timeout the watcher looks: an overdue connection is cut between the
/// timeout and an eighth of it later.
const LOOKS_PER_TIMEOUT: u32 = 8;

/// One HTTP/1.1 connection's requests, as its service sees them.
#[derive(Debug, Default)]
pub(super) struct HeadWatch {
    /// Request heads completed (hyper has handed the request to the service).
    started: AtomicU64,
    /// Requests whose reply (its head) has been produced.
    answered: AtomicU64,
    /// The connection was upgraded (101): it no longer carries HTTP requests.
    upgraded: AtomicBool,
}

/// What moved on the connection, as of one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    reads: u64,
    writes: u64,
    started: u64,
}

impl HeadWatch {
    pub(super) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Resolves once the connection is overdue (see the module's documentation): never
    /// sooner than `timeout` after the first byte that was not followed by a head, and at most
    /// an eighth of it later. Never resolves once the connection is upgraded.
    pub(super) async fn overdue(&self, activity: &Activity, timeout: Duration) {
        let step = (timeout / LOOKS_PER_TIMEOUT).max(Duration::from_millis(1));
        let progress = || Progress {
            reads: activity.reads(),
            writes: activity.writes(),
            started: self.started.load(Ordering::Relaxed),
        };
        let mut mark = progress();
        let mut waiting_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(step).await;
            if self.upgraded.load(Ordering::Relaxed) {
                return std::future::pending().await;
            }
            let now = progress();
            let answering = now.started != self.answered.load(Ordering::Relaxed);
            if answering || now.writes != mark.writes || now.started != mark.started {
                (mark, waiting_since) = (now, None);
                continue;
            }
            if now.reads != mark.reads {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= timeout {
                    return;
                }
            }
        }
    }
}

/// A port's service on one connection, counting its heads and replies when the connection is
/// HTTP/1.1 (on HTTP/2, `heads` is `None` and nothing is counted).
#[derive(Clone)]
pub(super) struct Watched<S> {
    pub(super) inner: S,
    pub(super) heads: Option<Arc<HeadWatch>>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Watched<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(heads) = &self.heads {
            // Only the connection's own task writes: no need for a read-modify-write.
            let started = heads.started.load(Ordering::Relaxed);
            heads.started.store(started.wrapping_add(1), Ordering::Relaxed);
        }
        Answering { inner: self.inner.call(request), heads: self.heads.clone() }
    }
}

pin_project_lite::pin_project! {
    /// A request being answered; counted as answered once its reply's head is ready.
    pub(super) struct Answering<F> {
        #[pin]
        inner: F,
        heads: Option<Arc<HeadWatch>>,
    }
}

impl<F, E> Future for Answering<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let reply = std::task::ready!(this.inner.poll(cx));
        if let Some(heads) = this.heads.take() {
            if matches!(&reply, Ok(response) if response.status() == StatusCode::SWITCHING_PROTOCOLS)
            {
                heads.upgraded.store(true, Ordering::Relaxed);
            }
            let answered = heads.answered.load(Ordering::Relaxed);
            heads.answered.store(answered.wrapping_add(1), Ordering::Relaxed);
        }
        Poll::Ready(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `overdue` beside a script of what the connection does, in paused time.
    async fn overdue_after(script: impl Future<Output = ()>) -> Option<Duration> {
        let activity = Activity::new();
        let heads = HeadWatch::new();
        let started = Instant::now();
        tokio::select! {
            () = heads.overdue(&activity, Duration::from_secs(8)) => Some(started.elapsed()),
            () = script => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_cut_after_the_timeout_and_not_before() {
        let activity = Activity::new();
        let heads = HeadWatch::new();
        let started = Instant::now();
        let trickle = async {
            loop {
                activity.count_read();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        tokio::select! {
            () = heads.overdue(&activity, Duration::from_secs(8)) => {}
            () = trickle => unreachable!(),
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(8), "cut after {waited:?}");
        assert!(waited <= Duration::from_secs(10), "cut after {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_left_to_the_idle_timeout() {
        let quiet = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(overdue_after(quiet).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_answered_is_not_overdue() {
        let activity = Activity::new();
        let heads = HeadWatch::new();
        heads.started.store(1, Ordering::Relaxed);
        let slow_body = async {
            for _ in 0..120 {
                activity.count_read();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        tokio::select! {
            () = heads.overdue(&activity, Duration::from_secs(8)) => {
                panic!("cut a request being answered")
            }
            () = slow_body => {}
        }
    }
}
