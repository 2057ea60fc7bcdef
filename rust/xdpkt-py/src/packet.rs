//! `xdpkt.Packet`: an immutable frame with its offload metadata.
//!
//! Packets handed out by the offline API hold their bytes linearised in one
//! Python `bytes` object, so `bytes(p)` costs nothing and `memoryview(p)`
//! exports that buffer read-only.

use std::ffi::c_int;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use xdpkt::{FramePool, GsoType, Packet};

use crate::errors::Error;

pub fn gso_type_name(t: GsoType) -> &'static str {
    match t {
        GsoType::None => "none",
        GsoType::TcpV4 => "tcpv4",
        GsoType::TcpV6 => "tcpv6",
        GsoType::UdpL4 => "udp_l4",
    }
}

fn gso_type_from(name: &str) -> Result<GsoType, Error> {
    Ok(match name {
        "none" => GsoType::None,
        "tcpv4" => GsoType::TcpV4,
        "tcpv6" => GsoType::TcpV6,
        "udp_l4" => GsoType::UdpL4,
        other => {
            return Err(Error::Arg(format!(
                "gso_type must be one of 'none', 'tcpv4', 'tcpv6', 'udp_l4', got {other:?}"
            )))
        }
    })
}

/// A frame plus offload metadata (`gso_size`, `gso_segs`, `gso_type`).
#[pyclass(frozen, module = "xdpkt", name = "Packet")]
pub struct PyPacket {
    data: Py<PyBytes>,
    pub gso_size: u16,
    pub gso_segs: u16,
    pub gso_type: GsoType,
    pub gso_fixed_id: bool,
}

impl PyPacket {
    /// Copies a core packet out of its pool into a new Python packet.
    pub fn from_core(py: Python<'_>, pool: &FramePool, p: &Packet) -> PyResult<PyPacket> {
        let data = PyBytes::new_with(py, p.len(), |buf| {
            pool.copy_into(p, buf);
            Ok(())
        })?;
        Ok(PyPacket {
            data: data.unbind(),
            gso_size: p.gso_size,
            gso_segs: p.gso_segs,
            gso_type: p.gso_type,
            gso_fixed_id: p.gso_fixed_id,
        })
    }

    pub fn bytes<'py>(&self, py: Python<'py>) -> &Bound<'py, PyBytes> {
        self.data.bind(py)
    }
}

#[pymethods]
impl PyPacket {
    #[new]
    #[pyo3(signature = (data, *, gso_size=0, gso_segs=0, gso_type="none", gso_fixed_id=false))]
    fn new(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        gso_size: i64,
        gso_segs: i64,
        gso_type: &str,
        gso_fixed_id: bool,
    ) -> PyResult<Self> {
        let gso_size = crate::errors::in_range("gso_size", gso_size, 0, 65535)? as u16;
        let gso_segs = crate::errors::in_range("gso_segs", gso_segs, 0, 65535)? as u16;
        let gso_type = gso_type_from(gso_type)?;
        let bytes = match data.downcast::<PyBytes>() {
            Ok(b) => b.clone(),
            Err(_) => PyBytes::new(py, &with_frame_bytes(data, || "data", |b| b.to_vec())?),
        };
        Ok(PyPacket {
            data: bytes.unbind(),
            gso_size,
            gso_segs,
            gso_type,
            gso_fixed_id,
        })
    }

    fn __bytes__(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    /// L4 payload per segment this packet was built from (0: not an aggregate).
    #[getter]
    fn gso_size(&self) -> u16 {
        self.gso_size
    }

    /// Number of segments it was built from (0 or 1: a plain frame).
    #[getter]
    fn gso_segs(&self) -> u16 {
        self.gso_segs
    }

    /// True when every segment of this aggregate carried the first one's IPv4 ID:
    /// `xdpkt.gso.segment(p)` then keeps the ID fixed (`SKB_GSO_TCP_FIXEDID`).
    #[getter]
    fn gso_fixed_id(&self) -> bool {
        self.gso_fixed_id
    }

    /// "none", "tcpv4", "tcpv6" or "udp_l4".
    #[getter]
    fn gso_type(&self) -> &'static str {
        gso_type_name(self.gso_type)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Packet(len={}, gso_size={}, gso_segs={}, gso_type={:?}{})",
            self.data.bind(py).as_bytes().len(),
            self.gso_size,
            self.gso_segs,
            gso_type_name(self.gso_type),
            if self.gso_fixed_id {
                ", gso_fixed_id=True"
            } else {
                ""
            }
        )
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        match other.downcast::<PyPacket>() {
            Ok(o) => {
                let o = o.get();
                self.data.bind(py).as_bytes() == o.data.bind(py).as_bytes()
                    && (self.gso_size, self.gso_segs, self.gso_type)
                        == (o.gso_size, o.gso_segs, o.gso_type)
            }
            Err(_) => false,
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.data.bind(py).hash()
    }

    /// Read-only buffer over the frame bytes (`memoryview(p)`).
    #[allow(unsafe_code)]
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        let bytes = slf.get().data.bind(slf.py()).as_bytes();
        // SAFETY: `view` is the non-null Py_buffer the interpreter passed in. The
        // memory is the payload of an immutable `bytes` object owned by this frozen
        // packet; PyBuffer_FillInfo stores a new reference to the packet in
        // `view.obj`, so the bytes stay alive (and unchanged) until the buffer is
        // released. It is exported read-only (readonly = 1), and FillInfo refuses a
        // writable request with BufferError.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut std::ffi::c_void,
                bytes.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    #[allow(unsafe_code)]
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

/// Runs `f` over the bytes of a bytes-like object (bytes, bytearray, memoryview, Packet,
/// anything with a C-contiguous byte buffer). `what` names the argument in errors.
/// `what` names the argument in the error message; it is only called on error
/// (no formatting per frame on the hot path).
pub fn with_frame_bytes<R, W: std::fmt::Display>(
    obj: &Bound<'_, PyAny>,
    what: impl FnOnce() -> W,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, Error> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if let Ok(p) = obj.downcast::<PyPacket>() {
        return Ok(f(p.get().data.bind(obj.py()).as_bytes()));
    }
    let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
        let tn = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        let what = what();
        Error::Type(format!("{what}: expected a bytes-like object (bytes, bytearray, memoryview) or Packet, got {tn}"))
    })?;
    let v = buf.to_vec(obj.py())?;
    Ok(f(&v))
}
