//! Caps on open connections, overall and per client address, so idle or slow
//! sockets from one client can't use up the server: a connection over a cap
//! is closed as it is accepted. Idle ones are cut by the header-read timeout
//! set where the server listens.

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::Future;
use std::future::{ready, Ready};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Open connections the server keeps at once.
pub const MAX_CONNECTIONS: usize = 16_384;
/// Open connections one address may hold (a TLS proxy in front of many Macs
/// counts as one address: keep this well above a fleet's concurrency).
pub const MAX_PER_ADDRESS: usize = 2_048;

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// An acceptor that refuses connections over the caps.
#[derive(Clone)]
pub struct ConnectionLimit {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_address: usize,
}

impl ConnectionLimit {
    pub fn new(max_total: usize, max_per_address: usize) -> ConnectionLimit {
        ConnectionLimit {
            counts: Arc::default(),
            max_total,
            max_per_address,
        }
    }

    fn admit(&self, address: IpAddr) -> Option<Slot> {
        let mut counts = self.counts.lock().ok()?;
        let mine = counts.per_address.get(&address).copied().unwrap_or(0);
        if counts.total >= self.max_total || mine >= self.max_per_address {
            return None;
        }
        counts.total += 1;
        *counts.per_address.entry(address).or_default() += 1;
        Some(Slot {
            counts: self.counts.clone(),
            address,
        })
    }
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.per_address.get_mut(&self.address) {
                *n -= 1;
                if *n == 0 {
                    counts.per_address.remove(&self.address);
                }
            }
        }
    }
}

/// How long a connection may go with no bytes either way while the server
/// waits to read (a new one that sends nothing, an idle keep-alive one, a
/// stalled upload) before it is closed. Writes count as traffic, so a long
/// download is never cut.
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection that holds its slot while it is open, and is closed when
/// the server has waited too long to read from it.
pub struct Limited {
    stream: TcpStream,
    _slot: Slot,
    idle: Pin<Box<Sleep>>,
}

impl<S> Accept<TcpStream, S> for ConnectionLimit {
    type Stream = Limited;
    type Service = S;
    type Future = Ready<io::Result<(Limited, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.admit(peer.ip()));
        ready(match slot {
            Some(slot) => {
                let _ = stream.set_nodelay(true);
                Ok((
                    Limited {
                        stream,
                        _slot: slot,
                        idle: Box::pin(tokio::time::sleep(READ_IDLE_TIMEOUT)),
                    },
                    service,
                ))
            }
            None => Err(io::Error::other("connection limit reached")),
        })
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => {
                if this.idle.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing for too long",
                    )));
                }
                Poll::Pending
            }
            ready => {
                this.idle
                    .as_mut()
                    .reset(tokio::time::Instant::now() + READ_IDLE_TIMEOUT);
                ready
            }
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.idle
                .as_mut()
                .reset(tokio::time::Instant::now() + READ_IDLE_TIMEOUT);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.idle
                .as_mut()
                .reset(tokio::time::Instant::now() + READ_IDLE_TIMEOUT);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_over_a_cap_are_refused_and_slots_come_back() {
        let limit = ConnectionLimit::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none(), "per address");
        let _third = limit.admit(b).unwrap();
        assert!(limit.admit(b).is_none(), "overall");
        drop(first);
        assert!(limit.admit(a).is_some());
    }
}
