//! The ELIANA-like default population (tisagenlecleucel in children and young adults with
//! relapsed/refractory B-ALL); see `CALIBRATION.md` for the targets, the search and the
//! result.

use super::{Amount, BodyWeight, Dose, EscapeSubclone, Fraction, Population, RegimenTemplate};
use crate::error::InputError;
use crate::model::{Params, Phenotype};
use crate::regimen::Product;

/// The knobs of the ELIANA-like population: typical values that differ from REF-1,
/// between-patient CVs and covariate distributions. [`ElianaCalibration::default`] holds the
/// calibrated values (each with its reason); [`Population::eliana_with`] builds a population
/// from any other setting (the calibration search of `examples/calibrate.rs` does).
#[derive(Debug, Clone, PartialEq)]
pub struct ElianaCalibration {
    /// Typical `K_C` (cells).
    pub k_c: f64,
    /// Typical `rho_E` (1/day).
    pub rho_e: f64,
    /// Typical `delta_E` (1/day).
    pub delta_e: f64,
    /// Typical `k_EM` (1/day).
    pub k_em: f64,
    /// Typical `delta_M` (1/day).
    pub delta_m: f64,
    /// Typical `p_I` (pg/mL/day per 1e9 kills/day).
    pub p_i: f64,
    /// Typical `p_IG` (1/day).
    pub p_ig: f64,
    /// CV of `rho_E`.
    pub cv_rho_e: f64,
    /// CV of `k_kill`.
    pub cv_k_kill: f64,
    /// CV of `r_L`.
    pub cv_r_l: f64,
    /// CV of `delta_E`.
    pub cv_delta_e: f64,
    /// CV of `delta_M`.
    pub cv_delta_m: f64,
    /// CV of `p_I`.
    pub cv_p_i: f64,
    /// CV of `p_IG`.
    pub cv_p_ig: f64,
    /// `f0 = f0_lo + (f0_hi - f0_lo) Beta(f0_a, f0_b)`: first shape.
    pub f0_a: f64,
    /// Second shape of the `f0` Beta.
    pub f0_b: f64,
    /// Lower end of `f0`.
    pub f0_lo: f64,
    /// Upper end of `f0`.
    pub f0_hi: f64,
    /// Probability that a patient carries a `CD19-CD22+` escape subclone.
    pub escape_probability: f64,
    /// Smallest escape fraction of the blasts (log-uniform).
    pub escape_lo: f64,
    /// Largest escape fraction of the blasts (log-uniform).
    pub escape_hi: f64,
    /// Median body weight (kg).
    pub weight_median_kg: f64,
    /// CV of the body weight.
    pub weight_cv: f64,
    /// Dose per kg, log-uniform from (cells/kg).
    pub per_kg_lo: f64,
    /// Dose per kg, log-uniform to (cells/kg).
    pub per_kg_hi: f64,
    /// Flat dose above 50 kg, log-uniform from (cells).
    pub flat_lo: f64,
    /// Flat dose above 50 kg, log-uniform to (cells).
    pub flat_hi: f64,
}

impl Default for ElianaCalibration {
    fn default() -> Self {
        Self {
            k_c: 5e11,
            rho_e: 1.0,
            delta_e: 0.3,
            k_em: 0.05,
            delta_m: 0.005,
            p_i: 100.0,
            p_ig: 10.0,
            cv_rho_e: 0.4,
            cv_k_kill: 0.4,
            cv_r_l: 0.4,
            cv_delta_e: 0.0,
            cv_delta_m: 0.0,
            cv_p_i: 0.4,
            cv_p_ig: 0.0,
            f0_a: 1.3,
            f0_b: 1.0,
            f0_lo: 0.05,
            f0_hi: 0.97,
            escape_probability: 0.5,
            escape_lo: 1e-7,
            escape_hi: 1e-3,
            weight_median_kg: 35.0,
            weight_cv: 0.5,
            per_kg_lo: 1.8e6,
            per_kg_hi: 5.0e6,
            flat_lo: 0.6e8,
            flat_hi: 2.5e8,
        }
    }
}

