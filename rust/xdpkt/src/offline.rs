//! Whole-capture jobs: GSO or GRO over a pcap/pcapng file, written to a pcap file.
//!
//! Both jobs stream: one frame pool and two batches are allocated up front and
//! reused for every batch of [`POLL_BUDGET`] records, so memory does not grow
//! with the file (the distinct-flow counter grows with the number of flows).
//! Frames the engines refuse are written unchanged and counted by reason:
//! nothing is dropped.
//!
//! Timestamps: every GSO segment takes its super-frame's timestamp; a GRO
//! aggregate takes its first segment's (the head frame's) timestamp.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::gro::{Gro, GroConfig};
use crate::gso::{self, GsoError, GsoOptions};
use crate::packet::GsoType;
use crate::pcap::{CaptureReader, PcapError, PcapWriter};
use crate::pool::{FramePool, PoolError};
use crate::wire::{dissect, L3};

/// Most flows a GRO engine built here may hold (the kernel holds 64 per NAPI instance).
pub const MAX_FLOWS: usize = 4096;

/// Frames of a GRO pool: 48 per held flow (a 64 KB aggregate of MTU-size segments)
/// plus 4 per packet in flight, at most 32768 (64 MiB). An aggregate of small
/// segments can need more: when the pool runs dry, everything held is flushed
/// early to make room.
pub fn gro_pool_frames(max_flows: usize, in_flight: usize) -> u32 {
    (max_flows
        .saturating_mul(48)
        .saturating_add(4 * in_flight + 64))
    .min(1 << 15) as u32
}

/// Records handed to the engine per batch: one NAPI poll's budget.
pub const POLL_BUDGET: usize = 64;
/// Frame size of GRO pools: one 1500-byte-MTU frame per pool frame; a larger
/// frame (jumbo) is chained over several, with its headers in the first.
pub const GRO_FRAME_SIZE: usize = 2048;
/// Frame size of GSO pools: one 1500-byte-MTU segment per frame; larger inputs and
/// segments chain frames.
pub const GSO_FRAME_SIZE: usize = 2048;
/// A [`Segmenter`] grows up to this many frames (256 MiB of 2 KiB frames) for one packet.
pub const GSO_MAX_FRAMES: u32 = 1 << 17;
/// Progress is reported at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Where a job stands, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub frames_done: u64,
    pub bytes_done: u64,
    pub total_bytes: u64,
}

/// What a job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Distinct TCP/UDP flows (addresses, ports, protocol) among the input frames.
    pub flows: u64,
    /// GSO: super-frames cut into segments. GRO: aggregates built from two or more segments.
    pub aggregates: u64,
    /// GSO: segments produced from those super-frames. GRO: input segments merged into aggregates.
    pub segments: u64,
    /// Frames written unchanged, by reason (only reasons with a nonzero count).
    pub passthrough: Vec<(&'static str, u64)>,
    /// Frames written unchanged because they are malformed or the engine refused them.
    pub errors: u64,
    /// The input ended in a bad record (cut short, or a length that cannot be right): the
    /// job stopped there, after processing and writing every complete record before it
    /// (held aggregates flushed). The reader's message and the record's byte offset.
    pub bad_record: Option<(String, u64)>,
}

/// Why a job stopped.
#[derive(Debug)]
pub enum JobError<E> {
    /// Reading the input capture failed.
    Input(PcapError),
    /// Writing the output capture failed.
    Output(PcapError),
    /// A frame could not be held in the job's pool.
    Pool(PoolError),
    /// The progress callback asked to stop (its error is handed back).
    Cancelled(E),
}

impl<E: std::fmt::Display> std::fmt::Display for JobError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Input(e) => write!(f, "input: {e}"),
            JobError::Output(e) => write!(f, "output: {e}"),
            JobError::Pool(e) => write!(f, "{e}"),
            JobError::Cancelled(e) => write!(f, "cancelled: {e}"),
        }
    }
}

impl<E> From<PoolError> for JobError<E> {
    fn from(e: PoolError) -> Self {
        JobError::Pool(e)
    }
}

/// Rate-limited progress reporting.
struct Ticker<'a, E> {
    cb: &'a mut dyn FnMut(Progress) -> Result<(), E>,
    last: Instant,
    total: u64,
}

