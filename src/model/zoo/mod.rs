//! The model zoo: published CAR-T models, each implemented from its paper's equations and
//! parameter table (see `docs/MODELS.md`, one section per model), each a [`Model`](crate::Model) of the
//! generic driver, selectable by name in studies and on the command line.
//!
//! | name | paper | states |
//! |---|---|---|
//! | `stein2019` | Stein et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285 | expanding/fast/slow transgene (copies/µg) |
//! | `kimmel2021` | Kimmel, Locke, Altrock, Proc R Soc B 2021;288:20210229 | normal T, CAR-T (cells/µL), tumour (mL) |
//! | `leon_triana2021` | León-Triana et al., Commun Nonlinear Sci Numer Simul 2021;94:105570, eqs 4a-c | CAR-T, leukaemic B, healthy B (cells) |
//! | `leon_triana2021_progenitors` | the same paper, eqs 3a-c | the above plus B-cell progenitors |
//! | `hanson2016` | Hanson et al. 2016 (bioRxiv 049908), BioModels BIOMD0000000837 | CAR-T, helper cells, tumour, inflammation |
//!
//! Every model's parameters (initial values included) are a list of [`Param`]s in a fixed
//! order: the typical values are the defaults, a study overrides them by name and gives
//! them between-patient variability.

pub mod hanson2016;
pub mod kimmel2021;
pub mod leon_triana2021;
pub mod stein2019;

use crate::error::InputError;
use crate::model::ModelInfo;
use std::fmt::Write as _;

/// The most states a zoo model has (the width of a [`ZooRow`]).
pub const MAX_STATES: usize = 8;

/// Where a parameter's values may lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamDomain {
    /// Strictly positive and finite.
    Pos,
    /// Non-negative and finite.
    NonNeg,
    /// In [0, 1].
    Unit,
}

impl ParamDomain {
    fn check(self, field: &str, v: f64) -> Result<(), InputError> {
        let d = match self {
            ParamDomain::Pos => crate::error::Domain::Pos,
            ParamDomain::NonNeg => crate::error::Domain::NonNeg,
            ParamDomain::Unit => crate::error::Domain::Unit,
        };
        d.check(field, v)
    }
}

/// One parameter of a zoo model (initial values included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    /// Name (the paper's symbol, ASCII; how a study names it).
    pub name: &'static str,
    /// Typical value (the default), in `unit`.
    pub value: f64,
    /// Unit.
    pub unit: &'static str,
    /// Where its values may lie.
    pub domain: ParamDomain,
    /// What it is and where its value comes from.
    pub what: &'static str,
}

/// Check `values` (in the order of `params`) against the parameters' domains.
///
/// # Errors
/// [`InputError`] naming `parameters.<name>` for a wrong count, a non-finite value or one
/// outside its domain.
pub fn check_values(model: &str, params: &[Param], values: &[f64]) -> Result<(), InputError> {
    if values.len() != params.len() {
        return Err(InputError::Inconsistent {
            field: format!("{model}.parameters"),
            reason: format!("{} values for {} parameters", values.len(), params.len()),
        });
    }
    for (p, &v) in params.iter().zip(values) {
        p.domain.check(&format!("parameters.{}", p.name), v)?;
    }
    Ok(())
}

/// The typical values of `params`, in order.
pub fn typical(params: &[Param]) -> Vec<f64> {
    params.iter().map(|p| p.value).collect()
}

/// One trajectory row of a zoo model: the time and the model's states (in
/// [`ModelInfo::states`] order; the entries past the model's state count are 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooRow {
    /// The model (its state names head the CSV).
    pub info: &'static ModelInfo,
    /// Time (day).
    pub t: f64,
    /// The states.
    pub y: [f64; MAX_STATES],
}

impl ZooRow {
    /// The row at `t` of state `y` (at most [`MAX_STATES`] values).
    pub fn new(info: &'static ModelInfo, t: f64, y: &[f64]) -> Self {
        let mut a = [0.0; MAX_STATES];
        let n = y.len().min(MAX_STATES);
        a[..n].copy_from_slice(&y[..n]);
        Self { info, t, y: a }
    }

