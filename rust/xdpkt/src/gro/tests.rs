//! GRO unit tests, organised after the kernel selftest
//! `tools/testing/selftests/drivers/net/gro.c` (data, ack, flags, tcp, ip,
//! large), each for IPv4 and IPv6, plus the rules that selftest does not cover.

use super::testkit::{verify, SegSpec};
use super::*;
use crate::wire::dissect;
use crate::wire::tcp::{ACK, CWR, FIN, PSH, RST, SYN, URG};

const FRAMES: u32 = 512;

#[derive(Debug)]
struct Out {
    bytes: Vec<u8>,
    gso_size: u16,
    gso_segs: u16,
    gso_type: GsoType,
    fixed_id: bool,
    csum: CsumState,
}

impl Out {
    /// L4 payload length (usize::MAX for frames that do not parse).
    fn payload(&self) -> usize {
        dissect(&self.bytes).map_or(usize::MAX, |l| l.payload_len())
    }
    fn payload_bytes(&self) -> Vec<u8> {
        let l = dissect(&self.bytes).unwrap();
        self.bytes[l.payload_off..l.end].to_vec()
    }
}

/// One NAPI poll over `frames`; checks frame accounting and stats conservation.
fn run_cfg(cfg: GroConfig, frames: &[Vec<u8>]) -> (Vec<Out>, GroStats) {
    let mut pool = FramePool::heap(FRAMES, 8192);
    let mut gro = Gro::new(cfg);
    let mut input = Batch::with_capacity(frames.len().max(1));
    for f in frames {
        input.push(pool.packet_from(f).unwrap()).unwrap();
    }
    let mut out = Batch::with_capacity(frames.len() + 1);
    coalesce(&mut gro, &mut pool, &mut input, &mut out);
    assert!(input.is_empty());
    assert_eq!(gro.held(), 0);
    let mut res = Vec::new();
    for p in out.drain() {
        let mut bytes = Vec::new();
        pool.copy_out(&p, &mut bytes);
        res.push(Out {
            bytes,
            gso_size: p.gso_size,
            gso_segs: p.gso_segs,
            gso_type: p.gso_type,
            fixed_id: p.gso_fixed_id,
            csum: p.csum,
        });
        pool.release(p);
    }
    assert_eq!(pool.free_count(), FRAMES as usize, "frames leaked");
    let s = *gro.stats();
    assert_eq!(s.packets_in, frames.len() as u64);
    assert_eq!(s.packets_in, s.packets_out + s.merged);
    assert_eq!(s.packets_out, res.len() as u64);
    for o in &res {
        if o.gso_segs > 1 {
            verify(&o.bytes).unwrap();
            assert_eq!(o.csum, CsumState::Unnecessary);
        }
    }
    (res, s)
}

fn run(frames: &[Vec<u8>]) -> (Vec<Out>, GroStats) {
    run_cfg(GroConfig::default(), frames)
}

fn sizes(outs: &[Out]) -> Vec<usize> {
    outs.iter().map(Out::payload).collect()
}

type Mk = fn(u32, usize) -> SegSpec;
const BOTH: [(&str, Mk); 2] = [("v4", SegSpec::tcp4), ("v6", SegSpec::tcp6)];
const PL: usize = 100;

/// The selftest's closing FIN (seq 200, no payload).
fn fin(mk: Mk) -> Vec<u8> {
    SegSpec {
        flags: ACK | FIN,
        ..mk(2 * PL as u32, 0)
    }
    .build()
}

// ---- data_* ------------------------------------------------------------------

#[test]
fn data_same_size_coalesces() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let (o, _) = run(&[a.build(), a.next(PL).build(), fin(mk)]);
        assert_eq!(sizes(&o), [2 * PL, 0], "{name}");
        assert_eq!((o[0].gso_size, o[0].gso_segs), (PL as u16, 2), "{name}");
        let want_type = if name == "v4" {
            GsoType::TcpV4
        } else {
            GsoType::TcpV6
        };
        assert_eq!(o[0].gso_type, want_type);
    }
}

#[test]
fn data_large_then_small_coalesces_and_flushes() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let (o, s) = run(&[a.build(), a.next(PL / 2).build()]);
        assert_eq!(sizes(&o), [PL + PL / 2], "{name}");
        assert_eq!((s.merged, s.aggregates), (1, 1));
    }
}

#[test]
fn data_small_then_large_does_not() {
    for (name, mk) in BOTH {
        let a = mk(0, PL / 2);
        let (o, _) = run(&[a.build(), a.next(PL).build()]);
        assert_eq!(sizes(&o), [PL / 2, PL], "{name}");
        assert!(o.iter().all(|o| o.gso_segs == 0));
    }
}

// ---- ack -----------------------------------------------------------------------

#[test]
fn pure_acks_never_coalesce() {
    for (name, mk) in BOTH {
        let ack = mk(0, 0);
        let ack2 = SegSpec {
            ack: 1001,
            ..mk(0, 0)
        };
        let frames = [ack.build(), ack.build(), ack2.build()];
        let (o, s) = run(&frames);
        assert_eq!(sizes(&o), [0, 0, 0], "{name}");
        for (o, f) in o.iter().zip(&frames) {
            assert_eq!(&o.bytes, f);
        }
        assert_eq!(s.reason("pure_ack"), 3);
    }
}

#[test]
fn pure_ack_of_a_held_flow_flushes_it_first() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let ack = SegSpec {
            ack: 1001,
            ..mk(PL as u32 * 2, 0)
        };
        let (o, _) = run(&[a.build(), a.next(PL).build(), ack.build()]);
        assert_eq!(sizes(&o), [2 * PL, 0], "{name}");
    }
}

