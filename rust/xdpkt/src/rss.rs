//! Software RSS (receive-side scaling): the Toeplitz hash of Microsoft's RSS
//! specification and a 128-entry indirection table, for devices without
//! hardware RSS (veth) whose traffic must still be spread over several queues.
//!
//! This module owns the hash key, the flow-field selection (which L4 ports
//! take part, like `ethtool -N DEV rx-flow-hash udp4 sd|sdfn`), and the
//! indirection table (`ethtool -X`). It reads frames but never modifies them,
//! makes no syscalls, and allocates nothing: hashing a frame is a walk over
//! its headers and a few table lookups.
//!
//! The hash input is laid out as the specification says, every field in
//! network byte order: IPv4 `src, dst` (8 bytes) or `src, dst, sport, dport`
//! (12), IPv6 `src, dst` (32) or with the ports (36). A frame whose ports
//! cannot be found (an IP fragment, a protocol other than TCP/UDP, a
//! truncated L4 header) hashes on its two addresses, as NICs and the kernel's
//! flow dissector do; a frame that is not IP has no hash and goes to the
//! queue of indirection entry 0 (hash 0).

use core::fmt;

use crate::wire::ethernet::{self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
use crate::wire::ipv4::{self, PROTO_TCP, PROTO_UDP};
use crate::wire::ipv6::{self, NEXT_DEST_OPTS, NEXT_FRAGMENT, NEXT_HOP_BY_HOP, NEXT_ROUTING};
use crate::wire::L4;

/// The verification key of Microsoft's "Verifying the RSS Hash Calculation",
/// which is also the default key of many NIC drivers.
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The longest hash input: an IPv6 4-tuple (two 16-byte addresses, two ports).
pub const MAX_INPUT_LEN: usize = 36;
/// The shortest key an [`Rss`] accepts: every input bit needs the 32 key bits
/// starting at its position, so a 36-byte input needs 40 bytes of key.
pub const MIN_KEY_LEN: usize = MAX_INPUT_LEN + 4;
/// The longest key an [`Rss`] accepts (the kernel's `NETDEV_RSS_KEY_LEN`, the
/// key size of Intel's 700/800 series).
pub const MAX_KEY_LEN: usize = 52;
/// Entries of the indirection table, indexed by the hash's low 7 bits as the
/// NICs with a 128-entry RETA (and the kernel's default table size) do.
pub const INDIR_SIZE: usize = 128;

const IPPROTO_AH: u8 = 51;
/// At most this many IPv6 extension headers are walked before giving up on the ports.
const MAX_IPV6_EXT: usize = 8;

/// Why an RSS setting or input was refused. `Copy`, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RssError {
    /// The key is shorter than the input + 4 bytes (or, for an [`Rss`], than [`MIN_KEY_LEN`]).
    KeyTooShort { len: usize, needed: usize },
    /// The key is longer than [`MAX_KEY_LEN`].
    KeyTooLong { len: usize, max: usize },
    /// The hash input is longer than [`MAX_INPUT_LEN`].
    InputTooLong { len: usize, max: usize },
    /// Zero queues: there is nowhere to steer packets.
    NoQueues,
    /// An indirection table must have exactly [`INDIR_SIZE`] entries.
    TableSize { len: usize, expected: usize },
    /// A table entry names a queue that does not exist.
    QueueOutOfRange {
        index: usize,
        queue: u32,
        queues: u32,
    },
    /// Weights that are all zero (or more queues than a `u32` can count).
    BadWeights,
}

impl fmt::Display for RssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RssError::KeyTooShort { len, needed } => {
                write!(f, "RSS key of {len} bytes is too short: needs at least {needed}")
            }
            RssError::KeyTooLong { len, max } => {
                write!(f, "RSS key of {len} bytes is too long: at most {max}")
            }
            RssError::InputTooLong { len, max } => {
                write!(f, "RSS hash input of {len} bytes is too long: at most {max}")
            }
            RssError::NoQueues => f.write_str("RSS needs at least one queue"),
            RssError::TableSize { len, expected } => {
                write!(f, "indirection table has {len} entries, expected {expected}")
            }
            RssError::QueueOutOfRange { index, queue, queues } => write!(
                f,
                "indirection table entry {index} names queue {queue}, but there are only {queues} queues"
            ),
            RssError::BadWeights => f.write_str("RSS weights must not all be zero"),
        }
    }
}

impl std::error::Error for RssError {}

/// The Toeplitz hash of `input` under `key`, computed bit by bit exactly as
/// the specification's `ComputeHash` pseudocode: for every set input bit,
/// from the most significant bit of `input[0]` on, XOR in the 32 key bits
/// that start at that bit's position. This is the reference; [`Rss`] uses
/// precomputed tables that give the same result.
pub fn toeplitz(key: &[u8], input: &[u8]) -> Result<u32, RssError> {
    let needed = input.len() + 4;
    if key.len() < needed {
        return Err(RssError::KeyTooShort {
            len: key.len(),
            needed,
        });
    }
    let mut result = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        // The 40 key bits the 8 windows of this byte's bits are taken from
        // (i + 4 < key.len() by the check above).
        let k = key[i..i + 5]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= (k >> (8 - bit)) as u32;
            }
        }
    }
    Ok(result)
}

/// The hash input of one flow, laid out as the specification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashInput {
    bytes: [u8; MAX_INPUT_LEN],
    len: usize,
}

impl HashInput {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An L4 protocol with its two ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    pub proto: L4,
    pub src: u16,
    pub dst: u16,
}

/// The fields of a frame that RSS can hash: both addresses, and the ports
/// when the frame is TCP or UDP and they could be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowTuple {
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        ports: Option<Ports>,
    },
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        ports: Option<Ports>,
    },
}

