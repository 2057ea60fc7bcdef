//! IPv4 header view (RFC 791).

use super::checksum;
use super::{be16, put16, Layer, ParseError};

pub const MIN_HEADER_LEN: usize = 20;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOT_LEN: usize = 2;
    pub const ID: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 header at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the fixed header and the IHL-sized header (with options) fit.
    /// Offsets in errors are relative to the start of this header.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let found = self.buffer.as_ref().len();
        if found < MIN_HEADER_LEN {
            return Err(ParseError::Truncated {
                layer: Layer::Ipv4,
                offset: 0,
                needed: MIN_HEADER_LEN,
                found,
            });
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(ParseError::Ipv4HeaderLen { offset: 0, len: hl });
        }
        if found < hl {
            return Err(ParseError::Truncated {
                layer: Layer::Ipv4,
                offset: 0,
                needed: hl,
                found,
            });
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TOT_LEN)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ID)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK
    }
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn src(&self) -> [u8; 4] {
        let mut a = [0; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }
    pub fn dst(&self) -> [u8; 4] {
        let mut a = [0; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }
    /// True when the header checksum (over IHL bytes) is valid.
    pub fn verify_checksum(&self) -> bool {
        let hl = self.header_len().min(self.buffer.as_ref().len());
        checksum::fold(checksum::sum(&self.buffer.as_ref()[..hl], 0)) == 0xffff
    }
    /// Pseudo-header partial sum for an L4 length.
    pub fn pseudo_sum(&self, l4_len: u32) -> u32 {
        checksum::pseudo_v4(self.src(), self.dst(), self.protocol(), l4_len)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the IHL from a byte length (multiple of 4).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((len / 4) as u8 & 0x0f);
    }
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::TOT_LEN, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ID, v);
    }
    /// Sets DF, clears MF and the fragment offset.
    pub fn set_flags(&mut self, dont_frag: bool) {
        put16(
            self.buffer.as_mut(),
            field::FLAGS_FRAG,
            if dont_frag { FLAG_DF } else { 0 },
        );
    }
    pub fn set_raw_flags_frag(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    pub fn set_src(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }
    pub fn set_dst(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }
    /// Recomputes the header checksum over IHL bytes.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::finish(checksum::sum(&self.buffer.as_ref()[..hl], 0));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 20] {
        let mut b = [0u8; 20];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_header_len(20);
        p.set_total_len(40);
        p.set_ident(0x1234);
        p.set_flags(true);
        p.set_ttl(64);
        p.set_protocol(PROTO_TCP);
        p.set_src([198, 18, 0, 1]);
        p.set_dst([198, 18, 0, 2]);
        p.fill_checksum();
        b
    }

    #[test]
    fn truncation_every_length() {
        let b = sample();
        for n in 0..MIN_HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&b[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Ipv4,
                    offset: 0,
                    needed: 20,
                    found: n
                }
            );
        }
        let mut with_opts = [0u8; 24];
        with_opts[..20].copy_from_slice(&b);
        with_opts[0] = 0x46;
        for n in 20..24 {
            assert_eq!(
                Packet::new_checked(&with_opts[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Ipv4,
                    offset: 0,
                    needed: 24,
                    found: n
                }
            );
        }
        assert!(Packet::new_checked(&with_opts[..]).is_ok());
    }

    #[test]
    fn short_ihl_is_named() {
        let mut b = sample();
        b[0] = 0x43;
        let e = Packet::new_checked(&b[..]).unwrap_err();
        assert_eq!(e, ParseError::Ipv4HeaderLen { offset: 0, len: 12 });
    }

    #[test]
    fn fields_and_checksum() {
        let b = sample();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_TCP);
        assert!(p.verify_checksum());
        let mut c = b;
        c[8] = 63;
        assert!(!Packet::new_checked(&c[..]).unwrap().verify_checksum());
    }
}
