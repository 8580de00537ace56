//! The native code of the `cartkin` R package: [`cartkin::bind`] as R values.
//!
//! Each function returns either its result or `list(error = KIND, message = MESSAGE)` (KIND
//! `"input"`, `"run"` or `"interrupted"`, MESSAGE the command line's one-line message); the R
//! wrappers (`r/R/cartkin.R`) turn the latter into a classed R condition, so no R error is
//! raised from Rust for bad input. A panic is caught here as well (`"run"`, "internal
//! error: ..."), and extendr's wrappers catch any other, so none crosses into R.
//!
//! JSON documents become nested R lists in the documents' key order (objects are named lists,
//! arrays of scalars vectors, `null` NA); numbers are parsed exactly (serde_json's
//! `float_roundtrip`) and become doubles. CSV tables become named lists of columns (doubles
//! or character, missing values NA); the R side makes data frames of them and maps the
//! phenotype column names.

use cartkin::bind::{self, BindError, Column, TrialOptions};
use extendr_api::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

// ------------------------------------------------------------------------------------------
// JSON in its key order
// ------------------------------------------------------------------------------------------

/// A JSON value whose objects keep their keys in the document's order (serde_json's `Map`
/// sorts them unless its `preserve_order` feature is on, which would change the library's
/// output in a workspace build).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, x: i64) -> Result<Json, E> {
                Ok(Json::Num(x as f64))
            }
            fn visit_u64<E>(self, x: u64) -> Result<Json, E> {
                Ok(Json::Num(x as f64))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Json, E> {
                Ok(Json::Num(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Json::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, Json>()? {
                    v.push((k, x));
                }
                Ok(Json::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_json(text: &str) -> Result<Json, BindError> {
    serde_json::from_str(text).map_err(|e| BindError::Run(format!("JSON document: {e}")))
}

/// `null` as NA, a scalar as a length-1 vector, an object as a named list, an array of
/// scalars of one type (with nulls) as a vector of that type, any other array as a list.
fn to_r(j: &Json) -> Robj {
    match j {
        Json::Null => Robj::from(Option::<bool>::None),
        Json::Bool(b) => Robj::from(*b),
        Json::Num(x) => Robj::from(*x),
        Json::Str(s) => Robj::from(s.as_str()),
        Json::Obj(kv) => {
            let names: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
            let values: Vec<Robj> = kv.iter().map(|(_, v)| to_r(v)).collect();
            named_list(names, values)
        }
        Json::Arr(a) => array_to_r(a),
    }
}

fn array_to_r(a: &[Json]) -> Robj {
    let (mut nums, mut bools, mut strs, mut other) = (0, 0, 0, 0);
    for x in a {
        match x {
            Json::Null => {}
            Json::Num(_) => nums += 1,
            Json::Bool(_) => bools += 1,
            Json::Str(_) => strs += 1,
            Json::Arr(_) | Json::Obj(_) => other += 1,
        }
    }
    let kinds = [nums, bools, strs, other].iter().filter(|&&n| n > 0).count();
    if a.is_empty() || other > 0 || kinds > 1 {
        return List::from_values(a.iter().map(to_r)).into();
    }
    if nums > 0 {
        Robj::from(a.iter().map(|x| if let Json::Num(v) = x { Some(*v) } else { None }).collect::<Vec<_>>())
    } else if strs > 0 {
        Robj::from(a.iter().map(|x| if let Json::Str(s) = x { Some(s.as_str()) } else { None }).collect::<Vec<_>>())
    } else {
        // booleans, or only nulls: a logical vector
        Robj::from(a.iter().map(|x| if let Json::Bool(b) = x { Some(*b) } else { None }).collect::<Vec<_>>())
    }
}

fn named_list<S: AsRef<str>>(names: Vec<S>, values: Vec<Robj>) -> Robj {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    match List::from_names_and_values(names, values) {
        Ok(l) => l.into(),
        Err(e) => failure("run", &format!("internal error: {e}")),
    }
}

// ------------------------------------------------------------------------------------------
// Results and failures
// ------------------------------------------------------------------------------------------

fn failure(kind: &str, message: &str) -> Robj {
    named_list(vec!["error", "message"], vec![Robj::from(kind), Robj::from(message)])
}

fn error_robj(e: &BindError) -> Robj {
    let kind = match e {
        BindError::Input(_) => "input",
        BindError::Run(_) => "run",
        BindError::Interrupted => "interrupted",
    };
    failure(kind, &e.to_string())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p.downcast_ref::<&str>().map(|s| (*s).to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    format!("internal error: {}", what.unwrap_or_else(|| "a panic".into()))
}

/// A CSV table written by the crate as a named list of columns: doubles (missing: NA_real_)
/// or character (missing: NA).
fn table_to_r(csv: &str) -> Result<Robj, BindError> {
    let t = bind::columns(csv)?;
    let cols: Vec<Robj> = t
        .columns
        .iter()
        .map(|c| match c {
            Column::Number(v) => {
                Robj::from(v.iter().map(|&x| if x.is_nan() { None } else { Some(x) }).collect::<Vec<Option<f64>>>())
            }
            Column::Text(v) => Robj::from(v.iter().map(Option::as_deref).collect::<Vec<Option<&str>>>()),
        })
        .collect();
    Ok(named_list(t.names, cols))
}

fn opt_u64(x: Nullable<f64>) -> Option<u64> {
    // the R side checked: a whole number in 0..=2^53
    match x {
        Nullable::NotNull(v) => Some(v as u64),
        Nullable::Null => None,
    }
}

fn opt_f64(x: Nullable<f64>) -> Option<f64> {
    match x {
        Nullable::NotNull(v) => Some(v),
        Nullable::Null => None,
    }
}

// ------------------------------------------------------------------------------------------
// Interrupts
// ------------------------------------------------------------------------------------------

extern "C" {
    // R's API (Rinternals.h, R_ext/Utils.h); extendr-ffi declares neither.
    fn R_ToplevelExec(fun: Option<unsafe extern "C" fn(*mut c_void)>, data: *mut c_void) -> c_int;
    fn R_CheckUserInterrupt();
}

unsafe extern "C" fn check_interrupt(_: *mut c_void) {
    R_CheckUserInterrupt();
}

/// Whether the user pressed Ctrl-C (R's pending interrupt), without R's long jump out of
/// this Rust frame: the check runs in a top-level context of its own, which the interrupt
/// ends (R_ToplevelExec then returns FALSE) and which consumes it. Main (R) thread only.
fn interrupt_pending() -> bool {
    // SAFETY: called on R's main thread while R waits in this .Call; the callback touches
    // no Rust state, and R_ToplevelExec catches the long jump of an interrupt.
    unsafe { R_ToplevelExec(Some(check_interrupt), std::ptr::null_mut()) == 0 }
}

/// Run `f` on a worker thread; on R's main thread, poll for a user interrupt every 50 ms
/// and, on one, set `stop` (which `f` reads) and wait for `f` to return.
fn with_interrupts<T: Send>(stop: &AtomicBool, f: impl FnOnce() -> T + Send) -> std::thread::Result<T> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        });
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => return r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if !stop.load(Ordering::SeqCst) && interrupt_pending() {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Box::new("the worker thread ended without a result"));
                }
            }
        }
    })
}

