//! Side-by-side offload benchmark: our GRO/GSO on exactly the workload that
//! `bench/peers/dpdk_offload.c` gives DPDK 22.11, with the same JSON output.
//!
//! ```text
//! offload_bench gro|gso|uso IN.pcap [--duration S] [--reps N] [--warmup S] [--mss N] [--copy]
//! ```
//! * `gro`: every frame of IN.pcap is one poll's batch, coalesced at once;
//!   reports input packets/s and input Gbit/s.
//! * `gso` / `uso`: each frame is a TCP / UDP super-frame, segmented at
//!   `--mss`; reports output segments/s and output Gbit/s (frame bytes).
//!   Segments borrow the input's payload (a header frame plus windows of the
//!   input, as the CLI and the Python API make them and as `rte_gso` does);
//!   with `--copy` the pool has no borrow slots and every segment gets its
//!   own copy of the payload (what a UMEM pool does).
//!
//! One iteration = copy the template frames into pool frames (the NIC's DMA;
//! the DPDK peer copies into mbufs the same way), run the engine, release
//! every output to the pool. Our engine always does the "equal work": GRO
//! checks the IPv4 and TCP checksum of every input and writes both
//! checksums of every aggregate, GSO writes both checksums of every segment.
//! Pool and batches are allocated before the loop; a counting global
//! allocator reports the heap allocations made inside the timed loop
//! (`allocs_in_loop`, expected 0).
//!
//! Input files come from `bench/gen_capture.py`; `bench/run_offload.sh` runs
//! both sides and prints the ratios.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use xdpkt::gro::{coalesce, Gro, GroConfig};
use xdpkt::gso::{segment, GsoOptions};
use xdpkt::{Batch, FramePool};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; counting is a relaxed atomic add with no other effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's (non-zero size layout).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time of the whole process in seconds (as the C peer measures it): on a
/// shared machine the rate per CPU-second is steadier than per wall-second.
fn cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call;
    // CLOCK_PROCESS_CPUTIME_ID is always supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Frame sizes of the pool, the two AF_XDP UMEM chunk sizes, chosen like the
/// peer's buffers: GRO takes wire-size frames, and DPDK's mbufs hold 2048 data
/// bytes (+128 headroom), so 2048; GSO's 64 KB input is one contiguous 64 KB
/// mbuf on the DPDK side, so the larger chunk (fewer pieces per segment).
const GRO_FRAME_SIZE: usize = 2048;
const GSO_FRAME_SIZE: usize = 4096;

#[derive(Default, Clone, Copy)]
struct Tally {
    in_pkts: u64,
    in_bytes: u64,
    out_pkts: u64,
    out_bytes: u64,
}

struct Opts {
    mode: String,
    path: String,
    duration: f64,
    warmup: f64,
    reps: usize,
    mss: u16,
    copy: bool,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: offload_bench gro|gso|uso IN.pcap [--duration S] [--reps N] [--warmup S] [--mss N] [--copy]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Opts, String> {
    let mut pos = Vec::new();
    let mut o = Opts {
        mode: String::new(),
        path: String::new(),
        duration: 1.0,
        warmup: 0.3,
        reps: 3,
        mss: 1448,
        copy: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--duration" => {
                o.duration = val("--duration")?
                    .parse()
                    .map_err(|e| format!("--duration: {e}"))?
            }
            "--warmup" => {
                o.warmup = val("--warmup")?
                    .parse()
                    .map_err(|e| format!("--warmup: {e}"))?
            }
            "--reps" => o.reps = val("--reps")?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--mss" => o.mss = val("--mss")?.parse().map_err(|e| format!("--mss: {e}"))?,
            "--copy" => o.copy = true,
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => pos.push(a),
        }
    }
    if pos.len() != 2 {
        return Err("need MODE and IN.pcap".into());
    }
    o.path = pos.pop().unwrap_or_default();
    o.mode = pos.pop().unwrap_or_default();
    if !matches!(o.mode.as_str(), "gro" | "gso" | "uso") {
        return Err(format!("unknown mode {}", o.mode));
    }
    if !(1..=64).contains(&o.reps) || o.duration <= 0.0 || o.mss == 0 {
        return Err("bad --reps (1..64), --duration (> 0) or --mss (> 0)".into());
    }
    Ok(o)
}

/// Every record of a classic pcap file (either byte order, µs or ns), whole.
fn load_pcap(path: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let magic = b
        .get(..4)
        .ok_or_else(|| format!("{path}: not a pcap file"))?;
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err(format!("{path}: not a classic pcap file")),
    };
    let u32_at = |o: usize| -> Option<u32> {
        let w: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    if u32_at(20) != Some(1) {
        return Err(format!("{path}: link type is not Ethernet"));
    }
    let mut frames = Vec::new();
    let mut off = 24;
    while off < b.len() {
        let (Some(caplen), Some(len)) = (u32_at(off + 8), u32_at(off + 12)) else {
            return Err(format!("{path}: truncated record header at {off}"));
        };
        if caplen != len {
            return Err(format!("{path}: record at {off} truncated by the capture"));
        }
        let d = b
            .get(off + 16..off + 16 + caplen as usize)
            .ok_or_else(|| format!("{path}: truncated record at {off}"))?;
        frames.push(d.to_vec());
        off += 16 + caplen as usize;
    }
    if frames.is_empty() {
        return Err(format!("{path}: no frames"));
    }
    Ok(frames)
}

