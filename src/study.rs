//! Study files: a virtual trial written as TOML, read into a [`Study`] (model, population,
//! patients, seed, horizon, solver settings, summary strata) that runs as a
//! [`crate::trial::Trial`]. `docs/STUDY.md` documents every key with its unit, default and
//! domain.
//!
//! ```
//! use cartkin::study::Study;
//! let text = r#"
//! name = "adults"
//! population = "eliana"
//! patients = 8
//! seed = 1
//! [typical]
//! K_k = 1e8
//! [covariates]
//! marrow_blast_fraction = { beta = [2.0, 1.0], range = [0.05, 0.97] }
//! "#;
//! let study = Study::parse(text, "adults.toml", std::path::Path::new("."))?;
//! assert_eq!(study.patients, 8);
//! // `study show`: every default filled in, as TOML that reads back to the same study
//! let again = Study::parse(&study.to_toml(), "shown.toml", std::path::Path::new("."))?;
//! assert_eq!(again.source, study.source);
//! # Ok::<(), cartkin::study::StudyError>(())
//! ```
//!
//! **Semantics.** A study is validated as written. `[typical]`, `[variability]` and
//! `[covariates]` merge key by key into the base `population`; `[product]`, `[dose]` and
//! `[regimen]` replace the base's section whole when given. Varied parameters are drawn in
//! the base population's order; an override keeps its place, a CV of 0 removes the
//! variability, new keys are appended in file order. Paths inside a study resolve relative
//! to the study file's folder.
//!
//! **Errors** ([`StudyError`]) are one line naming the file and the key path (and the line
//! and column for TOML syntax errors).

use crate::error::InputError;
use crate::model::{Params, Phenotype};
use crate::ode::Method;
use crate::population::{
    read_population_csv, Amount, BodyWeight, Dose, EscapeSubclone, Fraction, Population, RegimenTemplate,
    VirtualPatient,
};
use crate::regimen::{PolicyRules, Product, SteroidPolicy, TociPolicy};
use crate::solve::SolverConfig;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Studies shipped with the crate, by name (`cartkin trial eliana`): the default ELIANA-like
/// trial of model v2 and two examples of the study format.
pub const BUILTIN_STUDIES: &[(&str, &str)] = &[
    ("eliana", include_str!("../studies/eliana.toml")),
    ("adults-cd28", include_str!("../studies/adults-cd28.toml")),
    ("dual-cd19-cd22", include_str!("../studies/dual-cd19-cd22.toml")),
    ("eliana_itt", include_str!("../studies/eliana_itt.toml")),
];

/// Built-in populations of model v2, by study name.
pub const POPULATIONS_V2: &[(&str, &str)] = &[
    ("eliana", "ELIANA-calibrated children and young adults, tisagenlecleucel per kg (model v2: the default trial)"),
    ("typical", "the typical v2 patient every time (no variability, no subclones): f0 0.5, 1e8 cells"),
];

/// Built-in populations of the reference model, by study name.
pub const POPULATIONS: &[(&str, &str)] = &[
    ("eliana", "ELIANA-calibrated children and young adults, tisagenlecleucel per kg (the default trial)"),
    ("reference_200", "the distribution the shared 200-patient reference population was drawn from"),
    ("s1", "the S1 patient every time (no variability): f0 0.5, 1e8 cells, CD19 product"),
];

/// A study file that cannot be used: one line naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML.
    #[error("{file}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Valid TOML that is not a valid study: the key path and what is wrong.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The key path (`covariates.weight_kg.range`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl StudyError {
    /// The key path of an [`StudyError::Invalid`] error.
    pub fn key(&self) -> Option<&str> {
        match self {
            StudyError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Where a study's patients come from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Source {
    /// A sampled population (reference model).
    Population(Box<Population>),
    /// A sampled population of model v2.
    PopulationV2(Box<crate::population::v2::PopulationV2>),
    /// A sampled population of a zoo model (`stein2019`, `kimmel2021`, ...).
    Zoo(Box<crate::model::zoo::ZooPopulation>),
    /// A table of patients (the `population_200.csv` format) at this path.
    Table {
        /// The table's path (resolved).
        path: PathBuf,
        /// Its patients.
        patients: Vec<VirtualPatient>,
    },
}

/// What a caller does with a study's trial, generic over the patient source (the model):
/// [`Study::with_trial`].
pub trait TrialVisitor {
    /// What the visit returns.
    type Output;
    /// Do it with `trial`.
    fn visit<S: crate::trial::PatientSource>(self, trial: crate::trial::Trial<S>) -> Self::Output;
}

/// A resolved study: what runs, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// Study name.
    pub name: String,
    /// Model name (`reference`).
    pub model: String,
    /// The base population named in the file, if any (for reports).
    pub population_name: Option<String>,
    /// Patients to simulate (for a table: at most its rows).
    pub patients: u64,
    /// Seed of the run.
    pub seed: u64,
    /// Horizon (days).
    pub horizon_days: f64,
    /// Where the patients come from.
    pub source: Source,
    /// Solver settings.
    pub solver: SolverConfig,
    /// Edges of the marrow-blast-fraction strata of the summary.
    pub f0_strata: Vec<f64>,
    /// Edges of the dose strata (`None`: the dose tertiles of the first 3,000 patients).
    pub dose_strata: Option<Vec<f64>>,
}

/// A table being read: its key path, what was read (to refuse unknown keys).
struct Node<'a> {
    file: &'a str,
    path: String,
    t: &'a Table,
    seen: Vec<String>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl<'a> Node<'a> {
    fn new(file: &'a str, path: String, t: &'a Table) -> Self {
        Node { file, path, t, seen: Vec::new() }
    }

    fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        }
    }

    fn err(&self, k: &str, message: impl Into<String>) -> StudyError {
        StudyError::Invalid { file: self.file.to_string(), key: self.key(k), message: message.into() }
    }

    fn get(&mut self, k: &str) -> Option<&'a Value> {
        self.seen.push(k.to_string());
        self.t.get(k)
    }

    fn table(&mut self, k: &str) -> Result<Option<Node<'a>>, StudyError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(Node::new(self.file, self.key(k), t))),
            Some(v) => Err(self.err(k, format!("expected a table, found {}", type_name(v)))),
        }
    }

    fn number_value(&self, k: &str, v: &Value) -> Result<f64, StudyError> {
        let x = match v {
            Value::Float(x) => *x,
            Value::Integer(i) => *i as f64,
            v => return Err(self.err(k, format!("expected a number, found {}", type_name(v)))),
        };
        if x.is_finite() {
            Ok(x)
        } else {
            Err(self.err(k, format!("{x} is not a finite number")))
        }
    }

    /// A model parameter: a number, or `inf` where the parameter's domain allows it
    /// (`K_C`, `t_loss`); the parameter's own domain check decides.
    fn param(&mut self, k: &str) -> Result<f64, StudyError> {
        match self.get(k) {
            Some(Value::Float(x)) if *x == f64::INFINITY => Ok(*x),
            Some(v) => self.number_value(k, v),
            None => Ok(f64::NAN),
        }
    }

    fn f64(&mut self, k: &str) -> Result<Option<f64>, StudyError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => self.number_value(k, v).map(Some),
        }
    }

    fn u64(&mut self, k: &str) -> Result<Option<u64>, StudyError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(Value::Integer(i)) => Err(self.err(k, format!("{i} is negative"))),
            Some(v) => Err(self.err(k, format!("expected a whole number, found {}", type_name(v)))),
        }
    }

    fn str(&mut self, k: &str) -> Result<Option<&'a str>, StudyError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.err(k, format!("expected a string, found {}", type_name(v)))),
        }
    }

    fn bool(&mut self, k: &str) -> Result<Option<bool>, StudyError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(k, format!("expected true or false, found {}", type_name(v)))),
        }
    }

    fn numbers(&mut self, k: &str) -> Result<Option<Vec<f64>>, StudyError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a.iter().map(|v| self.number_value(k, v)).collect::<Result<Vec<_>, _>>().map(Some),
            Some(v) => Err(self.err(k, format!("expected an array of numbers, found {}", type_name(v)))),
        }
    }

    /// Refuse the keys that were not read.
    fn finish(self, what: &str) -> Result<(), StudyError> {
        for k in self.t.keys() {
            if !self.seen.iter().any(|s| s == k) {
                return Err(self.err(k, format!("unknown key (not a {what} key; see docs/STUDY.md)")));
            }
        }
        Ok(())
    }
}

/// A distribution as written: a number or one of the tables of docs/STUDY.md.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dist {
    Fixed(f64),
    Uniform(f64, f64),
    LogUniform(f64, f64),
    Beta { a: f64, b: f64, lo: f64, hi: f64 },
    LogNormal { median: f64, cv: f64, lo: f64, hi: f64 },
}

impl Dist {
    fn kind(&self) -> &'static str {
        match self {
            Dist::Fixed(_) => "a fixed number",
            Dist::Uniform(..) => "uniform",
            Dist::LogUniform(..) => "log_uniform",
            Dist::Beta { .. } => "beta",
            Dist::LogNormal { .. } => "lognormal",
        }
    }
}

fn range_pair(n: &Node<'_>, k: &str, v: &[f64]) -> Result<(f64, f64), StudyError> {
    match v {
        [lo, hi] if lo < hi => Ok((*lo, *hi)),
        [lo, hi] => Err(n.err(k, format!("[{lo}, {hi}]: the lower end must be below the upper end"))),
        _ => Err(n.err(k, format!("expected [lo, hi], found {} numbers", v.len()))),
    }
}

