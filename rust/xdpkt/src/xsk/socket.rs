//! [`XskSocket`]: one AF_XDP socket bound to one queue of one interface.
//!
//! A socket owns its four rings and shares its UMEM (frames + [`FramePool`]) with
//! the other sockets opened with [`XskSocket::open_shared`]. Every frame of the UMEM
//! is in exactly one place, tracked by a one-byte tag per frame:
//! - *free*: on the pool's free list;
//! - *user*: in a `Packet`/`Frame` handle held by user code (RX'd or being built);
//! - *fill*: handed to the kernel for reception (fill ring, or the kernel's RX cache);
//! - *tx*: on the TX ring or being transmitted; *completion*: back on the completion
//!   ring, not reaped yet.
//!
//! `free + user + fill + tx + completion == frames`, always ([`XskSocket::places`]).
//! A descriptor the kernel hands back is bounds-checked *and* must name a frame this
//! socket gave it (the tag), so a corrupt ring can never make two owners of a frame.
//!
//! Transmit: a [`Batch`] goes onto the TX ring in one reservation; the kernel is
//! kicked only while it has unconsumed descriptors (copy mode processes at most its
//! per-call budget — 32 by default, raised to the ring size through
//! `XDP_MAX_TX_SKB_BUDGET` when the kernel has it), completions are reaped between
//! kicks, and [`XskSocket::send`] returns when every frame has completed.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::packet::Packet;
use crate::pool::{Frame, FrameMemory, FramePool};

use super::prog::{AttachMode, XdpProgram, XskMapSource};
use super::ring::{ConsRing, ProdRing, XdpDesc};
use super::sys::{self, XdpStatistics};
use super::umem::{Umem, UmemPool};
use super::{Error, IfName};

/// Socket mode: what was asked for, and (from [`XskSocket::mode`]) what was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Zero-copy, else copy, else generic XDP (skb), logging why each step fell back.
    #[default]
    Auto,
    /// Driver XDP + zero-copy UMEM (the NIC DMAs into the UMEM).
    ZeroCopy,
    /// Driver XDP, frames copied between kernel buffers and the UMEM.
    Copy,
    /// Generic XDP (after the stack allocated an skb) + copy.
    Skb,
}

impl Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::ZeroCopy => "zerocopy",
            Mode::Copy => "copy",
            Mode::Skb => "skb",
        }
    }
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "auto" => Mode::Auto,
            "zerocopy" => Mode::ZeroCopy,
            "copy" => Mode::Copy,
            "skb" => Mode::Skb,
            _ => return None,
        })
    }
}

/// Socket configuration.
#[derive(Debug, Clone)]
pub struct XskConfig {
    pub mode: Mode,
    /// UMEM frames (shared sockets use the first socket's UMEM and ignore this).
    pub frames: u32,
    /// Frame size: 2048 or 4096.
    pub frame_size: usize,
    /// Entries of each of the four rings (power of two).
    pub ring_size: u32,
    /// Bind with `XDP_USE_NEED_WAKEUP`: the kernel says when it needs a syscall.
    pub need_wakeup: bool,
    /// `SO_PREFER_BUSY_POLL` + `SO_BUSY_POLL` + `SO_BUSY_POLL_BUDGET`.
    pub busy_poll: bool,
    /// Use this XSKMAP (the user's own XDP program) instead of loading ours.
    pub xskmap: Option<XskMapSource>,
    /// Upper bound for `send` to see every frame complete.
    pub tx_timeout: Duration,
    /// Frames put on the fill ring at open (`None`: half the free frames, at most a ring).
    pub fill_frames: Option<u32>,
    /// Multi-buffer (`XDP_USE_SG`): packets larger than a frame span several frames
    /// (jumbo frames, e.g. 9000 bytes). Needs kernel 6.6+.
    pub multi_buffer: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            mode: Mode::Auto,
            frames: 4096,
            frame_size: 4096,
            ring_size: 2048,
            need_wakeup: true,
            busy_poll: false,
            xskmap: None,
            tx_timeout: Duration::from_secs(2),
            fill_frames: None,
            multi_buffer: false,
        }
    }
}

/// Where the UMEM's frames are. `free + user + fill + tx + completion == total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Places {
    pub free: u32,
    pub user: u32,
    pub fill: u32,
    pub tx: u32,
    pub completion: u32,
    pub total: u32,
}

impl Places {
    pub fn sum(&self) -> u32 {
        self.free + self.user + self.fill + self.tx + self.completion
    }
    pub fn is_consistent(&self) -> bool {
        self.sum() == self.total
    }
}

/// Counters of one socket plus the kernel's `XDP_STATISTICS` and the UMEM places.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Descriptors from the kernel that failed bounds or ownership checks (never touched).
    pub rx_bad_descs: u64,
    pub completion_bad_descs: u64,
    /// Packets dropped by `send` because they do not fit one frame.
    pub tx_oversize: u64,
    /// `sendto` kicks issued.
    pub tx_kicks: u64,
    pub kernel: XdpStatistics,
    pub places: Places,
}

/// Wakes a thread blocked in `recv` on this socket and makes it (and every later
/// call) fail with [`Error::Closed`]. Clonable and usable from any thread.
#[derive(Clone)]
pub struct Waker(Arc<WakerInner>);

struct WakerInner {
    fd: OwnedFd,
    closed: AtomicBool,
}

