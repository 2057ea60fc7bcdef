//! Python bindings for xdpkt (thin wrappers over the core crate).

use pyo3::prelude::*;

mod socket;

#[pymodule]
fn _xdpkt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    socket::register(m)?;
    Ok(())
}