// ------------------------------------------------------------------------------------------
// The functions R calls (through r/R/cartkin.R)
// ------------------------------------------------------------------------------------------

/// One patient: `list(document = <the endpoints document as a nested list>,
/// trajectory = <named list of columns>)`, or `list(error, message)`.
#[extendr]
fn rs_simulate(x: &str, patient: f64, rtol: Nullable<f64>) -> Robj {
    let run = || -> Result<Robj, BindError> {
        let out = bind::simulate(x, patient as u64, opt_f64(rtol))?;
        let doc = to_r(&parse_json(&out.document)?);
        let traj = table_to_r(&out.trajectory_csv)?;
        Ok(named_list(vec!["document", "trajectory"], vec![doc, traj]))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => error_robj(&e),
        Err(p) => failure("run", &panic_message(p.as_ref())),
    }
}

/// A trial: `list(summary = <summary.json as a nested list>, patients = <named list of the
/// columns of patients.csv>)`, or `list(error, message)`. The run is on a worker thread; a
/// user interrupt on R's thread stops it after the chunk of patients in progress.
#[extendr]
fn rs_run_trial(
    x: &str,
    patients: Nullable<f64>,
    seed: Nullable<f64>,
    threads: Nullable<f64>,
    rtol: Nullable<f64>,
) -> Robj {
    let opts = TrialOptions {
        patients: opt_u64(patients),
        seed: opt_u64(seed),
        threads: opt_u64(threads).map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
        rtol: opt_f64(rtol),
    };
    let stop = AtomicBool::new(false);
    let arg = x.to_string();
    let out = match with_interrupts(&stop, || bind::run_trial(&arg, &opts, &stop)) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return error_robj(&e),
        Err(p) => return failure("run", &panic_message(p.as_ref())),
    };
    let convert = || -> Result<Robj, BindError> {
        let summary = to_r(&parse_json(&out.summary_json)?);
        let patients = table_to_r(&out.patients_csv)?;
        Ok(named_list(vec!["summary", "patients"], vec![summary, patients]))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(convert)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => error_robj(&e),
        Err(p) => failure("run", &panic_message(p.as_ref())),
    }
}