/// Read the distribution at `k` of `parent`.
fn dist(parent: &mut Node<'_>, k: &str) -> Result<Option<Dist>, StudyError> {
    let v = match parent.get(k) {
        None => return Ok(None),
        Some(v) => v,
    };
    if let Value::Table(t) = v {
        let mut n = Node::new(parent.file, parent.key(k), t);
        let range = match n.numbers("range")? {
            Some(r) => Some(range_pair(&n, "range", &r)?),
            None => None,
        };
        let d = if let Some(u) = n.numbers("uniform")? {
            let (lo, hi) = range_pair(&n, "uniform", &u)?;
            Dist::Uniform(lo, hi)
        } else if let Some(u) = n.numbers("log_uniform")? {
            let (lo, hi) = match u.as_slice() {
                [lo, hi] if *lo > 0.0 && lo <= hi => (*lo, *hi),
                [lo, hi] => return Err(n.err("log_uniform", format!("[{lo}, {hi}]: need 0 < lo <= hi"))),
                _ => return Err(n.err("log_uniform", format!("expected [lo, hi], found {} numbers", u.len()))),
            };
            Dist::LogUniform(lo, hi)
        } else if let Some(ab) = n.numbers("beta")? {
            let (a, b) = match ab.as_slice() {
                [a, b] if *a > 0.0 && *b > 0.0 => (*a, *b),
                [a, b] => return Err(n.err("beta", format!("shapes [{a}, {b}]: both must be > 0"))),
                _ => return Err(n.err("beta", format!("expected [a, b], found {} numbers", ab.len()))),
            };
            let (lo, hi) = range.unwrap_or((0.0, 1.0));
            Dist::Beta { a, b, lo, hi }
        } else if let Some(mut ln) = n.table("lognormal")? {
            let median = ln.f64("median")?.ok_or_else(|| ln.err("median", "missing (the median)"))?;
            let cv = ln.f64("cv")?.ok_or_else(|| ln.err("cv", "missing (the coefficient of variation)"))?;
            if !(median > 0.0) {
                return Err(ln.err("median", format!("{median}: must be > 0")));
            }
            if cv < 0.0 {
                return Err(ln.err("cv", format!("{cv}: must be >= 0")));
            }
            ln.finish("lognormal")?;
            let (lo, hi) = range.ok_or_else(|| n.err("range", "a lognormal needs range = [lo, hi]"))?;
            Dist::LogNormal { median, cv, lo, hi }
        } else {
            return Err(parent.err(k, "expected a number or one of uniform, log_uniform, beta, lognormal"));
        };
        if range.is_some() && !matches!(d, Dist::Beta { .. } | Dist::LogNormal { .. }) {
            return Err(n.err("range", format!("range goes with beta or lognormal, not {}", d.kind())));
        }
        n.finish("distribution")?;
        Ok(Some(d))
    } else {
        Ok(Some(Dist::Fixed(parent.number_value(k, v)?)))
    }
}

fn fraction(n: &Node<'_>, k: &str, d: Dist) -> Result<Fraction, StudyError> {
    let in01 = |lo: f64, hi: f64| (0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi);
    match d {
        Dist::Fixed(v) if (0.0..=1.0).contains(&v) => Ok(Fraction::Fixed(v)),
        Dist::Uniform(lo, hi) if in01(lo, hi) => Ok(Fraction::Uniform { lo, hi }),
        Dist::Beta { a, b, lo, hi } if in01(lo, hi) => Ok(Fraction::Beta { a, b, lo, hi }),
        Dist::Fixed(_) | Dist::Uniform(..) | Dist::Beta { .. } => Err(n.err(k, "a fraction must lie in [0, 1]")),
        d => Err(n.err(k, format!("{} is not available for a fraction (a number, uniform or beta)", d.kind()))),
    }
}

fn amount(n: &Node<'_>, k: &str, d: Dist) -> Result<Amount, StudyError> {
    match d {
        Dist::Fixed(v) if v > 0.0 => Ok(Amount::Fixed(v)),
        Dist::Fixed(v) => Err(n.err(k, format!("{v}: must be > 0"))),
        Dist::LogUniform(lo, hi) => Ok(Amount::LogUniform { lo, hi }),
        d => Err(n.err(k, format!("{} is not available here (a number or log_uniform)", d.kind()))),
    }
}

fn weight(n: &Node<'_>, k: &str, d: Dist) -> Result<BodyWeight, StudyError> {
    match d {
        Dist::Fixed(v) if v > 0.0 => Ok(BodyWeight { median_kg: v, cv: 0.0, min_kg: v, max_kg: v }),
        Dist::LogNormal { median, cv, lo, hi } if lo > 0.0 => {
            Ok(BodyWeight { median_kg: median, cv, min_kg: lo, max_kg: hi })
        }
        d => Err(n.err(
            k,
            format!("{} is not available for a weight (a number > 0, or lognormal with a range > 0)", d.kind()),
        )),
    }
}

fn parse_toml(text: &str, file: &str) -> Result<Table, StudyError> {
    text.parse::<Table>().map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let message = e.message().lines().next().unwrap_or("invalid TOML").trim().to_string();
        StudyError::Syntax { file: file.to_string(), line, column, message }
    })
}

