//! The XDP program that steers a queue's packets into its AF_XDP socket, the
//! XSKMAP it reads, and the BPF link that keeps it attached.
//!
//! The program is five instructions assembled here (no clang, no object file):
//! `return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);` — queues
//! without a socket in the map fall through to the stack (`XDP_PASS` as the
//! helper's default action). It is attached with `BPF_LINK_CREATE`, so the kernel
//! detaches it when the last link fd closes: on `close()`, on drop, and when the
//! process dies (even by SIGKILL), nothing stays behind on the interface.
//!
//! One program per interface (per network namespace) is shared by every socket
//! of this process on that interface; it goes away with the last of them.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, Weak};

use crate::bpf::{self, BpfInsn};

use super::sys;
use super::{Error, IfName};

/// `XDP_FLAGS_*` for the attach mode (linux/if_link.h).
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

const XDP_PASS: i32 = 2;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `offsetof(struct xdp_md, rx_queue_index)`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

/// Where the XSKMAP comes from when the user brings their own XDP program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XskMapSource {
    /// A pinned map on bpffs (`/sys/fs/bpf/...`).
    Pinned(String),
    /// An open map fd (duplicated; the caller keeps theirs).
    Fd(RawFd),
}

/// How to attach our program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Driver (native) XDP.
    Native,
    /// Generic XDP (`XDP_FLAGS_SKB_MODE`), works on every device.
    Generic,
}

/// The redirect program, as raw BPF instructions referring to `map_fd`.
pub fn redirect_program(map_fd: RawFd) -> [BpfInsn; 6] {
    let regs = |dst: u8, src: u8| dst | (src << 4);
    [
        // r2 = *(u32 *)(r1 + offsetof(xdp_md, rx_queue_index))
        BpfInsn {
            code: 0x61,
            regs: regs(2, 1),
            off: XDP_MD_RX_QUEUE_INDEX,
            imm: 0,
        },
        // r1 = map (ld_imm64, src = BPF_PSEUDO_MAP_FD: the verifier swaps the fd for the map)
        BpfInsn {
            code: 0x18,
            regs: regs(1, BPF_PSEUDO_MAP_FD),
            off: 0,
            imm: map_fd,
        },
        BpfInsn {
            code: 0,
            regs: 0,
            off: 0,
            imm: 0,
        },
        // r3 = XDP_PASS (action when the queue has no socket)
        BpfInsn {
            code: 0xb7,
            regs: regs(3, 0),
            off: 0,
            imm: XDP_PASS,
        },
        // r0 = bpf_redirect_map(r1, r2, r3)
        BpfInsn {
            code: 0x85,
            regs: 0,
            off: 0,
            imm: BPF_FUNC_REDIRECT_MAP,
        },
        // return r0
        BpfInsn {
            code: 0x95,
            regs: 0,
            off: 0,
            imm: 0,
        },
    ]
}

/// An XSKMAP plus (when we loaded it) the program and its link.
pub struct XdpProgram {
    map: OwnedFd,
    /// Keeps the link (and so the attachment) alive; `None` for a user-provided map.
    link: Option<(OwnedFd, OwnedFd)>,
    mode: Option<AttachMode>,
    /// Loaded with `BPF_F_XDP_HAS_FRAGS` (multi-buffer packets reach the sockets).
    frags: bool,
    key: (u64, u32),
}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("mode", &self.mode)
            .field("ifindex", &self.key.1)
            .finish()
    }
}

/// (netns inode, ifindex) -> the program this process attached there.
type Registry = Vec<((u64, u32), Weak<XdpProgram>)>;
static ATTACHED: Mutex<Registry> = Mutex::new(Vec::new());

fn map_perm(op: &'static str, e: i32) -> Error {
    if e == libc::EPERM {
        Error::Permission {
            cap: "CAP_BPF",
            op,
            errno: e,
        }
    } else {
        Error::os(op, e)
    }
}