    /// The model's states (as many as it has).
    pub fn states(&self) -> &[f64] {
        &self.y[..self.info.states.len().min(MAX_STATES)]
    }
}

impl crate::io::TrajectoryCsv for ZooRow {
    /// `t,<state names>`, one row per output time.
    fn csv(rows: &[Self]) -> String {
        let Some(first) = rows.first() else { return String::from("t\n") };
        let mut s = String::from("t");
        for n in first.info.states {
            s.push(',');
            s.push_str(n);
        }
        s.push('\n');
        for r in rows {
            s.push_str(&crate::io::fmt_f64(r.t));
            for v in r.states() {
                let _ = write!(s, ",{}", crate::io::fmt_f64(*v));
            }
            s.push('\n');
        }
        s
    }
}

/// A zoo model, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// [`stein2019`].
    Stein2019,
    /// [`kimmel2021`].
    Kimmel2021,
    /// [`leon_triana2021`]: the reduced model (eqs 4a-c).
    LeonTriana2021,
    /// [`leon_triana2021`]: the model with B-cell progenitors (eqs 3a-c).
    LeonTriana2021Progenitors,
    /// [`hanson2016`].
    Hanson2016,
}

impl Kind {
    /// Every zoo model, in the order `cartkin models` lists them.
    pub const ALL: &'static [Kind] =
        &[Kind::Stein2019, Kind::Kimmel2021, Kind::LeonTriana2021, Kind::LeonTriana2021Progenitors, Kind::Hanson2016];

