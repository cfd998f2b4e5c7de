//! HTTP/1.1's slow-header defence (a client that leaves a request head unfinished is cut once
//! `--header-read-timeout` has passed since the head began, however its bytes are spaced) at a
//! cost per connection rather than per request.
//!
//! hyper's own defence arms a timer at the start of every request head: a boxed `Sleep`
//! registered in tokio's timer wheel and taken out again, on every request of a keep-alive
//! connection, about 1,400 instructions a request that HTTP/2, and so gRPC, never pays. Here
//! a request costs a few counter updates: the connection's service counts the heads it is
//! handed ([`HeadWatch::head_taken`]) and the replies it has produced
//! ([`HeadWatch::answered`]), noting how many reads the socket ([`Activity`]) had made when
//! the last reply was ready, and the connection's watcher task looks at the counters a few
//! times per timeout ([`HeadWatch::overdue`]). Bytes read since the
//! last reply (or since the connection opened) while no request is being answered are the
//! start of a head; the connection is overdue once such a head has stayed unfinished for the
//! whole timeout, whether its bytes stalled or dripped. A slow request body is not cut here
//! (its request is being answered; the request timeout bounds it), nor an idle keep-alive
//! connection (nothing read since the reply; the idle timeout closes it), nor a connection
//! upgraded to a WebSocket (no longer HTTP). The watcher keeps looking while the connection
//! closes gracefully, since a graceful close waits for an unfinished head for ever.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{http::StatusCode, response::Response};
use tokio::time::Instant;

use super::activity::{Activity, bump};

/// How many times per timeout the watcher looks: an overdue connection is cut between the
/// timeout and an eighth of it later.
const LOOKS_PER_TIMEOUT: u32 = 8;

/// One HTTP/1.1 connection's requests, as its service sees them.
#[derive(Debug)]
pub(super) struct HeadWatch {
    /// The connection's socket: the reads it has made.
    activity: Arc<Activity>,
    /// Request heads completed (hyper has handed the request to the service).
    started: AtomicU64,
    /// Requests whose reply (its head) has been produced.
    answered: AtomicU64,
    /// The socket's reads when the last reply was produced (0 before the first): reads after
    /// it, with no request being answered, belong to the next head.
    reads_at_answer: AtomicU64,
    /// The connection was upgraded (101): it no longer carries HTTP requests.
    upgraded: AtomicBool,
    /// The connection is past its `--max-connection-age`: its next reply says
    /// `Connection: close`, after which hyper closes it.
    aged: AtomicBool,
}

impl HeadWatch {
    pub(super) fn new(activity: Arc<Activity>) -> Arc<Self> {
        Arc::new(Self {
            activity,
            started: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            reads_at_answer: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            aged: AtomicBool::new(false),
        })
    }

    /// Resolves once a request head has stayed unfinished for `timeout` (see the module's
    /// documentation): never sooner than `timeout` after the first look that saw it, and at
    /// most an eighth of it later. Never resolves once the connection is upgraded.
    pub(super) async fn overdue(&self, timeout: Duration) {
        let step = (timeout / LOOKS_PER_TIMEOUT).max(Duration::from_millis(1));
        // Since when the current head has been seen unfinished, and which head it is (the
        // count of heads completed before it).
        let mut unfinished: Option<(Instant, u64)> = None;
        loop {
            tokio::time::sleep(step).await;
            if self.upgraded.load(Ordering::Relaxed) {
                return std::future::pending().await;
            }
            let started = self.started.load(Ordering::Relaxed);
            let answering = started != self.answered.load(Ordering::Relaxed);
            let head_bytes = self.activity.reads() != self.reads_at_answer.load(Ordering::Relaxed);
            if answering || !head_bytes {
                unfinished = None;
                continue;
            }
            let (since, head) = *unfinished.get_or_insert_with(|| (Instant::now(), started));
            if head != started {
                unfinished = Some((Instant::now(), started));
            } else if since.elapsed() >= timeout {
                return;
            }
        }
    }