impl ElianaCalibration {
    /// Every knob name, as [`ElianaCalibration::set`] takes it.
    pub const NAMES: &'static [&'static str] = &[
        "K_C", "rho_E", "delta_E", "k_EM", "delta_M", "p_I", "p_IG", "cv_rho_E", "cv_k_kill", "cv_r_L",
        "cv_delta_E", "cv_delta_M", "cv_p_I", "cv_p_IG", "f0_a", "f0_b", "f0_lo", "f0_hi", "escape_probability",
        "escape_lo", "escape_hi", "weight_median_kg", "weight_cv", "per_kg_lo", "per_kg_hi", "flat_lo", "flat_hi",
    ];

    fn slot(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "K_C" => &mut self.k_c,
            "rho_E" => &mut self.rho_e,
            "delta_E" => &mut self.delta_e,
            "k_EM" => &mut self.k_em,
            "delta_M" => &mut self.delta_m,
            "p_I" => &mut self.p_i,
            "p_IG" => &mut self.p_ig,
            "cv_rho_E" => &mut self.cv_rho_e,
            "cv_k_kill" => &mut self.cv_k_kill,
            "cv_r_L" => &mut self.cv_r_l,
            "cv_delta_E" => &mut self.cv_delta_e,
            "cv_delta_M" => &mut self.cv_delta_m,
            "cv_p_I" => &mut self.cv_p_i,
            "cv_p_IG" => &mut self.cv_p_ig,
            "f0_a" => &mut self.f0_a,
            "f0_b" => &mut self.f0_b,
            "f0_lo" => &mut self.f0_lo,
            "f0_hi" => &mut self.f0_hi,
            "escape_probability" => &mut self.escape_probability,
            "escape_lo" => &mut self.escape_lo,
            "escape_hi" => &mut self.escape_hi,
            "weight_median_kg" => &mut self.weight_median_kg,
            "weight_cv" => &mut self.weight_cv,
            "per_kg_lo" => &mut self.per_kg_lo,
            "per_kg_hi" => &mut self.per_kg_hi,
            "flat_lo" => &mut self.flat_lo,
            "flat_hi" => &mut self.flat_hi,
            _ => return None,
        })
    }

    /// Value of a knob by name (`None` for an unknown name).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.clone().slot(name).map(|v| *v)
    }

    /// Set a knob by name (see [`ElianaCalibration::NAMES`]); the value is checked when the
    /// population is built.
    ///
    /// # Errors
    /// [`InputError::UnknownParameter`] for an unknown name.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), InputError> {
        match self.slot(name) {
            Some(v) => {
                *v = value;
                Ok(())
            }
            None => Err(InputError::UnknownParameter { field: "eliana".into(), name: name.into() }),
        }
    }
}

impl Population {
    /// The crate's default population, calibrated to the pivotal tisagenlecleucel trial in
    /// children and young adults with relapsed/refractory B-ALL (ELIANA, Maude et al. 2018,
    /// NEJM 378:439; kinetics from Stein et al. 2019, CPT:PSP 8:285): built by
    /// [`Population::eliana_with`] from [`Population::eliana_calibration`]. `CALIBRATION.md`
    /// gives each value's reason, the targets and the simulated rates.
    pub fn eliana_like() -> Self {
        Self::eliana_with(&ElianaCalibration::default()).expect("the ELIANA-like population is valid")
    }

    /// The calibrated knobs of [`Population::eliana_like`] (change fields and pass them to
    /// [`Population::eliana_with`] for a sensitivity analysis).
    pub fn eliana_calibration() -> ElianaCalibration {
        ElianaCalibration::default()
    }

    /// An ELIANA-like population with the given knobs: REF-1 with the typical values of
    /// `cal`, log-normal variability of `rho_E`, `k_kill`, `r_L`, `delta_E`, `delta_M`, `p_I`,
    /// `p_IG` (in that draw order, independent), `f0` from a Beta on `[f0_lo, f0_hi]`, a
    /// `CD19-CD22+` escape subclone, label dosing per kg (flat above 50 kg), a CD19 product
    /// with `f_mem = 0.2`, one infusion at day 0 after lymphodepletion, reactive tocilizumab
    /// and steroids, `B_0 = 1e8`.
    ///
    /// # Errors
    /// A knob outside its domain (as [`super::PopulationBuilder::build`] reports it).
    pub fn eliana_with(cal: &ElianaCalibration) -> Result<Self, InputError> {
        let mut p = Params::nominal();
        p.set("K_C", cal.k_c)?;
        p.set("rho_E", cal.rho_e)?;
        p.set("delta_E", cal.delta_e)?;
        p.set("k_EM", cal.k_em)?;
        p.set("delta_M", cal.delta_m)?;
        p.set("p_I", cal.p_i)?;
        p.set("p_IG", cal.p_ig)?;
        Population::builder(p)
            .variability("rho_E", cal.cv_rho_e)
            .variability("k_kill", cal.cv_k_kill)
            .variability("r_L", cal.cv_r_l)
            .variability("delta_E", cal.cv_delta_e)
            .variability("delta_M", cal.cv_delta_m)
            .variability("p_I", cal.cv_p_i)
            .variability("p_IG", cal.cv_p_ig)
            .f0(Fraction::Beta { a: cal.f0_a, b: cal.f0_b, lo: cal.f0_lo, hi: cal.f0_hi })
            .escape(Some(EscapeSubclone {
                phenotype: Phenotype::CD19_NEG,
                probability: cal.escape_probability,
                fraction: Amount::LogUniform { lo: cal.escape_lo, hi: cal.escape_hi },
            }))
            .dose(Dose::PerKg {
                cells_per_kg: Amount::LogUniform { lo: cal.per_kg_lo, hi: cal.per_kg_hi },
                weight: BodyWeight { median_kg: cal.weight_median_kg, cv: cal.weight_cv, min_kg: 10.0, max_kg: 120.0 },
                flat_above_kg: Some((50.0, Amount::LogUniform { lo: cal.flat_lo, hi: cal.flat_hi })),
            })
            .f_mem(Fraction::Fixed(0.2))
            .product(Product::cd19())
            .regimen(RegimenTemplate::default())
            .b0(1e8)
            .build()
    }
}