impl Study {
    /// Read the study file at `path` (paths inside it resolve relative to its folder).
    ///
    /// # Errors
    /// [`StudyError`]: unreadable, not TOML, or not a valid study.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, StudyError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = crate::io::read_capped(path, crate::io::MAX_INPUT_BYTES)
            .map_err(|source| StudyError::Io { file: file.clone(), source })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &file, dir)
    }

    /// Parse a study; `file` names it in errors, `dir` is where its relative paths start.
    ///
    /// # Errors
    /// [`StudyError`]: not TOML, or not a valid study.
    pub fn parse(text: &str, file: &str, dir: &Path) -> Result<Self, StudyError> {
        let t = parse_toml(text, file)?;
        let mut top = Node::new(file, String::new(), &t);
        let name = top.str("name")?.map(str::to_string).unwrap_or_else(|| {
            Path::new(file).file_stem().map_or("study".into(), |s| s.to_string_lossy().into_owned())
        });
        let model = top.str("model")?.unwrap_or("reference").to_string();
        let zoo = crate::model::zoo::Kind::from_name(&model);
        match model.as_str() {
            "reference" | "v2" => {}
            _ if zoo.is_some() => {}
            "minimal" => {
                return Err(
                    top.err("model", "the minimal model has no virtual population (studies run the reference model)")
                )
            }
            m => {
                let names: Vec<&str> = crate::model::all().iter().map(|i| i.name).collect();
                return Err(top.err("model", format!("unknown model \"{m}\" (built-in: {})", names.join(", "))));
            }
        }
        let horizon_days = top.f64("horizon_days")?.unwrap_or(365.0);
        if !(28.0..=crate::solve::MAX_HORIZON_DAYS).contains(&horizon_days) {
            return Err(top.err(
                "horizon_days",
                format!("{horizon_days}: must be >= 28 (the assessment day) and <= 36525 (100 years)"),
            ));
        }
        let seed = top.u64("seed")?.unwrap_or(2018);
        let patients = top.u64("patients")?;
        let population_name = top.str("population")?.map(str::to_string);
        let table = top.str("table")?;

        if model != "v2" && top.t.contains_key("journey") {
            return Err(
                top.err("journey", format!("the patient journey wraps model v2 (this study's model is {model})"))
            );
        }
        let source = match table {
            Some(_) if zoo.is_some() => {
                return Err(top.err("table", format!("model {model} takes its patients from a population, not a table")))
            }
            None if zoo.is_some() => Source::Zoo(Box::new(population_zoo(
                &mut top,
                zoo.unwrap_or_else(|| unreachable!("checked")),
                population_name.as_deref(),
            )?)),
            Some(_) if model == "v2" => {
                return Err(top
                    .err("table", "a table of patients holds model reference's patients (use model = \"reference\")"))
            }
            Some(rel) => {
                for k in
                    ["population", "typical", "variability", "correlation", "covariates", "product", "dose", "regimen"]
                {
                    if top.t.contains_key(k) {
                        return Err(
                            top.err(k, "a study with a table of patients takes its patients from the table alone")
                        );
                    }
                }
                let path = dir.join(rel);
                let rows = read_population_csv(&path).map_err(|e| top.err("table", e.to_string()))?;
                Source::Table { path, patients: rows }
            }
            None if model == "v2" => {
                Source::PopulationV2(Box::new(population_v2(&mut top, population_name.as_deref(), horizon_days)?))
            }
            None => Source::Population(Box::new(population(&mut top, population_name.as_deref(), horizon_days)?)),
        };
        let patients = match (patients, &source) {
            (Some(n), _) => n,
            (None, Source::Table { patients, .. }) => patients.len() as u64,
            (None, Source::Population(_) | Source::PopulationV2(_) | Source::Zoo(_)) => {
                return Err(top.err("patients", "missing (how many patients to simulate)"))
            }
        };

        // solver
        let mut solver = SolverConfig::default();
        if let Some(mut s) = top.table("solver")? {
            if let Some(r) = s.f64("rtol")? {
                solver = SolverConfig::with_rtol(r).map_err(|e| s.err("rtol", e.to_string()))?;
            }
            if let Some(a) = s.f64("atol_factor")? {
                // equal to rtol is the default (atol scaled with rtol): keep it so
                if a != solver.rtol() {
                    solver = solver.atol_factor(a).map_err(|e| s.err("atol_factor", e.to_string()))?;
                }
            }
            if let Some(n) = s.u64("max_steps")? {
                solver = solver.max_steps(n).map_err(|e| s.err("max_steps", e.to_string()))?;
            }
            if let Some(h) = s.f64("max_step_days")? {
                solver = solver.h_max(h).map_err(|e| s.err("max_step_days", e.to_string()))?;
            }
            if let Some(m) = s.str("method")? {
                solver = solver.method(match m {
                    "dopri5exp" => Method::Dopri5Exp,
                    "dopri5" => Method::Dopri5,
                    m => return Err(s.err("method", format!("unknown method \"{m}\" (dopri5exp, dopri5)"))),
                });
            }
            s.finish("[solver]")?;
        }

        // strata
        let mut f0_strata = vec![0.0, 0.2, 0.5, 1.0];
        let mut dose_strata = None;
        if let Some(mut s) = top.table("strata")? {
            let edges = |s: &mut Node<'_>, k: &str| -> Result<Option<Vec<f64>>, StudyError> {
                let e = s.numbers(k)?;
                if let Some(e) = &e {
                    if e.len() < 2 || e.windows(2).any(|w| !(w[0] < w[1])) {
                        return Err(s.err(k, "edges must be at least two strictly increasing numbers"));
                    }
                }
                Ok(e)
            };
            if let Some(e) = edges(&mut s, "marrow_blast_fraction")? {
                f0_strata = e;
            }
            dose_strata = edges(&mut s, "dose_cells")?;
            s.finish("[strata]")?;
        }
        top.finish("study")?;
        Ok(Study { name, model, population_name, patients, seed, horizon_days, source, solver, f0_strata, dose_strata })
    }

    /// The study as TOML with every default filled in: read back, it is the same study
    /// (the `study show` of the command line).
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# Study {:?} with every default filled in (cartkin {}): it runs to the same result.\n",
            self.name,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(p) = &self.population_name {
            out.push_str(&format!("# Base population: {p} (written out in full below).\n"));
        }
        out.push_str(&render(&self.to_table()));
        out
    }

    /// This study with numeric settings changed: each `(path, value)` sets the key at the
    /// dotted `path` of [`Study::to_table`] (e.g. `typical.rho_E`, `variability.phi_T`,
    /// `regimen.toci_threshold`, `journey.manufacturing.failure_probability`; an array
    /// element as `covariates.marrow_blast_fraction.beta[0]`), and the result is read again
    /// with every rule of a study file, so an invalid value is the same error a file with it
    /// would give. Sensitivity factors and calibration knobs are such settings.
    ///
    /// # Errors
    /// A path that names no number of the study, or a value the study rules refuse.
    pub fn with_settings(&self, settings: &[(String, f64)]) -> Result<Study, StudyError> {
        let mut t = self.to_table();
        for (path, value) in settings {
            set_path(&mut t, path, *value).map_err(|message| StudyError::Invalid {
                file: self.name.clone(),
                key: path.clone(),
                message,
            })?;
        }
        let text = render(&t);
        let mut s = Study::parse(&text, &self.name, Path::new("."))?;
        s.population_name = self.population_name.clone();
        Ok(s)
    }

    /// The number at the dotted `path` of [`Study::to_table`] (see [`Study::with_settings`]).
    pub fn setting(&self, path: &str) -> Option<f64> {
        let t = self.to_table();
        let mut v: &Value = t.get(path.split('.').next()?)?;
        for seg in path.split('.').skip(1) {
            let (name, index) = split_index(seg)?;
            v = v.as_table()?.get(name)?;
            if let Some(i) = index {
                v = v.as_array()?.get(i)?;
            }
        }
        match v {
            Value::Float(x) => Some(*x),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The study as a TOML table with every default filled in (see [`Study::to_toml`]).
    pub fn to_table(&self) -> Table {
        let mut t = Table::new();
        t.insert("name".into(), Value::String(self.name.clone()));
        t.insert("model".into(), Value::String(self.model.clone()));
        t.insert("patients".into(), Value::Integer(self.patients as i64));
        t.insert("seed".into(), Value::Integer(self.seed as i64));
        t.insert("horizon_days".into(), Value::Float(self.horizon_days));
        match &self.source {
            Source::Table { path, .. } => {
                t.insert("table".into(), Value::String(path.display().to_string()));
            }
            Source::Population(p) => write_population(&mut t, p),
            Source::PopulationV2(p) => write_population_v2(&mut t, p),
            Source::Zoo(p) => write_population_zoo(&mut t, p),
        }
        let mut s = Table::new();
        s.insert("method".into(), Value::String(method_name(self.solver.method_used()).into()));
        s.insert("rtol".into(), Value::Float(self.solver.rtol()));
        if self.solver.atol() != self.solver.rtol() {
            s.insert("atol_factor".into(), Value::Float(self.solver.atol()));
        }
        s.insert("max_steps".into(), Value::Integer(self.solver.step_limit() as i64));
        if self.solver.max_step().is_finite() {
            s.insert("max_step_days".into(), Value::Float(self.solver.max_step()));
        }
        t.insert("solver".into(), Value::Table(s));
        let mut st = Table::new();
        st.insert("marrow_blast_fraction".into(), floats(&self.f0_strata));
        if let Some(d) = &self.dose_strata {
            st.insert("dose_cells".into(), floats(d));
        }
        t.insert("strata".into(), Value::Table(st));
        t
    }

    /// Build this study's trial, whatever its model, and hand it to `v` (`None` when the
    /// study has no patient source). The one place that knows every kind of source: a
    /// caller writes what it does with a trial once, generic over the patient source.
    ///
    /// ```
    /// use cartkin::study::{Study, TrialVisitor};
    /// use cartkin::trial::{PatientSource, Trial};
    ///
    /// struct Patients;
    /// impl TrialVisitor for Patients {
    ///     type Output = u64;
    ///     fn visit<S: PatientSource>(self, t: Trial<S>) -> u64 {
    ///         t.n_patients()
    ///     }
    /// }
    /// let study = cartkin::bind::load_study("eliana").unwrap();
    /// assert_eq!(study.with_trial(Patients), Some(study.patients));
    /// ```
    pub fn with_trial<V: TrialVisitor>(&self, v: V) -> Option<V::Output> {
        if let Some(t) = self.v2_trial() {
            Some(v.visit(t))
        } else if let Some(t) = self.zoo_trial() {
            Some(v.visit(t))
        } else if let Some(t) = self.population_trial() {
            Some(v.visit(t))
        } else {
            self.table_trial().map(|t| v.visit(t))
        }
    }

    /// The trial of this study from a population source (`None` for a table source: use
    /// [`Study::table_trial`]).
    pub fn population_trial(&self) -> Option<crate::trial::Trial<Population>> {
        match &self.source {
            Source::Population(p) => {
                Some(self.configure(crate::trial::Trial::new((**p).clone(), self.patients, self.seed)))
            }
            Source::Table { .. } | Source::PopulationV2(_) | Source::Zoo(_) => None,
        }
    }

    /// The trial of this study from a model-v2 population (`None` for other sources).
    pub fn v2_trial(&self) -> Option<crate::trial::Trial<crate::population::v2::PopulationV2>> {
        match &self.source {
            Source::PopulationV2(p) => {
                Some(self.configure(crate::trial::Trial::new((**p).clone(), self.patients, self.seed)))
            }
            _ => None,
        }
    }

    /// The trial of this study from a table source (`None` for a population source).
    pub fn table_trial(&self) -> Option<crate::trial::Trial<Vec<VirtualPatient>>> {
        match &self.source {
            Source::Table { patients, .. } => {
                Some(self.configure(crate::trial::Trial::new(patients.clone(), self.patients, self.seed)))
            }
            Source::Population(_) | Source::PopulationV2(_) | Source::Zoo(_) => None,
        }
    }

    /// The trial of this study from a zoo model's population (`None` for other sources).
    pub fn zoo_trial(&self) -> Option<crate::trial::Trial<crate::model::zoo::ZooPopulation>> {
        match &self.source {
            Source::Zoo(p) => Some(self.configure(crate::trial::Trial::new((**p).clone(), self.patients, self.seed))),
            _ => None,
        }
    }

    fn configure<S: crate::trial::PatientSource>(&self, t: crate::trial::Trial<S>) -> crate::trial::Trial<S> {
        // the strata were checked when the study was read (the same rules as the trial's)
        let valid = "strata checked at parse";
        let t = t.solver(self.solver).f0_strata(self.f0_strata.clone()).unwrap_or_else(|_| unreachable!("{valid}"));
        let t = match &self.dose_strata {
            Some(d) => t.dose_strata(d.clone()).unwrap_or_else(|_| unreachable!("{valid}")),
            None => t,
        };
        // the horizon was checked (>= 28, finite) when the study was read
        t.horizon(self.horizon_days).unwrap_or_else(|_| unreachable!("horizon checked at parse"))
    }

    /// One line saying what is simulated (study, model, population, patients, seed, horizon).
    pub fn describe(&self) -> String {
        let pop = match (&self.source, &self.population_name) {
            (Source::Table { path, .. }, _) => format!("table {}", path.display()),
            (Source::Population(_) | Source::PopulationV2(_) | Source::Zoo(_), Some(n)) => format!("population {n}"),
            (Source::Population(_) | Source::PopulationV2(_) | Source::Zoo(_), None) => {
                "population as written (no base)".into()
            }
        };
        format!(
            "Study {}: model {}, {pop}, {} patients, seed {}, horizon {} days",
            self.name, self.model, self.patients, self.seed, self.horizon_days
        )
    }
}

/// TOML text of a study table: top-level values first, then one `[section]` per table with
/// nested tables written inline (`{ beta = [2.0, 1.0], range = [0.05, 0.97] }`).
fn render(t: &Table) -> String {
    fn key(k: &str) -> String {
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            k.to_string()
        } else {
            Value::String(k.to_string()).to_string()
        }
    }
    fn value(v: &Value) -> String {
        match v {
            // Debug is the shortest round-trip form, with an exponent for large and tiny values
            Value::Float(x) => format!("{x:?}"),
            Value::Array(a) => format!("[{}]", a.iter().map(value).collect::<Vec<_>>().join(", ")),
            Value::Table(t) => {
                let kv: Vec<String> = t.iter().map(|(k, v)| format!("{} = {}", key(k), value(v))).collect();
                format!("{{ {} }}", kv.join(", "))
            }
            v => v.to_string(),
        }
    }
    let mut out = String::new();
    for (k, v) in t.iter().filter(|(_, v)| !v.is_table()) {
        out.push_str(&format!("{} = {}\n", key(k), value(v)));
    }
    for (k, v) in t.iter() {
        if let Value::Table(sec) = v {
            // a section of sections ([journey]) is written as [journey.screening], ...
            if k == "journey" && sec.values().all(Value::is_table) {
                for (k2, v2) in sec {
                    out.push_str(&format!("\n[{}.{}]\n", key(k), key(k2)));
                    if let Value::Table(sub) = v2 {
                        for (k3, v3) in sub {
                            out.push_str(&format!("{} = {}\n", key(k3), value(v3)));
                        }
                    }
                }
                continue;
            }
            out.push_str(&format!("\n[{}]\n", key(k)));
            for (k2, v2) in sec {
                out.push_str(&format!("{} = {}\n", key(k2), value(v2)));
            }
        }
    }
    out
}

/// `name` or `name[i]`.
fn split_index(seg: &str) -> Option<(&str, Option<usize>)> {
    match seg.split_once('[') {
        None => Some((seg, None)),
        Some((name, rest)) => {
            let i = rest.strip_suffix(']')?.parse().ok()?;
            Some((name, Some(i)))
        }
    }
}

/// Set the number at a dotted path (see [`Study::with_settings`]).
fn set_path(t: &mut Table, path: &str, value: f64) -> Result<(), String> {
    if !value.is_finite() {
        return Err(format!("{value} is not a finite number"));
    }
    let segs: Vec<&str> = path.split('.').collect();
    let mut table = t;
    for (k, seg) in segs.iter().enumerate() {
        let (name, index) = split_index(seg).ok_or_else(|| format!("\"{seg}\" is not a key or key[index]"))?;
        let last = k + 1 == segs.len();
        let slot = table
            .get_mut(name)
            .ok_or_else(|| format!("no key \"{name}\" here (`cartkin study show` lists every key of the study)"))?;
        let slot = match index {
            None => slot,
            Some(i) => slot
                .as_array_mut()
                .and_then(|a| a.get_mut(i))
                .ok_or_else(|| format!("\"{name}\" has no element {i}"))?,
        };
        if last {
            return match slot {
                Value::Float(_) | Value::Integer(_) => {
                    *slot = Value::Float(value);
                    Ok(())
                }
                v => Err(format!("\"{path}\" is {}, not a number", type_name(v))),
            };
        }
        table = slot.as_table_mut().ok_or_else(|| format!("\"{name}\" is not a table"))?;
    }
    Err("an empty path".into())
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Dopri5 => "dopri5",
        _ => "dopri5exp",
    }
}

fn floats(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|x| Value::Float(*x)).collect())
}

fn table_of(pairs: Vec<(&str, Value)>) -> Value {
    let mut t = Table::new();
    for (k, v) in pairs {
        t.insert(k.into(), v);
    }
    Value::Table(t)
}

fn fraction_value(f: Fraction) -> Value {
    match f {
        Fraction::Uniform { lo, hi } => table_of(vec![("uniform", floats(&[lo, hi]))]),
        Fraction::Beta { a, b, lo, hi } => table_of(vec![("beta", floats(&[a, b])), ("range", floats(&[lo, hi]))]),
        Fraction::Fixed(v) => Value::Float(v),
    }
}