impl Waker {
    fn new() -> Result<Waker, Error> {
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
}

/// See [`XskSocket::wait_handle`].
pub struct WaitHandle {
    fd: Arc<OwnedFd>,
    waker: Waker,
}

impl WaitHandle {
    /// Sleeps in `poll()` until the socket is readable, `timeout` passes (false), or the
    /// socket is closed through its [`Waker`] ([`Error::Closed`]).
    pub fn wait_readable(&self, timeout: Duration) -> Result<bool, Error> {
        if self.waker.is_closing() {
            return Err(Error::Closed);
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let (rev, wrev) = sys::poll2(
            self.fd.as_raw_fd(),
            libc::POLLIN,
            Some(self.waker.0.fd.as_raw_fd()),
            ms,
        )
        .map_err(|e| Error::os("poll", e))?;
        if wrev != 0 || self.waker.is_closing() {
            return Err(Error::Closed);
        }
        Ok(rev != 0)
    }
}

// Frame tags: who has the frame besides the pool.
const TAG_POOL: u8 = 0; // free or user (the pool tells which)
const fn tag_fill(slot: u8) -> u8 {
    1 + slot * 2
}
const fn tag_tx(slot: u8) -> u8 {
    2 + slot * 2
}
const MAX_MEMBERS: usize = 127;

#[derive(Default, Clone, Copy)]
struct Member {
    live: bool,
    fill: u32,
    /// Submitted to TX and not reaped yet (on the TX ring, in flight, or on the completion ring).
    tx_out: u32,
    /// Last seen completion-ring occupancy (exact for the socket asking; a snapshot for the others).
    completion: u32,
}

/// UMEM state shared by the sockets of one UMEM.
pub struct Shared {
    pool: UmemPool,
    tags: Box<[u8]>,
    members: Vec<Member>,
    /// Bound sockets of this UMEM (any of them can anchor an `XDP_SHARED_UMEM` bind).
    fds: Vec<Weak<OwnedFd>>,
}

impl Shared {
    /// The frame pool (read packet bytes, build packets for `send`).
    pub fn pool(&mut self) -> &mut UmemPool {
        &mut self.pool
    }
    pub fn pool_ref(&self) -> &UmemPool {
        &self.pool
    }
    fn places(&self) -> Places {
        let mut p = Places {
            free: self.pool.free_count() as u32,
            user: self.pool.held_count(),
            total: self.pool.frame_count(),
            ..Places::default()
        };
        for m in self.members.iter() {
            p.fill += m.fill;
            let c = m.completion.min(m.tx_out);
            p.completion += c;
            p.tx += m.tx_out - c;
        }
        p
    }
    /// Moves a frame the kernel gave back (tag checked by the caller) to the pool.
    fn take_back(&mut self, idx: u32, off: u32, len: u32) -> Option<Frame> {
        let f = self.pool.adopt(idx, off, len).ok()?;
        if let Some(t) = self.tags.get_mut(idx as usize) {
            *t = TAG_POOL;
        }
        Some(f)
    }
}

/// A UMEM shared between sockets: lock it to reach the frame pool.
pub type SharedUmem = Arc<Mutex<Shared>>;

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

struct Inner {
    // Field order = drop order: rings unmap before the socket fd closes, the
    // program (link) goes last so the queue is never redirected to a closed socket.
    rx: ConsRing<XdpDesc>,
    tx: ProdRing<XdpDesc>,
    fill: ProdRing<u64>,
    comp: ConsRing<u64>,
    fd: Arc<OwnedFd>,
    shared: SharedUmem,
    slot: u8,
    prog: Arc<XdpProgram>,
    mode: Mode,
    need_wakeup: bool,
    stats: SocketStats,
    frame_size: u32,
    multi_buffer: bool,
    /// A multi-buffer packet whose last fragment has not been read yet.
    partial: Option<Packet>,
}

/// A socket's UMEM and bind settings, to open another socket on it from any thread.
#[derive(Clone)]
pub struct ShareUmem {
    shared: SharedUmem,
    mode: Mode,
    need_wakeup: bool,
    multi_buffer: bool,
}

/// One AF_XDP socket on (interface, queue).
pub struct XskSocket {
    inner: Option<Inner>,
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
            .field("mode", &self.inner.as_ref().map(|i| i.mode))
            .finish()
    }
}

fn perm_or_os(op: &'static str, cap: &'static str, e: i32) -> Error {
    if e == libc::EPERM || e == libc::EACCES {
        Error::Permission { cap, op, errno: e }
    } else {
        Error::os(op, e)
    }
}

/// Makes sure RLIMIT_MEMLOCK admits `needed` bytes (the kernel charges the UMEM to it
/// unless we have CAP_IPC_LOCK); raises the soft limit when the hard one allows. The
/// kernel counts all of this user's UMEMs together, so registration can still fail
/// with ENOBUFS; that is reported as the same `Memlock` error.
fn ensure_memlock(needed: u64) -> Result<(), Error> {
    if sys::has_capability(sys::CAP_IPC_LOCK) {
        return Ok(());
    }
    let (cur, max) = sys::memlock_limit().map_err(|e| Error::os("getrlimit(RLIMIT_MEMLOCK)", e))?;
    if cur == libc::RLIM_INFINITY || cur >= needed {
        return Ok(());
    }
    if max == libc::RLIM_INFINITY || max >= needed {
        let want = if max == libc::RLIM_INFINITY {
            libc::RLIM_INFINITY
        } else {
            max
        };
        if sys::set_memlock_limit(want, max).is_ok() {
            return Ok(());
        }
    }
    Err(Error::Memlock { needed, limit: cur })
}

struct Opened {
    fd: OwnedFd,
    rx: ConsRing<XdpDesc>,
    tx: ProdRing<XdpDesc>,
    fill: ProdRing<u64>,
    comp: ConsRing<u64>,
}

impl XskSocket {
    /// Opens a socket with its own UMEM.
    pub fn open(ifname: &str, queue: u32, cfg: &XskConfig) -> Result<XskSocket, Error> {
        if !(2048..=4096).contains(&cfg.frame_size) || !cfg.frame_size.is_power_of_two() {
            return Err(Error::Config("frame_size must be 2048 or 4096"));
        }
        if cfg.frames == 0 || cfg.frames as usize > MAX_FRAMES {
            return Err(Error::Config("frames must be between 1 and 1048576"));
        }
        let umem = Umem::new(cfg.frames, cfg.frame_size)?;
        let tags = vec![TAG_POOL; cfg.frames as usize].into_boxed_slice();
        let shared = Arc::new(Mutex::new(Shared {
            pool: FramePool::new(umem, 0, true),
            tags,
            members: Vec::new(),
            fds: Vec::new(),
        }));
        Self::open_with(ifname, queue, cfg, shared, true)
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
        Ok(ShareUmem {
            shared: inner.shared.clone(),
            mode: inner.mode,
            need_wakeup: inner.need_wakeup,
            multi_buffer: inner.multi_buffer,
        })
    }

    /// [`XskSocket::open_shared`] from a [`ShareUmem`] handle. If every socket of that
    /// UMEM closed meanwhile the bind fails (there is nothing to share with).
    pub fn open_sharing(
        ifname: &str,
        queue: u32,
        cfg: &XskConfig,
        with: &ShareUmem,
    ) -> Result<XskSocket, Error> {
        // A shared socket cannot choose its bind flags: it inherits the UMEM owner's mode.
        let cfg = XskConfig {
            mode: with.mode,
            need_wakeup: with.need_wakeup,
            multi_buffer: with.multi_buffer,
            ..cfg.clone()
        };
        Self::open_with(ifname, queue, &cfg, with.shared.clone(), false)
    }

