//! `xdpkt._xdpkt.Port`: the software NIC (all queues of one interface, NAPI
//! polling, GRO on receive, GSO on transmit) for Python. Validation of the
//! configuration with messages naming key, value and range lives in
//! `python/xdpkt/port.py` (`PortConfig`); this layer re-checks what the core needs.
//!
//! A Port is idle (Python calls `recv`/`send` on it) or forwarding: `forward_to`
//! moves both ports' queues onto the core's `Forwarder` workers; `stop()` on
//! either port hands them back. Counters and live settings are reachable in both
//! states without the forwarder's lock.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use xdpkt::gro::GroConfig;
use xdpkt::napi::{NapiConfig, QueueCounters};
use xdpkt::port::{CpuPer, Forwarder, Live, Port, PortConfig, PortShared};
use xdpkt::xsk::socket::SharedUmem;
use xdpkt::xsk::{Error, Mode, SocketStats};
use xdpkt::Batch;

use crate::socket::{in_netns, lk, to_pyerr, PyBatch};

enum Fwd {
    Running(Forwarder),
    /// Stopped: each side takes its port back on its next call.
    Stopped {
        a: Option<Port>,
        b: Option<Port>,
        err: Option<Error>,
    },
}

type FwdCell = Arc<Mutex<Fwd>>;

#[allow(clippy::large_enum_variant)] // one per Port, never moved on a hot path
enum State {
    Idle(Port),
    /// `true`: this port is side A (the one whose `forward_to` started it).
    Forwarding(FwdCell, bool),
    Closed,
}

#[pyclass(module = "xdpkt._xdpkt", name = "Port", frozen, subclass)]
pub struct PyPort {
    state: Mutex<State>,
    shared: Arc<PortShared>,
    umem: SharedUmem,
    ifname: String,
    channels: usize,
    mtu: u32,
    mode: String,
    cpus: Vec<usize>,
    notes: Vec<String>,
    /// Largest frame one UMEM frame holds (larger ones are chained).
    frame_capacity: usize,
    /// The names `ethtool_items` returns, made once (the counter layout is fixed).
    stat_names: OnceLock<Vec<Py<PyString>>>,
}

/// Runs `f` on the idle port, first taking it back from a stopped forwarder.
fn with_idle<R>(
    state: &Mutex<State>,
    f: impl FnOnce(&mut Port) -> Result<R, Error>,
) -> PyResult<R> {
    let mut g = lk(state);
    reclaim(&mut g);
    match &mut *g {
        State::Idle(p) => f(p).map_err(to_pyerr),
        State::Forwarding(..) => Err(PyRuntimeError::new_err(
            "the port is forwarding: call stop() first",
        )),
        State::Closed => Err(to_pyerr(Error::Closed)),
    }
}

/// A port whose forwarder was stopped (through the other port) becomes idle again.
fn reclaim(g: &mut State) {
    let State::Forwarding(cell, side_a) = g else {
        return;
    };
    let mut f = lk(cell);
    if let Fwd::Stopped { a, b, .. } = &mut *f {
        let mine = if *side_a { a.take() } else { b.take() };
        drop(f);
        *g = match mine {
            Some(p) => State::Idle(p),
            None => State::Closed,
        };
    }
}

fn gro_cfg(on: bool, udp: bool) -> Option<GroConfig> {
    on.then_some(GroConfig {
        udp,
        ..GroConfig::default()
    })
}

fn timeout_arg(t: Option<f64>) -> PyResult<Option<Duration>> {
    match t {
        Some(t) if !(t >= 0.0 && t.is_finite() && t < 1e9) => {
            Err(PyValueError::new_err("timeout must be >= 0 or None"))
        }
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
        None => Ok(None),
    }
}