    /// The zoo model called `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.info().name == name)
    }

    /// Its name, version and states.
    pub fn info(self) -> &'static ModelInfo {
        match self {
            Kind::Stein2019 => stein2019::info(),
            Kind::Kimmel2021 => kimmel2021::info(),
            Kind::LeonTriana2021 => leon_triana2021::info(),
            Kind::LeonTriana2021Progenitors => leon_triana2021::info_progenitors(),
            Kind::Hanson2016 => hanson2016::info(),
        }
    }

    /// Its parameters (initial values included), in order.
    pub fn params(self) -> &'static [Param] {
        match self {
            Kind::Stein2019 => stein2019::PARAMS,
            Kind::Kimmel2021 => kimmel2021::PARAMS,
            Kind::LeonTriana2021 => leon_triana2021::PARAMS,
            Kind::LeonTriana2021Progenitors => leon_triana2021::PARAMS_PROGENITORS,
            Kind::Hanson2016 => hanson2016::PARAMS,
        }
    }

    /// The paper, in one line.
    pub fn citation(self) -> &'static str {
        match self {
            Kind::Stein2019 => {
                "Stein et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285 (tisagenlecleucel kinetics)"
            }
            Kind::Kimmel2021 => "Kimmel, Locke, Altrock, Proc R Soc B 2021;288:20210229 (BIOMD0000001041)",
            Kind::LeonTriana2021 => {
                "León-Triana et al., Commun Nonlinear Sci Numer Simul 2021;94:105570, eqs 4a-c (BIOMD0000001011)"
            }
            Kind::LeonTriana2021Progenitors => {
                "León-Triana et al., Commun Nonlinear Sci Numer Simul 2021;94:105570, eqs 3a-c (BIOMD0000001012)"
            }
            Kind::Hanson2016 => {
                "Hanson et al. 2016, bioRxiv 049908 (BIOMD0000000837; CAR-T, helper cells, tumour, inflammation)"
            }
        }
    }

    /// The unit of the model's CAR-T observable (its `cmax`, `C_end`; `auc28` is this x day).
    pub fn car_t_unit(self) -> &'static str {
        match self {
            Kind::Stein2019 => "copies/ug",
            Kind::Kimmel2021 => "cells/uL",
            Kind::LeonTriana2021 | Kind::LeonTriana2021Progenitors | Kind::Hanson2016 => "cells",
        }
    }

    /// Index of parameter `name`.
    pub fn index(self, name: &str) -> Option<usize> {
        self.params().iter().position(|p| p.name == name)
    }

    /// The built-in population's variability (its paper's): one entry per parameter.
    pub fn builtin_variability(self) -> Vec<Variability> {
        match self {
            Kind::Stein2019 => stein2019::OMEGA2.iter().map(|&w| Variability::LogNormal { omega2: w }).collect(),
            Kind::Kimmel2021 => {
                // Kimmel 2021: r_B in {0.105, 0.19, 0.265} per day, 5% on the other rates
                // and capacities (a log-normal CV of 5%: omega^2 = ln(1 + 0.05^2)); the
                // initial values and the stochastic settings as the curated file
                let cv5 = Variability::LogNormal { omega2: (1.0f64 + 0.05 * 0.05).ln() };
                kimmel2021::PARAMS
                    .iter()
                    .map(|p| match p.name {
                        "r_B" => Variability::Choice(vec![0.105, 0.19, 0.265]),
                        "K_N" | "K_C" | "r_N" | "rho_C" | "a" | "b" | "gamma_B" | "k_B" => cv5.clone(),
                        _ => Variability::None,
                    })
                    .collect()
            }
            // no published variability: the typical patient (a study adds [variability])
            Kind::LeonTriana2021 | Kind::LeonTriana2021Progenitors | Kind::Hanson2016 => {
                vec![Variability::None; self.params().len()]
            }
        }
    }

    /// Simulate one patient with parameter `values` (in [`Kind::params`] order) and the
    /// patient's `uniforms` (the stochastic models' draws), from its initial values with no
    /// regimen (`id` names the patient in a failure).
    ///
    /// # Errors
    /// Invalid values, or a failed solve.
    pub fn simulate(
        self,
        values: &[f64],
        uniforms: &[f64; UNIFORMS],
        solver: &crate::solve::SolverConfig,
        horizon: f64,
        grid: &[f64],
        id: u64,
    ) -> Result<crate::solve::Solution<ZooRow>, crate::trial::Failure> {
        use crate::trial::Failure;
        let reg = crate::regimen::Regimen::new(
            Vec::new(),
            false,
            crate::regimen::TociPolicy::None,
            crate::regimen::SteroidPolicy::None,
        )
        .map_err(Failure::Input)?;
        let defs = crate::Definitions::default();
        let fail = |(t, reason)| Failure::Solve(crate::SolveError { patient_id: id, t, reason });
        use crate::solve::run_model as run;
        match self {
            Kind::Stein2019 => {
                let m = stein2019::Stein2019::new(values).map_err(Failure::Input)?;
                run(&m, &reg, &defs, solver, horizon, grid, false).map_err(fail)
            }
            Kind::Kimmel2021 => {
                let mut u = [0.0; kimmel2021::DIPS];
                u.copy_from_slice(&uniforms[..kimmel2021::DIPS]);
                let m = kimmel2021::Kimmel2021::new(values).and_then(|m| m.with_uniforms(u)).map_err(Failure::Input)?;
                run(&m, &reg, &defs, solver, horizon, grid, false).map_err(fail)
            }
            Kind::LeonTriana2021 => {
                let m = leon_triana2021::LeonTriana2021::new(values).map_err(Failure::Input)?;
                run(&m, &reg, &defs, solver, horizon, grid, false).map_err(fail)
            }
            Kind::LeonTriana2021Progenitors => {
                let m = leon_triana2021::LeonTriana2021Progenitors::new(values).map_err(Failure::Input)?;
                run(&m, &reg, &defs, solver, horizon, grid, false).map_err(fail)
            }
            Kind::Hanson2016 => {
                let m = hanson2016::Hanson2016::new(values).map_err(Failure::Input)?;
                run(&m, &reg, &defs, solver, horizon, grid, false).map_err(fail)
            }
        }
    }
}