fn amount_value(a: Amount) -> Value {
    match a {
        Amount::LogUniform { lo, hi } => table_of(vec![("log_uniform", floats(&[lo, hi]))]),
        Amount::Fixed(v) => Value::Float(v),
    }
}

fn write_population(t: &mut Table, p: &Population) {
    let mut typ = Table::new();
    for (k, name) in Params::NAMES.iter().enumerate() {
        typ.insert((*name).into(), Value::Float(p.typical().get_index(k)));
    }
    t.insert("typical".into(), Value::Table(typ));
    let mut var = Table::new();
    for (name, cv) in p.variability() {
        var.insert(name.into(), Value::Float(cv));
    }
    t.insert("variability".into(), Value::Table(var));
    if let Some(l) = p.correlation_cholesky() {
        let n = p.varied_names().len();
        let rows: Vec<Value> = (0..n).map(|i| floats(&l[i * n..(i + 1) * n])).collect();
        let names = p.varied_names().iter().map(|s| Value::String((*s).into())).collect();
        t.insert(
            "correlation".into(),
            table_of(vec![("parameters", Value::Array(names)), ("cholesky", Value::Array(rows))]),
        );
    }
    let mut cov = Table::new();
    cov.insert("marrow_blast_fraction".into(), fraction_value(p.f0()));
    cov.insert("f_mem".into(), fraction_value(p.f_mem()));
    cov.insert("B_0".into(), Value::Float(p.b0()));
    match p.escape() {
        Some(e) => {
            cov.insert(
                "escape_subclone".into(),
                table_of(vec![
                    ("phenotype", Value::String(e.phenotype.name().into())),
                    ("probability", Value::Float(e.probability)),
                    ("fraction", amount_value(e.fraction)),
                ]),
            );
        }
        None => {
            cov.insert("escape_subclone".into(), Value::Boolean(false));
        }
    }
    let mut dose = Table::new();
    match p.dose() {
        Dose::Flat(c) => {
            dose.insert("cells".into(), Value::Float(c));
        }
        Dose::LogUniform { lo, hi } => {
            dose.insert("cells".into(), amount_value(Amount::LogUniform { lo, hi }));
        }
        Dose::PerKg { cells_per_kg, weight, flat_above_kg } => {
            cov.insert(
                "weight_kg".into(),
                table_of(vec![
                    (
                        "lognormal",
                        table_of(vec![("median", Value::Float(weight.median_kg)), ("cv", Value::Float(weight.cv))]),
                    ),
                    ("range", floats(&[weight.min_kg, weight.max_kg])),
                ]),
            );
            dose.insert("cells_per_kg".into(), amount_value(cells_per_kg));
            if let Some((kg, flat)) = flat_above_kg {
                dose.insert("flat_above_kg".into(), Value::Float(kg));
                dose.insert("flat_cells".into(), amount_value(flat));
            }
        }
    }
    t.insert("covariates".into(), Value::Table(cov));
    let targets = p.product().targets().names().into_iter().map(|s| Value::String(s.into())).collect();
    t.insert("product".into(), table_of(vec![("targets", Value::Array(targets))]));
    t.insert("dose".into(), Value::Table(dose));
    let r = p.regimen();
    let mut reg = Table::new();
    reg.insert("infusions".into(), Value::Array(r.schedule.iter().map(|&(d, f)| floats(&[d, f])).collect()));
    reg.insert("lymphodepletion".into(), Value::Boolean(r.lymphodepletion));
    match &r.tocilizumab {
        TociPolicy::Prophylactic { times } => {
            reg.insert("tocilizumab".into(), Value::String("prophylactic".into()));
            reg.insert("prophylactic_days".into(), floats(times));
        }
        TociPolicy::None => {
            reg.insert("tocilizumab".into(), Value::String("none".into()));
        }
        _ => {
            reg.insert("tocilizumab".into(), Value::String("reactive".into()));
        }
    }
    let ster = if r.steroids == SteroidPolicy::None { "none" } else { "reactive" };
    reg.insert("steroids".into(), Value::String(ster.into()));
    let rules = &r.rules;
    reg.insert("toci_threshold".into(), Value::Float(rules.toci_threshold));
    reg.insert("toci_window_days".into(), Value::Float(rules.toci_window_days));
    reg.insert("toci_max_reactive_doses".into(), Value::Integer(i64::from(rules.toci_max_reactive_doses)));
    reg.insert("steroid_threshold".into(), Value::Float(rules.steroid_threshold));
    reg.insert("steroid_course_days".into(), Value::Float(rules.steroid_course_days));
    t.insert("regimen".into(), Value::Table(reg));
    let d = p.definitions();
    let mut e = Table::new();
    e.insert("assessment_day".into(), Value::Float(d.assessment_day));
    e.insert("cr_fraction".into(), Value::Float(d.cr_fraction));
    e.insert("mrd_threshold".into(), Value::Float(d.mrd_threshold));
    e.insert("mrd_ngs_threshold".into(), Value::Float(d.mrd_ngs_threshold));
    e.insert("crs_thresholds".into(), floats(&d.crs_thresholds));
    e.insert("b_recovery".into(), Value::Float(d.b_recovery));
    e.insert("copies_per_cell".into(), Value::Float(d.copies_per_cell));
    t.insert("endpoints".into(), Value::Table(e));
}

/// The population of a study: the base, with the study's sections merged in.
fn population(top: &mut Node<'_>, base: Option<&str>, horizon_days: f64) -> Result<Population, StudyError> {
    let base_pop = match base.unwrap_or("s1") {
        "eliana" => Population::eliana_like(),
        "reference_200" => Population::reference_200(),
        "s1" => Population::builder(Params::nominal()).build().map_err(|e| top.err("population", e.to_string()))?,
        other => {
            let names: Vec<&str> = POPULATIONS.iter().map(|(n, _)| *n).collect();
            return Err(top.err(
                "population",
                format!("unknown population \"{other}\" of model reference (built-in: {})", names.join(", ")),
            ));
        }
    };
    let mut typical = base_pop.typical().clone();
    let mut varied: Vec<(String, f64)> = base_pop.variability().map(|(n, c)| (n.to_string(), c)).collect();
    let base_varied = varied.clone();
    let mut cholesky: Option<Vec<Vec<f64>>> = base_pop.correlation_cholesky().map(|l| {
        let n = base_varied.len();
        (0..n).map(|i| l[i * n..(i + 1) * n].to_vec()).collect()
    });
    let mut f0 = base_pop.f0();
    let mut f_mem = base_pop.f_mem();
    let mut escape = base_pop.escape();
    let mut dose = base_pop.dose();
    let mut product = base_pop.product();
    let mut regimen = base_pop.regimen().clone();
    let mut b0 = base_pop.b0();

    if let Some(mut t) = top.table("typical")? {
        let keys: Vec<String> = t.t.keys().cloned().collect();
        for k in keys {
            let v = t.param(&k)?;
            if Params::index_of(&k).is_none() {
                return Err(t.err(&k, format!("unknown parameter \"{k}\" of model reference (MODEL.md names)")));
            }
            typical.set(&k, v).map_err(|e| t.err(&k, e.to_string()))?;
        }
        t.finish("[typical]")?;
    }
    if let Some(mut t) = top.table("variability")? {
        let keys: Vec<String> = t.t.keys().cloned().collect();
        for k in keys {
            let cv = t.f64(&k)?.unwrap_or(f64::NAN);
            if Params::index_of(&k).is_none() {
                return Err(t.err(&k, format!("unknown parameter \"{k}\" of model reference (MODEL.md names)")));
            }
            if cv < 0.0 {
                return Err(t.err(&k, format!("CV {cv}: must be >= 0")));
            }
            match varied.iter().position(|(n, _)| *n == k) {
                Some(i) if cv == 0.0 => {
                    varied.remove(i);
                }
                Some(i) => varied[i].1 = cv,
                None if cv > 0.0 => varied.push((k.clone(), cv)),
                None => {}
            }
        }
        t.finish("[variability]")?;
    }
    let names_changed = varied.iter().map(|(n, _)| n).ne(base_varied.iter().map(|(n, _)| n));
    let mut matrix: Option<Vec<Vec<f64>>> = None;
    if let Some(mut c) = top.table("correlation")? {
        let names: Vec<String> = match c.get("parameters") {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect(),
            _ => return Err(c.err("parameters", "expected the varied parameters' names in draw order")),
        };
        let want: Vec<&String> = varied.iter().map(|(n, _)| n).collect();
        if names.iter().ne(want.iter().copied()) {
            return Err(c.err("parameters", format!("must list the varied parameters in draw order: {want:?}")));
        }
        let rows = |c: &mut Node<'_>, k: &str| -> Result<Option<Vec<Vec<f64>>>, StudyError> {
            match c.get(k) {
                None => Ok(None),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|r| match r {
                        Value::Array(x) => x.iter().map(|v| c.number_value(k, v)).collect(),
                        _ => Err(c.err(k, "expected rows of numbers")),
                    })
                    .collect::<Result<Vec<Vec<f64>>, _>>()
                    .map(Some),
                Some(_) => Err(c.err(k, "expected rows of numbers")),
            }
        };
        cholesky = rows(&mut c, "cholesky")?;
        matrix = rows(&mut c, "matrix")?;
        if cholesky.is_some() == matrix.is_some() {
            return Err(c.err("matrix", "give exactly one of matrix (a correlation matrix) or cholesky (its factor)"));
        }
        c.finish("[correlation]")?;
    } else if names_changed && cholesky.is_some() {
        return Err(top.err("variability", "the base population's correlation no longer fits: give [correlation]"));
    }

    let mut weight_override: Option<BodyWeight> = None;
    if let Some(mut c) = top.table("covariates")? {
        if let Some(d) = dist(&mut c, "marrow_blast_fraction")? {
            f0 = fraction(&c, "marrow_blast_fraction", d)?;
        }
        if let Some(d) = dist(&mut c, "f_mem")? {
            f_mem = fraction(&c, "f_mem", d)?;
        }
        if let Some(v) = c.f64("B_0")? {
            if v < 0.0 {
                return Err(c.err("B_0", format!("{v}: must be >= 0")));
            }
            b0 = v;
        }
        if let Some(d) = dist(&mut c, "weight_kg")? {
            weight_override = Some(weight(&c, "weight_kg", d)?);
        }
        match c.get("escape_subclone") {
            None => {}
            Some(Value::Boolean(false)) => escape = None,
            Some(Value::Table(t)) => {
                let mut e = Node::new(c.file, c.key("escape_subclone"), t);
                let ph = e.str("phenotype")?.ok_or_else(|| e.err("phenotype", "missing"))?;
                let phenotype = Phenotype::parse("phenotype", ph).map_err(|_| {
                    e.err("phenotype", format!("unknown phenotype \"{ph}\" (CD19-CD22+, CD19+CD22-, CD19-CD22-)"))
                })?;
                if phenotype == Phenotype::DOUBLE_POS {
                    return Err(e.err("phenotype", "the escape phenotype must differ from CD19+CD22+"));
                }
                let probability = e.f64("probability")?.unwrap_or(1.0);
                if !(0.0..=1.0).contains(&probability) {
                    return Err(e.err("probability", format!("{probability}: must lie in [0, 1]")));
                }
                let fd = dist(&mut e, "fraction")?.ok_or_else(|| e.err("fraction", "missing"))?;
                let fraction = amount(&e, "fraction", fd)?;
                let hi = match fraction {
                    Amount::Fixed(v) => v,
                    Amount::LogUniform { hi, .. } => hi,
                };
                if !(hi <= 1.0) {
                    return Err(e.err("fraction", "a fraction of the blasts must be <= 1"));
                }
                e.finish("escape_subclone")?;
                escape = Some(EscapeSubclone { phenotype, probability, fraction });
            }
            Some(v) => {
                return Err(c.err("escape_subclone", format!("expected a table or false, found {}", type_name(v))))
            }
        }
        c.finish("[covariates]")?;
    }

    if let Some(p) = product_section(top, false)? {
        product = p.0;
    }

    dose = dose_section(top, dose, weight_override)?;

    if let Some((t, _)) = regimen_section(top, horizon_days, false)? {
        regimen = t;
    }

    let mut defs = *base_pop.definitions();
    if let Some(mut e) = top.table("endpoints")? {
        for (k, slot) in [
            ("assessment_day", &mut defs.assessment_day),
            ("cr_fraction", &mut defs.cr_fraction),
            ("mrd_threshold", &mut defs.mrd_threshold),
            ("mrd_ngs_threshold", &mut defs.mrd_ngs_threshold),
            ("b_recovery", &mut defs.b_recovery),
            ("copies_per_cell", &mut defs.copies_per_cell),
        ] {
            if let Some(v) = e.f64(k)? {
                *slot = v;
            }
        }
        if let Some(th) = e.numbers("crs_thresholds")? {
            defs.crs_thresholds = th
                .as_slice()
                .try_into()
                .map_err(|_| e.err("crs_thresholds", format!("expected 4 thresholds, found {}", th.len())))?;
        }
        e.finish("[endpoints]")?;
        defs.validate().map_err(|err| top.err("endpoints", err.to_string()))?;
        if defs.assessment_day > horizon_days {
            return Err(top.err("endpoints.assessment_day", "lies beyond the horizon"));
        }
    }

    let mut b = Population::builder(typical);
    for (n, cv) in &varied {
        b = b.variability(n, *cv);
    }
    if let Some(l) = cholesky {
        b = b.correlation_cholesky(l);
    }
    if let Some(m) = matrix {
        b = b.correlation(m);
    }
    b.f0(f0)
        .escape(escape)
        .dose(dose)
        .f_mem(f_mem)
        .product(product)
        .regimen(regimen)
        .b0(b0)
        .definitions(defs)
        .build()
        .map_err(|e| top.err("population", e.to_string()))
}