impl<E> Ticker<'_, E> {
    fn tick(&mut self, frames: u64, bytes: u64, force: bool) -> Result<(), JobError<E>> {
        if force || self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            let p = Progress {
                frames_done: frames,
                bytes_done: bytes.min(self.total),
                total_bytes: self.total,
            };
            (self.cb)(p).map_err(JobError::Cancelled)?;
        }
        Ok(())
    }
}

/// Counts distinct flows by a 64-bit hash of (L3 kind, addresses, protocol, ports).
#[derive(Default)]
struct FlowCounter {
    /// The keys are already well-mixed hashes: the set uses them as they are.
    seen: HashSet<u64, BuildHasherDefault<KeyHasher>>,
    /// The previous frame's key: runs of one flow skip the set.
    last: Option<u64>,
}

impl FlowCounter {
    fn see(&mut self, frame: &[u8]) {
        let Ok(lay) = dissect(frame) else { return };
        let (a, b) = match lay.l3 {
            L3::V4 => (lay.l3_off + 12, lay.l3_off + 20),
            L3::V6 => (lay.l3_off + 8, lay.l3_off + 40),
        };
        let mut h = flow_mix(0x5157_7c0d_1f2e_3a4b, lay.l4 as u64 + 1);
        for part in [frame.get(a..b), frame.get(lay.l4_off..lay.l4_off + 4)] {
            let Some(part) = part else {
                h = flow_mix(h, u64::MAX);
                continue;
            };
            h = flow_mix(h, part.len() as u64);
            let (words, tail) = part.as_chunks::<8>();
            for w in words {
                h = flow_mix(h, u64::from_le_bytes(*w));
            }
            let mut t = [0u8; 8];
            t[..tail.len()].copy_from_slice(tail);
            h = flow_mix(h, u64::from_le_bytes(t));
        }
        // Final avalanche (MurmurHash3's fmix64) so every bit of the key moves every bit.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        if self.last == Some(h) {
            return;
        }
        self.last = Some(h);
        self.seen.insert(h);
    }
    fn count(&self) -> u64 {
        self.seen.len() as u64
    }
}

/// One step of the flow-key hash: mix a 64-bit word into the state.
fn flow_mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31)
}

/// A hasher for keys that are already hashes (the flow counter's set).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = flow_mix(self.0, u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn add_reason(list: &mut Vec<(&'static str, u64)>, reason: &'static str, n: u64) {
    if n == 0 {
        return;
    }
    match list.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, c)) => *c += n,
        None => list.push((reason, n)),
    }
}

fn total_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// A segmenter's pool. Its segments copy their payload (no borrow slots):
/// written to a file (`writev` from the frames) or copied into Python
/// `bytes`, a segment in one frame measured as fast as or faster than a
/// header frame plus borrowed windows of the input (`bench/RESULTS.md`).
fn gso_pool(frames: u32) -> FramePool {
    FramePool::heap(frames, GSO_FRAME_SIZE)
}

/// GSO over frames given as byte slices, with a pool and an output batch that
/// are reused call after call and grow (rarely, never per packet in steady
/// state) when one packet needs more segments or frames than they hold.
pub struct Segmenter {
    pool: FramePool,
    out: Batch,
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter::new()
    }
}

impl Segmenter {
    /// Room for a 64 KB super-frame and 1024 segments of it.
    pub fn new() -> Segmenter {
        Segmenter {
            pool: gso_pool(2048),
            out: Batch::with_capacity(1024),
        }
    }