fn ip_of(frame: &[u8]) -> &'static str {
    match frame.get(12..14) {
        Some([0x08, 0x00]) => "v4",
        Some([0x86, 0xdd]) => "v6",
        _ => "other",
    }
}

/// Independent check of one output frame (not the engine's own code): the
/// IPv4 header checksum and the TCP/UDP checksum over the pseudo-header.
fn frame_valid(f: &[u8]) -> bool {
    fn sum(d: &[u8]) -> u64 {
        d.chunks(2)
            .map(|c| u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0)))
            .sum()
    }
    fn folds_to_ffff(mut s: u64) -> bool {
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }
    let (l4, proto, src_dst, l4_len) = match ip_of(f) {
        "v4" => {
            let Some(ihl) = f.get(14).map(|b| usize::from(b & 15) * 4) else {
                return false;
            };
            let Some(h) = f.get(14..14 + ihl) else {
                return false;
            };
            if !folds_to_ffff(sum(h)) {
                return false;
            }
            let tot = usize::from(u16::from_be_bytes([h[2], h[3]]));
            (14 + ihl, h[9], &h[12..20], tot.saturating_sub(ihl))
        }
        "v6" => {
            let Some(h) = f.get(14..54) else { return false };
            (
                54,
                h[6],
                &h[8..40],
                usize::from(u16::from_be_bytes([h[4], h[5]])),
            )
        }
        _ => return false,
    };
    let Some(seg) = f.get(l4..l4 + l4_len) else {
        return false;
    };
    folds_to_ffff(sum(src_dst) + u64::from(proto) + l4_len as u64 + sum(seg))
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return usage();
        }
    };
    let tpls = match load_pcap(&o.path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let ip = ip_of(&tpls[0]);
    if tpls.iter().any(|t| ip_of(t) != ip) {
        eprintln!(
            "error: {}: mixed IPv4/IPv6 frames; one workload per file",
            o.path
        );
        return ExitCode::from(2);
    }
    match run(&o, &tpls, ip) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One iteration of the workload. `check` verifies every output (not timed).
trait Work {
    fn iter(&mut self, t: &mut Tally, check: bool) -> Result<bool, String>;
}

/// Counts every output into `t`, checks it when asked (untimed first iteration) and
/// returns it to the pool; true when every checked output was a valid frame.
fn release_outputs(
    pool: &mut FramePool,
    out: &mut Batch,
    scratch: &mut Vec<u8>,
    t: &mut Tally,
    check: bool,
) -> bool {
    let mut ok = true;
    for p in out.drain() {
        t.out_pkts += 1;
        t.out_bytes += p.len() as u64;
        if check {
            scratch.clear();
            pool.copy_out(&p, scratch);
            ok &= frame_valid(scratch);
        }
        pool.release(p);
    }
    ok
}

struct GroWork<'a> {
    tpls: &'a [Vec<u8>],
    pool: FramePool,
    gro: Gro,
    input: Batch,
    out: Batch,
    scratch: Vec<u8>,
}

impl Work for GroWork<'_> {
    fn iter(&mut self, t: &mut Tally, check: bool) -> Result<bool, String> {
        for f in self.tpls {
            match self.pool.packet_from(f) {
                Ok(p) => {
                    if self.input.push(p).is_err() {
                        return Err("input batch full".into());
                    }
                }
                Err(e) => return Err(format!("pool: {e}")),
            }
            t.in_bytes += f.len() as u64;
        }
        t.in_pkts += self.tpls.len() as u64;
        coalesce(
            &mut self.gro,
            &mut self.pool,
            &mut self.input,
            &mut self.out,
        );
        Ok(release_outputs(
            &mut self.pool,
            &mut self.out,
            &mut self.scratch,
            t,
            check,
        ))
    }
}

struct GsoWork<'a> {
    tpls: &'a [Vec<u8>],
    next: usize,
    pool: FramePool,
    out: Batch,
    opts: GsoOptions,
    scratch: Vec<u8>,
}

impl Work for GsoWork<'_> {
    fn iter(&mut self, t: &mut Tally, check: bool) -> Result<bool, String> {
        let f = &self.tpls[self.next];
        self.next = (self.next + 1) % self.tpls.len();
        let p = self.pool.packet_from(f).map_err(|e| format!("pool: {e}"))?;
        t.in_pkts += 1;
        t.in_bytes += f.len() as u64;
        if let Err((p, e)) = segment(&mut self.pool, p, self.opts, &mut self.out) {
            self.pool.release(p);
            return Err(format!("segment: {e:?}"));
        }
        Ok(release_outputs(
            &mut self.pool,
            &mut self.out,
            &mut self.scratch,
            t,
            check,
        ))
    }
}