impl XdpProgram {
    /// The program attached by this process to `ifindex` (in the calling thread's
    /// namespace), attaching one when there is none. `mode`: `None` = native first,
    /// generic as fallback.
    pub fn shared(
        ifindex: u32,
        ifname: IfName,
        entries: u32,
        mode: Option<AttachMode>,
        frags: bool,
    ) -> Result<(Arc<XdpProgram>, Vec<String>), Error> {
        let key = (sys::netns_id(), ifindex);
        let mut reg = ATTACHED.lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|(_, w)| w.strong_count() > 0);
        if let Some(p) = reg
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
        {
            if frags && !p.frags {
                return Err(Error::Config("another socket of this process attached the interface's XDP program without multi-buffer support"));
            }
            if mode.is_none() || p.mode == mode {
                return Ok((p, Vec::new()));
            }
            return Err(Error::Config("another socket of this process attached the interface's XDP program in a different mode"));
        }
        let (p, notes) = Self::attach(ifindex, ifname, entries, mode, frags, key)?;
        let p = Arc::new(p);
        reg.push((key, Arc::downgrade(&p)));
        Ok((p, notes))
    }

    fn attach(
        ifindex: u32,
        ifname: IfName,
        entries: u32,
        mode: Option<AttachMode>,
        frags: bool,
        key: (u64, u32),
    ) -> Result<(XdpProgram, Vec<String>), Error> {
        let map = bpf::xskmap_create(entries, "xdpkt_xsks")
            .map_err(|e| map_perm("bpf(BPF_MAP_CREATE XSKMAP)", e))?;
        let insns = redirect_program(map.as_raw_fd());
        let mut log = [0u8; 4096];
        let prog = bpf::prog_load_xdp(
            &insns,
            "Dual MIT/GPL",
            "xdpkt_redirect",
            if frags { bpf::BPF_F_XDP_HAS_FRAGS } else { 0 },
            &mut log,
        )
        .map_err(|e| match e {
            libc::EPERM => Error::Permission {
                cap: "CAP_BPF",
                op: "bpf(BPF_PROG_LOAD)",
                errno: e,
            },
            libc::EACCES | libc::EINVAL => Error::Verifier { errno: e },
            _ => Error::os("bpf(BPF_PROG_LOAD)", e),
        })?;
        let mut notes = Vec::new();
        let tries: &[AttachMode] = match mode {
            Some(AttachMode::Native) => &[AttachMode::Native],
            Some(AttachMode::Generic) => &[AttachMode::Generic],
            None => &[AttachMode::Native, AttachMode::Generic],
        };
        let mut last = 0;
        for &m in tries {
            let flags = match m {
                AttachMode::Native => XDP_FLAGS_DRV_MODE,
                AttachMode::Generic => XDP_FLAGS_SKB_MODE,
            };
            // EBUSY can be transient: a program whose last link fd is closing (a child
            // forked by another thread holds copies of our fds until it execs). Retry briefly.
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
            let created = loop {
                match bpf::link_create_xdp(&prog, ifindex, flags) {
                    Err(e)
                        if (e == libc::EBUSY || e == libc::EEXIST)
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    r => break r,
                }
            };
            match created {
                Ok(link) => {
                    return Ok((
                        XdpProgram {
                            map,
                            link: Some((prog, link)),
                            mode: Some(m),
                            frags,
                            key,
                        },
                        notes,
                    ));
                }
                Err(e) if e == libc::EPERM => {
                    return Err(Error::Permission {
                        cap: "CAP_NET_ADMIN",
                        op: "bpf(BPF_LINK_CREATE XDP)",
                        errno: e,
                    });
                }
                Err(e) if e == libc::EBUSY || e == libc::EEXIST => {
                    return Err(Error::XdpBusy { ifname })
                }
                Err(e) if e == libc::ENODEV => return Err(Error::NoSuchInterface { ifname }),
                Err(e) => {
                    notes.push(format!(
                        "{ifname}: {m:?} XDP attach refused ({}), trying the next mode",
                        sys::strerror(e)
                    ));
                    last = e;
                }
            }
        }
        Err(Error::os("bpf(BPF_LINK_CREATE XDP)", last))
    }

    /// Uses an XSKMAP provided by the user's own XDP program (nothing is attached by us).
    pub fn from_map(src: &XskMapSource) -> Result<XdpProgram, Error> {
        let map = match src {
            XskMapSource::Pinned(path) => {
                bpf::obj_get(path).map_err(|e| map_perm("bpf(BPF_OBJ_GET XSKMAP)", e))?
            }
            XskMapSource::Fd(fd) => sys::dup_fd(*fd).map_err(|e| Error::os("dup XSKMAP fd", e))?,
        };
        Ok(XdpProgram {
            map,
            link: None,
            mode: None,
            frags: true,
            key: (0, 0),
        })
    }

    /// Attach mode of the program we loaded (`None` for a user-provided map).
    pub fn mode(&self) -> Option<AttachMode> {
        self.mode
    }

    /// True when this value holds the BPF link (the program is ours).
    pub fn owns_link(&self) -> bool {
        self.link.is_some()
    }

    /// Points `queue` at the socket `fd`.
    pub fn insert(&self, queue: u32, fd: RawFd) -> Result<(), Error> {
        bpf::map_update_u32(&self.map, queue, fd as u32).map_err(|e| match e {
            libc::E2BIG => Error::Config("queue index beyond the XSKMAP size"),
            _ => map_perm("bpf(BPF_MAP_UPDATE_ELEM XSKMAP)", e),
        })
    }

    /// Removes `queue` from the map (the socket stops receiving; the stack gets the traffic).
    pub fn remove(&self, queue: u32) {
        let _ = bpf::map_delete_u32(&self.map, queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_shape() {
        let p = redirect_program(7);
        assert_eq!(p.len(), 6);
        // ld_imm64 carries the map fd with the pseudo-map-fd source register.
        assert_eq!(p[1].code, 0x18);
        assert_eq!(p[1].regs >> 4, BPF_PSEUDO_MAP_FD);
        assert_eq!(p[1].imm, 7);
        assert_eq!(p[4].imm, BPF_FUNC_REDIRECT_MAP);
        assert_eq!(p[5].code, 0x95);
    }
}