impl FlowTuple {
    /// The specification's input: `src, dst` and, with ports, `sport, dport`.
    pub fn input(&self) -> HashInput {
        let mut bytes = [0u8; MAX_INPUT_LEN];
        let (addrs, ports) = match self {
            FlowTuple::V4 { src, dst, ports } => {
                bytes[0..4].copy_from_slice(src);
                bytes[4..8].copy_from_slice(dst);
                (8, ports)
            }
            FlowTuple::V6 { src, dst, ports } => {
                bytes[0..16].copy_from_slice(src);
                bytes[16..32].copy_from_slice(dst);
                (32, ports)
            }
        };
        let len = match ports {
            Some(p) => {
                bytes[addrs..addrs + 2].copy_from_slice(&p.src.to_be_bytes());
                bytes[addrs + 2..addrs + 4].copy_from_slice(&p.dst.to_be_bytes());
                addrs + 4
            }
            None => addrs,
        };
        HashInput { bytes, len }
    }

    /// The same flow without its ports.
    pub const fn without_ports(self) -> FlowTuple {
        match self {
            FlowTuple::V4 { src, dst, .. } => FlowTuple::V4 {
                src,
                dst,
                ports: None,
            },
            FlowTuple::V6 { src, dst, .. } => FlowTuple::V6 {
                src,
                dst,
                ports: None,
            },
        }
    }

    /// Which of the specification's hash types this tuple is.
    pub const fn hash_type(&self) -> HashType {
        match self {
            FlowTuple::V4 { ports: None, .. } => HashType::Ipv4,
            FlowTuple::V4 {
                ports: Some(Ports { proto: L4::Tcp, .. }),
                ..
            } => HashType::TcpIpv4,
            FlowTuple::V4 {
                ports: Some(Ports { proto: L4::Udp, .. }),
                ..
            } => HashType::UdpIpv4,
            FlowTuple::V6 { ports: None, .. } => HashType::Ipv6,
            FlowTuple::V6 {
                ports: Some(Ports { proto: L4::Tcp, .. }),
                ..
            } => HashType::TcpIpv6,
            FlowTuple::V6 {
                ports: Some(Ports { proto: L4::Udp, .. }),
                ..
            } => HashType::UdpIpv6,
        }
    }

    /// Finds the flow of an Ethernet frame (up to two 802.1Q/802.1ad tags),
    /// or `None` when it is not IPv4/IPv6 or its IP header is cut short.
    /// Never panics, whatever the bytes.
    pub fn from_frame(frame: &[u8]) -> Option<FlowTuple> {
        let eth = ethernet::Frame::new_checked(frame).ok()?;
        let mut ethertype = eth.ethertype();
        let mut off = ethernet::HEADER_LEN;
        for _ in 0..2 {
            if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
                break;
            }
            ethertype = be16_at(frame, off + 2)?;
            off += ethernet::VLAN_TAG_LEN;
        }
        match ethertype {
            ETHERTYPE_IPV4 => flow_v4(frame, off),
            ETHERTYPE_IPV6 => flow_v6(frame, off),
            _ => None,
        }
    }
}

fn be16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// The ports at `l4`, when the L4 header's first 4 bytes lie before `end`.
fn ports_at(frame: &[u8], proto: u8, l4: usize, end: usize) -> Option<Ports> {
    let proto = match proto {
        PROTO_TCP => L4::Tcp,
        PROTO_UDP => L4::Udp,
        _ => return None,
    };
    if l4.checked_add(4)? > end {
        return None;
    }
    Some(Ports {
        proto,
        src: be16_at(frame, l4)?,
        dst: be16_at(frame, l4 + 2)?,
    })
}

fn flow_v4(frame: &[u8], off: usize) -> Option<FlowTuple> {
    let ip = ipv4::Packet::new_checked(frame.get(off..)?).ok()?;
    if ip.version() != 4 {
        return None;
    }
    let hl = ip.header_len();
    let tot = usize::from(ip.total_len());
    // Link padding after `tot_len` is not L4 header; a `tot_len` shorter than
    // the header itself leaves no room for ports.
    let end = (off + tot).min(frame.len());
    // A fragment carries no ports (a first fragment does, but its later
    // fragments could not follow it to the same queue).
    let ports = if ip.is_fragment() || tot < hl {
        None
    } else {
        ports_at(frame, ip.protocol(), off + hl, end)
    };
    Some(FlowTuple::V4 {
        src: ip.src(),
        dst: ip.dst(),
        ports,
    })
}

fn flow_v6(frame: &[u8], off: usize) -> Option<FlowTuple> {
    let ip = ipv6::Packet::new_checked(frame.get(off..)?).ok()?;
    if ip.version() != 6 {
        return None;
    }
    let plen = usize::from(ip.payload_len());
    // Payload length 0 is a jumbogram (or a lie): take the bytes present.
    let end = if plen == 0 {
        frame.len()
    } else {
        (off + ipv6::HEADER_LEN + plen).min(frame.len())
    };
    Some(FlowTuple::V6 {
        src: ip.src(),
        dst: ip.dst(),
        ports: ports_v6(frame, ip.next_header(), off + ipv6::HEADER_LEN, end),
    })
}

