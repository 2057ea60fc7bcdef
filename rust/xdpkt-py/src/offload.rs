//! Offline offloads: `gso_segment`, `gro_coalesce` and the streaming `Gro`.
//!
//! Each engine owns one frame pool that it reuses call after call (the
//! one-shot functions keep one per thread). Frames are copied into the pool
//! with the GIL held, the engine runs with the GIL released, and results are
//! copied out into Python objects.

use std::cell::RefCell;
use std::collections::VecDeque;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use xdpkt::gro::{Gro, GroConfig, GroStats};
use xdpkt::gso::GsoOptions;
use xdpkt::offline::{gro_pool_frames, Segmenter, GRO_FRAME_SIZE, MAX_FLOWS};
use xdpkt::{Batch, FramePool, Packet, PoolError};

use crate::errors::{in_range, Error};
use crate::packet::{with_frame_bytes, PyPacket};

/// Packets copied in (GIL held) before the engine runs on them (GIL released).
const CHUNK: usize = 256;
/// Frames of a GRO pool: the held flows plus a chunk in flight.
fn gro_frames(max_flows: usize) -> u32 {
    gro_pool_frames(max_flows, CHUNK)
}

thread_local! {
    static GSO: RefCell<Option<Segmenter>> = const { RefCell::new(None) };
    static GRO: RefCell<Option<GroEngine>> = const { RefCell::new(None) };
}

fn deliver_packets(
    py: Python<'_>,
    pool: &mut FramePool,
    out: &mut Batch,
    res: &mut Vec<Py<PyPacket>>,
) -> PyResult<()> {
    let mut err = None;
    for p in out.drain() {
        if err.is_none() {
            match PyPacket::from_core(py, pool, &p).and_then(|pp| Py::new(py, pp)) {
                Ok(pp) => res.push(pp),
                Err(e) => err = Some(e),
            }
        }
        pool.release(p);
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `gso_segment(frame, mss=None, fixed_id=False) -> list[bytes]`
#[pyfunction]
#[pyo3(signature = (frame, mss=None, fixed_id=false))]
pub fn gso_segment<'py>(
    py: Python<'py>,
    frame: &Bound<'py, PyAny>,
    mss: Option<i64>,
    fixed_id: bool,
) -> PyResult<Bound<'py, PyList>> {
    let mss = mss
        .map(|m| in_range("mss", m, 1, 65535).map(|m| m as u16))
        .transpose()?;
    let meta = frame.downcast::<PyPacket>().ok().map(|p| {
        let p = p.get();
        (p.gso_size, p.gso_segs, p.gso_type, p.gso_fixed_id)
    });
    match (mss, meta) {
        (None, None) => {
            return Err(Error::Arg(
                "mss is required unless frame is a Packet that carries a gso_size".into(),
            )
            .into())
        }
        // A packet that is not an aggregate is not a GSO request: it goes out unchanged.
        (None, Some((0, _, _, _))) => {
            let b = with_frame_bytes(frame, || "frame", |b| PyBytes::new(py, b))?;
            return PyList::new(py, [b]);
        }
        _ => {}
    }
    let opts = GsoOptions { mss, fixed_id };
    GSO.with(|cell| {
        let mut slot = cell.borrow_mut();
        let seg = slot.get_or_insert_with(Segmenter::new);
        let res = match frame.downcast::<PyBytes>() {
            // bytes are immutable: segment straight from them with the GIL released.
            Ok(b) => {
                let data = b.as_bytes();
                py.allow_threads(|| seg.segment(data, meta, opts))
            }
            Err(_) => {
                let data = with_frame_bytes(frame, || "frame", |b| b.to_vec())?;
                py.allow_threads(|| seg.segment(&data, meta, opts))
            }
        };
        res.map_err(Error::from)?;
        let pool = seg.pool();
        let list = seg
            .output()
            .iter()
            .map(|p| {
                PyBytes::new_with(py, p.len(), |b| {
                    pool.copy_into(p, b);
                    Ok(())
                })
            })
            .collect::<PyResult<Vec<_>>>();
        seg.clear();
        PyList::new(py, list?)
    })
}

/// A GRO engine with its own pool, fed from Python iterables.
pub struct GroEngine {
    gro: Gro,
    pool: FramePool,
    pending: VecDeque<Packet>,
    out: Batch,
    key: (u32, usize, bool),
}

impl GroEngine {
    pub fn new(max_size: u32, max_flows: usize, udp: bool) -> GroEngine {
        let cfg = GroConfig {
            max_size,
            max_flows,
            udp,
        };
        GroEngine {
            gro: Gro::new(cfg),
            pool: FramePool::heap(gro_frames(max_flows), GRO_FRAME_SIZE),
            pending: VecDeque::with_capacity(CHUNK),
            out: Batch::with_capacity(2 * CHUNK + 2),
            key: (max_size, max_flows, udp),
        }
    }

    pub fn held(&self) -> usize {
        self.gro.held()
    }

