//! Waiting and waking: the [`Waker`] that closes a socket from another thread, the
//! [`WaitHandle`] that sleeps on a socket without borrowing it, and every other
//! place the AF_XDP path sleeps: `poll()` on a socket (which also performs the
//! wakeups `need_wakeup` asks for), the bounded kick-and-reap wait for TX
//! completions, and the wait for the last holder of a closing socket's fd.
//!
//! It owns no ring and no frame. It reaches a queue only through its datapath
//! verbs (`reap`, `kick_if_needed`, `tx_out`) and reports what it saw; what to do
//! about a hang-up or a timeout (tear down, retry, return) is the caller's.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::queue::Queue;
use super::sys;
use super::Error;

/// Wakes a thread blocked in `recv` on this socket and makes it (and every later
/// call) fail with [`Error::Closed`]. Clonable and usable from any thread.
#[derive(Clone)]
pub struct Waker(Arc<WakerInner>);

struct WakerInner {
    fd: OwnedFd,
    closed: AtomicBool,
}

impl Waker {
    pub(super) fn new() -> Result<Waker, Error> {
        let fd = sys::eventfd().map_err(|e| Error::os("eventfd", e))?;
        Ok(Waker(Arc::new(WakerInner {
            fd,
            closed: AtomicBool::new(false),
        })))
    }
    /// Marks the socket closing and wakes any waiter.
    pub fn wake(&self) {
        self.0.closed.store(true, Ordering::Release);
        sys::eventfd_signal(&self.0.fd);
    }
    pub fn is_closing(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }
    /// The eventfd a waiter polls beside its socket.
    pub(super) fn raw_fd(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }
}

/// See [`XskSocket::wait_handle`](super::XskSocket::wait_handle).
pub struct WaitHandle {
    fd: Arc<OwnedFd>,
    waker: Waker,
}

impl WaitHandle {
    pub(super) fn new(fd: Arc<OwnedFd>, waker: Waker) -> WaitHandle {
        WaitHandle { fd, waker }
    }

    /// Sleeps in `poll()` until the socket is readable, `timeout` passes (false), or the
    /// socket is closed through its [`Waker`] ([`Error::Closed`]).
    pub fn wait_readable(&self, timeout: Duration) -> Result<bool, Error> {
        if self.waker.is_closing() {
            return Err(Error::Closed);
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let (rev, wrev) = poll_socket(&self.fd, Some(self.waker.raw_fd()), ms)?;
        if wrev != 0 || self.waker.is_closing() {
            return Err(Error::Closed);
        }
        Ok(rev != 0)
    }
}

/// `poll()` for `POLLIN` on a socket and, when given, a second fd (another socket
/// or a [`Waker`]'s eventfd); returns each one's `revents`. `EINTR` is "nothing yet".
pub(super) fn poll_socket(
    fd: &OwnedFd,
    other: Option<RawFd>,
    ms: i32,
) -> Result<(i16, i16), Error> {
    sys::poll2(fd.as_raw_fd(), libc::POLLIN, other, ms).map_err(|e| Error::os("poll", e))
}

/// `POLLERR`, `POLLHUP` or `POLLNVAL` in `revents`: the socket cannot be used.
pub(super) fn hung_up(revents: i16) -> bool {
    revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
}

/// The kernel left an error on the socket (`SO_ERROR`; ENETDOWN when its interface
/// was unregistered). An unbound socket never reports `POLLERR`, so a waiter that saw
/// nothing asks this between sleeps.
pub(super) fn unbound(fd: &OwnedFd) -> bool {
    sys::socket_error(fd).is_ok_and(|e| e != 0)
}

/// Kicks and reaps `q` until nothing it transmitted is outstanding (or, with `any`,
/// until at least one frame completed); returns the frames reaped. Sleeps in short
/// steps once the kernel makes no progress; gives up after `timeout`
/// ([`Error::TxTimeout`]) or when `waker` closes the socket.
pub(super) fn tx_completions(
    q: &mut Queue,
    timeout: Duration,
    waker: &Waker,
    any: bool,
) -> Result<u32, Error> {
    let deadline = Instant::now() + timeout;
    let mut idle = 0u32;
    let mut total = 0u32;
    loop {
        let reaped = q.reap();
        total += reaped;
        let out = q.tx_out();
        if out == 0 || (any && total > 0) {
            return Ok(total);
        }
        let kicked = q.kick_if_needed()?;
        if reaped == 0 && !kicked {
            idle += 1;
            if Instant::now() >= deadline {
                return Err(Error::TxTimeout { pending: out });
            }
            if waker.is_closing() {
                return Err(Error::Closed);
            }
            if idle > 16 {
                // Completions arrive when the peer consumes the frames: sleep briefly
                // rather than spin (the peer may need this very CPU).
                std::thread::sleep(Duration::from_micros(50));
            } else {
                std::thread::yield_now();
            }
        } else {
            idle = 0;
        }
    }
}

/// Waits up to `limit` for every other holder of `fd` (a [`WaitHandle`] whose
/// thread the close just woke) to drop it, and returns the now unshared fd; `None`
/// (our reference dropped) if someone still holds it.
pub(super) fn sole_owner(mut fd: Arc<OwnedFd>, limit: Duration) -> Option<OwnedFd> {
    let deadline = Instant::now() + limit;
    loop {
        match Arc::try_unwrap(fd) {
            Ok(owned) => return Some(owned),
            Err(shared) if Instant::now() < deadline => {
                fd = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}