/// Walks the IPv6 extension headers from `at` to TCP/UDP and reads the
/// ports; `None` for anything else or anything cut short.
fn ports_v6(frame: &[u8], mut next: u8, mut at: usize, end: usize) -> Option<Ports> {
    for _ in 0..=MAX_IPV6_EXT {
        let len = match next {
            PROTO_TCP | PROTO_UDP => return ports_at(frame, next, at, end),
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS => {
                (usize::from(*frame.get(at + 1)?) + 1) * 8
            }
            // RFC 4302: AH's length is in 4-byte units, minus 2.
            IPPROTO_AH => (usize::from(*frame.get(at + 1)?) + 2) * 4,
            NEXT_FRAGMENT => {
                // Offset or More-Fragments set: a real fragment, no ports.
                // (An atomic fragment, RFC 6946, is a whole packet.)
                if be16_at(frame, at + 2)? & 0xfff9 != 0 {
                    return None;
                }
                8
            }
            // ICMPv6, ESP, No Next Header, ...: nothing more to find.
            _ => return None,
        };
        if at + len > end {
            return None;
        }
        next = *frame.get(at)?;
        at += len;
    }
    None
}
/// The specification's hash types (`NDIS_HASH_*`): which fields a hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashType {
    Ipv4,
    TcpIpv4,
    UdpIpv4,
    Ipv6,
    TcpIpv6,
    UdpIpv6,
}

/// A frame's hash and the fields it covers (the kernel keeps the same pair
/// as `skb->hash` and `skb->l4_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RssHash {
    pub value: u32,
    pub hash_type: HashType,
}

/// Which flows hash their ports too (`ethtool -N DEV rx-flow-hash tcp4 sdfn`
/// = ports on, `sd` = addresses only). Default: ports on for all four, as the
/// specification's TCP and UDP hash types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashFields {
    pub tcp4_ports: bool,
    pub udp4_ports: bool,
    pub tcp6_ports: bool,
    pub udp6_ports: bool,
}

impl Default for HashFields {
    fn default() -> Self {
        HashFields {
            tcp4_ports: true,
            udp4_ports: true,
            tcp6_ports: true,
            udp6_ports: true,
        }
    }
}

impl HashFields {
    /// `tuple`, without its ports when this setting leaves them out.
    pub const fn apply(&self, tuple: FlowTuple) -> FlowTuple {
        let keep = match tuple.hash_type() {
            HashType::Ipv4 | HashType::Ipv6 => return tuple,
            HashType::TcpIpv4 => self.tcp4_ports,
            HashType::UdpIpv4 => self.udp4_ports,
            HashType::TcpIpv6 => self.tcp6_ports,
            HashType::UdpIpv6 => self.udp6_ports,
        };
        if keep {
            tuple
        } else {
            tuple.without_ports()
        }
    }
}

/// One RSS context: key, hashed fields and indirection table, steering each
/// flow to one of `queues` queues.
///
/// The key is expanded into one 16-entry table per input nibble (4.5 KiB),
/// so a hash costs two lookups per input byte instead of eight shifts.
#[derive(Clone)]
pub struct Rss {
    key: [u8; MAX_KEY_LEN],
    key_len: usize,
    /// `lut[2 * i + h][v]`: the hash contribution of nibble value `v` as the
    /// high (`h = 0`) or low (`h = 1`) nibble of input byte `i`.
    lut: [[u32; 16]; 2 * MAX_INPUT_LEN],
    fields: HashFields,
    queues: u32,
    table: [u32; INDIR_SIZE],
}

impl fmt::Debug for Rss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rss")
            .field("key", &self.key())
            .field("fields", &self.fields)
            .field("queues", &self.queues)
            .field("table", &self.table)
            .finish()
    }
}

