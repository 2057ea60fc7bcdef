//! TCP header view (RFC 9293).

use super::{be16, be32, put16, put32, Layer, ParseError};

pub const MIN_HEADER_LEN: usize = 20;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    /// Data offset (high nibble), reserved bits and the AE flag.
    pub const DOFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URG_PTR: usize = 18;
}

/// Byte offset of the checksum field inside the TCP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;
/// Byte offset of the data-offset/flags/window word (the word `tcp_gro_receive` compares).
pub const FLAG_WORD_OFFSET: usize = field::DOFF;

/// A view of a TCP header at the start of a buffer.
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

    /// Checks that the fixed header and the options (data offset) fit.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let found = self.buffer.as_ref().len();
        if found < MIN_HEADER_LEN {
            return Err(ParseError::Truncated {
                layer: Layer::Tcp,
                offset: 0,
                needed: MIN_HEADER_LEN,
                found,
            });
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN || hl > found {
            return Err(ParseError::TcpHeaderLen {
                offset: 0,
                len: hl,
                available: found,
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
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DOFF] >> 4) * 4
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// The 32-bit word at offset 12: data offset, flags, window.
    pub fn flag_word(&self) -> u32 {
        be32(self.buffer.as_ref(), field::DOFF)
    }
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn urg_ptr(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URG_PTR)
    }
    /// Option bytes (between the fixed header and the data offset).
    pub fn options(&self) -> &[u8] {
        let hl = self.header_len().clamp(
            MIN_HEADER_LEN,
            self.buffer.as_ref().len().max(MIN_HEADER_LEN),
        );
        &self.buffer.as_ref()[MIN_HEADER_LEN..hl]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }
    pub fn set_seq(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ, v);
    }
    pub fn set_ack(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK, v);
    }
    /// Sets the data offset from a byte length (multiple of 4), keeping the low nibble.
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DOFF];
        *b = (((len / 4) as u8) << 4) | (*b & 0x0f);
    }
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    pub fn set_window(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::WINDOW, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    pub fn set_urg_ptr(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::URG_PTR, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_every_length() {
        let mut b = [0u8; 32];
        b[12] = 0x80; // doff 8 = 32 bytes
        for n in 0..MIN_HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&b[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Tcp,
                    offset: 0,
                    needed: 20,
                    found: n
                }
            );
        }
        for n in MIN_HEADER_LEN..32 {
            assert_eq!(
                Packet::new_checked(&b[..n]).unwrap_err(),
                ParseError::TcpHeaderLen {
                    offset: 0,
                    len: 32,
                    available: n
                }
            );
        }
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options().len(), 12);
    }

    #[test]
    fn short_doff_is_named() {
        let mut b = [0u8; 20];
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::TcpHeaderLen {
                offset: 0,
                len: 16,
                available: 20
            }
        );
    }

    #[test]
    fn fields_round_trip() {
        let mut b = [0u8; 20];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(1000);
        p.set_dst_port(2000);
        p.set_seq(0xdead_beef);
        p.set_ack(7);
        p.set_header_len(20);
        p.set_flags(ACK | PSH);
        p.set_window(512);
        p.set_urg_ptr(3);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (1000, 2000));
        assert_eq!((p.seq(), p.ack()), (0xdead_beef, 7));
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.flags(), ACK | PSH);
        assert_eq!(p.window(), 512);
        assert_eq!(p.urg_ptr(), 3);
        assert_eq!(p.flag_word(), 0x5018_0200);
    }
}
