//! Dormand–Prince 5(4) (Hairer, Nørsett & Wanner, *Solving ODEs I*, II.5; the `DOPRI5`
//! code): FSAL, PI step-size control, 4th-order continuous extension. Allocation-free.

use super::fastexp::exp as fexp;
use super::{Cascade, Method, OdeSystem, Stats, Stepper, Tolerance};
use crate::error::SolveFailure;
use nalgebra::SVector;

pub(crate) const C2: f64 = 1.0 / 5.0;
pub(crate) const C3: f64 = 3.0 / 10.0;
pub(crate) const C4: f64 = 4.0 / 5.0;
pub(crate) const C5: f64 = 8.0 / 9.0;
pub(crate) const A21: f64 = 1.0 / 5.0;
pub(crate) const A31: f64 = 3.0 / 40.0;
pub(crate) const A32: f64 = 9.0 / 40.0;
pub(crate) const A41: f64 = 44.0 / 45.0;
pub(crate) const A42: f64 = -56.0 / 15.0;
pub(crate) const A43: f64 = 32.0 / 9.0;
pub(crate) const A51: f64 = 19372.0 / 6561.0;
pub(crate) const A52: f64 = -25360.0 / 2187.0;
pub(crate) const A53: f64 = 64448.0 / 6561.0;
pub(crate) const A54: f64 = -212.0 / 729.0;
pub(crate) const A61: f64 = 9017.0 / 3168.0;
pub(crate) const A62: f64 = -355.0 / 33.0;
pub(crate) const A63: f64 = 46732.0 / 5247.0;
pub(crate) const A64: f64 = 49.0 / 176.0;
pub(crate) const A65: f64 = -5103.0 / 18656.0;
pub(crate) const A71: f64 = 35.0 / 384.0;
pub(crate) const A73: f64 = 500.0 / 1113.0;
pub(crate) const A74: f64 = 125.0 / 192.0;
pub(crate) const A75: f64 = -2187.0 / 6784.0;
pub(crate) const A76: f64 = 11.0 / 84.0;
pub(crate) const E1: f64 = 71.0 / 57600.0;
pub(crate) const E3: f64 = -71.0 / 16695.0;
pub(crate) const E4: f64 = 71.0 / 1920.0;
pub(crate) const E5: f64 = -17253.0 / 339200.0;
pub(crate) const E6: f64 = 22.0 / 525.0;
pub(crate) const E7: f64 = -1.0 / 40.0;
pub(crate) const D1: f64 = -12715105075.0 / 11282082432.0;
pub(crate) const D3: f64 = 87487479700.0 / 32700410799.0;
pub(crate) const D4: f64 = -10690763975.0 / 1880347072.0;
pub(crate) const D5: f64 = 701980252875.0 / 199316789632.0;
pub(crate) const D6: f64 = -1453857185.0 / 822651844.0;
pub(crate) const D7: f64 = 69997945.0 / 29380423.0;

/// Monomial coefficients of the quartic through nodes 0, 1/4, 1/2, 3/4, 1 (row j = coefficient
/// of theta^j, column = node).
const FIT4: [[f64; 5]; 5] = [
    [1.0, 0.0, 0.0, 0.0, 0.0],
    [-25.0 / 3.0, 16.0, -12.0, 16.0 / 3.0, -1.0],
    [70.0 / 3.0, -208.0 / 3.0, 76.0, -112.0 / 3.0, 22.0 / 3.0],
    [-80.0 / 3.0, 96.0, -128.0, 224.0 / 3.0, -16.0],
    [32.0 / 3.0, -128.0 / 3.0, 64.0, -128.0 / 3.0, 32.0 / 3.0],
];
/// The same for the cubic through nodes 0, 1/4, 3/4, 1 (the embedded estimate).
const FIT3: [[f64; 4]; 4] = [
    [1.0, 0.0, 0.0, 0.0],
    [-19.0 / 3.0, 8.0, -8.0 / 3.0, 1.0],
    [32.0 / 3.0, -56.0 / 3.0, 40.0 / 3.0, -16.0 / 3.0],
    [-16.0 / 3.0, 32.0 / 3.0, -32.0 / 3.0, 16.0 / 3.0],
];

/// The moments `M_j(x) = int_0^1 exp(-x (1 - s)) s^j ds`, j = 0..4, for x >= 0, given
/// `ex = exp(-x)`: a power series below 1 ([`moments_series`]), the stable upward recursion
/// `M_j = (1 - j M_{j-1}) / x` above ([`moments_rec`]; no cancellation there:
/// `1 - exp(-x) >= 0.63`).
#[inline]
pub(crate) fn moments(x: f64, ex: f64) -> [f64; 5] {
    if x == 0.0 {
        // the series' value at 0, bit for bit (every Horner step adds c_k to a signed zero):
        // the first sample of every piece is at theta = 0
        SERIES[0]
    } else if x < 1.0 {
        moments_series(x)
    } else {
        moments_rec(x, ex)
    }
}

/// Taylor coefficients of the moments at 0, by power: `SERIES[k][j] = j! / (k + j + 1)!`,
/// k < 20 (the five moments' coefficients of one power side by side, so that the five Horner
/// recurrences below run as one vector of lanes).
const SERIES: [[f64; 5]; 20] = {
    let mut c = [[0.0; 5]; 20];
    let mut j = 0;
    while j < 5 {
        let mut v = 1.0 / (j as f64 + 1.0);
        let mut k = 0;
        while k < 20 {
            c[k][j] = v;
            v /= (k + j + 2) as f64;
            k += 1;
        }
        j += 1;
    }
    c
};

/// [`moments`] below 1: `M_j = sum_k (-x)^k j! / (k + j + 1)!` by Horner; 20 terms reach
/// 1e-19 at x = 1. Branch-free, so that four lanes of it vectorize. The five recurrences are
/// independent, each `s_j <- s_j (-x) + c_kj` from k = 19 down (the order of operations of
/// one moment, hence its bits, do not depend on how the five are interleaved).
#[inline(always)]
pub(crate) fn moments_series(x: f64) -> [f64; 5] {
    let mx = -x;
    let mut m = SERIES[19];
    for k in (0..19).rev() {
        for j in 0..5 {
            m[j] = m[j] * mx + SERIES[k][j];
        }
    }
    m
}