/// `ethtool -S` style names, in a stable order.
fn counter_items(c: &QueueCounters, x: &SocketStats) -> Vec<(&'static str, u64)> {
    let k = &x.kernel;
    vec![
        ("rx_packets", c.rx_packets),
        ("rx_bytes", c.rx_bytes),
        ("rx_delivered", c.rx_delivered),
        ("rx_gro_merged", c.gro.merged),
        ("rx_gro_aggregates", c.gro.aggregates),
        ("rx_gro_evicted", c.gro.evicted),
        ("rx_gro_passthrough", c.gro.passthrough),
        ("rx_no_route", c.rx_no_route),
        ("tx_packets", c.tx_packets),
        ("tx_bytes", c.tx_bytes),
        ("tx_gso_superframes", c.gso_superframes),
        ("tx_gso_segments", c.gso_segments),
        ("tx_gso_errors", c.gso_errors),
        ("tx_mtu_drops", c.tx_mtu_drops),
        ("tx_pool_drops", c.tx_pool_drops),
        ("tx_errors", c.tx_errors),
        ("napi_polls", c.napi_polls),
        ("napi_busy_polls", c.napi_busy_polls),
        ("napi_sleeps", c.napi_sleeps),
        ("napi_wakeups", c.napi_wakeups),
        ("napi_budget_exhausted", c.napi_budget_exhausted),
        ("adaptive_to_busy", c.adaptive_to_busy),
        ("adaptive_to_sleep", c.adaptive_to_sleep),
        ("poll_syscalls", c.poll_syscalls),
        ("tx_kicks", x.tx_kicks),
        ("xsk_rx_dropped", k.rx_dropped),
        ("xsk_rx_invalid_descs", k.rx_invalid_descs),
        ("xsk_rx_ring_full", k.rx_ring_full),
        ("xsk_rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs),
        ("xsk_tx_invalid_descs", k.tx_invalid_descs),
        ("xsk_tx_ring_empty_descs", k.tx_ring_empty_descs),
        ("xsk_rx_bad_descs", x.rx_bad_descs),
        ("xsk_completion_bad_descs", x.completion_bad_descs),
    ]
}

impl PyPort {
    fn refresh(&self) {
        // An idle port publishes its own counters; a forwarding one's workers do.
        let mut g = lk(&self.state);
        reclaim(&mut g);
        if let State::Idle(p) = &mut *g {
            let _ = p.counters();
        }
    }

    fn live(&self) -> Live {
        self.shared.control.get()
    }
}

#[pymethods]
impl PyPort {
    #[new]
    #[pyo3(signature = (ifname, *, channels=None, per="core", gro=true, gro_udp=false, gso=true,
        budget=64, rx_usecs=0, adaptive_rx=true, busy_usecs=50, ring_size=2048, frames=16384,
        frame_size=4096, mode="auto", mtu=None, pin=true, need_wakeup=true, netns=None,
        share_umem=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        ifname: String,
        channels: Option<u32>,
        per: &str,
        gro: bool,
        gro_udp: bool,
        gso: bool,
        budget: u32,
        rx_usecs: u32,
        adaptive_rx: bool,
        busy_usecs: u32,
        ring_size: u32,
        frames: u32,
        frame_size: usize,
        mode: &str,
        mtu: Option<u32>,
        pin: bool,
        need_wakeup: bool,
        netns: Option<String>,
        share_umem: Option<PyRef<'_, PyPort>>,
    ) -> PyResult<PyPort> {
        let per = CpuPer::parse(per).ok_or_else(|| {
            PyValueError::new_err(format!(
                "per={per:?}: must be 'package', 'core' or 'thread'"
            ))
        })?;
        let mode = Mode::parse(mode).ok_or_else(|| {
            PyValueError::new_err(format!(
                "mode={mode:?}: must be 'auto', 'zerocopy', 'copy' or 'skb'"
            ))
        })?;
        let cfg = PortConfig {
            ifname: ifname.clone(),
            channels,
            per,
            napi: NapiConfig {
                budget,
                gro: gro_cfg(gro, gro_udp),
                rx_usecs,
                adaptive: adaptive_rx,
                busy_usecs,
                gso,
                mtu: 1500,
            },
            mtu,
            mode,
            ring_size,
            frames,
            frame_size,
            need_wakeup,
            pin,
        };
        // The other port must be idle for its UMEM to be joined.
        let share = match &share_umem {
            Some(o) => Some(
                with_idle(&o.state, |p| p.share())
                    .map_err(|e| PyValueError::new_err(format!("share_umem: {e}")))?,
            ),
            None => None,
        };
        let port = py
            .allow_threads(|| in_netns(netns, || Port::open(&cfg, share.as_ref())))
            .map_err(to_pyerr)?;
        let mut port = port;
        let cap = {
            let u = port.umem();
            let g = lk(&u);
            g.pool_ref().frame_capacity()
        };
        let _ = port.counters();
        Ok(PyPort {
            shared: port.shared().clone(),
            umem: port.umem(),
            ifname,
            channels: port.channels(),
            mtu: port.mtu(),
            mode: port.mode().map_or("?", |m| m.as_str()).to_string(),
            cpus: port.cpus().to_vec(),
            notes: port.notes().to_vec(),
            frame_capacity: cap,
            stat_names: OnceLock::new(),
            state: Mutex::new(State::Idle(port)),
        })
    }

    #[getter]
    fn ifname(&self) -> &str {
        &self.ifname
    }
    #[getter]
    fn channels(&self) -> usize {
        self.channels
    }
    #[getter]
    fn mtu(&self) -> u32 {
        self.mtu
    }
    #[getter]
    fn mode(&self) -> &str {
        &self.mode
    }
    #[getter]
    fn cpus(&self) -> Vec<usize> {
        self.cpus.clone()
    }
    #[getter]
    fn frame_capacity(&self) -> usize {
        self.frame_capacity
    }
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
    #[getter]
    fn forwarding(&self) -> bool {
        let mut g = lk(&self.state);
        reclaim(&mut g);
        matches!(&*g, State::Forwarding(..))
    }
    #[getter]
    fn closed(&self) -> bool {
        matches!(&*lk(&self.state), State::Closed)
    }

    /// One batch of what arrived on any queue, after GRO: up to `max_packets`,
    /// waiting up to `timeout` seconds (None: until something arrives).
    #[pyo3(signature = (max_packets=256, timeout=1.0))]
    fn recv(&self, py: Python<'_>, max_packets: usize, timeout: Option<f64>) -> PyResult<PyBatch> {
        if !(2..=65536).contains(&max_packets) {
            return Err(PyValueError::new_err(
                "max_packets must be between 2 and 65536",
            ));
        }
        let deadline = timeout_arg(timeout)?.map(|t| Instant::now() + t);
        let mut batch = Batch::with_capacity(max_packets);
        loop {
            let got = py.allow_threads(|| with_idle(&self.state, |p| p.poll(&mut batch)))?;
            if got > 0 {
                break;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(100),
            };
            if left.is_zero() {
                break;
            }
            py.allow_threads(|| with_idle(&self.state, |p| p.wait(left)))?;
            py.check_signals()?;
        }
        Ok(PyBatch::new(self.umem.clone(), batch))
    }

    /// Transmits frames (bytes-like, or a Batch of this UMEM, sent without a copy):
    /// super-frames are cut to the wire MSS by GSO (when on), everything goes onto
    /// the TX ring of `queue` in whole batches. Returns the frames put on the wire
    /// once all completed.
    #[pyo3(signature = (frames, queue=None))]
    fn send(
        &self,
        py: Python<'_>,
        frames: Bound<'_, PyAny>,
        queue: Option<usize>,
    ) -> PyResult<usize> {
        let xmit = |p: &mut Port, b: &mut Batch| match queue {
            Some(q) => p.xmit(q, b),
            None => p.xmit_flows(b),
        };
        if let Some(queue) = queue.filter(|&q| q >= self.channels) {
            return Err(PyValueError::new_err(format!(
                "queue={queue}: the port has {} channels (0..{})",
                self.channels,
                self.channels.saturating_sub(1)
            )));
        }
        if let Ok(b) = frames.downcast::<PyBatch>() {
            if let Some(mut batch) = b.get().take_if_same(&self.umem)? {
                return py.allow_threads(|| {
                    let r = with_idle(&self.state, |p| xmit(p, &mut batch));
                    let mut u = lk(&self.umem);
                    for p in batch.drain() {
                        u.pool().release(p);
                    }
                    r
                });
            }
            let copies = b.as_any().len()?;
            let list = PyList::empty(py);
            for i in 0..copies {
                list.append(b.get_item(i)?.call_method0("__bytes__")?)?;
            }
            return self.send(py, list.into_any(), queue);
        }
        let mut items: Vec<Bound<'_, PyBytes>> = Vec::new();
        for it in frames.try_iter()? {
            let it = it?;
            let b = match it.downcast::<PyBytes>() {
                Ok(b) => b.clone(),
                Err(_) => py.get_type::<PyBytes>().call1((it,))?.downcast_into()?,
            };
            let n = b.as_bytes().len();
            if n == 0 {
                return Err(PyValueError::new_err("cannot send an empty frame"));
            }
            if n > 65535 + 64 {
                return Err(to_pyerr(Error::TooLarge {
                    len: n,
                    max: 65535 + 64,
                }));
            }
            items.push(b);
        }
        let mut sent = 0;
        let mut i = 0;
        while i < items.len() {
            let mut batch = Batch::with_capacity((items.len() - i).min(1024));
            {
                let mut u = lk(&self.umem);
                while i < items.len() && !batch.is_full() {
                    match u.pool().packet_from(items[i].as_bytes()) {
                        Ok(p) => {
                            let _ = batch.push(p);
                            i += 1;
                        }
                        Err(_) => break,
                    }
                }
            }
            if batch.is_empty() {
                return Err(to_pyerr(Error::Exhausted));
            }
            let r = py.allow_threads(|| {
                let r = with_idle(&self.state, |p| xmit(p, &mut batch));
                let mut u = lk(&self.umem);
                for p in batch.drain() {
                    u.pool().release(p);
                }
                r
            });
            sent += r?;
        }
        Ok(sent)
    }

    /// The software RSS context: Toeplitz key, 128-entry indirection table, hash function.
    fn rss<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (key, table) = with_idle(&self.state, |p| {
            Ok((p.rss().key().to_vec(), p.rss().table().to_vec()))
        })?;
        let d = PyDict::new(py);
        d.set_item("hfunc", "toeplitz")?;
        d.set_item("key", PyBytes::new(py, &key))?;
        d.set_item("indirection", table)?;
        Ok(d)
    }

    /// The queue software RSS picks for a frame's flow (what `send(queue=None)` uses).
    fn flow_queue(&self, frame: &[u8]) -> PyResult<u32> {
        with_idle(&self.state, |p| Ok(p.rss().queue_for_frame(frame)))
    }

    /// Changes the software RSS table (`equal`: spread over the first N channels;
    /// `indirection`: 128 queue numbers) and/or key (40 to 52 bytes).
    #[pyo3(signature = (*, equal=None, indirection=None, key=None))]
    fn set_rss(
        &self,
        equal: Option<u32>,
        indirection: Option<Vec<u32>>,
        key: Option<Vec<u8>>,
    ) -> PyResult<()> {
        let ch = self.channels as u32;
        if let Some(n) = equal.filter(|&n| n == 0 || n > ch) {
            return Err(PyValueError::new_err(format!(
                "equal={n}: must be between 1 and the channel count ({ch})"
            )));
        }
        let r = with_idle(&self.state, |p| {
            // Work on a copy: a refused setting leaves the old context in force.
            let mut r = p.rss().clone();
            let applied = (|| {
                if let Some(k) = &key {
                    r.set_key(k)?;
                }
                if let Some(n) = equal {
                    r.set_equal(n)?;
                }
                if let Some(t) = &indirection {
                    r.set_queues_and_table(ch, t)?;
                }
                Ok::<(), xdpkt::rss::RssError>(())
            })();
            if applied.is_ok() {
                *p.rss_mut() = r;
            }
            Ok(applied)
        })?;
        r.map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Forwards this port's RX to `other`'s TX in Rust (and `other`'s to this one's
    /// with `both_ways`), one pinned worker per queue pair. The ports must share one
    /// UMEM (open `other` with `share_umem=self`) and have the same channel count.
    #[pyo3(signature = (other, both_ways=true))]
    fn forward_to(&self, other: PyRef<'_, PyPort>, both_ways: bool) -> PyResult<()> {
        if std::ptr::eq(self, &*other) {
            return Err(PyValueError::new_err(
                "forward_to(self): a port cannot forward to itself",
            ));
        }
        let mut ga = lk(&self.state);
        reclaim(&mut ga);
        let mut gb = lk(&other.state);
        reclaim(&mut gb);
        let a = std::mem::replace(&mut *ga, State::Closed);
        let b = std::mem::replace(&mut *gb, State::Closed);
        let (a, b) = match (a, b) {
            (State::Idle(a), State::Idle(b)) => (a, b),
            (a, b) => {
                *ga = a;
                *gb = b;
                return Err(PyRuntimeError::new_err(
                    "forward_to: both ports must be open and not forwarding",
                ));
            }
        };
        match Forwarder::start(a, b, both_ways) {
            Ok(f) => {
                let cell: FwdCell = Arc::new(Mutex::new(Fwd::Running(f)));
                *ga = State::Forwarding(cell.clone(), true);
                *gb = State::Forwarding(cell, false);
                Ok(())
            }
            Err((a, b, e)) => {
                *ga = State::Idle(a);
                *gb = State::Idle(b);
                Err(to_pyerr(e))
            }
        }
    }

    /// Stops forwarding (both ports become idle; GRO flushed, TX drained). Raises the
    /// error that stopped a worker early, if one did. No-op when not forwarding.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let cell = match &*lk(&self.state) {
            State::Forwarding(c, _) => c.clone(),
            _ => return Ok(()),
        };
        let err = py.allow_threads(|| {
            let mut f = lk(&cell);
            let cur = std::mem::replace(
                &mut *f,
                Fwd::Stopped {
                    a: None,
                    b: None,
                    err: None,
                },
            );
            match cur {
                Fwd::Running(fw) => {
                    let (a, b, err) = fw.stop();
                    *f = Fwd::Stopped {
                        a: Some(a),
                        b: Some(b),
                        err,
                    };
                    err
                }
                stopped => {
                    *f = stopped;
                    None
                }
            }
        });
        self.refresh();
        match err {
            Some(e) => Err(to_pyerr(e)),
            None => Ok(()),
        }
    }

    /// Whether a forwarding worker stopped on its own (its error is raised by stop()).
    fn worker_failed(&self) -> bool {
        match &*lk(&self.state) {
            State::Forwarding(c, _) => match &*lk(c) {
                Fwd::Running(f) => f.finished(),
                Fwd::Stopped { err, .. } => err.is_some(),
            },
            _ => false,
        }
    }

    /// Totals over all queues (ethtool -S names).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.refresh();
        let d = PyDict::new(py);
        let mut tot: Vec<(&'static str, u64)> = Vec::new();
        for (c, x) in self.shared.counters.iter().zip(self.shared.xsk.iter()) {
            let items = counter_items(&lk(c), &lk(x));
            if tot.is_empty() {
                tot = items;
            } else {
                for (t, (_, v)) in tot.iter_mut().zip(items) {
                    t.1 += v;
                }
            }
        }
        for (k, v) in tot {
            d.set_item(k, v)?;
        }
        // GRO pass-through reasons, summed.
        let mut reasons: Vec<(&'static str, u64)> = Vec::new();
        for c in self.shared.counters.iter() {
            let g = lk(c).gro;
            for (i, (name, v)) in g.reasons().enumerate() {
                match reasons.get_mut(i) {
                    Some(r) => r.1 += v,
                    None => reasons.push((name, v)),
                }
            }
        }
        for (name, v) in reasons {
            d.set_item(format!("rx_gro_pass_{name}"), v)?;
        }
        Ok(d)
    }

    /// Every counter as `(name, value)` pairs in `ethtool -S` order: the totals (as
    /// `stats()`), then each queue's as `rx_queue_N_*`, `tx_queue_N_*`, `queue_N_*`. One
    /// call, names made once: what monitoring polls.
    fn ethtool_items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.refresh();
        let per_queue: Vec<(Vec<(&'static str, u64)>, xdpkt::gro::GroStats)> = self
            .shared
            .counters
            .iter()
            .zip(self.shared.xsk.iter())
            .map(|(c, x)| {
                let c = lk(c);
                (counter_items(&c, &lk(x)), c.gro)
            })
            .collect();
        let mut vals: Vec<u64> = Vec::new();
        let mut total: Vec<u64> = Vec::new();
        let mut reasons: Vec<u64> = Vec::new();
        for (items, gro) in &per_queue {
            if total.is_empty() {
                total = items.iter().map(|(_, v)| *v).collect();
            } else {
                for (t, (_, v)) in total.iter_mut().zip(items) {
                    *t += v;
                }
            }
            for (i, (_, v)) in gro.reasons().enumerate() {
                match reasons.get_mut(i) {
                    Some(r) => *r += v,
                    None => reasons.push(v),
                }
            }
        }
        vals.extend(&total);
        vals.extend(&reasons);
        for (items, _) in &per_queue {
            vals.extend(items.iter().map(|(_, v)| *v));
        }
        let names = self.stat_names.get_or_init(|| {
            let mut n: Vec<Py<PyString>> = Vec::new();
            let mut push = |s: &str| n.push(PyString::new(py, s).unbind());
            if let Some((items, gro)) = per_queue.first() {
                for (k, _) in items {
                    push(k);
                }
                for (r, _) in gro.reasons() {
                    push(&format!("rx_gro_pass_{r}"));
                }
                for q in 0..per_queue.len() {
                    for (k, _) in items {
                        let name = if let Some(rest) = k.strip_prefix("tx_") {
                            format!("tx_queue_{q}_{rest}")
                        } else if let Some(rest) = k.strip_prefix("rx_") {
                            format!("rx_queue_{q}_{rest}")
                        } else {
                            format!("queue_{q}_{k}")
                        };
                        push(&name);
                    }
                }
            }
            n
        });
        let list = PyList::empty(py);
        for (name, v) in names.iter().zip(vals) {
            list.append((name.bind(py), v))?;
        }
        Ok(list)
    }

    /// Counters of each queue, in queue order.
    fn queue_stats<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.refresh();
        let mut out = Vec::new();
        for (c, x) in self.shared.counters.iter().zip(self.shared.xsk.iter()) {
            let d = PyDict::new(py);
            for (k, v) in counter_items(&lk(c), &lk(x)) {
                d.set_item(k, v)?;
            }
            out.push(d);
        }
        Ok(out)
    }

    /// Where the UMEM's frames are: free, user, fill, tx, completion (sum = total).
    /// Only while idle (workers move frames all the time).
    fn places<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = py.allow_threads(|| with_idle(&self.state, |p| p.places()))?;
        let d = PyDict::new(py);
        for (k, v) in [
            ("free", p.free),
            ("user", p.user),
            ("fill", p.fill),
            ("tx", p.tx),
            ("completion", p.completion),
            ("total", p.total),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The software offloads now in force.
    fn features<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = self.live();
        let d = PyDict::new(py);
        d.set_item("rx-gro", l.gro.is_some())?;
        d.set_item("rx-udp-gro-forwarding", l.gro.is_some_and(|g| g.udp))?;
        d.set_item("tx-tcp-segmentation", l.gso)?;
        d.set_item("tx-tcp6-segmentation", l.gso)?;
        d.set_item("tx-udp-segmentation", l.gso)?;
        d.set_item("generic-segmentation-offload", l.gso)?;
        Ok(d)
    }

    /// Changes offloads on the fly (workers pick them up at their next poll; turning
    /// GRO off flushes what it holds first).
    #[pyo3(signature = (*, gro=None, gro_udp=None, gso=None))]
    fn set_features(
        &self,
        gro: Option<bool>,
        gro_udp: Option<bool>,
        gso: Option<bool>,
    ) -> PyResult<()> {
        let mut l = self.live();
        let gro_on = gro.unwrap_or(l.gro.is_some());
        let udp = gro_udp.unwrap_or(l.gro.is_some_and(|g| g.udp));
        l.gro = gro_cfg(gro_on, udp);
        if let Some(g) = gso {
            l.gso = g;
        }
        self.shared.control.set(l);
        Ok(())
    }

    /// NAPI budget and GRO hold now in force (ethtool -c names).
    fn coalesce<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = self.live();
        let d = PyDict::new(py);
        d.set_item("rx-frames", l.budget)?;
        d.set_item("rx-usecs", l.rx_usecs)?;
        d.set_item("adaptive-rx", l.adaptive)?;
        d.set_item("busy-usecs", l.busy_usecs)?;
        Ok(d)
    }

    #[pyo3(signature = (*, budget=None, rx_usecs=None, adaptive_rx=None, busy_usecs=None))]
    fn set_coalesce(
        &self,
        budget: Option<u32>,
        rx_usecs: Option<u32>,
        adaptive_rx: Option<bool>,
        busy_usecs: Option<u32>,
    ) -> PyResult<()> {
        let mut l = self.live();
        if let Some(b) = budget {
            if !(1..=4096).contains(&b) {
                return Err(PyValueError::new_err(format!(
                    "budget={b}: must be between 1 and 4096"
                )));
            }
            l.budget = b;
        }
        if let Some(u) = rx_usecs {
            l.rx_usecs = u;
        }
        if let Some(a) = adaptive_rx {
            l.adaptive = a;
        }
        if let Some(u) = busy_usecs {
            l.busy_usecs = u;
        }
        self.shared.control.set(l);
        Ok(())
    }

    /// Test hook: the next GRO aggregate this port forwards or sends gets one payload
    /// byte flipped before it is segmented (segments with valid checksums over wrong
    /// data, which only an end-to-end check can catch).
    fn inject_fault(&self) {
        self.shared.fault.store(true, Ordering::Release);
    }

    /// Stops forwarding if needed and closes every queue. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let r = self.stop(py);
        let st = {
            let mut g = lk(&self.state);
            reclaim(&mut g);
            std::mem::replace(&mut *g, State::Closed)
        };
        if let State::Idle(mut p) = st {
            py.allow_threads(move || p.close());
        }
        r
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPort>()?;
    Ok(())
}
