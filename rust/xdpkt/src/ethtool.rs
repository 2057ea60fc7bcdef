//! ethtool and interface ioctls on a plain `AF_INET` socket: the RX queue count
//! (`ETHTOOL_GCHANNELS`) and the MTU (`SIOCGIFMTU`) of an interface, in the
//! calling thread's network namespace.
//!
//! One of the rooms where `unsafe` is allowed (with `xsk::sys`, `xsk::ring` and
//! `bpf`): each call fills a `repr(C)` `struct ifreq` that lives for the ioctl,
//! and the socket is an `OwnedFd` from the moment it exists. Read-only queries:
//! it changes no setting and knows nothing about AF_XDP sockets or frames.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The MTU of `ifname` in the calling thread's network namespace (`SIOCGIFMTU`).
pub(crate) fn if_mtu(ifname: &str) -> Option<u32> {
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
pub(crate) fn rx_queue_count(ifname: &str) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_have_no_mtu_and_no_queues() {
        assert_eq!(if_mtu(""), None);
        assert_eq!(if_mtu("a-name-longer-than-15"), None);
        assert_eq!(if_mtu("xdpkt-nonexist0"), None);
        assert_eq!(rx_queue_count("a-name-longer-than-15"), None);
        assert_eq!(rx_queue_count("xdpkt-nonexist0"), None);
    }
}