// ---- flags_* ---------------------------------------------------------------------

/// The selftest's `send_flags`: 5 segments, the flagged one(s) in the middle.
fn flags_case(mk: Mk, flag: u8) -> Vec<Vec<u8>> {
    let flagged_len = if flag & (PSH | CWR) != 0 { PL } else { 0 };
    let cwr = flag == CWR;
    (0..5u32)
        .map(|i| {
            let flagged = i == 2 || (cwr && i == 1);
            if flagged {
                let mut s = mk(i * flagged_len as u32, flagged_len);
                s.flags |= flag;
                s.build()
            } else {
                mk(i * PL as u32, PL).build()
            }
        })
        .collect()
}

#[test]
fn flags_psh_ends_coalescing() {
    for (name, mk) in BOTH {
        let (o, _) = run(&flags_case(mk, PSH));
        assert_eq!(sizes(&o), [3 * PL, 2 * PL], "{name}");
        // PSH of the last merged segment is ORed into the head.
        let l = dissect(&o[0].bytes).unwrap();
        assert_eq!(o[0].bytes[l.l4_off + 13], ACK | PSH);
    }
}

#[test]
fn flags_syn_rst_urg_end_coalescing() {
    for flag in [SYN, RST, URG] {
        for (name, mk) in BOTH {
            let (o, s) = run(&flags_case(mk, flag));
            assert_eq!(sizes(&o), [2 * PL, 0, 2 * PL], "{name} flag {flag:#x}");
            assert_eq!(s.reason("pure_ack"), 1);
        }
    }
}

#[test]
fn flags_with_payload_and_no_held_flow_pass_through() {
    for flag in [SYN, RST, URG, PSH, FIN] {
        for (name, mk) in BOTH {
            let mut s = mk(0, PL);
            s.flags |= flag;
            let f = s.build();
            let (o, st) = run(std::slice::from_ref(&f));
            assert_eq!(o[0].bytes, f, "{name}");
            assert_eq!(st.reason("tcp_flags"), 1);
        }
    }
}

#[test]
fn flags_fin_merges_and_flushes() {
    // FIN is masked out of the flag-word compare: it merges, is ORed into the
    // head, and the aggregate flushes at once.
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let mut b = a.next(PL);
        b.flags |= FIN;
        let (o, _) = run(&[a.build(), b.build(), a.next(PL).next(PL).build()]);
        assert_eq!(sizes(&o), [2 * PL, PL], "{name}");
        let l = dissect(&o[0].bytes).unwrap();
        assert_eq!(o[0].bytes[l.l4_off + 13], ACK | FIN);
    }
}

/// Linux 6.18 (`flush = flags & TCP_FLAG_CWR` and the flag word compared
/// except FIN/PSH): a CWR segment flushes the held one and is never merged
/// with anything. (Newer kernels merge CWR segments with each other; the
/// selftest of those expects 100, 200, 200 here.)
#[test]
fn flags_cwr_is_never_merged() {
    for (name, mk) in BOTH {
        let (o, _) = run(&flags_case(mk, CWR));
        assert_eq!(sizes(&o), [PL, PL, PL, 2 * PL], "{name}");
        assert!(o[1..3].iter().all(|o| o.gso_segs == 0));
    }
}

// ---- tcp_* ---------------------------------------------------------------------

#[test]
fn tcp_bad_checksum_passes_without_flushing() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let bad = SegSpec {
            bad_l4_csum: true,
            ..a.next(PL)
        };
        let (o, s) = run(&[a.build(), bad.build()]);
        // The bad one leaves first: the held packet is not flushed for it.
        assert_eq!(o[0].bytes, bad.build(), "{name}");
        assert_eq!(o[1].bytes, a.build(), "{name}");
        assert_eq!(s.reason("tcp_csum"), 1);
    }
}

#[test]
fn tcp_seq_gap_and_out_of_order_do_not_merge() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let gap = mk(PL as u32 + 1, PL);
        let (o, _) = run(&[a.build(), gap.build()]);
        assert_eq!(sizes(&o), [PL, PL], "{name}");
        // Out of order: the earlier segment arrives second; no prepending.
        let (o, _) = run(&[a.next(PL).build(), a.build()]);
        assert_eq!(sizes(&o), [PL, PL], "{name}");
        assert_eq!(o[0].bytes, a.next(PL).build());
    }
}

fn ts_opt(tsval: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&0u32.to_be_bytes());
    o
}

#[test]
fn tcp_timestamp_change_blocks() {
    for (name, mk) in BOTH {
        let mut segs = vec![SegSpec {
            tcp_opts: ts_opt(7),
            ..mk(0, PL)
        }];
        for ts in [7, 8, 9, 10] {
            let n = SegSpec {
                tcp_opts: ts_opt(ts),
                ..segs[segs.len() - 1].next(PL)
            };
            segs.push(n);
        }
        let frames: Vec<_> = segs[..4].iter().map(SegSpec::build).collect();
        let (o, _) = run(&frames);
        assert_eq!(sizes(&o), [2 * PL, PL, PL], "{name}");
    }
}