/// `[product]`: the targets (and, for model v2, the costimulation class).
fn product_section(top: &mut Node<'_>, v2: bool) -> Result<Option<(Product, crate::model::v2::Costim)>, StudyError> {
    let Some(mut p) = top.table("product")? else { return Ok(None) };
    let names: Vec<String> = match p.get("targets") {
        Some(Value::Array(a)) => a.iter().map(|v| v.as_str().unwrap_or("?").to_string()).collect(),
        Some(v) => return Err(p.err("targets", format!("expected an array of antigen names, found {}", type_name(v)))),
        None => return Err(p.err("targets", "missing (e.g. [\"CD19\"])")),
    };
    let product = Product::from_names(&names).map_err(|e| p.err("targets", e.to_string()))?;
    let mut costim = crate::model::v2::Costim::default();
    if v2 {
        if let Some(c) = p.str("costimulation")? {
            costim = crate::model::v2::Costim::from_name(c)
                .ok_or_else(|| p.err("costimulation", format!("unknown class \"{c}\" (4-1BB, CD28)")))?;
        }
    }
    p.finish("[product]")?;
    Ok(Some((product, costim)))
}

/// `[dose]`, or the base's dose with a new weight distribution.
fn dose_section(top: &mut Node<'_>, dose: Dose, weight_override: Option<BodyWeight>) -> Result<Dose, StudyError> {
    let mut dose = dose;
    if let Some(mut d) = top.table("dose")? {
        let cells = dist(&mut d, "cells")?;
        let per_kg = dist(&mut d, "cells_per_kg")?;
        let flat_kg = d.f64("flat_above_kg")?;
        let flat = dist(&mut d, "flat_cells")?;
        dose = match (cells, per_kg) {
            (Some(_), Some(_)) => return Err(d.err("cells", "give either cells or cells_per_kg, not both")),
            (None, None) => return Err(d.err("cells", "missing: give cells or cells_per_kg")),
            (Some(c), None) => {
                if flat_kg.is_some() || flat.is_some() {
                    return Err(d.err("flat_above_kg", "goes with cells_per_kg"));
                }
                match amount(&d, "cells", c)? {
                    Amount::LogUniform { lo, hi } => Dose::LogUniform { lo, hi },
                    Amount::Fixed(v) => Dose::Flat(v),
                }
            }
            (None, Some(pk)) => {
                let cells_per_kg = amount(&d, "cells_per_kg", pk)?;
                let w = match (weight_override, dose) {
                    (Some(w), _) => w,
                    (None, Dose::PerKg { weight, .. }) => weight,
                    (None, _) => return Err(d.err("cells_per_kg", "needs covariates.weight_kg")),
                };
                let flat_above_kg = match (flat_kg, flat) {
                    (Some(kg), Some(f)) if kg > 0.0 => Some((kg, amount(&d, "flat_cells", f)?)),
                    (Some(kg), Some(_)) => return Err(d.err("flat_above_kg", format!("{kg}: must be > 0"))),
                    (None, None) => None,
                    (Some(_), None) => return Err(d.err("flat_cells", "missing (flat_above_kg needs it)")),
                    (None, Some(_)) => return Err(d.err("flat_above_kg", "missing (flat_cells needs it)")),
                };
                Dose::PerKg { cells_per_kg, weight: w, flat_above_kg }
            }
        };
        d.finish("[dose]")?;
    } else if let Some(w) = weight_override {
        dose = match dose {
            Dose::PerKg { cells_per_kg, flat_above_kg, .. } => Dose::PerKg { cells_per_kg, weight: w, flat_above_kg },
            _ => return Err(top.err("covariates.weight_kg", "a weight needs a dose per kg ([dose] cells_per_kg)")),
        };
    }
    if let (Some(_), Dose::Flat(_) | Dose::LogUniform { .. }) = (weight_override, dose) {
        return Err(top.err("covariates.weight_kg", "a weight needs a dose per kg ([dose] cells_per_kg)"));
    }

    Ok(dose)
}

/// `[regimen]`: the schedule and the policies (model v1: lymphodepletion on or off and the
/// IL-6 policy numbers; model v2: the lymphodepletion intensity, its triggers are parameters).
fn regimen_section(
    top: &mut Node<'_>,
    horizon_days: f64,
    v2: bool,
) -> Result<Option<(RegimenTemplate, crate::model::v2::Lymphodepletion)>, StudyError> {
    use crate::model::v2::Lymphodepletion;
    let mut ld = Lymphodepletion::Standard;
    if let Some(mut r) = top.table("regimen")? {
        let mut t = RegimenTemplate::default();
        if let Some(v) = r.get("infusions") {
            let bad = || r.err("infusions", "expected [[day, fraction of the dose], ...]");
            let Value::Array(a) = v else { return Err(bad()) };
            let mut schedule = Vec::new();
            for x in a {
                match x.as_array().map(|p| p.as_slice()) {
                    Some([d, f]) => schedule.push((r.number_value("infusions", d)?, r.number_value("infusions", f)?)),
                    _ => return Err(bad()),
                }
            }
            if schedule.is_empty() {
                return Err(r.err("infusions", "at least one infusion is needed"));
            }
            if let Some((d, f)) = schedule.iter().find(|(d, f)| *d < 0.0 || *f <= 0.0) {
                return Err(r.err("infusions", format!("[{d}, {f}]: days must be >= 0 and fractions > 0")));
            }
            if schedule.windows(2).any(|w| w[1].0 < w[0].0) {
                return Err(r.err("infusions", "days must be non-decreasing"));
            }
            let sum: f64 = schedule.iter().map(|(_, f)| f).sum();
            if (sum - 1.0).abs() > 1e-9 {
                return Err(r.err("infusions", format!("the fractions of the dose sum to {sum}, not 1")));
            }
            if let Some((d, _)) = schedule.iter().find(|(d, _)| *d > horizon_days) {
                return Err(r.err("infusions", format!("an infusion at day {d} lies beyond the horizon")));
            }
            t.schedule = schedule;
        }
        if v2 {
            if let Some(l) = r.str("lymphodepletion")? {
                ld = Lymphodepletion::from_name(l).ok_or_else(|| {
                    r.err("lymphodepletion", format!("unknown intensity \"{l}\" (none, standard, intensified)"))
                })?;
            }
            t.lymphodepletion = ld != Lymphodepletion::None;
        } else if let Some(b) = r.bool("lymphodepletion")? {
            t.lymphodepletion = b;
        }
        let proph = r.numbers("prophylactic_days")?;
        match r.str("tocilizumab")? {
            None | Some("reactive") => t.tocilizumab = TociPolicy::Reactive,
            Some("none") => t.tocilizumab = TociPolicy::None,
            Some("prophylactic") => {
                let times = proph.clone().ok_or_else(|| r.err("prophylactic_days", "missing (days of the doses)"))?;
                t.tocilizumab = TociPolicy::Prophylactic { times };
            }
            Some(p) => {
                return Err(r.err("tocilizumab", format!("unknown policy \"{p}\" (none, reactive, prophylactic)")))
            }
        }
        if proph.is_some() && !matches!(t.tocilizumab, TociPolicy::Prophylactic { .. }) {
            return Err(r.err("prophylactic_days", "goes with tocilizumab = \"prophylactic\""));
        }
        match r.str("steroids")? {
            None | Some("reactive") => t.steroids = SteroidPolicy::Reactive,
            Some("none") => t.steroids = SteroidPolicy::None,
            Some(p) => return Err(r.err("steroids", format!("unknown policy \"{p}\" (none, reactive)"))),
        }
        let mut rules = PolicyRules::default();
        // model v2's triggers are its parameters (theta_T, theta_S, tau_T, tau_S, n_toci)
        if !v2 {
            for (k, slot) in [
                ("toci_threshold", &mut rules.toci_threshold),
                ("toci_window_days", &mut rules.toci_window_days),
                ("steroid_threshold", &mut rules.steroid_threshold),
                ("steroid_course_days", &mut rules.steroid_course_days),
            ] {
                if let Some(v) = r.f64(k)? {
                    if !(v > 0.0) {
                        return Err(r.err(k, format!("{v}: must be > 0")));
                    }
                    *slot = v;
                }
            }
            if let Some(n) = r.u64("toci_max_reactive_doses")? {
                rules.toci_max_reactive_doses =
                    u32::try_from(n).map_err(|_| r.err("toci_max_reactive_doses", "too large"))?;
            }
        }
        t.rules = rules;
        r.finish("[regimen]")?;
        return Ok(Some((t, ld)));
    }
    Ok(None)
}

