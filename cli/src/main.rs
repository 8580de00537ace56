//! The `cartkin` command line: one patient from a scenario file, a virtual trial from a study
//! file (resumable, shardable), merging shards, showing a study with its defaults, listing the
//! built-in models. It lives in its own crate so that a library user compiles no argument
//! parser, progress bar or signal handling.
//!
//! Exit codes: 0 success; 1 a run that could not complete (I/O, a refused output directory);
//! 2 bad input (a bad study, scenario or argument); 130 / 143 interrupted by SIGINT / SIGTERM
//! (a trial with `--out` stops at the next chunk boundary and can be resumed).

mod calibrate;
mod rundir;
mod slurm;

use cartkin::io::TrajectoryCsv;
use cartkin::state::{Manifest, Shards, SummaryState};
use cartkin::study::{Study, BUILTIN_STUDIES, POPULATIONS, POPULATIONS_V2};
use cartkin::trial::Subject;
use cartkin::trial::{PatientSource, Trial, TrialSummary};
use cartkin::{io, simulate, Grid, OutputSpec, Scenario, SolverConfig};
use clap::{Args, Parser, Subcommand};
use rundir::{Fail, RunDir, Start};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `println!` that never panics: a closed stdout (`cartkin study show x | head`) ends the
/// output quietly instead of panicking on the broken pipe.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that never panics (see [`say!`]).
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// Run `$body` with `$t` bound to the study's trial, whichever model it is of (the trial's
/// type differs by model: v2, a zoo model, a sampled population or a table of patients), or
/// evaluate `$none` when the study has no patients.
macro_rules! with_trial {
    ($study:expr, |$t:ident| $body:expr, else $none:expr) => {{
        let study: &Study = $study;
        if let Some($t) = study.v2_trial() {
            $body
        } else if let Some($t) = study.zoo_trial() {
            $body
        } else if let Some($t) = study.population_trial() {
            $body
        } else if let Some($t) = study.table_trial() {
            $body
        } else {
            $none
        }
    }};
}

// after the macros, which they use
#[cfg(feature = "mpi")]
mod mpi;
mod sensitivity;

/// CAR-T cell therapy for B-ALL: simulations and virtual trials from files.
#[derive(Parser, Debug)]
#[command(name = "cartkin", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One patient: from a scenario file of the reference model (its JSON format, or TOML
    /// with the same content), or patient --patient of a study file (any model; a TOML file
    /// with a `model` key, or any TOML file with --model). The endpoints JSON on stdout, or
    /// with --out the endpoints and the daily trajectory files.
    Simulate {
        /// The scenario or study file (.json or .toml), or a built-in study's name. Without
        /// it, --model names a model with a typical patient (v2 or a zoo model), which is
        /// simulated.
        file: Option<PathBuf>,
        /// Write `<name>_endpoints.json` and `<name>_trajectory.csv` here (for a study:
        /// `<study>_patient<id>_...`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Relative tolerance (atol scales with it).
        #[arg(long)]
        rtol: Option<f64>,
        /// The model the file is of: `reference` reads a scenario file; any other model
        /// (`v2`, the zoo's: `cartkin models`) reads a study file of that model. Default: the
        /// file's `model` key, else `reference`. Without a file: the model's typical patient.
        #[arg(long)]
        model: Option<String>,
        /// For a study file: the patient (id) to simulate, as in the study's trial.
        #[arg(long, default_value_t = 0)]
        patient: u64,
    },
    /// A virtual trial from a study file (or a built-in study by name: `cartkin trial eliana`).
    Trial(TrialArgs),
    /// Merge the outputs of a trial's shards into the full run's summary.json and patients.csv.
    Merge {
        /// Where to write the merged outputs.
        #[arg(long)]
        out: PathBuf,
        /// The shards' output directories.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Overwrite a directory that holds another run's outputs.
        #[arg(long)]
        force: bool,
    },
    /// A trial as a Slurm job array: one task per shard and a merge job that writes the
    /// trial's outputs into --out once every shard has succeeded (docs/CLUSTER.md). Also
    /// --status DIR, --resubmit DIR (only the missing or failed shards, and a new merge) and
    /// --merge DIR (what the merge job runs).
    Slurm(SlurmArgs),
    /// Calibrate a study's knobs (study settings with bounds) to published targets
    /// (summary.json keys with intervals): a Nelder-Mead search with common random numbers,
    /// then a check at a fresh seed (docs/ANALYSIS.md).
    Calibrate(calibrate::CalibrateArgs),
    /// Study files.
    Study {
        #[command(subcommand)]
        command: StudyCommand,
    },
    /// Global sensitivity analysis: Sobol' first-order and total indices with bootstrap
    /// intervals (docs/ANALYSIS.md), of a test function (--test-function ishigami) or of a
    /// Saltelli design's outputs in SALib's row order (--analyze FILE --factors K).
    Sensitivity(sensitivity::SensitivityArgs),
    /// The built-in models and populations, one line each.
    Models,
    /// Write a model out for other tools.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ExportCommand {
    /// A scenario of the reference model, or a patient of a zoo model, as SBML Level 3
    /// Version 2 with its events (docs/SBML.md): load it in libroadrunner, COPASI or
    /// tellurium.
    Sbml {
        /// The reference model's scenario file (the reference JSON format, or TOML with the
        /// same content); for a zoo model, a study file of it (with --patient), or nothing
        /// (its typical patient).
        scenario: Option<PathBuf>,
        /// The model: `reference` or a zoo model (`cartkin models`); model v2 has no SBML
        /// export yet.
        #[arg(long, default_value = "reference")]
        model: String,
        /// For a zoo model's study file: the patient (id) to export, as in the study's trial.
        #[arg(long, default_value_t = 0)]
        patient: u64,
        /// The SBML file to write (atomically; never through a symbolic link).
        #[arg(long)]
        out: PathBuf,
        /// Add the endpoint observers: events that record the located maxima, the CRS
        /// threshold days, the relapse day and the B-cell recovery day (docs/SBML.md).
        #[arg(long)]
        endpoints: bool,
    },
}

