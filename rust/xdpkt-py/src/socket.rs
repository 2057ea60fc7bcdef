//! `xdpkt.Socket`: the AF_XDP socket for Python, with `Batch` (received packets)
//! and `PacketView` (one packet, zero-copy: `bytes()`, `len()`, `memoryview()`).
//!
//! The GIL is released around every blocking call. `close()` from another thread
//! wakes a thread sleeping in `recv()` (eventfd in its poll set), which then raises.
//! Errors keep their errno: permission problems are `PermissionError` naming the
//! capability; unknown interface/queue and bad arguments are `ValueError`.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyBufferError, PyIndexError, PyOSError, PyTimeoutError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use xdpkt::xsk::socket::SharedUmem;
use xdpkt::xsk::UmemPool;
use xdpkt::xsk::{Error, Mode, Waker, XskConfig, XskMapSource, XskSocket};
use xdpkt::{Batch, Packet};

use crate::errors;

/// A packet's bytes as `bytes`: one copy, straight from its frame(s).
pub(crate) fn packet_bytes<'py>(
    py: Python<'py>,
    p: &Packet,
    pool: &UmemPool,
) -> PyResult<Bound<'py, PyBytes>> {
    if p.is_linear() {
        return Ok(PyBytes::new(py, pool.head(p)));
    }
    PyBytes::new_with(py, p.len(), |buf| {
        pool.copy_into(p, buf);
        Ok(())
    })
}

