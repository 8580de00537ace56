//! `cartkin._cartkin`: the extension module under the Python package `cartkin`
//! (`python/cartkin/__init__.py` wraps it in documented classes).
//!
//! Every call goes through [`cartkin::bind`], the layer the command line uses, so Python
//! receives the command line's bytes (the endpoints document, `summary.json`) and the
//! columns of its CSV files (the trajectory, `patients.csv`) as numpy arrays. Rust runs
//! with the Python thread state detached (other Python threads run meanwhile); a trial runs
//! on a worker thread while the calling thread checks for signals every 50 ms, so Ctrl-C
//! stops it (after the chunk of 1,024 patients under way) with `KeyboardInterrupt`.

use cartkin::bind::{self, BindError, Column, Table, TrialOptions};
use numpy::PyArray1;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How often a running trial checks for Ctrl-C (and other signals).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// A [`BindError`] as the Python exception carrying the command line's one-line message.
fn py_err(e: BindError) -> PyErr {
    match e {
        BindError::Input(m) => PyValueError::new_err(m),
        BindError::Run(m) => PyRuntimeError::new_err(m),
        BindError::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
    }
}

/// A table as a dict of numpy arrays in the header's order: float64 for numbers (a missing
/// value is NaN), object arrays of `str` or `None` for text. A column's equal strings are
/// one Python object (a status column holds a few distinct values in millions of rows).
fn table_dict<'py>(py: Python<'py>, table: Table) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, col) in table.names.into_iter().zip(table.columns) {
        match col {
            Column::Number(v) => dict.set_item(name, PyArray1::from_vec(py, v))?,
            Column::Text(v) => {
                let mut seen: HashMap<String, Py<PyAny>> = HashMap::new();
                let objects: Vec<Py<PyAny>> = v
                    .into_iter()
                    .map(|s| match s {
                        Some(s) => {
                            seen.entry(s).or_insert_with_key(|s| PyString::new(py, s).into_any().unbind()).clone_ref(py)
                        }
                        None => py.None(),
                    })
                    .collect();
                dict.set_item(name, PyArray1::from_vec(py, objects))?;
            }
        }
    }
    Ok(dict)
}

/// A non-negative integer option, or the command line's kind of message.
fn count(name: &str, v: Option<i128>) -> PyResult<Option<u64>> {
    v.map(|n| {
        u64::try_from(n).map_err(|_| PyValueError::new_err(format!("{name} {n}: must be a non-negative integer")))
    })
    .transpose()
}

/// simulate(source, patient=0, rtol=None) -> (document_json, trajectory_csv, trajectory)
///
/// One patient: `source` is a scenario or study (a path, a built-in study's name, or its
/// JSON/TOML text). Returns the endpoints document (the text `cartkin simulate` prints),
/// the daily trajectory CSV and its columns (a dict of numpy arrays).
#[pyfunction]
#[pyo3(signature = (source, patient = 0, rtol = None))]
fn simulate<'py>(
    py: Python<'py>,
    source: String,
    patient: i128,
    rtol: Option<f64>,
) -> PyResult<(String, String, Bound<'py, PyDict>)> {
    let patient = count("patient", Some(patient))?.unwrap_or(0);
    let (out, table) = py
        .detach(|| {
            let out = bind::simulate(&source, patient, rtol)?;
            let table = bind::columns(&out.trajectory_csv)?;
            Ok((out, table))
        })
        .map_err(py_err)?;
    let dict = table_dict(py, table)?;
    Ok((out.document, out.trajectory_csv, dict))
}