#[derive(Subcommand, Debug)]
enum StudyCommand {
    /// The study with every default filled in, as TOML that runs to the same result.
    Show {
        /// The study file (or a built-in study's name).
        study: String,
    },
}

#[derive(Args, Debug)]
struct TrialArgs {
    /// The study file (or a built-in study's name).
    study: String,
    /// Patients (overrides the study).
    #[arg(long)]
    patients: Option<u64>,
    /// Seed (overrides the study).
    #[arg(long)]
    seed: Option<u64>,
    /// Relative tolerance of every solve (overrides the study; atol scales with it).
    #[arg(long)]
    rtol: Option<f64>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Write patients.csv, summary.json, run.json and state.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run shard K of N (ids in N contiguous ranges), e.g. 0/4.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Also write the daily trajectories of the first K patients (needs --out).
    #[arg(long, default_value_t = 0)]
    trajectories: u64,
    /// Continue an interrupted run in --out (or do nothing if it is complete).
    #[arg(long)]
    resume: bool,
    /// Overwrite a directory that holds another run's outputs.
    #[arg(long)]
    force: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    quiet: bool,
    /// Run under MPI, as `mpirun -np P cartkin trial STUDY --mpi --out DIR`: rank r runs
    /// shard r of P with its own --threads, rank 0 merges and writes the outputs (the bytes
    /// of a one-process run). Needs a cartkin built with `--features mpi`.
    #[arg(long)]
    mpi: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["study", "resubmit", "status", "merge"])))]
struct SlurmArgs {
    /// The study file (or a built-in study's name) to run as a job array.
    study: Option<String>,
    /// Shards (array tasks); the study's patients are split into this many contiguous ranges.
    #[arg(long, requires = "study")]
    shards: Option<u64>,
    /// The run's directory: the job scripts and logs go to DIR/slurm, the shards to
    /// DIR/shards/K, the merged outputs to DIR itself. Use a filesystem the compute nodes see.
    #[arg(long, requires = "study")]
    out: Option<PathBuf>,
    /// Patients (overrides the study).
    #[arg(long, requires = "study")]
    patients: Option<u64>,
    /// Seed (overrides the study).
    #[arg(long, requires = "study")]
    seed: Option<u64>,
    /// Relative tolerance of every solve (overrides the study).
    #[arg(long, requires = "study")]
    rtol: Option<f64>,
    /// Also write the daily trajectories of the first K patients.
    #[arg(long, requires = "study", default_value_t = 0)]
    trajectories: u64,
    /// Slurm partition (--partition) of the jobs.
    #[arg(long)]
    partition: Option<String>,
    /// Time limit of a shard task (--time, e.g. 2:00:00); at the limit a shard stops at a
    /// checkpoint and `--resubmit` continues it.
    #[arg(long)]
    time: Option<String>,
    /// CPUs per shard task (--cpus-per-task): the shard's worker threads.
    #[arg(long, default_value_t = 1)]
    cpus_per_task: u32,
    /// Memory per shard task (--mem, e.g. 500M).
    #[arg(long)]
    mem: Option<String>,
    /// Slurm account (--account).
    #[arg(long)]
    account: Option<String>,
    /// The cartkin binary the jobs run (default: this one; it must be visible on the nodes).
    #[arg(long, requires = "study")]
    cartkin: Option<PathBuf>,
    /// Submit the array and the merge job with sbatch (without it: only write the scripts,
    /// and DIR/slurm/submit.sh submits them).
    #[arg(long, requires = "study")]
    submit: bool,
    /// Submit the shards of DIR that are missing or failed, and a new merge job.
    #[arg(long, value_name = "DIR")]
    resubmit: Option<PathBuf>,
    /// Show where each shard and the merge of DIR are (and why a failed one failed).
    #[arg(long, value_name = "DIR")]
    status: Option<PathBuf>,
    /// Merge the shards of DIR into DIR (the merge job's command); refuses an incomplete set
    /// and names the missing shards.
    #[arg(long, value_name = "DIR")]
    merge: Option<PathBuf>,
    /// After submitting, wait until the jobs have left the queue; exit 0 only if the merged
    /// outputs are complete.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many seconds (exit 1; the jobs keep running).
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    wait_timeout: Option<u64>,
    /// Start over in a directory that holds another prepared run or a trial's outputs.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Simulate { file: Some(file), out, rtol, model, patient } => {
            cmd_simulate(&file, out.as_deref(), rtol, model.as_deref(), patient)
        }
        Command::Simulate { file: None, out, rtol, model, patient } => {
            cmd_simulate_typical(out.as_deref(), rtol, model.as_deref(), patient)
        }
        Command::Trial(a) => cmd_trial(&a),
        Command::Export { command: ExportCommand::Sbml { scenario, model, patient, out, endpoints } } => {
            cmd_export_sbml(scenario.as_deref(), &model, patient, &out, endpoints)
        }
        Command::Merge { out, shards, force } => cmd_merge(&out, &shards, force),
        Command::Slurm(a) => cmd_slurm(&a),
        Command::Calibrate(a) => calibrate::cmd_calibrate(&a),
        Command::Sensitivity(a) => sensitivity::run(&a),
        Command::Study { command: StudyCommand::Show { study } } => {
            load_study(&study).map(|s| say_raw!("{}", s.to_toml()))
        }
        Command::Models => {
            for m in cartkin::model::all() {
                say!("model {:<28} v{:<4} {} states: {}", m.name, m.version, m.states.len(), m.states.join(", "));
            }
            for k in cartkin::model::zoo::Kind::ALL {
                let varied = cartkin::model::zoo::ZooPopulation::builtin(*k)
                    .variability()
                    .iter()
                    .any(|v| *v != cartkin::model::zoo::Variability::None);
                let what = if varied {
                    "the paper's typical values and variability"
                } else {
                    "the typical patient (no published variability: add [variability] in a study)"
                };
                say!("population {:<14} (model {}) {what}; {}", "builtin", k.info().name, k.citation());
            }
            for (name, what) in POPULATIONS_V2 {
                say!("population {name:<14} (model v2) {what}");
            }
            for (name, what) in POPULATIONS {
                say!("population {name:<14} (model reference) {what}");
            }
            for (name, _) in BUILTIN_STUDIES {
                say!("study {name:<19} (built in; `cartkin study show {name}`)");
            }
            Ok(())
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let code = f.code();
            if let Some(msg) = f.message() {
                eprintln!("error: {}", cartkin::error::one_line(&msg, 2000));
            }
            ExitCode::from(code)
        }
    }
}

