//! The one place where core errors become Python exceptions.
//!
//! `XdpktError(Exception)` is the base; `PacketError(XdpktError, ValueError)`
//! is raised for a malformed frame handed to an API that needs a valid one.
//! OS errors keep their errno (`OSError(errno, strerror, filename)`, which
//! Python maps to `FileNotFoundError`, `PermissionError`, ...); an OS error that
//! carries the capability it needed becomes a `PermissionError` naming it.

use std::io;

use pyo3::exceptions::{PyException, PyOSError, PyPermissionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple, PyType};

use xdpkt::gso::GsoError;
use xdpkt::pcap::PcapError;
use xdpkt::{ParseError, PoolError};

pyo3::create_exception!(
    xdpkt,
    XdpktError,
    PyException,
    "Base class of every error xdpkt raises itself."
);

static PACKET_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// `xdpkt.PacketError(XdpktError, ValueError)`: built once as a class with two bases.
pub fn packet_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    PACKET_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(py, [py.get_type::<XdpktError>(), py.get_type::<PyValueError>()])?;
            let ns = PyDict::new(py);
            ns.set_item("__module__", "xdpkt")?;
            ns.set_item(
                "__doc__",
                "A malformed frame was handed to an API that needs a valid one (also a ValueError).",
            )?;
            let t = py.get_type::<PyType>().call1(("PacketError", bases, ns))?;
            Ok::<_, PyErr>(t.downcast_into::<PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

/// Everything the bindings can fail with, before it becomes a Python exception.
#[derive(Debug)]
pub enum Error {
    /// A frame could not be parsed.
    Parse(ParseError),
    /// GSO refused a frame.
    Gso(GsoError),
    /// The frame pool could not hold a frame.
    Pool(PoolError),
    /// A capture file could not be read or written (`path` names the file when known).
    Pcap {
        err: PcapError,
        path: Option<String>,
    },
    /// A system call failed. `needs` names the capability that would have allowed it
    /// (the AF_XDP datapath fills it in for EPERM on socket, bpf and netlink calls).
    Os {
        err: io::Error,
        path: Option<String>,
        needs: Option<&'static str>,
    },
    /// An argument is out of range (`ValueError` naming the argument).
    Arg(String),
    /// An argument has the wrong type.
    Type(String),
    /// A Python exception raised inside a callback: re-raised as is.
    Py(PyErr),
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(e)
    }
}
impl From<GsoError> for Error {
    fn from(e: GsoError) -> Self {
        Error::Gso(e)
    }
}
impl From<PoolError> for Error {
    fn from(e: PoolError) -> Self {
        Error::Pool(e)
    }
}
impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error::Py(e)
    }
}
fn os_error(err: &io::Error, path: Option<String>, needs: Option<&'static str>) -> PyErr {
    let Some(errno) = err.raw_os_error() else {
        return XdpktError::new_err(match path {
            Some(p) => format!("{p}: {err}"),
            None => err.to_string(),
        });
    };
    let strerror = io::Error::from_raw_os_error(errno).to_string();
    let strerror = strerror
        .split(" (os error")
        .next()
        .unwrap_or(&strerror)
        .to_string();
    if let Some(cap) = needs {
        let msg = format!("{strerror}: needs {cap} (run as root or grant the capability)");
        return match path {
            Some(p) => PyPermissionError::new_err((errno, msg, p)),
            None => PyPermissionError::new_err((errno, msg)),
        };
    }
    // OSError(errno, strerror[, filename]) picks the errno's subclass (FileNotFoundError, ...).
    match path {
        Some(p) => PyOSError::new_err((errno, strerror, p)),
        None => PyOSError::new_err((errno, strerror)),
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Parse(e) => packet_error(e.to_string()),
            Error::Gso(e) => packet_error(e.to_string()),
            Error::Pool(e) => XdpktError::new_err(e.to_string()),
            Error::Pcap {
                err: PcapError::Io(err),
                path,
            } => os_error(&err, path, None),
            Error::Pcap { err, path } => XdpktError::new_err(match path {
                Some(p) => format!("{p}: {err}"),
                None => err.to_string(),
            }),
            Error::Os { err, path, needs } => os_error(&err, path, needs),
            Error::Arg(msg) => PyValueError::new_err(msg),
            Error::Type(msg) => PyTypeError::new_err(msg),
            Error::Py(e) => e,
        }
    }
}

fn packet_error(msg: String) -> PyErr {
    Python::with_gil(|py| match packet_error_type(py) {
        Ok(t) => PyErr::from_type(t.clone(), msg),
        Err(e) => e,
    })
}

/// Checks an integer argument against an inclusive range; the error names the argument.
pub fn in_range(name: &str, v: i64, lo: i64, hi: i64) -> Result<i64, Error> {
    if v < lo || v > hi {
        return Err(Error::Arg(format!(
            "{name} must be in {lo}..={hi}, got {v}"
        )));
    }
    Ok(v)
}
