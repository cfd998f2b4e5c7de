//! Load shedding and the request deadline, which both ports apply the same way: a call runs
//! only while fewer than `max_in_flight` are running, and only until its deadline. Each adapter
//! answers a refusal in its own protocol's terms.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicUsize, Ordering},
    task::{Context, Poll},
    time::Duration,
};

use crate::config::ConnectionLimits;

/// One port's bound on calls in flight and their time. `Copy`: the count lives as long as the
/// process (a word per port), so that a call holds it without a reference count that every
/// core would bump.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// Calls running now. A plain counter rather than tokio's `Semaphore`, whose every release
    /// locks a mutex (its waiter list) that all cores share: nothing here ever waits for a
    /// slot, a call over the bound is refused at once.
    in_flight: &'static AtomicUsize,
    max_in_flight: usize,
    time_limit: Duration,
}

/// A running call's place in the count, given back when the call ends.
struct Slot(&'static AtomicUsize);

impl Drop for Slot {
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
            in_flight: Box::leak(Box::new(AtomicUsize::new(0))),
            max_in_flight: limits.max_in_flight,
            time_limit: limits.request_timeout(),
        }
    }

    /// The server's time limit on a call (`--request-timeout`).
    pub fn time_limit(&self) -> Duration {
        self.time_limit
    }

    /// `call`, if a slot is free, for at most the server's time limit or the client's
    /// `deadline`, whichever is shorter; a refused call ends with `refuse`'s answer. The slot is
    /// held until the returned future is dropped.
    pub fn admit<F: Future>(
        &self,
        deadline: Option<Duration>,
        refuse: fn(Refused) -> F::Output,
        call: F,
    ) -> Admitted<F> {
        let slot = Slot(self.in_flight);
        let overloaded = self.in_flight.fetch_add(1, Ordering::Acquire) >= self.max_in_flight;
        Admitted {
            call,
            _slot: slot,
            overloaded,
            time_limit: deadline.map_or(self.time_limit, |client| client.min(self.time_limit)),
            timer: None,
            refuse,
        }
    }
}

pin_project_lite::pin_project! {
    /// An admitted call: its own output, or `refuse`'s answer when it was shed or ran past its
    /// deadline. A named future rather than an `async fn` so that a port's front can return it
    /// without boxing; see [`Admission::admit`].
    pub struct Admitted<F: Future> {
        #[pin]
        call: F,
        _slot: Slot,
        overloaded: bool,
        time_limit: Duration,
        // Most calls finish in their first poll, and only a call that has to wait needs a
        // timer: arming one costs a timer-wheel entry and a reference to the runtime taken
        // (and dropped) from every core, which a bare server never pays. So the time limit
        // counts from the first poll that has to wait (microseconds after the call began), and
        // the timer is boxed so that the future stays small for the calls that never need it.
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        refuse: fn(Refused) -> F::Output,
    }
}

impl<F: Future> Future for Admitted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if *this.overloaded {
            return Poll::Ready((this.refuse)(Refused::Overloaded));
        }
        if let Poll::Ready(output) = this.call.poll(cx) {
            return Poll::Ready(output);
        }
        let time_limit = *this.time_limit;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(time_limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready((this.refuse)(Refused::TimedOut)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn admission(max_in_flight: usize, request_timeout: u64) -> Admission {
        Admission::new(&ConnectionLimits {
            max_in_flight,
            request_timeout: Duration::from_secs(request_timeout),
            ..ConnectionLimits::default()
        })
    }

    /// What the tests' calls answer: their own output, or why they were refused.
    async fn run<T>(
        admission: &Admission,
        deadline: Option<Duration>,
        call: impl Future<Output = T>,
    ) -> Result<T, Refused> {
        admission.admit(deadline, Err, async { Ok(call.await) }).await
    }

    #[tokio::test]
    async fn a_call_that_finishes_at_once_runs_without_a_timer() {
        let admission = admission(1, 1);
        let mut admitted = std::pin::pin!(admission.admit(None, Err, async { Ok(7) }));
        assert_eq!(futures_util::poll!(admitted.as_mut()), Poll::Ready(Ok(7)));
        assert!(admitted.timer.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_is_cut_at_the_shorter_deadline() {
        let admission = admission(1, 30);
        let slow = tokio::time::sleep(Duration::from_secs(60));
        let started = Instant::now();
        assert_eq!(
            run(&admission, Some(Duration::from_secs(2)), slow).await,
            Err(Refused::TimedOut)
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let quick = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(run(&admission, None, quick).await, Ok(()));
    }

    #[tokio::test]
    async fn calls_beyond_the_bound_are_shed() {
        let admission = admission(1, 30);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let held = run(&admission, None, wait);
        tokio::pin!(held);
        assert!(futures_util::poll!(held.as_mut()).is_pending(), "the first call holds the slot");
        assert_eq!(run(&admission, None, async {}).await, Err(Refused::Overloaded));
        release.send(()).unwrap();
        assert!(held.await.is_ok());
        assert_eq!(run(&admission, None, async {}).await, Ok(()));
    }
}
