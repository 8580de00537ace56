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

/// A JSON object read into a map that refuses a key given twice (serde's maps keep the last
/// one silently: two `CD19+CD22+` entries would make a patient of the second alone).
#[derive(Debug, Default)]
struct UniqueMap<V>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = BTreeMap::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    if m.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate key {k:?}")));
                    }
                    m.insert(k, v);
                }
                Ok(UniqueMap(m))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

impl<V> std::ops::Deref for UniqueMap<V> {
    type Target = BTreeMap<String, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

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
    parameters: UniqueMap<Option<f64>>,
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
    L: UniqueMap<f64>,
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
        for (name, v) in f.parameters.iter() {
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
        for (name, &v) in f.initial_state.L.iter() {
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
        let s = read_capped(path, MAX_INPUT_BYTES)
            .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
        Self::from_json_str(&s)
    }
}

/// The scenario name as the stem of output file names (`<name>_endpoints.json`): 1 to 128
/// characters from `A-Z a-z 0-9 _ . + -`, not starting with `.`. Anything else (a path
/// separator, `..`, a newline, an absolute path) is refused, so outputs never escape their
/// directory.
///
/// # Errors
/// [`InputError::Inconsistent`] naming `name` and the first character not allowed.
pub fn file_stem(name: &str) -> Result<&str, InputError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-');
    let reason = if name.is_empty() || name.len() > 128 {
        Some(format!("a file name needs 1 to 128 characters, not {}", name.chars().count()))
    } else if name.starts_with('.') {
        Some("a file name may not start with '.'".to_string())
    } else {
        name.chars().find(|c| !ok(*c)).map(|c| format!("{:?} is not allowed in a file name (A-Z a-z 0-9 _ . + -)", c))
    };
    match reason {
        None => Ok(name),
        Some(reason) => Err(InputError::Inconsistent { field: "name".into(), reason }),
    }
}

/// Write `dir/name` atomically: a temporary file in `dir` (created new, never through a
/// link), synced, renamed over `name` (a symbolic link at `name` is replaced, never
/// followed), then the directory synced. `dir` is created if missing; a `dir` that is a
/// symbolic link is refused. `name` must pass [`file_stem`]'s character rules.
///
/// # Errors
/// A bad name or directory ([`std::io::ErrorKind::InvalidInput`]) or the I/O error.
pub fn write_atomic(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    file_stem(name).map_err(|e| invalid(e.to_string()))?;
    if std::fs::symlink_metadata(dir).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
        return Err(invalid(format!("{} is a symbolic link; refusing to write through it", dir.display())));
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let res = f.write_all(bytes).and_then(|()| f.sync_all()).and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Largest scenario or study file read (16 MiB): a real one is a few KiB.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Largest table of patients read (512 MiB, several million rows).
pub const MAX_TABLE_BYTES: u64 = 512 << 20;

/// Read a UTF-8 text file of at most `limit` bytes (reading stops past the limit, so a
/// device such as `/dev/zero` is refused, not swallowed).
///
/// # Errors
/// The I/O error, or [`std::io::ErrorKind::InvalidData`] for a larger file or one that is
/// not UTF-8.
pub fn read_capped(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    std::fs::File::open(path)?.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} MiB limit for this kind of file", limit >> 20),
        ));
    }
    String::from_utf8(buf).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
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

impl SolverBlock {
    fn new(cfg: &crate::SolverConfig, stats: &crate::Stats) -> Self {
        SolverBlock {
            method: match cfg.method_used() {
                crate::Method::Dopri5 => "Dopri5",
                _ => "Dopri5Exp",
            },
            rtol: cfg.rtol(),
            atol: cfg.atol(),
            nfev: stats.rhs_evals,
            accepted: stats.accepted,
            rejected: stats.rejected,
        }
    }
}

