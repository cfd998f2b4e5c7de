//! Bytes on the wire, counted at the socket: a TCP stream that adds what it reads and writes
//! to shared counters, and connectors that hand such streams to tonic and hyper.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use super::{
    check::NotBegun,
    tls::{Alpn, ClientTls},
};
use hyper_util::{
    client::legacy::connect::{Connected, Connection},
    rt::TokioIo,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// The largest reply body compare reads, on either transport: the server's default message
/// limit. A larger one is refused unread, so that a server that sends without end costs
/// compare at most this much memory for each call in flight.
pub(crate) const MAX_REPLY_BYTES: usize = contract::settings::DEFAULT_MAX_MESSAGE_BYTES;

/// Bytes sent and received by every connection of one client, how many connections, and the
/// calls sent again.
#[derive(Debug, Default)]
pub struct WireCounters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub connections: AtomicU64,
    /// Calls sent again because the server never began them, by kind (`NotBegun::RETRIED`).
    retried: [AtomicU64; 3],
}

impl WireCounters {
    pub fn snapshot(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.received.load(Ordering::Relaxed))
    }

    /// A call the server never began is sent again.
    pub(crate) fn count_retry(&self, why: NotBegun) {
        if let Some(count) = self.retried.get(why as usize) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The retries so far, by kind.
    pub fn retried(&self) -> [(NotBegun, u64); 3] {
        NotBegun::RETRIED.map(|why| (why, self.retried[why as usize].load(Ordering::Relaxed)))
    }
}

/// A client's connection: TCP, counted at the socket, with TLS above the count when the run
/// has TLS (so that the bytes counted are the bytes on the wire, TLS records included).
#[derive(Debug)]
pub enum CountingStream {
    Plain(CountedTcp),
    Tls(Box<tokio_rustls::client::TlsStream<CountedTcp>>),
}

impl CountingStream {
    /// Connects to `addr`, and with `tls` shakes hands asking for `alpn`.
    pub(crate) async fn connect(
        addr: SocketAddr,
        tls: Option<&ClientTls>,
        alpn: Alpn,
        counters: Arc<WireCounters>,
    ) -> io::Result<Self> {
        let inner = tcp_connect(addr).await?;
        inner.set_nodelay(true)?;
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let tcp = CountedTcp { inner, counters };
        Ok(match tls {
            None => Self::Plain(tcp),
            Some(tls) => Self::Tls(Box::new(tls.handshake(tcp, alpn).await?)),
        })
    }
}

/// How the clients' TCP connections are opened when not from this process's own network
/// namespace: under a packet link (`run::packet_link`), from inside the clients' namespace,
/// where the link's far side is. Set once per process, before the first connection: compare
/// runs one link of that kind per process.
pub(crate) type Dialer = Arc<dyn Fn(SocketAddr) -> io::Result<std::net::TcpStream> + Send + Sync>;

static DIALER: std::sync::OnceLock<Dialer> = std::sync::OnceLock::new();

/// Opens every client connection from now on with `dialer`; false if one was set already.
pub(crate) fn dial_with(dialer: Dialer) -> bool {
    DIALER.set(dialer).is_ok()
}

async fn tcp_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(dialer) = DIALER.get().cloned() else { return TcpStream::connect(addr).await };
    // The dialer blocks (a thread in the other namespace connects): off the runtime's threads.
    let stream =
        tokio::task::spawn_blocking(move || dialer(addr)).await.map_err(io::Error::other)??;
    stream.set_nonblocking(true)?;
    TcpStream::from_std(stream)
}

impl AsyncRead for CountingStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, data),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A TCP stream that adds what it reads and writes to its counters.
#[derive(Debug)]
pub struct CountedTcp {
    inner: TcpStream,
    counters: Arc<WireCounters>,
}

// The same pass-through shape as the server's `TrackedIo`, which notes activity rather than
// counting bytes: two wrappers of a few lines each, for two different jobs, on two sides.
impl AsyncRead for CountedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.counters.received.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for CountedTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(written)) = polled {
            self.counters.sent.fetch_add(written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connection for CountingStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// A connector for hyper's HTTP/1.1 client that always dials `addr` (with TLS when given)
/// and counts the bytes.
#[derive(Debug, Clone)]
pub struct CountingConnector {
    pub addr: SocketAddr,
    pub tls: Option<ClientTls>,
    pub counters: Arc<WireCounters>,
}

impl tower::Service<http::Uri> for CountingConnector {
    type Response = TokioIo<CountingStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let (addr, tls, counters) = (self.addr, self.tls.clone(), self.counters.clone());
        Box::pin(async move {
            let stream = CountingStream::connect(addr, tls.as_ref(), Alpn::Http1, counters).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