    fn open_with(
        ifname: &str,
        queue: u32,
        cfg: &XskConfig,
        shared: SharedUmem,
        owner: bool,
    ) -> Result<XskSocket, Error> {
        let name = IfName::new(ifname);
        if ifname.is_empty() || ifname.len() >= 16 {
            return Err(Error::NoSuchInterface { ifname: name });
        }
        if !cfg.ring_size.is_power_of_two() || !(64..=65536).contains(&cfg.ring_size) {
            return Err(Error::Config(
                "ring_size must be a power of two between 64 and 65536",
            ));
        }
        // Name the missing capability up front instead of a bare EPERM from the first syscall.
        if !sys::has_capability(sys::CAP_NET_RAW) {
            return Err(Error::Permission {
                cap: "CAP_NET_RAW",
                op: "socket(AF_XDP)",
                errno: libc::EPERM,
            });
        }
        if cfg.xskmap.is_none() {
            if !sys::has_capability(sys::CAP_BPF) && !sys::has_capability(sys::CAP_SYS_ADMIN) {
                return Err(Error::Permission {
                    cap: "CAP_BPF",
                    op: "bpf(BPF_PROG_LOAD)",
                    errno: libc::EPERM,
                });
            }
            if !sys::has_capability(sys::CAP_NET_ADMIN) {
                return Err(Error::Permission {
                    cap: "CAP_NET_ADMIN",
                    op: "bpf(BPF_LINK_CREATE XDP)",
                    errno: libc::EPERM,
                });
            }
        }
        let ifindex = sys::if_nametoindex(ifname);
        if ifindex == 0 {
            return Err(Error::NoSuchInterface { ifname: name });
        }
        let queues = crate::ethtool::rx_queue_count(ifname);
        if let Some(n) = queues {
            if queue >= n {
                return Err(Error::NoSuchQueue {
                    ifname: name,
                    queue,
                    queues: n,
                });
            }
        }
        let mut notes = Vec::new();
        let (umem_len, frame_size) = {
            let s = lock(&shared);
            (s.pool.memory().len() as u64, s.pool.frame_size() as u32)
        };
        if owner {
            // The kernel charges exactly the UMEM's pages (xdp_umem_account_pages;
            // the rings are not counted against RLIMIT_MEMLOCK).
            ensure_memlock(umem_len.next_multiple_of(sys::page_size()))?;
        }
        // The XDP program (or the user's XSKMAP).
        let prog = match &cfg.xskmap {
            Some(src) => Arc::new(XdpProgram::from_map(src)?),
            None => {
                let attach = match cfg.mode {
                    Mode::Auto => None,
                    Mode::ZeroCopy | Mode::Copy => Some(AttachMode::Native),
                    Mode::Skb => Some(AttachMode::Generic),
                };
                let entries = queues.unwrap_or(1).max(64).max(queue + 1);
                let (p, n) = XdpProgram::shared(ifindex, name, entries, attach, cfg.multi_buffer)?;
                notes.extend(n);
                p
            }
        };
        let generic = prog.mode() == Some(AttachMode::Generic);
        // Bind flags to try, in order.
        let tries: &[Mode] = match cfg.mode {
            Mode::Auto if generic => &[Mode::Skb],
            Mode::Auto => &[Mode::ZeroCopy, Mode::Copy],
            Mode::ZeroCopy => &[Mode::ZeroCopy],
            Mode::Copy => &[Mode::Copy],
            Mode::Skb => &[Mode::Skb],
        };
        let mut result = Err(Error::Config("no mode to try"));
        for &m in tries {
            result = Self::bind_once(name, ifindex, queue, cfg, &shared, owner, m).map(|o| (o, m));
            match &result {
                Ok(_) => break,
                Err(Error::ModeUnsupported { errno, .. }) if cfg.mode == Mode::Auto => {
                    notes.push(format!(
                        "{name} queue {queue}: {m} mode refused ({}), falling back",
                        sys::strerror(*errno)
                    ));
                }
                Err(_) => break,
            }
        }
        let (o, mode) = result?;
        let fd = Arc::new(o.fd);
        if cfg.busy_poll {
            let one: libc::c_int = 1;
            let usecs: libc::c_int = 20;
            let budget: libc::c_int = 64;
            for (opt, v, what) in [
                (sys::SO_PREFER_BUSY_POLL, one, "SO_PREFER_BUSY_POLL"),
                (libc::SO_BUSY_POLL, usecs, "SO_BUSY_POLL"),
                (sys::SO_BUSY_POLL_BUDGET, budget, "SO_BUSY_POLL_BUDGET"),
            ] {
                if let Err(e) = sys::setsockopt(&fd, libc::SOL_SOCKET, opt, &v) {
                    notes.push(format!("busy_poll: {what} refused ({})", sys::strerror(e)));
                }
            }
        }
        prog.insert(queue, fd.as_raw_fd())?;
        let slot = {
            let mut s = lock(&shared);
            s.fds.retain(|w| w.strong_count() > 0);
            s.fds.push(Arc::downgrade(&fd));
            let slot = match s.members.iter().position(|m| !m.live) {
                Some(i) => i,
                None if s.members.len() < MAX_MEMBERS => {
                    s.members.push(Member::default());
                    s.members.len() - 1
                }
                None => {
                    prog.remove(queue);
                    return Err(Error::Config("too many sockets share this UMEM"));
                }
            };
            s.members[slot] = Member {
                live: true,
                ..Member::default()
            };
            slot as u8
        };
        let mut inner = Inner {
            rx: o.rx,
            tx: o.tx,
            fill: o.fill,
            comp: o.comp,
            fd,
            shared,
            slot,
            prog,
            mode,
            need_wakeup: cfg.need_wakeup,
            stats: SocketStats::default(),
            frame_size,
            multi_buffer: cfg.multi_buffer,
            partial: None,
        };
        // The last fallible step comes before any frame is lent to the kernel: an error
        // here drops `inner` with no frame on its rings (nothing to reclaim).
        let waker = match Waker::new() {
            Ok(w) => w,
            Err(e) => {
                inner.shutdown(queue);
                return Err(e);
            }
        };
        // Half the free frames (up to the fill ring) go to the kernel for RX; the rest stay for TX.
        let half = (lock(&inner.shared).pool.free_count() as u32).div_ceil(2);
        inner.refill(cfg.fill_frames.unwrap_or(half));
        Ok(XskSocket {
            inner: Some(inner),
            dead: Error::Closed,
            waker,
            ifname: name,
            queue,
            notes,
            tx_timeout: cfg.tx_timeout,
            last_stats: SocketStats::default(),
        })
    }

