//! Ethernet II header view, with 802.1Q tag handling.

use super::{be16, put16, Layer, ParseError};

pub const HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
}

/// A view of an Ethernet II header at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    pub fn check_len(&self) -> Result<(), ParseError> {
        let found = self.buffer.as_ref().len();
        if found < HEADER_LEN {
            return Err(ParseError::Truncated {
                layer: Layer::Ethernet,
                offset: 0,
                needed: HEADER_LEN,
                found,
            });
        }
        Ok(())
    }

    pub fn dst(&self) -> [u8; 6] {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        m
    }

    pub fn src(&self) -> [u8; 6] {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        m
    }

    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, m: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m);
    }
    pub fn set_src(&mut self, m: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m);
    }
    pub fn set_ethertype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_every_length() {
        let buf = [0u8; HEADER_LEN];
        for n in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&buf[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Ethernet,
                    offset: 0,
                    needed: HEADER_LEN,
                    found: n
                }
            );
        }
        assert!(Frame::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn fields_round_trip() {
        let mut buf = [0u8; HEADER_LEN];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        f.set_dst([1, 2, 3, 4, 5, 6]);
        f.set_src([7, 8, 9, 10, 11, 12]);
        f.set_ethertype(ETHERTYPE_IPV6);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.dst(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.src(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
    }
}