impl Rss {
    /// The default key, all ports hashed, and the table spread equally over
    /// `queues` queues (`ethtool -X DEV equal N`).
    pub fn new(queues: u32) -> Result<Rss, RssError> {
        let mut rss = Rss {
            key: [0; MAX_KEY_LEN],
            key_len: 0,
            lut: [[0; 16]; 2 * MAX_INPUT_LEN],
            fields: HashFields::default(),
            queues: 1,
            table: [0; INDIR_SIZE],
        };
        rss.set_key(&DEFAULT_KEY)?;
        rss.set_equal(queues)?;
        Ok(rss)
    }

    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }

    /// Sets the hash key: [`MIN_KEY_LEN`] to [`MAX_KEY_LEN`] bytes (only its
    /// first 40 bytes ever reach the hash; longer keys are accepted as NICs
    /// with 52-byte keys have them).
    pub fn set_key(&mut self, key: &[u8]) -> Result<(), RssError> {
        if key.len() < MIN_KEY_LEN {
            return Err(RssError::KeyTooShort {
                len: key.len(),
                needed: MIN_KEY_LEN,
            });
        }
        if key.len() > MAX_KEY_LEN {
            return Err(RssError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        self.key = [0; MAX_KEY_LEN];
        self.key[..key.len()].copy_from_slice(key);
        self.key_len = key.len();
        for (pos, row) in self.lut.iter_mut().enumerate() {
            // Row `pos` covers input bits 4 * pos .. 4 * pos + 4.
            let first_bit = 4 * pos;
            for (v, slot) in row.iter_mut().enumerate() {
                *slot = (0..4)
                    .filter(|b| v & (0b1000 >> b) != 0)
                    .fold(0, |h, b| h ^ key_window(&self.key, first_bit + b));
            }
        }
        Ok(())
    }

    pub const fn fields(&self) -> HashFields {
        self.fields
    }

    pub fn set_fields(&mut self, fields: HashFields) {
        self.fields = fields;
    }

    /// Number of queues the table may name.
    pub const fn queues(&self) -> u32 {
        self.queues
    }

    pub const fn table(&self) -> &[u32; INDIR_SIZE] {
        &self.table
    }

    /// Sets `queues` and a table that names each in turn: entry `i` is queue
    /// `i % queues` (the kernel's `ethtool_rxfh_indir_default`).
    pub fn set_equal(&mut self, queues: u32) -> Result<(), RssError> {
        if queues == 0 {
            return Err(RssError::NoQueues);
        }
        self.queues = queues;
        for (i, e) in (0u32..).zip(self.table.iter_mut()) {
            *e = i % queues;
        }
        Ok(())
    }

    /// Sets one queue per weight and a table giving each queue a share of
    /// the entries proportional to its weight (`ethtool -X DEV weight W0 W1 ...`);
    /// a queue of weight 0 gets no entries.
    pub fn set_weights(&mut self, weights: &[u32]) -> Result<(), RssError> {
        if weights.is_empty() {
            return Err(RssError::NoQueues);
        }
        let queues = u32::try_from(weights.len()).map_err(|_| RssError::BadWeights)?;
        let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        if sum == 0 {
            return Err(RssError::BadWeights);
        }
        // ethtool's rounding: queue q's run of entries ends at
        // INDIR_SIZE * (w0 + .. + wq) / sum, rounded down.
        let size = INDIR_SIZE as u128;
        let mut q = 0usize;
        let mut cum = u128::from(weights[0]);
        for (i, e) in (0u128..).zip(self.table.iter_mut()) {
            // Ends before cum == sum, whose bound is INDIR_SIZE > i.
            while i >= size * cum / sum {
                q += 1;
                cum += u128::from(weights[q]);
            }
            *e = q as u32;
        }
        self.queues = queues;
        Ok(())
    }

    /// Sets the table as given: exactly [`INDIR_SIZE`] entries, each below
    /// [`Rss::queues`]. On error the table is unchanged.
    pub fn set_table(&mut self, table: &[u32]) -> Result<(), RssError> {
        if table.len() != INDIR_SIZE {
            return Err(RssError::TableSize {
                len: table.len(),
                expected: INDIR_SIZE,
            });
        }
        if let Some((index, &queue)) = table.iter().enumerate().find(|(_, &q)| q >= self.queues) {
            return Err(RssError::QueueOutOfRange {
                index,
                queue,
                queues: self.queues,
            });
        }
        self.table.copy_from_slice(table);
        Ok(())
    }

    /// Sets the queue count and the table together (for a table that names
    /// more queues than the current count).
    pub fn set_queues_and_table(&mut self, queues: u32, table: &[u32]) -> Result<(), RssError> {
        if queues == 0 {
            return Err(RssError::NoQueues);
        }
        let old = self.queues;
        self.queues = queues;
        let r = self.set_table(table);
        if r.is_err() {
            self.queues = old;
        }
        r
    }

    /// The Toeplitz hash of up to [`MAX_INPUT_LEN`] bytes under this key.
    pub fn hash_bytes(&self, input: &[u8]) -> Result<u32, RssError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(RssError::InputTooLong {
                len: input.len(),
                max: MAX_INPUT_LEN,
            });
        }
        Ok(self.hash_input(input))
    }

    /// `input.len() <= MAX_INPUT_LEN`: `zip` walks one pair of rows per byte.
    fn hash_input(&self, input: &[u8]) -> u32 {
        input
            .iter()
            .zip(self.lut.chunks_exact(2))
            .fold(0, |h, (&b, rows)| {
                h ^ rows[0][usize::from(b >> 4)] ^ rows[1][usize::from(b & 0xf)]
            })
    }

    /// The hash of a flow, after [`Rss::fields`] decided whether its ports count.
    pub fn hash_tuple(&self, tuple: FlowTuple) -> RssHash {
        let tuple = self.fields.apply(tuple);
        RssHash {
            value: self.hash_input(tuple.input().as_bytes()),
            hash_type: tuple.hash_type(),
        }
    }

    /// The hash of an Ethernet frame, `None` if it is not IP.
    pub fn hash_frame(&self, frame: &[u8]) -> Option<RssHash> {
        FlowTuple::from_frame(frame).map(|t| self.hash_tuple(t))
    }

    /// The queue of a hash: the table entry its low 7 bits select.
    pub const fn queue_for(&self, hash: u32) -> u32 {
        self.table[(hash as usize) % INDIR_SIZE]
    }

    /// The queue of a frame; a frame without a hash goes where hash 0 goes.
    pub fn queue_for_frame(&self, frame: &[u8]) -> u32 {
        self.queue_for(self.hash_frame(frame).map_or(0, |h| h.value))
    }
}

