//! Dormand–Prince 5(4) (Hairer, Nørsett & Wanner, *Solving ODEs I*, II.5; the `DOPRI5`
//! code): FSAL, PI step-size control, 4th-order continuous extension. Allocation-free.

use super::{Cascade, Method, OdeSystem, Stats, Stepper, Tolerance};
use crate::error::SolveFailure;
use nalgebra::SVector;

const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

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
/// `ex = exp(-x)`: a power series below 1, the stable upward recursion
/// `M_j = (1 - j M_{j-1}) / x` above (no cancellation there: `1 - exp(-x) >= 0.63`).
#[inline]
pub(crate) fn moments(x: f64, ex: f64) -> [f64; 5] {
    let mut m = [0.0; 5];
    if x < 1.0 {
        // M_j = sum_k (-x)^k j! / (k + j + 1)!; 20 terms reach 1e-19 at x = 1
        for (j, mj) in m.iter_mut().enumerate() {
            let mut term = 1.0 / (j as f64 + 1.0);
            let mut sum = term;
            for k in 0..20 {
                term *= -x / (k as f64 + j as f64 + 2.0);
                sum += term;
            }
            *mj = sum;
        }
    } else {
        let inv = 1.0 / x;
        m[0] = (1.0 - ex) * inv;
        for j in 1..5 {
            m[j] = (1.0 - j as f64 * m[j - 1]) * inv;
        }
    }
    m
}

/// Value at `theta` of the cascade component `y' = src(theta) - z/h (y - b)` on a step, for the
/// quartic source with coefficients `a`, given `ex = exp(-z theta)`:
/// `b + ex (y0 - b) + h theta sum_j a_j theta^j M_j(z theta)`.
#[inline]
fn cascade_value_ex(a: &[f64; 5], y0: f64, b: f64, z: f64, h: f64, th: f64, ex: f64) -> f64 {
    let m = moments(z * th, ex);
    let mut s = 0.0;
    let mut p = 1.0;
    for j in 0..5 {
        s += a[j] * p * m[j];
        p *= th;
    }
    b + ex * (y0 - b) + h * th * s
}

#[inline]
fn cascade_value(a: &[f64; 5], y0: f64, b: f64, z: f64, h: f64, th: f64) -> f64 {
    cascade_value_ex(a, y0, b, z, h, th, (-z * th).exp())
}

#[inline]
fn poly5(a: &[f64; 5], th: f64) -> f64 {
    a[0] + th * (a[1] + th * (a[2] + th * (a[3] + th * a[4])))
}