    pub fn stats(&self) -> GroStats {
        *self.gro.stats()
    }

    /// Runs GRO over the pending packets (GIL released), delivering as the output fills.
    fn run_pending(
        &mut self,
        py: Python<'_>,
        now_ns: u64,
        res: &mut Vec<Py<PyPacket>>,
    ) -> PyResult<()> {
        while !self.pending.is_empty() {
            let GroEngine {
                gro,
                pool,
                pending,
                out,
                ..
            } = self;
            py.allow_threads(|| {
                while out.room() >= 2 {
                    let Some(p) = pending.pop_front() else { break };
                    if let Err(p) = gro.receive(pool, p, now_ns, out) {
                        if let Err(p) = out.push(p) {
                            pending.push_front(p);
                            break;
                        }
                    }
                }
            });
            deliver_packets(py, pool, out, res)?;
        }
        Ok(())
    }

    /// Flushes everything held (`older_than_ns` None) or what is older than it.
    pub fn flush(
        &mut self,
        py: Python<'_>,
        now_ns: u64,
        older_than_ns: Option<u64>,
    ) -> PyResult<Vec<Py<PyPacket>>> {
        let mut res = Vec::new();
        let GroEngine { gro, pool, out, .. } = self;
        loop {
            // Each pass flushes at most what `out` can take.
            let before = gro.held();
            py.allow_threads(|| match older_than_ns {
                None => gro.flush(pool, out),
                Some(t) => gro.flush_older_than(pool, now_ns, t, out),
            });
            let progressed = gro.held() < before;
            deliver_packets(py, pool, out, &mut res)?;
            if gro.held() == 0 || !progressed {
                break;
            }
        }
        Ok(res)
    }

    /// One NAPI poll over `frames`; then flushes everything (`older_than_ns` None)
    /// or the aggregates held longer than `older_than_ns`.
    pub fn push(
        &mut self,
        py: Python<'_>,
        frames: &Bound<'_, PyAny>,
        now_ns: u64,
        older_than_ns: Option<u64>,
    ) -> PyResult<Vec<Py<PyPacket>>> {
        let r = self.push_inner(py, frames, now_ns, older_than_ns);
        if r.is_err() {
            // Frames copied in before the failure are not fed to GRO.
            for p in self.pending.drain(..) {
                self.pool.release(p);
            }
        }
        r
    }

    fn push_inner(
        &mut self,
        py: Python<'_>,
        frames: &Bound<'_, PyAny>,
        now_ns: u64,
        older_than_ns: Option<u64>,
    ) -> PyResult<Vec<Py<PyPacket>>> {
        let iter = frames.try_iter().map_err(|_| {
            Error::Type(
                "frames: expected an iterable of bytes-like objects (bytes, bytearray, memoryview)"
                    .into(),
            )
        })?;
        let mut res = Vec::new();
        let mut carry: Option<Bound<'_, PyAny>> = None;
        let mut iter = iter.enumerate();
        let mut index = 0usize;
        let mut done = false;
        while !done {
            while self.pending.len() < CHUNK {
                let item = match carry.take() {
                    Some(c) => c,
                    None => match iter.next() {
                        Some((i, item)) => {
                            index = i;
                            item?
                        }
                        None => {
                            done = true;
                            break;
                        }
                    },
                };
                let name = || format!("frames[{index}]");
                match with_frame_bytes(&item, name, |b| self.pool.packet_from(b))? {
                    Ok(p) => self.pending.push_back(p),
                    Err(PoolError::Exhausted) => {
                        carry = Some(item);
                        break;
                    }
                    Err(e) => return Err(Error::Pool(e).into()),
                }
            }
            if carry.is_some() && self.pending.is_empty() {
                // The held aggregates fill the pool: deliver them early to make room.
                if self.gro.held() == 0 {
                    let len = carry.as_ref().and_then(|c| c.len().ok()).unwrap_or(0);
                    return Err(Error::Arg(format!(
                        "frames[{index}]: a {len}-byte frame does not fit the GRO frame pool"
                    ))
                    .into());
                }
                res.extend(self.flush(py, now_ns, None)?);
                continue;
            }
            self.run_pending(py, now_ns, &mut res)?;
            // A long push stays interruptible (Ctrl-C) between chunks.
            py.check_signals()?;
        }
        res.extend(self.flush(py, now_ns, older_than_ns)?);
        Ok(res)
    }
}

fn stats_dict<'py>(py: Python<'py>, st: &GroStats, held: usize) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("packets_in", st.packets_in)?;
    d.set_item("packets_out", st.packets_out)?;
    d.set_item("merged", st.merged)?;
    d.set_item("aggregates", st.aggregates)?;
    d.set_item("evicted", st.evicted)?;
    d.set_item("passthrough", st.passthrough)?;
    d.set_item("held", held)?;
    let r = PyDict::new(py);
    for (name, n) in st.reasons() {
        r.set_item(name, n)?;
    }
    d.set_item("reasons", r)?;
    Ok(d)
}