pub(crate) fn lk<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` here, or, with `netns` (a name under /var/run/netns or a path), on a thread
/// that first joins that network namespace: setns moves only the calling thread, and
/// what `f` opens keeps working from any thread afterwards.
pub(crate) fn in_netns<T: Send>(
    netns: Option<String>,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> Result<T, Error> {
    let Some(ns) = netns else { return f() };
    let path = if ns.contains('/') {
        ns
    } else {
        format!("/var/run/netns/{ns}")
    };
    std::thread::scope(|sc| {
        sc.spawn(|| {
            xdpkt::xsk::sys::setns_net(&path).map_err(|e| Error::Os {
                op: "setns(netns)",
                errno: e,
            })?;
            f()
        })
        .join()
        .unwrap_or(Err(Error::Config(
            "thread in the network namespace panicked",
        )))
    })
}

/// After a failed send, returns the packets it did not take to the pool: a socket torn
/// down by the error (interface gone) no longer reaches them, and a `Packet` has no
/// `Drop`, so they would be lost to the UMEM for good.
fn release_unsent(umem: &SharedUmem, batch: &mut Batch, r: &Result<usize, Error>) {
    if r.is_err() && !batch.is_empty() {
        let mut u = lk(umem);
        for p in batch.drain() {
            u.pool().release(p);
        }
    }
}

/// AF_XDP errors become the bindings' `errors::Error` (the one conversion to Python):
/// a missing capability is a `PermissionError` naming it, bad arguments and unknown
/// interfaces/queues a `ValueError`; everything else keeps its errno *and* the core's
/// message (which says e.g. "queue 0 of eth1 already has an AF_XDP socket").
pub(crate) fn to_pyerr(e: Error) -> PyErr {
    let msg = e.to_string();
    let err = match e {
        Error::Permission { cap, errno, .. } => errors::Error::Os {
            err: std::io::Error::from_raw_os_error(errno),
            path: None,
            needs: Some(cap),
        },
        Error::NoSuchInterface { .. }
        | Error::NoSuchQueue { .. }
        | Error::Config(_)
        | Error::TooLarge { .. } => errors::Error::Arg(msg),
        Error::TxTimeout { .. } => {
            errors::Error::Py(PyTimeoutError::new_err((libc::ETIMEDOUT, msg)))
        }
        _ => errors::Error::Py(PyOSError::new_err((e.errno().unwrap_or(libc::EIO), msg))),
    };
    err.into()
}

/// Received packets. Frames return to the UMEM when the batch is closed or dropped.
#[pyclass(module = "xdpkt._xdpkt", name = "Batch", frozen)]
pub struct PyBatch {
    umem: SharedUmem,
    pkts: Mutex<Option<Batch>>,
    exports: AtomicUsize,
}

impl PyBatch {
    /// A batch of packets whose frames belong to `umem` (returned there on close/drop).
    pub(crate) fn new(umem: SharedUmem, batch: Batch) -> PyBatch {
        PyBatch {
            umem,
            pkts: Mutex::new(Some(batch)),
            exports: AtomicUsize::new(0),
        }
    }

    /// Takes the packets out (for a send on the same UMEM), unless a memoryview is open.
    pub(crate) fn take_if_same(&self, umem: &SharedUmem) -> PyResult<Option<Batch>> {
        if !Arc::ptr_eq(&self.umem, umem) {
            return Ok(None);
        }
        if self.exports.load(Ordering::Acquire) > 0 {
            return Err(PyBufferError::new_err(
                "a memoryview of a packet of this batch is still open",
            ));
        }
        Ok(Some(
            lk(&self.pkts)
                .take()
                .unwrap_or_else(|| Batch::with_capacity(0)),
        ))
    }

    fn release_all(&self) {
        if let Some(mut b) = lk(&self.pkts).take() {
            let mut u = lk(&self.umem);
            for p in b.drain() {
                u.pool().release(p);
            }
        }
    }

    /// Runs `f` on the bytes of packet `i` (RX packets are one frame).
    /// Runs `f` on packet `i` and the pool holding its frames.
    fn with_packet<R>(&self, i: usize, f: impl FnOnce(&Packet, &UmemPool) -> R) -> PyResult<R> {
        let g = lk(&self.pkts);
        let b = g
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("batch is closed"))?;
        let p = b
            .get(i)
            .ok_or_else(|| PyIndexError::new_err("packet index out of range"))?;
        let u = lk(&self.umem);
        Ok(f(p, u.pool_ref()))
    }
}

impl Drop for PyBatch {
    fn drop(&mut self) {
        self.release_all();
    }
}

#[pymethods]
impl PyBatch {
    fn __len__(&self) -> usize {
        lk(&self.pkts).as_ref().map_or(0, |b| b.len())
    }

    fn __iter__(slf: Bound<'_, Self>) -> BatchIter {
        BatchIter {
            batch: slf.unbind(),
            next: 0,
        }
    }

    fn __getitem__(slf: Bound<'_, Self>, index: isize) -> PyResult<PacketView> {
        let n = slf.get().__len__() as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(PyIndexError::new_err("packet index out of range"));
        }
        Ok(PacketView {
            batch: slf.unbind(),
            index: i as usize,
        })
    }

    /// Length of every packet, in order.
    fn lengths(&self) -> Vec<usize> {
        lk(&self.pkts)
            .as_ref()
            .map_or_else(Vec::new, |b| b.iter().map(|p| p.len()).collect())
    }

    /// A copy of every packet as `bytes`, in order.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let g = lk(&self.pkts);
        let Some(b) = g.as_ref() else {
            return Ok(Vec::new());
        };
        let u = lk(&self.umem);
        b.iter()
            .map(|p| packet_bytes(py, p, u.pool_ref()))
            .collect()
    }

    /// The packets dissected by scapy (`xdpkt.scapy.batch_to_scapy`; needs the
    /// `xdpkt[scapy]` extra): each frame copied and built once, `pkt.time = timestamp`.
    #[pyo3(signature = (*, timestamp=None, basecls=None))]
    fn to_scapy<'py>(
        slf: &Bound<'py, Self>,
        timestamp: Option<f64>,
        basecls: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kw = PyDict::new(py);
        kw.set_item("timestamp", timestamp)?;
        if let Some(b) = basecls {
            kw.set_item("basecls", b)?;
        }
        py.import("xdpkt.scapy")?
            .getattr("batch_to_scapy")?
            .call((slf,), Some(&kw))
    }

    /// Gives the frames back (to the fill ring through the free pool). Idempotent.
    fn close(&self) -> PyResult<()> {
        if self.exports.load(Ordering::Acquire) > 0 {
            return Err(PyBufferError::new_err(
                "a memoryview of a packet of this batch is still open",
            ));
        }
        self.release_all();
        Ok(())
    }

    #[getter]
    fn closed(&self) -> bool {
        lk(&self.pkts).is_none()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<xdpkt.Batch of {} packets>", self.__len__())
    }
}

#[pyclass(module = "xdpkt._xdpkt")]
pub struct BatchIter {
    batch: Py<PyBatch>,
    next: usize,
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> Option<PacketView> {
        if self.next >= self.batch.get().__len__() {
            return None;
        }
        let v = PacketView {
            batch: self.batch.clone_ref(py),
            index: self.next,
        };
        self.next += 1;
        Some(v)
    }
}

/// One received packet: `bytes(p)`, `len(p)`, `memoryview(p)` (read-only, zero-copy;
/// its batch cannot be closed while the memoryview is open).
#[pyclass(module = "xdpkt._xdpkt", name = "PacketView", frozen)]
pub struct PacketView {
    batch: Py<PyBatch>,
    index: usize,
}

#[pymethods]
impl PacketView {
    fn __len__(&self) -> PyResult<usize> {
        self.batch.get().with_packet(self.index, |p, _| p.len())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.batch
            .get()
            .with_packet(self.index, |p, pool| packet_bytes(py, p, pool))?
    }

    /// L4 payload bytes per segment of a GRO aggregate (0 for a plain packet).
    #[getter]
    fn gso_size(&self) -> PyResult<u16> {
        self.batch.get().with_packet(self.index, |p, _| p.gso_size)
    }

    /// Segments this packet stands for (0 for a plain packet).
    #[getter]
    fn gso_segs(&self) -> PyResult<u16> {
        self.batch.get().with_packet(self.index, |p, _| p.gso_segs)
    }

    /// Frames the packet spans (a GRO aggregate chains its segments' frames).
    #[getter]
    fn nframes(&self) -> PyResult<u32> {
        self.batch.get().with_packet(self.index, |p, _| p.nframes())
    }

    #[allow(unsafe_code)]
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("packet views are read-only"));
        }
        let this = slf.get();
        let batch = this.batch.get();
        let head = batch.with_packet(this.index, |p, pool| {
            p.is_linear()
                .then(|| (pool.head(p).as_ptr(), pool.head(p).len()))
        })?;
        let Some((ptr, len)) = head else {
            return Err(PyBufferError::new_err(
                "this packet spans several UMEM frames (multi-buffer): use bytes(p) for a copy",
            ));
        };
        // SAFETY: `ptr..ptr+len` is the packet's data inside the UMEM mapping, which lives as
        // long as `batch.umem` (kept alive by the exporter object `slf` -> batch). The frame is
        // held by the batch and cannot be released while `exports` > 0 (`close` refuses; drop
        // needs every view gone), and the kernel never writes a frame user space holds.
        // PyBuffer_FillInfo takes a new reference to the exporter.
        let r = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr as *mut _,
                len as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if r != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        batch.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    #[allow(unsafe_code)]
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.batch.get().exports.fetch_sub(1, Ordering::AcqRel);
    }

    fn __repr__(&self) -> String {
        format!("<xdpkt.PacketView #{} of a batch>", self.index)
    }
}

/// An AF_XDP socket on one queue of one interface.
#[pyclass(module = "xdpkt._xdpkt", name = "Socket", subclass, frozen)]
pub struct PySocket {
    sock: Mutex<Option<XskSocket>>,
    waker: Waker,
    umem: SharedUmem,
    mode: &'static str,
    ifname: String,
    queue: u32,
    notes: Vec<String>,
    frame_capacity: usize,
}

fn closed_err() -> PyErr {
    to_pyerr(Error::Closed)
}

#[pymethods]
impl PySocket {
    #[new]
    #[pyo3(signature = (ifname, queue=0, *, mode="auto", frames=4096, frame_size=4096, ring_size=2048,
                        need_wakeup=true, busy_poll=false, netns=None, xskmap=None, multi_buffer=false,
                        shared_umem=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        ifname: &str,
        queue: u32,
        mode: &str,
        frames: u32,
        frame_size: usize,
        ring_size: u32,
        need_wakeup: bool,
        busy_poll: bool,
        netns: Option<String>,
        xskmap: Option<Bound<'_, PyAny>>,
        multi_buffer: bool,
        shared_umem: Option<Bound<'_, PySocket>>,
    ) -> PyResult<Self> {
        let mode = Mode::parse(mode).ok_or_else(|| {
            PyValueError::new_err(format!("unknown mode {mode:?} (auto, zerocopy, copy, skb)"))
        })?;
        let xskmap = match xskmap {
            None => None,
            Some(o) => {
                if let Ok(fd) = o.extract::<i32>() {
                    Some(XskMapSource::Fd(fd))
                } else {
                    let p: std::path::PathBuf = o.extract()?;
                    Some(XskMapSource::Pinned(p.to_string_lossy().into_owned()))
                }
            }
        };
        let cfg = XskConfig {
            mode,
            frames,
            frame_size,
            ring_size,
            need_wakeup,
            busy_poll,
            xskmap,
            multi_buffer,
            ..XskConfig::default()
        };
        let name = ifname.to_owned();
        if let Some(other) = shared_umem {
            // Open beside `other` on its UMEM: mode, need_wakeup, multi_buffer and the
            // UMEM geometry (frames, frame_size) are the other socket's.
            let other = other.get();
            let sock = py
                .allow_threads(|| {
                    let o = match lk(&other.sock).as_ref() {
                        Some(o) => o.share()?,
                        None => return Err(Error::Closed),
                    };
                    let o = &o;
                    in_netns(netns, || XskSocket::open_sharing(&name, queue, &cfg, o))
                })
                .map_err(to_pyerr)?;
            return Self::wrap(sock, ifname, queue);
        }
        let sock = py
            .allow_threads(move || in_netns(netns, || XskSocket::open(&name, queue, &cfg)))
            .map_err(to_pyerr)?;
        Self::wrap(sock, ifname, queue)
    }

    /// The mode obtained: "zerocopy", "copy" or "skb".
    #[getter]
    fn mode(&self) -> &'static str {
        self.mode
    }
    #[getter]
    fn ifname(&self) -> &str {
        &self.ifname
    }
    #[getter]
    fn queue(&self) -> u32 {
        self.queue
    }
    #[getter]
    fn closed(&self) -> bool {
        self.waker.is_closing() || lk(&self.sock).as_ref().is_none_or(|s| s.is_closed())
    }
    /// Why `auto` fell back, and other notes from opening.
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// Receives up to `max_packets`, sleeping in poll() up to `timeout` seconds (None:
    /// until packets arrive). Returns a (possibly empty) Batch.
    #[pyo3(signature = (max_packets=64, timeout=Some(1.0)), text_signature = "(self, /, max_packets=64, timeout=1.0)")]
    fn recv(&self, py: Python<'_>, max_packets: usize, timeout: Option<f64>) -> PyResult<PyBatch> {
        if max_packets == 0 || max_packets > 65536 {
            return Err(PyValueError::new_err(
                "max_packets must be between 1 and 65536",
            ));
        }
        let mut batch = Batch::with_capacity(max_packets);
        let timeout = match timeout {
            Some(t) if !(t >= 0.0 && t.is_finite() && t < 1e9) => {
                return Err(PyValueError::new_err("timeout must be >= 0 or None"))
            }
            Some(t) => Some(Duration::from_secs_f64(t)),
            None => None,
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            // Take what is there under the lock; sleep *without* it, so another thread
            // can send on this socket meanwhile.
            let r = py.allow_threads(|| {
                let mut g = lk(&self.sock);
                let s = g.as_mut().ok_or(Error::Closed)?;
                let n = s.recv(&mut batch, max_packets)?;
                Ok::<_, Error>((n, if n == 0 { Some(s.wait_handle()?) } else { None }))
            });
            let (n, handle) = r.map_err(to_pyerr)?;
            let Some(handle) = handle else { break };
            debug_assert_eq!(n, 0);
            let slice = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    left.min(Duration::from_millis(100))
                }
                None => Duration::from_millis(100),
            };
            // The handle is dropped inside the closure, before the GIL is taken back: a
            // close() on another thread waits for it to let go of the fd.
            py.allow_threads(move || handle.wait_readable(slice))
                .map_err(to_pyerr)?;
            // Between slices: Ctrl-C, and (next recv) the interface-gone check.
            py.check_signals()?;
        }
        Ok(PyBatch {
            umem: self.umem.clone(),
            pkts: Mutex::new(Some(batch)),
            exports: AtomicUsize::new(0),
        })
    }

    /// Sends an iterable of bytes-like frames, or a Batch (its frames are sent without a
    /// copy when it came from a socket sharing this UMEM; the batch is consumed).
    /// Returns the number sent once every frame has left.
    fn send(&self, py: Python<'_>, frames: Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(b) = frames.downcast::<PyBatch>() {
            let b = b.get();
            if Arc::ptr_eq(&b.umem, &self.umem) {
                if b.exports.load(Ordering::Acquire) > 0 {
                    return Err(PyBufferError::new_err(
                        "a memoryview of a packet of this batch is still open",
                    ));
                }
                let Some(mut batch) = lk(&b.pkts).take() else {
                    return Ok(0);
                };
                return py
                    .allow_threads(|| {
                        let mut g = lk(&self.sock);
                        match g.as_mut() {
                            Some(s) => {
                                let r = s.send(&mut batch);
                                // What an error left unsent goes back to the pool (a torn-down
                                // socket no longer reaches it; a Packet has no Drop).
                                release_unsent(&self.umem, &mut batch, &r);
                                r
                            }
                            None => {
                                let mut u = lk(&self.umem);
                                for p in batch.drain() {
                                    u.pool().release(p);
                                }
                                Err(Error::Closed)
                            }
                        }
                    })
                    .map_err(to_pyerr);
            }
            let copies = b.to_bytes(py)?;
            return self.send_bytes(py, copies.into_iter().map(|x| x.into_any()).collect());
        }
        let mut items = Vec::new();
        for it in frames.try_iter()? {
            let it = it?;
            if it.downcast::<PyBytes>().is_ok() {
                items.push(it);
            } else {
                items.push(py.get_type::<PyBytes>().call1((it,))?);
            }
        }
        self.send_bytes(py, items)
    }

    /// Counters, kernel XDP_STATISTICS and the UMEM frame places.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = py
            .allow_threads(|| {
                let mut g = lk(&self.sock);
                g.as_mut().ok_or(Error::Closed)?.stats()
            })
            .map_err(to_pyerr)?;
        let d = PyDict::new(py);
        let k = st.kernel;
        let p = st.places;
        for (key, v) in [
            ("rx_packets", st.rx_packets),
            ("rx_bytes", st.rx_bytes),
            ("tx_packets", st.tx_packets),
            ("tx_bytes", st.tx_bytes),
            ("rx_dropped", k.rx_dropped),
            ("rx_invalid_descs", k.rx_invalid_descs),
            ("tx_invalid_descs", k.tx_invalid_descs),
            ("rx_ring_full", k.rx_ring_full),
            ("rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs),
            ("tx_ring_empty_descs", k.tx_ring_empty_descs),
            ("rx_bad_descs", st.rx_bad_descs),
            ("tx_oversize", st.tx_oversize),
            ("tx_kicks", st.tx_kicks),
            ("frames_free", p.free as u64),
            ("frames_user", p.user as u64),
            ("frames_fill", p.fill as u64),
            ("frames_tx", p.tx as u64),
            ("frames_completion", p.completion as u64),
            ("frames_total", p.total as u64),
        ] {
            d.set_item(key, v)?;
        }
        Ok(d)
    }

    /// Closes the socket (detaches the XDP program when it is the interface's last
    /// socket). A thread blocked in recv() wakes up with OSError(EBADF). Idempotent.
    fn close(&self, py: Python<'_>) {
        self.waker.wake();
        let s = py.allow_threads(|| lk(&self.sock).take());
        if let Some(mut s) = s {
            py.allow_threads(move || s.close());
        }
    }

    fn fileno(&self) -> PyResult<i32> {
        lk(&self.sock)
            .as_ref()
            .ok_or_else(closed_err)?
            .raw_fd()
            .map_err(to_pyerr)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<xdpkt.Socket {} queue {} mode {}{}>",
            self.ifname,
            self.queue,
            self.mode,
            if self.closed() { " closed" } else { "" }
        )
    }
}

impl PySocket {
    fn wrap(sock: XskSocket, ifname: &str, queue: u32) -> PyResult<PySocket> {
        let umem = sock.umem().map_err(to_pyerr)?;
        // The largest frame `send` takes (several frames' worth with multi_buffer).
        let frame_capacity = sock.max_packet().map_err(to_pyerr)?;
        Ok(PySocket {
            waker: sock.waker(),
            mode: sock.mode().map_err(to_pyerr)?.as_str(),
            ifname: ifname.to_owned(),
            queue,
            notes: sock.notes().to_vec(),
            umem,
            frame_capacity,
            sock: Mutex::new(Some(sock)),
        })
    }

    fn send_bytes(&self, py: Python<'_>, items: Vec<Bound<'_, PyAny>>) -> PyResult<usize> {
        // Validate every size first: nothing is sent when one frame cannot be.
        for it in &items {
            let b = it.downcast::<PyBytes>()?;
            let n = b.as_bytes().len();
            if n > self.frame_capacity {
                return Err(to_pyerr(Error::TooLarge {
                    len: n,
                    max: self.frame_capacity,
                }));
            }
            if n == 0 {
                return Err(PyValueError::new_err("cannot send an empty frame"));
            }
        }
        let mut sent = 0;
        let mut i = 0;
        while i < items.len() {
            // Copy as many frames as the pool has free into one batch, send, repeat.
            let mut batch = Batch::with_capacity((items.len() - i).min(4096));
            {
                let mut u = lk(&self.umem);
                while i < items.len() && !batch.is_full() {
                    let b = items[i].downcast::<PyBytes>()?.as_bytes();
                    match u.pool().packet_from(b) {
                        Ok(p) => {
                            let _ = batch.push(p);
                            i += 1;
                        }
                        Err(_) => break,
                    }
                }
            }
            let r = py.allow_threads(|| {
                let mut g = lk(&self.sock);
                match g.as_mut() {
                    Some(s) => {
                        if batch.is_empty() {
                            // Not enough free frames for the next item: reap completions
                            // (every send waits for them, so frames are only short if the
                            // user holds batches). If that freed nothing, more frames will
                            // not appear by themselves: say so instead of spinning.
                            let before = lk(&self.umem).pool_ref().free_count();
                            s.reap()?;
                            if lk(&self.umem).pool_ref().free_count() <= before {
                                return Err(Error::Exhausted);
                            }
                            return Ok(0);
                        }
                        let r = s.send(&mut batch);
                        release_unsent(&self.umem, &mut batch, &r);
                        r
                    }
                    None => {
                        let mut u = lk(&self.umem);
                        for p in batch.drain() {
                            u.pool().release(p);
                        }
                        Err(Error::Closed)
                    }
                }
            });
            sent += r.map_err(to_pyerr)?;
        }
        Ok(sent)
    }
}

/// Runs an xdpsock-style loop (rxdrop, txonly, l2fwd) in Rust; returns
/// {mode, packets, bytes, seconds, mpps}.
#[pyfunction]
#[pyo3(signature = (mode, ifname, *, queue=0, seconds=5.0, size=64, batch=64, xdp_mode="auto",
                    frames=4096, frame_size=4096, ring_size=2048, need_wakeup=true, busy_poll=false, netns=None,
                    peer=None, peer_queue=0))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "bench")]
fn xsk_bench<'py>(
    py: Python<'py>,
    mode: &str,
    ifname: &str,
    queue: u32,
    seconds: f64,
    size: usize,
    batch: usize,
    xdp_mode: &str,
    frames: u32,
    frame_size: usize,
    ring_size: u32,
    need_wakeup: bool,
    busy_poll: bool,
    netns: Option<String>,
    peer: Option<String>,
    peer_queue: u32,
) -> PyResult<Bound<'py, PyDict>> {
    use xdpkt::xsk::bench::{self as b, BenchConfig, BenchMode};
    let bm = BenchMode::parse(mode).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown bench mode {mode:?} (rxdrop, txonly, l2fwd)"
        ))
    })?;
    let xm = Mode::parse(xdp_mode)
        .ok_or_else(|| PyValueError::new_err(format!("unknown mode {xdp_mode:?}")))?;
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(PyValueError::new_err("seconds must be in (0, 3600]"));
    }
    let cfg = BenchConfig {
        mode: bm,
        ifname: ifname.to_owned(),
        queue,
        seconds,
        size,
        batch,
        xsk: XskConfig {
            mode: xm,
            frames,
            frame_size,
            ring_size,
            need_wakeup,
            busy_poll,
            ..XskConfig::default()
        },
        peer,
        peer_queue,
    };
    if cfg.peer.is_some() && bm != BenchMode::L2Fwd {
        return Err(PyValueError::new_err("peer= is only used by l2fwd"));
    }
    let r = py
        .allow_threads(move || {
            let stop = std::sync::atomic::AtomicBool::new(false);
            in_netns(netns, || b::run(&cfg, &stop))
        })
        .map_err(to_pyerr)?;
    let d = PyDict::new(py);
    d.set_item("mode", r.mode.as_str())?;
    d.set_item("packets", r.packets)?;
    d.set_item("bytes", r.bytes)?;
    d.set_item("seconds", r.seconds)?;
    d.set_item("mpps", r.mpps)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(xsk_bench, m)?)?;
    m.add_class::<PySocket>()?;
    m.add_class::<PyBatch>()?;
    m.add_class::<PacketView>()?;
    Ok(())
}
