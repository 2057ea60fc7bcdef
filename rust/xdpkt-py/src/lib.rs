//! `xdpkt._xdpkt`: thin PyO3 bindings over the `xdpkt` core crate.
//!
//! Nothing here decides packet semantics: the classes and functions convert
//! arguments, run the core with the GIL released, and convert results and
//! errors (all errors go through `errors::Error` → `PyErr`). The only
//! `unsafe` is the read-only buffer export of `Packet`.
#![deny(unsafe_code)]

mod errors;
mod jobs;
mod offload;
mod packet;
mod port;
mod socket;

use pyo3::prelude::*;

#[pymodule]
fn _xdpkt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("XdpktError", py.get_type::<errors::XdpktError>())?;
    m.add("PacketError", errors::packet_error_type(py)?)?;
    m.add("UDP_MAX_SEGMENTS", xdpkt::gso::UDP_MAX_SEGMENTS)?;
    m.add_class::<packet::PyPacket>()?;
    m.add_class::<offload::PyGro>()?;
    m.add_function(wrap_pyfunction!(offload::gso_segment, m)?)?;
    m.add_function(wrap_pyfunction!(offload::gro_coalesce, m)?)?;
    m.add_function(wrap_pyfunction!(jobs::gso_file, m)?)?;
    m.add_function(wrap_pyfunction!(jobs::gro_file, m)?)?;
    socket::register(m)?;
    port::register(m)?;
    Ok(())
}