/// [`moments`] from 1 on (branch-free, so that four lanes of it vectorize).
#[inline(always)]
pub(crate) fn moments_rec(x: f64, ex: f64) -> [f64; 5] {
    let mut m = [0.0; 5];
    let inv = 1.0 / x;
    m[0] = (1.0 - ex) * inv;
    m[1] = (1.0 - m[0]) * inv;
    m[2] = (1.0 - 2.0 * m[1]) * inv;
    m[3] = (1.0 - 3.0 * m[2]) * inv;
    m[4] = (1.0 - 4.0 * m[3]) * inv;
    m
}

/// Value at `theta` of the cascade component `y' = src(theta) - z/h (y - b)` on a step, for the
/// quartic source with coefficients `a`, given `ex = exp(-z theta)` and the moments `m` at
/// `z theta`: `b + ex (y0 - b) + h theta sum_j a_j theta^j M_j(z theta)`.
#[inline(always)]
pub(crate) fn cascade_value_m(a: &[f64; 5], y0: f64, b: f64, h: f64, th: f64, ex: f64, m: &[f64; 5]) -> f64 {
    let mut s = 0.0;
    let mut p = 1.0;
    for j in 0..5 {
        s += a[j] * p * m[j];
        p *= th;
    }
    b + ex * (y0 - b) + h * th * s
}

#[inline]
pub(crate) fn cascade_value_ex(a: &[f64; 5], y0: f64, b: f64, z: f64, h: f64, th: f64, ex: f64) -> f64 {
    cascade_value_m(a, y0, b, h, th, ex, &moments(z * th, ex))
}

#[inline]
pub(crate) fn cascade_value(a: &[f64; 5], y0: f64, b: f64, z: f64, h: f64, th: f64) -> f64 {
    cascade_value_ex(a, y0, b, z, h, th, fexp(-z * th))
}

#[inline(always)]
pub(crate) fn poly5(a: &[f64; 5], th: f64) -> f64 {
    a[0] + th * (a[1] + th * (a[2] + th * (a[3] + th * a[4])))
}

/// The quartic (`a`) and the embedded cubic (`a3`, no `theta^4` term) through the source
/// values `s` at the nodes 0, 1/4, 1/2, 3/4, 1.
#[inline(always)]
pub(crate) fn cascade_fit(s: &[f64; 5]) -> ([f64; 5], [f64; 5]) {
    let mut a = [0.0; 5];
    for j in 0..5 {
        a[j] = FIT4[j][0] * s[0] + FIT4[j][1] * s[1] + FIT4[j][2] * s[2] + FIT4[j][3] * s[3] + FIT4[j][4] * s[4];
    }
    let mut a3 = [0.0; 5];
    for j in 0..4 {
        a3[j] = FIT3[j][0] * s[0] + FIT3[j][1] * s[1] + FIT3[j][2] * s[3] + FIT3[j][3] * s[4];
    }
    (a, a3)
}

/// `exp(-z/4)` and its powers: (`[e^{-z/4}, e^{-z/2}, e^{-3z/4}]`, `e^{-z}`).
#[inline(always)]
pub(crate) fn node_exps(e1: f64) -> ([f64; 3], f64) {
    let e2 = e1 * e1;
    ([e1, e2, e2 * e1], e2 * e2)
}

/// End value of a cascade component on a step and its local error estimate, from the fits
/// `a`, `a3` and the moments `m` at `z = rate h`: `(y1, h (v4 - v3))`.
#[inline(always)]
pub(crate) fn cascade_end(a: &[f64; 5], a3: &[f64; 5], m: &[f64; 5], y0: f64, b: f64, h: f64, ex: f64) -> (f64, f64) {
    let (mut v4, mut v3) = (0.0, 0.0);
    for j in 0..5 {
        v4 += a[j] * m[j];
        v3 += a3[j] * m[j];
    }
    (b + ex * (y0 - b) + h * v4, h * (v4 - v3))
}

/// Core dense output (Hairer's 4th-order continuous extension) at `theta` from the
/// coefficients `r0..r4` of one component.
#[inline(always)]
pub(crate) fn dense_core(r0: f64, r1: f64, r2: f64, r3: f64, r4: f64, th: f64) -> f64 {
    let th1 = 1.0 - th;
    r0 + th * (r1 + th1 * (r2 + th * (r3 + th1 * r4)))
}

pub(crate) const CASCADE_ERR_WEIGHT: f64 = 1.0;
const SAFE: f64 = 0.9;
const FAC_MIN: f64 = 0.2; // largest decrease 1/0.2
const FAC_MAX: f64 = 10.0;
const BETA: f64 = 0.04;
const EXPO1: f64 = 0.2 - BETA * 0.75;
/// ln 1e-4 (the floor of `facold`).
const LN_FACOLD_MIN: f64 = -9.210_340_371_976_184;

/// `x^BETA` for the controller, from `ln x`: `exp(BETA ln x)`.
#[inline(always)]
fn beta_pow(ln_x: f64) -> f64 {
    fexp(BETA * ln_x)
}

/// The step-size controller of one problem (Hairer's PI control with `beta = 0.04`), shared
/// by [`Dopri5`] and the lanes of [`super::Dopri5Batch`] so that both take the same steps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Control {
    pub h_next: f64,
    pub facold_beta: f64,
    pub reject_last: bool,
    pub nan_seen: bool,
    pub stats: Stats,
}

impl Control {
    pub(crate) fn new() -> Self {
        Self {
            h_next: 0.0,
            facold_beta: beta_pow(LN_FACOLD_MIN),
            reject_last: false,
            nan_seen: false,
            stats: Stats::default(),
        }
    }

    /// State after a (re)start at a new point; keeps `h_next` and the counters.
    #[inline]
    pub(crate) fn restart(&mut self) {
        self.facold_beta = beta_pow(LN_FACOLD_MIN);
        self.reject_last = false;
        self.nan_seen = false;
    }