/// A study from a file, or a built-in study by name.
fn load_study(arg: &str) -> Result<Study, Fail> {
    cartkin::bind::load_study(arg).map_err(bind_fail)
}

/// A binding-layer error as the command line's failure (same message, same exit code).
fn bind_fail(e: cartkin::bind::BindError) -> Fail {
    match e {
        cartkin::bind::BindError::Input(m) => Fail::Input(m),
        cartkin::bind::BindError::Run(m) => Fail::Run(m),
        cartkin::bind::BindError::Interrupted => Fail::Interrupted(130),
    }
}

fn read_toml(file: &Path) -> Result<toml::Table, Fail> {
    let name = file.display();
    let text =
        io::read_capped(file, io::MAX_INPUT_BYTES).map_err(|e| Fail::Input(format!("cannot read {name}: {e}")))?;
    text.parse().map_err(|e: toml::de::Error| {
        Fail::Input(format!("{name}: TOML syntax error: {}", e.message().lines().next().unwrap_or("").trim()))
    })
}

/// Patient `id` of a study (the file's parsed `table`, or with `None` the built-in study
/// named `file`): its endpoints (every column of the model), events and daily trajectory
/// over the study's horizon.
fn simulate_study_patient(
    file: &Path,
    table: Option<toml::Table>,
    out: Option<&Path>,
    rtol: Option<f64>,
    model: Option<&str>,
    id: u64,
) -> Result<(), Fail> {
    let mut study = if let Some(mut t) = table {
        // a study file for one patient may leave `patients` out
        if !t.contains_key("patients") {
            t.insert("patients".into(), toml::Value::Integer(i64::try_from(id).unwrap_or(i64::MAX).saturating_add(1)));
        }
        if !t.contains_key("model") {
            if let Some(m) = model {
                t.insert("model".into(), toml::Value::String(m.into()));
            }
        }
        let text = toml::to_string(&t).map_err(|e| Fail::Input(format!("{}: {e}", file.display())))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        Study::parse(&text, &file.display().to_string(), dir).map_err(|e| Fail::Input(e.to_string()))?
    } else {
        load_study(&file.to_string_lossy())?
    };
    if let Some(m) = model {
        if m != study.model {
            return Err(Fail::Input(format!(
                "{}: --model {m}, but the study is of model {} (its `model` key)",
                file.display(),
                study.model
            )));
        }
    }
    if let Some(r) = rtol {
        set_rtol(&mut study, r)?;
    }
    if id >= study.patients {
        return Err(Fail::Input(format!(
            "--patient {id}: the study has {} patients (ids 0 to {})",
            study.patients,
            study.patients.saturating_sub(1)
        )));
    }
    let stem = format!("{}_patient{id}", study.name);
    if out.is_some() {
        io::file_stem(&stem).map_err(|e| Fail::Input(format!("{}: study name: {e}", file.display())))?;
    }
    let one =
        cartkin::bind::study_patient_of(&study, id).map_err(|e| Fail::Input(format!("{}: {e}", file.display())))?;
    let (json, csv) = (one.document, one.trajectory_csv);
    match out {
        None => say_raw!("{json}"),
        Some(dir) => {
            rundir::ensure_dir(dir)?;
            rundir::write_atomic(dir, &format!("{stem}_endpoints.json"), json.as_bytes())?;
            rundir::write_atomic(dir, &format!("{stem}_trajectory.csv"), csv.as_bytes())?;
        }
    }
    Ok(())
}

