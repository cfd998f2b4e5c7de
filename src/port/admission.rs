//! Load shedding and the request deadline, which both ports apply the same way: a call runs
//! only while fewer than `max_in_flight` are running, and only until its deadline. Each adapter
//! answers a refusal in its own protocol's terms.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::Poll,
    time::Duration,
};

use tokio::time::Instant;

use crate::config::ConnectionLimits;

/// One port's bound on calls in flight and their time (clones share the bound).
#[derive(Clone, Debug)]
pub struct Admission {
    /// Calls running now. A plain counter rather than tokio's `Semaphore`, whose every release
    /// locks a mutex (its waiter list) that all cores share: nothing here ever waits for a
    /// slot, a call over the bound is refused at once.
    in_flight: Arc<AtomicUsize>,
    max_in_flight: usize,
    time_limit: Duration,
}

/// A running call's place in the count, given back when the call ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// Why a call did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many calls in flight: shed at once rather than queued.
    Overloaded,
    /// The deadline passed before the call produced its response.
    TimedOut,
}

impl Admission {
    pub fn new(limits: &ConnectionLimits) -> Self {
        Self {
            in_flight: Arc::default(),
            max_in_flight: limits.max_in_flight,
            time_limit: limits.request_timeout(),
        }
    }

    /// Runs `call` if a slot is free, for at most the server's time limit or the client's
    /// `deadline`, whichever is shorter. The slot is held until `call` finishes.
    pub async fn run<F: Future>(
        &self,
        deadline: Option<Duration>,
        call: F,
    ) -> Result<F::Output, Refused> {
        let _slot = Slot(&self.in_flight);
        if self.in_flight.fetch_add(1, Ordering::Acquire) >= self.max_in_flight {
            return Err(Refused::Overloaded);
        }
        let time_limit = deadline.map_or(self.time_limit, |client| client.min(self.time_limit));
        let deadline = Instant::now() + time_limit;
        let mut call = pin!(call);
        // Most calls finish in their first poll, and only a call that has to wait needs a
        // timer: arming one costs a timer-wheel entry and a reference to the runtime taken
        // (and dropped) from every core, which a bare server never pays.
        let first = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        if let Poll::Ready(output) = first {
            return Ok(output);
        }
        tokio::time::timeout_at(deadline, call).await.map_err(|_| Refused::TimedOut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_in_flight: usize, request_timeout: u64) -> Admission {
        Admission::new(&ConnectionLimits {
            max_in_flight,
            request_timeout,
            ..ConnectionLimits::default()
        })
    }

    #[tokio::test]
    async fn a_call_that_finishes_at_once_runs_without_a_timer() {
        assert_eq!(admission(1, 1).run(None, async { 7 }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_is_cut_at_the_shorter_deadline() {
        let admission = admission(1, 30);
        let slow = tokio::time::sleep(Duration::from_secs(60));
        let started = Instant::now();
        assert_eq!(admission.run(Some(Duration::from_secs(2)), slow).await, Err(Refused::TimedOut));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let quick = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(admission.run(None, quick).await, Ok(()));
    }

    #[tokio::test]
    async fn calls_beyond_the_bound_are_shed() {
        let admission = admission(1, 30);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let held = admission.run(None, wait);
        tokio::pin!(held);
        assert!(futures_util::poll!(held.as_mut()).is_pending(), "the first call holds the slot");
        assert_eq!(admission.run(None, async {}).await, Err(Refused::Overloaded));
        release.send(()).unwrap();
        assert!(held.await.is_ok());
        assert_eq!(admission.run(None, async {}).await, Ok(()));
    }
}
