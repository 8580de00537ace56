//! Files in the reference formats: scenario JSON in, `<name>_endpoints.json` and
//! `<name>_trajectory.csv` out.
//!
//! The loader reads `parameters`, `lymphodepletion`, `product`, `initial_state`, `policies`
//! and `horizon`; `name`, `description`, `model_version`, `patient`, `derived` and `output`
//! are informational. Any other field is an error, as is a parameter the model does not
//! have. Parameters missing from the file keep their REF-1 value.

use crate::endpoints::{Definitions, Event};
use crate::error::{Domain, InputError, ScenarioError};
use crate::model::{Params, Phenotype};
use crate::patient::Patient;
use crate::regimen::{Infusion, PolicyRules, Product, Regimen, SteroidPolicy, TociPolicy};
use crate::scenario::Scenario;
use crate::solve::Solution;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    model_version: Option<serde_json::Value>,
    #[serde(default)]
    parameters: BTreeMap<String, Option<f64>>,
    #[serde(default = "yes")]
    lymphodepletion: bool,
    product: ProductFile,
    #[serde(default)]
    #[allow(dead_code)]
    patient: Option<serde_json::Value>,
    initial_state: InitialFile,
    #[serde(default)]
    policies: PoliciesFile,
    horizon: f64,
    #[serde(default)]
    #[allow(dead_code)]
    derived: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    output: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductFile {
    targets: Vec<String>,
    schedule: Vec<InfusionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InfusionFile {
    t: f64,
    cells: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct InitialFile {
    #[serde(default)]
    E: f64,
    #[serde(default)]
    M: f64,
    #[serde(default)]
    X: f64,
    B: f64,
    #[serde(default = "five")]
    G: f64,
    #[serde(default = "five")]
    I: f64,
    L: BTreeMap<String, f64>,
}

fn five() -> f64 {
    5.0
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PoliciesFile {
    #[serde(default)]
    tocilizumab: TociFile,
    #[serde(default)]
    steroids: SteroidFile,
}

#[derive(Deserialize, Default)]
#[serde(tag = "policy", rename_all = "lowercase", deny_unknown_fields)]
enum TociFile {
    #[default]
    Reactive,
    Prophylactic {
        times: Vec<f64>,
    },
    None,
}

#[derive(Deserialize, Default)]
#[serde(tag = "policy", rename_all = "lowercase", deny_unknown_fields)]
enum SteroidFile {
    #[default]
    Reactive,
    None,
}

impl Scenario {
    /// Parse and validate a scenario in the reference JSON format.
    ///
    /// # Errors
    /// [`ScenarioError::Json`] for malformed JSON, a missing or mistyped field or an unknown
    /// field (the message names it); [`ScenarioError::Input`] for invalid values (the
    /// message names the field and the value).
    pub fn from_json_str(s: &str) -> Result<Self, ScenarioError> {
        let f: ScenarioFile = serde_json::from_str(s)?;
        let mut params = Params::nominal();
        let mut defs = Definitions::default();
        let mut rules = PolicyRules::default();
        let mut b0_param = None;
        for (name, v) in &f.parameters {
            match (name.as_str(), v) {
                ("K_C", None) => params.k_c = f64::INFINITY,
                ("B_0", Some(v)) => b0_param = Some(*v),
                (_, Some(v)) if legacy_parameter(name, *v, &mut defs, &mut rules)? => {}
                (_, Some(v)) => params.set(name, *v)?,
                (_, None) => {
                    return Err(InputError::Inconsistent {
                        field: format!("parameters.{name}"),
                        reason: "null is allowed only for K_C (no capacity)".into(),
                    }
                    .into())
                }
            }
        }
        params.validate()?;
        check_crs_order(&defs.crs_thresholds)?;
        let mut l = [0.0; 4];
        for (name, &v) in &f.initial_state.L {
            let ph = Phenotype::parse("initial_state.L", name)?;
            l[ph.index()] = v;
        }
        let init = &f.initial_state;
        let mut patient =
            Patient::from_counts(l, init.B)?.with_car_t(init.E, init.M, init.X)?.with_cytokines(init.G, init.I)?;
        if let Some(b0) = b0_param {
            Domain::NonNeg.check("parameters.B_0", b0)?;
            if b0 != init.B {
                return Err(InputError::Inconsistent {
                    field: "parameters.B_0".into(),
                    reason: format!("B_0 = {b0} differs from initial_state.B = {}", init.B),
                }
                .into());
            }
        }
        patient = patient.clone();
        let product = Product::from_names(&f.product.targets)?;
        let infusions = f.product.schedule.iter().map(|i| Infusion { t: i.t, cells: i.cells }).collect();
        let toci = match f.policies.tocilizumab {
            TociFile::Reactive => TociPolicy::Reactive,
            TociFile::Prophylactic { times } => TociPolicy::Prophylactic { times },
            TociFile::None => TociPolicy::None,
        };
        let ster = match f.policies.steroids {
            SteroidFile::Reactive => SteroidPolicy::Reactive,
            SteroidFile::None => SteroidPolicy::None,
        };
        let regimen = Regimen::new(infusions, f.lymphodepletion, toci, ster)?.with_rules(rules)?;
        Ok(Scenario::new(f.name.unwrap_or_else(|| "scenario".into()), params, patient, product, regimen, f.horizon)?
            .with_definitions(defs)?)
    }

    /// Read a scenario file.
    ///
    /// # Errors
    /// [`ScenarioError::Io`] if it cannot be read, else as [`Scenario::from_json_str`].
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let s = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
        Self::from_json_str(&s)
    }
}

/// The reference format keeps the policy numbers and the endpoint definitions among the
/// `parameters` under their MODEL.md names; route them to [`PolicyRules`] and
/// [`Definitions`]. Returns whether `name` was one of them.
fn legacy_parameter(name: &str, v: f64, defs: &mut Definitions, rules: &mut PolicyRules) -> Result<bool, InputError> {
    let field = format!("parameters.{name}");
    match name {
        "theta_toci" => rules.toci_threshold = Domain::Pos.checked(&field, v)?,
        "tau_T" => rules.toci_window_days = Domain::Pos.checked(&field, v)?,
        "n_toci" => rules.toci_max_reactive_doses = Domain::Count.checked(&field, v)? as u32,
        "theta_ster" => rules.steroid_threshold = Domain::Pos.checked(&field, v)?,
        "tau_S" => rules.steroid_course_days = Domain::Pos.checked(&field, v)?,
        "theta_1" | "theta_2" | "theta_3" | "theta_4" => {
            let k = (name.as_bytes()[6] - b'1') as usize;
            defs.crs_thresholds[k] = Domain::Pos.checked(&field, v)?;
        }
        "mrd_threshold" => defs.mrd_threshold = Domain::OpenUnit.checked(&field, v)?,
        "b_recovery" => defs.b_recovery = Domain::Pos.checked(&field, v)?,
        "copies_per_cell" => defs.copies_per_cell = Domain::Pos.checked(&field, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The CRS thresholds of a scenario file must increase strictly (named as MODEL.md does).
fn check_crs_order(th: &[f64; 4]) -> Result<(), InputError> {
    for k in 1..4 {
        if th[k] <= th[k - 1] {
            return Err(InputError::Inconsistent {
                field: format!("parameters.theta_{}", k + 1),
                reason: format!(
                    "CRS thresholds must increase strictly: theta_{} = {} is not above theta_{} = {}",
                    k + 1,
                    th[k],
                    k,
                    th[k - 1]
                ),
            });
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct EndpointsFile<'a> {
    name: &'a str,
    endpoints: &'a crate::Endpoints,
    events: &'a [Event],
    solver: SolverBlock,
}

#[derive(Serialize)]
struct SolverBlock {
    method: &'static str,
    rtol: f64,
    atol: f64,
    nfev: u64,
    accepted: u64,
    rejected: u64,
}

/// The endpoints file (`<name>_endpoints.json` format of the reference) for a solution.
pub fn endpoints_json<R>(name: &str, sol: &Solution<R>, cfg: &crate::SolverConfig) -> String {
    let f = EndpointsFile {
        name,
        endpoints: &sol.endpoints,
        events: &sol.events,
        solver: SolverBlock {
            method: match cfg.method_used() {
                crate::Method::Dopri5 => "Dopri5",
                _ => "Dopri5Exp",
            },
            rtol: cfg.rtol(),
            atol: cfg.atol(),
            nfev: sol.stats.rhs_evals,
            accepted: sol.stats.accepted,
            rejected: sol.stats.rejected,
        },
    };
    let o = sol.endpoints.observed;
    let mut s = if o == crate::Observed::ALL {
        serde_json::to_string_pretty(&f)
    } else {
        // a model without some observables: leave their endpoints out rather than write
        // placeholders
        serde_json::to_value(&f).and_then(|mut v| {
            if let Some(serde_json::Value::Object(m)) = v.get_mut("endpoints") {
                m.retain(|k, _| o.keeps_key(k));
            }
            serde_json::to_string_pretty(&v)
        })
    }
    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Format a float so that it parses back to the same `f64` (shortest round trip), in
/// scientific notation when very large or small.
pub fn fmt_f64(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-4..1e16).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// The trajectory CSV (reference format): `t,E,M,X,L_<phenotype>...,B,G,I,I_eff,T,S` with
/// one `L_` column per phenotype present at t = 0.
pub fn trajectory_csv(sol: &Solution) -> String {
    rows_csv(&sol.rows, sol.present())
}

/// Trajectory rows as CSV in the reference format, with an `L_` column for each phenotype
/// flagged in `columns` (canonical order).
pub fn rows_csv(rows: &[crate::Row], columns: [bool; 4]) -> String {
    let mut s = String::from("t,E,M,X");
    for ph in Phenotype::ALL {
        if columns[ph.index()] {
            s.push_str(",L_");
            s.push_str(ph.name());
        }
    }
    s.push_str(",B,G,I,I_eff,T,S\n");
    for r in rows {
        let _ = write!(s, "{},{},{},{}", fmt_f64(r.t), fmt_f64(r.e), fmt_f64(r.m), fmt_f64(r.x));
        for ph in Phenotype::ALL {
            if columns[ph.index()] {
                let _ = write!(s, ",{}", fmt_f64(r.l[ph.index()]));
            }
        }
        let _ = writeln!(
            s,
            ",{},{},{},{},{},{}",
            fmt_f64(r.b),
            fmt_f64(r.g),
            fmt_f64(r.i),
            fmt_f64(r.i_eff),
            r.toci as u8,
            r.steroid as u8
        );
    }
    s
}

/// Streaming writer of the per-patient table `patients.csv`: one row per patient in the
/// order given (the trial hands them over in id order), `status` `ok` or
/// `failed:<reason>`, the covariates, the sampled parameters under their MODEL.md names and
/// every endpoint under its MODEL.md section 5 name. Empty field = none / not applicable;
/// booleans `1`/`0`.
pub struct PatientCsv<W: std::io::Write> {
    out: W,
    params: Vec<&'static str>,
}

/// Write one table cell (empty for none, booleans `1` / `0`).
fn push_cell(s: &mut String, c: crate::endpoints::Cell) {
    use crate::endpoints::Cell;
    match c {
        Cell::Num(v) | Cell::Opt(Some(v)) => s.push_str(&fmt_f64(v)),
        Cell::Bool(v) | Cell::OptBool(Some(v)) => s.push(if v { '1' } else { '0' }),
        Cell::Int(n) => {
            let _ = write!(s, "{n}");
        }
        Cell::Text(Some(t)) => s.push_str(t),
        Cell::Opt(None) | Cell::OptBool(None) | Cell::Text(None) => {}
    }
}

impl<W: std::io::Write> PatientCsv<W> {
    /// Start the table (writes the header) with the sampled parameter names as columns.
    ///
    /// # Errors
    /// An I/O error.
    pub fn new(mut out: W, params: Vec<&'static str>) -> std::io::Result<Self> {
        let mut h = String::from("id,status,f0,frac_cd19neg,dose_cells,weight_kg,f_mem");
        for p in &params {
            h.push(',');
            h.push_str(p);
        }
        for c in crate::endpoints::COLUMNS {
            h.push(',');
            h.push_str(c.name);
        }
        h.push_str(",rhs_evals");
        h.push('\n');
        out.write_all(h.as_bytes())?;
        Ok(Self { out, params })
    }

    /// Write one patient.
    ///
    /// # Errors
    /// An I/O error.
    pub fn write<R>(&mut self, o: &crate::trial::PatientOutcome<R>) -> std::io::Result<()> {
        let mut s = String::with_capacity(768);
        let f = |v: f64| fmt_f64(v);
        let opt = |v: Option<f64>| v.map(fmt_f64).unwrap_or_default();
        let _ = write!(s, "{},", o.id);
        match &o.result {
            Ok(_) => s.push_str("ok"),
            Err(e) => {
                s.push_str("failed:");
                s.push_str(e.label());
            }
        }
        match &o.covariates {
            Some(c) => {
                let _ = write!(
                    s,
                    ",{},{},{},{},{}",
                    f(c.f0),
                    f(c.frac_cd19neg),
                    f(c.dose_cells),
                    opt(c.weight_kg),
                    f(c.f_mem)
                );
            }
            None => s.push_str(",,,,,"),
        }
        for name in &self.params {
            s.push(',');
            if let Some((_, v)) = o.parameters.iter().find(|(n, _)| n == name) {
                s.push_str(&f(*v));
            }
        }
        match &o.result {
            Ok(e) => {
                for c in crate::endpoints::COLUMNS {
                    s.push(',');
                    if e.observed.has(c.group) {
                        push_cell(&mut s, (c.value)(e));
                    }
                }
                let _ = write!(s, ",{}", o.stats.rhs_evals);
            }
            Err(_) => {
                for _ in crate::endpoints::COLUMNS {
                    s.push(',');
                }
                s.push(',');
            }
        }
        s.push('\n');
        self.out.write_all(s.as_bytes())
    }

    /// Continue a table whose header (and some rows) were written before, e.g. by a run
    /// that was interrupted: writes nothing now. `params` must be the columns of that header.
    pub fn continuing(out: W, params: Vec<&'static str>) -> Self {
        Self { out, params }
    }

    /// The underlying writer (to flush or sync it between rows).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flush and return the writer.
    ///
    /// # Errors
    /// An I/O error.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