fn gro_args(max_size: i64, max_flows: i64) -> Result<(u32, usize), Error> {
    Ok((
        in_range("max_size", max_size, 1, 65535)? as u32,
        in_range("max_flows", max_flows, 1, MAX_FLOWS as i64)? as usize,
    ))
}

/// `gro_coalesce(frames, max_size=65535, udp=False, max_flows=64) -> (list[Packet], dict[str, int])`:
/// one batch as one NAPI poll sees it; the dict counts the frames passed through, by reason.
#[pyfunction]
#[pyo3(signature = (frames, max_size=65535, udp=false, max_flows=64))]
pub fn gro_coalesce<'py>(
    py: Python<'py>,
    frames: &Bound<'py, PyAny>,
    max_size: i64,
    udp: bool,
    max_flows: i64,
) -> PyResult<(Vec<Py<PyPacket>>, Bound<'py, PyDict>)> {
    let (max_size, max_flows) = gro_args(max_size, max_flows)?;
    GRO.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|e| e.key != (max_size, max_flows, udp))
        {
            *slot = Some(GroEngine::new(max_size, max_flows, udp));
        }
        let Some(eng) = slot.as_mut() else {
            unreachable!("engine was just set")
        };
        let before = eng.stats();
        let pkts = eng.push(py, frames, 0, None);
        // A failed call may leave packets held: flush them so the next call starts clean.
        let leftover = eng.flush(py, 0, None);
        let pkts = pkts?;
        leftover?;
        let after = eng.stats();
        let d = PyDict::new(py);
        for ((name, a), (_, b)) in after.reasons().zip(before.reasons()) {
            if a > b {
                d.set_item(name, a - b)?;
            }
        }
        Ok((pkts, d))
    })
}

/// Streaming GRO: a flow table that holds aggregates across pushes.
#[pyclass(module = "xdpkt._xdpkt", name = "Gro")]
pub struct PyGro {
    eng: GroEngine,
    flush_usecs: u64,
}

fn now_or(py: Python<'_>, now_ns: Option<i64>) -> PyResult<u64> {
    match now_ns {
        Some(n) => Ok(in_range("now_ns", n, 0, i64::MAX)? as u64),
        None => py
            .import("time")?
            .getattr("monotonic_ns")?
            .call0()?
            .extract(),
    }
}

impl PyGro {
    fn older_than(&self) -> Option<u64> {
        (self.flush_usecs > 0).then_some(self.flush_usecs.saturating_mul(1000))
    }
}

#[pymethods]
impl PyGro {
    #[new]
    #[pyo3(signature = (max_size=65535, flush_usecs=0, max_flows=64, udp=false))]
    fn new(max_size: i64, flush_usecs: i64, max_flows: i64, udp: bool) -> PyResult<Self> {
        let (max_size, max_flows) = gro_args(max_size, max_flows)?;
        let flush_usecs = in_range("flush_usecs", flush_usecs, 0, 3_600_000_000)? as u64;
        Ok(PyGro {
            eng: GroEngine::new(max_size, max_flows, udp),
            flush_usecs,
        })
    }

    /// Receives `frames` as one NAPI poll; returns the packets delivered now.
    #[pyo3(signature = (frames, now_ns=None))]
    fn push(
        &mut self,
        py: Python<'_>,
        frames: &Bound<'_, PyAny>,
        now_ns: Option<i64>,
    ) -> PyResult<Vec<Py<PyPacket>>> {
        let now = now_or(py, now_ns)?;
        let older = self.older_than();
        self.eng.push(py, frames, now, older)
    }

    /// Delivers everything held.
    fn flush(&mut self, py: Python<'_>) -> PyResult<Vec<Py<PyPacket>>> {
        self.eng.flush(py, 0, None)
    }

    /// Delivers the aggregates held longer than `flush_usecs` (everything when it is 0).
    #[pyo3(signature = (now_ns=None))]
    fn flush_expired(
        &mut self,
        py: Python<'_>,
        now_ns: Option<i64>,
    ) -> PyResult<Vec<Py<PyPacket>>> {
        let now = now_or(py, now_ns)?;
        let older = self.older_than();
        self.eng.flush(py, now, older)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.eng.stats(), self.eng.held())
    }

    /// Packets held in the flow table.
    #[getter]
    fn held(&self) -> usize {
        self.eng.held()
    }
    #[getter]
    fn max_size(&self) -> u32 {
        self.eng.key.0
    }
    #[getter]
    fn max_flows(&self) -> usize {
        self.eng.key.1
    }
    #[getter]
    fn udp(&self) -> bool {
        self.eng.key.2
    }
    #[getter]
    fn flush_usecs(&self) -> u64 {
        self.flush_usecs
    }
}

impl Drop for GroEngine {
    fn drop(&mut self) {
        // Packets are move-only frame handles: return what is still held to the pool
        // (the pool is freed right after, but this keeps its accounting honest).
        for p in self.pending.drain(..) {
            self.pool.release(p);
        }
    }
}