#[test]
fn tcp_different_options_block() {
    for (name, mk) in BOTH {
        let a = SegSpec {
            tcp_opts: ts_opt(1),
            ..mk(0, PL)
        };
        let b = a.next(PL);
        let c = SegSpec {
            tcp_opts: vec![1, 1, 1, 0],
            ..b.next(PL)
        };
        let (o, _) = run(&[a.build(), b.build(), c.build()]);
        assert_eq!(sizes(&o), [2 * PL, PL], "{name}");
        let l = dissect(&o[0].bytes).unwrap();
        assert_eq!(&o[0].bytes[l.l4_off + 20..l.payload_off], &ts_opt(1)[..]);
    }
}

#[test]
fn tcp_window_ack_doff_changes_block() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        for b in [
            SegSpec {
                window: 503,
                ..a.next(PL)
            },
            SegSpec {
                ack: 2000,
                ..a.next(PL)
            },
            SegSpec {
                flags: ACK | 0x40,
                ..a.next(PL)
            }, // ECE
        ] {
            let (o, _) = run(&[a.build(), b.build()]);
            assert_eq!(sizes(&o), [PL, PL], "{name}");
        }
    }
}

#[test]
fn tcp_doff_below_5_is_malformed() {
    let mut f = SegSpec::tcp4(0, PL).build();
    f[14 + 20 + 12] = 0x40;
    let (o, s) = run(std::slice::from_ref(&f));
    assert_eq!(o[0].bytes, f);
    assert_eq!(s.reason("tcp_header_len"), 1);
}

// ---- ip_* ----------------------------------------------------------------------

#[test]
fn ip_ecn_tos_ttl_changes_block() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        for b in [
            SegSpec {
                tos: 1,
                ..a.next(PL)
            }, // ECN
            SegSpec {
                tos: 0x10,
                ..a.next(PL)
            }, // DSCP
            SegSpec {
                ttl: 63,
                ..a.next(PL)
            }, // TTL / hop limit
        ] {
            let (o, _) = run(&[a.build(), b.build()]);
            assert_eq!(sizes(&o), [PL, PL], "{name}");
        }
    }
}

#[test]
fn ip_options_pass_through_without_flushing() {
    let a = SegSpec::tcp4(0, PL);
    let opt = SegSpec {
        ip_opts: vec![1, 1, 1, 0],
        ..a.next(PL)
    };
    let c = a.next(PL).next(PL);
    let (o, s) = run(&[a.build(), opt.build(), c.build()]);
    assert_eq!(o[0].bytes, opt.build());
    assert_eq!(sizes(&o), [PL, PL, PL]);
    assert_eq!(s.reason("ipv4_options"), 1);
}

#[test]
fn ip_bad_header_checksum_passes_through() {
    let a = SegSpec::tcp4(0, PL);
    let bad = SegSpec {
        bad_ip_csum: true,
        ..a.next(PL)
    };
    let (o, s) = run(&[a.build(), bad.build(), a.next(PL).build()]);
    assert_eq!(o[0].bytes, bad.build());
    assert_eq!(sizes(&o), [PL, 2 * PL]);
    assert_eq!(s.reason("ip_csum"), 1);
}

#[test]
fn ip_frag4_passes_through() {
    let a = SegSpec::tcp4(0, PL);
    for frag in [(true, 0), (false, 100), (true, 7)] {
        let f = SegSpec {
            frag: Some(frag),
            ..a.next(PL)
        };
        let (o, s) = run(&[a.build(), f.build()]);
        assert_eq!(o[0].bytes, f.build());
        assert_eq!(s.reason("fragment"), 1);
    }
}

/// `(df, ids)` → merged payload sizes (selftest `ip_id_df*`).
#[test]
fn ip_id_matrix() {
    let cases: [(bool, [u16; 3], &[usize]); 8] = [
        (true, [10, 11, 12], &[3 * PL]),     // DF=1 incrementing
        (true, [10, 10, 10], &[3 * PL]),     // DF=1 fixed
        (false, [10, 11, 12], &[3 * PL]),    // DF=0 incrementing
        (false, [10, 10, 10], &[3 * PL]),    // DF=0 fixed merges on 6.18
        (true, [10, 11, 11], &[2 * PL, PL]), // incrementing then fixed
        (true, [10, 10, 11], &[2 * PL, PL]), // fixed then incrementing
        (true, [10, 12, 14], &[PL, PL, PL]), // neither
        (true, [0xffff, 0, 1], &[3 * PL]),   // incrementing wraps mod 2^16
    ];
    for (df, ids, want) in cases {
        let a = SegSpec {
            df,
            id: ids[0],
            ..SegSpec::tcp4(0, PL)
        };
        let b = SegSpec {
            id: ids[1],
            ..a.next(PL)
        };
        let c = SegSpec {
            id: ids[2],
            ..b.next(PL)
        };
        let (o, _) = run(&[a.build(), b.build(), c.build()]);
        assert_eq!(sizes(&o), want, "df {df} ids {ids:?}");
        // The aggregate keeps the first ID and records fixed vs incrementing.
        assert_eq!(u16::from_be_bytes([o[0].bytes[18], o[0].bytes[19]]), ids[0]);
        assert_eq!(o[0].fixed_id, ids[0] == ids[1], "df {df} ids {ids:?}");
    }
    // DF mismatch flushes.
    let a = SegSpec::tcp4(0, PL);
    let (o, _) = run(&[
        a.build(),
        SegSpec {
            df: false,
            ..a.next(PL)
        }
        .build(),
    ]);
    assert_eq!(sizes(&o), [PL, PL]);
}