/// `--rtol` on a study: the tolerance changes, the step limit, method and maximum step stay.
fn set_rtol(study: &mut Study, r: f64) -> Result<(), Fail> {
    cartkin::bind::set_rtol(study, r).map_err(|e| {
        let m = e.to_string();
        Fail::Input(if m.starts_with("rtol") { format!("--{m}") } else { format!("--rtol: {m}") })
    })
}

/// `simulate`: a study file (a built-in study's name, a TOML file with a top-level `model`
/// key, or any TOML file when `--model` names a model other than `reference`) gives patient
/// `id` of the study; otherwise the file is a scenario of the reference model (a JSON file
/// always is).
fn cmd_simulate(file: &Path, out: Option<&Path>, rtol: Option<f64>, model: Option<&str>, id: u64) -> Result<(), Fail> {
    if !file.exists() && BUILTIN_STUDIES.iter().any(|(n, _)| Path::new(n) == file) {
        return simulate_study_patient(file, None, out, rtol, model, id);
    }
    let other_model = model.filter(|m| *m != "reference");
    let toml = if file.extension().is_some_and(|e| e == "toml") {
        Some(read_toml(file)?)
    } else if let Some(m) = other_model {
        return Err(Fail::Input(format!(
            "{}: --model {m}: a JSON file is a scenario of the reference model; a patient of model {m} comes from a study file (TOML, model = \"{m}\")",
            file.display()
        )));
    } else {
        None
    };
    if toml.as_ref().is_some_and(|t| other_model.is_some() || t.contains_key("model")) {
        return simulate_study_patient(file, toml, out, rtol, model, id);
    }
    if id != 0 {
        return Err(Fail::Input(format!("--patient {id}: a scenario file holds one patient (only a study has ids)")));
    }
    let name = file.display();
    let sc = if let Some(t) = &toml {
        let json = serde_json::to_string(t).map_err(|e| Fail::Input(format!("{name}: {e}")))?;
        Scenario::from_json_str(&json)
    } else {
        Scenario::from_path(file)
    }
    .map_err(|e| Fail::Input(format!("{name}: {e}")))?;
    let cfg = match rtol {
        Some(r) => SolverConfig::with_rtol(r).map_err(|e| Fail::Input(format!("--rtol: {e}")))?,
        None => SolverConfig::default(),
    };
    if out.is_some() {
        io::file_stem(sc.name()).map_err(|e| Fail::Input(format!("{name}: {e}")))?;
    }
    let sol = simulate(&sc, &cfg, &OutputSpec::reference()).map_err(|e| Fail::Input(format!("{name}: {e}")))?;
    let json = io::endpoints_json(sc.name(), &sol, &cfg);
    match out {
        None => say_raw!("{json}"),
        Some(dir) => {
            rundir::ensure_dir(dir)?;
            rundir::write_atomic(dir, &format!("{}_endpoints.json", sc.name()), json.as_bytes())?;
            rundir::write_atomic(dir, &format!("{}_trajectory.csv", sc.name()), io::trajectory_csv(&sol).as_bytes())?;
        }
    }
    Ok(())
}

/// `simulate --model NAME` without a file: the typical patient of model v2 or of a zoo model
/// (a study of that model with `population = "typical"`, named after the model).
fn cmd_simulate_typical(out: Option<&Path>, rtol: Option<f64>, model: Option<&str>, id: u64) -> Result<(), Fail> {
    let Some(m) = model else {
        return Err(Fail::Input("simulate: give a scenario or study file, or --model NAME (cartkin models)".into()));
    };
    if m == "reference" || m == "minimal" {
        return Err(Fail::Input(format!(
            "simulate --model {m}: model {m} has no typical patient here; give a scenario file (e.g. a reference scenario JSON)"
        )));
    }
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(m.into()));
    t.insert("model".into(), toml::Value::String(m.into()));
    t.insert("population".into(), toml::Value::String("typical".into()));
    simulate_study_patient(Path::new(m), Some(t), out, rtol, Some(m), id)
}

