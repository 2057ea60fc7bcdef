//! Raw syscalls for AF_XDP: sockets, socket options, mmap, poll, kicks, plus the
//! process-level calls the datapath needs (capabilities, RLIMIT_MEMLOCK, eventfd,
//! CPU affinity, network namespaces).
//!
//! One of the rooms where `unsafe` is allowed (with `ring`, and the crate's
//! `bpf` and `ethtool`, which hold the `bpf()` and ethtool syscalls). It owns
//! every file descriptor and mapping as an RAII value (`OwnedFd`, `Mmap`) so
//! nothing is closed twice and no fd number is touched after it was closed. It
//! knows nothing about frames, pools or packets, and everything in it is
//! `pub(crate)`: only `setns_net`, `if_nametoindex` and `XdpStatistics` are
//! public (each says why), none of which reaches a mapping.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, 6.17+): descriptors one copy-mode `sendto` may consume.
pub(crate) const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// `SO_PREFER_BUSY_POLL` / `SO_BUSY_POLL_BUDGET` (asm-generic/socket.h).
pub(crate) const SO_PREFER_BUSY_POLL: libc::c_int = 69;
pub(crate) const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Capability numbers (linux/capability.h).
pub(crate) const CAP_NET_ADMIN: u32 = 12;
pub(crate) const CAP_NET_RAW: u32 = 13;
pub(crate) const CAP_IPC_LOCK: u32 = 14;
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
pub(crate) const CAP_BPF: u32 = 39;

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn cvt(ret: libc::c_int) -> Result<libc::c_int, i32> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// Creates an `AF_XDP` socket (close-on-exec).
pub(crate) fn xsk_socket() -> Result<OwnedFd, i32> {
    // SAFETY: socket() takes no pointers; a non-negative return is a fresh fd we own.
    let fd = cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt` with a plain-old-data value.
pub(crate) fn setsockopt<T: Copy>(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: &T,
) -> Result<(), i32> {
    // SAFETY: `val` points to a live `T` of exactly `size_of::<T>()` bytes for the call's duration.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (val as *const T).cast(),
            core::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// `getsockopt` into a zeroed plain-old-data value; returns it and the length the kernel wrote.
fn getsockopt<T: Copy>(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
) -> Result<(T, usize), i32> {
    let mut val = core::mem::MaybeUninit::<T>::zeroed();
    let mut len = core::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `val`, which has room for them.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            val.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    // SAFETY: `val` was zero-initialised and every `T` used here is integer-only POD, valid for any bytes.
    Ok((unsafe { val.assume_init() }, len as usize))
}

/// Registers `len` bytes at `addr` as the socket's UMEM.
pub(crate) fn umem_reg(
    fd: &OwnedFd,
    addr: *mut u8,
    len: u64,
    chunk_size: u32,
    headroom: u32,
) -> Result<(), i32> {
    let reg = libc::xdp_umem_reg {
        addr: addr as u64,
        len,
        chunk_size,
        headroom,
        flags: 0,
        tx_metadata_len: 0,
    };
    setsockopt(fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg)
}

/// Ring offsets inside each ring mapping (`XDP_MMAP_OFFSETS`), flags word included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct MmapOffsets {
    pub rx: RingOffsets,
    pub tx: RingOffsets,
    pub fill: RingOffsets,
    pub completion: RingOffsets,
}

pub(crate) fn mmap_offsets(fd: &OwnedFd) -> Result<MmapOffsets, i32> {
    let (o, len) = getsockopt::<libc::xdp_mmap_offsets>(fd, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS)?;
    // Kernels before 5.4 return the v1 layout without the flags word: need_wakeup needs it.
    if len < core::mem::size_of::<libc::xdp_mmap_offsets>() {
        return Err(libc::EOPNOTSUPP);
    }
    let c = |r: libc::xdp_ring_offset| RingOffsets {
        producer: r.producer,
        consumer: r.consumer,
        desc: r.desc,
        flags: r.flags,
    };
    Ok(MmapOffsets {
        rx: c(o.rx),
        tx: c(o.tx),
        fill: c(o.fr),
        completion: c(o.cr),
    })
}

/// The kernel's per-socket drop counters (`XDP_STATISTICS`). Public: it is
/// `SocketStats::kernel`, which the bindings report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpStatistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

pub(crate) fn statistics(fd: &OwnedFd) -> Result<XdpStatistics, i32> {
    let (s, _) = getsockopt::<libc::xdp_statistics>(fd, libc::SOL_XDP, libc::XDP_STATISTICS)?;
    Ok(XdpStatistics {
        rx_dropped: s.rx_dropped,
        rx_invalid_descs: s.rx_invalid_descs,
        tx_invalid_descs: s.tx_invalid_descs,
        rx_ring_full: s.rx_ring_full,
        rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
        tx_ring_empty_descs: s.tx_ring_empty_descs,
    })
}

/// Pending socket error (`SO_ERROR`, cleared by reading): the kernel sets ENETDOWN
/// when the socket's interface is unregistered.
pub(crate) fn socket_error(fd: &OwnedFd) -> Result<i32, i32> {
    let (e, _) = getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok(e)
}

/// Binds an AF_XDP socket to (ifindex, queue); `shared_umem_fd` with `XDP_SHARED_UMEM`.
pub(crate) fn bind(
    fd: &OwnedFd,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared_umem_fd: Option<RawFd>,
) -> Result<(), i32> {
    let sa = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared_umem_fd.map(|f| f as u32).unwrap_or(0),
    };
    // SAFETY: `sa` is a valid sockaddr_xdp and the length passed is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_xdp).cast(),
            core::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// A memory mapping, unmapped on drop. Either anonymous (the UMEM) or a ring of a socket.
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
    huge: bool,
}

// SAFETY: the mapping is plain memory owned by this value; moving it to another
// thread moves the ownership (the kernel side does not care which thread maps it).
unsafe impl Send for Mmap {}
// SAFETY: shared access only hands out raw pointers or, through `slice`, reads that
// the owner (the UMEM pool) guarantees are not concurrently written by the kernel.
unsafe impl Sync for Mmap {}

const HUGE_PAGE: usize = 2 << 20;

impl Mmap {
    /// An anonymous, zeroed, populated region of `len` bytes: 2 MiB huge pages when the
    /// system has them reserved (`MAP_HUGETLB`), else normal pages (with a THP hint).
    pub(crate) fn anonymous(len: usize) -> Result<Mmap, i32> {
        if len == 0 {
            return Err(libc::EINVAL);
        }
        if len.is_multiple_of(HUGE_PAGE) {
            // SAFETY: anonymous mapping request, no address hint, no fd.
            let p = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE
                        | libc::MAP_ANONYMOUS
                        | libc::MAP_HUGETLB
                        | libc::MAP_POPULATE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                if let Some(ptr) = NonNull::new(p.cast()) {
                    return Ok(Mmap {
                        ptr,
                        len,
                        huge: true,
                    });
                }
            }
        }
        // SAFETY: as above, without MAP_HUGETLB.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        let ptr = NonNull::new(p.cast()).ok_or(libc::ENOMEM)?;
        // Transparent huge pages are a hint only: failure changes nothing but speed.
        // SAFETY: the range is exactly the mapping just created.
        let _ = unsafe { libc::madvise(p, len, libc::MADV_HUGEPAGE) };
        Ok(Mmap {
            ptr,
            len,
            huge: false,
        })
    }

    /// Maps one of a socket's rings (`pgoff` = `XDP_PGOFF_*`).
    pub(crate) fn ring(fd: &OwnedFd, len: usize, pgoff: u64) -> Result<Mmap, i32> {
        // SAFETY: shared mapping of the socket's ring at the kernel-defined offset.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        let ptr = NonNull::new(p.cast()).ok_or(libc::ENOMEM)?;
        Ok(Mmap {
            ptr,
            len,
            huge: false,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn is_huge(&self) -> bool {
        self.huge
    }

    /// `len` bytes at `off`, or `None` when out of the mapping.
    ///
    /// Used for UMEM frames that user space owns: the kernel writes a frame only
    /// while it sits on the fill ring (RX) and reads it only while on the TX ring,
    /// and a frame on a ring has no handle, so its bytes are never asked for here.
    pub(crate) fn slice(&self, off: usize, len: usize) -> Option<&[u8]> {
        if off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds (checked above), the mapping lives as long as `self`, and
        // the region is not written concurrently (see the contract in the doc comment).
        Some(unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) })
    }

    /// Writable `len` bytes at `off` (same contract as [`Mmap::slice`]).
    pub(crate) fn slice_mut(&mut self, off: usize, len: usize) -> Option<&mut [u8]> {
        if off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds, exclusive through `&mut self`, not accessed by the kernel (see `slice`).
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) })
    }

    /// A readable `len` bytes at `src` and a writable `len` bytes at `dst`, at
    /// once; `None` when the ranges overlap or either leaves the mapping. Same
    /// contract as [`Mmap::slice`]: both ranges are in frames user space owns.
    pub(crate) fn pair_mut(
        &mut self,
        src: usize,
        dst: usize,
        len: usize,
    ) -> Option<(&[u8], &mut [u8])> {
        let (s_end, d_end) = (src.checked_add(len)?, dst.checked_add(len)?);
        if s_end > self.len || d_end > self.len || (src < d_end && dst < s_end && len > 0) {
            return None;
        }
        let base = self.ptr.as_ptr();
        // SAFETY: both ranges lie inside the live mapping and do not overlap (checked
        // above), so the shared and the exclusive slice never alias; `&mut self` keeps
        // any other reference into the mapping from existing meanwhile, and the kernel
        // does not access frames user space owns (see `slice`).
        Some(unsafe {
            (
                core::slice::from_raw_parts(base.add(src), len),
                core::slice::from_raw_parts_mut(base.add(dst), len),
            )
        })
    }

    /// Copies `len` bytes from `src` to `dst` (offsets in the mapping; ranges may overlap).
    /// Returns false, copying nothing, when either range leaves the mapping. Same
    /// contract as [`Mmap::slice`]: both ranges are in frames user space owns.
    pub(crate) fn copy(&mut self, src: usize, dst: usize, len: usize) -> bool {
        let inside = |o: usize| o.checked_add(len).is_some_and(|e| e <= self.len);
        if !inside(src) || !inside(dst) {
            return false;
        }
        // SAFETY: both ranges lie inside the live mapping (checked above), exclusive access
        // through `&mut self`, `ptr::copy` allows overlap, and no Rust reference to either
        // range exists (nor does the kernel access them: see `slice`).
        unsafe { core::ptr::copy(self.ptr.as_ptr().add(src), self.ptr.as_ptr().add(dst), len) };
        true
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region this value mapped; nothing refers to it afterwards.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Kicks TX (copy mode: the kernel transmits from the TX ring inside this call).
pub(crate) fn kick_tx(fd: &OwnedFd) -> Result<(), i32> {
    // SAFETY: a zero-length send with no buffer and no address.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            core::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            core::ptr::null(),
            0,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `poll()` on up to two fds; returns each fd's `revents` (0 for a missing second fd).
pub(crate) fn poll2(
    a: RawFd,
    a_events: i16,
    b: Option<RawFd>,
    timeout_ms: i32,
) -> Result<(i16, i16), i32> {
    let mut fds = [
        libc::pollfd {
            fd: a,
            events: a_events,
            revents: 0,
        },
        libc::pollfd {
            fd: b.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let n = if b.is_some() { 2 } else { 1 };
    // SAFETY: `fds` holds `n` initialised pollfd entries.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), n, timeout_ms) };
    if r < 0 {
        let e = errno();
        if e == libc::EINTR {
            return Ok((0, 0));
        }
        return Err(e);
    }
    Ok((fds[0].revents, fds[1].revents))
}

/// `poll()` on a set of fds (a worker's sockets plus its stop eventfd). `EINTR`
/// counts as "nothing ready" (returns 0).
pub(crate) fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, i32> {
    // SAFETY: `fds` is a live, initialised slice of pollfd for the duration of the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = errno();
        return if e == libc::EINTR { Ok(0) } else { Err(e) };
    }
    Ok(r as usize)
}

/// Pins the calling thread to one CPU (`sched_setaffinity`).
pub(crate) fn pin_to_cpu(cpu: usize) -> Result<(), i32> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within it
    // for cpu < CPU_SETSIZE (checked).
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(libc::EINVAL);
        }
        libc::CPU_SET(cpu, &mut set);
        cvt(libc::sched_setaffinity(
            0,
            core::mem::size_of::<libc::cpu_set_t>(),
            &set,
        ))
        .map(|_| ())
    }
}

/// An eventfd used to wake a thread sleeping in `poll()` (close from another thread).
pub(crate) fn eventfd() -> Result<OwnedFd, i32> {
    // SAFETY: no pointers; a non-negative return is a fresh fd we own.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: fresh fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn eventfd_signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN) still leaves it readable.
    let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// The interface index of `name` in the calling thread's network namespace (0 = none).
/// Public: a caller attaching its own XDP program (`bpf::link_create_xdp`) needs it.
pub fn if_nametoindex(name: &str) -> u32 {
    let Ok(c) = CString::new(name) else { return 0 };
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// True when the calling thread has capability `cap` in its effective set.
pub(crate) fn has_capability(cap: u32) -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: V3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget with a v3 header and room for its two data structs.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr as *mut Header, data.as_mut_ptr()) };
    if r < 0 {
        return false;
    }
    let (word, bit) = ((cap / 32) as usize, cap % 32);
    data.get(word)
        .is_some_and(|d| d.effective & (1 << bit) != 0)
}

/// The system's page size (`sysconf(_SC_PAGESIZE)`; 4096 if it cannot tell).
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf reads a system constant; no pointers, no preconditions.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if r > 0 {
        r as u64
    } else {
        4096
    }
}

/// RLIMIT_MEMLOCK (soft, hard); `u64::MAX` means unlimited.
pub(crate) fn memlock_limit() -> Result<(u64, u64), i32> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) })?;
    Ok((r.rlim_cur, r.rlim_max))
}

pub(crate) fn set_memlock_limit(soft: u64, hard: u64) -> Result<(), i32> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `r` is a valid rlimit to read from.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) }).map(|_| ())
}

/// Moves the calling thread into the network namespace at `path` (`/var/run/netns/NAME`).
/// Public: the bindings and the test harness open sockets inside namespaces with it.
pub fn setns_net(path: &str) -> Result<(), i32> {
    let f = std::fs::File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
    // SAFETY: setns on an fd we hold open for the call; affects only this thread
    // (CLONE_NEWNET is per-thread for a multi-threaded process).
    cvt(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }).map(|_| ())
}

/// Duplicates an fd the caller lends us (close-on-exec), so we own our copy.
pub(crate) fn dup_fd(fd: RawFd) -> Result<OwnedFd, i32> {
    // SAFETY: fcntl F_DUPFD_CLOEXEC on a caller-provided number; failure is reported, success is a fresh fd.
    let n = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fresh fd from fcntl.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// The inode of the calling thread's network namespace (identifies it within the host).
pub(crate) fn netns_id() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// `strerror` text for an errno.
pub(crate) fn strerror(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_mapping_slices_are_bounded() {
        let mut m = Mmap::anonymous(8192).unwrap();
        assert!(m.slice(8000, 192).is_some());
        assert!(m.slice(8000, 193).is_none());
        assert!(m.slice(usize::MAX, 2).is_none());
        m.slice_mut(10, 2).unwrap().copy_from_slice(&[7, 8]);
        assert_eq!(m.slice(10, 2).unwrap(), &[7, 8]);
    }

    #[test]
    fn unknown_interface_has_no_index() {
        assert_eq!(if_nametoindex("xdpkt-nonexistent0"), 0);
        assert_eq!(if_nametoindex("bad\0name"), 0);
    }
}
