//! Opening a socket: the configuration ([`XskConfig`], [`Mode`]), the checks made
//! before the first syscall (capabilities, RLIMIT_MEMLOCK, interface and queue),
//! the XDP program or the user's XSKMAP, the bind with its mode fallback
//! (`auto`: zero-copy, then copy; generic XDP when only that attached) and the
//! socket options, up to the initial fill of the fill ring.
//!
//! It hands a bound `Queue` and its [`Waker`] to the `XskSocket` facade and keeps
//! nothing. It never moves a frame except through the queue's own `refill`, and
//! touches the shared UMEM only to read its geometry and register the socket.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ethtool;
use crate::pool::FramePool;

use super::prog::{AttachMode, XdpProgram, XskMapSource};
use super::queue::{lock, Binding, Queue, Rings, Shared, SharedUmem};
use super::ring::{ConsRing, ProdRing};
use super::sys;
use super::umem::Umem;
use super::wait::Waker;
use super::{Error, IfName};

/// Socket mode: what was asked for, and (from [`XskSocket::mode`](super::XskSocket::mode)) what was obtained.
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

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// Frames lent to the kernel on the fill ring, at open and after every receive
    /// (`None`: half the free frames at open, at most a ring).
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

/// A socket's UMEM and bind settings, to open another socket on it from any thread.
#[derive(Clone)]
pub struct ShareUmem {
    shared: SharedUmem,
    mode: Mode,
    need_wakeup: bool,
    multi_buffer: bool,
}

impl ShareUmem {
    /// What a socket joining `q`'s UMEM needs: the UMEM and `q`'s bind settings.
    pub(super) fn of(q: &Queue) -> ShareUmem {
        let b = q.binding();
        ShareUmem {
            shared: q.umem().clone(),
            mode: b.mode,
            need_wakeup: b.need_wakeup,
            multi_buffer: b.multi_buffer,
        }
    }
}

/// At most 2^20 frames (tags are one byte per frame, indices fit descriptors easily).
const MAX_FRAMES: usize = 1 << 20;

/// A bound socket, ready for the `XskSocket` facade.
pub(super) struct Opened {
    pub(super) queue: Queue,
    pub(super) waker: Waker,
    pub(super) ifname: IfName,
    /// Why `auto` fell back, and other non-fatal notes (for logging).
    pub(super) notes: Vec<String>,
}

/// The fd and rings of a socket that `bind` accepted.
struct Bound {
    fd: OwnedFd,
    rings: Rings,
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

/// Opens a socket with its own UMEM.
pub(super) fn open(ifname: &str, queue: u32, cfg: &XskConfig) -> Result<Opened, Error> {
    if !(2048..=4096).contains(&cfg.frame_size) || !cfg.frame_size.is_power_of_two() {
        return Err(Error::Config("frame_size must be 2048 or 4096"));
    }
    if cfg.frames == 0 || cfg.frames as usize > MAX_FRAMES {
        return Err(Error::Config("frames must be between 1 and 1048576"));
    }
    let umem = Umem::new(cfg.frames, cfg.frame_size)?;
    let shared = Arc::new(Mutex::new(Shared::new(FramePool::new(umem, 0, true))));
    open_with(ifname, queue, cfg, shared, true)
}

/// Opens a socket on `with`'s UMEM. If every socket of that UMEM closed meanwhile
/// the bind fails (there is nothing to share with).
pub(super) fn open_sharing(
    ifname: &str,
    queue: u32,
    cfg: &XskConfig,
    with: &ShareUmem,
) -> Result<Opened, Error> {
    // A shared socket cannot choose its bind flags: it inherits the UMEM owner's mode.
    let cfg = XskConfig {
        mode: with.mode,
        need_wakeup: with.need_wakeup,
        multi_buffer: with.multi_buffer,
        ..cfg.clone()
    };
    open_with(ifname, queue, &cfg, with.shared.clone(), false)
}

fn open_with(
    ifname: &str,
    queue: u32,
    cfg: &XskConfig,
    shared: SharedUmem,
    owner: bool,
) -> Result<Opened, Error> {
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
    let queues = ethtool::rx_queue_count(ifname);
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
        let pool = s.pool_ref();
        (pool.memory().len() as u64, pool.frame_size() as u32)
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
        result = bind_once(name, ifindex, queue, cfg, &shared, owner, m).map(|o| (o, m));
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
    let joined = lock(&shared).join(&fd);
    let Some(slot) = joined else {
        prog.remove(queue);
        return Err(Error::Config("too many sockets share this UMEM"));
    };
    let bind = Binding {
        mode,
        need_wakeup: cfg.need_wakeup,
        multi_buffer: cfg.multi_buffer,
    };
    let mut inner = Queue::new(o.rings, fd, shared, slot, prog, bind, frame_size);
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
    let half = (lock(inner.umem()).pool_ref().free_count() as u32).div_ceil(2);
    let target = cfg.fill_frames.unwrap_or(half).min(cfg.ring_size);
    inner.set_fill_target(target);
    inner.refill(target);
    Ok(Opened {
        queue: inner,
        waker,
        ifname: name,
        notes,
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
) -> Result<Bound, Error> {
    let fd = sys::xsk_socket().map_err(|e| perm_or_os("socket(AF_XDP)", "CAP_NET_RAW", e))?;
    let anchor: Option<Arc<OwnedFd>> = if owner {
        let s = lock(shared);
        let pool = s.pool_ref();
        let base = pool.memory().base();
        let len = pool.memory().len() as u64;
        let fs = pool.frame_size() as u32;
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
        let a = s.anchor();
        Some(a.ok_or(Error::Config("the UMEM's sockets are all closed"))?)
    };
    let rs = cfg.ring_size;
    let so =
        |opt, what| sys::setsockopt(&fd, libc::SOL_XDP, opt, &rs).map_err(|e| Error::os(what, e));
    so(libc::XDP_UMEM_FILL_RING, "setsockopt(XDP_UMEM_FILL_RING)")?;
    so(
        libc::XDP_UMEM_COMPLETION_RING,
        "setsockopt(XDP_UMEM_COMPLETION_RING)",
    )?;
    so(libc::XDP_RX_RING, "setsockopt(XDP_RX_RING)")?;
    so(libc::XDP_TX_RING, "setsockopt(XDP_TX_RING)")?;
    let off = sys::mmap_offsets(&fd).map_err(|e| Error::os("getsockopt(XDP_MMAP_OFFSETS)", e))?;
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
                if ethtool::rx_queue_count(name.as_str()).is_none_or(|n| queue >= n) =>
            {
                return Err(Error::NoSuchQueue {
                    ifname: name,
                    queue,
                    queues: ethtool::rx_queue_count(name.as_str()).unwrap_or(0),
                })
            }
            Err(libc::ENODEV) => return Err(Error::NoSuchInterface { ifname: name }),
            Err(e) => return Err(perm_or_os("bind(AF_XDP)", "CAP_NET_RAW", e)),
        }
    }
    Ok(Bound {
        fd,
        rings: Rings { rx, tx, fill, comp },
    })
}