/// The written-out model-v2 population (`study show`).
fn write_population_v2(t: &mut Table, p: &crate::population::v2::PopulationV2) {
    use crate::model::v2::ParamsV2;
    if let Some(j) = p.journey() {
        t.insert("journey".into(), journey_table(j));
    }
    let b = p.to_builder();
    let mut typ = Table::new();
    for (k, name) in ParamsV2::NAMES.iter().enumerate() {
        typ.insert((*name).into(), Value::Float(b.typical.get_index(k)));
    }
    t.insert("typical".into(), Value::Table(typ));
    let mut var = Table::new();
    for (name, cv) in &b.variability {
        var.insert(name.clone(), Value::Float(*cv));
    }
    t.insert("variability".into(), Value::Table(var));
    let mut cov = Table::new();
    cov.insert("marrow_blast_fraction".into(), fraction_value(b.f0));
    cov.insert("B_0".into(), Value::Float(b.b0));
    for (k, e) in [("escape_cd19neg", b.escape19), ("escape_cd22neg", b.escape22)] {
        let v = match e {
            Some(e) => {
                table_of(vec![("probability", Value::Float(e.probability)), ("fraction", amount_value(e.fraction))])
            }
            None => Value::Boolean(false),
        };
        cov.insert(k.into(), v);
    }
    let v = match b.dim {
        Some(d) => table_of(vec![
            ("probability", Value::Float(d.probability)),
            ("fraction", amount_value(d.fraction)),
            ("density", amount_value(d.density)),
        ]),
        None => Value::Boolean(false),
    };
    cov.insert("dim_subclone".into(), v);
    let v = match b.unfit {
        Some(f) => table_of(vec![("probability", Value::Float(f.probability)), ("factor", amount_value(f.factor))]),
        None => Value::Boolean(false),
    };
    cov.insert("unfit_product".into(), v);
    let v = match b.loss {
        Some(l) => table_of(vec![
            ("probability", Value::Float(l.probability)),
            ("median_day", Value::Float(l.median_day)),
            ("cv", Value::Float(l.cv)),
            ("range", floats(&[l.min_day, l.max_day])),
        ]),
        None => Value::Boolean(false),
    };
    cov.insert("persistence_loss".into(), v);
    let mut dose = Table::new();
    match b.dose {
        Dose::Flat(c) => {
            dose.insert("cells".into(), Value::Float(c));
        }
        Dose::LogUniform { lo, hi } => {
            dose.insert("cells".into(), amount_value(Amount::LogUniform { lo, hi }));
        }
        Dose::PerKg { cells_per_kg, weight, flat_above_kg } => {
            cov.insert(
                "weight_kg".into(),
                table_of(vec![
                    (
                        "lognormal",
                        table_of(vec![("median", Value::Float(weight.median_kg)), ("cv", Value::Float(weight.cv))]),
                    ),
                    ("range", floats(&[weight.min_kg, weight.max_kg])),
                ]),
            );
            dose.insert("cells_per_kg".into(), amount_value(cells_per_kg));
            if let Some((kg, flat)) = flat_above_kg {
                dose.insert("flat_above_kg".into(), Value::Float(kg));
                dose.insert("flat_cells".into(), amount_value(flat));
            }
        }
    }
    t.insert("covariates".into(), Value::Table(cov));
    let targets = b.product.targets().names().into_iter().map(|s| Value::String(s.into())).collect();
    t.insert(
        "product".into(),
        table_of(vec![("targets", Value::Array(targets)), ("costimulation", Value::String(b.costim.name().into()))]),
    );
    t.insert("dose".into(), Value::Table(dose));
    let r = &b.regimen;
    let mut reg = Table::new();
    reg.insert("infusions".into(), Value::Array(r.schedule.iter().map(|&(d, f)| floats(&[d, f])).collect()));
    reg.insert("lymphodepletion".into(), Value::String(b.lymphodepletion.name().into()));
    match &r.tocilizumab {
        TociPolicy::Prophylactic { times } => {
            reg.insert("tocilizumab".into(), Value::String("prophylactic".into()));
            reg.insert("prophylactic_days".into(), floats(times));
        }
        TociPolicy::None => {
            reg.insert("tocilizumab".into(), Value::String("none".into()));
        }
        _ => {
            reg.insert("tocilizumab".into(), Value::String("reactive".into()));
        }
    }
    let ster = if r.steroids == SteroidPolicy::None { "none" } else { "reactive" };
    reg.insert("steroids".into(), Value::String(ster.into()));
    t.insert("regimen".into(), Value::Table(reg));
    let d = b.definitions;
    let mut e = Table::new();
    e.insert("assessment_day".into(), Value::Float(d.assessment_day));
    e.insert("cr_fraction".into(), Value::Float(d.cr_fraction));
    e.insert("mrd_threshold".into(), Value::Float(d.mrd_threshold));
    e.insert("mrd_ngs_threshold".into(), Value::Float(d.mrd_ngs_threshold));
    e.insert("crs_scale".into(), Value::String(b.scale.name().into()));
    e.insert("b_recovery".into(), Value::Float(d.b_recovery));
    e.insert("copies_per_cell".into(), Value::Float(d.copies_per_cell));
    t.insert("endpoints".into(), Value::Table(e));
}

/// An optional sub-table of `[covariates]`: absent, `false` (none), or a table.
fn optional_table<'a>(c: &mut Node<'a>, k: &str) -> Result<Option<Option<Node<'a>>>, StudyError> {
    match c.get(k) {
        None => Ok(None),
        Some(Value::Boolean(false)) => Ok(Some(None)),
        Some(Value::Table(t)) => Ok(Some(Some(Node::new(c.file, c.key(k), t)))),
        Some(v) => Err(c.err(k, format!("expected a table or false, found {}", type_name(v)))),
    }
}

/// A probability key (default 1).
fn probability(n: &mut Node<'_>) -> Result<f64, StudyError> {
    let p = n.f64("probability")?.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&p) {
        return Err(n.err("probability", format!("{p}: must lie in [0, 1]")));
    }
    Ok(p)
}

/// An amount in (0, 1] at `k` (a fraction of the blasts, a density, a factor).
fn unit_amount(n: &mut Node<'_>, k: &str) -> Result<Amount, StudyError> {
    let d = dist(n, k)?.ok_or_else(|| n.err(k, "missing"))?;
    let a = amount(n, k, d)?;
    let hi = match a {
        Amount::Fixed(v) => v,
        Amount::LogUniform { hi, .. } => hi,
    };
    if !(hi <= 1.0) {
        return Err(n.err(k, "must be <= 1"));
    }
    Ok(a)
}

/// The model-v2 population of a study: the base, with the study's sections merged in.
fn population_v2(
    top: &mut Node<'_>,
    base: Option<&str>,
    horizon_days: f64,
) -> Result<crate::population::v2::PopulationV2, StudyError> {
    use crate::model::v2::{CrsScale, ParamsV2};
    use crate::population::v2::{DimSubclone, PersistenceLoss, PopulationV2, UnfitProduct};
    let mut b = match base.unwrap_or("typical") {
        "eliana" => PopulationV2::eliana_builder(),
        "typical" => PopulationV2::builder(ParamsV2::nominal()),
        other => {
            let names: Vec<&str> = POPULATIONS_V2.iter().map(|(n, _)| *n).collect();
            return Err(top.err(
                "population",
                format!("unknown population \"{other}\" of model v2 (built-in: {})", names.join(", ")),
            ));
        }
    };
    if let Some(mut t) = top.table("typical")? {
        let keys: Vec<String> = t.t.keys().cloned().collect();
        for k in keys {
            let v = t.param(&k)?;
            if ParamsV2::index_of(&k).is_none() {
                return Err(t.err(&k, format!("unknown parameter \"{k}\" of model v2 (docs/MODEL-v2.md names)")));
            }
            b.typical.set(&k, v).map_err(|e| t.err(&k, e.to_string()))?;
        }
        t.finish("[typical]")?;
    }
    if let Some(mut t) = top.table("variability")? {
        let keys: Vec<String> = t.t.keys().cloned().collect();
        for k in keys {
            let cv = t.f64(&k)?.unwrap_or(f64::NAN);
            if ParamsV2::index_of(&k).is_none() {
                return Err(t.err(&k, format!("unknown parameter \"{k}\" of model v2 (docs/MODEL-v2.md names)")));
            }
            if cv < 0.0 {
                return Err(t.err(&k, format!("CV {cv}: must be >= 0")));
            }
            match b.variability.iter().position(|(n, _)| *n == k) {
                Some(i) if cv == 0.0 => {
                    b.variability.remove(i);
                }
                Some(i) => b.variability[i].1 = cv,
                None if cv > 0.0 => b.variability.push((k.clone(), cv)),
                None => {}
            }
        }
        t.finish("[variability]")?;
    }
    let mut weight_override: Option<BodyWeight> = None;
    if let Some(mut c) = top.table("covariates")? {
        if let Some(d) = dist(&mut c, "marrow_blast_fraction")? {
            b.f0 = fraction(&c, "marrow_blast_fraction", d)?;
        }
        if let Some(v) = c.f64("B_0")? {
            if !(v > 0.0) {
                return Err(c.err("B_0", format!("{v}: must be > 0")));
            }
            b.b0 = v;
        }
        if let Some(d) = dist(&mut c, "weight_kg")? {
            weight_override = Some(weight(&c, "weight_kg", d)?);
        }
        for (k, ph) in [("escape_cd19neg", Phenotype::CD19_NEG), ("escape_cd22neg", Phenotype::CD22_NEG)] {
            if let Some(e) = optional_table(&mut c, k)? {
                let v = match e {
                    None => None,
                    Some(mut e) => {
                        let probability = probability(&mut e)?;
                        let fraction = unit_amount(&mut e, "fraction")?;
                        e.finish(k)?;
                        Some(EscapeSubclone { phenotype: ph, probability, fraction })
                    }
                };
                if k == "escape_cd19neg" {
                    b.escape19 = v;
                } else {
                    b.escape22 = v;
                }
            }
        }
        if let Some(d) = optional_table(&mut c, "dim_subclone")? {
            b.dim = match d {
                None => None,
                Some(mut d) => {
                    let probability = probability(&mut d)?;
                    let fraction = unit_amount(&mut d, "fraction")?;
                    let density = unit_amount(&mut d, "density")?;
                    d.finish("dim_subclone")?;
                    Some(DimSubclone { probability, fraction, density })
                }
            };
        }
        if let Some(d) = optional_table(&mut c, "unfit_product")? {
            b.unfit = match d {
                None => None,
                Some(mut d) => {
                    let probability = probability(&mut d)?;
                    let factor = unit_amount(&mut d, "factor")?;
                    d.finish("unfit_product")?;
                    Some(UnfitProduct { probability, factor })
                }
            };
        }
        if let Some(d) = optional_table(&mut c, "persistence_loss")? {
            b.loss = match d {
                None => None,
                Some(mut d) => {
                    let probability = probability(&mut d)?;
                    let median_day = d.f64("median_day")?.ok_or_else(|| d.err("median_day", "missing"))?;
                    let cv = d.f64("cv")?.unwrap_or(0.0);
                    let (min_day, max_day) = match d.numbers("range")? {
                        Some(r) => range_pair(&d, "range", &r)?,
                        None => (1.0, crate::solve::MAX_HORIZON_DAYS),
                    };
                    d.finish("persistence_loss")?;
                    Some(PersistenceLoss { probability, median_day, cv, min_day, max_day })
                }
            };
        }
        c.finish("[covariates]")?;
    }
    if let Some((product, costim)) = product_section(top, true)? {
        b.product = product;
        b.costim = costim;
    }
    b.dose = dose_section(top, b.dose, weight_override)?;
    if let Some((t, ld)) = regimen_section(top, horizon_days, true)? {
        b.regimen = t;
        b.lymphodepletion = ld;
    }
    if let Some(mut e) = top.table("endpoints")? {
        let defs = &mut b.definitions;
        for (k, slot) in [
            ("assessment_day", &mut defs.assessment_day),
            ("cr_fraction", &mut defs.cr_fraction),
            ("mrd_threshold", &mut defs.mrd_threshold),
            ("mrd_ngs_threshold", &mut defs.mrd_ngs_threshold),
            ("b_recovery", &mut defs.b_recovery),
            ("copies_per_cell", &mut defs.copies_per_cell),
        ] {
            if let Some(v) = e.f64(k)? {
                *slot = v;
            }
        }
        if let Some(sc) = e.str("crs_scale")? {
            b.scale = CrsScale::from_name(sc)
                .ok_or_else(|| e.err("crs_scale", format!("unknown scale \"{sc}\" (penn, lee, astct)")))?;
        }
        e.finish("[endpoints] (model v2 grades CRS with crs_scale)")?;
        if b.definitions.assessment_day > horizon_days {
            return Err(top.err("endpoints.assessment_day", "lies beyond the horizon"));
        }
    }
    for k in ["correlation"] {
        if top.t.contains_key(k) {
            return Err(top.err(k, "model v2 populations have independent variability (no [correlation])"));
        }
    }
    b.journey = journey_section(top)?;
    b.build().map_err(|e| top.err("population", e.to_string()))
}

