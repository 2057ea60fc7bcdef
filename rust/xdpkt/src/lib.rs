//! xdpkt core: a user-space NIC datapath with Linux kernel offload semantics.
//!
//! No Python here. Pure packet logic (`wire`, `gro`, `gso`, `rss`, batch
//! policy) never touches a syscall; everything that talks to the kernel lives
//! in `xsk` (AF_XDP) and, apart from it, in `bpf` (the `bpf()` syscall) and
//! `ethtool` (interface ioctls). Four modules are allowed `unsafe`: `xsk::sys`,
//! `xsk::ring`, `bpf` and `ethtool`; every block there carries a `// SAFETY:`.
#![deny(unsafe_code)]

pub mod batch;
pub mod bpf;
mod ethtool;
pub mod gro;
pub mod gso;
pub mod napi;
pub mod offline;
pub mod packet;
pub mod pcap;
pub mod pool;
pub mod port;
pub mod rss;
pub mod wire;
pub mod xsk;

pub use batch::Batch;
pub use packet::{CsumState, GsoType, Packet};
pub use pool::{Frame, FrameMemory, FramePool, HeapMemory, PoolError};
pub use wire::ParseError;