    /// The step to attempt from `t` towards `t_end`: `(h, last)`, or why none can be.
    #[inline(always)]
    pub(crate) fn begin(&self, t: f64, t_end: f64, h_max: f64, max_steps: u64) -> Result<(f64, bool), SolveFailure> {
        if self.stats.accepted + self.stats.rejected >= max_steps {
            return Err(SolveFailure::StepLimit { max_steps });
        }
        let remaining = t_end - t;
        let mut h = self.h_next.min(h_max);
        let last = t + 1.01 * h >= t_end;
        if last {
            h = remaining;
        }
        if !(h > 16.0 * f64::EPSILON * t.abs().max(1.0)) && !last {
            return Err(if self.nan_seen { SolveFailure::NonFinite } else { SolveFailure::StepSizeUnderflow { h } });
        }
        Ok((h, last))
    }

    /// Accept or reject the attempted step `h` with the scaled error `err` (`finite`: the
    /// error and the new state are finite); sets the next step size. Returns acceptance.
    #[inline(always)]
    pub(crate) fn end(&mut self, err: f64, h: f64, last: bool, finite: bool) -> bool {
        if !finite {
            self.nan_seen = true;
            self.stats.rejected += 1;
            self.reject_last = true;
            self.h_next = h * 0.25;
            return false;
        }
        // err^EXPO1 and max(err, 1e-4)^BETA from one logarithm
        let ln_err = err.ln();
        let fac11 = fexp(EXPO1 * ln_err);
        let fac = (fac11 / self.facold_beta / SAFE).clamp(1.0 / FAC_MAX, 1.0 / FAC_MIN);
        let mut h_new = h / fac;
        if err <= 1.0 {
            self.facold_beta = beta_pow(ln_err.max(LN_FACOLD_MIN));
            self.stats.accepted += 1;
            if self.reject_last {
                h_new = h_new.min(h);
            }
            self.reject_last = false;
            self.nan_seen = false;
            // do not let a short final step (clipped to t_end) shrink the next guess
            self.h_next = if last { h_new.max(self.h_next) } else { h_new };
            return true;
        }
        self.stats.rejected += 1;
        self.reject_last = true;
        self.h_next = h / (1.0 / FAC_MIN).min(fac11 / SAFE);
        false
    }
}

#[inline(always)]
fn norm_sq_weighted<const N: usize>(v: &[f64; N], sk: &[f64; N], w: &[f64; N]) -> f64 {
    let mut s = 0.0;
    let mut n = 0.0;
    for i in 0..N {
        let q = v[i] / sk[i];
        s += w[i] * q * q;
        n += w[i];
    }
    if n > 0.0 {
        s / n
    } else {
        0.0
    }
}

/// Hairer's starting step guess, first half: the trial step `h` (to evaluate `f(t + h, y + h
/// f(t, y))` at) and the data the second half needs.
#[inline]
pub(crate) fn initial_step_trial<const N: usize>(
    y: &[f64; N],
    k1: &[f64; N],
    tol: &Tolerance<N>,
) -> (f64, [f64; N], f64) {
    let w: [f64; N] = tol.weight.into();
    let mut sk = [0.0; N];
    for i in 0..N {
        sk[i] = tol.atol[i] + tol.rtol * y[i].abs();
    }
    let dnf = norm_sq_weighted(k1, &sk, &w);
    let dny = norm_sq_weighted(y, &sk, &w);
    let h = if dnf <= 1e-10 || dny <= 1e-10 { 1e-6 } else { (dny / dnf).sqrt() * 0.01 };
    (h.min(tol.h_max), sk, dnf)
}

/// Hairer's starting step guess, second half, from `k2 = f(t + h, y + h k1)`.
#[inline]
pub(crate) fn initial_step_finish<const N: usize>(
    k1: &[f64; N],
    k2: &[f64; N],
    h: f64,
    sk: &[f64; N],
    dnf: f64,
    tol: &Tolerance<N>,
) -> f64 {
    let w: [f64; N] = tol.weight.into();
    let mut d = [0.0; N];
    for i in 0..N {
        d[i] = k2[i] - k1[i];
    }
    let der2 = norm_sq_weighted(&d, sk, &w).sqrt() / h;
    let der12 = der2.abs().max(dnf.sqrt());
    let h1 = if der12 <= 1e-15 { (h * 1e-3).max(1e-6) } else { (0.01 / der12).powf(0.2) };
    let h = (100.0 * h).min(h1).min(tol.h_max);
    if h.is_finite() && h > 0.0 {
        h
    } else {
        1e-6
    }
}

/// Dormand–Prince 5(4) stepper on `SVector<f64, N>`.
///
/// ```
/// use cartkin::ode::{Dopri5, OdeSystem, Stepper, Tolerance};
/// use nalgebra::SVector;
/// struct Decay;
/// impl OdeSystem<1> for Decay {
///     fn rhs(&self, _t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>) { dy[0] = -y[0]; }
/// }
/// let tol = Tolerance { rtol: 1e-8, atol: SVector::from([1e-10]), weight: SVector::from([1.0]),
///                       h_max: 10.0, max_steps: 10_000 };
/// let mut s = Dopri5::<1>::new();
/// s.reset(&Decay, 0.0, &SVector::from([1.0]), &tol);
/// while s.t() < 2.0 { s.step(&Decay, 2.0, &tol).unwrap(); }
/// assert!((s.y()[0] - (-2.0f64).exp()).abs() < 1e-8);
/// ```
#[derive(Debug, Clone)]
pub struct Dopri5<const N: usize> {
    t: f64,
    t_prev: f64,
    h_last: f64,
    y: SVector<f64, N>,
    k1: SVector<f64, N>,
    k2: SVector<f64, N>,
    k3: SVector<f64, N>,
    k4: SVector<f64, N>,
    k5: SVector<f64, N>,
    k6: SVector<f64, N>,
    k7: SVector<f64, N>,
    ytmp: SVector<f64, N>,
    ynew: SVector<f64, N>,
    r: [SVector<f64, N>; 5],
    ctl: Control,
    exp: bool,
    cas: Cascade,
    ca: [[f64; 5]; 4],
    cy0: [f64; 4],
    nodes: [SVector<f64, N>; 3],
    dnodes: [SVector<f64, N>; 3],
}

impl<const N: usize> Default for Dopri5<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Dopri5<N> {
    /// A stepper with zeroed workspace; call [`Stepper::reset`] before stepping.
    pub fn new() -> Self {
        let z = SVector::<f64, N>::zeros();
        Self {
            t: 0.0,
            t_prev: 0.0,
            h_last: 0.0,
            y: z,
            k1: z,
            k2: z,
            k3: z,
            k4: z,
            k5: z,
            k6: z,
            k7: z,
            ytmp: z,
            ynew: z,
            r: [z; 5],
            ctl: Control::new(),
            exp: false,
            cas: Cascade::NONE,
            ca: [[0.0; 5]; 4],
            cy0: [0.0; 4],
            nodes: [z; 3],
            dnodes: [z; 3],
        }
    }