/// A JSON text as R values, by the conversion of the documents above (for tests and for
/// reading the command line's files): the value, or `list(error, message)`.
#[extendr]
fn rs_json(text: &str) -> Robj {
    match parse_json(text) {
        Ok(j) => named_list(vec!["value"], vec![to_r(&j)]),
        Err(e) => error_robj(&e),
    }
}

/// A CSV text written by the crate (patients.csv, a trajectory) as a named list of columns.
#[extendr]
fn rs_csv(text: &str) -> Robj {
    match table_to_r(text) {
        Ok(t) => named_list(vec!["value"], vec![t]),
        Err(e) => error_robj(&e),
    }
}

/// The built-in models, populations and studies: a named list of columns (`kind`, `name`,
/// `model`, `description`), as `cartkin models` lists them.
#[extendr]
fn rs_models() -> Robj {
    use cartkin::model::zoo::{Kind, Variability, ZooPopulation};
    use cartkin::study::{BUILTIN_STUDIES, POPULATIONS, POPULATIONS_V2};
    let mut rows: Vec<(&str, String, String, String)> = Vec::new();
    for m in cartkin::model::all() {
        let what = format!("model version {}; {} states: {}", m.version, m.states.len(), m.states.join(", "));
        rows.push(("model", m.name.to_string(), m.name.to_string(), what));
    }
    for k in Kind::ALL {
        let varied = ZooPopulation::builtin(*k).variability().iter().any(|v| *v != Variability::None);
        let what = if varied {
            "the paper's typical values and variability"
        } else {
            "the typical patient (no published variability: add [variability] in a study)"
        };
        rows.push(("population", "builtin".into(), k.info().name.to_string(), format!("{what}; {}", k.citation())));
    }
    for (name, what) in POPULATIONS_V2 {
        rows.push(("population", (*name).into(), "v2".into(), (*what).into()));
    }
    for (name, what) in POPULATIONS {
        rows.push(("population", (*name).into(), "reference".into(), (*what).into()));
    }
    for (name, _) in BUILTIN_STUDIES {
        let model = bind::load_study(name).map(|s| s.model).unwrap_or_default();
        rows.push((
            "study",
            (*name).into(),
            model,
            "built-in study (a name run_trial and simulate_patient take)".into(),
        ));
    }
    let col = |i: usize| -> Robj {
        Robj::from(rows.iter().map(|r| [r.0, r.1.as_str(), r.2.as_str(), r.3.as_str()][i]).collect::<Vec<&str>>())
    };
    named_list(vec!["kind", "name", "model", "description"], vec![col(0), col(1), col(2), col(3)])
}

extendr_module! {
    mod cartkin;
    fn rs_simulate;
    fn rs_run_trial;
    fn rs_json;
    fn rs_csv;
    fn rs_models;
}