    /// Segments `frame` (with the given offload metadata: gso_size, gso_segs,
    /// gso_type, gso_fixed_id) into [`Segmenter::output`]. A packet whose
    /// aggregate kept a fixed IPv4 ID is cut with fixed IDs (`SKB_GSO_TCP_FIXEDID`).
    ///
    /// On error the output is empty and nothing is held; a frame that does not
    /// fit even the largest pool this segmenter grows to is `PoolExhausted`.
    pub fn segment(
        &mut self,
        frame: &[u8],
        meta: Option<(u16, u16, GsoType, bool)>,
        mut opts: GsoOptions,
    ) -> Result<usize, GsoError> {
        self.clear();
        if let Some((_, _, _, true)) = meta {
            opts.fixed_id = true;
        }
        for _ in 0..4 {
            let mut pkt = match self.pool.packet_from(frame) {
                Ok(p) => p,
                Err(_) => {
                    self.grow_pool(frame.len().div_ceil(GSO_FRAME_SIZE) as u64 * 2)?;
                    continue;
                }
            };
            if let Some((size, segs, ty, fixed)) = meta {
                pkt.gso_size = size;
                pkt.gso_segs = segs;
                pkt.gso_type = ty;
                pkt.gso_fixed_id = fixed;
            }
            match gso::segment(&mut self.pool, pkt, opts, &mut self.out) {
                Ok(n) => return Ok(n),
                Err((p, GsoError::BatchFull { needed, .. })) => {
                    self.pool.release(p);
                    self.out = Batch::with_capacity(needed);
                }
                Err((p, GsoError::PoolExhausted)) => {
                    let have = p.nframes() as u64;
                    self.pool.release(p);
                    let segs = self.out.capacity() as u64;
                    self.grow_pool(
                        have + segs
                            * (frame.len().min(65535 + 64) as u64).div_ceil(GSO_FRAME_SIZE as u64),
                    )?;
                }
                Err((p, e)) => {
                    self.pool.release(p);
                    return Err(e);
                }
            }
        }
        Err(GsoError::PoolExhausted)
    }

    fn grow_pool(&mut self, frames: u64) -> Result<(), GsoError> {
        let want = frames.max(2 * u64::from(self.pool.frame_count()));
        if u64::from(self.pool.frame_count()) >= u64::from(GSO_MAX_FRAMES) {
            return Err(GsoError::PoolExhausted);
        }
        self.pool = gso_pool(want.min(u64::from(GSO_MAX_FRAMES)) as u32);
        Ok(())
    }

    /// The segments of the last call, in order.
    pub fn output(&self) -> &Batch {
        &self.out
    }

    /// The pool the segments live in (to read them: `pieces`, `copy_into`).
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    /// Returns the last call's segments to the pool.
    pub fn clear(&mut self) {
        for p in self.out.drain() {
            self.pool.release(p);
        }
    }
}

/// The next record, or `None` at the end; a record the file cuts short (or whose length
/// cannot be right) ends the input like EOF and is noted in `s.bad_record`, so everything
/// before it is still processed and written. Other read errors stop the job.
fn next_or_bad<'a, R: std::io::Read, E>(
    rd: &'a mut CaptureReader<R>,
    s: &mut Summary,
) -> Result<Option<crate::pcap::Record<'a>>, JobError<E>> {
    // Where this record starts (the reader's error names where the data ran out).
    let at = rd.position();
    match rd.next_record() {
        Ok(r) => Ok(r),
        Err(e @ (PcapError::Truncated { .. } | PcapError::BadLength { .. })) => {
            s.bad_record = Some((e.to_string(), at));
            Ok(None)
        }
        Err(e) => Err(JobError::Input(e)),
    }
}

/// Refuses an `output` that is the `input` file itself (the same path, a symbolic or
/// a hard link): creating the output would truncate the capture before it is read.
fn refuse_same_file<E>(input: &Path, output: &Path) -> Result<(), JobError<E>> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(i), Ok(o)) = (std::fs::metadata(input), std::fs::metadata(output)) else {
        return Ok(()); // the output does not exist yet (or the input open reports its own error)
    };
    if i.dev() == o.dev() && i.ino() == o.ino() {
        return Err(JobError::Output(PcapError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the output is the input file itself (same file, or a link to it): refusing to overwrite the capture being read",
        ))));
    }
    Ok(())
}

