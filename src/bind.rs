//! Plain-data entry points for the faces of the crate: the command line, the Python and R
//! packages. A study or scenario is given as one string (a file's path, a built-in study's
//! name, or the file's text: JSON or TOML), and the results are exactly the bytes the
//! command line writes (`<name>_endpoints.json`, the trajectory CSV, `summary.json`,
//! `patients.csv`), so that every language gets the same values, bit for bit; the
//! bindings only convert them (JSON to a dict or named list, CSV to columns with
//! [`columns`]).
//!
//! ```
//! use cartkin::bind;
//! use std::sync::atomic::AtomicBool;
//!
//! let opts = bind::TrialOptions { patients: Some(40), seed: Some(5), threads: Some(1), ..Default::default() };
//! let out = bind::run_trial("eliana", &opts, &AtomicBool::new(false)).unwrap();
//! let table = bind::columns(&out.patients_csv).unwrap();
//! assert_eq!(table.names[0], "id");
//! assert!(out.summary_json.contains("\"n_patients\": 40"));
//! ```

use crate::io::{PatientCsv, TrajectoryCsv};
use crate::study::{Study, BUILTIN_STUDIES};
use crate::trial::{PatientSource, Subject, Trial};
use crate::{Grid, OutputSpec, Scenario, SolverConfig};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Why a call failed: bad input, a run that could not complete, or an interruption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// Bad input: the one-line message the command line prints (exit code 2 there).
    #[error("{0}")]
    Input(String),
    /// The run could not complete (exit code 1 there).
    #[error("{0}")]
    Run(String),
    /// Stopped by the caller's flag (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

fn input(msg: impl std::fmt::Display) -> BindError {
    BindError::Input(crate::error::one_line(&msg.to_string(), 2000))
}

/// Where a string points: a file, a built-in study, or the text itself.
enum Source<'a> {
    File(&'a Path),
    Builtin(&'static str, &'static str),
    Text(&'a str),
}

fn source(arg: &str) -> Source<'_> {
    if Path::new(arg).exists() {
        return Source::File(Path::new(arg));
    }
    if let Some((name, text)) = BUILTIN_STUDIES.iter().find(|(n, _)| *n == arg) {
        return Source::Builtin(name, text);
    }
    // a JSON or TOML document (a path would hold no newline, brace or `=`)
    if arg.contains('\n') || arg.trim_start().starts_with('{') || arg.contains('=') {
        return Source::Text(arg);
    }
    Source::File(Path::new(arg))
}

/// A study from a path, a built-in study's name, or a study's TOML text (a relative
/// `table` path in a text is read from the current directory).
///
/// # Errors
/// [`BindError::Input`] naming the file (or `<string>`) and the key.
pub fn load_study(arg: &str) -> Result<Study, BindError> {
    match source(arg) {
        Source::File(p) => {
            if !p.exists() {
                let names: Vec<&str> = BUILTIN_STUDIES.iter().map(|(n, _)| *n).collect();
                return Err(input(format!("{arg}: no such file, nor a built-in study ({})", names.join(", "))));
            }
            Study::from_path(p).map_err(input)
        }
        Source::Builtin(name, text) => {
            Study::parse(text, &format!("{name} (built-in study)"), Path::new(".")).map_err(input)
        }
        Source::Text(t) => Study::parse(t, "<string>", Path::new(".")).map_err(input),
    }
}

/// `rtol` on a study: the tolerance changes; the step limit, method and maximum step stay.
///
/// # Errors
/// [`BindError::Input`] for a tolerance out of range.
pub fn set_rtol(study: &mut Study, r: f64) -> Result<(), BindError> {
    let old = study.solver;
    let mut cfg = SolverConfig::with_rtol(r)
        .and_then(|c| c.max_steps(old.step_limit()))
        .map_err(|e| input(format!("rtol: {e}")))?
        .method(old.method_used());
    if old.max_step().is_finite() {
        cfg = cfg.h_max(old.max_step()).map_err(input)?;
    }
    study.solver = cfg;
    Ok(())
}

/// One patient's results as the command line writes them.
#[derive(Debug, Clone)]
pub struct PatientOutput {
    /// The endpoints document (`<name>_endpoints.json`, or for a study's patient the
    /// document of `cartkin simulate STUDY --patient N`): `endpoints`, `events`, `solver`.
    pub document: String,
    /// The daily trajectory as CSV (`<name>_trajectory.csv`).
    pub trajectory_csv: String,
}