/// The 32 key bits that start at bit `bit` (bits past the key read as 0).
fn key_window(key: &[u8], bit: usize) -> u32 {
    let byte = bit / 8;
    let k = (0..5).fold(0u64, |acc, j| {
        (acc << 8) | u64::from(key.get(byte + j).copied().unwrap_or(0))
    });
    (k >> (8 - bit % 8)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // Microsoft, "Verifying the RSS Hash Calculation" (windows-driver-docs,
    // network/verifying-the-rss-hash-calculation.md), with its default key:
    // (destination, dport, source, sport, IPv4 only, IPv4 with TCP).
    const V4_VECTORS: [(&str, u16, &str, u16, u32, u32); 5] = [
        (
            "161.142.100.80",
            1766,
            "66.9.149.187",
            2794,
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            "65.69.140.83",
            4739,
            "199.92.111.2",
            14230,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            "12.22.207.184",
            38024,
            "24.19.198.95",
            12898,
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            "209.142.163.6",
            2217,
            "38.27.205.30",
            48228,
            0x82989176,
            0xafc7327f,
        ),
        (
            "202.188.127.2",
            1303,
            "153.39.163.191",
            44251,
            0x5d1809c5,
            0x10e828a2,
        ),
    ];
    // (destination, dport, source, sport, IPv6 only, IPv6 with TCP).
    const V6_VECTORS: [(&str, u16, &str, u16, u32, u32); 3] = [
        (
            "3ffe:2501:200:3::1",
            1766,
            "3ffe:2501:200:1fff::7",
            2794,
            0x2cc18cd5,
            0x40207d3d,
        ),
        (
            "ff02::1",
            4739,
            "3ffe:501:8::260:97ff:fe40:efab",
            14230,
            0x0f0c461c,
            0xdde51bbf,
        ),
        (
            "fe80::200:f8ff:fe21:67cf",
            38024,
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            44251,
            0x4b61e985,
            0x02d1feef,
        ),
    ];

    fn v4(s: &str) -> [u8; 4] {
        s.parse::<Ipv4Addr>().unwrap().octets()
    }
    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    fn ports(proto: L4, src: u16, dst: u16) -> Option<Ports> {
        Some(Ports { proto, src, dst })
    }

    const MAC: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

    /// Ethernet (+ `vlans` 802.1Q tags) + IPv4 + `l4` bytes of protocol `proto`.
    fn frame4(vlans: usize, src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = MAC.to_vec();
        for _ in 0..vlans {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let tot = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0]);
        let n = f.len();
        f[n - 10..n - 8].copy_from_slice(&tot.to_be_bytes());
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }

    /// Ethernet + IPv6 + `ext` (extension headers, already chained) + `l4`.
    fn frame6(src: [u8; 16], dst: [u8; 16], next: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
        let mut f = MAC.to_vec();
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&((ext.len() + l4.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[next, 64]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(ext);
        f.extend_from_slice(l4);
        f
    }

    fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[12] = 0x50;
        h[13] = 0x10;
        h.extend_from_slice(payload);
        h
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn microsoft_ipv4_vectors() {
        let rss = Rss::new(1).unwrap();
        for (dst, dport, src, sport, only, with_tcp) in V4_VECTORS {
            let t = FlowTuple::V4 {
                src: v4(src),
                dst: v4(dst),
                ports: ports(L4::Tcp, sport, dport),
            };
            let two = t.without_ports().input();
            let four = t.input();
            assert_eq!(two.as_bytes().len(), 8);
            assert_eq!(four.as_bytes().len(), 12);
            assert_eq!(
                toeplitz(&DEFAULT_KEY, two.as_bytes()),
                Ok(only),
                "{src} -> {dst}"
            );
            assert_eq!(
                toeplitz(&DEFAULT_KEY, four.as_bytes()),
                Ok(with_tcp),
                "{src} -> {dst}"
            );
            assert_eq!(rss.hash_bytes(two.as_bytes()), Ok(only));
            assert_eq!(
                rss.hash_tuple(t),
                RssHash {
                    value: with_tcp,
                    hash_type: HashType::TcpIpv4
                }
            );
            assert_eq!(rss.hash_tuple(t.without_ports()).value, only);
        }
    }

    #[test]
    fn microsoft_ipv6_vectors() {
        let rss = Rss::new(1).unwrap();
        for (dst, dport, src, sport, only, with_tcp) in V6_VECTORS {
            let t = FlowTuple::V6 {
                src: v6(src),
                dst: v6(dst),
                ports: ports(L4::Tcp, sport, dport),
            };
            let two = t.without_ports().input();
            let four = t.input();
            assert_eq!(two.as_bytes().len(), 32);
            assert_eq!(four.as_bytes().len(), 36);
            assert_eq!(
                toeplitz(&DEFAULT_KEY, two.as_bytes()),
                Ok(only),
                "{src} -> {dst}"
            );
            assert_eq!(
                toeplitz(&DEFAULT_KEY, four.as_bytes()),
                Ok(with_tcp),
                "{src} -> {dst}"
            );
            assert_eq!(rss.hash_bytes(four.as_bytes()), Ok(with_tcp));
            assert_eq!(
                rss.hash_tuple(t),
                RssHash {
                    value: with_tcp,
                    hash_type: HashType::TcpIpv6
                }
            );
        }
    }

    /// The same vectors reached from whole frames: TCP and UDP (the
    /// specification's UDP types hash the same fields), with and without
    /// VLAN tags, with payload and link padding that must not count.
    #[test]
    fn microsoft_vectors_from_frames() {
        let rss = Rss::new(4).unwrap();
        for (dst, dport, src, sport, only, with_ports) in V4_VECTORS {
            for vlans in 0..=2 {
                let f = frame4(
                    vlans,
                    v4(src),
                    v4(dst),
                    PROTO_TCP,
                    &tcp(sport, dport, b"data"),
                );
                let h = rss.hash_frame(&f).unwrap();
                assert_eq!((h.value, h.hash_type), (with_ports, HashType::TcpIpv4));
                assert_eq!(rss.queue_for_frame(&f), with_ports % 4);
                let mut f = frame4(vlans, v4(src), v4(dst), PROTO_UDP, &udp(sport, dport, b"x"));
                f.extend_from_slice(&[0; 20]); // Ethernet padding
                let h = rss.hash_frame(&f).unwrap();
                assert_eq!((h.value, h.hash_type), (with_ports, HashType::UdpIpv4));
                // ICMP: addresses only.
                let f = frame4(vlans, v4(src), v4(dst), 1, &[8, 0, 0, 0, 0, 1, 0, 1]);
                let h = rss.hash_frame(&f).unwrap();
                assert_eq!((h.value, h.hash_type), (only, HashType::Ipv4));
            }
        }
        for (dst, dport, src, sport, only, with_ports) in V6_VECTORS {
            let f = frame6(v6(src), v6(dst), PROTO_TCP, &[], &tcp(sport, dport, b""));
            let h = rss.hash_frame(&f).unwrap();
            assert_eq!((h.value, h.hash_type), (with_ports, HashType::TcpIpv6));
            let f = frame6(v6(src), v6(dst), PROTO_UDP, &[], &udp(sport, dport, b"abc"));
            let h = rss.hash_frame(&f).unwrap();
            assert_eq!((h.value, h.hash_type), (with_ports, HashType::UdpIpv6));
            // Hop-by-hop, destination options and an atomic fragment before TCP.
            let mut ext = vec![NEXT_DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
            ext.extend_from_slice(&[NEXT_FRAGMENT, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            ext.extend_from_slice(&[PROTO_TCP, 0, 0, 0, 0, 0, 0, 1]);
            let f = frame6(
                v6(src),
                v6(dst),
                NEXT_HOP_BY_HOP,
                &ext,
                &tcp(sport, dport, b""),
            );
            assert_eq!(rss.hash_frame(&f).unwrap().value, with_ports);
            // ICMPv6: addresses only.
            let f = frame6(v6(src), v6(dst), 58, &[], &[128, 0, 0, 0, 0, 1, 0, 1]);
            let h = rss.hash_frame(&f).unwrap();
            assert_eq!((h.value, h.hash_type), (only, HashType::Ipv6));
        }
    }

    #[test]
    fn fragments_and_short_l4_hash_addresses_only() {
        let rss = Rss::new(8).unwrap();
        let (dst, dport, src, sport, only, with_ports) = V4_VECTORS[1];
        let whole = frame4(0, v4(src), v4(dst), PROTO_TCP, &tcp(sport, dport, b"abcd"));
        assert_eq!(rss.hash_frame(&whole).unwrap().value, with_ports);
        // First fragment (MF), a later fragment (offset 185 * 8).
        for flags in [[0x20, 0x00], [0x00, 0xb9], [0x20, 0xb9]] {
            let mut f = whole.clone();
            f[20..22].copy_from_slice(&flags);
            let h = rss.hash_frame(&f).unwrap();
            assert_eq!((h.value, h.hash_type), (only, HashType::Ipv4));
        }
        // The L4 header cut after 3 bytes, by the frame's end or by tot_len.
        let f = &whole[..14 + 20 + 3];
        assert_eq!(rss.hash_frame(f).unwrap().value, only);
        let mut f = whole.clone();
        f[16..18].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(rss.hash_frame(&f).unwrap().value, only);
        // Exactly the 4 port bytes are enough.
        assert_eq!(rss.hash_frame(&whole[..14 + 24]).unwrap().value, with_ports);

        let (dst, dport, src, sport, only, _) = V6_VECTORS[0];
        // A real IPv6 fragment (M set, offset 0), and one with an offset.
        for frag in [[0x00, 0x01], [0x05, 0x00]] {
            let mut ext = vec![PROTO_TCP, 0];
            ext.extend_from_slice(&frag);
            ext.extend_from_slice(&[0, 0, 0, 7]);
            let f = frame6(
                v6(src),
                v6(dst),
                NEXT_FRAGMENT,
                &ext,
                &tcp(sport, dport, b""),
            );
            let h = rss.hash_frame(&f).unwrap();
            assert_eq!((h.value, h.hash_type), (only, HashType::Ipv6));
        }
        // An extension header running off the end, and ESP.
        let f = frame6(v6(src), v6(dst), NEXT_ROUTING, &[PROTO_TCP, 200, 0, 0], &[]);
        assert_eq!(rss.hash_frame(&f).unwrap().value, only);
        let f = frame6(v6(src), v6(dst), 50, &[], &[0; 16]);
        assert_eq!(rss.hash_frame(&f).unwrap().value, only);
    }

    #[test]
    fn not_ip_has_no_hash_and_goes_to_entry_zero() {
        let mut rss = Rss::new(4).unwrap();
        let mut table = [1u32; INDIR_SIZE];
        table[0] = 3;
        rss.set_table(&table).unwrap();
        let mut arp = MAC.to_vec();
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(rss.hash_frame(&arp), None);
        assert_eq!(rss.queue_for_frame(&arp), 3);
        // IPv4 EtherType with a version-6 header, a cut IPv4 header, three VLAN tags.
        let (dst, _, src, _, _, _) = V4_VECTORS[0];
        let mut f = frame4(0, v4(src), v4(dst), 1, &[0; 8]);
        f[14] = 0x65;
        assert_eq!(rss.hash_frame(&f), None);
        let f = frame4(0, v4(src), v4(dst), 1, &[0; 8]);
        assert_eq!(rss.hash_frame(&f[..14 + 19]), None);
        let f = frame4(3, v4(src), v4(dst), 1, &[0; 8]);
        assert_eq!(rss.hash_frame(&f), None);
        assert_eq!(rss.hash_frame(&[]), None);
        assert_eq!(rss.queue_for_frame(&[0xff; 13]), 3);
    }

    #[test]
    fn fields_select_ports_per_protocol() {
        let mut rss = Rss::new(2).unwrap();
        let (dst, dport, src, sport, only, with_ports) = V4_VECTORS[2];
        let t = FlowTuple::V4 {
            src: v4(src),
            dst: v4(dst),
            ports: ports(L4::Udp, sport, dport),
        };
        rss.set_fields(HashFields {
            udp4_ports: false,
            ..HashFields::default()
        });
        assert_eq!(rss.hash_tuple(t).value, only);
        assert_eq!(rss.hash_tuple(t).hash_type, HashType::Ipv4);
        let t_tcp = FlowTuple::V4 {
            src: v4(src),
            dst: v4(dst),
            ports: ports(L4::Tcp, sport, dport),
        };
        assert_eq!(rss.hash_tuple(t_tcp).value, with_ports);
        rss.set_fields(HashFields::default());
        assert_eq!(rss.hash_tuple(t).value, with_ports);
    }

    #[test]
    fn keys_up_to_52_bytes() {
        // A 36-byte input needs a 40-byte key; one byte less is refused.
        let input = [0xa5u8; 36];
        assert_eq!(
            toeplitz(&DEFAULT_KEY[..39], &input),
            Err(RssError::KeyTooShort {
                len: 39,
                needed: 40
            })
        );
        assert_eq!(
            toeplitz(&DEFAULT_KEY[..12], &input[..8]).map(|_| ()),
            Ok(())
        );
        // Bytes past input + 4 never matter: a 52-byte key extending the
        // default key gives the published hashes.
        let mut long = [0xffu8; 52];
        long[..40].copy_from_slice(&DEFAULT_KEY);
        let mut rss = Rss::new(1).unwrap();
        rss.set_key(&long).unwrap();
        assert_eq!(rss.key(), &long[..]);
        for (dst, dport, src, sport, _, with_tcp) in V6_VECTORS {
            let t = FlowTuple::V6 {
                src: v6(src),
                dst: v6(dst),
                ports: ports(L4::Tcp, sport, dport),
            };
            assert_eq!(toeplitz(&long, t.input().as_bytes()), Ok(with_tcp));
            assert_eq!(rss.hash_tuple(t).value, with_tcp);
        }
        assert_eq!(
            rss.set_key(&[0; 39]),
            Err(RssError::KeyTooShort {
                len: 39,
                needed: 40
            })
        );
        assert_eq!(
            rss.set_key(&[0; 53]),
            Err(RssError::KeyTooLong { len: 53, max: 52 })
        );
        assert_eq!(rss.key(), &long[..], "a refused key leaves the old one");
        assert_eq!(
            rss.hash_bytes(&[0; 37]),
            Err(RssError::InputTooLong { len: 37, max: 36 })
        );
        assert_eq!(rss.hash_bytes(&[]), Ok(0));
    }

    #[test]
    fn equal_table_is_round_robin() {
        let mut rss = Rss::new(4).unwrap();
        assert_eq!(rss.queues(), 4);
        for (i, &q) in rss.table().iter().enumerate() {
            assert_eq!(q as usize, i % 4);
        }
        rss.set_equal(3).unwrap();
        assert_eq!(&rss.table()[..7], &[0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(rss.table()[127], 127 % 3);
        assert_eq!(rss.set_equal(0), Err(RssError::NoQueues));
        assert_eq!(rss.queues(), 3);
        assert_eq!(Rss::new(0).map(|_| ()), Err(RssError::NoQueues));
        // More queues than entries: the first 128 are used.
        rss.set_equal(200).unwrap();
        assert_eq!(rss.table()[127], 127);
    }

    #[test]
    fn queue_is_the_entry_of_the_low_7_bits() {
        let mut rss = Rss::new(128).unwrap();
        let table: Vec<u32> = (0..128).rev().collect();
        rss.set_table(&table).unwrap();
        for h in [0u32, 1, 0x7f, 0x80, 0x1234_5678, u32::MAX] {
            assert_eq!(rss.queue_for(h), 127 - (h & 0x7f));
            assert_eq!(rss.queue_for(h), rss.queue_for(h ^ 0xffff_ff80));
        }
    }

    #[test]
    fn set_table_checks_size_and_queues() {
        let mut rss = Rss::new(4).unwrap();
        let before = *rss.table();
        assert_eq!(
            rss.set_table(&[0; 127]),
            Err(RssError::TableSize {
                len: 127,
                expected: 128
            })
        );
        assert_eq!(
            rss.set_table(&[0; 129]),
            Err(RssError::TableSize {
                len: 129,
                expected: 128
            })
        );
        let mut t = [1u32; INDIR_SIZE];
        t[77] = 4;
        assert_eq!(
            rss.set_table(&t),
            Err(RssError::QueueOutOfRange {
                index: 77,
                queue: 4,
                queues: 4
            })
        );
        assert_eq!(rss.table(), &before, "a refused table leaves the old one");
        t[77] = 3;
        rss.set_table(&t).unwrap();
        assert_eq!(rss.table(), &t);
        let mut t8 = [7u32; INDIR_SIZE];
        assert_eq!(rss.set_queues_and_table(0, &t8), Err(RssError::NoQueues));
        t8[0] = 8;
        assert!(rss.set_queues_and_table(8, &t8).is_err());
        assert_eq!(rss.queues(), 4);
        t8[0] = 0;
        rss.set_queues_and_table(8, &t8).unwrap();
        assert_eq!((rss.queues(), rss.queue_for(1)), (8, 7));
    }

    #[test]
    fn weights_share_the_table() {
        let mut rss = Rss::new(1).unwrap();
        let count = |rss: &Rss, q: u32| rss.table().iter().filter(|&&e| e == q).count();
        rss.set_weights(&[1, 1, 2]).unwrap();
        assert_eq!(rss.queues(), 3);
        assert_eq!(
            (count(&rss, 0), count(&rss, 1), count(&rss, 2)),
            (32, 32, 64)
        );
        // Contiguous runs, in queue order, as `ethtool -X weight` builds them.
        assert!(rss.table().windows(2).all(|w| w[0] <= w[1]));
        rss.set_weights(&[0, 3, 0, 1]).unwrap();
        assert_eq!(
            (
                count(&rss, 0),
                count(&rss, 1),
                count(&rss, 2),
                count(&rss, 3)
            ),
            (0, 96, 0, 32)
        );
        rss.set_weights(&[5]).unwrap();
        assert_eq!(count(&rss, 0), 128);
        rss.set_weights(&[1, 1, 1]).unwrap();
        assert_eq!(
            (count(&rss, 0), count(&rss, 1), count(&rss, 2)),
            (42, 43, 43)
        );
        rss.set_weights(&[u32::MAX, u32::MAX]).unwrap();
        assert_eq!(count(&rss, 0), 64);
        assert_eq!(rss.set_weights(&[]), Err(RssError::NoQueues));
        assert_eq!(rss.set_weights(&[0, 0]), Err(RssError::BadWeights));
        assert_eq!(rss.queues(), 2, "refused weights leave the old setting");
    }

    #[test]
    fn errors_say_why() {
        let e = RssError::QueueOutOfRange {
            index: 3,
            queue: 9,
            queues: 4,
        };
        assert_eq!(
            e.to_string(),
            "indirection table entry 3 names queue 9, but there are only 4 queues"
        );
        assert!(RssError::KeyTooShort { len: 8, needed: 40 }
            .to_string()
            .contains("at least 40"));
    }

    /// A deterministic stream of flows (xorshift64), so the spread test
    /// cannot flake.
    fn flows(seed: u64, n: usize) -> impl Iterator<Item = FlowTuple> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        (0..n).map(move |i| {
            let a = next();
            let b = next();
            if i % 2 == 0 {
                FlowTuple::V4 {
                    src: (a as u32).to_be_bytes(),
                    dst: ((a >> 32) as u32).to_be_bytes(),
                    ports: ports(L4::Tcp, b as u16, (b >> 16) as u16),
                }
            } else {
                let mut src = [0u8; 16];
                src[..8].copy_from_slice(&a.to_be_bytes());
                let mut dst = [0u8; 16];
                dst[8..].copy_from_slice(&b.to_be_bytes());
                FlowTuple::V6 {
                    src,
                    dst,
                    ports: ports(L4::Udp, (b >> 32) as u16, (b >> 48) as u16),
                }
            }
        })
    }

    fn any_frame() -> impl Strategy<Value = Vec<u8>> {
        // Random bytes, and random bytes behind a plausible Ethernet/VLAN/IP
        // start, so the walk gets past the EtherType often.
        let prefixes = prop_oneof![
            Just(vec![]),
            Just([MAC.as_slice(), &[0x08, 0x00, 0x45]].concat()),
            Just([MAC.as_slice(), &[0x08, 0x00, 0x4f]].concat()),
            Just([MAC.as_slice(), &[0x86, 0xdd, 0x60]].concat()),
            Just([MAC.as_slice(), &[0x81, 0x00, 0, 1, 0x08, 0x00, 0x45]].concat()),
            Just(
                [
                    MAC.as_slice(),
                    &[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x86, 0xdd, 0x60]
                ]
                .concat()
            ),
        ];
        (prefixes, proptest::collection::vec(any::<u8>(), 0..160))
            .prop_map(|(p, rest)| [p, rest].concat())
    }

    proptest! {
        #[test]
        fn never_panics_on_any_frame(frame in any_frame()) {
            let rss = Rss::new(4).unwrap();
            let q = rss.queue_for_frame(&frame);
            prop_assert!(q < 4);
            if let Some(h) = rss.hash_frame(&frame) {
                prop_assert_eq!(rss.queue_for(h.value), q);
            }
            // Every truncation of it too.
            for cut in 0..frame.len() {
                let _ = rss.hash_frame(&frame[..cut]);
            }
        }

        /// The table-driven hash is the specification's bit-by-bit hash, for
        /// any key and any input it can take.
        #[test]
        fn tables_equal_reference(
            key in proptest::collection::vec(any::<u8>(), MIN_KEY_LEN..=MAX_KEY_LEN),
            input in proptest::collection::vec(any::<u8>(), 0..=MAX_INPUT_LEN),
        ) {
            let mut rss = Rss::new(1).unwrap();
            rss.set_key(&key).unwrap();
            prop_assert_eq!(rss.hash_bytes(&input), toeplitz(&key, &input));
        }

        /// A flow's hash depends on its addresses and ports only: not on the
        /// payload, TTL, IP ID, TCP flags, VLAN tags or padding, nor on how
        /// often it is asked.
        #[test]
        fn a_flow_hash_is_stable(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            sport in any::<u16>(), dport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            ttl in any::<u8>(), id in any::<u16>(), flags in any::<u8>(),
            vlans in 0usize..=2, pad in 0usize..32,
        ) {
            let rss = Rss::new(4).unwrap();
            let base = frame4(0, src, dst, PROTO_TCP, &tcp(sport, dport, b""));
            let expect = rss.hash_frame(&base).unwrap();
            prop_assert_eq!(expect.hash_type, HashType::TcpIpv4);
            let t = FlowTuple::V4 { src, dst, ports: ports(L4::Tcp, sport, dport) };
            prop_assert_eq!(expect.value, toeplitz(&DEFAULT_KEY, t.input().as_bytes()).unwrap());
            let mut seg = tcp(sport, dport, &payload);
            seg[13] = flags;
            let mut f = frame4(vlans, src, dst, PROTO_TCP, &seg);
            let l3 = 14 + 4 * vlans;
            f[l3 + 8] = ttl;
            f[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            f.resize(f.len() + pad, 0xee);
            prop_assert_eq!(rss.hash_frame(&f), Some(expect));
            prop_assert_eq!(rss.hash_frame(&f), Some(expect));
            prop_assert_eq!(rss.queue_for_frame(&f), rss.queue_for(expect.value));
        }

        /// Many random flows spread roughly equally over 4 queues: with 4000
        /// flows each queue expects 1000 (sd ~27); allow +-15%.
        #[test]
        fn flows_spread_over_four_queues(seed in any::<u64>()) {
            let rss = Rss::new(4).unwrap();
            let mut per_queue = [0usize; 4];
            for t in flows(seed, 4000) {
                per_queue[rss.queue_for(rss.hash_tuple(t).value) as usize] += 1;
            }
            for n in per_queue {
                prop_assert!((850..=1150).contains(&n), "{:?}", per_queue);
            }
        }
    }
}
