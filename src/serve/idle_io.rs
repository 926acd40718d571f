//! A connection that closes itself when no byte moves for too long.
//!
//! hyper's own timeouts cover reading request headers; nothing covers a client that opens a
//! keep-alive connection and goes quiet, or one that sends requests and never reads the
//! answers (its socket buffer fills, our writes wait forever, and it holds a connection slot).
//! `IdleIo` wraps the socket: a read or write that waits while no byte has moved either way
//! for `idle`, or a write that has waited `idle` on its own (a client that keeps sending but
//! never reads), fails with `TimedOut`, and hyper closes the connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct IdleIo<S> {
    inner: S,
    idle: Duration,
    /// When a byte last moved either way.
    last_progress: Instant,
    /// Since when a write has been waiting without progress.
    write_waiting_since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    /// Counts the connections cut (shared with the metrics).
    on_timeout: Arc<dyn Fn() + Send + Sync>,
}

impl<S> IdleIo<S> {
    pub fn new(inner: S, idle: Duration, on_timeout: Arc<dyn Fn() + Send + Sync>) -> IdleIo<S> {
        let now = Instant::now();
        IdleIo {
            inner,
            idle,
            last_progress: now,
            write_waiting_since: None,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            on_timeout,
        }
    }

    fn deadline(&self) -> Instant {
        let idle = self.last_progress + self.idle;
        match self.write_waiting_since {
            Some(since) => idle.min(since + self.idle),
            None => idle,
        }
    }

    /// Called when the inner socket said Pending: arms the timer for the current deadline
    /// and fails once it has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = self.deadline();
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                (self.on_timeout)();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no data moved on the connection for the idle timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S> IdleIo<S> {
    /// Books a write's outcome: progress resets the clocks; a write that must wait starts
    /// (or keeps) the stalled-write clock and fails once a deadline has passed.
    fn after_write(
        &mut self,
        polled: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(result) => {
                self.write_waiting_since = None;
                if matches!(result, Ok(n) if n > 0) {
                    self.last_progress = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if self.write_waiting_since.is_none() {
                    self.write_waiting_since = Some(Instant::now());
                }
                // poll_deadline never answers Ready(Ok): it waits, or fails.
                self.poll_deadline(cx).map_ok(|()| 0)
            }
        }
    }
}

use std::future::Future;

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.last_progress = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_deadline(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.after_write(polled, cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => self.poll_deadline(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => self.poll_deadline(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
