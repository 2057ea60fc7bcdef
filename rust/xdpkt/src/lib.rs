//! xdpkt core: a user-space NIC datapath with Linux kernel offload semantics.
//!
//! No Python here. Pure packet logic (`wire`, `gro`, `gso`, `rss`, batch
//! policy) never touches a syscall; everything that talks to the kernel lives
//! in `xsk`, the only place (with `xsk::sys` and `xsk::ring`) allowed `unsafe`.
#![deny(unsafe_code)]

pub mod batch;
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