    /// A stepper for `method` ([`Method::Dopri5`] or [`Method::Dopri5Exp`]).
    pub fn with_method(method: Method) -> Self {
        let mut s = Self::new();
        s.exp = matches!(method, Method::Dopri5Exp);
        s
    }

    /// Forget the step-size history and counters (for reuse on a new problem).
    pub fn clear(&mut self) {
        self.ctl.h_next = 0.0;
        self.ctl.stats = Stats::default();
    }

    /// Exact integration of the cascade components over the step `[t, t + h]` whose core
    /// stages are in `k1..k7` and dense coefficients in `r`: fills the cascade entries of
    /// `ynew` and `k7`, stores the source polynomials for dense output, and returns the
    /// cascade's share of the squared error sum.
    fn cascade_step<S: OdeSystem<N>>(&mut self, sys: &S, cas: &Cascade, t: f64, h: f64, tol: &Tolerance<N>) -> f64 {
        let nc = cas.n.min(4);
        let y = self.y;
        // core dense output at the interior nodes 1/4, 1/2, 3/4; cascade entries frozen at y_n
        for k in 0..3 {
            let th = (k as f64 + 1.0) * 0.25;
            for i in 0..N {
                self.nodes[k][i] = dense_core(self.r[0][i], self.r[1][i], self.r[2][i], self.r[3][i], self.r[4][i], th);
            }
            for ci in 0..nc {
                self.nodes[k][cas.idx[ci]] = y[cas.idx[ci]];
            }
        }
        let mut err = 0.0;
        let mut src4 = [0.0; 4];
        let mut have_dnodes = false;
        // the cascade components before these were already new when k7 / the node
        // derivatives were evaluated; later ones were still frozen at y_n
        let (mut k7_new, mut dn_new) = (0, 0);
        for ci in 0..nc {
            let c = cas.idx[ci];
            let (lam, b) = (cas.rate[ci], cas.base[ci]);
            let mut sn = [0.0; 3];
            let direct = sys.cascade_source(t + 0.25 * h, &self.nodes[0], ci);
            let mut s4 = None;
            if let Some(s0) = direct {
                sn[0] = s0;
                for k in 1..3 {
                    sn[k] = sys.cascade_source(t + (k as f64 + 1.0) * 0.25 * h, &self.nodes[k], ci).unwrap_or(f64::NAN);
                }
                self.stats_add_rhs(3);
                if ci > 0 && cas.coupled[ci] {
                    // the source at the end, from the new earlier components
                    s4 = Some(sys.cascade_source(t + h, &self.ynew, ci).unwrap_or(f64::NAN));
                    self.stats_add_rhs(1);
                }
            } else {
                if ci > 0 && cas.coupled[ci] {
                    // the source reads earlier (now updated) cascade values: re-evaluate at the end
                    sys.rhs_stage(t + h, &self.ynew, &mut self.k7);
                    self.stats_add_rhs(1);
                    (have_dnodes, k7_new) = (false, ci);
                }
                if !have_dnodes {
                    for k in 0..3 {
                        sys.rhs_stage(t + (k as f64 + 1.0) * 0.25 * h, &self.nodes[k], &mut self.dnodes[k]);
                    }
                    self.stats_add_rhs(3);
                    (have_dnodes, dn_new) = (true, ci);
                }
                for k in 0..3 {
                    sn[k] = self.dnodes[k][c] + lam * (self.nodes[k][c] - b);
                }
                for cj in dn_new..ci {
                    let g = cas.coupling[ci][cj];
                    if g != 0.0 {
                        let j = cas.idx[cj];
                        for k in 0..3 {
                            sn[k] += g * (self.nodes[k][j] - y[j]);
                        }
                    }
                }
            }
            let s4 = s4.unwrap_or_else(|| {
                let mut s4 = self.k7[c] + lam * (self.ynew[c] - b);
                for cj in k7_new..ci {
                    let g = cas.coupling[ci][cj];
                    if g != 0.0 {
                        let j = cas.idx[cj];
                        s4 += g * (self.ynew[j] - y[j]);
                    }
                }
                s4
            });
            let s = [self.k1[c] + lam * (y[c] - b), sn[0], sn[1], sn[2], s4];
            let (a, a3) = cascade_fit(&s);
            let z = lam * h;
            // exp(-z k/4) for k = 1..4 from one exponential
            let (ex_nodes, ex) = node_exps(fexp(-0.25 * z));
            let m = moments(z, ex);
            let (y1, e) = cascade_end(&a, &a3, &m, y[c], b, h, ex);
            let sk = tol.atol[c] + tol.rtol * y[c].abs().max(y1.abs());
            err += tol.weight[c] * (e / sk) * (e / sk) * CASCADE_ERR_WEIGHT;
            if ci + 1 < nc {
                // its new values at the nodes, for the components after it (none after the last)
                for k in 0..3 {
                    self.nodes[k][c] = cascade_value_ex(&a, y[c], b, z, h, (k as f64 + 1.0) * 0.25, ex_nodes[k]);
                }
            }
            self.ynew[c] = y1;
            src4[ci] = s[4];
            self.ca[ci] = a;
        }
        for ci in 0..nc {
            let c = cas.idx[ci];
            self.k7[c] = src4[ci] - cas.rate[ci] * (self.ynew[c] - cas.base[ci]);
        }
        err
    }

    #[inline(always)]
    fn stats_add_rhs(&mut self, n: u64) {
        self.ctl.stats.rhs_evals += n;
    }

    /// The core dense output (the Dormand-Prince quartic) of every component at `th`.
    #[inline(always)]
    fn core_value(&self, th: f64, out: &mut SVector<f64, N>) {
        for i in 0..N {
            out[i] = dense_core(self.r[0][i], self.r[1][i], self.r[2][i], self.r[3][i], self.r[4][i], th);
        }
    }

