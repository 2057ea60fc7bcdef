//! AF_XDP on a real veth pair between two test-created namespaces: the categories
//! of the kernel's AF_XDP selftest (`xskxceiver`), ported.
//! Privileged: each test is `#[ignore]`d (run them as root with `--ignored`,
//! as scripts/test.sh does) and fails, saying why, when run without root.

mod xsknet;

use std::sync::Arc;
use std::time::{Duration, Instant};

use xdpkt::xsk::bench::build_udp_frame;
use xdpkt::xsk::{Error, XskConfig, XskSocket};
use xdpkt::Batch;
use xsknet::{in_ns, VethNs};

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
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn send_receive_byte_exact_sizes() {
    xsknet::require_root();
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

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn send_receive_2k_frames() {
    xsknet::require_root();
    let c = XskConfig {
        frame_size: 2048,
        ..cfg()
    };
    let frames: Vec<_> = (0..64)
        .map(|i| frame(64 + (i as usize * 23) % 1451, i))
        .collect();
    roundtrip(&c, &frames);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn single_packet() {
    xsknet::require_root();
    roundtrip(&cfg(), &[frame(64, 42)]);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn tx_ring_smaller_than_batch_wraps_and_kicks() {
    xsknet::require_root();
    // 64-entry rings, 1000 packets in one send: many reservations, kicks, completions.
    let c = XskConfig {
        ring_size: 64,
        frames: 256,
        fill_frames: Some(0),
        ..cfg()
    };
    let frames: Vec<_> = (0..1000)
        .map(|i| frame(60 + (i as usize % 40), i))
        .collect();
    let net = VethNs::new();
    let mut rx = open(
        &net.ns_b,
        &net.if_b,
        0,
        &XskConfig {
            ring_size: 2048,
            frames: 4096,
            ..cfg()
        },
    );
    let mut tx = open(&net.ns_a, &net.if_a, 0, &c);
    let mut batch = Batch::with_capacity(1000);
    for f in &frames[..200] {
        batch.push(tx.packet_from(f).unwrap()).unwrap();
    }
    // 200 frames through a 64-entry TX ring in one call.
    assert_eq!(tx.send(&mut batch).unwrap(), 200);
    assert_eq!(send_frames(&mut tx, &frames[200..]), 800);
    let got = recv_n(&mut rx, 1000, Duration::from_secs(5));
    assert_eq!(got.len(), 1000);
    assert!(got.iter().zip(&frames).all(|(g, f)| g == f));
    let st = tx.stats().unwrap();
    assert_eq!(
        st.places.tx + st.places.completion,
        0,
        "send returned with frames in flight"
    );
    assert_places(&mut tx);
    assert_places(&mut rx);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn poll_rx_wakes_on_arrival_and_times_out() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut rx = open(&net.ns_b, &net.if_b, 0, &cfg());
    let mut tx = open(&net.ns_a, &net.if_a, 0, &cfg());
    let mut batch = Batch::with_capacity(16);
    let t0 = Instant::now();
    assert_eq!(
        rx.recv_timeout(&mut batch, 16, Duration::from_millis(200))
            .unwrap(),
        0
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let f = frame(100, 1);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            send_frames(&mut tx, std::slice::from_ref(&f));
        });
        let t0 = Instant::now();
        let n = rx
            .recv_timeout(&mut batch, 16, Duration::from_secs(5))
            .unwrap();
        assert_eq!(n, 1);
        assert!(t0.elapsed() < Duration::from_secs(3));
    });
    rx.release(&mut batch).unwrap();
    assert_places(&mut rx);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn rx_with_empty_fill_ring_is_counted() {
    xsknet::require_root();
    let net = VethNs::new();
    let c = XskConfig {
        fill_frames: Some(0),
        ..cfg()
    };
    let mut rx = open(&net.ns_b, &net.if_b, 0, &c);
    let mut tx = open(&net.ns_a, &net.if_a, 0, &cfg());
    // Hold every free frame so nothing can reach the fill ring.
    let umem = rx.umem().unwrap();
    let mut held = Vec::new();
    {
        let mut u = umem.lock().unwrap();
        while let Some(f) = u.pool().alloc() {
            held.push(f);
        }
    }
    assert_places(&mut rx);
    let frames: Vec<_> = (0..10).map(|i| frame(64, i)).collect();
    send_frames(&mut tx, &frames);
    assert!(recv_n(&mut rx, 1, Duration::from_millis(300)).is_empty());
    let st = rx.stats().unwrap();
    assert!(st.kernel.rx_fill_ring_empty_descs > 0, "{:?}", st.kernel);
    assert_eq!(st.rx_packets, 0);
    // Give the frames back: reception resumes.
    {
        let mut u = umem.lock().unwrap();
        for f in held.drain(..) {
            u.pool().free(f);
        }
    }
    rx.refill(512).unwrap();
    send_frames(&mut tx, &frames);
    assert_eq!(recv_n(&mut rx, 10, Duration::from_secs(3)), frames);
    assert_places(&mut rx);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn rx_ring_full_is_counted() {
    xsknet::require_root();
    let net = VethNs::new();
    let c = XskConfig {
        ring_size: 64,
        frames: 512,
        fill_frames: Some(64),
        ..cfg()
    };
    let mut rx = open(&net.ns_b, &net.if_b, 0, &c);
    let mut tx = open(&net.ns_a, &net.if_a, 0, &cfg());
    let frames: Vec<_> = (0..200).map(|i| frame(64, i)).collect();
    // Do not receive while sending: the 64-entry RX ring overflows.
    send_frames(&mut tx, &frames);
    std::thread::sleep(Duration::from_millis(100));
    let st = rx.stats().unwrap();
    assert!(
        st.kernel.rx_ring_full > 0 || st.kernel.rx_dropped > 0,
        "{:?}",
        st.kernel
    );
    let got = recv_n(&mut rx, 200, Duration::from_millis(500));
    assert!(got.len() <= 64 + 1 && !got.is_empty(), "got {}", got.len());
    assert!(got.iter().all(|g| frames.contains(g)));
    assert_places(&mut rx);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn invalid_tx_descriptors_are_counted_not_sent() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut rx = open(&net.ns_b, &net.if_b, 0, &cfg());
    let mut tx = open(&net.ns_a, &net.if_a, 0, &cfg());
    let umem_len = 1024u64 * 4096;
    // Past the UMEM, crossing a frame boundary, and longer than a frame.
    assert!(tx.push_raw_tx_desc(umem_len + 4096, 64).unwrap());
    assert!(tx.push_raw_tx_desc(4096 - 32, 64).unwrap());
    assert!(tx.push_raw_tx_desc(0, 5000).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    let st = tx.stats().unwrap();
    assert_eq!(st.kernel.tx_invalid_descs, 3, "{:?}", st.kernel);
    assert!(recv_n(&mut rx, 1, Duration::from_millis(300)).is_empty());
    // Valid traffic still flows afterwards.
    let frames: Vec<_> = (0..5).map(|i| frame(80, i)).collect();
    send_frames(&mut tx, &frames);
    assert_eq!(recv_n(&mut rx, 5, Duration::from_secs(3)), frames);
    assert_places(&mut tx);
    assert_places(&mut rx);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn teardown_50_times_on_the_same_queue() {
    xsknet::require_root();
    let net = VethNs::new();
    let c = XskConfig {
        frames: 256,
        ring_size: 128,
        ..cfg()
    };
    let mut tx = open(&net.ns_a, &net.if_a, 0, &cfg());
    for i in 0..50u64 {
        let mut rx = open(&net.ns_b, &net.if_b, 0, &c);
        if i % 10 == 0 {
            let f = frame(64, i);
            send_frames(&mut tx, std::slice::from_ref(&f));
            assert_eq!(
                recv_n(&mut rx, 1, Duration::from_secs(3)),
                vec![f],
                "round {i}"
            );
        }
        assert_places(&mut rx);
        rx.close();
    }
    assert!(net.xdp_gone(&net.ns_b, &net.if_b));
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn bidirectional() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut a = open(&net.ns_a, &net.if_a, 0, &cfg());
    let mut b = open(&net.ns_b, &net.if_b, 0, &cfg());
    let fa: Vec<_> = (0..300).map(|i| frame(64 + i as usize % 200, i)).collect();
    let fb: Vec<_> = (0..300)
        .map(|i| frame(1400 - i as usize % 200, 1000 + i))
        .collect();
    let (ga, gb) = std::thread::scope(|s| {
        let ha = s.spawn(|| {
            send_frames(&mut a, &fa);
            recv_n(&mut a, 300, Duration::from_secs(5))
        });
        let hb = s.spawn(|| {
            send_frames(&mut b, &fb);
            recv_n(&mut b, 300, Duration::from_secs(5))
        });
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(ga, fb);
    assert_eq!(gb, fa);
    assert_places(&mut a);
    assert_places(&mut b);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn shared_umem_forwards_without_copy() {
    xsknet::require_root();
    let net = VethNs::with_queues(2);
    let c = cfg();
    // A side: a sender on queue 0, a receiver on queue 1 (one XDP program for both).
    let mut a0 = open(&net.ns_a, &net.if_a, 0, &c);
    let mut a1 = open(&net.ns_a, &net.if_a, 1, &c);
    // B side: x on queue 0 and y on queue 1 share x's UMEM.
    let x = open(&net.ns_b, &net.if_b, 0, &c);
    let (mut x, mut y) = in_ns(&net.ns_b, || {
        let y = XskSocket::open_shared(&net.if_b, 1, &c, &x);
        (x, y)
    });
    let y = y.as_mut().unwrap_or_else(|e| panic!("open_shared: {e}"));
    let frames: Vec<_> = (0..100).map(|i| frame(64 + i as usize * 7, i)).collect();
    send_frames(&mut a0, &frames);
    let mut batch = Batch::with_capacity(64);
    let mut forwarded = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while forwarded < 100 && Instant::now() < deadline {
        let n = x
            .recv_timeout(&mut batch, 64, Duration::from_millis(50))
            .unwrap();
        if n > 0 {
            // The frames x received go out on y as they are: same UMEM, no copy.
            forwarded += y.send(&mut batch).unwrap();
        }
    }
    assert_eq!(forwarded, 100);
    assert_eq!(recv_n(&mut a1, 100, Duration::from_secs(3)), frames);
    let px = x.places().unwrap();
    let py = y.places().unwrap();
    assert!(px.is_consistent() && py.is_consistent(), "{px:?} {py:?}");
    assert_eq!(px.total, 1024);
    // Closing x returns its fill frames; y keeps working on the shared UMEM.
    x.close();
    send_frames(&mut a0, &frames[..1]);
    assert_places(y);
    assert_places(&mut a1);
}

/// Two ports, one UMEM: the forwarder's ends of two veth pairs live in one namespace;
/// what port A receives leaves on port B (and B's on A) through `forward`, same
/// frames, no copy. Byte-exact in both directions, accounting consistent throughout.
#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn two_port_forward_through_shared_umem() {
    xsknet::require_root();
    let n1 = VethNs::new(); // gen A (n1.ns_a) <-> port A (n1.if_b in n1.ns_b)
    let n2 = VethNs::new(); // gen B (n2.ns_a) <-> port B (n2.if_b, moved to n1.ns_b)
    n2.move_b_to(&n1.ns_b);
    let c = cfg();
    let mut gen_a = open(&n1.ns_a, &n1.if_a, 0, &c);
    let mut gen_b = open(&n2.ns_a, &n2.if_a, 0, &c);
    let pa = open(&n1.ns_b, &n1.if_b, 0, &c);
    let (mut pa, pb) = in_ns(&n1.ns_b, || {
        let pb = XskSocket::open_shared(&n2.if_b, 0, &c, &pa);
        (pa, pb)
    });
    let mut pb = pb.unwrap_or_else(|e| panic!("open_shared: {e}"));
    assert_eq!(pb.mode().unwrap(), pa.mode().unwrap());
    assert!(Arc::ptr_eq(&pa.umem().unwrap(), &pb.umem().unwrap()));
    let fwd_a: Vec<_> = (0..300)
        .map(|i| frame(60 + (i as usize * 37) % 1455, i))
        .collect();
    let fwd_b: Vec<_> = (0..200)
        .map(|i| frame(1514 - i as usize, 1000 + i))
        .collect();
    assert_eq!(send_frames(&mut gen_a, &fwd_a), fwd_a.len());
    assert_eq!(send_frames(&mut gen_b, &fwd_b), fwd_b.len());
    let (mut ab, mut ba) = (0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (ab < fwd_a.len() || ba < fwd_b.len()) && Instant::now() < deadline {
        ab += pa.forward(Some(&mut pb), 64, |_| {}).unwrap().0;
        ba += pb.forward(Some(&mut pa), 64, |_| {}).unwrap().0;
        let (x, y) = (pa.places().unwrap(), pb.places().unwrap());
        // tx vs completion is exact only for the socket asking; the sums always hold.
        assert!(
            x.is_consistent() && y.is_consistent() && x.tx + x.completion == y.tx + y.completion,
            "accounting: {x:?} vs {y:?}"
        );
        pa.poll_rx(Some(&pb), Duration::from_millis(10)).unwrap();
    }
    assert_eq!((ab, ba), (fwd_a.len(), fwd_b.len()));
    pa.flush().unwrap();
    pb.flush().unwrap();
    assert_eq!(
        recv_n(&mut gen_b, fwd_a.len(), Duration::from_secs(3)),
        fwd_a
    );
    assert_eq!(
        recv_n(&mut gen_a, fwd_b.len(), Duration::from_secs(3)),
        fwd_b
    );
    let (sa, sb) = (pa.stats().unwrap(), pb.stats().unwrap());
    assert_eq!((sa.rx_packets, sa.tx_packets), (300, 200));
    assert_eq!((sb.rx_packets, sb.tx_packets), (200, 300));
    assert_eq!(sa.rx_bad_descs + sb.rx_bad_descs, 0);
    assert_eq!(sa.kernel.tx_invalid_descs + sb.kernel.tx_invalid_descs, 0);
    // Nothing in flight any more: every frame is free or lent to a fill ring.
    let p = pa.places().unwrap();
    assert!(p.is_consistent(), "{p:?}");
    assert_eq!((p.tx, p.completion, p.user), (0, 0, 0), "{p:?}");
    assert_eq!(p.free + p.fill, 1024);
    // Forward refuses a socket of another UMEM.
    assert!(matches!(
        pa.forward(Some(&mut gen_a), 64, |_| {}),
        Err(Error::Config(_))
    ));
    pb.close();
    assert_places(&mut pa);
}

/// Same-port l2fwd (xdpsock style): frames come back to the sender with MACs swapped.
#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn one_way_forward_with_a_umem_no_larger_than_a_ring() {
    // Frames that port A receives and forwards to port B complete on B, and must come
    // back to A's fill ring: on B's, where nothing arrives, they would pile up until A
    // had none left (here the whole UMEM fits one ring).
    xsknet::require_root();
    let n1 = VethNs::new();
    let n2 = VethNs::new();
    n2.move_b_to(&n1.ns_b);
    let small = XskConfig {
        frames: 512,
        ring_size: 512,
        ..cfg()
    };
    let mut gen_a = open(&n1.ns_a, &n1.if_a, 0, &cfg());
    let mut gen_b = open(&n2.ns_a, &n2.if_a, 0, &cfg());
    let pa = open(&n1.ns_b, &n1.if_b, 0, &small);
    let (mut pa, pb) = in_ns(&n1.ns_b, || {
        let pb = XskSocket::open_shared(&n2.if_b, 0, &small, &pa);
        (pa, pb)
    });
    let mut pb = pb.unwrap_or_else(|e| panic!("open_shared: {e}"));
    let total = 3000usize; // six times the UMEM
    let (mut sent, mut fwd, mut got) = (0usize, 0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < total && Instant::now() < deadline {
        if sent < total && sent - got < 200 {
            let burst: Vec<_> = (sent..(sent + 100).min(total))
                .map(|i| frame(80, i as u64))
                .collect();
            sent += send_frames(&mut gen_a, &burst);
        }
        fwd += pa.forward(Some(&mut pb), 64, |_| {}).unwrap().0;
        let _ = pb.forward(Some(&mut pa), 64, |_| {}).unwrap();
        got += recv_n(&mut gen_b, 1, Duration::from_millis(1)).len();
        got += recv_n(
            &mut gen_b,
            sent.saturating_sub(got).min(64),
            Duration::from_millis(5),
        )
        .len();
        let p = pa.places().unwrap();
        assert!(p.is_consistent(), "{p:?}");
    }
    assert_eq!(got, total, "forwarded {fwd}; A {:?}", pa.stats().unwrap());
    let p = pa.places().unwrap();
    assert!(p.is_consistent(), "{p:?}");
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn forward_to_a_vanished_port_names_that_port() {
    xsknet::require_root();
    let n1 = VethNs::new();
    let n2 = VethNs::new();
    n2.move_b_to(&n1.ns_b);
    let c = cfg();
    let mut gen_a = open(&n1.ns_a, &n1.if_a, 0, &c);
    let pa = open(&n1.ns_b, &n1.if_b, 0, &c);
    let (mut pa, pb) = in_ns(&n1.ns_b, || {
        let pb = XskSocket::open_shared(&n2.if_b, 0, &c, &pa);
        (pa, pb)
    });
    let mut pb = pb.unwrap_or_else(|e| panic!("open_shared: {e}"));
    // Port B's veth goes away (deleting its peer in gen B's namespace takes both ends).
    let ok = std::process::Command::new("ip")
        .args(["-n", &n2.ns_a, "link", "del", &n2.if_a])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let frames: Vec<_> = (0..32).map(|i| frame(100, i)).collect();
    assert_eq!(send_frames(&mut gen_a, &frames), frames.len());
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        match pa.forward(Some(&mut pb), 64, |_| {}) {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => {
                pa.poll_rx(None, Duration::from_millis(10)).unwrap();
            }
            Ok(_) => panic!("forwarding to a vanished port never failed"),
        }
    };
    assert!(matches!(err, Error::InterfaceGone { .. }), "{err:?}");
    assert!(err.to_string().contains(&n2.if_b), "{err}");
    // The destination is torn down; the source keeps working and accounts its frames.
    assert!(pb.stats().is_err());
    assert!(pa.stats().is_ok());
    assert_places(&mut pa);
    assert_eq!(send_frames(&mut gen_a, &frames[..4]), 4);
    assert_eq!(recv_n(&mut pa, 4, Duration::from_secs(3)), &frames[..4]);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn same_port_forward_swaps_macs() {
    xsknet::require_root();
    let net = VethNs::new();
    let c = cfg();
    let mut gen = open(&net.ns_a, &net.if_a, 0, &c);
    let mut fwd = open(&net.ns_b, &net.if_b, 0, &c);
    let frames: Vec<_> = (0..256).map(|i| frame(64 + i as usize, i)).collect();
    assert_eq!(send_frames(&mut gen, &frames), frames.len());
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while n < frames.len() && Instant::now() < deadline {
        n += fwd
            .forward(None, 32, xdpkt::xsk::bench::swap_macs)
            .unwrap()
            .0;
        assert_places(&mut fwd);
        fwd.poll_rx(None, Duration::from_millis(10)).unwrap();
    }
    assert_eq!(n, frames.len());
    fwd.flush().unwrap();
    let back = recv_n(&mut gen, frames.len(), Duration::from_secs(3));
    let want: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut f = f.clone();
            xdpkt::xsk::bench::swap_macs(&mut f);
            f
        })
        .collect();
    assert_eq!(back, want);
    assert_ne!(back[0][..6], frames[0][..6]);
    let p = fwd.places().unwrap();
    assert_eq!((p.tx, p.completion, p.user), (0, 0, 0), "{p:?}");
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn program_detached_after_close_and_drop() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut s = open(&net.ns_b, &net.if_b, 0, &cfg());
    assert!(net.has_xdp(&net.ns_b, &net.if_b));
    assert!(s.owns_program());
    s.close();
    assert!(net.xdp_gone(&net.ns_b, &net.if_b));
    let s = open(&net.ns_b, &net.if_b, 0, &cfg());
    assert!(net.has_xdp(&net.ns_b, &net.if_b));
    drop(s);
    assert!(net.xdp_gone(&net.ns_b, &net.if_b));
}

/// Child side of `program_detached_after_sigkill`: holds a socket until killed.
#[test]
#[ignore = "run by program_detached_after_sigkill as a child process"]
fn child_holds_socket() {
    let (Ok(ns), Ok(ifname)) = (
        std::env::var("XDPKT_CHILD_NS"),
        std::env::var("XDPKT_CHILD_IF"),
    ) else {
        return;
    };
    let _s = open(&ns, &ifname, 0, &cfg());
    println!("READY");
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn program_detached_after_sigkill() {
    xsknet::require_root();
    let net = VethNs::new();
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_holds_socket", "--ignored", "--nocapture"])
        .env("XDPKT_CHILD_NS", &net.ns_b)
        .env("XDPKT_CHILD_IF", &net.if_b)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !net.has_xdp(&net.ns_b, &net.if_b) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(net.has_xdp(&net.ns_b, &net.if_b), "child never attached");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while net.has_xdp(&net.ns_b, &net.if_b) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !net.has_xdp(&net.ns_b, &net.if_b),
        "program left behind after SIGKILL"
    );
    // And the queue is free again.
    let mut s = open(&net.ns_b, &net.if_b, 0, &cfg());
    assert_places(&mut s);
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn closed_socket_errors_and_never_touches_a_reused_fd() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut s = open(&net.ns_b, &net.if_b, 0, &cfg());
    let old = s.raw_fd().unwrap();
    s.close();
    s.close();
    // Take the number back with a pipe, then poke every method of the closed socket.
    let mut fds = Vec::new();
    let mut reused = None;
    for _ in 0..8 {
        let (r, w) = std::io::pipe().unwrap();
        use std::os::fd::AsRawFd;
        if r.as_raw_fd() == old || w.as_raw_fd() == old {
            reused = Some((r, w));
            break;
        }
        fds.push((r, w));
    }
    let mut batch = Batch::with_capacity(4);
    assert_eq!(s.recv(&mut batch, 4), Err(Error::Closed));
    assert_eq!(
        s.recv_timeout(&mut batch, 4, Duration::from_millis(10)),
        Err(Error::Closed)
    );
    assert_eq!(s.send(&mut batch), Err(Error::Closed));
    assert!(matches!(s.stats(), Err(Error::Closed)));
    assert_eq!(s.raw_fd(), Err(Error::Closed));
    assert!(s.packet_from(&[0u8; 64]).is_err());
    if let Some((mut r, mut w)) = reused {
        use std::io::{Read, Write};
        w.write_all(b"ok").unwrap();
        let mut b = [0u8; 2];
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ok");
    }
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn close_from_another_thread_wakes_recv() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut s = open(&net.ns_b, &net.if_b, 0, &cfg());
    let waker = s.waker();
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        sc.spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            waker.wake();
        });
        let mut batch = Batch::with_capacity(4);
        assert_eq!(
            s.recv_timeout(&mut batch, 4, Duration::from_secs(10)),
            Err(Error::Closed)
        );
    });
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(s.is_closed());
    assert!(net.xdp_gone(&net.ns_b, &net.if_b));
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn interface_gone_is_reported_and_frees_everything() {
    xsknet::require_root();
    let net = VethNs::new();
    let mut s = open(&net.ns_b, &net.if_b, 0, &cfg());
    net.delete_link();
    let mut batch = Batch::with_capacity(4);
    let e = s
        .recv_timeout(&mut batch, 4, Duration::from_secs(2))
        .unwrap_err();
    assert!(matches!(e, Error::InterfaceGone { .. }), "{e:?}");
    assert!(s.is_closed());
    assert!(matches!(s.stats(), Err(Error::InterfaceGone { .. })));
    assert!(e.to_string().contains(&net.if_b));
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn named_errors() {
    xsknet::require_root();
    let net = VethNs::new();
    let e = in_ns(&net.ns_b, || XskSocket::open("xdpkt-nope0", 0, &cfg())).unwrap_err();
    assert!(matches!(e, Error::NoSuchInterface { .. }), "{e:?}");
    let e = in_ns(&net.ns_b, || XskSocket::open(&net.if_b, 9, &cfg())).unwrap_err();
    assert!(matches!(e, Error::NoSuchQueue { queue: 9, .. }), "{e:?}");
    let _s = open(&net.ns_b, &net.if_b, 0, &cfg());
    let t0 = Instant::now();
    let e = in_ns(&net.ns_b, || XskSocket::open(&net.if_b, 0, &cfg())).unwrap_err();
    assert!(matches!(e, Error::QueueBusy { queue: 0, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("queue 0 of {} already has an AF_XDP socket", net.if_b)
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    let zc = XskConfig {
        mode: xdpkt::xsk::Mode::ZeroCopy,
        ..cfg()
    };
    let e = in_ns(&net.ns_a, || XskSocket::open(&net.if_a, 0, &zc)).unwrap_err();
    assert!(matches!(e, Error::ModeUnsupported { .. }), "{e:?}");
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn users_own_program_and_xskmap() {
    xsknet::require_root();
    use std::os::fd::AsRawFd;
    use xdpkt::bpf;
    use xdpkt::xsk::{prog, sys, XskMapSource};
    let net = VethNs::new();
    // The "user's" program: the same redirect logic, attached in generic mode by the test.
    let (map, _prog, link) = in_ns(&net.ns_b, || {
        let map = bpf::xskmap_create(64, "user_xsks").unwrap();
        let insns = prog::redirect_program(map.as_raw_fd());
        let p =
            bpf::prog_load_xdp(&insns, "Dual MIT/GPL", "user_prog", 0, &mut [0u8; 1024]).unwrap();
        let ifindex = sys::if_nametoindex(&net.if_b);
        let link = bpf::link_create_xdp(&p, ifindex, prog::XDP_FLAGS_SKB_MODE).unwrap();
        (map, p, link)
    });
    // Without xskmap=, the foreign program is reported, not replaced.
    let e = in_ns(&net.ns_b, || XskSocket::open(&net.if_b, 0, &cfg())).unwrap_err();
    assert!(matches!(e, Error::XdpBusy { .. }), "{e:?}");
    let c = XskConfig {
        xskmap: Some(XskMapSource::Fd(map.as_raw_fd())),
        mode: xdpkt::xsk::Mode::Skb,
        ..cfg()
    };
    let mut rx = open(&net.ns_b, &net.if_b, 0, &c);
    assert!(!rx.owns_program());
    let mut tx = open(&net.ns_a, &net.if_a, 0, &cfg());
    let frames: Vec<_> = (0..10).map(|i| frame(70, i)).collect();
    send_frames(&mut tx, &frames);
    assert_eq!(recv_n(&mut rx, 10, Duration::from_secs(3)), frames);
    assert_places(&mut rx);
    rx.close();
    // Closing our socket leaves the user's program alone...
    assert!(net.has_xdp(&net.ns_b, &net.if_b));
    // ...which goes away with the user's own link.
    drop(link);
    assert!(net.xdp_gone(&net.ns_b, &net.if_b));
}

/// Child side of `users_pinned_xskmap`: runs in a private mount namespace with a
/// bpffs at `XDPKT_CHILD_BPFFS`, so the pin (and the mount) vanish with the child.
#[test]
#[ignore = "run by users_pinned_xskmap as a child process"]
fn child_pinned_xskmap() {
    use std::os::fd::AsRawFd;
    use xdpkt::bpf;
    use xdpkt::xsk::{prog, sys, XskMapSource};
    let (Ok(ns_a), Ok(if_a), Ok(ns_b), Ok(if_b), Ok(dir)) = (
        std::env::var("XDPKT_CHILD_NS_A"),
        std::env::var("XDPKT_CHILD_IF_A"),
        std::env::var("XDPKT_CHILD_NS"),
        std::env::var("XDPKT_CHILD_IF"),
        std::env::var("XDPKT_CHILD_BPFFS"),
    ) else {
        return;
    };
    let pin = format!("{dir}/user_xsks");
    // The "user's" setup: an XSKMAP pinned on bpffs and a redirect program using it.
    let (_prog, link) = in_ns(&ns_b, || {
        let map = bpf::xskmap_create(64, "user_xsks").unwrap();
        bpf::obj_pin(&map, &pin).unwrap();
        let insns = prog::redirect_program(map.as_raw_fd());
        let p =
            bpf::prog_load_xdp(&insns, "Dual MIT/GPL", "user_prog", 0, &mut [0u8; 1024]).unwrap();
        let link =
            bpf::link_create_xdp(&p, sys::if_nametoindex(&if_b), prog::XDP_FLAGS_SKB_MODE).unwrap();
        (p, link) // the map fd closes here: only the pin and the program hold the map
    });
    // A path that is not a pinned object is a clear error, not a crash.
    let bad = XskConfig {
        xskmap: Some(XskMapSource::Pinned(format!("{dir}/nothing_here"))),
        mode: xdpkt::xsk::Mode::Skb,
        ..cfg()
    };
    let e = in_ns(&ns_b, || XskSocket::open(&if_b, 0, &bad)).unwrap_err();
    assert!(e.to_string().contains("BPF_OBJ_GET"), "{e}");
    let c = XskConfig {
        xskmap: Some(XskMapSource::Pinned(pin.clone())),
        mode: xdpkt::xsk::Mode::Skb,
        ..cfg()
    };
    let mut rx = open(&ns_b, &if_b, 0, &c);
    assert!(!rx.owns_program());
    let mut tx = open(&ns_a, &if_a, 0, &cfg());
    let frames: Vec<_> = (0..10).map(|i| frame(90, i)).collect();
    send_frames(&mut tx, &frames);
    assert_eq!(recv_n(&mut rx, 10, Duration::from_secs(3)), frames);
    assert_places(&mut rx);
    rx.close();
    drop(link);
    println!("PINNED-OK");
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn users_pinned_xskmap() {
    xsknet::require_root();
    let net = VethNs::new();
    let dir = std::env::temp_dir().join(format!("xdpkt-bpffs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    if std::process::Command::new("unshare")
        .arg("--help")
        .output()
        .is_err()
    {
        let _ = std::fs::remove_dir(&dir);
        panic!("needs unshare(1) (util-linux) to make a private mount namespace for bpffs");
    }
    // unshare -m: the bpffs mount exists only in the child's private mount namespace.
    let script = r#"mount -t bpf bpf "$XDPKT_CHILD_BPFFS" && exec "$0" --exact child_pinned_xskmap --ignored --nocapture --test-threads 1"#;
    let mut child = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .arg(exe)
        .env("XDPKT_CHILD_NS_A", &net.ns_a)
        .env("XDPKT_CHILD_IF_A", &net.if_a)
        .env("XDPKT_CHILD_NS", &net.ns_b)
        .env("XDPKT_CHILD_IF", &net.if_b)
        .env("XDPKT_CHILD_BPFFS", &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a child stuck on a kernel call is killed, and the test fails. (Its
    // output is a few lines, far below a pipe's buffer, so waiting first is safe.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("PINNED-OK"),
        "child failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing left: no program on the interface, no bpffs mount in our namespace.
    assert!(net.xdp_gone(&net.ns_b, &net.if_b));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(dir.to_str().unwrap()));
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn multi_buffer_jumbo_frames_byte_exact() {
    xsknet::require_root();
    let net = VethNs::new();
    for (ns, ifname) in [(&net.ns_a, &net.if_a), (&net.ns_b, &net.if_b)] {
        let ok = std::process::Command::new("ip")
            .args(["-n", ns, "link", "set", ifname, "mtu", "9000"])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let c = XskConfig {
        multi_buffer: true,
        frame_size: 4096,
        ..cfg()
    };
    let mut rx = open(&net.ns_b, &net.if_b, 0, &c);
    let mut tx = open(&net.ns_a, &net.if_a, 0, &c);
    // A frags-aware program attaches natively even though the peer MTU exceeds one page.
    assert_eq!(rx.mode(), Ok(xdpkt::xsk::Mode::Copy), "{:?}", rx.notes());
    let sizes = [64usize, 1514, 3000, 4096, 5000, 8000, 9014];
    let frames: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| frame(n, i as u64))
        .collect();
    assert_eq!(send_frames(&mut tx, &frames), frames.len());
    let got = recv_n(&mut rx, frames.len(), Duration::from_secs(3));
    assert_eq!(got.len(), frames.len(), "{:?}", rx.stats().unwrap().kernel);
    for (g, f) in got.iter().zip(&frames) {
        assert!(g == f, "len {} vs {}", g.len(), f.len());
    }
    // Budget 1: each RX burst takes one descriptor, so the packet is assembled across bursts.
    send_frames(&mut tx, &frames[6..]);
    let umem = rx.umem().unwrap();
    let mut batch = Batch::with_capacity(1);
    let deadline = Instant::now() + Duration::from_secs(3);
    while batch.is_empty() && Instant::now() < deadline {
        rx.recv_timeout(&mut batch, 1, Duration::from_millis(50))
            .unwrap();
    }
    {
        let mut u = umem.lock().unwrap();
        let p = batch.pop().unwrap();
        assert_eq!(p.nframes(), 3);
        let mut v = Vec::new();
        u.pool().copy_out(&p, &mut v);
        assert!(v == frames[6]);
        u.pool().release(p);
    }
    assert_places(&mut tx);
    assert_places(&mut rx);
}
