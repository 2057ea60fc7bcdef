//! UDP header view (RFC 768).

use super::{be16, put16, Layer, ParseError};

pub const HEADER_LEN: usize = 8;
/// Byte offset of the checksum field inside the UDP header.
pub const CHECKSUM_OFFSET: usize = 6;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A view of a UDP header at the start of a buffer.
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

    pub fn check_len(&self) -> Result<(), ParseError> {
        let found = self.buffer.as_ref().len();
        if found < HEADER_LEN {
            return Err(ParseError::Truncated {
                layer: Layer::Udp,
                offset: 0,
                needed: HEADER_LEN,
                found,
            });
        }
        Ok(())
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_every_length() {
        let b = [0u8; HEADER_LEN];
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&b[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Udp,
                    offset: 0,
                    needed: 8,
                    found: n
                }
            );
        }
    }

    #[test]
    fn fields_round_trip() {
        let mut b = [0u8; HEADER_LEN];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(53);
        p.set_dst_port(5353);
        p.set_len(100);
        p.set_checksum(0xffff);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (53, 5353, 100, 0xffff)
        );
    }
}