/// The population of a zoo model: `builtin` (the paper's variability; the default) or
/// `typical` (every patient the typical one), with `[typical]` and `[variability]` merged in.
/// `[variability]`: a number is a CV (log-normal, as for the other models), `{ omega2 = w }`
/// the variance of the log, an array of numbers a choice with equal probabilities, 0 none.
fn population_zoo(
    top: &mut Node<'_>,
    kind: crate::model::zoo::Kind,
    base: Option<&str>,
) -> Result<crate::model::zoo::ZooPopulation, StudyError> {
    use crate::model::zoo::{Variability, ZooPopulation};
    let name = kind.info().name;
    let mut pop = match base.unwrap_or("builtin") {
        "builtin" => ZooPopulation::builtin(kind),
        "typical" => ZooPopulation::typical(kind),
        other => {
            return Err(top.err(
                "population",
                format!("unknown population \"{other}\" of model {name} (built-in: builtin, typical)"),
            ))
        }
    };
    for k in ["correlation", "covariates", "product", "dose", "regimen", "endpoints"] {
        if top.t.contains_key(k) {
            return Err(top.err(
                k,
                format!("model {name} has no [{k}] (its patients are its parameters: [typical], [variability])"),
            ));
        }
    }
    if let Some(mut t) = top.table("typical")? {
        let keys: Vec<String> = t.t.keys().cloned().collect();
        for k in keys {
            let v = t.param(&k)?;
            pop.set_typical(&k, v).map_err(|e| t.err(&k, e.to_string()))?;
        }
        t.finish("[typical]")?;
    }
    if let Some(mut t) = top.table("variability")? {
        let keys: Vec<String> = t.t.keys().cloned().collect();
        for k in keys {
            let v = match t.get(&k) {
                Some(Value::Table(w)) => {
                    let mut n = Node::new(t.file, t.key(&k), w);
                    let o = n.f64("omega2")?;
                    n.finish("variability (omega2)")?;
                    match o {
                        Some(0.0) => Variability::None,
                        Some(w) => Variability::LogNormal { omega2: w },
                        None => return Err(t.err(&k, "expected { omega2 = <variance of the log> }")),
                    }
                }
                Some(Value::Array(_)) => Variability::Choice(t.numbers(&k)?.unwrap_or_default()),
                Some(v) => {
                    let cv = t.number_value(&k, v)?;
                    if cv < 0.0 {
                        return Err(t.err(&k, format!("CV {cv}: must be >= 0")));
                    }
                    if cv == 0.0 {
                        Variability::None
                    } else {
                        Variability::LogNormal { omega2: (1.0 + cv * cv).ln() }
                    }
                }
                None => Variability::None,
            };
            pop.set_variability(&k, v).map_err(|e| t.err(&k, e.to_string()))?;
        }
        t.finish("[variability]")?;
    }
    Ok(pop)
}

/// The written-out zoo population (`study show`): every typical value, and the variability
/// of every varied parameter (`{ omega2 = w }` or its choice), so that it reads back the same.
fn write_population_zoo(t: &mut Table, p: &crate::model::zoo::ZooPopulation) {
    use crate::model::zoo::Variability;
    let params = p.kind().params();
    let mut ty = Table::new();
    for (q, v) in params.iter().zip(p.typical_values()) {
        ty.insert(q.name.into(), Value::Float(*v));
    }
    t.insert("population".into(), Value::String("typical".into()));
    t.insert("typical".into(), Value::Table(ty));
    let mut va = Table::new();
    for (q, v) in params.iter().zip(p.variability()) {
        match v {
            Variability::None => {}
            Variability::LogNormal { omega2 } => {
                let mut w = Table::new();
                w.insert("omega2".into(), Value::Float(*omega2));
                va.insert(q.name.into(), Value::Table(w));
            }
            Variability::Choice(c) => {
                va.insert(q.name.into(), floats(c));
            }
        }
    }
    if !va.is_empty() {
        t.insert("variability".into(), Value::Table(va));
    }
}

// ------------------------------------------------------------------------------------------
// [journey]: the patient journey (docs/JOURNEY.md)
// ------------------------------------------------------------------------------------------

fn to_distribution(d: Dist) -> crate::journey::Distribution {
    use crate::journey::Distribution as D;
    match d {
        Dist::Fixed(v) => D::Fixed(v),
        Dist::Uniform(lo, hi) => D::Uniform { lo, hi },
        Dist::LogUniform(lo, hi) => D::LogUniform { lo, hi },
        Dist::Beta { a, b, lo, hi } => D::Beta { a, b, lo, hi },
        Dist::LogNormal { median, cv, lo, hi } => D::LogNormal { median, cv, lo, hi },
    }
}

fn distribution_value(d: crate::journey::Distribution) -> Value {
    use crate::journey::Distribution as D;
    match d {
        D::Fixed(v) => Value::Float(v),
        D::Uniform { lo, hi } => table_of(vec![("uniform", floats(&[lo, hi]))]),
        D::LogUniform { lo, hi } => table_of(vec![("log_uniform", floats(&[lo, hi]))]),
        D::Beta { a, b, lo, hi } => table_of(vec![("beta", floats(&[a, b])), ("range", floats(&[lo, hi]))]),
        D::LogNormal { median, cv, lo, hi } => table_of(vec![
            ("lognormal", table_of(vec![("median", Value::Float(median)), ("cv", Value::Float(cv))])),
            ("range", floats(&[lo, hi])),
        ]),
    }
}