#[test]
fn ip_frag6_passes_through() {
    let a = SegSpec::tcp6(0, PL);
    let frag = SegSpec {
        v6_ext: vec![(44, vec![0, 0, 0, 0, 0, 0])],
        ..a.next(PL)
    };
    let (o, s) = run(&[a.build(), frag.build(), a.next(PL).build()]);
    assert_eq!(o[0].bytes, frag.build());
    assert_eq!(sizes(&o[1..]), [2 * PL]);
    assert_eq!(s.reason("fragment"), 1);
}

#[test]
fn ip_v6ext_same_coalesces_diff_does_not() {
    let ext = |fill: u8| vec![(0u8, vec![fill; 6]), (60u8, vec![1, 4, 0, 0, 0, 0])];
    let a = SegSpec {
        v6_ext: ext(0),
        ..SegSpec::tcp6(0, PL)
    };
    let (o, _) = run(&[a.build(), a.next(PL).build()]);
    assert_eq!(sizes(&o), [2 * PL]);
    let b = SegSpec {
        v6_ext: ext(0x11),
        ..a.next(PL)
    };
    let (o, _) = run(&[a.build(), b.build()]);
    assert_eq!(sizes(&o), [PL, PL]);
}

#[test]
fn ipv6_flow_label_and_payload_len_mismatch() {
    let a = SegSpec::tcp6(0, PL);
    let (o, _) = run(&[
        a.build(),
        SegSpec {
            flow_label: 5,
            ..a.next(PL)
        }
        .build(),
    ]);
    assert_eq!(sizes(&o), [PL, PL]);
    // Trailing bytes beyond payload_len: not merged, the held packet leaves
    // first (6.18, checked on a veth pair).
    let mut trailing = a.next(PL).build();
    trailing.extend_from_slice(&[0; 4]);
    let (o, s) = run(&[a.build(), trailing.clone(), a.next(PL).build()]);
    assert_eq!(o[1].bytes, trailing);
    assert_eq!(s.reason("ipv6_payload_len_mismatch"), 1);
    assert_eq!(sizes(&o), [PL, PL, PL]);
}

// ---- large_* -------------------------------------------------------------------

const MSS: usize = 4096 - 20 - 40;
const MAX_PAYLOAD: usize = 65535 - 20 - 40;

fn large(mk: Mk, v4: bool, extra: usize) -> (Vec<Out>, usize) {
    let n = MAX_PAYLOAD / MSS;
    let rem = (MAX_PAYLOAD + if v4 { 20 } else { 0 }) % MSS + extra;
    let mut frames: Vec<_> = (0..n).map(|i| mk((i * MSS) as u32, MSS).build()).collect();
    frames.push(mk((n * MSS) as u32, rem).build());
    frames.push(mk(((n + 1) * MSS) as u32, rem).build());
    (run(&frames).0, rem)
}

#[test]
fn large_max_fills_65535_exactly() {
    for (name, mk) in BOTH {
        let v4 = name == "v4";
        let (o, rem) = large(mk, v4, 0);
        let total = MAX_PAYLOAD + if v4 { 20 } else { 0 };
        assert_eq!(sizes(&o), [total, rem], "{name}");
        let l = dissect(&o[0].bytes).unwrap();
        assert_eq!(l.end - l.l3_off, 65535);
    }
}

#[test]
fn large_over_max_sends_remainder_alone() {
    for (name, mk) in BOTH {
        let v4 = name == "v4";
        let (o, rem) = large(mk, v4, 1);
        let total = MAX_PAYLOAD + if v4 { 20 } else { 0 };
        assert_eq!(sizes(&o), [total - (rem - 1), rem, rem], "{name}");
    }
}

#[test]
fn max_size_config_caps_the_aggregate() {
    let cfg = GroConfig {
        max_size: 40 + 3 * PL as u32,
        ..GroConfig::default()
    };
    let a = SegSpec::tcp4(0, PL);
    let frames = [
        a.build(),
        a.next(PL).build(),
        a.next(PL).next(PL).build(),
        a.next(PL).next(PL).next(PL).build(),
    ];
    let (o, _) = run_cfg(cfg, &frames);
    assert_eq!(sizes(&o), [3 * PL, PL]);
}

// ---- beyond the selftest ---------------------------------------------------------

/// Checked against 6.18 on a veth pair: a frame with bytes beyond the IP
/// length (Ethernet padding of a tiny segment) is never merged, and a held
/// packet of its flow is flushed before it.
#[test]
fn padded_segments_never_merge_and_flush_their_flow() {
    let a = SegSpec::tcp4(0, 1);
    assert_eq!(a.build().len(), 60);
    let frames = [a.build(), a.next(1).build(), a.next(1).next(1).build()];
    let (o, s) = run(&frames);
    assert_eq!(sizes(&o), [1, 1, 1]);
    for (o, f) in o.iter().zip(&frames) {
        assert_eq!(&o.bytes, f);
    }
    assert_eq!(s.reason("ipv4_padding"), 3);
    // Held 100-byte segment, then a padded 1-byte one of the flow, then the next full one.
    let p = SegSpec::tcp4(0, PL);
    let x = SegSpec::tcp4(PL as u32, 1);
    let (o, _) = run(&[p.build(), x.build(), SegSpec::tcp4(PL as u32, PL).build()]);
    assert_eq!(sizes(&o), [PL, 1, PL]);
    assert_eq!(o[1].bytes, x.build());
    // UDP: the datagram passes, the held packet stays (udp_gro_receive_segment returns early).
    let u = SegSpec::udp4(0, PL);
    let short = SegSpec::udp4(PL as u32, 2);
    let (o, s) = run_cfg(udp_cfg(), &[u.build(), short.build(), u.next(PL).build()]);
    assert_eq!(o[0].bytes, short.build());
    assert_eq!(o[1].gso_segs, 2);
    assert_eq!(s.reason("udp_len_mismatch"), 1);
}

