//! Whole-file jobs (`gso_file`, `gro_file`): the core's streaming capture jobs,
//! run with the GIL released; the progress callback re-takes it at most ~10×/s.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use xdpkt::gro::GroConfig;
use xdpkt::gso::GsoOptions;
use xdpkt::offline::{self, GroJob, JobError, Progress, Summary};

use crate::errors::{in_range, Error};

fn summary_dict<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("frames_in", s.frames_in)?;
    d.set_item("frames_out", s.frames_out)?;
    d.set_item("bytes_in", s.bytes_in)?;
    d.set_item("bytes_out", s.bytes_out)?;
    d.set_item("flows", s.flows)?;
    d.set_item("aggregates", s.aggregates)?;
    d.set_item("segments", s.segments)?;
    d.set_item("errors", s.errors)?;
    let r = PyDict::new(py);
    for (name, n) in &s.passthrough {
        r.set_item(*name, *n)?;
    }
    d.set_item("passthrough", r)?;
    match &s.bad_record {
        Some((why, offset)) => {
            let b = PyDict::new(py);
            b.set_item("message", why)?;
            b.set_item("offset", *offset)?;
            d.set_item("bad_record", b)?;
        }
        None => d.set_item("bad_record", py.None())?,
    }
    Ok(d)
}

/// Calls the user's progress callback (if any) and lets Ctrl-C stop the job.
fn progress_fn(cb: Option<PyObject>) -> impl FnMut(Progress) -> Result<(), PyErr> + Send {
    move |p: Progress| {
        Python::with_gil(|py| {
            if let Some(cb) = &cb {
                cb.call1(py, (p.frames_done, p.bytes_done, p.total_bytes))?;
            }
            py.check_signals()
        })
    }
}

fn job_error(e: JobError<PyErr>, input: &PathBuf, output: &PathBuf) -> PyErr {
    let path = |p: &PathBuf| Some(p.display().to_string());
    match e {
        JobError::Input(err) => Error::Pcap {
            err,
            path: path(input),
        }
        .into(),
        JobError::Output(err) => Error::Pcap {
            err,
            path: path(output),
        }
        .into(),
        JobError::Pool(e) => Error::Pool(e).into(),
        JobError::Cancelled(e) => e,
    }
}

/// `gso_file(in_path, out_path, mss, fixed_id=False, progress=None) -> dict`
#[pyfunction]
#[pyo3(signature = (in_path, out_path, mss, fixed_id=false, progress=None))]
pub fn gso_file<'py>(
    py: Python<'py>,
    in_path: PathBuf,
    out_path: PathBuf,
    mss: i64,
    fixed_id: bool,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyDict>> {
    let mss = in_range("mss", mss, 1, 65535)? as u16;
    let opts = GsoOptions {
        mss: Some(mss),
        fixed_id,
    };
    let mut cb = progress_fn(progress);
    let r = py.allow_threads(|| offline::gso_file(&in_path, &out_path, opts, &mut cb));
    let s = r.map_err(|e| job_error(e, &in_path, &out_path))?;
    summary_dict(py, &s)
}

/// `gro_file(in_path, out_path, max_size=65535, udp=False, flush_usecs=None, max_flows=64, progress=None) -> dict`
#[pyfunction]
#[pyo3(signature = (in_path, out_path, max_size=65535, udp=false, flush_usecs=None, max_flows=64, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn gro_file<'py>(
    py: Python<'py>,
    in_path: PathBuf,
    out_path: PathBuf,
    max_size: i64,
    udp: bool,
    flush_usecs: Option<i64>,
    max_flows: i64,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyDict>> {
    let max_size = in_range("max_size", max_size, 1, 65535)? as u32;
    let max_flows = in_range("max_flows", max_flows, 1, offline::MAX_FLOWS as i64)? as usize;
    let flush_timeout_ns = match flush_usecs {
        Some(u) => Some(in_range("flush_usecs", u, 1, 3_600_000_000)? as u64 * 1000),
        None => None,
    };
    let job = GroJob {
        config: GroConfig {
            max_size,
            max_flows,
            udp,
        },
        flush_timeout_ns,
    };
    let mut cb = progress_fn(progress);
    let r = py.allow_threads(|| offline::gro_file(&in_path, &out_path, job, &mut cb));
    let s = r.map_err(|e| job_error(e, &in_path, &out_path))?;
    summary_dict(py, &s)
}
