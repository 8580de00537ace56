//! Model parameters (MODEL.md section 6) with the reference set REF-1 as defaults.

use crate::error::InputError;
use serde::Serialize;

/// A parameter struct: fields with defaults, names, domains and by-name access (used for
/// the reference model's [`Params`] and model v2's [`crate::model::v2::ParamsV2`]).
macro_rules! params {
    ($(#[$meta:meta])* struct $Params:ident; $( $(#[doc = $doc:literal])* $field:ident : $name:literal = $val:expr, $dom:ident; )*) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $Params {
            $( $(#[doc = $doc])* pub $field: f64, )*
        }

        impl $Params {
            /// The default parameter set (REF-1 of MODEL.md section 6 for [`Params`](crate::Params)).
            pub fn nominal() -> Self {
                Self { $( $field: $val, )* }
            }

            /// Every parameter name, in MODEL.md spelling and table order.
            pub const NAMES: &'static [&'static str] = &[$( $name, )*];

            /// Index of a parameter in [`Self::NAMES`] (resolve a name once, then use
            /// [`Self::get_index`] / [`Self::set_index`] per draw).
            pub fn index_of(name: &str) -> Option<usize> {
                Self::NAMES.iter().position(|n| *n == name)
            }

            /// Value of parameter `i` of [`Self::NAMES`] (NaN for an index out of range).
            pub fn get_index(&self, i: usize) -> f64 {
                let mut k = 0usize;
                $( if k == i { return self.$field; } k += 1; )*
                let _ = k;
                f64::NAN
            }

            /// Set parameter `i` of [`Self::NAMES`], checking its own domain.
            ///
            /// # Errors
            /// The domain error of that parameter, or an index out of range.
            pub fn set_index(&mut self, i: usize, value: f64) -> Result<(), InputError> {
                let mut k = 0usize;
                $( if k == i { $crate::error::Domain::$dom.check(concat!("parameters.", $name), value)?; self.$field = value; return Ok(()); } k += 1; )*
                let _ = k;
                Err(InputError::UnknownParameter { field: "parameters".into(), name: format!("#{i}") })
            }

            /// Value of a parameter by its MODEL.md name (`None` for an unknown name).
            pub fn get(&self, name: &str) -> Option<f64> {
                match name {
                    $( $name => Some(self.$field), )*
                    _ => None,
                }
            }

            /// Set a parameter by its MODEL.md name, checking its own domain (cross-field
            /// rules such as ordered CRS thresholds are checked by [`Self::validate`]).
            ///
            /// # Errors
            /// [`InputError::UnknownParameter`] for a name the model does not have, or the
            /// domain error of that parameter.
            pub fn set(&mut self, name: &str, value: f64) -> Result<(), InputError> {
                let field = format!("parameters.{name}");
                match name {
                    $( $name => { $crate::error::Domain::$dom.check(&field, value)?; self.$field = value; } )*
                    _ => return Err(InputError::UnknownParameter { field: "parameters".into(), name: name.into() }),
                }
                Ok(())
            }

            fn check_domains(&self) -> Result<(), InputError> {
                $( $crate::error::Domain::$dom.check(concat!("parameters.", $name), self.$field)?; )*
                Ok(())
            }
        }
    };
}

pub(crate) use params;

params! {
    /// Parameters of the reference model (MODEL.md section 6).
    ///
    /// Every field is a user-settable default; [`Params::nominal`] gives REF-1. Fields are
    /// public for reading and for building sweeps, and are checked as a whole by
    /// [`Params::validate`] (which every constructor that takes `Params`, such as
    /// [`crate::Scenario::new`], calls). By-name access uses the MODEL.md spelling
    /// (`"rho_E"`, `"K_C"`, ...): [`Params::get`], [`Params::set`].
    struct Params;
    /// Max antigen-driven effector expansion `rho_E` (1/day).
    rho_e: "rho_E" = 1.0, NonNeg;
    /// Antigen load for half-maximal stimulation `K_A` (cells).
    k_a: "K_A" = 1e10, Pos;
    /// Effector death `delta_E` (1/day).
    delta_e: "delta_E" = 0.3, NonNeg;
    /// Effector to memory `k_EM` (1/day).
    k_em: "k_EM" = 0.05, NonNeg;
    /// Memory reactivation to effector `rho_M` (1/day).
    rho_m: "rho_M" = 0.5, NonNeg;
    /// Memory death `delta_M` (1/day).
    delta_m: "delta_M" = 0.005, NonNeg;
    /// Exhaustion at full stimulation `k_X` (1/day).
    k_x: "k_X" = 0.1, NonNeg;
    /// Exhausted cell death `delta_X` (1/day).
    delta_x: "delta_X" = 0.5, NonNeg;
    /// CAR-T carrying capacity `K_C` (cells); `f64::INFINITY` = no capacity.
    k_c: "K_C" = 5e11, PosOrInf;
    /// Homeostatic boost after lymphodepletion `rho_LD` (1/day).
    rho_ld: "rho_LD" = 0.3, NonNeg;
    /// Decay of the lymphodepletion boost `tau_LD` (day).
    tau_ld: "tau_LD" = 7.0, Pos;
    /// Max killing per effector `k_kill` (1/day).
    k_kill: "k_kill" = 2.0, NonNeg;
    /// Killing saturation `K_k` (cells).
    k_k: "K_k" = 1e8, Pos;
    /// Killing weight of CD19 `w_CD19`.
    w_cd19: "w_CD19" = 1.0, NonNeg;
    /// Killing weight of CD22 `w_CD22` (lower antigen density).
    w_cd22: "w_CD22" = 0.6, NonNeg;
    /// Blast net growth rate `r_L` (1/day).
    r_l: "r_L" = 0.05, NonNeg;
    /// Blast carrying capacity `K_L` (cells).
    k_l: "K_L" = 5e12, Pos;
    /// Normal marrow nucleated cells `H` (cells).
    h: "H" = 5e11, Pos;
    /// B-cell production `s_B` (cells/day).
    s_b: "s_B" = 1e8, NonNeg;
    /// B-cell turnover `delta_B` (1/day).
    delta_b: "delta_B" = 0.1, NonNeg;
    /// IFN-gamma production `p_G` (pg/mL/day per 1e9 stimulated effectors).
    p_g: "p_G" = 400.0, NonNeg;
    /// IFN-gamma clearance `k_G` (1/day).
    k_g: "k_G" = 8.0, Pos;
    /// IFN-gamma baseline `G_0` (pg/mL).
    g_0: "G_0" = 5.0, NonNeg;
    /// IL-6 release per 1e9 kills `p_I` (pg/mL/day per 1e9 cells/day).
    p_i: "p_I" = 100.0, NonNeg;
    /// IL-6 induction by IFN-gamma `p_IG` (1/day).
    p_ig: "p_IG" = 10.0, NonNeg;
    /// IL-6 clearance `k_I` (1/day).
    k_i: "k_I" = 8.0, Pos;
    /// IL-6 baseline `I_0` (pg/mL).
    i_0: "I_0" = 5.0, NonNeg;
    /// Fraction of IL-6 signalling blocked by tocilizumab `eps_T`.
    eps_t: "eps_T" = 0.9, Unit;
    /// Fraction of IL-6 clearance blocked by tocilizumab `c_T`.
    c_t: "c_T" = 0.5, Unit;
    /// Steroid suppression of expansion and cytokines `eps_S`.
    eps_s: "eps_S" = 0.5, Unit;
    /// Memory fraction of the product `f_mem`.
    f_mem: "f_mem" = 0.2, Unit;
    /// Extinction level `n_ext` (cells); 0 switches extinction off.
    n_ext: "n_ext" = 1.0, NonNeg;
}

impl Default for Params {
    fn default() -> Self {
        Self::nominal()
    }
}

impl Params {
    /// REF-1 with the switches of the minimal model (MODEL.md section 7): no exhaustion, no
    /// IFN-gamma, no lymphodepletion, no capacity, no extinction, `f_mem = 0`, and the
    /// minimal model's values. Use it with a patient of one CD19+ (`CD19+CD22-`) and one
    /// CD19- (`CD19-CD22-`) phenotype, a CD19 product and policies `none`.
    pub fn minimal() -> Self {
        Self {
            rho_e: 1.0,
            k_a: 1e9,
            delta_e: 0.3,
            k_em: 0.05,
            rho_m: 0.5,
            delta_m: 0.005,
            k_x: 0.0,
            k_c: f64::INFINITY,
            rho_ld: 0.0,
            k_kill: 2.0,
            k_k: 1e9,
            r_l: 0.05,
            k_l: 1e12,
            s_b: 1e8,
            delta_b: 0.1,
            p_g: 0.0,
            p_ig: 0.0,
            p_i: 100.0,
            k_i: 8.0,
            i_0: 5.0,
            f_mem: 0.0,
            n_ext: 0.0,
            ..Self::nominal()
        }
    }

    /// Check every domain of MODEL.md section 6.
    ///
    /// # Errors
    /// The first violation found, naming the field (`parameters.<name>`) and the value.
    pub fn validate(&self) -> Result<(), InputError> {
        self.check_domains()
    }
}