const CASCADE_ERR_WEIGHT: f64 = 1.0;
const SAFE: f64 = 0.9;
const FAC_MIN: f64 = 0.2; // largest decrease 1/0.2
const FAC_MAX: f64 = 10.0;
const BETA: f64 = 0.04;
const EXPO1: f64 = 0.2 - BETA * 0.75;

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
    h_next: f64,
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
    facold: f64,
    facold_beta: f64,
    reject_last: bool,
    stats: Stats,
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
            h_next: 0.0,
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
            facold: 1e-4,
            facold_beta: 1e-4f64.powf(BETA),
            reject_last: false,
            stats: Stats::default(),
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
        self.h_next = 0.0;
        self.stats = Stats::default();
    }

    fn norm_sq_weighted(v: &SVector<f64, N>, sk: &SVector<f64, N>, w: &SVector<f64, N>) -> f64 {
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

    /// Hairer's starting step guess (two extra RHS evaluations).
    fn initial_step<S: OdeSystem<N>>(&mut self, sys: &S, tol: &Tolerance<N>) -> f64 {
        let mut sk = SVector::<f64, N>::zeros();
        for i in 0..N {
            sk[i] = tol.atol[i] + tol.rtol * self.y[i].abs();
        }
        let dnf = Self::norm_sq_weighted(&self.k1, &sk, &tol.weight);
        let dny = Self::norm_sq_weighted(&self.y, &sk, &tol.weight);
        let mut h = if dnf <= 1e-10 || dny <= 1e-10 { 1e-6 } else { (dny / dnf).sqrt() * 0.01 };
        h = h.min(tol.h_max);
        for i in 0..N {
            self.ytmp[i] = self.y[i] + h * self.k1[i];
        }
        sys.rhs(self.t + h, &self.ytmp, &mut self.k2);
        self.stats.rhs_evals += 1;
        for i in 0..N {
            self.k3[i] = self.k2[i] - self.k1[i];
        }
        let der2 = Self::norm_sq_weighted(&self.k3, &sk, &tol.weight).sqrt() / h;
        let der12 = der2.abs().max(dnf.sqrt());
        let h1 = if der12 <= 1e-15 { (h * 1e-3).max(1e-6) } else { (0.01 / der12).powf(0.2) };
        let h = (100.0 * h).min(h1).min(tol.h_max);
        if h.is_finite() && h > 0.0 {
            h
        } else {
            1e-6
        }
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
            let th1 = 1.0 - th;
            for i in 0..N {
                self.nodes[k][i] = self.r[0][i]
                    + th * (self.r[1][i] + th1 * (self.r[2][i] + th * (self.r[3][i] + th1 * self.r[4][i])));
            }
            for ci in 0..nc {
                self.nodes[k][cas.idx[ci]] = y[cas.idx[ci]];
            }
        }
        let mut err = 0.0;
        let mut src4 = [0.0; 4];
        for ci in 0..nc {
            let c = cas.idx[ci];
            // the first component, and every one whose source reads earlier (now updated)
            // cascade values, needs the right-hand side at the nodes
            if ci == 0 || cas.coupled[ci] {
                for k in 0..3 {
                    sys.rhs(t + (k as f64 + 1.0) * 0.25 * h, &self.nodes[k], &mut self.dnodes[k]);
                }
                self.stats.rhs_evals += 3;
                if ci > 0 && cas.coupled[ci] {
                    sys.rhs(t + h, &self.ynew, &mut self.k7);
                    self.stats.rhs_evals += 1;
                }
            }
            let (lam, b) = (cas.rate[ci], cas.base[ci]);
            let s = [
                self.k1[c] + lam * (y[c] - b),
                self.dnodes[0][c] + lam * (self.nodes[0][c] - b),
                self.dnodes[1][c] + lam * (self.nodes[1][c] - b),
                self.dnodes[2][c] + lam * (self.nodes[2][c] - b),
                self.k7[c] + lam * (self.ynew[c] - b),
            ];
            let mut a = [0.0; 5];
            for j in 0..5 {
                a[j] = FIT4[j][0] * s[0] + FIT4[j][1] * s[1] + FIT4[j][2] * s[2] + FIT4[j][3] * s[3] + FIT4[j][4] * s[4];
            }
            let mut a3 = [0.0; 5];
            for j in 0..4 {
                a3[j] = FIT3[j][0] * s[0] + FIT3[j][1] * s[1] + FIT3[j][2] * s[3] + FIT3[j][3] * s[4];
            }
            let z = lam * h;
            // exp(-z k/4) for k = 1..4 from one exponential
            let e1 = (-0.25 * z).exp();
            let e2 = e1 * e1;
            let ex_nodes = [e1, e2, e2 * e1];
            let ex = e2 * e2;
            let m = moments(z, ex);
            let (mut v4, mut v3) = (0.0, 0.0);
            for j in 0..5 {
                v4 += a[j] * m[j];
                v3 += a3[j] * m[j];
            }
            let y1 = b + ex * (y[c] - b) + h * v4;
            let e = h * (v4 - v3);
            let sk = tol.atol[c] + tol.rtol * y[c].abs().max(y1.abs());
            err += tol.weight[c] * (e / sk) * (e / sk) * CASCADE_ERR_WEIGHT;
            for k in 0..3 {
                self.nodes[k][c] = cascade_value_ex(&a, y[c], b, z, h, (k as f64 + 1.0) * 0.25, ex_nodes[k]);
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
}

impl<const N: usize> Stepper<N> for Dopri5<N> {
    fn reset<S: OdeSystem<N>>(&mut self, sys: &S, t: f64, y: &SVector<f64, N>, tol: &Tolerance<N>) {
        self.t = t;
        self.t_prev = t;
        self.h_last = 0.0;
        self.y = *y;
        sys.rhs(t, &self.y, &mut self.k1);
        self.stats.rhs_evals += 1;
        self.facold = 1e-4;
        self.facold_beta = 1e-4f64.powf(BETA);
        self.reject_last = false;
        self.cas = Cascade::NONE;
        self.r[0] = self.y;
        for k in 1..5 {
            self.r[k].fill(0.0);
        }
        if !(self.h_next > 0.0) {
            self.h_next = self.initial_step(sys, tol);
        }
    }

    fn step<S: OdeSystem<N>>(&mut self, sys: &S, t_end: f64, tol: &Tolerance<N>) -> Result<(), SolveFailure> {
        let mut nan_seen = false;
        let cas = if self.exp { sys.cascade() } else { Cascade::NONE };
        let nc = cas.n.min(4);
        let mut core_w = tol.weight;
        for ci in 0..nc {
            core_w[cas.idx[ci]] = 0.0;
        }
        loop {
            if self.stats.accepted + self.stats.rejected >= tol.max_steps {
                return Err(SolveFailure::StepLimit { max_steps: tol.max_steps });
            }
            let remaining = t_end - self.t;
            let mut h = self.h_next.min(tol.h_max);
            let last = self.t + 1.01 * h >= t_end;
            if last {
                h = remaining;
            }
            if !(h > 16.0 * f64::EPSILON * self.t.abs().max(1.0)) && !last {
                return Err(if nan_seen { SolveFailure::NonFinite } else { SolveFailure::StepSizeUnderflow { h } });
            }
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
            sys.rhs(t + C2 * h, &self.ytmp, &mut self.k2);
            for i in 0..N {
                self.ytmp[i] = y[i] + h * (A31 * self.k1[i] + A32 * self.k2[i]);
            }
            freeze!(self.ytmp);
            sys.rhs(t + C3 * h, &self.ytmp, &mut self.k3);
            for i in 0..N {
                self.ytmp[i] = y[i] + h * (A41 * self.k1[i] + A42 * self.k2[i] + A43 * self.k3[i]);
            }
            freeze!(self.ytmp);
            sys.rhs(t + C4 * h, &self.ytmp, &mut self.k4);
            for i in 0..N {
                self.ytmp[i] =
                    y[i] + h * (A51 * self.k1[i] + A52 * self.k2[i] + A53 * self.k3[i] + A54 * self.k4[i]);
            }
            freeze!(self.ytmp);
            sys.rhs(t + C5 * h, &self.ytmp, &mut self.k5);
            for i in 0..N {
                self.ytmp[i] = y[i]
                    + h * (A61 * self.k1[i] + A62 * self.k2[i] + A63 * self.k3[i] + A64 * self.k4[i] + A65 * self.k5[i]);
            }
            freeze!(self.ytmp);
            let t_new = if last { t_end } else { t + h };
            sys.rhs(t_new, &self.ytmp, &mut self.k6);
            for i in 0..N {
                self.ynew[i] = y[i]
                    + h * (A71 * self.k1[i] + A73 * self.k3[i] + A74 * self.k4[i] + A75 * self.k5[i] + A76 * self.k6[i]);
            }
            freeze!(self.ynew);
            sys.rhs(t_new, &self.ynew, &mut self.k7);
            self.stats.rhs_evals += 6;

            let mut err = 0.0;
            let mut nw = 0.0;
            for i in 0..N {
                let e = h
                    * (E1 * self.k1[i] + E3 * self.k3[i] + E4 * self.k4[i] + E5 * self.k5[i] + E6 * self.k6[i]
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
                    * (D1 * self.k1[i] + D3 * self.k3[i] + D4 * self.k4[i] + D5 * self.k5[i] + D6 * self.k6[i]
                        + D7 * self.k7[i]);
            }
            if nc > 0 {
                err += self.cascade_step(sys, &cas, t, h, tol);
            }
            let err = if nw > 0.0 { (err / nw).sqrt() } else { 0.0 };
            let finite = err.is_finite() && self.ynew.iter().all(|v| v.is_finite()) && self.k7.iter().all(|v| v.is_finite());
            if !finite {
                nan_seen = true;
                self.stats.rejected += 1;
                self.reject_last = true;
                self.h_next = h * 0.25;
                continue;
            }
            let fac11 = err.powf(EXPO1);
            let fac = (fac11 / self.facold_beta / SAFE).clamp(1.0 / FAC_MAX, 1.0 / FAC_MIN);
            let mut h_new = h / fac;
            if err <= 1.0 {
                self.facold = err.max(1e-4);
                self.facold_beta = self.facold.powf(BETA);
                self.stats.accepted += 1;
                if self.reject_last {
                    h_new = h_new.min(h);
                }
                self.reject_last = false;
                self.t_prev = t;
                self.t = t_new;
                self.h_last = h;
                self.cas = cas;
                for ci in 0..nc {
                    self.cy0[ci] = y[cas.idx[ci]];
                }
                self.y = self.ynew;
                self.k1 = self.k7;
                // do not let a short final step (clipped to t_end) shrink the next guess
                self.h_next = if last { h_new.max(self.h_next) } else { h_new };
                return Ok(());
            }
            self.stats.rejected += 1;
            self.reject_last = true;
            self.h_next = h / (1.0 / FAC_MIN).min(fac11 / SAFE);
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
        let th1 = 1.0 - th;
        for i in 0..N {
            out[i] = self.r[0][i]
                + th * (self.r[1][i] + th1 * (self.r[2][i] + th * (self.r[3][i] + th1 * self.r[4][i])));
        }
        for ci in 0..self.cas.n.min(4) {
            let c = self.cas.idx[ci];
            out[c] = cascade_value(&self.ca[ci], self.cy0[ci], self.cas.base[ci], self.cas.rate[ci] * self.h_last, self.h_last, th);
        }
    }

    fn dense_deriv(&self, t: f64, out: &mut SVector<f64, N>) {
        if self.h_last == 0.0 {
            *out = self.k1;
            return;
        }
        let th = (t - self.t_prev) / self.h_last;
        let a2 = 1.0 - 2.0 * th;
        let a3 = th * (2.0 - 3.0 * th);
        let a4 = 2.0 * th * (1.0 - th) * (1.0 - 2.0 * th);
        let inv_h = 1.0 / self.h_last;
        for i in 0..N {
            out[i] = (self.r[1][i] + a2 * self.r[2][i] + a3 * self.r[3][i] + a4 * self.r[4][i]) * inv_h;
        }
        for ci in 0..self.cas.n.min(4) {
            let c = self.cas.idx[ci];
            let (lam, b) = (self.cas.rate[ci], self.cas.base[ci]);
            let v = cascade_value(&self.ca[ci], self.cy0[ci], b, lam * self.h_last, self.h_last, th);
            out[c] = poly5(&self.ca[ci], th) - lam * (v - b);
        }
    }

    fn stats(&self) -> Stats {
        self.stats
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
        assert!(r.is_err(), "must fail before t = 1");
        assert!(s.t() < 1.0);
    }
}
