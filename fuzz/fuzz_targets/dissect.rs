//! The wire parser never panics, and what it accepts is self-consistent:
//! every offset lies inside the frame and views at those offsets read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpkt::wire::{dissect, dissect_head, L4};

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = dissect(data) {
        assert!(l.l3_off < l.l4_off && l.l4_off < l.payload_off && l.payload_off <= l.end);
        assert!(l.end <= data.len());
        let hdr = &data[l.l4_off..l.payload_off];
        match l.l4 {
            L4::Tcp => assert_eq!(usize::from(hdr[12] >> 4) * 4, hdr.len()),
            L4::Udp => assert_eq!(hdr.len(), 8),
        }
    }
    // The head-only variant agrees with the whole-frame one when all bytes are in the head,
    // and never panics when only a prefix is.
    assert_eq!(dissect_head(data, data.len()), dissect(data));
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    if let Ok(l) = dissect_head(&data[..cut], data.len()) {
        assert!(l.payload_off <= cut && l.end <= data.len());
    }
});