    fn bind_once(
        name: IfName,
        ifindex: u32,
        queue: u32,
        cfg: &XskConfig,
        shared: &SharedUmem,
        owner: bool,
        mode: Mode,
    ) -> Result<Opened, Error> {
        let fd = sys::xsk_socket().map_err(|e| perm_or_os("socket(AF_XDP)", "CAP_NET_RAW", e))?;
        let anchor: Option<Arc<OwnedFd>> = if owner {
            let s = lock(shared);
            let base = s.pool.memory().base();
            let len = s.pool.memory().len() as u64;
            let fs = s.pool.frame_size() as u32;
            sys::umem_reg(&fd, base, len, fs, 0).map_err(|e| match e {
                libc::ENOBUFS | libc::ENOMEM => Error::Memlock {
                    needed: len,
                    limit: sys::memlock_limit().map(|l| l.0).unwrap_or(0),
                },
                _ => perm_or_os("setsockopt(XDP_UMEM_REG)", "CAP_IPC_LOCK", e),
            })?;
            None
        } else {
            let s = lock(shared);
            let a = s.fds.iter().find_map(|w| w.upgrade());
            Some(a.ok_or(Error::Config("the UMEM's sockets are all closed"))?)
        };
        let rs = cfg.ring_size;
        let so = |opt, what| {
            sys::setsockopt(&fd, libc::SOL_XDP, opt, &rs).map_err(|e| Error::os(what, e))
        };
        so(libc::XDP_UMEM_FILL_RING, "setsockopt(XDP_UMEM_FILL_RING)")?;
        so(
            libc::XDP_UMEM_COMPLETION_RING,
            "setsockopt(XDP_UMEM_COMPLETION_RING)",
        )?;
        so(libc::XDP_RX_RING, "setsockopt(XDP_RX_RING)")?;
        so(libc::XDP_TX_RING, "setsockopt(XDP_TX_RING)")?;
        let off =
            sys::mmap_offsets(&fd).map_err(|e| Error::os("getsockopt(XDP_MMAP_OFFSETS)", e))?;
        let mm = |what| move |e| Error::os(what, e);
        let rx = ConsRing::map(&fd, &off.rx, rs, libc::XDP_PGOFF_RX_RING as u64)
            .map_err(mm("mmap RX ring"))?;
        let tx = ProdRing::map(&fd, &off.tx, rs, libc::XDP_PGOFF_TX_RING as u32 as u64)
            .map_err(mm("mmap TX ring"))?;
        let fill = ProdRing::map(&fd, &off.fill, rs, libc::XDP_UMEM_PGOFF_FILL_RING)
            .map_err(mm("mmap fill ring"))?;
        let comp = ConsRing::map(
            &fd,
            &off.completion,
            rs,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )
        .map_err(mm("mmap completion ring"))?;
        // Let one copy-mode kick move a whole ring instead of 32 descriptors (6.17+; older: 32).
        let _ = sys::setsockopt(&fd, libc::SOL_XDP, sys::XDP_MAX_TX_SKB_BUDGET, &rs);
        let mut flags: u16 = match mode {
            Mode::ZeroCopy => libc::XDP_ZEROCOPY,
            _ => libc::XDP_COPY,
        };
        if cfg.need_wakeup {
            flags |= libc::XDP_USE_NEED_WAKEUP;
        }
        if cfg.multi_buffer {
            flags |= libc::XDP_USE_SG;
        }
        if anchor.is_some() {
            // The kernel refuses any other flag on a shared-UMEM bind (EINVAL).
            flags = libc::XDP_SHARED_UMEM;
        }
        let anchor_fd = anchor.as_ref().map(|a| a.as_raw_fd());
        // The kernel releases a queue asynchronously after its socket closes: a reopen
        // right after a close sees EBUSY for a few tens of milliseconds.
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match sys::bind(&fd, ifindex, queue, flags, anchor_fd) {
                Ok(()) => break,
                Err(libc::EBUSY) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(libc::EBUSY) => {
                    return Err(Error::QueueBusy {
                        ifname: name,
                        queue,
                    })
                }
                Err(e @ (libc::EOPNOTSUPP | libc::EPROTONOSUPPORT)) => {
                    return Err(Error::ModeUnsupported {
                        mode,
                        ifname: name,
                        errno: e,
                    })
                }
                Err(libc::EINVAL) if mode == Mode::ZeroCopy => {
                    return Err(Error::ModeUnsupported {
                        mode,
                        ifname: name,
                        errno: libc::EINVAL,
                    })
                }
                Err(libc::EINVAL)
                    if crate::ethtool::rx_queue_count(name.as_str()).is_none_or(|n| queue >= n) =>
                {
                    return Err(Error::NoSuchQueue {
                        ifname: name,
                        queue,
                        queues: crate::ethtool::rx_queue_count(name.as_str()).unwrap_or(0),
                    })
                }
                Err(libc::ENODEV) => return Err(Error::NoSuchInterface { ifname: name }),
                Err(e) => return Err(perm_or_os("bind(AF_XDP)", "CAP_NET_RAW", e)),
            }
        }
        Ok(Opened {
            fd,
            rx,
            tx,
            fill,
            comp,
        })
    }

    fn inner(&mut self) -> Result<&mut Inner, Error> {
        if self.waker.is_closing() {
            self.teardown(Error::Closed);
        }
        self.inner.as_mut().ok_or(self.dead)
    }

