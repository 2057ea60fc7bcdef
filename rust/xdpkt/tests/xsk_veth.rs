//! AF_XDP on a real veth pair between two test-created namespaces: the categories
//! of the kernel's AF_XDP selftest (`xskxceiver`), ported.
//! Privileged: each test skips (with a message) when not root.

mod common;

use std::time::{Duration, Instant};

use common::{in_ns, VethNs};
use xdpkt::xsk::bench::build_udp_frame;
use xdpkt::xsk::{XskConfig, XskSocket};
use xdpkt::Batch;

fn cfg() -> XskConfig {
    XskConfig {
        frames: 1024,
        frame_size: 4096,
        ring_size: 512,
        ..XskConfig::default()
    }
}

fn open(ns: &str, ifname: &str, queue: u32, c: &XskConfig) -> XskSocket {
    in_ns(ns, || XskSocket::open(ifname, queue, c)).unwrap_or_else(|e| panic!("open {ifname}: {e}"))
}

fn frame(size: usize, seq: u64) -> Vec<u8> {
    let mut b = vec![0u8; size];
    assert_eq!(build_udp_frame(&mut b, size, seq), size);
    b
}

fn send_frames(s: &mut XskSocket, frames: &[Vec<u8>]) -> usize {
    let mut sent = 0;
    for chunk in frames.chunks(256) {
        let mut batch = Batch::with_capacity(chunk.len());
        for f in chunk {
            batch
                .push(s.packet_from(f).expect("packet_from"))
                .expect("push");
        }
        sent += s.send(&mut batch).expect("send");
    }
    sent
}

fn recv_n(s: &mut XskSocket, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let umem = s.umem().unwrap();
    let mut out = Vec::new();
    let mut batch = Batch::with_capacity(64);
    let deadline = Instant::now() + timeout;
    while out.len() < n && Instant::now() < deadline {
        let got = s
            .recv_timeout(&mut batch, 64, Duration::from_millis(50))
            .expect("recv");
        if got == 0 {
            continue;
        }
        let mut u = umem.lock().unwrap();
        for p in batch.drain() {
            let mut v = Vec::new();
            u.pool().copy_out(&p, &mut v);
            out.push(v);
            u.pool().release(p);
        }
    }
    out
}

fn assert_places(s: &mut XskSocket) {
    let p = s.places().unwrap();
    assert!(p.is_consistent(), "frame accounting broken: {p:?}");
}

/// Sends `frames` from a's socket and checks b's socket receives them byte-exact, in order.
fn roundtrip(c: &XskConfig, frames: &[Vec<u8>]) {
    let net = VethNs::new();
    let mut rx = open(&net.ns_b, &net.if_b, 0, c);
    let mut tx = open(&net.ns_a, &net.if_a, 0, c);
    eprintln!(
        "rx mode {:?} notes {:?}; tx mode {:?}",
        rx.mode(),
        rx.notes(),
        tx.mode()
    );
    assert_eq!(send_frames(&mut tx, frames), frames.len());
    let got = recv_n(&mut rx, frames.len(), Duration::from_secs(3));
    assert_eq!(
        got.len(),
        frames.len(),
        "received {} of {}",
        got.len(),
        frames.len()
    );
    for (i, (g, f)) in got.iter().zip(frames).enumerate() {
        assert!(
            g == f,
            "packet {i} differs (len {} vs {})",
            g.len(),
            f.len()
        );
    }
    let st = tx.stats().unwrap();
    assert_eq!(st.tx_packets, frames.len() as u64);
    assert_eq!(st.kernel.tx_invalid_descs, 0);
    let sr = rx.stats().unwrap();
    assert_eq!(sr.rx_packets, frames.len() as u64);
    assert_eq!(sr.rx_bad_descs, 0);
    assert_places(&mut tx);
    assert_places(&mut rx);
}

#[test]
fn send_receive_byte_exact_sizes() {
    need_root!();
    let mut frames = Vec::new();
    let mut seq = 0;
    for size in [64usize, 65, 128, 255, 512, 1000, 1024, 1500, 1514] {
        for _ in 0..32 {
            frames.push(frame(size, seq));
            seq += 1;
        }
    }
    roundtrip(&cfg(), &frames);
}