/// Checked against 6.18 on a veth pair (oracle cases ip_len_short_v4/v6): a
/// frame whose IP length claims more bytes than it has is never merged, and a
/// held packet of its flow leaves before it.
#[test]
fn ip_length_beyond_the_frame_flushes_its_flow_first() {
    for (name, mk) in BOTH {
        let p = mk(0, PL);
        let mut short = mk(PL as u32, PL).build();
        // The IP length field (IPv4 tot_len at 16, IPv6 payload_len at 18) claims 8 bytes more.
        let at = if short[12..14] == [0x08, 0x00] {
            16
        } else {
            18
        };
        let claimed = u16::from_be_bytes([short[at], short[at + 1]]) + 8;
        short[at..at + 2].copy_from_slice(&claimed.to_be_bytes());
        if at == 16 {
            // Keep the IPv4 header checksum valid: only the length is wrong.
            let old = u16::from_be_bytes([short[24], short[25]]);
            let fixed = crate::wire::checksum::update16(old, claimed - 8, claimed);
            short[24..26].copy_from_slice(&fixed.to_be_bytes());
        }
        let third = mk(2 * PL as u32, PL).build();
        let (o, s) = run(&[p.build(), short.clone(), third]);
        assert_eq!(o.len(), 3, "{name}");
        assert_eq!((o[0].payload(), o[2].payload()), (PL, PL), "{name}");
        assert_eq!(
            o[0].bytes,
            p.build(),
            "{name}: the held packet leaves first"
        );
        assert_eq!(
            o[1].bytes, short,
            "{name}: the short frame passes untouched"
        );
        let reason = if at == 16 {
            "ipv4_total_len"
        } else {
            "ipv6_payload_len"
        };
        assert_eq!(s.reason(reason), 1, "{name}");
    }
}

#[test]
fn single_packet_is_byte_identical_with_untouched_metadata() {
    for (_, mk) in BOTH {
        let f = mk(0, PL).build();
        let (o, _) = run(std::slice::from_ref(&f));
        assert_eq!(o[0].bytes, f);
        assert_eq!(
            (o[0].gso_size, o[0].gso_segs, o[0].gso_type, o[0].csum),
            (0, 0, GsoType::None, CsumState::None)
        );
    }
}

#[test]
fn aggregate_headers_and_odd_sizes() {
    for (name, mk) in BOTH {
        // Odd gso_size puts later payloads at odd offsets (checksum byte swap).
        let a = SegSpec {
            vlan: Some(7),
            ..mk(0xffff_ff00, 333)
        };
        let segs = [
            a.clone(),
            a.next(333),
            a.next(333).next(333),
            a.next(333).next(333).next(17),
        ];
        let frames: Vec<_> = segs.iter().map(SegSpec::build).collect();
        let (o, _) = run(&frames);
        assert_eq!(o.len(), 1, "{name}");
        let o = &o[0];
        assert_eq!((o.gso_size, o.gso_segs), (333, 4));
        let want: Vec<u8> = segs.iter().flat_map(|s| s.payload.clone()).collect();
        assert_eq!(o.payload_bytes(), want);
        let l = verify(&o.bytes).unwrap();
        assert_eq!(l.vlan_tags, 1);
        // Everything but length and checksum fields is the first segment's.
        let mut head = frames[0].clone();
        let mut got = o.bytes[..l.payload_off].to_vec();
        for f in [&mut head, &mut got] {
            let (len_at, csum_at) = if name == "v4" {
                (18 + 2, 18 + 10)
            } else {
                (18 + 4, 18 + 40 + 16)
            };
            f[len_at..len_at + 2].fill(0);
            f[csum_at..csum_at + 2].fill(0);
            if name == "v4" {
                f[18 + 20 + 16..18 + 20 + 18].fill(0);
            }
        }
        assert_eq!(&got[..], &head[..l.payload_off]);
    }
}

#[test]
fn interleaved_flows_each_merge() {
    for (name, mk) in BOTH {
        let a = mk(0, PL);
        let b = SegSpec {
            src_port: 40001,
            ..mk(5000, PL)
        };
        let c = SegSpec {
            host: 2,
            ..mk(9000, PL)
        };
        let d = SegSpec {
            vlan: Some(3),
            ..mk(0, PL)
        };
        let frames = [
            a.build(),
            b.build(),
            c.build(),
            d.build(),
            a.next(PL).build(),
            b.next(PL).build(),
            c.next(PL).build(),
            d.next(PL).build(),
        ];
        let (o, s) = run(&frames);
        assert_eq!(sizes(&o), [2 * PL; 4], "{name}");
        assert_eq!(s.aggregates, 4);
    }
}

#[test]
fn full_table_flushes_oldest() {
    let cfg = GroConfig {
        max_flows: 2,
        ..GroConfig::default()
    };
    let flows: Vec<SegSpec> = (0..3)
        .map(|i| SegSpec {
            src_port: 1000 + i,
            ..SegSpec::tcp4(0, PL)
        })
        .collect();
    let frames: Vec<_> = flows
        .iter()
        .map(SegSpec::build)
        .chain(flows.iter().map(|f| f.next(PL).build()))
        .collect();
    let (o, s) = run_cfg(cfg, &frames);
    assert!(s.evicted >= 1);
    assert_eq!(s.packets_out, o.len() as u64);
    // First flow 0 is evicted by flow 2, then flows keep displacing each other.
    assert_eq!(o[0].bytes, frames[0]);
}