/// How many uniforms every zoo patient draws after its parameters (for the stochastic
/// models; the others ignore them, so the streams of all models have one layout).
pub const UNIFORMS: usize = 4;

/// Between-patient variability of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Variability {
    /// The typical value for every patient.
    None,
    /// Log-normal: `value = typical x exp(sqrt(omega2) z)`, `z` standard normal (a
    /// parameter in [0, 1] is capped at 1).
    LogNormal {
        /// Variance of the log (the ω² of a NONMEM-style random effect).
        omega2: f64,
    },
    /// One of these values, each with the same probability.
    Choice(Vec<f64>),
}

/// A sampled population of a zoo model: typical values and variability per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooPopulation {
    kind: Kind,
    typical: Vec<f64>,
    variability: Vec<Variability>,
}

impl ZooPopulation {
    /// The model's built-in population: its typical values and its paper's variability.
    pub fn builtin(kind: Kind) -> Self {
        Self { kind, typical: typical(kind.params()), variability: kind.builtin_variability() }
    }

    /// The typical patient of `kind`, every patient the same.
    pub fn typical(kind: Kind) -> Self {
        Self { kind, typical: typical(kind.params()), variability: vec![Variability::None; kind.params().len()] }
    }

    /// The model.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The typical values, in [`Kind::params`] order.
    pub fn typical_values(&self) -> &[f64] {
        &self.typical
    }

    /// The variability, in [`Kind::params`] order.
    pub fn variability(&self) -> &[Variability] {
        &self.variability
    }

    /// Set the typical value of parameter `name`.
    ///
    /// # Errors
    /// An unknown parameter, or a value outside its domain.
    pub fn set_typical(&mut self, name: &str, v: f64) -> Result<(), InputError> {
        let i = self.index(name)?;
        let p = &self.kind.params()[i];
        p.domain.check(&format!("typical.{name}"), v)?;
        self.typical[i] = v;
        Ok(())
    }

    /// Set the variability of parameter `name`.
    ///
    /// # Errors
    /// An unknown parameter, a negative or non-finite ω², an empty choice or a choice
    /// outside the parameter's domain, log-normal variability of a parameter that may be 0.
    pub fn set_variability(&mut self, name: &str, v: Variability) -> Result<(), InputError> {
        let i = self.index(name)?;
        let p = &self.kind.params()[i];
        let field = format!("variability.{name}");
        match &v {
            Variability::None => {}
            Variability::LogNormal { omega2 } => {
                crate::error::Domain::NonNeg.check(&field, *omega2)?;
                if self.typical[i] <= 0.0 && *omega2 > 0.0 {
                    return Err(InputError::Inconsistent {
                        field,
                        reason: format!("log-normal variability of {name} around a typical value of 0"),
                    });
                }
            }
            Variability::Choice(c) => {
                if c.is_empty() || c.len() > 1000 {
                    return Err(InputError::Inconsistent { field, reason: "a choice of 1 to 1000 values".into() });
                }
                for (k, &x) in c.iter().enumerate() {
                    p.domain.check(&format!("{field}[{k}]"), x)?;
                }
            }
        }
        self.variability[i] = v;
        Ok(())
    }

    fn index(&self, name: &str) -> Result<usize, InputError> {
        self.kind.index(name).ok_or_else(|| InputError::Inconsistent {
            field: name.to_string(),
            reason: format!(
                "unknown parameter of model {} (its parameters: {})",
                self.kind.info().name,
                self.kind.params().iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
            ),
        })
    }