/// One patient: a scenario of the reference model (a `.json` file, a JSON text, or TOML
/// without a `model` key), or patient `patient` of a study (a built-in study's name, or a
/// TOML study with a `model` key). `rtol` overrides the tolerance.
///
/// # Errors
/// [`BindError::Input`] for bad input or a failed solve (with the command line's message).
pub fn simulate(arg: &str, patient: u64, rtol: Option<f64>) -> Result<PatientOutput, BindError> {
    let (name, text, is_json) = match source(arg) {
        Source::Builtin(..) => return study_patient(arg, patient, rtol),
        Source::File(p) => {
            let text = crate::io::read_capped(p, crate::io::MAX_INPUT_BYTES)
                .map_err(|e| input(format!("cannot read {arg}: {e}")))?;
            let json = p.extension().is_none_or(|e| e != "toml");
            (arg.to_string(), text, json)
        }
        Source::Text(t) => ("<string>".to_string(), t.to_string(), t.trim_start().starts_with('{')),
    };
    let sc = if is_json {
        Scenario::from_json_str(&text).map_err(|e| input(format!("{name}: {e}")))?
    } else {
        let t: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            input(format!("{name}: TOML syntax error: {}", e.message().lines().next().unwrap_or("").trim()))
        })?;
        if t.contains_key("model") {
            return study_patient(arg, patient, rtol);
        }
        let json = serde_json::to_string(&t).map_err(|e| input(format!("{name}: {e}")))?;
        Scenario::from_json_str(&json).map_err(|e| input(format!("{name}: {e}")))?
    };
    if patient != 0 {
        return Err(input(format!("patient {patient}: a scenario holds one patient (only a study has ids)")));
    }
    let cfg = match rtol {
        Some(r) => SolverConfig::with_rtol(r).map_err(|e| input(format!("rtol: {e}")))?,
        None => SolverConfig::default(),
    };
    let sol = crate::simulate(&sc, &cfg, &OutputSpec::reference()).map_err(|e| input(format!("{name}: {e}")))?;
    Ok(PatientOutput {
        document: crate::io::endpoints_json(sc.name(), &sol, &cfg),
        trajectory_csv: crate::io::trajectory_csv(&sol),
    })
}

fn study_patient(arg: &str, id: u64, rtol: Option<f64>) -> Result<PatientOutput, BindError> {
    let mut study = match source(arg) {
        // a study text or file for one patient may leave `patients` out
        Source::Text(t) => with_patients(t, "<string>", id, Path::new("."))?,
        Source::File(p) => {
            let t = crate::io::read_capped(p, crate::io::MAX_INPUT_BYTES)
                .map_err(|e| input(format!("cannot read {arg}: {e}")))?;
            with_patients(&t, arg, id, p.parent().unwrap_or(Path::new(".")))?
        }
        Source::Builtin(..) => load_study(arg)?,
    };
    if let Some(r) = rtol {
        set_rtol(&mut study, r)?;
    }
    study_patient_of(&study, id)
}

fn with_patients(text: &str, name: &str, id: u64, dir: &Path) -> Result<Study, BindError> {
    let mut t: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        input(format!("{name}: TOML syntax error: {}", e.message().lines().next().unwrap_or("").trim()))
    })?;
    if !t.contains_key("patients") {
        t.insert("patients".into(), toml::Value::Integer(i64::try_from(id).unwrap_or(i64::MAX).saturating_add(1)));
    }
    let text = toml::to_string(&t).map_err(|e| input(format!("{name}: {e}")))?;
    Study::parse(&text, name, dir).map_err(input)
}

/// Patient `id` of `study`: its endpoints document (every column of the model, keyed as in
/// `patients.csv`, with the event log) and its daily trajectory over the study's horizon:
/// what `cartkin simulate STUDY --patient N` writes.
///
/// # Errors
/// [`BindError::Input`] for an id out of range or a failed solve.
pub fn study_patient_of(study: &Study, id: u64) -> Result<PatientOutput, BindError> {
    if id >= study.patients {
        return Err(input(format!(
            "patient {id}: the study has {} patients (ids 0 to {})",
            study.patients,
            study.patients.saturating_sub(1)
        )));
    }
    let header = [
        ("study", serde_json::Value::from(study.name.clone())),
        ("model", serde_json::Value::from(study.model.clone())),
        ("seed", serde_json::Value::from(study.seed)),
        ("patient", serde_json::Value::from(id)),
        ("horizon_days", serde_json::Value::from(study.horizon_days)),
    ];
    let res = if let Some(t) = study.v2_trial() {
        solve_one(&t, id, &header, &study.solver)
    } else if let Some(t) = study.zoo_trial() {
        solve_one(&t, id, &header, &study.solver)
    } else if let Some(t) = study.population_trial() {
        solve_one(&t, id, &header, &study.solver)
    } else if let Some(t) = study.table_trial() {
        solve_one(&t, id, &header, &study.solver)
    } else {
        return Err(input("the study has no patients"));
    };
    res.map_err(|f| input(format!("patient {id} of study {}: {f}", study.name)))
}