/// On a veth pair (no RX hash, every flow in one `gro_hash` bucket of
/// `MAX_GRO_SKBS` = 8), 6.18 merges 8 interleaved flows × 2 segments into 8
/// pairs and 9 flows into nothing (each first segment is evicted before its
/// second arrives). `max_flows: 8` reproduces that exactly.
#[test]
fn eight_held_flows_like_a_veth_bucket() {
    let cfg = GroConfig {
        max_flows: 8,
        ..GroConfig::default()
    };
    for (n, want_out, want_aggs) in [(8u16, 8usize, 8u64), (9, 18, 0), (12, 24, 0)] {
        let flows: Vec<SegSpec> = (0..n)
            .map(|k| SegSpec {
                src_port: 2000 + k,
                ..SegSpec::tcp4(0, PL)
            })
            .collect();
        let frames: Vec<_> = flows
            .iter()
            .map(SegSpec::build)
            .chain(flows.iter().map(|f| f.next(PL).build()))
            .collect();
        let (o, s) = run_cfg(cfg, &frames);
        assert_eq!((o.len(), s.aggregates), (want_out, want_aggs), "{n} flows");
    }
}

#[test]
fn malformed_frames_pass_untouched_in_order_and_counted() {
    let held = SegSpec::tcp4(0, PL).build();
    let garbage = vec![0xffu8; 7];
    let mut truncated = SegSpec::tcp4(0, PL).build();
    truncated.truncate(40);
    let mut arp = SegSpec::tcp4(0, 10).build();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let mut icmp = SegSpec::tcp4(0, 10).build();
    icmp[14 + 9] = 1;
    let frames = [
        held.clone(),
        garbage.clone(),
        truncated.clone(),
        arp.clone(),
        icmp.clone(),
    ];
    let (o, s) = run(&frames);
    let got: Vec<_> = o.iter().map(|o| o.bytes.clone()).collect();
    assert_eq!(got, [garbage, truncated, arp, icmp, held]);
    assert_eq!(s.reason("truncated"), 1);
    assert_eq!(s.reason("ipv4_total_len"), 1);
    assert_eq!(s.reason("not_ip"), 1);
    assert_eq!(s.reason("not_tcp_udp"), 1);
    assert_eq!(s.passthrough, 4);
}

#[test]
fn receive_needs_room_and_flush_respects_room() {
    let mut pool = FramePool::heap(8, 2048);
    let mut gro = Gro::new(GroConfig::default());
    let mut out = Batch::with_capacity(1);
    let p = pool.packet_from(&SegSpec::tcp4(0, PL).build()).unwrap();
    let p = gro.receive(&mut pool, p, 0, &mut out).unwrap_err();
    assert_eq!(gro.stats().packets_in, 0);
    let mut out = Batch::with_capacity(2);
    gro.receive(&mut pool, p, 0, &mut out).unwrap();
    let q = pool
        .packet_from(
            &SegSpec {
                src_port: 1,
                ..SegSpec::tcp4(0, PL)
            }
            .build(),
        )
        .unwrap();
    gro.receive(&mut pool, q, 0, &mut out).unwrap();
    assert_eq!(gro.held(), 2);
    let mut one = Batch::with_capacity(1);
    gro.flush(&mut pool, &mut one);
    assert_eq!((one.len(), gro.held()), (1, 1));
    gro.flush(&mut pool, &mut out);
    for p in one.drain().chain(out.drain()) {
        pool.release(p);
    }
    assert_eq!(pool.free_count(), 8);
}

#[test]
fn flush_older_than_uses_first_segment_time() {
    let mut pool = FramePool::heap(16, 2048);
    let mut gro = Gro::new(GroConfig::default());
    let mut out = Batch::with_capacity(8);
    let a = SegSpec::tcp4(0, PL);
    let b = SegSpec {
        src_port: 2,
        ..SegSpec::tcp4(0, PL)
    };
    for (s, t) in [
        (a.build(), 100),
        (b.build(), 200),
        (a.next(PL).build(), 300),
    ] {
        let p = pool.packet_from(&s).unwrap();
        gro.receive(&mut pool, p, t, &mut out).unwrap();
    }
    gro.flush_older_than(&mut pool, 250, 100, &mut out);
    assert_eq!((out.len(), gro.held()), (1, 1));
    assert_eq!(out.get(0).unwrap().gso_segs, 2);
    gro.flush_older_than(&mut pool, 250, 10, &mut out);
    assert_eq!(gro.held(), 0);
    for p in out.drain() {
        pool.release(p);
    }
    assert_eq!(pool.free_count(), 16);
}

#[test]
fn coalesce_leaves_what_does_not_fit_in_input() {
    let mut pool = FramePool::heap(16, 2048);
    let mut gro = Gro::new(GroConfig::default());
    let mut input = Batch::with_capacity(8);
    for i in 0..6 {
        input
            .push(
                pool.packet_from(
                    &SegSpec {
                        src_port: i,
                        ..SegSpec::tcp4(0, PL)
                    }
                    .build(),
                )
                .unwrap(),
            )
            .unwrap();
    }
    let mut out = Batch::with_capacity(4);
    coalesce(&mut gro, &mut pool, &mut input, &mut out);
    assert_eq!((out.len(), input.len(), gro.held()), (3, 3, 0));
    for p in out.drain().chain(input.drain()) {
        pool.release(p);
    }
    assert_eq!(pool.free_count(), 16);
}