    /// Its time derivative.
    #[inline(always)]
    fn core_deriv(&self, th: f64, out: &mut SVector<f64, N>) {
        let a2 = 1.0 - 2.0 * th;
        let a3 = th * (2.0 - 3.0 * th);
        let a4 = 2.0 * th * (1.0 - th) * (1.0 - 2.0 * th);
        let inv_h = 1.0 / self.h_last;
        for i in 0..N {
            out[i] = (self.r[1][i] + a2 * self.r[2][i] + a3 * self.r[3][i] + a4 * self.r[4][i]) * inv_h;
        }
    }

    /// Cascade component `ci`'s exact value at `th` on the last step.
    #[inline(always)]
    fn cascade_at(&self, ci: usize, th: f64) -> f64 {
        let h = self.h_last;
        cascade_value(&self.ca[ci], self.cy0[ci], self.cas.base[ci], self.cas.rate[ci] * h, h, th)
    }

    /// Its time derivative, given its value `v` there: `src(th) - rate (v - base)`.
    #[inline(always)]
    fn cascade_slope(&self, ci: usize, th: f64, v: f64) -> f64 {
        poly5(&self.ca[ci], th) - self.cas.rate[ci] * (v - self.cas.base[ci])
    }
}

impl<const N: usize> Stepper<N> for Dopri5<N> {
    fn reset<S: OdeSystem<N>>(&mut self, sys: &S, t: f64, y: &SVector<f64, N>, tol: &Tolerance<N>) {
        self.t = t;
        self.t_prev = t;
        self.h_last = 0.0;
        self.y = *y;
        sys.rhs(t, &self.y, &mut self.k1);
        self.ctl.stats.rhs_evals += 1;
        self.ctl.restart();
        self.cas = Cascade::NONE;
        self.r[0] = self.y;
        for k in 1..5 {
            self.r[k].fill(0.0);
        }
        if !(self.ctl.h_next > 0.0) {
            let (y0, k1): ([f64; N], [f64; N]) = (self.y.into(), self.k1.into());
            let (h, sk, dnf) = initial_step_trial(&y0, &k1, tol);
            for i in 0..N {
                self.ytmp[i] = self.y[i] + h * self.k1[i];
            }
            sys.rhs(self.t + h, &self.ytmp, &mut self.k2);
            self.ctl.stats.rhs_evals += 1;
            let k2: [f64; N] = self.k2.into();
            self.ctl.h_next = initial_step_finish(&k1, &k2, h, &sk, dnf, tol);
        }
    }

    fn step<S: OdeSystem<N>>(&mut self, sys: &S, t_end: f64, tol: &Tolerance<N>) -> Result<(), SolveFailure> {
        self.ctl.nan_seen = false;
        let cas = if self.exp { sys.cascade() } else { Cascade::NONE };
        cas.check::<N>()?;
        let nc = cas.n;
        // inside a step with a cascade, the stage right-hand side (`OdeSystem::rhs_stage`)
        let f = |t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>| {
            if nc > 0 {
                sys.rhs_stage(t, y, dy)
            } else {
                sys.rhs(t, y, dy)
            }
        };
        let mut core_w = tol.weight;
        for ci in 0..nc {
            core_w[cas.idx[ci]] = 0.0;
        }
        loop {
            let (h, last) = self.ctl.begin(self.t, t_end, tol.h_max, tol.max_steps)?;
            if !(h > 0.0) {
                // already at t_end: nothing to do but keep a degenerate dense output
                self.t_prev = self.t;
                self.h_last = 0.0;
                self.r[0] = self.y;
                for k in 1..5 {
                    self.r[k].fill(0.0);
                }
                return Ok(());
            }
            let t = self.t;
            let y = self.y;
            macro_rules! freeze {
                ($v:expr) => {
                    for ci in 0..nc {
                        $v[cas.idx[ci]] = y[cas.idx[ci]];
                    }
                };
            }
            for i in 0..N {
                self.ytmp[i] = y[i] + h * A21 * self.k1[i];
            }
            freeze!(self.ytmp);
            f(t + C2 * h, &self.ytmp, &mut self.k2);
            for i in 0..N {
                self.ytmp[i] = y[i] + h * (A31 * self.k1[i] + A32 * self.k2[i]);
            }
            freeze!(self.ytmp);
            f(t + C3 * h, &self.ytmp, &mut self.k3);
            for i in 0..N {
                self.ytmp[i] = y[i] + h * (A41 * self.k1[i] + A42 * self.k2[i] + A43 * self.k3[i]);
            }
            freeze!(self.ytmp);
            f(t + C4 * h, &self.ytmp, &mut self.k4);
            for i in 0..N {
                self.ytmp[i] = y[i] + h * (A51 * self.k1[i] + A52 * self.k2[i] + A53 * self.k3[i] + A54 * self.k4[i]);
            }
            freeze!(self.ytmp);
            f(t + C5 * h, &self.ytmp, &mut self.k5);
            for i in 0..N {
                self.ytmp[i] = y[i]
                    + h * (A61 * self.k1[i]
                        + A62 * self.k2[i]
                        + A63 * self.k3[i]
                        + A64 * self.k4[i]
                        + A65 * self.k5[i]);
            }
            freeze!(self.ytmp);
            let t_new = if last { t_end } else { t + h };
            f(t_new, &self.ytmp, &mut self.k6);
            for i in 0..N {
                self.ynew[i] = y[i]
                    + h * (A71 * self.k1[i]
                        + A73 * self.k3[i]
                        + A74 * self.k4[i]
                        + A75 * self.k5[i]
                        + A76 * self.k6[i]);
            }
            freeze!(self.ynew);
            f(t_new, &self.ynew, &mut self.k7);
            self.ctl.stats.rhs_evals += 6;

            let mut err = 0.0;
            let mut nw = 0.0;
            for i in 0..N {
                let e = h
                    * (E1 * self.k1[i]
                        + E3 * self.k3[i]
                        + E4 * self.k4[i]
                        + E5 * self.k5[i]
                        + E6 * self.k6[i]
                        + E7 * self.k7[i]);
                let sk = tol.atol[i] + tol.rtol * y[i].abs().max(self.ynew[i].abs());
                let q = e / sk;
                err += core_w[i] * q * q;
                nw += tol.weight[i];
                let dy = self.ynew[i] - y[i];
                let bspl = h * self.k1[i] - dy;
                self.r[0][i] = y[i];
                self.r[1][i] = dy;
                self.r[2][i] = bspl;
                self.r[3][i] = dy - h * self.k7[i] - bspl;
                self.r[4][i] = h
                    * (D1 * self.k1[i]
                        + D3 * self.k3[i]
                        + D4 * self.k4[i]
                        + D5 * self.k5[i]
                        + D6 * self.k6[i]
                        + D7 * self.k7[i]);
            }
            if nc > 0 {
                err += self.cascade_step(sys, &cas, t, h, tol);
            }
            let err = if nw > 0.0 { (err / nw).sqrt() } else { 0.0 };
            let finite =
                err.is_finite() && self.ynew.iter().all(|v| v.is_finite()) && self.k7.iter().all(|v| v.is_finite());
            if self.ctl.end(err, h, last, finite) {
                self.t_prev = t;
                self.t = t_new;
                self.h_last = h;
                self.cas = cas;
                for ci in 0..nc {
                    self.cy0[ci] = y[cas.idx[ci]];
                }
                let nonneg = sys.non_negative();
                for i in 0..N.min(64) {
                    if nonneg >> i & 1 == 1 && self.ynew[i] < 0.0 {
                        self.ynew[i] = 0.0;
                    }
                }
                self.y = self.ynew;
                self.k1 = self.k7;
                return Ok(());
            }
        }
    }

