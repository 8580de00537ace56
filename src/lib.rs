//! # cartkin: CAR-T cell therapy for B-ALL, simulated exactly and in bulk
//!
//! cartkin solves the CAR-T kinetics model of `MODEL.md` for one patient, with events
//! located exactly in time, reads off the clinical endpoints, and runs reproducible
//! parallel virtual trials.
//!
//! ## A tour in workflow order
//!
//! **1. The model and its parameters.** [`Params::nominal`] is the reference set REF-1; every
//! value is a public, validated default (units in the field docs).
//!
//! ```
//! use cartkin::Params;
//! let mut p = Params::nominal();
//! p.set("k_kill", 1.0)?;                 // by MODEL.md name, domain-checked
//! assert!(p.set("k_I", 0.0).is_err());   // IL-6 clearance must be > 0
//! # Ok::<(), cartkin::InputError>(())
//! ```
//!
//! **2. A patient, a product and a regimen.** The patient is the state before the day-0
//! infusion; the regimen is plain data (infusions, lymphodepletion, tocilizumab and steroid
//! policies).
//!
//! ```
//! use cartkin::{Patient, Phenotype, Product, Regimen, Scenario, Params, TociPolicy};
//! let patient = Patient::from_marrow(0.3, &[(Phenotype::DOUBLE_POS, 0.999), (Phenotype::CD19_NEG, 0.001)], 5e11, 1e8)?;
//! let regimen = Regimen::single_dose(2e8)?.with_tocilizumab(TociPolicy::None)?;
//! let sc = Scenario::new("my patient", Params::nominal(), patient, Product::cd19(), regimen, 365.0)?;
//! # Ok::<(), cartkin::InputError>(())
//! ```
//!
//! **3. One patient.** [`simulate`] integrates piecewise between events (Dormand–Prince 5(4)
//! with dense output), locates every threshold crossing as a root, and returns the endpoints,
//! the event log, a trajectory and solver statistics.
//!
//! ```
//! use cartkin::{simulate, OutputSpec, Scenario, SolverConfig};
//! let sol = simulate(&Scenario::nominal(), &SolverConfig::default(), &OutputSpec::default())?;
//! let e = &sol.endpoints;
//! assert!(e.cr_day28 && e.mrd_neg_day28);
//! assert_eq!(e.crs_grade, 3);
//! for ev in &sol.events { println!("day {:8.3}  {}", ev.t, ev.kind.name()); }
//! # Ok::<(), cartkin::Error>(())
//! ```
//!
//! **4. Endpoints** ([`Endpoints`]) follow MODEL.md section 5: CR and MRD at day 28,
//! relapse and its phenotype, cure by extinction, EFS, Cmax/Tmax/AUC, CRS grade and onset,
//! B-cell recovery.
//!
//! **5. Scenario files** in the reference JSON format load with [`Scenario::from_json_str`]
//! or [`Scenario::from_path`]; endpoints and trajectories write in the reference formats
//! ([`io`]).
//!
//! ## Equations (MODEL.md section 3)
//!
//! ```text
//! C = E + M + X,  phi = max(0, 1 - C/K_C),  A = sum_j e_j L_j + e_B B,  s = A/(K_A + A)
//! u = 1 - eps_S S(t),  h(t) = rho_LD exp(-t/tau_LD),  kill_j = k_kill e_j E L_j/(K_k + E + L_j)
//! dE/dt   = (rho_E u s + h) phi E + rho_M u s M - (delta_E + k_EM + k_X s) E
//! dM/dt   = k_EM E - rho_M u s M - delta_M M
//! dX/dt   = k_X s E - delta_X X
//! dL_j/dt = r_L L_j (1 - L_tot/K_L) - kill_j          (integrated as ln L_j)
//! dB/dt   = s_B - delta_B B - kill_B
//! dG/dt   = p_G 1e-9 u s E - k_G (G - G_0)
//! dI/dt   = u (p_I 1e-9 (sum_j kill_j + kill_B) + p_IG G) - k_I (1 - c_T T) (I - I_0)
//! I_eff   = I (1 - eps_T T)                            (the CRS driver)
//! ```
// No unsafe code but one call: the 4-lane batch solver's run-time SIMD dispatch
// (src/ode/batch.rs, `Dopri5Batch::solve`), taken only after the CPU feature check.
#![deny(unsafe_code)]
#![deny(missing_docs)]
// Numeric kernels index several arrays with one loop variable, and `!(x > 0.0)` is the
// deliberate way to send NaN down the error branch.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

pub mod bind;
pub mod calibrate;
pub mod endpoints;
pub mod error;
pub mod io;
pub mod journey;
mod locate;
pub mod model;
pub mod ode;
pub mod patient;
pub mod population;
pub mod regimen;
#[cfg(feature = "sbml")]
pub mod sbml;
pub mod scenario;
pub mod sensitivity;
pub mod solve;
pub mod state;
pub mod study;
pub mod summary;
pub mod trial;

pub use endpoints::{Definitions, Endpoints, Event, EventKind, Observed};
pub use error::{Error, InputError, ScenarioError, SolveError, SolveFailure};
pub use model::{
    Antigen, AntigenSet, Drug, Invariants, MinimalInit, MinimalParams, MinimalSolver, Model, ModelInfo, Observable,
    Params, Phenotype,
};
pub use ode::{Method, Stats};
pub use patient::Patient;
pub use regimen::{Infusion, PolicyRules, Product, Regimen, SteroidPolicy, TociPolicy};
pub use scenario::Scenario;
pub use solve::{run_model, simulate, AtolScales, Grid, OutputSpec, Row, Solution, SolverConfig};

/// The README's Rust snippets, compiled and run as doctests so that they stay correct.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
