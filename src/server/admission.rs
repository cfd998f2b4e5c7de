//! Load shedding and the request deadline, which both ports apply the same way: a call runs
//! only while fewer than `max_in_flight` are running, and only until its deadline. Each adapter
//! answers a refusal in its own protocol's terms.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use crate::config::ConnectionLimits;

/// One port's bound on calls in flight and their time (clones share the bound).
#[derive(Clone, Debug)]
pub struct Admission {
    in_flight: Arc<Semaphore>,
    time_limit: Duration,
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
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
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
        let Ok(_slot) = self.in_flight.try_acquire() else {
            return Err(Refused::Overloaded);
        };
        let time_limit = deadline.map_or(self.time_limit, |client| client.min(self.time_limit));
        tokio::time::timeout(time_limit, call).await.map_err(|_| Refused::TimedOut)
    }
}