    fn t_prev(&self) -> f64 {
        self.t_prev
    }

    fn t(&self) -> f64 {
        self.t
    }

    fn y(&self) -> &SVector<f64, N> {
        &self.y
    }

    fn dy(&self) -> &SVector<f64, N> {
        &self.k1
    }

    fn dense(&self, t: f64, out: &mut SVector<f64, N>) {
        if self.h_last == 0.0 {
            *out = self.y;
            return;
        }
        let th = (t - self.t_prev) / self.h_last;
        self.core_value(th, out);
        for ci in 0..self.cas.n.min(4) {
            out[self.cas.idx[ci]] = self.cascade_at(ci, th);
        }
    }

    fn dense_deriv(&self, t: f64, out: &mut SVector<f64, N>) {
        if self.h_last == 0.0 {
            *out = self.k1;
            return;
        }
        let th = (t - self.t_prev) / self.h_last;
        self.core_deriv(th, out);
        for ci in 0..self.cas.n.min(4) {
            out[self.cas.idx[ci]] = self.cascade_slope(ci, th, self.cascade_at(ci, th));
        }
    }

    /// The value and the derivative at once: each cascade component's value (an exponential
    /// and its moments) is computed once for both, with the same operations as in
    /// [`Stepper::dense`] and [`Stepper::dense_deriv`].
    fn dense_both(&self, t: f64, y: &mut SVector<f64, N>, dy: &mut SVector<f64, N>) {
        if self.h_last == 0.0 {
            *y = self.y;
            *dy = self.k1;
            return;
        }
        let th = (t - self.t_prev) / self.h_last;
        self.core_value(th, y);
        self.core_deriv(th, dy);
        for ci in 0..self.cas.n.min(4) {
            let v = self.cascade_at(ci, th);
            y[self.cas.idx[ci]] = v;
            dy[self.cas.idx[ci]] = self.cascade_slope(ci, th, v);
        }
    }

    /// Core components: the quartic `r0 + th r1 + th (1 - th) (r2 + th r3 + th (1 - th) r4)`
    /// lies within `|r2| + |r3| + |r4| / 4` times `max th (1 - th) = 1/4` of the chord
    /// between `r0` and `r0 + r1`. Cascade components: the exact solution for a source
    /// between the quartic source's bounds `[S_lo, S_hi]` (its constant term plus its negative,
    /// resp. positive, other coefficients on `[0, 1]`) is a convex combination of `y0 - b`
    /// and `S / rate` (shifted by `b`). Both widened by 1e-9 of the magnitudes involved, far
    /// above the rounding of the dense output's evaluation.
    fn dense_box(&self, lo: &mut SVector<f64, N>, hi: &mut SVector<f64, N>) -> bool {
        const MARGIN: f64 = 1e-9;
        if self.h_last == 0.0 {
            for i in 0..N {
                let m = MARGIN * self.y[i].abs();
                lo[i] = self.y[i] - m;
                hi[i] = self.y[i] + m;
            }
        } else {
            for i in 0..N {
                let (r0, r1) = (self.r[0][i], self.r[1][i]);
                let q = 0.25 * (self.r[2][i].abs() + self.r[3][i].abs() + 0.25 * self.r[4][i].abs());
                let m = q + MARGIN * (r0.abs() + r1.abs() + q);
                let end = r0 + r1;
                lo[i] = r0.min(end) - m;
                hi[i] = r0.max(end) + m;
            }
            let h = self.h_last;
            for ci in 0..self.cas.n.min(4) {
                let c = self.cas.idx[ci];
                let a = &self.ca[ci];
                let (b, lam) = (self.cas.base[ci], self.cas.rate[ci]);
                let (mut s_lo, mut s_hi) = (a[0], a[0]);
                for &ak in &a[1..] {
                    if ak < 0.0 {
                        s_lo += ak;
                    } else {
                        s_hi += ak;
                    }
                }
                let d0 = self.cy0[ci] - b;
                let (d_lo, d_hi) = if lam > 0.0 {
                    (d0.min(s_lo / lam), d0.max(s_hi / lam))
                } else {
                    (d0 + (h * s_lo).min(0.0), d0 + (h * s_hi).max(0.0))
                };
                let m = MARGIN * (b.abs() + d_lo.abs() + d_hi.abs());
                lo[c] = b + d_lo - m;
                hi[c] = b + d_hi + m;
            }
        }
        lo.iter().chain(hi.iter()).all(|v| !v.is_nan())
    }