    /// Patient `id` of a run with `seed`: its parameter values (one standard normal or
    /// uniform per varied parameter, in parameter order, from the patient's own stream)
    /// and then its [`UNIFORMS`] uniforms.
    ///
    /// # Errors
    /// A drawn value outside the parameter's domain.
    pub fn sample(&self, seed: u64, id: u64) -> Result<ZooPatient, InputError> {
        use rand::RngExt;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = crate::population::patient_rng(seed, id);
        let mut values = self.typical.clone();
        for (i, v) in self.variability.iter().enumerate() {
            let p = &self.kind.params()[i];
            match v {
                Variability::None => {}
                Variability::LogNormal { omega2 } => {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    let x = self.typical[i] * (omega2.sqrt() * z).exp();
                    values[i] =
                        if p.domain == ParamDomain::Unit { x.min(1.0) } else { x.clamp(f64::MIN_POSITIVE, f64::MAX) };
                }
                Variability::Choice(c) => values[i] = c[rng.random_range(0..c.len())],
            }
        }
        let mut uniforms = [0.0; UNIFORMS];
        for u in &mut uniforms {
            // in (0, 1): the open interval the inversion needs
            *u = (rng.random::<u64>() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) + 0.5 / (1u64 << 53) as f64;
        }
        check_values(self.kind.info().name, self.kind.params(), &values)?;
        Ok(ZooPatient { kind: self.kind, varied: self.varied_indices(), values, uniforms })
    }

    fn varied_indices(&self) -> Vec<usize> {
        self.variability.iter().enumerate().filter(|(_, v)| **v != Variability::None).map(|(i, _)| i).collect()
    }
}

/// One patient of a zoo model.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooPatient {
    kind: Kind,
    varied: Vec<usize>,
    values: Vec<f64>,
    uniforms: [f64; UNIFORMS],
}

impl ZooPatient {
    /// The model.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The parameter values, in [`Kind::params`] order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The patient's uniforms (the stochastic models' draws).
    pub fn uniforms(&self) -> &[f64; UNIFORMS] {
        &self.uniforms
    }
}

impl crate::trial::Subject for ZooPatient {
    type Row = ZooRow;

    fn covariates(&self) -> Option<crate::population::Covariates> {
        None
    }

    fn parameters(&self) -> Vec<(&'static str, f64)> {
        self.varied.iter().map(|&i| (self.kind.params()[i].name, self.values[i])).collect()
    }

    fn simulate(
        &self,
        solver: &crate::solve::SolverConfig,
        horizon: f64,
        grid: &[f64],
        id: u64,
    ) -> Result<crate::solve::Solution<ZooRow>, crate::trial::Failure> {
        self.kind.simulate(&self.values, &self.uniforms, solver, horizon, grid, id)
    }
}

impl crate::trial::PatientSource for ZooPopulation {
    type Patient = ZooPatient;

    fn patient(&self, seed: u64, id: u64) -> Result<ZooPatient, InputError> {
        self.sample(seed, id)
    }

    fn parameter_names(&self) -> Vec<&'static str> {
        self.varied_indices().into_iter().map(|i| self.kind.params()[i].name).collect()
    }

    fn model(&self) -> &'static ModelInfo {
        self.kind.info()
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parameter is a `patients.csv` column beside the endpoints and covariates: no name
    /// may be taken twice (within a model, or by an endpoint or covariate column).
    #[test]
    fn parameter_names_are_unique_columns() {
        let fixed = ["id", "status", "f0", "frac_cd19neg", "dose_cells", "weight_kg", "f_mem", "rhs_evals"];
        for k in Kind::ALL {
            let names: Vec<&str> = k.params().iter().map(|p| p.name).collect();
            for (i, n) in names.iter().enumerate() {
                assert!(!names[..i].contains(n), "{}: {n} twice", k.info().name);
                assert!(!fixed.contains(n), "{}: {n} is a fixed column", k.info().name);
                assert!(
                    !crate::endpoints::COLUMNS.iter().any(|c| c.name == *n),
                    "{}: parameter {n} is an endpoint column",
                    k.info().name
                );
            }
            assert_eq!(Kind::from_name(k.info().name), Some(*k));
            assert_eq!(k.builtin_variability().len(), names.len());
            // the typical values are valid and simulate
            let v = typical(k.params());
            check_values(k.info().name, k.params(), &v).unwrap();
        }
    }
}
