//! A socket wrapper that notes when bytes move in either direction, so a silent connection
//! can be told from a busy one, and closes with a linger: after its FIN it keeps
//! reading (and dropping) what the peer still sends, briefly, so that frames already on the
//! wire meet a half-closed socket rather than a reset that would fail the peer's other calls.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use std::future::Future as _;

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

/// Whether the connection has seen traffic: counts of the reads and of the writes that moved
/// bytes. Counts rather than timestamps, because they are bumped on every read and write of the
/// connection (several per request) and reading the clock each time cost more than the
/// bookkeeping is worth; the clock is read only by the watchers ([`Activity::silent_for`],
/// `HeadWatch::overdue`), a few times per period they watch.
#[derive(Debug, Default)]
pub(super) struct Activity {
    reads: AtomicU64,
    writes: AtomicU64,
}

/// Adds one to a counter that only the connection's own task writes: no need for an atomic
/// read-modify-write.
pub(super) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::default()
    }

    pub(super) fn count_read(&self) {
        bump(&self.reads);
    }

    fn count_write(&self) {
        bump(&self.writes);
    }

    /// Reads that moved bytes so far.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Writes that moved bytes so far.
    pub(super) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Resolves once the connection has been silent for `limit`: never sooner, and at most a
    /// quarter of `limit` later.
    pub(super) async fn silent_for(&self, limit: Duration) {
        let step = (limit / 4).max(Duration::from_millis(1));
        let moves = || self.reads().wrapping_add(self.writes());
        let mut seen = moves();
        let mut quiet_since = Instant::now();
        loop {
            tokio::time::sleep(step).await;
            let moves = moves();
            if moves != seen {
                (seen, quiet_since) = (moves, Instant::now());
            } else if quiet_since.elapsed() >= limit {
                return;
            }
        }
    }
}

/// How long a closing connection keeps reading what the peer still sends.
const LINGER: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(super) struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> TrackedIo<T> {
    pub(super) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity, linger: None }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.count_read();
        }
        polled
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.count_write();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.linger.is_none() {
            std::task::ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.linger = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let mut scratch = [0u8; 4096];
        loop {
            if self.linger.as_mut().is_some_and(|linger| linger.as_mut().poll(cx).is_ready()) {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.count_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
