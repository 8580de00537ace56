//! Files in the reference formats: scenario JSON in, `<name>_endpoints.json` and
//! `<name>_trajectory.csv` out.
//!
//! The loader reads `parameters`, `lymphodepletion`, `product`, `initial_state`, `policies`
//! and `horizon`; `name`, `description`, `model_version`, `patient`, `derived` and `output`
//! are informational. Any other field is an error, as is a parameter the model does not
//! have. Parameters missing from the file keep their REF-1 value.

use crate::endpoints::Event;
use crate::error::{Domain, InputError, ScenarioError};
use crate::model::{Params, Phenotype};
use crate::patient::Patient;
use crate::regimen::{Infusion, Product, Regimen, SteroidPolicy, TociPolicy};
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
        let mut b0_param = None;
        for (name, v) in &f.parameters {
            match (name.as_str(), v) {
                ("K_C", None) => params.k_c = f64::INFINITY,
                ("B_0", Some(v)) => b0_param = Some(*v),
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
        let mut l = [0.0; 4];
        for (name, &v) in &f.initial_state.L {
            let ph = Phenotype::parse("initial_state.L", name)?;
            l[ph.index()] = v;
        }
        let init = &f.initial_state;
        let mut patient = Patient::from_counts(l, init.B)?.with_car_t(init.E, init.M, init.X)?.with_cytokines(init.G, init.I)?;
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
        let regimen = Regimen::new(infusions, f.lymphodepletion, toci, ster)?;
        Ok(Scenario::new(f.name.unwrap_or_else(|| "scenario".into()), params, patient, product, regimen, f.horizon)?)
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
pub fn endpoints_json(name: &str, sol: &Solution, cfg: &crate::SolverConfig) -> String {
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
    let mut s = serde_json::to_string_pretty(&f).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
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
    let mut s = String::from("t,E,M,X");
    for ph in Phenotype::ALL {
        if sol.present[ph.index()] {
            s.push_str(",L_");
            s.push_str(ph.name());
        }
    }
    s.push_str(",B,G,I,I_eff,T,S\n");
    for r in &sol.rows {
        let _ = write!(s, "{},{},{},{}", fmt_f64(r.t), fmt_f64(r.e), fmt_f64(r.m), fmt_f64(r.x));
        for ph in Phenotype::ALL {
            if sol.present[ph.index()] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_round_trips() {
        for v in [0.0, 1.0, 1e-30, 4.999950000000003e11, 1.2345678901234567e-5, 3e20, -2.5] {
            assert_eq!(fmt_f64(v).parse::<f64>().unwrap(), v);
        }
    }
}