/// `export sbml`: a reference-model scenario as SBML.
fn cmd_export_sbml(file: Option<&Path>, model: &str, id: u64, out: &Path, endpoints: bool) -> Result<(), Fail> {
    let doc = if let Some(kind) = cartkin::model::zoo::Kind::from_name(model) {
        if endpoints {
            return Err(Fail::Input(format!("export sbml --model {model}: --endpoints is for the reference model")));
        }
        let patient = match file {
            None if id == 0 => None,
            None => return Err(Fail::Input("--patient needs a study file".into())),
            Some(f) => {
                let study = Study::from_path(f).map_err(|e| Fail::Input(e.to_string()))?;
                if study.model != model {
                    return Err(Fail::Input(format!(
                        "{}: --model {model}, but the study is of model {}",
                        f.display(),
                        study.model
                    )));
                }
                let t = study.zoo_trial().ok_or_else(|| Fail::Input("the study has no patients".into()))?;
                if id >= study.patients {
                    return Err(Fail::Input(format!("--patient {id}: the study has {} patients", study.patients)));
                }
                let p = cartkin::trial::PatientSource::patient(t.source(), study.seed, id)
                    .map_err(|e| Fail::Input(format!("{}: patient {id}: {e}", f.display())))?;
                Some(p)
            }
        };
        let res = match &patient {
            Some(p) => cartkin::sbml::zoo(kind, p.values(), Some(p.uniforms())),
            None => cartkin::sbml::zoo(kind, cartkin::model::zoo::ZooPopulation::typical(kind).typical_values(), None),
        };
        res.map_err(|e| Fail::Input(format!("export sbml --model {model}: {e}")))?
    } else if model == "v2" {
        if endpoints {
            return Err(Fail::Input("export sbml --model v2: --endpoints is for the reference model".into()));
        }
        let Some(f) = file else {
            return Err(Fail::Input("export sbml --model v2: give a study file of model v2 (and --patient N)".into()));
        };
        let study = Study::from_path(f).map_err(|e| Fail::Input(e.to_string()))?;
        let t = study.v2_trial().ok_or_else(|| Fail::Input(format!("{}: not a study of model v2", f.display())))?;
        if id >= study.patients {
            return Err(Fail::Input(format!("--patient {id}: the study has {} patients", study.patients)));
        }
        let p = cartkin::trial::PatientSource::patient(t.source(), study.seed, id)
            .map_err(|e| Fail::Input(format!("{}: patient {id}: {e}", f.display())))?;
        cartkin::sbml::v2(&p.scenario).map_err(|e| Fail::Input(format!("export sbml --model v2: {e}")))?
    } else if model == "reference" {
        let Some(file) = file else {
            return Err(Fail::Input("export sbml: give the reference model's scenario file".into()));
        };
        reference_sbml(file, endpoints)?
    } else {
        let known = cartkin::model::all().iter().any(|m| m.name == model);
        return Err(Fail::Input(if known {
            format!("export sbml --model {model}: model {model} has no SBML export (the reference model, v2 and the zoo's have)")
        } else {
            format!("export sbml --model {model}: unknown model (cartkin models)")
        }));
    };
    let fname = out
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| Fail::Input(format!("--out {}: not a file name", out.display())))?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    rundir::write_atomic(dir, fname, doc.to_xml().as_bytes())
}

/// A reference-model scenario file as an SBML document.
fn reference_sbml(file: &Path, endpoints: bool) -> Result<cartkin::sbml::Document, Fail> {
    let name = file.display();
    let sc = if file.extension().is_some_and(|e| e == "toml") {
        let t = read_toml(file)?;
        let json = serde_json::to_string(&t).map_err(|e| Fail::Input(format!("{name}: {e}")))?;
        Scenario::from_json_str(&json)
    } else {
        Scenario::from_path(file)
    }
    .map_err(|e| Fail::Input(format!("{name}: {e}")))?;
    let opt = cartkin::sbml::Options { endpoints };
    cartkin::sbml::scenario_with(&sc, &opt).map_err(|e| Fail::Input(format!("{name}: {e}")))
}

/// The most worker threads a run may ask for: 4 per core.
fn max_threads() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_shard(s: Option<&str>) -> Result<Option<(u64, u64)>, Fail> {
    let Some(s) = s else { return Ok(None) };
    let bad = || Fail::Input(format!("--shard {s}: expected K/N with 0 <= K < N, e.g. 0/4"));
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok(Some((k, n)))
}

/// A study with the command line's --patients, --seed and --rtol applied.
fn study_with(arg: &str, patients: Option<u64>, seed: Option<u64>, rtol: Option<f64>) -> Result<Study, Fail> {
    let mut study = load_study(arg)?;
    if let Some(n) = patients {
        study.patients = n;
    }
    if let Some(s) = seed {
        study.seed = s;
    }
    if let Some(r) = rtol {
        set_rtol(&mut study, r)?;
    }
    Ok(study)
}

/// The manifest of a study's trial (what every shard of it must hold).
fn study_manifest(study: &Study) -> Result<Manifest, Fail> {
    with_trial!(study, |t| Ok(t.manifest()), else Err(Fail::Input("the study has no patients".into())))
}

fn cmd_trial(a: &TrialArgs) -> Result<(), Fail> {
    if a.mpi {
        return trial_mpi(a);
    }
    let (study, shard) = trial_study(a)?;
    with_trial!(&study, |t| run_trial(t, &study, a, shard), else Err(Fail::Input("the study has no patients".into())))
}