/// Segments every super-frame of `input` at `opts.mss` (TSO/USO) and writes a pcap file.
///
/// Frames that are not a GSO request (payload ≤ mss) are written unchanged;
/// frames the engine refuses are written unchanged and counted under
/// `errors` / `passthrough` by [`GsoError::reason`](crate::gso::GsoError::reason).
pub fn gso_file<E>(
    input: &Path,
    output: &Path,
    opts: GsoOptions,
    progress: &mut dyn FnMut(Progress) -> Result<(), E>,
) -> Result<Summary, JobError<E>> {
    refuse_same_file(input, output)?;
    let mut rd = CaptureReader::open(input).map_err(JobError::Input)?;
    let mut wr = PcapWriter::create(output, rd.snaplen(), rd.nanos()).map_err(JobError::Output)?;
    let mut ticker = Ticker {
        cb: progress,
        last: Instant::now(),
        total: total_len(input),
    };
    let mut seg = Segmenter::new();
    let mut flows = FlowCounter::default();
    let mut s = Summary::default();
    loop {
        let Some(rec) = next_or_bad(&mut rd, &mut s)? else {
            break;
        };
        s.frames_in += 1;
        s.bytes_in += rec.data.len() as u64;
        flows.see(rec.data);
        match seg.segment(rec.data, None, opts) {
            Ok(n) => {
                if n > 1 {
                    s.aggregates += 1;
                    s.segments += n as u64;
                }
                let (ts, orig_in, pool) = (rec.ts_ns, rec.orig_len, seg.pool());
                // One vectored write of every segment, straight from the pool's frames.
                wr.write_batch(seg.output().iter().map(|p| {
                    // A frame returned whole keeps its original wire length.
                    let orig = if n == 1 { orig_in } else { p.len() as u32 };
                    (ts, p.len(), orig, pool.pieces(p))
                }))
                .map_err(JobError::Output)?;
                for p in seg.output().iter() {
                    s.frames_out += 1;
                    s.bytes_out += p.len() as u64;
                }
                seg.clear();
            }
            Err(e) => {
                wr.write(rec.ts_ns, rec.data, rec.orig_len)
                    .map_err(JobError::Output)?;
                s.frames_out += 1;
                s.bytes_out += rec.data.len() as u64;
                s.errors += 1;
                add_reason(&mut s.passthrough, e.reason(), 1);
            }
        }
        if s.frames_in.is_multiple_of(POLL_BUDGET as u64) {
            ticker.tick(s.frames_in, rd.position(), false)?;
        }
    }
    wr.finish().map_err(JobError::Output)?;
    s.flows = flows.count();
    ticker.tick(s.frames_in, rd.position(), true)?;
    Ok(s)
}

/// Options of [`gro_file`].
#[derive(Debug, Clone, Copy)]
pub struct GroJob {
    pub config: GroConfig,
    /// With `Some(t)`, aggregates stay held across polls and are flushed once
    /// older than `t` (capture time); with `None`, everything flushes at the end
    /// of each poll of [`POLL_BUDGET`] records, as a NAPI poll without `gro_flush_timeout` does.
    pub flush_timeout_ns: Option<u64>,
}

