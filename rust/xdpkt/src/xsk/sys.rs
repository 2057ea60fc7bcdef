//! Raw syscalls for AF_XDP: sockets, socket options, mmap, `bpf()`, poll, kicks.
//!
//! This module (with `ring`) is one of the two rooms where `unsafe` is allowed.
//! It owns every file descriptor and mapping as an RAII value (`OwnedFd`,
//! [`Mmap`]) so nothing is closed twice and no fd number is touched after it
//! was closed. It knows nothing about frames, pools or packets.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, 6.17+): descriptors one copy-mode `sendto` may consume.
pub const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// `SO_PREFER_BUSY_POLL` / `SO_BUSY_POLL_BUDGET` (asm-generic/socket.h).
pub const SO_PREFER_BUSY_POLL: libc::c_int = 69;
pub const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Capability numbers (linux/capability.h).
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_BPF: u32 = 39;

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
pub fn xsk_socket() -> Result<OwnedFd, i32> {
    // SAFETY: socket() takes no pointers; a non-negative return is a fresh fd we own.
    let fd = cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt` with a plain-old-data value.
pub fn setsockopt<T: Copy>(
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
pub fn umem_reg(
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
pub struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct MmapOffsets {
    pub rx: RingOffsets,
    pub tx: RingOffsets,
    pub fill: RingOffsets,
    pub completion: RingOffsets,
}

pub fn mmap_offsets(fd: &OwnedFd) -> Result<MmapOffsets, i32> {
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

/// The kernel's per-socket drop counters (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpStatistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

pub fn statistics(fd: &OwnedFd) -> Result<XdpStatistics, i32> {
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
pub fn socket_error(fd: &OwnedFd) -> Result<i32, i32> {
    let (e, _) = getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok(e)
}

/// `XDP_OPTIONS`: true when the socket runs in zero-copy mode.
pub fn is_zerocopy(fd: &OwnedFd) -> Result<bool, i32> {
    let (o, _) = getsockopt::<libc::xdp_options>(fd, libc::SOL_XDP, libc::XDP_OPTIONS)?;
    Ok(o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
}

/// Binds an AF_XDP socket to (ifindex, queue); `shared_umem_fd` with `XDP_SHARED_UMEM`.
pub fn bind(
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
pub struct Mmap {
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
    pub fn anonymous(len: usize) -> Result<Mmap, i32> {
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
    pub fn ring(fd: &OwnedFd, len: usize, pgoff: u64) -> Result<Mmap, i32> {
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

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn is_huge(&self) -> bool {
        self.huge
    }

    /// `len` bytes at `off`, or `None` when out of the mapping.
    ///
    /// Used for UMEM frames that user space owns: the kernel writes a frame only
    /// while it sits on the fill ring (RX) and reads it only while on the TX ring,
    /// and a frame on a ring has no handle, so its bytes are never asked for here.
    pub fn slice(&self, off: usize, len: usize) -> Option<&[u8]> {
        if off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds (checked above), the mapping lives as long as `self`, and
        // the region is not written concurrently (see the contract in the doc comment).
        Some(unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) })
    }

    /// Writable `len` bytes at `off` (same contract as [`Mmap::slice`]).
    pub fn slice_mut(&mut self, off: usize, len: usize) -> Option<&mut [u8]> {
        if off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds, exclusive through `&mut self`, not accessed by the kernel (see `slice`).
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) })
    }

    /// A readable `len` bytes at `src` and a writable `len` bytes at `dst`, at
    /// once; `None` when the ranges overlap or either leaves the mapping. Same
    /// contract as [`Mmap::slice`]: both ranges are in frames user space owns.
    pub fn pair_mut(&mut self, src: usize, dst: usize, len: usize) -> Option<(&[u8], &mut [u8])> {
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
    pub fn copy(&mut self, src: usize, dst: usize, len: usize) -> bool {
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
pub fn kick_tx(fd: &OwnedFd) -> Result<(), i32> {
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

/// Wakes the kernel's RX processing when the fill ring asked for it (need_wakeup).
pub fn kick_rx(fd: &OwnedFd) -> Result<(), i32> {
    // SAFETY: a zero-length receive with no buffer and no address.
    let r = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            core::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `poll()` on up to two fds; returns each fd's `revents` (0 for a missing second fd).
pub fn poll2(
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
pub fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, i32> {
    // SAFETY: `fds` is a live, initialised slice of pollfd for the duration of the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = errno();
        return if e == libc::EINTR { Ok(0) } else { Err(e) };
    }
    Ok(r as usize)
}

/// The MTU of `ifname` in the calling thread's network namespace (`SIOCGIFMTU`).
pub fn if_mtu(ifname: &str) -> Option<u32> {
    if ifname.is_empty() || ifname.len() >= 16 {
        return None;
    }
    #[repr(C)]
    struct IfReqMtu {
        name: [u8; 16],
        mtu: libc::c_int,
        _pad: [u8; 20],
    }
    // SAFETY: no pointers; the fd is owned right away.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return None;
    }
    // SAFETY: fresh fd, owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    let mut ifr = IfReqMtu {
        name: [0; 16],
        mtu: 0,
        _pad: [0; 20],
    };
    ifr.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: `ifr` is a valid 40-byte ifreq (name + int union member), live for the call.
    let r = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFMTU,
            &mut ifr as *mut IfReqMtu,
        )
    };
    (r == 0 && ifr.mtu > 0).then_some(ifr.mtu as u32)
}

/// Pins the calling thread to one CPU (`sched_setaffinity`).
pub fn pin_to_cpu(cpu: usize) -> Result<(), i32> {
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

/// Reads and clears an eventfd (non-blocking); true when it had been signalled.
pub fn eventfd_drain(fd: &OwnedFd) -> bool {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64.
    let r = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    r == 8
}

/// An eventfd used to wake a thread sleeping in `poll()` (close from another thread).
pub fn eventfd() -> Result<OwnedFd, i32> {
    // SAFETY: no pointers; a non-negative return is a fresh fd we own.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: fresh fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn eventfd_signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN) still leaves it readable.
    let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// The interface index of `name` in the calling thread's network namespace (0 = none).
pub fn if_nametoindex(name: &str) -> u32 {
    let Ok(c) = CString::new(name) else { return 0 };
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// RX queues of an interface (`ETHTOOL_GCHANNELS`: rx + combined), `None` when the driver does not say.
pub fn rx_queue_count(ifname: &str) -> Option<u32> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    if ifname.len() >= 16 {
        return None;
    }
    // SAFETY: no pointers; the fd is owned right away.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return None;
    }
    // SAFETY: fresh fd.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        max_rx: 0,
        max_tx: 0,
        max_other: 0,
        max_combined: 0,
        rx_count: 0,
        tx_count: 0,
        other_count: 0,
        combined_count: 0,
    };
    let mut ifr = IfReq {
        name: [0; 16],
        data: (&mut ch as *mut EthtoolChannels).cast(),
        _pad: [0; 16],
    };
    ifr.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: `ifr` is a valid ifreq whose data pointer refers to `ch`, live for the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut ifr as *mut IfReq) };
    if r < 0 {
        return None;
    }
    let n = ch.rx_count + ch.combined_count;
    (n > 0).then_some(n)
}

/// True when the calling thread has capability `cap` in its effective set.
pub fn has_capability(cap: u32) -> bool {
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
pub fn page_size() -> u64 {
    // SAFETY: sysconf reads a system constant; no pointers, no preconditions.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if r > 0 {
        r as u64
    } else {
        4096
    }
}

/// RLIMIT_MEMLOCK (soft, hard); `u64::MAX` means unlimited.
pub fn memlock_limit() -> Result<(u64, u64), i32> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) })?;
    Ok((r.rlim_cur, r.rlim_max))
}

pub fn set_memlock_limit(soft: u64, hard: u64) -> Result<(), i32> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `r` is a valid rlimit to read from.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) }).map(|_| ())
}

/// Moves the calling thread into the network namespace at `path` (`/var/run/netns/NAME`).
pub fn setns_net(path: &str) -> Result<(), i32> {
    let f = std::fs::File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
    // SAFETY: setns on an fd we hold open for the call; affects only this thread
    // (CLONE_NEWNET is per-thread for a multi-threaded process).
    cvt(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }).map(|_| ())
}

/// Duplicates an fd the caller lends us (close-on-exec), so we own our copy.
pub fn dup_fd(fd: RawFd) -> Result<OwnedFd, i32> {
    // SAFETY: fcntl F_DUPFD_CLOEXEC on a caller-provided number; failure is reported, success is a fresh fd.
    let n = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fresh fd from fcntl.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

// ---- bpf() ----------------------------------------------------------------

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_MAP_DELETE_ELEM: libc::c_int = 3;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_OBJ_PIN: libc::c_int = 6;
const BPF_OBJ_GET: libc::c_int = 7;
const BPF_LINK_CREATE: libc::c_int = 28;

pub const BPF_MAP_TYPE_XSKMAP: u32 = 17;
pub const BPF_PROG_TYPE_XDP: u32 = 6;
pub const BPF_XDP: u32 = 37;
/// `BPF_F_XDP_HAS_FRAGS`: the program handles multi-buffer packets.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    /// dst register in the low nibble, src register in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> Result<libc::c_long, i32> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `cmd`, live for the call;
    // the kernel reads (and for some commands writes) at most `size_of::<T>()` bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            core::mem::size_of::<T>() as u32,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn bpf_fd<T>(cmd: libc::c_int, attr: &mut T) -> Result<OwnedFd, i32> {
    let fd = bpf(cmd, attr)? as RawFd;
    // SAFETY: these commands return a fresh fd owned by the caller.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    let b = name.as_bytes();
    let l = b.len().min(15);
    n[..l].copy_from_slice(&b[..l]);
    n
}

/// Creates an XSKMAP with `entries` slots (key = queue index, value = socket fd).
pub fn xskmap_create(entries: u32, name: &str) -> Result<OwnedFd, i32> {
    #[repr(C)]
    struct Attr {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        inner_map_fd: u32,
        numa_node: u32,
        map_name: [u8; 16],
    }
    let mut a = Attr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        map_flags: 0,
        inner_map_fd: 0,
        numa_node: 0,
        map_name: name16(name),
    };
    bpf_fd(BPF_MAP_CREATE, &mut a)
}

#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

pub fn map_update_u32(map: &OwnedFd, key: u32, value: u32) -> Result<(), i32> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: 0,
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

pub fn map_delete_u32(map: &OwnedFd, key: u32) -> Result<(), i32> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: &key as *const u32 as u64,
        value: 0,
        flags: 0,
    };
    bpf(BPF_MAP_DELETE_ELEM, &mut a).map(|_| ())
}

/// `union bpf_attr` for BPF_OBJ_PIN / BPF_OBJ_GET.
#[repr(C)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// Pins a BPF object (map or program) at `path` on a bpffs mount.
pub fn obj_pin(fd: &OwnedFd, path: &str) -> Result<(), i32> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    let mut a = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        file_flags: 0,
    };
    bpf(BPF_OBJ_PIN, &mut a).map(|_| ())
}

/// Opens a pinned BPF object (`/sys/fs/bpf/...`).
pub fn obj_get(path: &str) -> Result<OwnedFd, i32> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    let mut a = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 0,
    };
    bpf_fd(BPF_OBJ_GET, &mut a)
}

/// Loads an XDP program. On failure, the verifier log (if any) is written into `log`.
pub fn prog_load_xdp(
    insns: &[BpfInsn],
    license: &str,
    name: &str,
    prog_flags: u32,
    log: &mut [u8],
) -> Result<OwnedFd, i32> {
    #[repr(C)]
    struct Attr {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    let lic = CString::new(license).map_err(|_| libc::EINVAL)?;
    let mut a = Attr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: lic.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags,
        prog_name: name16(name),
        prog_ifindex: 0,
        expected_attach_type: BPF_XDP,
    };
    match bpf_fd(BPF_PROG_LOAD, &mut a) {
        Ok(fd) => Ok(fd),
        Err(e) if e == libc::EACCES || e == libc::EINVAL => {
            // Reload with the verifier log so the caller can say why.
            if log.len() > 1 {
                a.log_level = 1;
                a.log_size = log.len() as u32;
                a.log_buf = log.as_mut_ptr() as u64;
                let _ = bpf_fd(BPF_PROG_LOAD, &mut a);
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Attaches an XDP program to an interface as a BPF link (`BPF_LINK_CREATE`, attach type
/// `BPF_XDP`); the program stays attached exactly as long as the returned fd is open.
pub fn link_create_xdp(prog: &OwnedFd, ifindex: u32, xdp_flags: u32) -> Result<OwnedFd, i32> {
    #[repr(C)]
    struct Attr {
        prog_fd: u32,
        target_ifindex: u32,
        attach_type: u32,
        flags: u32,
    }
    let mut a = Attr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: xdp_flags,
    };
    bpf_fd(BPF_LINK_CREATE, &mut a)
}

/// The inode of the calling thread's network namespace (identifies it within the host).
pub fn netns_id() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// `strerror` text for an errno.
pub fn strerror(errno: i32) -> String {
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
    fn insn_layout_matches_kernel() {
        assert_eq!(core::mem::size_of::<BpfInsn>(), 8);
    }

    #[test]
    fn unknown_interface_has_no_index() {
        assert_eq!(if_nametoindex("xdpkt-nonexistent0"), 0);
        assert_eq!(if_nametoindex("bad\0name"), 0);
    }
}
