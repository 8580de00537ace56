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
    /// Typical `K_A` (cells).
    pub k_a: f64,
    /// CV of `K_A`.
    pub cv_k_a: f64,
    /// CV of `rho_E`.
    pub cv_rho_e: f64,
    /// CV of `k_EM`.
    pub cv_k_em: f64,
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
    /// Typical memory reactivation `rho_M` (1/day).
    pub rho_m: f64,
    /// CV of `rho_M`.
    pub cv_rho_m: f64,
    /// Typical killing saturation `K_k` (cells).
    pub k_k: f64,
    /// CV of `K_k`.
    pub cv_k_k: f64,
    /// Typical maximal killing rate `k_kill` (1/day).
    pub k_kill: f64,
}

impl Default for ElianaCalibration {
    /// The calibrated values (CALIBRATION.md). REF-1 values are kept unless a target needs
    /// otherwise; every change has a reason:
    /// - `K_C = 1.4e12` (REF-1 5e11): the peak cannot exceed `K_C`, so `cmax_fold <= K_C /
    ///   dose`; at the label's median dose (~1e8 cells) 5e11 caps the fold near 5,000 and
    ///   leaves the median ~1,700 with a late plateau (Tmax 17 d). 1.4e12 gives a median
    ///   ~3,400-fold (Stein 2019: ~3,900) with a peak near day 9.
    /// - `rho_E = 1.4 /day` (1.0), CV 0.6 (REF-1 population 0.4): a doubling time of ~0.6 day
    ///   at full stimulation puts the median peak at day 9-10 (Stein 2019); the wider CV makes
    ///   the primary non-responders (poor expanders, ~20% of ELIANA).
    /// - `delta_E` CV 2.5 (typical 0.3 kept): effector survival differs between products
    ///   and patients; short-lived effectors expand less (non-response, no CRS) and contract
    ///   fast. Together with `rho_E` it sets the CR rate and the grade-0 CRS share.
    /// - `k_EM = 0.01 /day` (0.05): less memory, nearer the ~0.8% persisting fraction of Stein
    ///   2019 (REF-1 keeps ~5% of the peak at 6 months; here ~0.1%).
    /// - `k_kill = 3 /day` (2) and `K_k = 8e9` cells (1e8): killing saturates only when
    ///   effectors are plentiful. At the expansion peak (1e10-1e12 effectors) killing is
    ///   fast, so responders are MRD-negative at day 28; after contraction the remaining
    ///   effectors no longer hold residual CD19+ blasts (`(K_k + L) r_L / k_kill` ~ 1.3e8
    ///   effectors are needed), which then regrow: with REF-1's `K_k` the remaining memory
    ///   held them for good and 99% of relapses were CD19-negative (ELIANA: ~3 in 4).
    /// - `p_I = 10` (100, CV 0.4) and `p_IG = 2.5` (10): with REF-1 cytokine yields every
    ///   expander reaches grade 3-4 (97% any, 69% severe); IL-6 per kill and per IFN-gamma
    ///   lowered 10x and 4x put ~45% at grade 3-4 and ~17% at grade 0 with the Penn
    ///   thresholds `theta_1..4`, `theta_toci`, `theta_ster` unchanged.
    /// - `f0 = 0.05 + 0.92 Beta(1.3, 1.0)`: >= 5% blasts at screening (eligibility), spread
    ///   wide at infusion, median ~57% (many > 50%).
    /// - Escape subclone `CD19-CD22+` in half of the patients at `10^U(-9, -5.5)` of the
    ///   blasts: small enough that responders are MRD-negative at day 28 (a clone above
    ///   ~5e7 cells at day 28 is MRD-positive), large enough to regrow to 5% within a year
    ///   in most carriers (relapse-free at 12 months ~60%, most relapses CD19-negative).
    /// - Dose per kg of a log-normal weight (median 35 kg, CV 0.5, 10-120 kg): log-uniform
    ///   1.8-5.0e6 cells/kg up to 50 kg (median 3e6/kg, ELIANA median 3.1e6/kg; the label's
    ///   0.2e6/kg floor was rare), above 50 kg a flat log-uniform 0.6-2.5e8 cells (label
    ///   0.1-2.5e8).
    /// - `r_L` CV 0.4 and `k_kill` CV 0.4 as in the REF-1 reference population.
    /// - `rho_M` and `K_k` do not vary (`cv_rho_M = cv_K_k = 0`: variability there did not
    ///   improve any target).
    fn default() -> Self {
        Self {
            k_c: 1.4e12,
            rho_e: 1.4,
            delta_e: 0.3,
            k_em: 0.01,
            delta_m: 0.005,
            p_i: 10.0,
            p_ig: 2.5,
            k_a: 1e10,
            cv_k_a: 0.0,
            cv_rho_e: 0.6,
            cv_k_em: 0.0,
            cv_k_kill: 0.4,
            cv_r_l: 0.4,
            cv_delta_e: 2.5,
            cv_delta_m: 0.0,
            cv_p_i: 0.4,
            cv_p_ig: 0.0,
            f0_a: 1.3,
            f0_b: 1.0,
            f0_lo: 0.05,
            f0_hi: 0.97,
            escape_probability: 0.5,
            escape_lo: 1e-9,
            escape_hi: 3e-6,
            weight_median_kg: 35.0,
            weight_cv: 0.5,
            per_kg_lo: 1.8e6,
            per_kg_hi: 5.0e6,
            flat_lo: 0.6e8,
            flat_hi: 2.5e8,
            rho_m: 0.5,
            cv_rho_m: 0.0,
            k_k: 8e9,
            cv_k_k: 0.0,
            k_kill: 3.0,
        }
    }
}

