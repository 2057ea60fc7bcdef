//! The `bpf()` syscall: XSKMAP create/update/delete, object pin/get, XDP program
//! load and BPF link create.
//!
//! One of the rooms where `unsafe` is allowed (with `xsk::sys`, `xsk::ring` and
//! `ethtool`): every call passes a `repr(C)` prefix of `union bpf_attr` and every
//! fd the kernel returns becomes an `OwnedFd` at once. It knows nothing about
//! sockets, frames or rings; `xsk::prog` builds the redirect program on top of it.
//!
//! Public for a caller that brings its own XDP program and XSKMAP
//! (`XskMapSource`; `tests/xsk_veth.rs` does that): `xskmap_create`, `obj_pin`,
//! `prog_load_xdp`, `link_create_xdp`. They make kernel objects only and can
//! reach no frame of a UMEM; the rest is `pub(crate)`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_MAP_DELETE_ELEM: libc::c_int = 3;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_OBJ_PIN: libc::c_int = 6;
const BPF_OBJ_GET: libc::c_int = 7;
const BPF_LINK_CREATE: libc::c_int = 28;

pub(crate) const BPF_MAP_TYPE_XSKMAP: u32 = 17;
pub(crate) const BPF_PROG_TYPE_XDP: u32 = 6;
pub(crate) const BPF_XDP: u32 = 37;
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

pub(crate) fn map_update_u32(map: &OwnedFd, key: u32, value: u32) -> Result<(), i32> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: 0,
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

pub(crate) fn map_delete_u32(map: &OwnedFd, key: u32) -> Result<(), i32> {
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
pub(crate) fn obj_get(path: &str) -> Result<OwnedFd, i32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insn_layout_matches_kernel() {
        assert_eq!(core::mem::size_of::<BpfInsn>(), 8);
    }
}