/// The endpoints file (`<name>_endpoints.json` format of the reference) for a solution.
pub fn endpoints_json<R>(name: &str, sol: &Solution<R>, cfg: &crate::SolverConfig) -> String {
    let f = EndpointsFile {
        name,
        endpoints: &sol.endpoints,
        events: &sol.events,
        solver: SolverBlock::new(cfg, &sol.stats),
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

/// One patient's endpoints as a JSON document keyed by the `patients.csv` column names
/// (every endpoint of the model, including those the reference `<name>_endpoints.json`
/// format has no key for, such as model v2's ICANS and B-cell aplasia endpoints), with the
/// event log and the solver statistics. What `cartkin simulate` writes for one patient of
/// a study file. `header` is written first (name, model, seed, patient id...).
///
/// Columns of observables the model does not have are left out; an endpoint that does
/// not apply is `null`.
pub fn endpoints_columns_json<R>(
    header: &[(&str, serde_json::Value)],
    sol: &Solution<R>,
    cfg: &crate::SolverConfig,
) -> String {
    use crate::endpoints::{Cell, COLUMNS};
    use serde_json::Value;
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    let ends: Vec<(String, Json)> = COLUMNS
        .iter()
        .filter(|c| sol.endpoints.observed.has(c.group))
        .map(|c| {
            let v = match (c.value)(&sol.endpoints) {
                Cell::Num(x) => num(x),
                Cell::Opt(x) => x.map_or(Value::Null, num),
                Cell::Bool(b) => Value::Bool(b),
                Cell::OptBool(b) => b.map_or(Value::Null, Value::Bool),
                Cell::Int(i) => Value::from(i),
                Cell::Text(t) => t.map_or(Value::Null, Value::from),
            };
            (c.name.to_string(), Json::Value(v))
        })
        .collect();
    let solver = SolverBlock::new(cfg, &sol.stats);
    let mut doc: Vec<(String, Json)> = header.iter().map(|(k, v)| ((*k).to_string(), Json::Value(v.clone()))).collect();
    doc.push(("endpoints".into(), Json::Object(ends)));
    doc.push(("events".into(), Json::Value(serde_json::to_value(&sol.events).unwrap_or(Value::Null))));
    doc.push(("solver".into(), Json::Value(serde_json::to_value(&solver).unwrap_or(Value::Null))));
    let mut s = serde_json::to_string_pretty(&Json::Object(doc)).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// JSON whose objects keep their keys in the order given (serde_json's `Map` sorts them).
enum Json {
    Value(serde_json::Value),
    Object(Vec<(String, Json)>),
}

impl Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match self {
            Json::Value(v) => v.serialize(s),
            Json::Object(kv) => {
                let mut m = s.serialize_map(Some(kv.len()))?;
                for (k, v) in kv {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
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

/// Trajectory rows that can be written as CSV (one file per patient with `--trajectories`).
pub trait TrajectoryCsv: Sized {
    /// The rows as CSV with a header.
    fn csv(rows: &[Self]) -> String;
}

impl TrajectoryCsv for crate::Row {
    /// The reference format with an `L_` column for every phenotype.
    fn csv(rows: &[Self]) -> String {
        rows_csv(rows, [true; 4])
    }
}

impl TrajectoryCsv for crate::model::v2::RowV2 {
    /// `t,E,M,P,X,L_<phenotype>...,L_CD19dim,B,G,I,R,S_CRS,N_ICANS,T,S`.
    fn csv(rows: &[Self]) -> String {
        let mut s = String::from("t,E,M,P,X");
        for ph in Phenotype::ALL {
            s.push_str(",L_");
            s.push_str(ph.name());
        }
        s.push_str(",L_CD19dim,B,G,I,R,S_CRS,N_ICANS,T,S\n");
        for r in rows {
            let _ = write!(s, "{},{},{},{},{}", fmt_f64(r.t), fmt_f64(r.e), fmt_f64(r.m), fmt_f64(r.p), fmt_f64(r.x));
            for l in r.l {
                let _ = write!(s, ",{}", fmt_f64(l));
            }
            let _ = writeln!(
                s,
                ",{},{},{},{},{},{},{},{}",
                fmt_f64(r.b),
                fmt_f64(r.g),
                fmt_f64(r.i),
                fmt_f64(r.r),
                fmt_f64(r.s),
                fmt_f64(r.n),
                r.toci as u8,
                r.steroid as u8
            );
        }
        s
    }
}

/// Streaming writer of the per-patient table `patients.csv`: one row per patient in the
/// order given (the trial hands them over in id order), `status` `ok` or
/// `failed:<reason>`, the covariates, the sampled parameters under their MODEL.md names and
/// every endpoint under its MODEL.md section 5 name. Empty field = none / not applicable;
/// booleans `1`/`0`.
pub struct PatientCsv<W: std::io::Write> {
    out: W,
    params: Vec<&'static str>,
    journey: Option<crate::journey::Journey>,
}

/// The journey's columns of `patients.csv` before the visit readings and costs.
pub const JOURNEY_COLUMNS: [&str; 19] = [
    "f0_screening",
    "health_score",
    "target_expression",
    "wait_days",
    "bridged",
    "bridging_log10",
    "manufacturing_failure_probability",
    "loss_day",
    "f0_infusion",
    "dose_achieved",
    "remission_day",
    "cr_visit",
    "cr_day_visit",
    "mrd_neg_visit",
    "mrd_neg_ngs_visit",
    "relapse_day_visit",
    "car_t_last_detected_day",
    "visits",
    "remission_12m",
];

/// The header of a journey's columns: [`JOURNEY_COLUMNS`], one column per assay and visit
/// day (`mrd_flow_d28`, ...: the reading, `<LOQ` below the limit of quantification, empty
/// when not measured), then `cost_total` and `cost_<part>` when the journey has costs.
pub fn journey_header(j: &crate::journey::Journey) -> Vec<String> {
    let mut h: Vec<String> = JOURNEY_COLUMNS.iter().map(|c| c.to_string()).collect();
    for (name, a) in crate::journey::ASSAYS.iter().zip(j.monitoring.assays()) {
        for d in &a.days {
            h.push(format!("{name}_d{}", fmt_f64(*d)));
        }
    }
    if j.costs.is_some() {
        h.push("cost_total".into());
        for p in crate::journey::COST_PARTS {
            h.push(format!("cost_{p}"));
        }
    }
    h
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
    pub fn new(out: W, params: Vec<&'static str>) -> std::io::Result<Self> {
        Self::with_journey(out, params, None)
    }

    /// Start the table of a trial's source: its parameter columns and, with a patient
    /// journey, the journey's columns.
    ///
    /// # Errors
    /// An I/O error.
    pub fn for_source<S: crate::trial::PatientSource>(out: W, source: &S) -> std::io::Result<Self> {
        Self::with_journey(out, source.parameter_names(), source.journey().cloned())
    }

    /// [`PatientCsv::continuing`] for a trial's source (see [`PatientCsv::for_source`]).
    pub fn continuing_for_source<S: crate::trial::PatientSource>(out: W, source: &S) -> Self {
        Self { out, params: source.parameter_names(), journey: source.journey().cloned() }
    }

    fn with_journey(
        mut out: W,
        params: Vec<&'static str>,
        journey: Option<crate::journey::Journey>,
    ) -> std::io::Result<Self> {
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
        if let Some(j) = &journey {
            for c in journey_header(j) {
                h.push(',');
                h.push_str(&c);
            }
        }
        h.push('\n');
        out.write_all(h.as_bytes())?;
        Ok(Self { out, params, journey })
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
            Err(e @ crate::trial::Failure::NotInfused(_)) => s.push_str(e.label()),
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
        if let Some(j) = &self.journey {
            journey_cells(&mut s, j, o);
        }
        s.push('\n');
        self.out.write_all(s.as_bytes())
    }

    /// Continue a table whose header (and some rows) were written before, e.g. by a run
    /// that was interrupted: writes nothing now. `params` must be the columns of that header.
    pub fn continuing(out: W, params: Vec<&'static str>) -> Self {
        Self { out, params, journey: None }
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

/// The journey's cells of one patient (see [`journey_header`]).
fn journey_cells<R>(s: &mut String, j: &crate::journey::Journey, o: &crate::trial::PatientOutcome<R>) {
    use crate::endpoints::Cell;
    use crate::journey::Reading;
    let n_readings: usize = j.monitoring.assays().iter().map(|a| a.days.len()).sum();
    let n_cost = if j.costs.is_some() { 1 + crate::journey::COST_PARTS.len() } else { 0 };
    let Some(r) = &o.journey else {
        for _ in 0..JOURNEY_COLUMNS.len() + n_readings + n_cost {
            s.push(',');
        }
        return;
    };
    let p = &r.plan;
    let m = r.measured.as_ref();
    let enrolled = p.stage.enrolled();
    let infused = p.stage == crate::journey::Stage::Infused;
    let cells = [
        Cell::Num(p.f0_screening),
        Cell::Num(p.health_score),
        Cell::Num(p.target_expression),
        Cell::Opt(enrolled.then_some(p.wait_days)),
        Cell::OptBool(enrolled.then_some(p.bridged)),
        Cell::Opt(enrolled.then_some(p.bridging_log10)),
        Cell::Opt(enrolled.then_some(p.failure_probability)),
        Cell::Opt(p.loss_day),
        Cell::Opt(infused.then_some(p.f0_infusion)),
        Cell::Opt(infused.then_some(p.dose_achieved)),
        Cell::Opt(m.and_then(|m| m.remission_day)),
        Cell::OptBool(m.and_then(|m| m.cr_visit)),
        Cell::Opt(m.and_then(|m| m.cr_day_visit)),
        Cell::OptBool(m.and_then(|m| m.mrd_neg_visit)),
        Cell::OptBool(m.and_then(|m| m.mrd_neg_ngs_visit)),
        Cell::Opt(m.and_then(|m| m.relapse_day_visit)),
        Cell::Opt(m.and_then(|m| m.car_t_last_detected_day)),
        Cell::Opt(m.map(|m| m.visits as f64)),
        Cell::OptBool(r.remission_12m),
    ];
    for c in cells {
        s.push(',');
        push_cell(s, c);
    }
    for (a, assay) in j.monitoring.assays().iter().enumerate() {
        for d in &assay.days {
            s.push(',');
            match m.and_then(|m| m.readings.iter().find(|x| x.0 == a && x.1 == *d)) {
                Some((_, _, Reading::BelowLoq)) => s.push_str("<LOQ"),
                Some((_, _, Reading::Value(v))) => s.push_str(&fmt_f64(*v)),
                None => {}
            }
        }
    }
    if j.costs.is_some() {
        match &r.cost {
            Some(c) => {
                let money = |cents: u64| format!("{}.{:02}", cents / 100, cents % 100);
                s.push(',');
                s.push_str(&money(c.total()));
                for v in c.parts() {
                    s.push(',');
                    s.push_str(&money(v));
                }
            }
            None => {
                for _ in 0..n_cost {
                    s.push(',');
                }
            }
        }
    }
}