fn run(o: &Opts, tpls: &[Vec<u8>], ip: &str) -> Result<String, String> {
    let max_len = tpls.iter().map(Vec::len).max().unwrap_or(0);
    let is_gro = o.mode == "gro";
    let frame_size = if is_gro {
        GRO_FRAME_SIZE
    } else {
        GSO_FRAME_SIZE
    };
    let frames_per_tpl = max_len.div_ceil(frame_size - 256) as u32 + 1;
    let mut work: Box<dyn Work> = if is_gro {
        let n = tpls.len();
        let pool = FramePool::heap((n as u32) * frames_per_tpl * 2 + 256, frame_size);
        let cfg = GroConfig {
            max_flows: 64,
            ..GroConfig::default()
        };
        Box::new(GroWork {
            tpls,
            pool,
            gro: Gro::new(cfg),
            input: Batch::with_capacity(n),
            out: Batch::with_capacity(n + 65),
            scratch: Vec::with_capacity(70_000),
        })
    } else {
        // one super-frame in, up to 128 segments out (USO's maximum), each in its own frame(s);
        // borrowing, a header frame and at most two windows of the input per segment
        let frames = frames_per_tpl * 4 + 1024;
        let slots = if o.copy { 0 } else { 2 * frames };
        let pool = FramePool::heap_borrowing(frames, frame_size, slots);
        Box::new(GsoWork {
            tpls,
            next: 0,
            pool,
            out: Batch::with_capacity(256),
            opts: GsoOptions {
                mss: Some(o.mss),
                fixed_id: false,
            },
            scratch: Vec::with_capacity(70_000),
        })
    };

    let mut chk = Tally::default();
    let valid = work.iter(&mut chk, true)?;

    let mut w = Tally::default();
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < o.warmup {
        work.iter(&mut w, false)?;
    }

    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let mut pps = [0f64; 64];
    let mut gbps = [0f64; 64];
    let mut secs = [0f64; 64];
    let mut cpu_pps = [0f64; 64];
    let mut cpu_gbps = [0f64; 64];
    let mut share = [0f64; 64];
    let mut iters = 0u64;
    for rep in 0..o.reps {
        let mut t = Tally::default();
        let start = Instant::now();
        let cstart = cpu_s();
        let mut el;
        loop {
            work.iter(&mut t, false)?;
            iters += 1;
            el = start.elapsed().as_secs_f64();
            if el >= o.duration {
                break;
            }
        }
        let (pk, by) = if is_gro {
            (t.in_pkts, t.in_bytes)
        } else {
            (t.out_pkts, t.out_bytes)
        };
        pps[rep] = pk as f64 / el;
        gbps[rep] = by as f64 * 8.0 / el / 1e9;
        secs[rep] = el;
        let cel = cpu_s() - cstart;
        cpu_pps[rep] = pk as f64 / cel;
        cpu_gbps[rep] = by as f64 * 8.0 / cel / 1e9;
        share[rep] = cel / el;
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;

    let mut sp: Vec<f64> = pps[..o.reps].to_vec();
    let mut sg: Vec<f64> = gbps[..o.reps].to_vec();
    let mut scp: Vec<f64> = cpu_pps[..o.reps].to_vec();
    let mut scg: Vec<f64> = cpu_gbps[..o.reps].to_vec();
    sp.sort_by(f64::total_cmp);
    sg.sort_by(f64::total_cmp);
    scp.sort_by(f64::total_cmp);
    scg.sort_by(f64::total_cmp);
    let list = |v: &[f64], prec: usize| {
        v.iter()
            .map(|x| format!("{x:.prec$}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(format!(
        "{{\"impl\":\"xdpkt\",\"mode\":\"{}\",\"variant\":\"equal\",\"payload\":\"{}\",\"ip\":\"{}\",\"pps\":{:.0},\"gbps\":{:.3},\
         \"cpu_pps\":{:.0},\"cpu_gbps\":{:.3},\"iters\":{},\"reps\":{},\"duration_s\":{:.3},\"in_per_iter\":{},\"out_per_iter\":{},\
         \"outputs_valid\":{},\"allocs_in_loop\":{},\"pps_reps\":[{}],\"secs_reps\":[{}],\"cpu_share_reps\":[{}]}}",
        o.mode,
        match (is_gro, o.copy) {
            (true, _) => "chained",
            (false, false) => "borrowed",
            (false, true) => "copied",
        },
        ip,
        sp[o.reps / 2],
        sg[o.reps / 2],
        scp[o.reps / 2],
        scg[o.reps / 2],
        iters,
        o.reps,
        o.duration,
        chk.in_pkts,
        chk.out_pkts,
        valid,
        allocs,
        list(&pps[..o.reps], 0),
        list(&secs[..o.reps], 3),
        list(&share[..o.reps], 3),
    ))
}