/// Coalesces `input` with GRO in polls of [`POLL_BUDGET`] records and writes a pcap file.
pub fn gro_file<E>(
    input: &Path,
    output: &Path,
    job: GroJob,
    progress: &mut dyn FnMut(Progress) -> Result<(), E>,
) -> Result<Summary, JobError<E>> {
    refuse_same_file(input, output)?;
    let mut rd = CaptureReader::open(input).map_err(JobError::Input)?;
    // Aggregates can be far larger than the input's snaplen (often 1514 or 262144).
    let snaplen = rd.snaplen().max(262_144);
    let mut wr = PcapWriter::create(output, snaplen, rd.nanos()).map_err(JobError::Output)?;
    let mut ticker = Ticker {
        cb: progress,
        last: Instant::now(),
        total: total_len(input),
    };
    let cfg = job.config;
    let nframes = gro_pool_frames(cfg.max_flows, POLL_BUDGET);
    let mut pool = FramePool::heap(nframes, GRO_FRAME_SIZE);
    // Capture timestamp and wire length of every frame by its index, so an aggregate (which keeps its
    // first segment's head frame) is written with its first segment's time.
    let mut ts_of = vec![(0u64, 0u32); nframes as usize];
    let mut gro = Gro::new(cfg);
    let mut out = Batch::with_capacity(2 * POLL_BUDGET + cfg.max_flows + 2);
    let mut flows = FlowCounter::default();
    let mut s = Summary::default();
    let mut last_ts = 0u64;
    let mut eof = false;
    while !eof {
        for _ in 0..POLL_BUDGET {
            let Some(rec) = next_or_bad(&mut rd, &mut s)? else {
                eof = true;
                break;
            };
            s.frames_in += 1;
            s.bytes_in += rec.data.len() as u64;
            flows.see(rec.data);
            last_ts = rec.ts_ns;
            let pkt = match pool.packet_from(rec.data) {
                Ok(p) => p,
                Err(PoolError::Exhausted) => {
                    // Everything held goes out first; then the frame must fit.
                    gro.flush(&mut pool, &mut out);
                    write_out(&mut wr, &mut pool, &mut out, &ts_of, &mut s)?;
                    pool.packet_from(rec.data)?
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(t) = ts_of.get_mut(pkt.head_frame().index() as usize) {
                *t = (rec.ts_ns, rec.orig_len);
            }
            if out.room() < 2 {
                write_out(&mut wr, &mut pool, &mut out, &ts_of, &mut s)?;
            }
            if let Err(p) = gro.receive(&mut pool, pkt, rec.ts_ns, &mut out) {
                // Only when `out` has no room, which was just ensured; deliver it as is.
                write_out(&mut wr, &mut pool, &mut out, &ts_of, &mut s)?;
                let _ = out.push(p);
            }
        }
        match job.flush_timeout_ns {
            None => gro.flush(&mut pool, &mut out),
            Some(t) => gro.flush_older_than(&mut pool, last_ts, t, &mut out),
        }
        write_out(&mut wr, &mut pool, &mut out, &ts_of, &mut s)?;
        ticker.tick(s.frames_in, rd.position(), false)?;
    }
    gro.flush(&mut pool, &mut out);
    write_out(&mut wr, &mut pool, &mut out, &ts_of, &mut s)?;
    wr.finish().map_err(JobError::Output)?;
    let st = gro.stats();
    s.flows = flows.count();
    s.aggregates = st.aggregates;
    s.segments = st.merged + st.aggregates;
    for (r, n) in st.reasons() {
        add_reason(&mut s.passthrough, r, n);
    }
    // Frames GRO passed through because they are malformed.
    s.errors = crate::wire::ParseError::REASONS
        .iter()
        .map(|r| st.reason(r))
        .sum();
    ticker.tick(s.frames_in, rd.position(), true)?;
    Ok(s)
}

fn write_out<W: std::io::Write, E>(
    wr: &mut PcapWriter<std::io::BufWriter<W>>,
    pool: &mut FramePool,
    out: &mut Batch,
    ts_of: &[(u64, u32)],
    s: &mut Summary,
) -> Result<(), JobError<E>> {
    let frozen: &FramePool = pool;
    // One vectored write of the whole batch, straight from the pool's frames.
    wr.write_batch(out.iter().map(|p| {
        let (ts, orig) = ts_of
            .get(p.head_frame().index() as usize)
            .copied()
            .unwrap_or((0, 0));
        // A frame delivered as it came keeps its wire length (it may have been cut at snaplen).
        let orig = if p.gso_segs > 1 { p.len() as u32 } else { orig };
        (ts, p.len(), orig, frozen.pieces(p))
    }))
    .map_err(JobError::Output)?;
    for p in out.drain() {
        s.frames_out += 1;
        s.bytes_out += p.len() as u64;
        pool.release(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gro::testkit::SegSpec;
    use crate::pcap::CaptureReader;
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xdpkt-offline-{}-{name}", std::process::id()))
    }

    fn write(path: &Path, frames: &[(u64, Vec<u8>)]) {
        let mut w = PcapWriter::create(path, 262_144, true).unwrap();
        for (ts, f) in frames {
            w.write(*ts, f, f.len() as u32).unwrap();
        }
        w.finish().unwrap();
    }

    fn read(path: &Path) -> Vec<(u64, Vec<u8>)> {
        let mut r = CaptureReader::open(path).unwrap();
        let mut v = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            v.push((rec.ts_ns, rec.data.to_vec()));
        }
        v
    }

    fn no_progress(_: Progress) -> Result<(), ()> {
        Ok(())
    }

    #[test]
    fn segmenter_grows_batch_and_pool_for_many_segments() {
        let mut seg = Segmenter::new();
        let frame = SegSpec::tcp4(1, 5000).build();
        let opts = GsoOptions {
            mss: Some(1),
            fixed_id: false,
        };
        assert_eq!(seg.segment(&frame, None, opts), Ok(5000));
        assert_eq!(seg.output().len(), 5000);
        seg.clear();
        assert_eq!(seg.pool().free_count(), seg.pool().frame_count() as usize);
        // Errors leave nothing behind.
        let err = seg.segment(&frame[..30], None, opts).unwrap_err();
        assert_eq!(err.reason(), "truncated");
        assert!(seg.output().is_empty());
        assert_eq!(seg.pool().free_count(), seg.pool().frame_count() as usize);
    }

    #[test]
    fn gro_file_timestamps_and_counts() {
        let (src, dst) = (tmp("gro-in.pcap"), tmp("gro-out.pcap"));
        let mut seg = SegSpec::tcp4(1, 1000);
        let mut frames = Vec::new();
        for i in 0..3u64 {
            frames.push((1000 + i, seg.build()));
            seg = seg.next(1000);
        }
        frames.push((2000, vec![0u8; 20]));
        write(&src, &frames);
        let job = GroJob {
            config: GroConfig::default(),
            flush_timeout_ns: None,
        };
        let s = gro_file(&src, &dst, job, &mut no_progress).unwrap();
        assert_eq!(
            (
                s.frames_in,
                s.frames_out,
                s.aggregates,
                s.segments,
                s.errors
            ),
            (4, 2, 1, 3, 1)
        );
        assert_eq!(s.passthrough, vec![("not_ip", 1)]);
        let out = read(&dst);
        // The short frame leaves at once; the aggregate carries its first segment's time.
        assert_eq!(
            out.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![2000, 1000]
        );
        let _ = std::fs::remove_file(src);
        let _ = std::fs::remove_file(dst);
    }

    #[test]
    fn gso_file_writes_refused_frames_unchanged() {
        let (src, dst) = (tmp("gso-in.pcap"), tmp("gso-out.pcap"));
        let big = SegSpec::tcp4(1, 3000).build();
        write(&src, &[(5, big), (6, vec![1, 2, 3])]);
        let opts = GsoOptions {
            mss: Some(1000),
            fixed_id: false,
        };
        let s = gso_file(&src, &dst, opts, &mut no_progress).unwrap();
        assert_eq!(
            (
                s.frames_in,
                s.frames_out,
                s.aggregates,
                s.segments,
                s.errors
            ),
            (2, 4, 1, 3, 1)
        );
        let out = read(&dst);
        assert_eq!(
            out.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![5, 5, 5, 6]
        );
        assert_eq!(out[3].1, vec![1, 2, 3]);
        let _ = std::fs::remove_file(src);
        let _ = std::fs::remove_file(dst);
    }

    #[test]
    fn flow_counter_counts_distinct_flows() {
        let mut fc = FlowCounter::default();
        let mut frame = crate::gso::tests::Spec::new(false, false, 100).build();
        let mut v6 = crate::gso::tests::Spec::new(true, false, 100).build();
        let l4 = dissect(&frame).unwrap().l4_off;
        fc.see(&frame);
        fc.see(&frame);
        fc.see(&v6);
        fc.see(&frame);
        assert_eq!(fc.count(), 2);
        // Another source port, another destination address: new flows; back to the first: not.
        frame[l4] ^= 1;
        fc.see(&frame);
        frame[l4] ^= 1;
        fc.see(&frame);
        let l3 = dissect(&v6).unwrap().l3_off;
        v6[l3 + 39] ^= 0x80;
        fc.see(&v6);
        assert_eq!(fc.count(), 4);
        fc.see(b"not a frame");
        assert_eq!(fc.count(), 4);
        let mut many = FlowCounter::default();
        for port in 0..5000u16 {
            frame[l4..l4 + 2].copy_from_slice(&port.to_be_bytes());
            many.see(&frame);
            many.see(&frame);
        }
        assert_eq!(many.count(), 5000);
    }

    #[test]
    fn missing_input_is_an_input_error() {
        let r = gso_file(
            &tmp("nope.pcap"),
            &tmp("nope-out.pcap"),
            GsoOptions::default(),
            &mut no_progress,
        );
        assert!(matches!(r, Err(JobError::Input(PcapError::Io(_)))));
    }

    #[test]
    fn gro_counts_every_parse_reason() {
        for r in crate::wire::ParseError::REASONS {
            assert!(crate::gro::REASONS.contains(&r), "{r}");
        }
    }
}