    /// The connection has reached its age: its next reply closes it.
    pub(super) fn close_after_next_reply(&self) {
        self.aged.store(true, Ordering::Relaxed);
    }

    /// Whether the reply being finished closes the connection (see `close_after_next_reply`).
    pub(super) fn closes_with_this_reply(&self) -> bool {
        self.aged.load(Ordering::Relaxed)
    }

    /// hyper has handed a request (its head complete) to the connection's service.
    pub(super) fn head_taken(&self) {
        bump(&self.started);
    }

    /// The reply to the last head taken is ready (its head, at least): bytes read from now on,
    /// while no request is being answered, are the start of the next head. After a 101 the
    /// connection no longer carries HTTP, and nothing is watched.
    pub(super) fn answered(&self, reply: &Response) {
        if reply.status() == StatusCode::SWITCHING_PROTOCOLS {
            self.upgraded.store(true, Ordering::Relaxed);
        }
        self.reads_at_answer.store(self.activity.reads(), Ordering::Relaxed);
        bump(&self.answered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(8);

    /// Drives `overdue` beside a script of what the connection does, in paused time: how long
    /// after the start the connection was found overdue, or `None` if the script ended first.
    async fn overdue_after(
        script: impl AsyncFnOnce(&Activity, &HeadWatch) -> (),
    ) -> Option<Duration> {
        let activity = Activity::new();
        let heads = HeadWatch::new(activity.clone());
        let started = Instant::now();
        tokio::select! {
            () = heads.overdue(TIMEOUT) => Some(started.elapsed()),
            () = script(&activity, &heads) => None,
        }
    }

    fn is_cut_in_time(cut: Option<Duration>, head_began: Duration) {
        let cut = cut.expect("the unfinished head is cut");
        assert!(cut >= head_began + TIMEOUT, "cut after {cut:?}");
        assert!(
            cut <= head_began + TIMEOUT + 2 * (TIMEOUT / LOOKS_PER_TIMEOUT),
            "cut after {cut:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_cut_after_the_timeout_and_not_before() {
        let cut = overdue_after(async |activity, _| {
            loop {
                activity.count_read();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        is_cut_in_time(cut, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_stalls_is_cut_though_nothing_more_arrives() {
        let cut = overdue_after(async |activity, _| {
            activity.count_read();
            tokio::time::sleep(Duration::from_secs(600)).await;
        })
        .await;
        is_cut_in_time(cut, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_dripped_slower_than_the_timeout_is_cut() {
        let cut = overdue_after(async |activity, _| {
            loop {
                activity.count_read();
                tokio::time::sleep(TIMEOUT + Duration::from_secs(4)).await;
            }
        })
        .await;
        is_cut_in_time(cut, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_left_to_the_idle_timeout() {
        let cut = overdue_after(async |_, _| tokio::time::sleep(Duration::from_secs(60)).await);
        assert_eq!(cut.await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_connection_idle_after_its_reply_is_not_cut_and_its_next_head_is_timed_anew()
     {
        let cut = overdue_after(async |activity, heads| {
            // A request: its head read and handed over, its reply produced.
            activity.count_read();
            heads.started.store(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
            heads.reads_at_answer.store(activity.reads(), Ordering::Relaxed);
            heads.answered.store(1, Ordering::Relaxed);
            // Idle for longer than the timeout: not a head.
            tokio::time::sleep(Duration::from_secs(30)).await;
            // Then a head that stalls.
            activity.count_read();
            tokio::time::sleep(Duration::from_secs(600)).await;
        })
        .await;
        is_cut_in_time(cut, Duration::from_millis(30_010));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_answered_is_not_overdue() {
        let cut = overdue_after(async |activity, heads| {
            heads.started.store(1, Ordering::Relaxed);
            for _ in 0..120 {
                activity.count_read();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        assert_eq!(cut, None, "cut a request being answered");
    }
}