fn solve_one<S: PatientSource>(
    t: &Trial<S>,
    id: u64,
    header: &[(&str, serde_json::Value)],
    cfg: &SolverConfig,
) -> Result<PatientOutput, crate::trial::Failure>
where
    <S::Patient as Subject>::Row: TrajectoryCsv,
{
    let sol = t.solve_patient(id, &Grid::Daily)?;
    Ok(PatientOutput {
        document: crate::io::endpoints_columns_json(header, &sol, cfg),
        trajectory_csv: TrajectoryCsv::csv(&sol.rows),
    })
}

/// The most patients [`run_trial`] holds in memory (its `patients.csv` is a string of about
/// 1 kB per patient); the command line streams any number to files.
pub const MAX_IN_MEMORY_PATIENTS: u64 = 2_000_000;

/// Overrides of a trial run.
#[derive(Debug, Clone, Default)]
pub struct TrialOptions {
    /// Patients (default: the study's).
    pub patients: Option<u64>,
    /// Seed (default: the study's).
    pub seed: Option<u64>,
    /// Worker threads (default: every core).
    pub threads: Option<usize>,
    /// Relative tolerance (default: the study's).
    pub rtol: Option<f64>,
}

/// A trial's results as the command line writes them.
#[derive(Debug, Clone)]
pub struct TrialOutput {
    /// `summary.json`, byte for byte.
    pub summary_json: String,
    /// `patients.csv`, byte for byte.
    pub patients_csv: String,
}

/// Run a study's trial (a path, a built-in study's name or a study's TOML text); `stop`
/// is read after every chunk of patients (1,024): set it (from a signal handler) to end
/// the run with [`BindError::Interrupted`].
///
/// # Errors
/// [`BindError::Input`] for a bad study or option, [`BindError::Run`] if the thread pool
/// cannot start, [`BindError::Interrupted`].
pub fn run_trial(arg: &str, opts: &TrialOptions, stop: &AtomicBool) -> Result<TrialOutput, BindError> {
    let mut study = load_study(arg)?;
    if opts.patients.is_none() && study.patients > MAX_IN_MEMORY_PATIENTS {
        return Err(input(format!(
            "the study has {} patients: at most {MAX_IN_MEMORY_PATIENTS} in memory (set patients, or use the command \
             line, which streams them to files)",
            study.patients
        )));
    }
    if let Some(n) = opts.patients {
        if n == 0 || n > MAX_IN_MEMORY_PATIENTS {
            return Err(input(format!(
                "patients {n}: must be between 1 and {MAX_IN_MEMORY_PATIENTS} for a trial held in memory (the \
                 command line streams larger trials to files: cartkin trial STUDY --out DIR)"
            )));
        }
        study.patients = n;
    }
    if let Some(s) = opts.seed {
        study.seed = s;
    }
    if let Some(r) = opts.rtol {
        set_rtol(&mut study, r)?;
    }
    if let Some(t) = opts.threads {
        let max = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
        if t == 0 || t > max {
            return Err(input(format!("threads {t}: must be between 1 and {max} (4 per core of this machine)")));
        }
    }
    struct Run<'a> {
        threads: Option<usize>,
        stop: &'a AtomicBool,
    }
    impl crate::study::TrialVisitor for Run<'_> {
        type Output = Result<TrialOutput, BindError>;
        fn visit<S: PatientSource>(self, t: Trial<S>) -> Self::Output {
            run(&t, self.threads, self.stop)
        }
    }
    study.with_trial(Run { threads: opts.threads, stop }).unwrap_or_else(|| Err(input("the study has no patients")))
}