impl ElianaCalibration {
    /// Every knob name, as [`ElianaCalibration::set`] takes it.
    pub const NAMES: &'static [&'static str] = &[
        "K_C",
        "K_A",
        "cv_K_A",
        "cv_k_EM",
        "rho_E",
        "delta_E",
        "k_EM",
        "delta_M",
        "p_I",
        "p_IG",
        "cv_rho_E",
        "cv_k_kill",
        "cv_r_L",
        "cv_delta_E",
        "cv_delta_M",
        "cv_p_I",
        "cv_p_IG",
        "f0_a",
        "f0_b",
        "f0_lo",
        "f0_hi",
        "escape_probability",
        "escape_lo",
        "escape_hi",
        "weight_median_kg",
        "weight_cv",
        "per_kg_lo",
        "per_kg_hi",
        "flat_lo",
        "flat_hi",
        "rho_M",
        "cv_rho_M",
        "K_k",
        "cv_K_k",
        "k_kill",
    ];

    fn slot(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "K_C" => &mut self.k_c,
            "rho_E" => &mut self.rho_e,
            "K_A" => &mut self.k_a,
            "cv_K_A" => &mut self.cv_k_a,
            "cv_k_EM" => &mut self.cv_k_em,
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
            "rho_M" => &mut self.rho_m,
            "cv_rho_M" => &mut self.cv_rho_m,
            "K_k" => &mut self.k_k,
            "cv_K_k" => &mut self.cv_k_k,
            "k_kill" => &mut self.k_kill,
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
    /// `cal`, independent log-normal variability of `rho_E`, `k_kill`, `r_L`, `delta_E`,
    /// `delta_M`, `p_I`, `p_IG`, `K_A`, `k_EM` (in that draw order; a parameter with CV 0 does
    /// not vary and draws nothing), `f0` from a Beta on `[f0_lo, f0_hi]`, a
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
        p.set("K_A", cal.k_a)?;
        p.set("delta_E", cal.delta_e)?;
        p.set("k_EM", cal.k_em)?;
        p.set("delta_M", cal.delta_m)?;
        p.set("p_I", cal.p_i)?;
        p.set("p_IG", cal.p_ig)?;
        p.set("rho_M", cal.rho_m)?;
        p.set("K_k", cal.k_k)?;
        p.set("k_kill", cal.k_kill)?;
        let mut b = Population::builder(p);
        for (name, cv) in [
            ("rho_E", cal.cv_rho_e),
            ("k_kill", cal.cv_k_kill),
            ("r_L", cal.cv_r_l),
            ("delta_E", cal.cv_delta_e),
            ("delta_M", cal.cv_delta_m),
            ("p_I", cal.cv_p_i),
            ("p_IG", cal.cv_p_ig),
            ("K_A", cal.cv_k_a),
            ("k_EM", cal.cv_k_em),
            ("rho_M", cal.cv_rho_m),
            ("K_k", cal.cv_k_k),
        ] {
            if cv != 0.0 {
                b = b.variability(name, cv);
            }
        }
        b.f0(Fraction::Beta { a: cal.f0_a, b: cal.f0_b, lo: cal.f0_lo, hi: cal.f0_hi })
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
