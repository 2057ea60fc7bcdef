//! AF_XDP datapath: UMEM, the four descriptor rings, the XDP redirect program and
//! [`XskSocket`].
//!
//! One module per job:
//! - `sys`: the AF_XDP syscalls (sockets, options, mmap, poll, kicks) and the
//!   process-level ones the datapath needs; `ring`: the shared-memory rings.
//!   With the crate's `bpf` and `ethtool` these are the only modules of the core
//!   crate allowed `unsafe`; everything else here is safe code on top of them.
//! - `umem`: the UMEM mapping behind the frame pool.
//! - `prog`: the XDP redirect program, its XSKMAP and BPF link.
//! - `setup`: configuration, the checks before the first syscall, bind with the
//!   mode fallback, socket options.
//! - `queue`: one queue's datapath (RX, fill, TX, completion; frame tags and the
//!   per-socket accounting of the shared UMEM).
//! - `wait`: sleeping and waking (`poll`, the TX completion wait, [`Waker`],
//!   [`WaitHandle`]).
//! - `socket`: [`XskSocket`], the public facade over the three above.
//! - `bench`: the Rust loops behind `xdpkt bench`.

pub mod bench;
pub mod prog;
mod queue;
pub mod ring;
mod setup;
pub mod socket;
pub mod sys;
pub mod umem;
mod wait;

pub use prog::{XdpProgram, XskMapSource};
pub use queue::{Places, SocketStats};
pub use setup::{Mode, ShareUmem, XskConfig};
pub use socket::XskSocket;
pub use umem::{Umem, UmemPool};
pub use wait::{WaitHandle, Waker};

use core::fmt;

/// An interface name stored inline (IFNAMSIZ = 16), so errors stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IfName {
    bytes: [u8; 16],
    len: u8,
}

impl IfName {
    pub fn new(name: &str) -> IfName {
        let mut bytes = [0u8; 16];
        // Keep whole UTF-8 characters only.
        let mut len = name.len().min(16);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        IfName {
            bytes,
            len: len as u8,
        }
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}
impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AF_XDP errors. `Copy`, no allocation: they are returned on the hot path too.
/// Every OS failure keeps its errno and names the operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A syscall failed.
    Os {
        op: &'static str,
        errno: i32,
    },
    /// The kernel refused for lack of a capability.
    Permission {
        cap: &'static str,
        op: &'static str,
        errno: i32,
    },
    /// RLIMIT_MEMLOCK too low for the UMEM and not raisable by us.
    Memlock {
        needed: u64,
        limit: u64,
    },
    NoSuchInterface {
        ifname: IfName,
    },
    NoSuchQueue {
        ifname: IfName,
        queue: u32,
        queues: u32,
    },
    /// Another AF_XDP socket (here or in another process) owns the queue.
    QueueBusy {
        ifname: IfName,
        queue: u32,
    },
    /// Another XDP program is attached to the interface (not through us).
    XdpBusy {
        ifname: IfName,
    },
    /// The requested mode is not available on the interface.
    ModeUnsupported {
        mode: Mode,
        ifname: IfName,
        errno: i32,
    },
    /// The interface disappeared; the socket has released everything.
    InterfaceGone {
        ifname: IfName,
    },
    /// The socket was closed (by `close()`, possibly from another thread).
    Closed,
    /// Invalid configuration (a static explanation).
    Config(&'static str),
    /// A packet does not fit one frame (multi-buffer is not implemented).
    TooLarge {
        len: usize,
        max: usize,
    },
    /// The UMEM has no free frame.
    Exhausted,
    /// `send` could not get every frame on the wire within its time bound.
    TxTimeout {
        pending: u32,
    },
    /// The XDP program was rejected by the verifier.
    Verifier {
        errno: i32,
    },
}

impl Error {
    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match *self {
            Error::Os { errno, .. }
            | Error::Permission { errno, .. }
            | Error::ModeUnsupported { errno, .. } => Some(errno),
            Error::Verifier { errno } => Some(errno),
            Error::Memlock { .. } => Some(libc::ENOBUFS),
            Error::NoSuchInterface { .. } => Some(libc::ENODEV),
            Error::NoSuchQueue { .. } => Some(libc::EINVAL),
            Error::QueueBusy { .. } | Error::XdpBusy { .. } => Some(libc::EBUSY),
            Error::InterfaceGone { .. } => Some(libc::ENXIO),
            Error::Closed => Some(libc::EBADF),
            Error::TxTimeout { .. } => Some(libc::ETIMEDOUT),
            Error::Config(_) | Error::TooLarge { .. } => Some(libc::EINVAL),
            Error::Exhausted => Some(libc::ENOBUFS),
        }
    }

    pub(crate) fn os(op: &'static str, errno: i32) -> Error {
        Error::Os { op, errno }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Os { op, errno } => write!(f, "{op}: {}", sys::strerror(errno)),
            Error::Permission { cap, op, errno } => write!(
                f,
                "{op}: {} (needs {cap}; run as root or grant it, e.g. `setcap cap_net_raw,cap_net_admin,cap_bpf+ep` on the interpreter)",
                sys::strerror(errno)
            ),
            Error::Memlock { needed, limit } => write!(
                f,
                "RLIMIT_MEMLOCK is {limit} bytes but the UMEM needs {needed} (on top of this user's other UMEMs); raise it (ulimit -l) or grant CAP_IPC_LOCK"
            ),
            Error::NoSuchInterface { ifname } => write!(f, "no interface named {ifname:?} in this network namespace"),
            Error::NoSuchQueue { ifname, queue, queues } => {
                write!(f, "queue {queue} does not exist on {ifname} (it has {queues} RX queues)")
            }
            Error::QueueBusy { ifname, queue } => write!(f, "queue {queue} of {ifname} already has an AF_XDP socket"),
            Error::XdpBusy { ifname } => write!(
                f,
                "{ifname} already has an XDP program not attached by xdpkt; detach it or pass its XSKMAP (xskmap=)"
            ),
            Error::ModeUnsupported { mode, ifname, errno } => {
                write!(f, "{mode} mode is not supported on {ifname}: {}", sys::strerror(errno))
            }
            Error::InterfaceGone { ifname } => write!(f, "interface {ifname} went away; the socket was released"),
            Error::Closed => f.write_str("socket is closed"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
            Error::TooLarge { len, max } => write!(f, "packet of {len} bytes does not fit a frame ({max} bytes max)"),
            Error::Exhausted => f.write_str(
                "UMEM has too few free frames (received batches still held own the rest)",
            ),
            Error::TxTimeout { pending } => write!(f, "{pending} frames did not leave the TX ring in time (they stay accounted)"),
            Error::Verifier { errno } => write!(f, "XDP program rejected by the kernel verifier: {}", sys::strerror(errno)),
        }
    }
}

impl std::error::Error for Error {}