#[test]
fn gso_inputs_pass_through_and_split_headers_are_nonlinear() {
    let mut pool = FramePool::heap(8, 128);
    let mut gro = Gro::new(GroConfig::default());
    let mut out = Batch::with_capacity(4);
    let mut g = pool.packet_from(&SegSpec::tcp4(0, 10).build()).unwrap();
    g.gso_size = 5;
    gro.receive(&mut pool, g, 0, &mut out).unwrap();
    // TCP options push the headers past a 64-byte head frame.
    let mut pool64 = FramePool::heap(8, 64);
    let opts = SegSpec {
        tcp_opts: vec![1; 12],
        ..SegSpec::tcp4(0, 10)
    }
    .build();
    let split = pool64.packet_from(&opts).unwrap();
    gro.receive(&mut pool64, split, 0, &mut out).unwrap();
    assert_eq!(
        (gro.stats().reason("nonlinear"), gro.stats().reason("gso")),
        (1, 1)
    );
    let p = out.pop().unwrap();
    pool64.release(p);
    for p in out.drain() {
        pool.release(p);
    }
    assert_eq!((pool.free_count(), pool64.free_count()), (8, 8));
}

/// Jumbo segments whose payload runs over several small pool frames merge
/// like linear ones (payload sums across pieces, odd piece offsets included).
#[test]
fn chained_segments_merge() {
    for (name, mk) in BOTH {
        for frame_size in [97usize, 128, 199] {
            let a = mk(7, 333);
            let segs = [a.clone(), a.next(333), a.next(333).next(200)];
            let mut pool = FramePool::heap(64, frame_size);
            let mut gro = Gro::new(GroConfig::default());
            let mut input = Batch::with_capacity(4);
            for s in &segs {
                let p = pool.packet_from(&s.build()).unwrap();
                assert!(!p.is_linear());
                input.push(p).unwrap();
            }
            let mut out = Batch::with_capacity(4);
            coalesce(&mut gro, &mut pool, &mut input, &mut out);
            assert_eq!(out.len(), 1, "{name} {frame_size}");
            let p = out.pop().unwrap();
            assert_eq!(p.gso_segs, 3);
            let mut b = Vec::new();
            pool.copy_out(&p, &mut b);
            let l = verify(&b).unwrap();
            let want: Vec<u8> = segs.iter().flat_map(|s| s.payload.clone()).collect();
            assert_eq!(&b[l.payload_off..l.end], &want[..]);
            pool.release(p);
            assert_eq!(pool.free_count(), 64);
        }
    }
}

/// A bad checksum is caught in any piece of a chained segment.
#[test]
fn chained_bad_checksum_is_caught() {
    let mut f = SegSpec::tcp6(0, 400).build();
    let last = f.len() - 3;
    f[last] ^= 1;
    let mut pool = FramePool::heap(16, 128);
    let mut gro = Gro::new(GroConfig::default());
    let mut out = Batch::with_capacity(4);
    let p = pool.packet_from(&f).unwrap();
    gro.receive(&mut pool, p, 0, &mut out).unwrap();
    assert_eq!(gro.stats().reason("tcp_csum"), 1);
    for p in out.drain() {
        pool.release(p);
    }
}

// ---- UDP -------------------------------------------------------------------------

fn udp_cfg() -> GroConfig {
    GroConfig {
        udp: true,
        ..GroConfig::default()
    }
}

#[test]
fn udp_off_passes_through() {
    let f = SegSpec::udp4(0, PL).build();
    let (o, s) = run(&[f.clone(), f.clone()]);
    assert_eq!(o[0].bytes, f);
    assert_eq!(s.reason("not_tcp"), 2);
}

#[test]
fn udp_same_size_then_shorter_ends() {
    for mk in [SegSpec::udp4 as Mk, SegSpec::udp6] {
        let a = mk(0, PL);
        let frames = [
            a.build(),
            a.next(PL).build(),
            a.next(PL).next(PL / 2).build(),
            a.next(PL).build(),
        ];
        let (o, _) = run_cfg(udp_cfg(), &frames);
        assert_eq!(sizes(&o), [2 * PL + PL / 2, PL]);
        assert_eq!(
            (o[0].gso_size, o[0].gso_segs, o[0].gso_type),
            (PL as u16, 3, GsoType::UdpL4)
        );
        verify(&o[0].bytes).unwrap();
    }
}

#[test]
fn udp_longer_flushes_and_starts_over() {
    let a = SegSpec::udp4(0, PL);
    let (o, _) = run_cfg(
        udp_cfg(),
        &[a.build(), a.next(PL).build(), a.next(2 * PL).build()],
    );
    assert_eq!(o.len(), 2);
    assert_eq!((o[0].gso_segs, o[1].gso_segs), (2, 0));
}

#[test]
fn udp_at_most_64_segments() {
    let mut s = SegSpec::udp6(0, 10);
    let mut frames = vec![s.build()];
    for _ in 0..69 {
        s = s.next(10);
        frames.push(s.build());
    }
    let (o, _) = run_cfg(udp_cfg(), &frames);
    assert_eq!(o.iter().map(|o| o.gso_segs).collect::<Vec<_>>(), [64, 6]);
}

