//! [`XskSocket`]: one AF_XDP socket bound to one queue of one interface, the
//! public face of the rooms beside it.
//!
//! A socket owns its four rings and shares its UMEM (frames + [`FramePool`]) with
//! the other sockets opened with [`XskSocket::open_shared`]; every frame of the
//! UMEM is in exactly one place (`free + user + fill + tx + completion == frames`,
//! [`XskSocket::places`]). The work is done elsewhere: `setup` opens and binds,
//! `queue` moves frames between the rings and the pool, `wait` sleeps and wakes.
//!
//! This facade keeps only the socket's life: open or closed, closed by whom (its
//! [`Waker`]), or torn down because its interface went away. Every method checks
//! that state, delegates, and turns an `InterfaceGone` from below into a teardown
//! that names the interface. It touches no ring, no frame tag and no syscall of its
//! own. [`XskSocket::send`] returns when every frame has completed.
//!
//! [`FramePool`]: crate::pool::FramePool

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::packet::Packet;

use super::queue::Queue;
use super::setup;
use super::wait::{self, hung_up, poll_socket, unbound};
use super::{Error, IfName};

// The types this socket's API speaks in, at their historical paths
// (`xdpkt::xsk::socket::SharedUmem` is what the bindings and `port` name).
pub use super::queue::{Places, Shared, SharedUmem, SocketStats};
pub use super::setup::{Mode, ShareUmem, XskConfig};
pub use super::wait::{WaitHandle, Waker};

/// One AF_XDP socket on (interface, queue).
pub struct XskSocket {
    inner: Option<Queue>,
    /// Why the socket is unusable (Closed or InterfaceGone) once `inner` is gone.
    dead: Error,
    waker: Waker,
    ifname: IfName,
    queue: u32,
    notes: Vec<String>,
    tx_timeout: Duration,
    last_stats: SocketStats,
}

impl std::fmt::Debug for XskSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskSocket")
            .field("ifname", &self.ifname)
            .field("queue", &self.queue)
            .field("mode", &self.inner.as_ref().map(|i| i.mode()))
            .finish()
    }
}

impl XskSocket {
    /// Opens a socket with its own UMEM.
    pub fn open(ifname: &str, queue: u32, cfg: &XskConfig) -> Result<XskSocket, Error> {
        setup::open(ifname, queue, cfg).map(|o| Self::opened(o, queue, cfg.tx_timeout))
    }

    /// Opens a socket on another (interface, queue) that shares `other`'s UMEM
    /// (`XDP_SHARED_UMEM` with its own fill and completion rings): frames received on
    /// one can be sent on the other without a copy.
    pub fn open_shared(
        ifname: &str,
        queue: u32,
        cfg: &XskConfig,
        other: &XskSocket,
    ) -> Result<XskSocket, Error> {
        Self::open_sharing(ifname, queue, cfg, &other.share()?)
    }

    /// What [`XskSocket::open_sharing`] needs to join this socket's UMEM (a `Send`
    /// value, so the open can happen on another thread, e.g. inside a namespace).
    pub fn share(&self) -> Result<ShareUmem, Error> {
        let inner = self.inner.as_ref().ok_or(self.dead)?;
        Ok(ShareUmem::of(inner))
    }

    /// [`XskSocket::open_shared`] from a [`ShareUmem`] handle. If every socket of that
    /// UMEM closed meanwhile the bind fails (there is nothing to share with).
    pub fn open_sharing(
        ifname: &str,
        queue: u32,
        cfg: &XskConfig,
        with: &ShareUmem,
    ) -> Result<XskSocket, Error> {
        setup::open_sharing(ifname, queue, cfg, with)
            .map(|o| Self::opened(o, queue, cfg.tx_timeout))
    }

    fn opened(o: setup::Opened, queue: u32, tx_timeout: Duration) -> XskSocket {
        XskSocket {
            inner: Some(o.queue),
            dead: Error::Closed,
            waker: o.waker,
            ifname: o.ifname,
            queue,
            notes: o.notes,
            tx_timeout,
            last_stats: SocketStats::default(),
        }
    }

    fn inner(&mut self) -> Result<&mut Queue, Error> {
        if self.waker.is_closing() {
            self.teardown(Error::Closed);
        }
        self.inner.as_mut().ok_or(self.dead)
    }