/// `trial --mpi` (module `mpi`).
#[cfg(feature = "mpi")]
fn trial_mpi(a: &TrialArgs) -> Result<(), Fail> {
    mpi::cmd_trial(a)
}

/// `trial --mpi` in a cartkin built without MPI: bad input, said plainly.
#[cfg(not(feature = "mpi"))]
fn trial_mpi(_: &TrialArgs) -> Result<(), Fail> {
    Err(Fail::Input(
        "this cartkin was built without MPI; build it with `cargo install --path cli --features mpi`".into(),
    ))
}

/// The study of `trial` with the command line's overrides, and the shard, once the
/// arguments are checked.
fn trial_study(a: &TrialArgs) -> Result<(Study, Option<(u64, u64)>), Fail> {
    let study = study_with(&a.study, a.patients, a.seed, a.rtol)?;
    let shard = parse_shard(a.shard.as_deref())?;
    if a.trajectories > 0 && a.out.is_none() {
        return Err(Fail::Input("--trajectories needs --out DIR".into()));
    }
    if let Some(t) = a.threads {
        let max = max_threads();
        if t == 0 || t > max {
            return Err(Fail::Input(format!(
                "--threads {t}: must be between 1 and {max} (4 per core of this machine)"
            )));
        }
    }
    Ok((study, shard))
}

/// SIGINT / SIGTERM flags: the run stops at the next chunk boundary; a second signal ends
/// the process at once.
struct Signals {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> Result<Self, Fail> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        let err = |e: std::io::Error| Fail::Run(format!("cannot install signal handlers: {e}"));
        signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&int)).map_err(err)?;
        signal_hook::flag::register(SIGINT, Arc::clone(&int)).map_err(err)?;
        signal_hook::flag::register_conditional_shutdown(SIGTERM, 143, Arc::clone(&term)).map_err(err)?;
        signal_hook::flag::register(SIGTERM, Arc::clone(&term)).map_err(err)?;
        Ok(Signals { int, term })
    }
    fn stop(&self) -> Option<Fail> {
        if self.int.load(Ordering::SeqCst) {
            Some(Fail::Interrupted(130))
        } else if self.term.load(Ordering::SeqCst) {
            Some(Fail::Interrupted(143))
        } else {
            None
        }
    }
}

/// Progress on stderr: a bar on a terminal, else a plain line at most every 10 s.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    total: u64,
    start: Instant,
    start_done: u64,
    last: Instant,
}