    fn stats(&self) -> Stats {
        self.ctl.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Osc;
    impl OdeSystem<2> for Osc {
        fn rhs(&self, _t: f64, y: &SVector<f64, 2>, dy: &mut SVector<f64, 2>) {
            dy[0] = y[1];
            dy[1] = -y[0];
        }
    }

    fn tol(rtol: f64) -> Tolerance<2> {
        Tolerance {
            rtol,
            atol: SVector::from([rtol, rtol]),
            weight: SVector::from([1.0, 1.0]),
            h_max: 100.0,
            max_steps: 100_000,
        }
    }

    #[test]
    fn harmonic_oscillator_and_dense_output_match_sin_cos() {
        // y = (sin t, cos t); analytic solution, tolerance 1e-8 at rtol 1e-10.
        let tol = tol(1e-10);
        let mut s = Dopri5::<2>::new();
        s.reset(&Osc, 0.0, &SVector::from([0.0, 1.0]), &tol);
        let mut out = SVector::<f64, 2>::zeros();
        let mut dout = SVector::<f64, 2>::zeros();
        while s.t() < 10.0 {
            s.step(&Osc, 10.0, &tol).unwrap();
            let tm = 0.5 * (s.t_prev() + s.t());
            s.dense(tm, &mut out);
            s.dense_deriv(tm, &mut dout);
            assert!((out[0] - tm.sin()).abs() < 1e-8, "dense sin at {tm}");
            assert!((dout[0] - tm.cos()).abs() < 1e-6, "dense derivative at {tm}");
        }
        assert_eq!(s.t(), 10.0);
        assert!((s.y()[0] - 10f64.sin()).abs() < 1e-8);
        assert!((s.y()[1] - 10f64.cos()).abs() < 1e-8);
    }

    #[test]
    fn step_limit_is_reported() {
        let mut t = tol(1e-12);
        t.max_steps = 5;
        let mut s = Dopri5::<2>::new();
        s.reset(&Osc, 0.0, &SVector::from([0.0, 1.0]), &t);
        let mut r = Ok(());
        while s.t() < 10.0 && r.is_ok() {
            r = s.step(&Osc, 10.0, &t);
        }
        assert_eq!(r, Err(SolveFailure::StepLimit { max_steps: 5 }));
    }

    struct Blowup;
    impl OdeSystem<1> for Blowup {
        fn rhs(&self, _t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>) {
            dy[0] = y[0] * y[0]; // y = 1/(1-t): infinite at t = 1
        }
    }

    #[test]
    fn finite_time_blowup_fails_cleanly() {
        let t = Tolerance {
            rtol: 1e-6,
            atol: SVector::from([1e-6]),
            weight: SVector::from([1.0]),
            h_max: 1.0,
            max_steps: 1_000_000,
        };
        let mut s = Dopri5::<1>::new();
        s.reset(&Blowup, 0.0, &SVector::from([1.0]), &t);
        let mut r = Ok(());
        while s.t() < 2.0 && r.is_ok() {
            r = s.step(&Blowup, 2.0, &t);
        }
        assert!(r.is_err(), "must fail at the pole");
        // stuck at the numerical pole, which the global error (rtol 1e-6) puts within ~1e-6
        // of t = 1 (it is at 1 + 3.2e-7 with the current step control)
        assert!(s.t() < 1.0 + 1e-5, "stepped past the pole to {}", s.t());
    }
}

#[cfg(test)]
mod cascade_tests {
    use super::*;

    /// A user system whose cascade names a component outside its 2-component state.
    struct BadCascade(Cascade);
    impl OdeSystem<2> for BadCascade {
        fn rhs(&self, _t: f64, y: &SVector<f64, 2>, dy: &mut SVector<f64, 2>) {
            dy[0] = -y[0];
            dy[1] = y[0] - 8.0 * y[1];
        }
        fn cascade(&self) -> Cascade {
            self.0
        }
    }

    fn run(c: Cascade) -> Result<f64, SolveFailure> {
        let tol = Tolerance {
            rtol: 1e-8,
            atol: SVector::from([1e-10, 1e-10]),
            weight: SVector::from([1.0, 1.0]),
            h_max: 1.0,
            max_steps: 10_000,
        };
        let sys = BadCascade(c);
        let mut s = Dopri5::<2>::with_method(Method::Dopri5Exp);
        s.reset(&sys, 0.0, &SVector::from([1.0, 0.0]), &tol);
        while s.t() < 1.0 {
            s.step(&sys, 1.0, &tol)?;
        }
        Ok(s.y()[1])
    }

    /// A core oscillator feeding a two-component cascade: the second component's source
    /// reads the first (coupled), and its clearance is `rate` (0 allowed).
    struct Fed(f64);
    impl OdeSystem<4> for Fed {
        fn rhs(&self, _t: f64, y: &SVector<f64, 4>, dy: &mut SVector<f64, 4>) {
            dy[0] = y[1];
            dy[1] = -y[0];
            dy[2] = 5.0 * (1.0 + y[0]) * (1.0 + y[0]) - 8.0 * (y[2] - 0.1);
            dy[3] = 3.0 * y[2] + y[1] * y[1] - self.0 * y[3];
        }
        fn cascade(&self) -> Cascade {
            Cascade {
                n: 2,
                idx: [2, 3, 0, 0],
                rate: [8.0, self.0, 0.0, 0.0],
                base: [0.1, 0.0, 0.0, 0.0],
                coupled: [false, true, false, false],
                ..Cascade::NONE
            }
        }
    }

    /// The box of every step contains the dense output at 201 points of the step (ends
    /// included), for the core and both cascade components, with and without clearance.
    #[test]
    fn the_dense_box_contains_the_dense_output() {
        for rate in [0.5, 0.0] {
            let sys = Fed(rate);
            let tol = Tolerance {
                rtol: 1e-6,
                atol: SVector::from([1e-8; 4]),
                weight: SVector::from([1.0; 4]),
                h_max: 2.0,
                max_steps: 100_000,
            };
            let mut s = Dopri5::<4>::with_method(Method::Dopri5Exp);
            s.reset(&sys, 0.0, &SVector::from([0.0, 1.0, 2.0, -1.0]), &tol);
            let (mut lo, mut hi, mut y) = (SVector::zeros(), SVector::zeros(), SVector::zeros());
            let mut steps = 0;
            while s.t() < 20.0 {
                s.step(&sys, 20.0, &tol).unwrap();
                assert!(s.dense_box(&mut lo, &mut hi));
                let (ta, tb) = (s.t_prev(), s.t());
                for k in 0..=200 {
                    let t = if k == 200 { tb } else { ta + (tb - ta) * f64::from(k) / 200.0 };
                    s.dense(t, &mut y);
                    for i in 0..4 {
                        assert!(
                            lo[i] <= y[i] && y[i] <= hi[i],
                            "rate {rate}, t {t}, component {i}: {} not in [{}, {}]",
                            y[i],
                            lo[i],
                            hi[i]
                        );
                    }
                }
                steps += 1;
            }
            assert!(steps > 10, "{steps} steps");
        }
    }

