//! Per-connection activity, for the two client-side timeouts hyper cannot
//! tell apart: a client that is slow to send a request head (slowloris,
//! `client_header`) and a keep-alive connection with nothing to do
//! (`keep_alive_idle`).
//!
//! [`Tracked`] wraps the connection's I/O and notes when bytes arrive; the
//! request service counts requests in flight with [`InFlight`] guards. A
//! read while no request is in flight starts a request head; the head is
//! complete when the service is called. A connection is idle from the end
//! of its last request (or from its start); writes need no bookkeeping.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Shared between a connection's I/O, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `start` at which the connection last became idle
    /// (its last request ended, or it was opened).
    idle_since: AtomicU64,
    /// Milliseconds since `start` (plus one, so 0 means none) at which the
    /// first byte of a request head arrived while nothing was in flight.
    head_started: AtomicU64,
}

/// What the watchdog should do with the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep serving; look again at this instant.
    CheckAt(Instant),
    /// A request head took longer than `client_header`: drop the connection.
    HeaderTimeout,
    /// Nothing in flight for `keep_alive_idle`: close it gracefully.
    Idle,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// Bytes arrived. Only the first byte of a head while nothing is in
    /// flight matters (it starts the `client_header` clock): reads during a
    /// request, or of the rest of a head, cost no clock read.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == 0
        {
            let now = self.now_ms();
            let _ =
                self.head_started
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Marks a request head as complete; the guard ends the request when
    /// dropped (when its response body is done or abandoned).
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// Decides whether the connection has outstayed one of its timeouts.
    pub fn verdict(&self, client_header: Duration, idle: Duration) -> Verdict {
        let now = self.now_ms();
        let head = self.head_started.load(Ordering::Acquire);
        if head != 0 {
            let deadline = head - 1 + client_header.as_millis() as u64;
            return if now >= deadline {
                Verdict::HeaderTimeout
            } else {
                Verdict::CheckAt(self.at(deadline))
            };
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // A request is being served; its own timeouts bound it.
            return Verdict::CheckAt(self.at(now + idle.as_millis() as u64));
        }
        let deadline = self.idle_since.load(Ordering::Relaxed) + idle.as_millis() as u64;
        if now >= deadline {
            Verdict::Idle
        } else {
            // A head may start before then; never sleep past client_header.
            Verdict::CheckAt(self.at(deadline.min(now + client_header.as_millis() as u64)))
        }
    }
}

/// One request in flight on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connection I/O that reports its activity.
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_times_out_at_client_header() {
        let a = Activity::new();
        a.on_read();
        tokio::time::advance(Duration::from_secs(9)).await;
        a.on_read();
        assert!(matches!(a.verdict(HEADER, IDLE), Verdict::CheckAt(_)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(a.verdict(HEADER, IDLE), Verdict::HeaderTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_closes_at_keep_alive_idle_not_before() {
        let a = Activity::new();
        let guard = a.request_started();
        tokio::time::advance(Duration::from_secs(100)).await;
        assert!(matches!(a.verdict(HEADER, IDLE), Verdict::CheckAt(_)));
        drop(guard);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(matches!(a.verdict(HEADER, IDLE), Verdict::CheckAt(_)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(a.verdict(HEADER, IDLE), Verdict::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_during_a_request_do_not_start_a_head() {
        let a = Activity::new();
        let _guard = a.request_started();
        a.on_read();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(matches!(a.verdict(HEADER, IDLE), Verdict::CheckAt(_)));
    }
}
