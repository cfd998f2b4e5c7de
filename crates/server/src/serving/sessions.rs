//! Sessions that outlive the HTTP exchange that opened them (a WebSocket chat after its
//! upgrade: hyper hands the socket over and forgets it, so the connection's own watch and the
//! drain no longer see it). The server counts them here, so that its drain waits for them,
//! and tells them here when to leave; each session keeps its own idle watch.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The open sessions of a server, and its word to leave.
#[derive(Debug, Clone)]
pub struct Sessions {
    leave: CancellationToken,
    open: Arc<watch::Sender<usize>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self { leave: CancellationToken::new(), open: Arc::new(watch::Sender::new(0)) }
    }
}

impl Sessions {
    /// Counts a session until the returned guard is dropped.
    pub fn enter(&self) -> Session {
        self.open.send_modify(|open| *open += 1);
        Session { sessions: self.clone() }
    }

    /// Tells every session, open or still to come, to close.
    pub fn close_all(&self) {
        self.leave.cancel();
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        *self.open.borrow()
    }

    /// The count of open sessions, watched.
    pub fn watch(&self) -> watch::Receiver<usize> {
        self.open.subscribe()
    }
}

/// One open session, counted while it lives.
#[derive(Debug)]
pub struct Session {
    sessions: Sessions,
}

impl Session {
    /// Resolves once the server asks its sessions to close (it drains).
    pub async fn told_to_leave(&self) {
        self.sessions.leave.cancelled().await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.sessions.open.send_modify(|open| *open -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_are_counted_while_open_and_told_to_leave_together() {
        let sessions = Sessions::default();
        let first = sessions.enter();
        let second = sessions.enter();
        assert_eq!(sessions.open(), 2);
        drop(first);
        assert_eq!(sessions.open(), 1);
        sessions.close_all();
        second.told_to_leave().await;
        // A session that opens after the word still hears it.
        sessions.enter().told_to_leave().await;
        drop(second);
        assert_eq!(sessions.open(), 0);
    }
}