#[test]
fn udp_zero_checksum_bad_checksum_and_length_pass() {
    let a = SegSpec::udp4(0, PL);
    let zero = SegSpec {
        udp_csum_zero: true,
        ..a.next(PL)
    };
    let bad = SegSpec {
        bad_l4_csum: true,
        ..a.next(PL)
    };
    let mut badlen = a.next(PL).build();
    badlen[14 + 20 + 5] -= 1; // UDP length one short of the real length
    let (o, s) = run_cfg(
        udp_cfg(),
        &[
            a.build(),
            zero.build(),
            bad.build(),
            badlen,
            a.next(PL).build(),
        ],
    );
    assert_eq!(s.reason("udp_csum_zero"), 1);
    assert_eq!(s.reason("udp_csum"), 1);
    assert_eq!(s.reason("udp_len_mismatch"), 1);
    assert_eq!(o.last().map(|o| o.gso_segs), Some(2));
}

// ---- property: random interleavings ----------------------------------------------

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct FlowSpec {
        v6: bool,
        vlan: bool,
        /// (payload length, extra TCP flags) per segment, in order.
        segs: Vec<(usize, u8)>,
    }

    fn flag() -> impl Strategy<Value = u8> {
        prop_oneof![
            12 => Just(0u8),
            1 => Just(PSH),
            1 => Just(FIN),
            1 => Just(URG),
            1 => Just(RST),
            1 => Just(SYN),
            1 => Just(CWR),
        ]
    }

    fn flow() -> impl Strategy<Value = FlowSpec> {
        let seg = (
            prop_oneof![1 => Just(0usize), 2 => 1usize..40, 6 => Just(200usize), 1 => 150usize..260],
            flag(),
        );
        (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(seg, 1..24),
        )
            .prop_map(|(v6, vlan, segs)| FlowSpec { v6, vlan, segs })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn interleavings_preserve_each_flows_bytes(
            flows in proptest::collection::vec(flow(), 1..6),
            picks in proptest::collection::vec(any::<u8>(), 0..200),
            max_flows in 1usize..8,
            poll in 1usize..40,
            small_frames in any::<bool>(),
        ) {
            // Build each flow's frames in order, then interleave by `picks`.
            let mut per_flow: Vec<Vec<SegSpec>> = Vec::new();
            for (k, f) in flows.iter().enumerate() {
                let base = if f.v6 { SegSpec::tcp6(1000 * k as u32, 0) } else { SegSpec::tcp4(1000 * k as u32, 0) };
                let mut cur = SegSpec { src_port: 1000 + k as u16, vlan: f.vlan.then_some(9), ..base };
                let mut v = Vec::new();
                for &(len, fl) in &f.segs {
                    let s = SegSpec { flags: ACK | fl, ..cur.next(len) };
                    cur = s.clone();
                    cur.flags = ACK;
                    v.push(s);
                }
                per_flow.push(v);
            }
            let mut cursors = vec![0usize; per_flow.len()];
            let mut order: Vec<SegSpec> = Vec::new();
            let total: usize = per_flow.iter().map(Vec::len).sum();
            let mut p = picks.iter();
            while order.len() < total {
                let mut k = p.next().map_or(0, |&b| b as usize % per_flow.len());
                while cursors[k] >= per_flow[k].len() {
                    k = (k + 1) % per_flow.len();
                }
                order.push(per_flow[k][cursors[k]].clone());
                cursors[k] += 1;
            }

            // Small frames chain every segment over several frames.
            let mut pool = FramePool::heap(FRAMES, if small_frames { 128 } else { 2048 });
            let mut gro = Gro::new(GroConfig { max_flows, ..GroConfig::default() });
            let mut outs: Vec<Vec<u8>> = Vec::new();
            for chunk in order.chunks(poll) {
                let mut input = Batch::with_capacity(chunk.len());
                for s in chunk {
                    input.push(pool.packet_from(&s.build()).unwrap()).unwrap();
                }
                let mut out = Batch::with_capacity(chunk.len() + 1);
                coalesce(&mut gro, &mut pool, &mut input, &mut out);
                prop_assert!(input.is_empty());
                for pkt in out.drain() {
                    let mut b = Vec::new();
                    pool.copy_out(&pkt, &mut b);
                    let lay = verify(&b).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    if pkt.gso_segs > 1 {
                        let n = lay.payload_len();
                        let g = usize::from(pkt.gso_size);
                        prop_assert!(n > g * (usize::from(pkt.gso_segs) - 1) && n <= g * usize::from(pkt.gso_segs));
                    } else {
                        prop_assert_eq!(pkt.gso_size, 0);
                    }
                    outs.push(b);
                    pool.release(pkt);
                }
            }
            prop_assert_eq!(pool.free_count(), FRAMES as usize);
            let s = gro.stats();
            prop_assert_eq!(s.packets_in, s.packets_out + s.merged);
            // Per flow: same bytes, in order, seq continuous.
            for (k, segs) in per_flow.iter().enumerate() {
                let want: Vec<u8> = segs.iter().flat_map(|s| s.payload.clone()).collect();
                let mut got = Vec::new();
                let mut next_seq = segs[0].seq;
                for b in &outs {
                    let l = dissect(b).unwrap();
                    let port = u16::from_be_bytes([b[l.l4_off], b[l.l4_off + 1]]);
                    if port != 1000 + k as u16 {
                        continue;
                    }
                    let seq = u32::from_be_bytes([b[l.l4_off + 4], b[l.l4_off + 5], b[l.l4_off + 6], b[l.l4_off + 7]]);
                    prop_assert_eq!(seq, next_seq);
                    next_seq = seq.wrapping_add(l.payload_len() as u32);
                    got.extend_from_slice(&b[l.payload_off..l.end]);
                }
                prop_assert_eq!(got, want);
            }
        }
    }
}