/// `[journey]` and its sections; `None` when absent.
fn journey_section(top: &mut Node<'_>) -> Result<Option<crate::journey::Journey>, StudyError> {
    use crate::journey::{Assay, BridgingPolicy, Costs, Journey};
    let Some(mut jn) = top.table("journey")? else { return Ok(None) };
    let mut j = Journey::default();
    let set = |n: &mut Node<'_>, k: &str, slot: &mut f64| -> Result<(), StudyError> {
        if let Some(v) = n.f64(k)? {
            *slot = v;
        }
        Ok(())
    };
    let set_dist = |n: &mut Node<'_>, k: &str, slot: &mut crate::journey::Distribution| -> Result<(), StudyError> {
        if let Some(d) = dist(n, k)? {
            *slot = to_distribution(d);
        }
        Ok(())
    };
    if let Some(mut n) = jn.table("screening")? {
        let s = &mut j.screening;
        set(&mut n, "relapsed_refractory", &mut s.relapsed_refractory)?;
        set_dist(&mut n, "health_score", &mut s.health_score)?;
        set(&mut n, "organ_function", &mut s.organ_function)?;
        n.finish("[journey.screening]")?;
    }
    if let Some(mut n) = jn.table("eligibility")? {
        let e = &mut j.eligibility;
        if let Some(b) = n.bool("require_relapsed_refractory")? {
            e.require_relapsed_refractory = b;
        }
        if let Some(b) = n.bool("require_organ_function")? {
            e.require_organ_function = b;
        }
        set(&mut n, "min_health_score", &mut e.min_health_score)?;
        set(&mut n, "min_marrow_blast_fraction", &mut e.min_marrow_blast_fraction)?;
        set(&mut n, "min_target_expression", &mut e.min_target_expression)?;
        set(&mut n, "enrol_probability", &mut e.enrol_probability)?;
        n.finish("[journey.eligibility]")?;
    }
    if let Some(mut n) = jn.table("manufacturing")? {
        let m = &mut j.manufacturing;
        set_dist(&mut n, "days", &mut m.days)?;
        set(&mut n, "failure_probability", &mut m.failure_probability)?;
        set(&mut n, "failure_fitness_slope", &mut m.failure_fitness_slope)?;
        set_dist(&mut n, "dose_achieved", &mut m.dose_achieved)?;
        n.finish("[journey.manufacturing]")?;
    }
    if let Some(mut n) = jn.table("bridging")? {
        let b = &mut j.bridging;
        let min = n.f64("min_marrow_blast_fraction")?;
        b.policy = match (n.str("policy")?, min) {
            (None | Some("none"), None) => BridgingPolicy::None,
            (Some("all"), None) => BridgingPolicy::All,
            (Some("burden"), Some(f)) => BridgingPolicy::Burden(f),
            (Some("burden"), None) => {
                return Err(n.err("min_marrow_blast_fraction", "missing (policy \"burden\" needs it)"))
            }
            (Some("none" | "all") | None, Some(_)) => {
                return Err(n.err("min_marrow_blast_fraction", "goes with policy = \"burden\" only"))
            }
            (Some(p), _) => return Err(n.err("policy", format!("unknown policy \"{p}\" (none, all, burden)"))),
        };
        set(&mut n, "probability", &mut b.probability)?;
        set(&mut n, "days_before_infusion", &mut b.days_before_infusion)?;
        set_dist(&mut n, "log10_reduction", &mut b.log10_reduction)?;
        n.finish("[journey.bridging]")?;
    }
    if let Some(mut n) = jn.table("dropout")? {
        let d = &mut j.dropout;
        set(&mut n, "hazard_per_day", &mut d.hazard_per_day)?;
        set(&mut n, "burden_coefficient", &mut d.burden_coefficient)?;
        set(&mut n, "health_coefficient", &mut d.health_coefficient)?;
        n.finish("[journey.dropout]")?;
    }
    if let Some(mut n) = jn.table("monitoring")? {
        let m = &mut j.monitoring;
        for (name, a) in [
            ("mrd_flow", &mut m.mrd_flow),
            ("mrd_ngs", &mut m.mrd_ngs),
            ("car_t_qpcr", &mut m.car_t_qpcr),
            ("b_cells", &mut m.b_cells),
        ] {
            if let Some(mut t) = n.table(name)? {
                let Assay { loq, cv, days } = a;
                set(&mut t, "loq", loq)?;
                set(&mut t, "cv", cv)?;
                if let Some(d) = t.numbers("days")? {
                    *days = d;
                }
                t.finish("assay")?;
            }
        }
        n.finish("[journey.monitoring]")?;
    }
    if let Some(mut n) = jn.table("costs")? {
        let mut c = Costs::default();
        if let Some(cur) = n.str("currency")? {
            c.currency = cur.to_string();
        }
        for (k, slot) in [
            ("screening", &mut c.screening),
            ("leukapheresis", &mut c.leukapheresis),
            ("manufacturing", &mut c.manufacturing),
            ("product", &mut c.product),
            ("bridging", &mut c.bridging),
            ("lymphodepletion", &mut c.lymphodepletion),
            ("visit", &mut c.visit),
            ("tocilizumab_dose", &mut c.tocilizumab_dose),
            ("steroid_course", &mut c.steroid_course),
            ("hospital_day", &mut c.hospital_day),
            ("icu_day", &mut c.icu_day),
            ("infusion_stay_days", &mut c.infusion_stay_days),
        ] {
            set(&mut n, k, slot)?;
        }
        for (k, slot) in [
            ("hospital_days_by_crs_grade", &mut c.hospital_days_by_crs_grade),
            ("icu_days_by_crs_grade", &mut c.icu_days_by_crs_grade),
            ("hospital_days_by_icans_grade", &mut c.hospital_days_by_icans_grade),
            ("icu_days_by_icans_grade", &mut c.icu_days_by_icans_grade),
        ] {
            if let Some(v) = n.numbers(k)? {
                *slot = <[f64; 5]>::try_from(v.as_slice())
                    .map_err(|_| n.err(k, format!("expected 5 numbers (grades 0-4), found {}", v.len())))?;
            }
        }
        n.finish("[journey.costs]")?;
        j.costs = Some(c);
    }
    jn.finish("[journey] (screening, eligibility, manufacturing, bridging, dropout, monitoring, costs)")?;
    j.validate().map_err(|e| {
        let key = match &e {
            InputError::OutOfDomain { field, .. } | InputError::Inconsistent { field, .. } => field.clone(),
            _ => "journey".into(),
        };
        StudyError::Invalid { file: top.file.to_string(), key, message: e.to_string() }
    })?;
    Ok(Some(j))
}

fn journey_table(j: &crate::journey::Journey) -> Value {
    use crate::journey::BridgingPolicy;
    let f = Value::Float;
    let s = &j.screening;
    let e = &j.eligibility;
    let m = &j.manufacturing;
    let b = &j.bridging;
    let d = &j.dropout;
    let mut bridging = vec![
        (
            "policy",
            Value::String(
                match b.policy {
                    BridgingPolicy::None => "none",
                    BridgingPolicy::All => "all",
                    BridgingPolicy::Burden(_) => "burden",
                }
                .into(),
            ),
        ),
        ("probability", f(b.probability)),
        ("days_before_infusion", f(b.days_before_infusion)),
        ("log10_reduction", distribution_value(b.log10_reduction)),
    ];
    if let BridgingPolicy::Burden(x) = b.policy {
        bridging.push(("min_marrow_blast_fraction", f(x)));
    }
    let assay =
        |a: &crate::journey::Assay| table_of(vec![("loq", f(a.loq)), ("cv", f(a.cv)), ("days", floats(&a.days))]);
    let mut parts = vec![
        (
            "screening",
            table_of(vec![
                ("relapsed_refractory", f(s.relapsed_refractory)),
                ("health_score", distribution_value(s.health_score)),
                ("organ_function", f(s.organ_function)),
            ]),
        ),
        (
            "eligibility",
            table_of(vec![
                ("require_relapsed_refractory", Value::Boolean(e.require_relapsed_refractory)),
                ("require_organ_function", Value::Boolean(e.require_organ_function)),
                ("min_health_score", f(e.min_health_score)),
                ("min_marrow_blast_fraction", f(e.min_marrow_blast_fraction)),
                ("min_target_expression", f(e.min_target_expression)),
                ("enrol_probability", f(e.enrol_probability)),
            ]),
        ),
        (
            "manufacturing",
            table_of(vec![
                ("days", distribution_value(m.days)),
                ("failure_probability", f(m.failure_probability)),
                ("failure_fitness_slope", f(m.failure_fitness_slope)),
                ("dose_achieved", distribution_value(m.dose_achieved)),
            ]),
        ),
        ("bridging", table_of(bridging)),
        (
            "dropout",
            table_of(vec![
                ("hazard_per_day", f(d.hazard_per_day)),
                ("burden_coefficient", f(d.burden_coefficient)),
                ("health_coefficient", f(d.health_coefficient)),
            ]),
        ),
        (
            "monitoring",
            table_of(vec![
                ("mrd_flow", assay(&j.monitoring.mrd_flow)),
                ("mrd_ngs", assay(&j.monitoring.mrd_ngs)),
                ("car_t_qpcr", assay(&j.monitoring.car_t_qpcr)),
                ("b_cells", assay(&j.monitoring.b_cells)),
            ]),
        ),
    ];
    if let Some(c) = &j.costs {
        parts.push((
            "costs",
            table_of(vec![
                ("currency", Value::String(c.currency.clone())),
                ("screening", f(c.screening)),
                ("leukapheresis", f(c.leukapheresis)),
                ("manufacturing", f(c.manufacturing)),
                ("product", f(c.product)),
                ("bridging", f(c.bridging)),
                ("lymphodepletion", f(c.lymphodepletion)),
                ("visit", f(c.visit)),
                ("tocilizumab_dose", f(c.tocilizumab_dose)),
                ("steroid_course", f(c.steroid_course)),
                ("hospital_day", f(c.hospital_day)),
                ("icu_day", f(c.icu_day)),
                ("infusion_stay_days", f(c.infusion_stay_days)),
                ("hospital_days_by_crs_grade", floats(&c.hospital_days_by_crs_grade)),
                ("icu_days_by_crs_grade", floats(&c.icu_days_by_crs_grade)),
                ("hospital_days_by_icans_grade", floats(&c.hospital_days_by_icans_grade)),
                ("icu_days_by_icans_grade", floats(&c.icu_days_by_icans_grade)),
            ]),
        ));
    }
    table_of(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(text: &str) -> Result<Study, StudyError> {
        Study::parse(text, "t.toml", Path::new("."))
    }

    #[test]
    fn the_eliana_population_reads_back_as_itself() {
        let s = study("population = \"eliana\"\npatients = 10\nseed = 5\n").unwrap();
        let eliana = Population::eliana_with(&Population::eliana_calibration()).unwrap();
        assert_eq!(s.source, Source::Population(Box::new(eliana)));
        let shown = study(&s.to_toml()).unwrap();
        assert_eq!(shown.source, s.source);
        assert_eq!(shown, Study { population_name: None, ..s });
    }

    #[test]
    fn overrides_keep_their_place_and_new_keys_come_last() {
        let s = study("population = \"eliana\"\npatients = 1\n[variability]\nK_C = 0.3\nk_kill = 0.9\ndelta_M = 0\n")
            .unwrap();
        let Source::Population(p) = &s.source else { panic!() };
        let base: Vec<&str> = Population::eliana_like().varied_names().to_vec();
        let mut want: Vec<&str> = base.iter().copied().filter(|n| *n != "delta_M").collect();
        want.push("K_C");
        assert_eq!(p.varied_names(), want.as_slice());
        assert_eq!(p.variability().find(|(n, _)| *n == "k_kill").map(|(_, c)| c), Some(0.9));
    }

    #[test]
    fn errors_name_the_key_and_syntax_errors_the_line_and_column() {
        let e = study("patients = 1\nseed = = 3\n").unwrap_err();
        assert!(matches!(e, StudyError::Syntax { line: 2, column: 8, .. }), "{e}");
        assert!(e.to_string().starts_with("t.toml:2:8: "), "{e}");
        for (text, key) in [
            ("patients = 1\n[typical]\nnot_a_parameter = 1.0\n", "typical.not_a_parameter"),
            ("patients = 1\nhorizon_days = \"long\"\n", "horizon_days"),
            ("patients = 1\n[variability]\ndelta_E = -1.0\n", "variability.delta_E"),
            ("patients = 1\n[covariates]\nmarrow_blast_fraction = { beta = [0.0, 1.0] }\n", "covariates.marrow_blast_fraction.beta"),
            (
                "patients = 1\n[covariates]\nweight_kg = { lognormal = { median = 75, cv = 0.25 }, range = [150, 40] }\n",
                "covariates.weight_kg.range",
            ),
            ("patients = 1\nmodel = \"no_such_model\"\n", "model"),
            ("patients = 1\n[regimen]\ninfusions = [[0, 0.5], [1, 0.3]]\n", "regimen.infusions"),
            (
                "patients = 1\n[covariates]\nescape_subclone = { phenotype = \"CD99-\", fraction = 1e-3 }\n",
                "covariates.escape_subclone.phenotype",
            ),
            ("patients = 1\npopulaton = \"eliana\"\n", "populaton"),
            ("patients = 1\npopulation = \"adults\"\n", "population"),
            ("patients = 1\n[dose]\ncells = -5\n", "dose.cells"),
        ] {
            let e = study(text).unwrap_err();
            assert_eq!(e.key(), Some(key), "{text}: {e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }
}