fn run<S: PatientSource>(
    trial: &Trial<S>,
    threads: Option<usize>,
    stop: &AtomicBool,
) -> Result<TrialOutput, BindError> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        pool = pool.num_threads(t);
    }
    let pool = pool.build().map_err(|e| BindError::Run(format!("thread pool: {e}")))?;
    let range = trial.shard_range(0, 1);
    let mut csv =
        PatientCsv::for_source(Vec::new(), trial.source()).map_err(|e| BindError::Run(format!("patients.csv: {e}")))?;
    let mut io_error = None;
    let (summary, next) = pool.install(|| {
        trial.run_chunks(
            range.clone(),
            range.start,
            trial.empty_summary(),
            &mut |o| {
                if io_error.is_none() {
                    if let Err(e) = csv.write(o) {
                        io_error = Some(e);
                    }
                }
            },
            &mut |_, _| !stop.load(Ordering::SeqCst),
        )
    });
    if let Some(e) = io_error {
        return Err(BindError::Run(format!("patients.csv: {e}")));
    }
    if next < range.end {
        return Err(BindError::Interrupted);
    }
    let bytes = csv.finish().map_err(|e| BindError::Run(format!("patients.csv: {e}")))?;
    let summary_json =
        serde_json::to_string_pretty(&summary.to_json()).map_err(|e| BindError::Run(e.to_string()))? + "\n";
    Ok(TrialOutput { summary_json, patients_csv: String::from_utf8_lossy(&bytes).into_owned() })
}

/// A column of a CSV table: numbers (a missing value is NaN) or text (a missing value is
/// `None`).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Every non-empty cell is a number.
    Number(Vec<f64>),
    /// Some cell is not a number (or the column is one of [`TEXT_COLUMNS`]).
    Text(Vec<Option<String>>),
}

/// Columns of `patients.csv` that hold text even when every cell of a run is empty.
pub const TEXT_COLUMNS: &[&str] = &["status", "relapse_phenotype", "crs_scale"];

/// A CSV table by columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names, as in the header.
    pub names: Vec<String>,
    /// The columns, in the header's order.
    pub columns: Vec<Column>,
}

/// The columns of a CSV table written by this crate (`patients.csv`, a trajectory): no
/// quoting, empty cells are missing values.
///
/// # Errors
/// [`BindError::Run`] for a row whose length differs from the header's.
pub fn columns(csv: &str) -> Result<Table, BindError> {
    let mut lines = csv.lines();
    let names: Vec<String> = lines.next().unwrap_or("").split(',').map(str::to_string).collect();
    let mut cells: Vec<Vec<&str>> = vec![Vec::new(); names.len()];
    for (i, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        let row: Vec<&str> = line.split(',').collect();
        if row.len() != names.len() {
            return Err(BindError::Run(format!("row {}: {} cells, the header has {}", i + 1, row.len(), names.len())));
        }
        for (c, v) in cells.iter_mut().zip(row) {
            c.push(v);
        }
    }
    let columns = names
        .iter()
        .zip(cells)
        .map(|(name, col)| {
            let numbers: Option<Vec<f64>> = if TEXT_COLUMNS.contains(&name.as_str()) {
                None
            } else {
                col.iter().map(|v| if v.is_empty() { Some(f64::NAN) } else { v.parse::<f64>().ok() }).collect()
            };
            match numbers {
                Some(n) => Column::Number(n),
                None => Column::Text(col.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect()),
            }
        })
        .collect();
    Ok(Table { names, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_type_numbers_text_and_missing_values() {
        let t = columns("id,status,x,relapse_phenotype\n0,ok,1.5,\n1,failed:steps,,CD19-CD22+\n").unwrap();
        assert_eq!(t.names, ["id", "status", "x", "relapse_phenotype"]);
        assert_eq!(t.columns[0], Column::Number(vec![0.0, 1.0]));
        assert_eq!(t.columns[1], Column::Text(vec![Some("ok".into()), Some("failed:steps".into())]));
        match &t.columns[2] {
            Column::Number(v) => assert!(v[0] == 1.5 && v[1].is_nan()),
            c => panic!("{c:?}"),
        }
        assert_eq!(t.columns[3], Column::Text(vec![None, Some("CD19-CD22+".into())]));
        assert!(columns("a,b\n1\n").is_err());
    }

    #[test]
    fn strings_are_files_builtin_studies_or_text() {
        assert!(matches!(source("eliana"), Source::Builtin("eliana", _)));
        assert!(matches!(source("tests/data/S1_nominal.json"), Source::File(_)));
        assert!(matches!(source("{\"name\": \"x\"}"), Source::Text(_)));
        assert!(matches!(source("model = \"v2\""), Source::Text(_)));
        let e = simulate("{\"name\": \"broken\", \"horizon\": -1}", 0, None).unwrap_err();
        assert!(matches!(e, BindError::Input(_)), "{e:?}");
        let e = load_study("no/such/study.toml").unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
    }

    #[test]
    fn a_set_stop_flag_interrupts_a_trial() {
        let opts = TrialOptions { patients: Some(3000), seed: Some(1), threads: Some(1), ..Default::default() };
        assert_eq!(run_trial("eliana", &opts, &AtomicBool::new(true)).unwrap_err(), BindError::Interrupted);
    }
}