/// run_trial(study, patients=None, seed=None, threads=None, rtol=None) -> (summary_json, patients)
///
/// A study's trial held in memory: `summary.json`'s text and the columns of `patients.csv`
/// (a dict of numpy arrays). Ctrl-C raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (study, patients = None, seed = None, threads = None, rtol = None))]
fn run_trial<'py>(
    py: Python<'py>,
    study: String,
    patients: Option<i128>,
    seed: Option<i128>,
    threads: Option<i128>,
    rtol: Option<f64>,
) -> PyResult<(String, Bound<'py, PyDict>)> {
    let opts = TrialOptions {
        patients: count("patients", patients)?,
        seed: count("seed", seed)?,
        threads: count("threads", threads)?.map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
        rtol,
    };
    let stop = AtomicBool::new(false);
    let (tx, mut rx) = mpsc::channel();
    let result = std::thread::scope(|s| {
        let (study, opts, stop) = (&study, &opts, &stop);
        let worker = s.spawn(move || {
            let res = bind::run_trial(study, opts, stop).and_then(|out| {
                let table = bind::columns(&out.patients_csv)?;
                Ok((out.summary_json, table))
            });
            // The receiver waits until this thread ends: a send cannot fail.
            let _ = tx.send(res);
            // (`tx` drops here: a panic above disconnects the channel instead.)
        });
        let mut interrupt: Option<PyErr> = None;
        loop {
            // (the receiver is not Sync: it moves into the detached closure and back)
            let (r, received) = py.detach(move || {
                let res = rx.recv_timeout(SIGNAL_POLL);
                (rx, res)
            });
            rx = r;
            match received {
                Ok(res) => {
                    let _ = worker.join();
                    // Interrupted after the result was complete: the trial still counts.
                    return match (res, interrupt) {
                        (Err(BindError::Interrupted), Some(e)) => Err(e),
                        (res, _) => res.map_err(py_err),
                    };
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if interrupt.is_none() {
                        if let Err(e) = py.check_signals() {
                            // Ctrl-C (or a handler that raised): stop after the current
                            // chunk, wait for the worker, then raise the handler's error.
                            stop.store(true, Ordering::SeqCst);
                            interrupt = Some(e);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let panic = worker.join().err();
                    let msg = panic
                        .as_ref()
                        .and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .or_else(|| panic.as_ref().and_then(|p| p.downcast_ref::<String>().cloned()))
                        .unwrap_or_else(|| "the trial's worker thread ended without a result".into());
                    return Err(PyRuntimeError::new_err(format!("internal error: {msg}")));
                }
            }
        }
    });
    let (summary, table) = result?;
    Ok((summary, table_dict(py, table)?))
}

/// models() -> list of dicts: the built-in models, populations and studies, as
/// `cartkin models` lists them.
#[pyfunction]
fn models(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    use cartkin::model::zoo::{Kind, Variability, ZooPopulation};
    use cartkin::study::{BUILTIN_STUDIES, POPULATIONS, POPULATIONS_V2};
    let list = PyList::empty(py);
    for m in cartkin::model::all() {
        let d = PyDict::new(py);
        d.set_item("kind", "model")?;
        d.set_item("name", m.name)?;
        d.set_item("version", m.version)?;
        d.set_item("states", m.states.to_vec())?;
        d.set_item("units", m.units.to_vec())?;
        list.append(d)?;
    }
    for k in Kind::ALL {
        let varied = ZooPopulation::builtin(*k).variability().iter().any(|v| *v != Variability::None);
        let what = if varied {
            "the paper's typical values and variability"
        } else {
            "the typical patient (no published variability: add [variability] in a study)"
        };
        list.append(population(py, "builtin", k.info().name, &format!("{what}; {}", k.citation()))?)?;
    }
    for (name, what) in POPULATIONS_V2 {
        list.append(population(py, name, "v2", what)?)?;
    }
    for (name, what) in POPULATIONS {
        list.append(population(py, name, "reference", what)?)?;
    }
    for (name, text) in BUILTIN_STUDIES {
        let d = PyDict::new(py);
        d.set_item("kind", "study")?;
        d.set_item("name", name)?;
        d.set_item("toml", text)?;
        list.append(d)?;
    }
    Ok(list)
}

fn population<'py>(py: Python<'py>, name: &str, model: &str, description: &str) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kind", "population")?;
    d.set_item("name", name)?;
    d.set_item("model", model)?;
    d.set_item("description", description)?;
    Ok(d)
}

/// json_to_toml(text) -> str: a JSON object (a study given as a dict) as TOML text.
#[pyfunction]
fn json_to_toml(text: &str) -> PyResult<String> {
    let value: toml::Table = serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("<dict>: {e}")))?;
    toml::to_string(&value).map_err(|e| PyValueError::new_err(format!("<dict>: {e}")))
}

/// The extension module `cartkin._cartkin`.
#[pymodule]
fn _cartkin(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(run_trial, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(json_to_toml, m)?)?;
    m.add("MAX_IN_MEMORY_PATIENTS", bind::MAX_IN_MEMORY_PATIENTS)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