    /// `y0' = -y0`, `y1' = y0 - 8 y1`, `y2' = 3 y1 - 5 y2`, the IL-6 source reading the
    /// cascade's first component three ways: `coupled` (the right-hand side evaluated again),
    /// affine (`coupling`), and `coupled` with the source given directly (ways 2 and 3, the
    /// latter with a stage right-hand side that leaves that component's derivative out).
    struct Chain(u8);
    impl OdeSystem<3> for Chain {
        fn rhs(&self, _t: f64, y: &SVector<f64, 3>, dy: &mut SVector<f64, 3>) {
            dy[0] = -y[0];
            dy[1] = y[0] - 8.0 * y[1];
            dy[2] = 3.0 * y[1] - 5.0 * y[2];
        }
        fn cascade(&self) -> Cascade {
            let c = Cascade { n: 2, idx: [1, 2, 0, 0], rate: [8.0, 5.0, 0.0, 0.0], ..Cascade::NONE };
            match self.0 {
                0 => Cascade { coupled: [false, true, false, false], ..c },
                1 => Cascade { coupling: [[0.0; 4], [3.0, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4]], ..c },
                _ => Cascade { coupled: [false, true, false, false], ..c },
            }
        }
        fn cascade_source(&self, _t: f64, y: &SVector<f64, 3>, ci: usize) -> Option<f64> {
            (self.0 >= 2).then(|| if ci == 0 { y[0] } else { 3.0 * y[1] })
        }
        /// Way 3: the coupled component with a direct source left out inside a step.
        fn rhs_stage(&self, t: f64, y: &SVector<f64, 3>, dy: &mut SVector<f64, 3>) {
            self.rhs(t, y, dy);
            if self.0 == 3 {
                dy[2] = 1e300;
            }
        }
    }

    /// The three ways agree with the analytic `y2 = 3 e^-t / 28 + e^-8t / 7 - e^-5t / 4` (from
    /// `y1 = (e^-t - e^-8t) / 7`) to 1e-8 at rtol 1e-9, on the dense output as well, and with
    /// each other to 1e-10; the affine and the direct ones need no evaluation at the end.
    #[test]
    fn a_coupled_cascade_is_the_same_solution_coupled_affine_or_direct() {
        let tol = Tolerance {
            rtol: 1e-9,
            atol: SVector::from([1e-12; 3]),
            weight: SVector::from([1.0; 3]),
            h_max: f64::INFINITY,
            max_steps: 100_000,
        };
        let exact = |t: f64| 3.0 * (-t).exp() / 28.0 + (-8.0 * t).exp() / 7.0 - (-5.0 * t).exp() / 4.0;
        let mut runs = Vec::new();
        for way in 0..4u8 {
            let sys = Chain(way);
            let mut s = Dopri5::<3>::with_method(Method::Dopri5Exp);
            s.reset(&sys, 0.0, &SVector::from([1.0, 0.0, 0.0]), &tol);
            let (mut vals, mut y) = (Vec::new(), SVector::zeros());
            while s.t() < 4.0 {
                s.step(&sys, 4.0, &tol).unwrap();
                let t = 0.5 * (s.t_prev() + s.t());
                s.dense(t, &mut y);
                assert!((y[2] - exact(t)).abs() < 1e-8, "way {way}, t {t}: {} vs {}", y[2], exact(t));
                assert!((s.y()[2] - exact(s.t())).abs() < 1e-8, "way {way}, t {}", s.t());
            }
            vals.push(s.y()[2]);
            runs.push((vals, s.stats()));
        }
        for (way, (v, _)) in runs.iter().enumerate() {
            assert!((v[0] - runs[0].0[0]).abs() < 1e-10, "way {way}: {v:?} vs {:?}", runs[0].0);
        }
        let per_step = |k: usize| runs[k].1.rhs_evals as f64 / (runs[k].1.accepted + runs[k].1.rejected) as f64;
        // coupled: 6 stages + 3 nodes + 1 at the end + 3 nodes again; affine: 6 + 3
        assert!(per_step(0) > 12.0 && per_step(1) < 9.5, "{} {}", per_step(0), per_step(1));
        // what `rhs_stage` leaves out is never read: the same bits
        assert_eq!(runs[3], runs[2]);
    }

    #[test]
    fn malformed_cascades_are_typed_failures_not_panics() {
        let good = Cascade { n: 1, idx: [1, 0, 0, 0], rate: [8.0, 0.0, 0.0, 0.0], ..Cascade::NONE };
        // y1 = (e^-t - e^-8t)/7 at t = 1 (analytic), tolerance 1e-7
        let exact = ((-1f64).exp() - (-8f64).exp()) / 7.0;
        assert!((run(good).unwrap() - exact).abs() < 1e-7);
        let cases = [
            (Cascade { idx: [2, 0, 0, 0], ..good }, 0),
            (Cascade { idx: [usize::MAX, 0, 0, 0], ..good }, 0),
            (Cascade { n: 2, idx: [1, 1, 0, 0], ..good }, 1),
            (Cascade { rate: [-1.0, 0.0, 0.0, 0.0], ..good }, 0),
            (Cascade { rate: [f64::NAN, 0.0, 0.0, 0.0], ..good }, 0),
            (Cascade { base: [f64::INFINITY, 0.0, 0.0, 0.0], ..good }, 0),
            (Cascade { n: 5, ..good }, 5),
            (Cascade { coupling: [[1.0, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4], [0.0; 4]], ..good }, 0),
            (Cascade { coupling: [[0.0, 0.0, 0.0, 2.0], [0.0; 4], [0.0; 4], [0.0; 4]], ..good }, 0),
            (
                Cascade {
                    n: 2,
                    idx: [1, 0, 0, 0],
                    coupling: [[0.0; 4], [f64::NAN, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4]],
                    ..good
                },
                1,
            ),
        ];
        for (c, component) in cases {
            assert_eq!(run(c), Err(SolveFailure::InvalidCascade { component }), "{c:?}");
        }
    }
}