impl Progress {
    fn new(quiet: bool, total: u64, done: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} patients ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_position(done);
            b
        });
        let now = Instant::now();
        Progress { bar, plain: !quiet && !terminal, total, start: now, start_done: done, last: now }
    }
    fn update(&mut self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        } else if self.plain && self.last.elapsed() >= Duration::from_secs(10) {
            self.last = Instant::now();
            let rate = (done - self.start_done) as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            let eta = (self.total - done) as f64 / rate.max(1e-9);
            eprintln!(
                "cartkin: {done}/{} patients ({:.0}%), {rate:.0} patients/s, ETA {eta:.0} s",
                self.total,
                100.0 * done as f64 / self.total.max(1) as f64
            );
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn run_trial<S: PatientSource>(
    trial: Trial<S>,
    study: &Study,
    a: &TrialArgs,
    shard: Option<(u64, u64)>,
) -> Result<(), Fail>
where
    <S::Patient as Subject>::Row: TrajectoryCsv,
{
    let trial = if a.trajectories > 0 { trial.trajectories(a.trajectories, Grid::Daily) } else { trial };
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = a.threads {
        pool = pool.num_threads(t);
    }
    let pool = pool.build().map_err(|e| Fail::Run(format!("thread pool: {e}")))?;
    let threads = pool.current_num_threads();
    let (k, n_shards) = shard.unwrap_or((0, 1));
    let range = trial.shard_range(k, n_shards);
    let manifest = trial.manifest();
    let signals = Signals::install()?;

    say!("{}", study.describe());
    if let Some(s) = shard {
        say!("  shard {}/{}: patients {}..{}", s.0, s.1, range.start, range.end);
    }

    let mut dir = match &a.out {
        Some(d) => Some(RunDir::open(d, &manifest, (k, n_shards), a.resume, a.force)?),
        None => None,
    };
    let (from, summary, mut csv) = match dir.as_mut().map(|d| d.start(&trial)).transpose()? {
        Some(Start::Complete) => {
            say!(
                "  already complete in {} (nothing to do)",
                a.out.as_ref().map_or(String::new(), |d| d.display().to_string())
            );
            return Ok(());
        }
        Some(Start::Resume { next, summary, csv }) => (next, *summary, Some(csv)),
        Some(Start::Fresh { csv }) => (range.start, trial.empty_summary(), Some(csv)),
        None => (range.start, trial.empty_summary(), None),
    };
    let reused = from - range.start;
    if reused > 0 {
        say!("  resuming: {reused} patients reused, {} to compute", range.end - from);
    }
    let mut progress = Progress::new(a.quiet, range.end - range.start, reused);
    let traj_dir = a.out.as_ref().map(|d| d.join("trajectories"));
    // the sink (rows) and the chunk hook (checkpoints) share the table and the first error
    let shared = std::sync::Mutex::new((csv.take(), None::<String>));
    let start = Instant::now();
    let (summary, next) = pool.install(|| {
        trial.run_chunks(
            range.clone(),
            from,
            summary,
            &mut |o| {
                let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                let (csv, io_error) = &mut *sh;
                if io_error.is_some() {
                    return;
                }
                if let (Some(rows), Some(td)) = (&o.trajectory, &traj_dir) {
                    let text = <<S::Patient as Subject>::Row as TrajectoryCsv>::csv(rows);
                    if let Err(e) = rundir::write_atomic(td, &format!("patient_{}.csv", o.id), text.as_bytes()) {
                        *io_error = e.message();
                        return;
                    }
                }
                if let Some(w) = csv.as_mut() {
                    if let Err(e) = w.write(o) {
                        *io_error = Some(format!("patients.csv: {e}"));
                    }
                }
            },
            &mut |next, summary| {
                let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                let (csv, io_error) = &mut *sh;
                if io_error.is_none() {
                    if let (Some(d), Some(w)) = (dir.as_mut(), csv.as_mut()) {
                        if let Err(e) = d.checkpoint(w, next, summary) {
                            *io_error = e.message();
                        }
                    }
                }
                progress.update(next - range.start);
                io_error.is_none() && signals.stop().is_none()
            },
        )
    });
    let wall = start.elapsed().as_secs_f64();
    progress.finish();
    let (mut csv, io_error) = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = io_error {
        return Err(Fail::Run(e));
    }
    if next < range.end {
        if let Some(f) = signals.stop() {
            if let Some(d) = &a.out {
                eprintln!(
                    "cartkin: interrupted after {} patients; `--resume` continues the run in {}",
                    next - range.start,
                    d.display()
                );
            }
            return Err(f);
        }
    }
    let computed = range.end - from;
    if let (Some(d), Some(w)) = (dir.as_mut(), csv.take()) {
        let state = SummaryState {
            manifest: manifest.clone(),
            shards: Shards { n_shards, held: vec![k] },
            summary: summary.clone(),
        };
        let run = run_json(study, &manifest, shard, &range, threads, wall, reused, computed);
        d.finish(w, &summary, &state, &run)?;
    }
    let unit = cartkin::model::zoo::Kind::from_name(&study.model).map_or("cells", |k| k.car_t_unit());
    print_report(&summary, range.end - range.start, computed, wall, threads, unit);
    if let Some(d) = &a.out {
        eprintln!("wrote {}/patients.csv, summary.json, run.json, state.json", d.display());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_json(
    study: &Study,
    manifest: &Manifest,
    shard: Option<(u64, u64)>,
    range: &std::ops::Range<u64>,
    threads: usize,
    wall: f64,
    reused: u64,
    computed: u64,
) -> serde_json::Value {
    let n = range.end - range.start;
    serde_json::json!({
        "crate": "cartkin",
        "version": env!("CARGO_PKG_VERSION"),
        "complete": true,
        "threads": threads,
        "seed": study.seed,
        "n_patients": n,
        "shard": shard.map(|(k, m)| format!("{k}/{m}")),
        "id_range": [range.start, range.end],
        "wall_s": wall,
        "patients_per_s": computed as f64 / wall.max(1e-12),
        "reused_patients": reused,
        "computed_patients": computed,
        "manifest": manifest,
        "study": serde_json::to_value(study.to_table()).unwrap_or(serde_json::Value::Null),
    })
}

fn print_report(summary: &TrialSummary, n: u64, computed: u64, wall: f64, threads: usize, car_t_unit: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Virtual trial: {n} patients ({computed} computed), {threads} threads, {} s ({} patients/s)",
        cartkin::trial::plain(wall),
        cartkin::trial::plain(computed as f64 / wall.max(1e-12)).split('.').next().unwrap_or("0")
    );
    let _ = write!(out, "{}", summary.report_in(car_t_unit));
}

fn cmd_slurm(a: &SlurmArgs) -> Result<(), Fail> {
    let sbatch = slurm::Sbatch {
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus_per_task: a.cpus_per_task,
        mem: a.mem.clone(),
        account: a.account.clone(),
    };
    let timeout = a.wait_timeout.map(Duration::from_secs);
    let finish_wait = |dir: &Path| -> Result<(), Fail> {
        slurm::wait(dir, timeout)?;
        let (text, merged) = slurm::status(dir)?;
        say_raw!("{text}");
        if merged {
            Ok(())
        } else {
            Err(Fail::Run(format!("{}: the jobs have left the queue without merged outputs (above)", dir.display())))
        }
    };
    if let Some(dir) = &a.status {
        let (text, _) = slurm::status(dir)?;
        say_raw!("{text}");
        return Ok(());
    }
    if let Some(dir) = &a.merge {
        let dirs = slurm::merge(dir)?;
        return cmd_merge(dir, &dirs, false);
    }
    if let Some(dir) = &a.resubmit {
        let mut job = slurm::load(dir)?;
        match slurm::still_queued(&job) {
            Some(q) if !q.is_empty() => {
                let ids: Vec<String> = q.iter().map(|(id, st, _)| format!("{id} {}", st.to_lowercase())).collect();
                return Err(Fail::Run(format!(
                    "{}: jobs of the last submission are still in the queue ({}); wait for them or scancel them first",
                    dir.display(),
                    ids.join(", ")
                )));
            }
            _ => {}
        }
        if a.cpus_per_task != 1 && a.cpus_per_task != job.sbatch.cpus_per_task {
            return Err(Fail::Input(
                "--cpus-per-task cannot change on --resubmit (it is in DIR/slurm/shard.sh); --time, --partition,                  --mem and --account can"
                    .into(),
            ));
        }
        let todo = slurm::incomplete(dir, &job);
        let (_, merged) = slurm::status(dir)?;
        if todo.is_empty() && merged {
            say!("{}: every shard and the merge are complete; nothing to submit", dir.display());
            return Ok(());
        }
        let over = sbatch_overrides(a);
        over.validate()?;
        let sub = slurm::submit(dir, &mut job, &todo, &over)?;
        report_submission(dir, &sub);
        return if a.wait { finish_wait(dir) } else { Ok(()) };
    }
    let Some(study_arg) = &a.study else { return Err(Fail::Input("a study, --resubmit, --status or --merge".into())) };
    let (Some(n_shards), Some(out)) = (a.shards, &a.out) else {
        return Err(Fail::Input("cartkin slurm STUDY needs --shards N and --out DIR".into()));
    };
    // an absolute path, so that a table of patients named relative to the study is found
    // from DIR/slurm/study.toml
    let arg = match std::fs::canonicalize(study_arg) {
        Ok(p) if Path::new(study_arg).exists() => p.display().to_string(),
        _ => study_arg.clone(),
    };
    let study = study_with(&arg, a.patients, a.seed, a.rtol)?;
    let manifest = study_manifest(&study)?;
    let prep = slurm::Prepare {
        study_arg,
        study: &study,
        manifest: &manifest,
        n_shards,
        out,
        trajectories: a.trajectories,
        sbatch,
        cartkin: a.cartkin.as_deref(),
        force: a.force,
    };
    let (dir, mut job) = slurm::prepare(&prep)?;
    say!("{}", study.describe());
    say!(
        "  {n_shards} shards (array 0-{}), {} CPU(s) per shard; scripts in {}/slurm",
        n_shards - 1,
        a.cpus_per_task,
        dir.display()
    );
    if !a.submit {
        say!("  submit with: {}/slurm/submit.sh   (or: cartkin slurm --resubmit {0})", dir.display());
        say!("  then:        cartkin slurm --status {}", dir.display());
        return Ok(());
    }
    let sub = slurm::submit(&dir, &mut job, &(0..n_shards).collect::<Vec<_>>(), &slurm::Sbatch::default())?;
    report_submission(&dir, &sub);
    if a.wait {
        finish_wait(&dir)
    } else {
        Ok(())
    }
}

/// The options of `--resubmit` that override the scripts' #SBATCH lines.
fn sbatch_overrides(a: &SlurmArgs) -> slurm::Sbatch {
    slurm::Sbatch {
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus_per_task: 1,
        mem: a.mem.clone(),
        account: a.account.clone(),
    }
}

fn report_submission(dir: &Path, sub: &slurm::Submission) {
    match &sub.array_job {
        Some(a) => say!(
            "  submitted shards {} as array job {a}; merge job {} (after every shard succeeds)",
            slurm::array_list(&sub.shards),
            sub.merge_job
        ),
        None => say!("  every shard is complete; submitted merge job {}", sub.merge_job),
    }
    say!("  status: cartkin slurm --status {}", dir.display());
}

fn cmd_merge(out: &Path, dirs: &[PathBuf], force: bool) -> Result<(), Fail> {
    let mut parts: Vec<(SummaryState, PathBuf)> = Vec::new();
    for d in dirs {
        let p = d.join("state.json");
        let text = std::fs::read_to_string(&p).map_err(|e| {
            Fail::Input(format!("{}: {e} (not the --out directory of a completed cartkin trial)", p.display()))
        })?;
        let st = SummaryState::from_json(&text).map_err(|e| Fail::Input(format!("{}: {e}", p.display())))?;
        parts.push((st, d.clone()));
    }
    let states: Vec<SummaryState> = parts.iter().map(|(s, _)| s.clone()).collect();
    let merged = SummaryState::merge(&states)
        .and_then(|m| m.complete())
        .map_err(|e| Fail::Input(format!("cannot merge: {e}")))?;
    parts.sort_by_key(|(s, _)| s.shards.held.first().copied().unwrap_or(u64::MAX));
    let mut dir = RunDir::open(out, &merged.manifest, (0, 1), false, force)?;
    dir.merge_outputs(&parts, &merged)?;
    say!(
        "Merged {} shards of {} patients (seed {}, run {})",
        parts.len(),
        merged.manifest.n_patients,
        merged.manifest.seed,
        merged.manifest.run_hash
    );
    say_raw!("{}", merged.summary.report());
    eprintln!("wrote {}/patients.csv, summary.json, run.json, state.json", out.display());
    Ok(())
}