    /// The mode obtained (never `Auto`).
    pub fn mode(&self) -> Result<Mode, Error> {
        self.inner.as_ref().map(|i| i.mode).ok_or(self.dead)
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
            .map(|i| i.fd.as_raw_fd())
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
        Ok(WaitHandle {
            fd: inner.fd.clone(),
            waker: self.waker.clone(),
        })
    }
    /// The shared UMEM: lock it to reach the frame pool (packet bytes, new frames).
    pub fn umem(&self) -> Result<SharedUmem, Error> {
        self.inner
            .as_ref()
            .map(|i| i.shared.clone())
            .ok_or(self.dead)
    }
    /// Whether our XDP program is attached through a BPF link held by this process.
    pub fn owns_program(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.prog.owns_link())
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
        let wfd = self.waker.0.fd.as_raw_fd();
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
            let (rev, wrev) = sys::poll2(inner.fd.as_raw_fd(), libc::POLLIN, Some(wfd), ms)
                .map_err(|e| Error::os("poll", e))?;
            if wrev != 0 {
                self.teardown(Error::Closed);
                return Err(Error::Closed);
            }
            if rev & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                let e = self.gone();
                return Err(e);
            }
            if rev & libc::POLLIN == 0 {
                let inner = self.inner()?;
                if sys::socket_error(&inner.fd).is_ok_and(|e| e != 0) {
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
        let r = self.inner()?.transmit(batch, timeout);
        self.check_gone(r)
    }

    /// Waits until every frame this socket put on the TX ring has completed.
    pub fn flush(&mut self) -> Result<(), Error> {
        let timeout = self.tx_timeout;
        let waker = self.waker.clone();
        let r = self.inner()?.flush(timeout, &waker, false).map(|_| ());
        self.check_gone(r)
    }

    /// Waits until at least one transmitted frame completed (returns how many were
    /// reaped; 0 when nothing was outstanding). For pipelined senders out of frames.
    pub fn wait_tx(&mut self) -> Result<u32, Error> {
        let timeout = self.tx_timeout;
        let waker = self.waker.clone();
        let r = self.inner()?.flush(timeout, &waker, true);
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
            None => {
                if src.multi_buffer {
                    return Err(Error::Config("forward does not take multi-buffer sockets"));
                }
                src.recycle();
                let r = src.forward_to(None, budget, &mut edit);
                src.refill_if_low();
                if r.0 > 0 {
                    src.kick_if_needed().map(|_| r)
                } else {
                    Ok(r)
                }
            }
            Some(d) => {
                let di = d.inner.as_mut().ok_or(d.dead)?;
                if !Arc::ptr_eq(&src.shared, &di.shared) {
                    return Err(Error::Config("forward needs sockets sharing one UMEM"));
                }
                if src.multi_buffer || di.multi_buffer {
                    return Err(Error::Config("forward does not take multi-buffer sockets"));
                }
                di.recycle_to(src);
                let r = src.forward_to(Some(di), budget, &mut edit);
                src.refill_if_low();
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

    /// Frames this socket submitted to TX that have not been reaped yet.
    pub fn tx_outstanding(&self) -> Result<u32, Error> {
        Ok(self.inner.as_ref().ok_or(self.dead)?.tx_out())
    }

    /// Frames on the fill ring the kernel has not taken yet (room for that many
    /// received packets before `rx_fill_ring_empty_descs` starts counting).
    pub fn fill_level(&mut self) -> Result<u32, Error> {
        let inner = self.inner()?;
        let size = inner.fill.size();
        Ok(size - inner.fill.free(size).min(size))
    }

    /// Descriptors on the TX ring the kernel has not consumed yet (a subset of
    /// [`XskSocket::tx_outstanding`], which also counts frames awaiting completion).
    pub fn tx_pending(&self) -> Result<u32, Error> {
        Ok(self.inner.as_ref().ok_or(self.dead)?.tx.pending())
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
            Some(o) => Some(o.inner.as_ref().ok_or(o.dead)?.fd.as_raw_fd()),
            None => None,
        };
        let inner = self.inner()?;
        let ms = timeout.as_millis().min(100) as i32;
        let (a, b) = sys::poll2(inner.fd.as_raw_fd(), libc::POLLIN, ofd, ms)
            .map_err(|e| Error::os("poll", e))?;
        if a & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
            || (a & libc::POLLIN == 0 && sys::socket_error(&inner.fd).is_ok_and(|e| e != 0))
        {
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
        let inner = self.inner()?;
        let mut s = lock(&inner.shared);
        for p in batch.drain() {
            s.pool.release(p);
        }
        Ok(())
    }

    /// Copies `bytes` into a fresh packet (one frame, or a chain in multi-buffer mode).
    pub fn packet_from(&mut self, bytes: &[u8]) -> Result<Packet, Error> {
        let max = self.max_packet()?;
        let inner = self.inner()?;
        let mut s = lock(&inner.shared);
        if bytes.len() > max {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        s.pool.packet_from(bytes).map_err(|_| Error::Exhausted)
    }

    /// Largest packet `send` takes: one frame, or (multi-buffer) the kernel's fragment limit.
    pub fn max_packet(&self) -> Result<usize, Error> {
        let inner = self.inner.as_ref().ok_or(self.dead)?;
        let cap = lock(&inner.shared).pool.frame_capacity();
        Ok(if inner.multi_buffer {
            cap * MAX_TX_FRAGS as usize
        } else {
            cap
        })
    }

    /// Counters, kernel statistics and frame places.
    pub fn stats(&mut self) -> Result<SocketStats, Error> {
        let inner = self.inner()?;
        let kernel =
            sys::statistics(&inner.fd).map_err(|e| Error::os("getsockopt(XDP_STATISTICS)", e))?;
        let mut s = lock(&inner.shared);
        let pend = inner.comp.pending();
        if let Some(m) = s.members.get_mut(inner.slot as usize) {
            m.completion = pend;
        }
        let places = s.places();
        drop(s);
        inner.stats.kernel = kernel;
        inner.stats.places = places;
        let st = inner.stats;
        self.last_stats = st;
        Ok(st)
    }

    /// Frame places of the UMEM (the sum equals the UMEM frame count).
    pub fn places(&mut self) -> Result<Places, Error> {
        Ok(self.stats()?.places)
    }

    /// Test hook: puts a raw descriptor (no frame) on the TX ring and kicks, to check
    /// the kernel rejects and counts it (`tx_invalid_descs`).
    #[doc(hidden)]
    pub fn push_raw_tx_desc(&mut self, addr: u64, len: u32) -> Result<bool, Error> {
        let inner = self.inner()?;
        let (start, got) = inner.tx.reserve(1);
        if got == 0 {
            return Ok(false);
        }
        inner.tx.write(
            start,
            XdpDesc {
                addr,
                len,
                options: 0,
            },
        );
        inner.tx.submit();
        let _ = sys::kick_tx(&inner.fd);
        Ok(true)
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
            self.last_stats = inner.stats;
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

/// Completions on `comp` (transmitted by socket `tx_slot`) go straight onto `fill`
/// (socket `fill_slot`'s fill ring), in order; what does not fit goes to the pool.
/// A completion that does not name a frame `tx_slot` transmitted is counted and
/// skipped, never touched.
fn recycle_parts(
    comp: &mut ConsRing<u64>,
    stats: &mut SocketStats,
    tx_slot: u8,
    fill: &mut ProdRing<u64>,
    fill_slot: u8,
    shared: &SharedUmem,
    frame_size: u32,
) -> u32 {
    let (start, got) = comp.peek(comp.size());
    if got == 0 {
        return 0;
    }
    let room = fill.free(got).min(got);
    let (fstart, fgot) = fill.reserve(room);
    let mut s = lock(shared);
    let (tx_tag, fill_tag) = (tag_tx(tx_slot), tag_fill(fill_slot));
    let shift = frame_size.trailing_zeros();
    let (mut n, mut filled) = (0u32, 0u32);
    for i in 0..got {
        let Some(addr) = comp.read(start.wrapping_add(i)) else {
            break;
        };
        let idx = addr >> shift;
        if idx >= s.pool.frame_count() as u64 || s.tags.get(idx as usize) != Some(&tx_tag) {
            stats.completion_bad_descs += 1;
            continue;
        }
        n += 1;
        if filled < fgot {
            if let Some(t) = s.tags.get_mut(idx as usize) {
                *t = fill_tag;
            }
            // The fill ring takes the frame's start: the kernel places the packet itself.
            fill.write(fstart.wrapping_add(filled), idx << shift);
            filled += 1;
        } else if let Some(f) = s.take_back(idx as u32, 0, 0) {
            s.pool.free(f);
        }
    }
    if let Some(m) = s.members.get_mut(tx_slot as usize) {
        m.tx_out = m.tx_out.saturating_sub(n);
        m.completion = 0;
    }
    if let Some(m) = s.members.get_mut(fill_slot as usize) {
        m.fill += filled;
    }
    drop(s);
    fill.unreserve(fgot - filled);
    fill.submit();
    comp.release(got);
    n
}

/// Descriptors one multi-buffer packet may use on TX (the kernel's MAX_SKB_FRAGS in copy mode).
const MAX_TX_FRAGS: u32 = 17;

/// At most 2^20 frames (tags are one byte per frame, indices fit descriptors easily).
const MAX_FRAMES: usize = 1 << 20;

impl Inner {
    /// Forwarding's top-up: completions go straight back to the fill ring
    /// (`recycle`), so frames circulate in one FIFO order, the order the kernel
    /// allocates them in and walks its per-frame state (`xp_alloc`); frames from the
    /// free pool are mixed in only when the fill ring runs below a quarter, which
    /// keeps that order (measured: `xp_alloc` fell from 9 % to 1 % of the
    /// forwarding CPU on veth, l2fwd +20-40 %).
    fn refill_if_low(&mut self) -> u32 {
        let size = self.fill.size();
        let held = size - self.fill.free(size).min(size);
        if held >= (size / 4).max(1) {
            return 0;
        }
        self.refill(size)
    }

    fn refill(&mut self, max: u32) -> u32 {
        let want = self.fill.free(max).min(max);
        if want == 0 {
            return 0;
        }
        let mut s = lock(&self.shared);
        let want = want.min(s.pool.free_count() as u32);
        let (start, got) = self.fill.reserve(want);
        let mut n = 0;
        while n < got {
            let Some(f) = s.pool.alloc() else { break };
            let idx = s.pool.surrender(f);
            if let Some(t) = s.tags.get_mut(idx as usize) {
                *t = tag_fill(self.slot);
            }
            self.fill
                .write(start.wrapping_add(n), idx as u64 * self.frame_size as u64);
            n += 1;
        }
        // `got` slots were reserved; the pool had at least `got` free frames (checked above).
        self.fill.submit();
        if let Some(m) = s.members.get_mut(self.slot as usize) {
            m.fill += n;
        }
        n
    }

    fn rx_burst(&mut self, batch: &mut Batch, budget: usize) -> usize {
        let want = budget.min(batch.room()).min(u32::MAX as usize) as u32;
        if want == 0 {
            return 0;
        }
        let (start, got) = self.rx.peek(want);
        let mut n = 0usize;
        let mut taken = 0u32;
        if got > 0 {
            let mut s = lock(&self.shared);
            let fill_tag = tag_fill(self.slot);
            for i in 0..got {
                let Some(d) = self.rx.read(start.wrapping_add(i)) else {
                    break;
                };
                let located = s.pool.memory().locate(d.addr, d.len);
                let ok = located.filter(|&(idx, _)| s.tags.get(idx as usize) == Some(&fill_tag));
                let Some((idx, off)) = ok else {
                    // Out of bounds or not a frame we lent the kernel: never touch it (and
                    // a packet it was a fragment of is incomplete: drop what we have of it).
                    self.stats.rx_bad_descs += 1;
                    if let Some(p) = self.partial.take() {
                        s.pool.release(p);
                    }
                    continue;
                };
                let Some(f) = s.take_back(idx, off, d.len) else {
                    self.stats.rx_bad_descs += 1;
                    continue;
                };
                taken += 1;
                self.stats.rx_bytes += d.len as u64;
                // Multi-buffer: XDP_PKT_CONTD says another fragment of this packet follows.
                let more = self.multi_buffer && d.options & libc::XDP_PKT_CONTD != 0;
                let pkt = match self.partial.take() {
                    Some(mut p) => {
                        s.pool.append(&mut p, f);
                        p
                    }
                    None => Packet::from_frame(f, d.len),
                };
                if more {
                    self.partial = Some(pkt);
                    continue;
                }
                if let Err(p) = batch.push(pkt) {
                    s.pool.release(p);
                    continue;
                }
                n += 1;
            }
            // The frames taken back left the kernel's RX side (delivered or not).
            if let Some(m) = s.members.get_mut(self.slot as usize) {
                m.fill = m.fill.saturating_sub(taken);
            }
            drop(s);
            self.rx.release(got);
            self.stats.rx_packets += n as u64;
        }
        // Keep the kernel supplied: replace what was just consumed (and more if it ran low).
        self.refill(self.fill.size());
        n
    }

    /// RX ring → TX ring of `dst` (or our own), same addresses: the zero-copy forward.
    fn forward_to(
        &mut self,
        dst: Option<&mut Inner>,
        budget: u32,
        edit: &mut dyn FnMut(&mut [u8]),
    ) -> (usize, u64) {
        let Inner {
            rx,
            tx: own_tx,
            shared,
            slot,
            stats,
            ..
        } = self;
        let (tx, dslot, dstats) = match dst {
            Some(d) => (&mut d.tx, d.slot, Some(&mut d.stats)),
            None => (own_tx, *slot, None),
        };
        let room = tx.free(budget.min(tx.size()));
        let (start, got) = rx.peek(budget.min(room));
        if got == 0 {
            return (0, 0);
        }
        let (tstart, tgot) = tx.reserve(got);
        // The room was checked above, so tgot == got; never take more RX than TX slots.
        let got = got.min(tgot);
        let mut used = 0u32;
        let mut bytes = 0u64;
        let mut s = lock(shared);
        let (fill_tag, tx_tag) = (tag_fill(*slot), tag_tx(dslot));
        for i in 0..got {
            let Some(d) = rx.read(start.wrapping_add(i)) else {
                break;
            };
            let located = s.pool.memory().locate(d.addr, d.len);
            let ok = located.filter(|&(idx, _)| s.tags.get(idx as usize) == Some(&fill_tag));
            let Some((idx, off)) = ok else {
                // Not a frame we lent the kernel: never touch it, never send it.
                stats.rx_bad_descs += 1;
                continue;
            };
            if let Some(t) = s.tags.get_mut(idx as usize) {
                *t = tx_tag;
            }
            if let Some(b) = s
                .pool
                .memory_mut()
                .frame_mut(idx)
                .get_mut(off as usize..(off + d.len) as usize)
            {
                edit(b);
            }
            tx.write(
                tstart.wrapping_add(used),
                XdpDesc {
                    addr: d.addr,
                    len: d.len,
                    options: 0,
                },
            );
            used += 1;
            bytes += d.len as u64;
        }
        if let Some(m) = s.members.get_mut(*slot as usize) {
            m.fill = m.fill.saturating_sub(used);
        }
        if let Some(m) = s.members.get_mut(dslot as usize) {
            m.tx_out += used;
        }
        drop(s);
        rx.release(got);
        tx.unreserve(tgot - used);
        tx.submit();
        stats.rx_packets += used as u64;
        stats.rx_bytes += bytes;
        let ds = match dstats {
            Some(d) => d,
            None => stats,
        };
        ds.tx_packets += used as u64;
        ds.tx_bytes += bytes;
        (used as usize, bytes)
    }

    /// Reaps completions straight back onto this socket's fill ring (xdpsock's l2fwd
    /// recycling: no trip through the pool); what the fill ring has no room for goes to
    /// the pool. Returns the frames reaped.
    fn recycle(&mut self) -> u32 {
        let Inner {
            comp,
            fill,
            shared,
            slot,
            stats,
            frame_size,
            ..
        } = self;
        recycle_parts(comp, stats, *slot, fill, *slot, shared, *frame_size)
    }

    /// Like [`Inner::recycle`], but this (destination) socket's completions go onto
    /// `src`'s fill ring: in forwarding, those frames were received by `src`, so they
    /// go back where they are needed. (Onto the destination's own fill ring, a
    /// one-way flow parked them all there, where nothing arrives, and starved the
    /// source once the UMEM was no larger than a ring.)
    fn recycle_to(&mut self, src: &mut Inner) -> u32 {
        let Inner {
            comp,
            shared,
            slot,
            stats,
            frame_size,
            ..
        } = self;
        recycle_parts(
            comp,
            stats,
            *slot,
            &mut src.fill,
            src.slot,
            shared,
            *frame_size,
        )
    }

    fn reap(&mut self) -> u32 {
        let (start, got) = self.comp.peek(self.comp.size());
        if got == 0 {
            return 0;
        }
        let mut s = lock(&self.shared);
        let tx_tag = tag_tx(self.slot);
        let mut n = 0;
        for i in 0..got {
            let Some(addr) = self.comp.read(start.wrapping_add(i)) else {
                break;
            };
            let idx = addr >> self.frame_size.trailing_zeros();
            if idx >= s.pool.frame_count() as u64 || s.tags.get(idx as usize) != Some(&tx_tag) {
                self.stats.completion_bad_descs += 1;
                continue;
            }
            if let Some(f) = s.take_back(idx as u32, 0, 0) {
                s.pool.free(f);
                n += 1;
            }
        }
        if let Some(m) = s.members.get_mut(self.slot as usize) {
            m.tx_out = m.tx_out.saturating_sub(n);
            m.completion = 0;
        }
        drop(s);
        self.comp.release(got);
        n
    }

    fn kick(&mut self) -> Result<(), Error> {
        self.stats.tx_kicks += 1;
        match sys::kick_tx(&self.fd) {
            // Busy driver or full completion ring: the caller reaps and retries.
            Ok(()) | Err(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR) => Ok(()),
            Err(libc::ENXIO | libc::ENETDOWN | libc::ENODEV) => Err(Error::InterfaceGone {
                ifname: IfName::new(""),
            }),
            Err(e) => Err(Error::os("sendto (TX kick)", e)),
        }
    }

    /// Kicks when the kernel has descriptors to consume and (need_wakeup) wants a kick.
    fn kick_if_needed(&mut self) -> Result<bool, Error> {
        if self.tx.pending() == 0 {
            return Ok(false);
        }
        // Copy and skb mode transmit only inside sendto(); zero-copy only needs a
        // wakeup when the driver asked for one.
        if self.mode != Mode::ZeroCopy || !self.need_wakeup || self.tx.needs_wakeup() {
            self.kick()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// TX descriptors a packet takes: its frames in multi-buffer mode (up to the kernel's
    /// fragment limit), else one (a chained packet is linearised or dropped).
    fn tx_slots(&self, p: &Packet) -> u32 {
        if self.multi_buffer && p.nframes() <= MAX_TX_FRAGS {
            p.nframes()
        } else {
            1
        }
    }

    fn transmit(&mut self, batch: &mut Batch, timeout: Duration) -> Result<usize, Error> {
        let mut queued = 0usize;
        let mut deadline: Option<Instant> = None;
        let tx_tag = tag_tx(self.slot);
        let mut slots_left: u32 = batch.iter().map(|p| self.tx_slots(p)).sum();
        let mut drain = batch.drain().peekable();
        while drain.peek().is_some() {
            self.reap();
            let (start, got) = self.tx.reserve(slots_left.min(self.tx.size()));
            let next_need = drain.peek().map_or(1, |p| self.tx_slots(p));
            if got < next_need {
                // TX ring full: let the kernel drain it, then retry (bounded).
                self.tx.unreserve(got);
                if let Err(e) = self.kick() {
                    self.release_rest(drain);
                    return Err(e);
                }
                let d = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                if Instant::now() >= d {
                    let pending = self.tx.pending();
                    self.release_rest(drain);
                    return Err(Error::TxTimeout { pending });
                }
                std::thread::yield_now();
                continue;
            }
            deadline = None;
            let mut used = 0u32;
            let mut pkts = 0u32;
            let mut s = lock(&self.shared);
            while let Some(p) = drain.peek() {
                let need = self.tx_slots(p);
                if need > got - used {
                    break;
                }
                let Some(mut p) = drain.next() else { break };
                slots_left = slots_left.saturating_sub(need);
                if need == 1 && !p.is_linear() {
                    // One descriptor for a chained packet: linearise into the head frame when it fits.
                    if p.len() > s.pool.frame_size() || !linearize(&mut s.pool, &mut p) {
                        self.stats.tx_oversize += 1;
                        s.pool.release(p);
                        continue;
                    }
                }
                let (head, _, _, _) = p.into_chain();
                // Walk the chain: one descriptor per frame, XDP_PKT_CONTD on all but the last.
                let mut idx = head;
                while idx != crate::pool::NIL {
                    // A UMEM pool has no borrow slots (only heap pools have them):
                    // every chain entry is a frame of its own.
                    debug_assert!(!s.pool.is_borrowed(idx));
                    let next = s.pool.next_of(idx);
                    let (off, len) = s.pool.window_at(idx);
                    let idx_owned = s.pool.surrender(Frame::from_index(idx));
                    if let Some(t) = s.tags.get_mut(idx_owned as usize) {
                        *t = tx_tag;
                    }
                    let addr = s.pool.memory().addr(idx_owned, off);
                    let options = if next != crate::pool::NIL {
                        libc::XDP_PKT_CONTD
                    } else {
                        0
                    };
                    self.tx
                        .write(start.wrapping_add(used), XdpDesc { addr, len, options });
                    self.stats.tx_bytes += len as u64;
                    used += 1;
                    idx = next;
                }
                pkts += 1;
            }
            if let Some(m) = s.members.get_mut(self.slot as usize) {
                m.tx_out += used;
            }
            drop(s);
            // Hand back the reserved slots we did not fill (oversize packets dropped).
            self.tx.unreserve(got - used);
            self.tx.submit();
            queued += pkts as usize;
            self.stats.tx_packets += pkts as u64;
            if let Err(e) = self.kick_if_needed() {
                self.release_rest(drain);
                return Err(e);
            }
        }
        Ok(queued)
    }

    /// Returns the packets of a batch that will not be sent to the pool (a packet has
    /// no `Drop`: frames dropped on an error path would be lost to the UMEM for good).
    fn release_rest(&self, rest: impl Iterator<Item = Packet>) {
        let mut s = lock(&self.shared);
        for p in rest {
            s.pool.release(p);
        }
    }

    fn tx_out(&self) -> u32 {
        lock(&self.shared)
            .members
            .get(self.slot as usize)
            .map_or(0, |m| m.tx_out)
    }

    /// Kicks and reaps until nothing is outstanding (or, with `any`, until at least one
    /// frame completed). Sleeps in short steps once the kernel makes no progress.
    fn flush(&mut self, timeout: Duration, waker: &Waker, any: bool) -> Result<u32, Error> {
        let deadline = Instant::now() + timeout;
        let mut idle = 0u32;
        let mut total = 0u32;
        loop {
            let reaped = self.reap();
            total += reaped;
            let out = self.tx_out();
            if out == 0 || (any && total > 0) {
                return Ok(total);
            }
            let kicked = self.kick_if_needed()?;
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

    fn shutdown(self, queue: u32) {
        let Inner {
            partial,
            rx,
            tx,
            fill,
            comp,
            fd,
            shared,
            slot,
            prog,
            ..
        } = self;
        prog.remove(queue);
        drop((rx, tx, fill, comp));
        // A WaitHandle (a thread that this close just woke) may still hold the fd, and
        // with it the kernel socket and the frames on its fill and TX rings, which the
        // kernel (or a NIC in zero-copy mode) may still write or read. Wait briefly for
        // it to let go; if it does not, those frames stay where the accounting has them
        // (fill/tx) and are never reused.
        let closed = match sole_owner(fd, Duration::from_millis(500)) {
            Some(owned) => {
                drop(owned);
                true
            }
            None => false,
        };
        let mut s = lock(&shared);
        if let Some(p) = partial {
            s.pool.release(p);
        }
        if closed {
            // The socket is gone: every frame it lent the kernel comes back to the pool.
            let (ft, tt) = (tag_fill(slot), tag_tx(slot));
            let n = s.tags.len();
            for i in 0..n {
                let t = s.tags.get(i).copied().unwrap_or(TAG_POOL);
                if t == ft || t == tt {
                    if let Some(f) = s.take_back(i as u32, 0, 0) {
                        s.pool.free(f);
                    }
                }
            }
        }
        if let Some(m) = s.members.get_mut(slot as usize) {
            *m = Member::default();
        }
        drop(s);
        drop(prog);
    }
}

/// Copies a chained packet's bytes into its head frame (from the headroom) and
/// frees the rest of the chain. Returns false when it does not fit.
fn linearize(pool: &mut UmemPool, p: &mut Packet) -> bool {
    let total = p.len();
    let (off, len) = pool.window(p.head_frame());
    let fs = pool.frame_size();
    let start = if off as usize + total <= fs {
        off as usize
    } else {
        0
    };
    if start + total > fs {
        return false;
    }
    // Move the head bytes down first (start <= off), then append the others piece by piece.
    if start != off as usize {
        let buf = pool.frame_mut(p.head_frame());
        buf.copy_within(off as usize..(off + len) as usize, start);
    }
    let head_idx = p.head_frame().index();
    let mut at = start + len as usize;
    let mut idx = pool.next_of(head_idx);
    while idx != crate::pool::NIL {
        let next = pool.next_of(idx);
        let f = Frame::from_index(idx);
        let (o, l) = pool.window(&f);
        let (o, l) = (o as usize, l as usize);
        // Source and destination are different frames of the same memory: copy via the
        // UMEM frame slices one at a time through a small stack buffer.
        let mut tmp = [0u8; 256];
        let mut done = 0;
        while done < l {
            let k = (l - done).min(tmp.len());
            tmp[..k]
                .copy_from_slice(&pool.memory().frame(pool.backing(idx))[o + done..o + done + k]);
            pool.frame_mut(p.head_frame())[at..at + k].copy_from_slice(&tmp[..k]);
            at += k;
            done += k;
        }
        let _ = f.into_index();
        idx = next;
    }
    pool.trim(p, len);
    let _ = pool.set_window(p.head_frame(), start as u32, total as u32);
    p.len = total as u32;
    true
}

/// Waits up to `limit` for every other holder of `fd` to drop it, and returns the
/// now unshared fd; `None` (our reference dropped) if someone still holds it.
fn sole_owner(mut fd: Arc<OwnedFd>, limit: Duration) -> Option<OwnedFd> {
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