    /// The mode obtained (never `Auto`).
    pub fn mode(&self) -> Result<Mode, Error> {
        self.inner.as_ref().map(|i| i.mode()).ok_or(self.dead)
    }
    pub fn ifname(&self) -> &str {
        self.ifname.as_str()
    }
    pub fn queue(&self) -> u32 {
        self.queue
    }
    /// Why `auto` fell back, and other non-fatal notes from `open` (for logging).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
    /// The socket fd (for the caller's own poll loops); error after close.
    pub fn raw_fd(&self) -> Result<RawFd, Error> {
        self.inner
            .as_ref()
            .map(|i| i.fd().as_raw_fd())
            .ok_or(self.dead)
    }
    pub fn is_closed(&self) -> bool {
        self.inner.is_none()
    }
    /// A handle to wake a `recv` waiter and close the socket from another thread.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }
    /// A handle to sleep until the socket is readable *without* borrowing it, so
    /// another thread can transmit meanwhile. It keeps the socket fd open (never a
    /// recycled number) and is woken by [`Waker::wake`].
    pub fn wait_handle(&self) -> Result<WaitHandle, Error> {
        let inner = self.inner.as_ref().ok_or(self.dead)?;
        Ok(WaitHandle::new(inner.fd().clone(), self.waker.clone()))
    }
    /// The shared UMEM: lock it to reach the frame pool (packet bytes, new frames).
    pub fn umem(&self) -> Result<SharedUmem, Error> {
        self.inner
            .as_ref()
            .map(|i| i.umem().clone())
            .ok_or(self.dead)
    }
    /// Whether our XDP program is attached through a BPF link held by this process.
    pub fn owns_program(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.owns_program())
    }

    /// Receives up to `budget` packets into `batch` without blocking; returns how many.
    pub fn recv(&mut self, batch: &mut Batch, budget: usize) -> Result<usize, Error> {
        self.recv_timeout(batch, budget, Duration::ZERO)
    }

    /// Receives up to `budget` packets, sleeping in `poll()` up to `timeout` when none
    /// are ready. Returns 0 on timeout; [`Error::Closed`] when closed meanwhile.
    pub fn recv_timeout(
        &mut self,
        batch: &mut Batch,
        budget: usize,
        timeout: Duration,
    ) -> Result<usize, Error> {
        let deadline = Instant::now() + timeout;
        let wfd = self.waker.raw_fd();
        loop {
            let inner = self.inner()?;
            let n = inner.rx_burst(batch, budget);
            if n > 0 {
                return Ok(n);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Sleep in slices: an unbound socket (its interface went away) never reports
            // POLLERR, so between slices SO_ERROR is checked for the kernel's ENETDOWN.
            let ms = if left.is_zero() {
                0
            } else {
                left.as_millis().clamp(1, 100) as i32
            };
            // poll() also performs the RX wakeup the fill ring may ask for (need_wakeup).
            let (rev, wrev) = poll_socket(inner.fd(), Some(wfd), ms)?;
            if wrev != 0 {
                self.teardown(Error::Closed);
                return Err(Error::Closed);
            }
            if hung_up(rev) {
                let e = self.gone();
                return Err(e);
            }
            if rev & libc::POLLIN == 0 {
                let inner = self.inner()?;
                if unbound(inner.fd()) {
                    return Err(self.gone());
                }
            }
            if rev & libc::POLLIN == 0 && ms == 0 {
                return Ok(0);
            }
            if rev & libc::POLLIN == 0 && Instant::now() >= deadline {
                return Ok(0);
            }
        }
    }

    /// Puts a batch on the TX ring (one reservation per ring's worth), kicking and
    /// reaping completions only as needed. Does not wait for completion; returns the
    /// packets queued (oversize ones are dropped and counted).
    pub fn transmit(&mut self, batch: &mut Batch) -> Result<usize, Error> {
        let timeout = self.tx_timeout;
        let r = self.inner()?.xmit(batch, timeout);
        self.check_gone(r)
    }

    /// Waits until every frame this socket put on the TX ring has completed.
    pub fn flush(&mut self) -> Result<(), Error> {
        let timeout = self.tx_timeout;
        let waker = self.waker.clone();
        let r = wait::tx_completions(self.inner()?, timeout, &waker, false).map(|_| ());
        self.check_gone(r)
    }

    /// Waits until at least one transmitted frame completed (returns how many were
    /// reaped; 0 when nothing was outstanding). For pipelined senders out of frames.
    pub fn wait_tx(&mut self) -> Result<u32, Error> {
        let timeout = self.tx_timeout;
        let waker = self.waker.clone();
        let r = wait::tx_completions(self.inner()?, timeout, &waker, true);
        self.check_gone(r)
    }

    /// Sends a batch and returns when every frame has left (completion seen).
    pub fn send(&mut self, batch: &mut Batch) -> Result<usize, Error> {
        let n = self.transmit(batch)?;
        self.flush()?;
        Ok(n)
    }

    /// Forwards without a copy (l2fwd): the packets on this socket's RX ring (up to
    /// `budget` and the room on the destination's TX ring) go, same UMEM address and
    /// length, onto `dst`'s TX ring — this socket's own when `dst` is `None`; `dst`
    /// must share this socket's UMEM ([`XskSocket::open_shared`]). `edit` sees each
    /// frame's packet bytes first (e.g. to swap MAC addresses). The frames never pass
    /// through the pool on the way: *fill* → *tx*. Completions are reaped from `dst`
    /// straight back onto this socket's fill ring, where the frames were received
    /// (the pool takes what does not fit), keeping them in the order the kernel takes
    /// them; this socket's fill ring draws on the pool only below a quarter full.
    /// Nothing waits; `dst` is kicked only when the kernel needs it.
    /// Returns (packets, bytes) forwarded. No allocation. Multi-buffer sockets are
    /// refused (a packet's fragments could be split across calls).
    pub fn forward(
        &mut self,
        dst: Option<&mut XskSocket>,
        budget: u32,
        mut edit: impl FnMut(&mut [u8]),
    ) -> Result<(usize, u64), Error> {
        let src = self.inner.as_mut().ok_or(self.dead)?;
        let r = match dst {
            None => src.forward_self(budget, &mut edit),
            Some(d) => {
                let di = d.inner.as_mut().ok_or(d.dead)?;
                let r = src.forward_into(di, budget, &mut edit)?;
                if r.0 > 0 {
                    // The kick is the destination's: if its interface is gone, it is
                    // the destination that is torn down and named, not this socket.
                    if let Err(e) = di.kick_if_needed() {
                        return d.check_gone(Err(e));
                    }
                }
                Ok(r)
            }
        };
        self.check_gone(r)
    }

    /// Reaps this socket's completions straight onto `src`'s fill ring, in order (what
    /// [`XskSocket::forward`] does): for a forwarder whose frames arrived on `src` and
    /// left here. What the fill ring has no room for goes to the pool. Both sockets must
    /// share one UMEM. Returns the frames reaped.
    pub fn recycle_completions_to(&mut self, src: &mut XskSocket) -> Result<u32, Error> {
        let si = src.inner.as_mut().ok_or(src.dead)?;
        let di = self.inner.as_mut().ok_or(self.dead)?;
        if !std::sync::Arc::ptr_eq(di.umem(), si.umem()) {
            return Err(Error::Config("recycling needs sockets sharing one UMEM"));
        }
        Ok(di.recycle_to(si))
    }

    /// Forwarding mode for the fill ring: `recv` tops it up from the pool only below a
    /// quarter of its target, because completions come back onto it in FIFO order
    /// ([`XskSocket::recycle_completions_to`]), the order the kernel walks its frames in.
    pub fn set_fill_low_water(&mut self, on: bool) -> Result<(), Error> {
        self.inner()?.set_low_water(on);
        Ok(())
    }

    /// Frames this socket submitted to TX that have not been reaped yet.
    pub fn tx_outstanding(&self) -> Result<u32, Error> {
        Ok(self.inner.as_ref().ok_or(self.dead)?.tx_out())
    }

    /// Frames on the fill ring the kernel has not taken yet (room for that many
    /// received packets before `rx_fill_ring_empty_descs` starts counting).
    pub fn fill_level(&mut self) -> Result<u32, Error> {
        Ok(self.inner()?.fill_level())
    }

    /// Descriptors on the TX ring the kernel has not consumed yet (a subset of
    /// [`XskSocket::tx_outstanding`], which also counts frames awaiting completion).
    pub fn tx_pending(&self) -> Result<u32, Error> {
        Ok(self.inner.as_ref().ok_or(self.dead)?.tx_pending())
    }

    /// Kicks TX when descriptors wait on the ring and the kernel needs a syscall
    /// (always in copy/skb mode, on `need_wakeup` in zero-copy). Returns whether it kicked.
    pub fn kick_tx(&mut self) -> Result<bool, Error> {
        let r = self.inner()?.kick_if_needed();
        self.check_gone(r)
    }

    /// Sleeps in `poll()` until this socket (or `other`) has packets to read, at most
    /// `timeout` (≤ 100 ms per call: an unbound socket never reports `POLLERR`, so the
    /// caller loops and the next call notices). `poll` also performs the wakeups the
    /// fill ring and (copy mode) the TX ring ask for. Returns whether one is readable.
    pub fn poll_rx(&mut self, other: Option<&XskSocket>, timeout: Duration) -> Result<bool, Error> {
        let ofd = match other {
            Some(o) => Some(o.inner.as_ref().ok_or(o.dead)?.fd().as_raw_fd()),
            None => None,
        };
        let inner = self.inner()?;
        let ms = timeout.as_millis().min(100) as i32;
        let (a, b) = poll_socket(inner.fd(), ofd, ms)?;
        if hung_up(a) || (a & libc::POLLIN == 0 && unbound(inner.fd())) {
            return Err(self.gone());
        }
        Ok((a | b) & libc::POLLIN != 0)
    }

    /// Reaps the completion ring (frames back to the free pool); returns how many.
    pub fn reap(&mut self) -> Result<u32, Error> {
        Ok(self.inner()?.reap())
    }

    /// One TX kick (`sendto`) whether or not descriptors wait on the ring: what
    /// xdpsock's l2fwd does before sleeping while frames are still in flight.
    /// Measured on veth (copy mode) it forwards 10-15 % more than kicking only
    /// when descriptors are pending.
    pub fn kick_tx_now(&mut self) -> Result<(), Error> {
        let r = self.inner()?.kick();
        self.check_gone(r)
    }

    /// Tops the fill ring up from the free pool (at most `max` frames).
    pub fn refill(&mut self, max: u32) -> Result<u32, Error> {
        Ok(self.inner()?.refill(max))
    }

    /// Returns packets to the pool (they become free; `recv` refills the fill ring from there).
    pub fn release(&mut self, batch: &mut Batch) -> Result<(), Error> {
        self.inner()?.release(batch);
        Ok(())
    }

    /// Copies `bytes` into a fresh packet (one frame, or a chain in multi-buffer mode).
    pub fn packet_from(&mut self, bytes: &[u8]) -> Result<Packet, Error> {
        self.inner()?.packet_from(bytes)
    }

    /// Largest packet `send` takes: one frame, or (multi-buffer) the kernel's fragment limit.
    pub fn max_packet(&self) -> Result<usize, Error> {
        Ok(self.inner.as_ref().ok_or(self.dead)?.max_packet())
    }

    /// Counters, kernel statistics and frame places.
    pub fn stats(&mut self) -> Result<SocketStats, Error> {
        let st = self.inner()?.stats()?;
        self.last_stats = st;
        Ok(st)
    }

    /// Frame places of the UMEM (the sum equals the UMEM frame count).
    pub fn places(&mut self) -> Result<Places, Error> {
        Ok(self.stats()?.places)
    }

    /// Test hook: puts a raw descriptor (no frame) on the TX ring and kicks, to check
    /// the kernel rejects and counts it (`tx_invalid_descs`). Public for
    /// `tests/xsk_veth.rs`; the descriptor names no frame handle, so it cannot give a
    /// frame a second owner.
    #[doc(hidden)]
    pub fn push_raw_tx_desc(&mut self, addr: u64, len: u32) -> Result<bool, Error> {
        Ok(self.inner()?.push_raw_tx_desc(addr, len))
    }

    /// Closes the socket: removes it from the XSKMAP, unmaps its rings, closes its fd,
    /// returns its frames to the UMEM and (last socket of the interface) detaches the
    /// program. Every later call fails with [`Error::Closed`]. Idempotent.
    pub fn close(&mut self) {
        self.waker.wake();
        self.teardown(Error::Closed);
    }

    fn teardown(&mut self, why: Error) {
        if let Some(inner) = self.inner.take() {
            self.last_stats = inner.counters();
            inner.shutdown(self.queue);
            self.dead = why;
        }
    }

    fn gone(&mut self) -> Error {
        let e = Error::InterfaceGone {
            ifname: self.ifname,
        };
        self.teardown(e);
        e
    }

    fn check_gone<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        match r {
            Err(Error::InterfaceGone { .. }) => Err(self.gone()),
            other => other,
        }
    }

    /// Stats as they were at close (or last `stats()` call).
    pub fn last_stats(&self) -> SocketStats {
        self.last_stats
    }
}

impl Drop for XskSocket {
    fn drop(&mut self) {
        self.teardown(Error::Closed);
    }
}
