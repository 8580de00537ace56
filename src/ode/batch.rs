//! Four problems at once: the Dormand–Prince 5(4) stepper of [`super::Dopri5`] (with or without
//! the exact cascade integration of [`Method::Dopri5Exp`]) in structure-of-arrays form, one
//! problem per lane, so that the right-hand side, the stages and the cascade run on
//! `[f64; 4]` vectors that LLVM compiles to SIMD.
//!
//! Every lane does exactly the floating-point operations, in the same order, that
//! [`super::Dopri5`] does on its own problem: the same coefficients, the same step-size
//! controller (shared code), the same cascade numerics and the same exponential
//! ([`super::fastexp`]). Each lane therefore produces a result that is *bit-identical* to the
//! scalar stepper's, provided the system's lane-wise right-hand side is bit-identical to its
//! scalar one (write both from one generic kernel over [`Real`], as the minimal model does).
//!
//! Each lane has its own time, step size, acceptance and counters; all lanes attempt a step
//! together, and a lane whose problem is finished (or failed) is refilled with the next
//! problem by [`Dopri5Batch::solve`]. Nothing is allocated per step or per right-hand-side
//! evaluation; the output buffer is allocated once and reused across calls.

use super::dopri5::{
    cascade_end, cascade_fit, cascade_value_m, dense_core, initial_step_finish, initial_step_trial, moments_rec,
    moments_series, node_exps, Control, A21, A31, A32, A41, A42, A43, A51, A52, A53, A54, A61, A62, A63, A64, A65, A71,
    A73, A74, A75, A76, C2, C3, C4, C5, CASCADE_ERR_WEIGHT, D1, D3, D4, D5, D6, D7, E1, E3, E4, E5, E6, E7,
};
use super::fastexp::{exp as fexp, exp4};
use super::{Cascade, Method, Stats, Tolerance};
use crate::error::SolveFailure;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Number of lanes of a [`Dopri5Batch`].
pub const LANES: usize = 4;

/// One value per lane.
pub type Lanes = [f64; LANES];

/// Arithmetic that a model kernel is written in once, and compiled both for one problem
/// (`f64`) and for four lanes ([`F64x4`]) with the same operations per lane.
pub trait Real:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self>
{
    /// The same value on every lane.
    fn splat(v: f64) -> Self;
    /// [`super::fastexp::exp`] per lane.
    fn exp(self) -> Self;
}

impl Real for f64 {
    #[inline(always)]
    fn splat(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn exp(self) -> Self {
        fexp(self)
    }
}

/// Four `f64` lanes with lane-wise arithmetic (vectorized by LLVM).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct F64x4(pub Lanes);

macro_rules! lanewise {
    ($tr:ident, $f:ident, $op:tt) => {
        impl $tr for F64x4 {
            type Output = F64x4;
            #[inline(always)]
            fn $f(self, o: F64x4) -> F64x4 {
                let mut r = [0.0; LANES];
                for l in 0..LANES {
                    r[l] = self.0[l] $op o.0[l];
                }
                F64x4(r)
            }
        }
    };
}
lanewise!(Add, add, +);
lanewise!(Sub, sub, -);
lanewise!(Mul, mul, *);
lanewise!(Div, div, /);

impl Neg for F64x4 {
    type Output = F64x4;
    #[inline(always)]
    fn neg(self) -> F64x4 {
        let mut r = [0.0; LANES];
        for l in 0..LANES {
            r[l] = -self.0[l];
        }
        F64x4(r)
    }
}

impl Real for F64x4 {
    #[inline(always)]
    fn splat(v: f64) -> Self {
        F64x4([v; LANES])
    }
    #[inline(always)]
    fn exp(self) -> Self {
        F64x4(exp4(&self.0))
    }
}

/// A system `dy/dt = f(t, y)` of size `N` on [`LANES`] independent problems at once, stored
/// lane-wise (`y[i][lane]`). Lane `l` must compute exactly what the corresponding scalar
/// [`super::OdeSystem`] computes for the problem loaded into it, for the batch to reproduce the
/// scalar stepper bit for bit.
pub trait BatchSystem<const N: usize> {
    /// What one lane is loaded with (e.g. a patient's parameters).
    type Problem;
    /// Load problem `p` into lane `lane`.
    fn load(&mut self, lane: usize, p: &Self::Problem);
    /// Write `f(t[l], y[.][l])` into `dy[.][l]` for every lane (all lanes, whatever they hold).
    fn rhs(&self, t: &Lanes, y: &[Lanes; N], dy: &mut [Lanes; N]);
    /// The linear cascade of the problem in lane `lane` (see [`Cascade`]); its structure (`n`,
    /// `idx`, `coupled`) must be the same on every lane, rates and baselines may differ. A
    /// malformed cascade ([`Cascade::check`]) or one whose structure differs from the first
    /// problem's fails that problem with [`SolveFailure::InvalidCascade`]. Default: none.
    fn cascade(&self, lane: usize) -> Cascade {
        let _ = lane;
        Cascade::NONE
    }
    /// The source of cascade component `ci` alone on every lane, into `src`, if cheaper than
    /// [`BatchSystem::rhs`] (the counterpart of [`super::OdeSystem::cascade_source`]); returns
    /// `false` (the default) to let the stepper use the whole right-hand side.
    fn cascade_source(&self, t: &Lanes, y: &[Lanes; N], ci: usize, src: &mut Lanes) -> bool {
        let _ = (t, y, ci, src);
        false
    }
    /// Components that cannot be negative (the counterpart of
    /// [`super::OdeSystem::non_negative`]). Default: none.
    fn non_negative(&self) -> u64 {
        0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Idle,
    Failed(SolveFailure),
    Accepted,
    Rejected,
}

/// [`super::Dopri5`] on [`LANES`] problems at once (see the module docs).
#[derive(Debug, Clone)]
pub struct Dopri5Batch<const N: usize> {
    exp: bool,
    t: Lanes,
    t_prev: Lanes,
    h_last: Lanes,
    y: [Lanes; N],
    k1: [Lanes; N],
    k2: [Lanes; N],
    k3: [Lanes; N],
    k4: [Lanes; N],
    k5: [Lanes; N],
    k6: [Lanes; N],
    k7: [Lanes; N],
    ytmp: [Lanes; N],
    ynew: [Lanes; N],
    r: [[Lanes; N]; 5],
    nodes: [[Lanes; N]; 3],
    dnodes: [[Lanes; N]; 3],
    ctl: [Control; LANES],
    /// Cascade structure (n, idx, coupled) used by the stepper (`n = 0` without `exp`).
    cas: Cascade,
    /// Whether `cas` holds the structure of a problem loaded in the current solve.
    cas_loaded: bool,
    rate: [Lanes; 4],
    base: [Lanes; 4],
    /// Each lane's [`Cascade::coupling`].
    coupling: [[Lanes; 4]; 4],
    ca: [[Lanes; 5]; 4],
    cy0: [Lanes; 4],
    out: Vec<[f64; N]>,
    portable: bool,
}

/// The instruction set a [`Dopri5Batch`] runs on: chosen at run time, so that a binary built
/// without `-C target-cpu` (a dependent crate's plain `cargo build --release`, or a wheel for
/// older cluster nodes) still takes the fast path where the CPU has it, and runs everywhere.
/// Both paths do the same IEEE operations in the same order (Rust never contracts
/// `a * b + c` into a fused multiply-add on its own), so their results are bit-identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdPath {
    /// x86-64 with AVX2 and FMA: the lanes are one 256-bit register.
    Avx2,
    /// Whatever the build targets (SSE2 on a default x86-64 build).
    Portable,
}

impl SimdPath {
    /// The fastest path this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return SimdPath::Avx2;
            }
        }
        SimdPath::Portable
    }
}

impl<const N: usize> Dopri5Batch<N> {
    /// A batch stepper for `method` ([`Method::Dopri5`] or [`Method::Dopri5Exp`]).
    pub fn with_method(method: Method) -> Self {
        let z = [[0.0; LANES]; N];
        Self {
            exp: matches!(method, Method::Dopri5Exp),
            t: [0.0; LANES],
            t_prev: [0.0; LANES],
            h_last: [0.0; LANES],
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
            nodes: [z; 3],
            dnodes: [z; 3],
            ctl: [Control::new(); LANES],
            cas: Cascade::NONE,
            cas_loaded: false,
            rate: [[0.0; LANES]; 4],
            base: [[0.0; LANES]; 4],
            coupling: [[[0.0; LANES]; 4]; 4],
            ca: [[[0.0; LANES]; 5]; 4],
            cy0: [[0.0; LANES]; 4],
            out: Vec::new(),
            portable: false,
        }
    }

    /// Always take the portable path (for tests and comparisons; by default the fastest
    /// path the CPU supports is taken, see [`SimdPath`]).
    pub fn force_portable(mut self, yes: bool) -> Self {
        self.portable = yes;
        self
    }

    /// The path [`Dopri5Batch::solve`] takes on this machine.
    pub fn simd_path(&self) -> SimdPath {
        if self.portable {
            SimdPath::Portable
        } else {
            SimdPath::detect()
        }
    }

    /// Solve problems `0..n` over `[0, days]`, four at a time. `problem(j)` gives problem `j`
    /// and its initial state; when it is finished, `done(j, result, rows)` receives its
    /// counters (or the failure and the time reached) and its dense states at the whole times
    /// `0, 1, ..., days` (`days + 1` rows; after a failure, the rows past the time reached are
    /// stale). `done` is called in completion order, not in problem order. Each problem's
    /// result is bit-identical to [`super::Dopri5`] started with [`super::Stepper::reset`]
    /// after `clear` and stepped to `days`, with the rows written from
    /// [`super::Stepper::dense`] at every whole time.
    ///
    /// Runs on the fastest [`SimdPath`] of this CPU unless [`Dopri5Batch::force_portable`];
    /// the results are the same bits either way.
    pub fn solve<S: BatchSystem<N>>(
        &mut self,
        sys: &mut S,
        tol: &Tolerance<N>,
        n: usize,
        days: usize,
        problem: impl FnMut(usize) -> (S::Problem, [f64; N]),
        done: impl FnMut(usize, Result<Stats, (f64, SolveFailure)>, &mut [[f64; N]]),
    ) {
        match self.simd_path() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `SimdPath::Avx2` is only returned when the CPU has AVX2 and FMA.
            #[allow(unsafe_code)]
            SimdPath::Avx2 => unsafe { self.solve_avx2(sys, tol, n, days, problem, done) },
            _ => self.solve_on(sys, tol, n, days, problem, done),
        }
    }

    /// [`Dopri5Batch::solve`] compiled for AVX2 and FMA: the same code, inlined here so that
    /// LLVM emits 256-bit instructions for the lanes.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(unsafe_code)]
    unsafe fn solve_avx2<S: BatchSystem<N>>(
        &mut self,
        sys: &mut S,
        tol: &Tolerance<N>,
        n: usize,
        days: usize,
        problem: impl FnMut(usize) -> (S::Problem, [f64; N]),
        done: impl FnMut(usize, Result<Stats, (f64, SolveFailure)>, &mut [[f64; N]]),
    ) {
        self.solve_on(sys, tol, n, days, problem, done)
    }

    #[inline(always)]
    fn solve_on<S: BatchSystem<N>>(
        &mut self,
        sys: &mut S,
        tol: &Tolerance<N>,
        n: usize,
        days: usize,
        mut problem: impl FnMut(usize) -> (S::Problem, [f64; N]),
        mut done: impl FnMut(usize, Result<Stats, (f64, SolveFailure)>, &mut [[f64; N]]),
    ) {
        let rows = days + 1;
        let horizon = days as f64;
        if self.out.len() != LANES * rows {
            self.out.clear();
            self.out.resize(LANES * rows, [0.0; N]);
        }
        let mut job = [0usize; LANES];
        let mut active = [false; LANES];
        let mut next_day = [0usize; LANES];
        let mut next_job = 0usize;
        self.cas = Cascade::NONE;
        self.cas_loaded = false;
        loop {
            // refill idle lanes (a problem that needs no step is finished at once)
            loop {
                let mut need = [false; LANES];
                for l in 0..LANES {
                    // a loop: a problem that fails to load leaves the lane free for the next
                    while !active[l] && next_job < n {
                        let (p, y0) = problem(next_job);
                        sys.load(l, &p);
                        if let Err(e) = self.load_cascade(sys, l) {
                            self.out[l * rows] = y0;
                            done(next_job, Err((0.0, e)), &mut self.out[l * rows..(l + 1) * rows]);
                            next_job += 1;
                            continue;
                        }
                        for i in 0..N {
                            self.y[i][l] = y0[i];
                        }
                        self.out[l * rows] = y0;
                        next_day[l] = 1;
                        job[l] = next_job;
                        next_job += 1;
                        active[l] = true;
                        need[l] = true;
                    }
                }
                if !need.iter().any(|&b| b) {
                    break;
                }
                self.init_lanes(sys, tol, &need);
                let mut finished = false;
                for l in 0..LANES {
                    if need[l] && !(self.t[l] < horizon) {
                        done(job[l], Ok(self.ctl[l].stats), &mut self.out[l * rows..(l + 1) * rows]);
                        active[l] = false;
                        finished = true;
                    }
                }
                if !finished {
                    break;
                }
            }
            if !active.iter().any(|&b| b) {
                break;
            }
            let oc = self.attempt(sys, tol, &active, horizon);
            // the whole days passed by the accepted steps, four (lane, day) slots at a time
            let mut slots = [(0usize, 0usize); LANES];
            let mut ns = 0;
            for l in 0..LANES {
                if oc[l] != Outcome::Accepted {
                    continue;
                }
                while next_day[l] < rows && (next_day[l] as f64) <= self.t[l] {
                    slots[ns] = (l, next_day[l]);
                    ns += 1;
                    next_day[l] += 1;
                    if ns == LANES {
                        self.dense_group(&slots, ns, rows);
                        ns = 0;
                    }
                }
            }
            if ns > 0 {
                self.dense_group(&slots, ns, rows);
            }
            for l in 0..LANES {
                match oc[l] {
                    Outcome::Idle | Outcome::Rejected => {}
                    Outcome::Failed(e) => {
                        done(job[l], Err((self.t[l], e)), &mut self.out[l * rows..(l + 1) * rows]);
                        active[l] = false;
                    }
                    Outcome::Accepted => {
                        let t = self.t[l];
                        if !(t < horizon) {
                            done(job[l], Ok(self.ctl[l].stats), &mut self.out[l * rows..(l + 1) * rows]);
                            active[l] = false;
                        }
                    }
                }
            }
        }
    }

    /// Loads lane `l`'s cascade; a malformed one, or one whose structure differs from the
    /// cascade of the problems already loaded in this solve, is the problem's
    /// [`SolveFailure::InvalidCascade`].
    fn load_cascade<S: BatchSystem<N>>(&mut self, sys: &S, l: usize) -> Result<(), SolveFailure> {
        if !self.exp {
            self.cas = Cascade::NONE;
            return Ok(());
        }
        let c = sys.cascade(l);
        c.check::<N>()?;
        if self.cas_loaded && !(self.cas.n == c.n && self.cas.idx == c.idx && self.cas.coupled == c.coupled) {
            // the cascade structure must be the same on every lane
            return Err(SolveFailure::InvalidCascade { component: 0 });
        }
        self.cas = Cascade { rate: [0.0; 4], base: [0.0; 4], coupling: [[0.0; 4]; 4], ..c };
        self.cas_loaded = true;
        for ci in 0..c.n {
            self.rate[ci][l] = c.rate[ci];
            self.base[ci][l] = c.base[ci];
            for cj in 0..4 {
                self.coupling[ci][cj][l] = c.coupling[ci][cj];
            }
        }
        Ok(())
    }

    /// Start the lanes flagged in `need` at `t = 0` from the state already in `y`: counters
    /// cleared, `k1 = f(0, y)`, Hairer's initial step (two batched right-hand sides).
    fn init_lanes<S: BatchSystem<N>>(&mut self, sys: &S, tol: &Tolerance<N>, need: &[bool; LANES]) {
        for l in 0..LANES {
            if need[l] {
                self.t[l] = 0.0;
                self.t_prev[l] = 0.0;
                self.h_last[l] = 0.0;
                self.ctl[l] = Control::new();
            }
        }
        sys.rhs(&self.t, &self.y, &mut self.k2);
        let mut th = self.t;
        let mut trial = [(0.0, [0.0; N], 0.0); LANES];
        for l in 0..LANES {
            for i in 0..N {
                self.ytmp[i][l] = self.y[i][l];
            }
            if !need[l] {
                continue;
            }
            for i in 0..N {
                self.k1[i][l] = self.k2[i][l];
            }
            self.ctl[l].stats.rhs_evals += 1;
            let (y0, k1) = (self.lane(&self.y, l), self.lane(&self.k1, l));
            let (h, sk, dnf) = initial_step_trial(&y0, &k1, tol);
            for i in 0..N {
                self.ytmp[i][l] = self.y[i][l] + h * self.k1[i][l];
            }
            th[l] = self.t[l] + h;
            trial[l] = (h, sk, dnf);
        }
        sys.rhs(&th, &self.ytmp, &mut self.k2);
        for l in 0..LANES {
            if need[l] {
                self.ctl[l].stats.rhs_evals += 1;
                let (k1, k2) = (self.lane(&self.k1, l), self.lane(&self.k2, l));
                let (h, sk, dnf) = trial[l];
                self.ctl[l].h_next = initial_step_finish(&k1, &k2, h, &sk, dnf, tol);
            }
        }
    }

    #[inline(always)]
    fn lane(&self, v: &[Lanes; N], l: usize) -> [f64; N] {
        let mut o = [0.0; N];
        for i in 0..N {
            o[i] = v[i][l];
        }
        o
    }

    /// Dense output (as [`super::Stepper::dense`]) at day `d` of lane `l` for the first `ns`
    /// slots `(l, d)`, written to the output rows; the four slots are evaluated as lanes.
    #[inline(always)]
    fn dense_group(&mut self, slots: &[(usize, usize); LANES], ns: usize, rows: usize) {
        let mut sl = *slots;
        for s in ns..LANES {
            sl[s] = sl[ns - 1];
        }
        let mut th = [0.0; LANES];
        for s in 0..LANES {
            let (l, d) = sl[s];
            debug_assert!(self.h_last[l] > 0.0);
            th[s] = (d as f64 - self.t_prev[l]) / self.h_last[l];
        }
        let mut v = [[0.0; LANES]; N];
        for i in 0..N {
            let mut r = [[0.0; LANES]; 5];
            for s in 0..LANES {
                let l = sl[s].0;
                for k in 0..5 {
                    r[k][s] = self.r[k][i][l];
                }
            }
            for s in 0..LANES {
                v[i][s] = dense_core(r[0][s], r[1][s], r[2][s], r[3][s], r[4][s], th[s]);
            }
        }
        for ci in 0..self.cas.n.min(4) {
            let c = self.cas.idx[ci];
            let mut a = [[0.0; 5]; LANES];
            let (mut y0, mut b, mut z, mut hh) = ([0.0; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
            let (mut mx, mut x) = ([0.0; LANES], [0.0; LANES]);
            for s in 0..LANES {
                let l = sl[s].0;
                for j in 0..5 {
                    a[s][j] = self.ca[ci][j][l];
                }
                y0[s] = self.cy0[ci][l];
                b[s] = self.base[ci][l];
                hh[s] = self.h_last[l];
                z[s] = self.rate[ci][l] * hh[s];
                mx[s] = -z[s] * th[s];
                x[s] = z[s] * th[s];
            }
            let ex = exp4(&mx);
            let m = moments4(&x, &ex);
            for s in 0..LANES {
                let ms = [m[0][s], m[1][s], m[2][s], m[3][s], m[4][s]];
                v[c][s] = cascade_value_m(&a[s], y0[s], b[s], hh[s], th[s], ex[s], &ms);
            }
        }
        for s in 0..ns {
            let (l, d) = sl[s];
            let mut row = [0.0; N];
            for i in 0..N {
                row[i] = v[i][s];
            }
            self.out[l * rows + d] = row;
        }
    }

    /// One step attempt on every active lane.
    #[inline(always)]
    fn attempt<S: BatchSystem<N>>(
        &mut self,
        sys: &S,
        tol: &Tolerance<N>,
        active: &[bool; LANES],
        t_end: f64,
    ) -> [Outcome; LANES] {
        let mut oc = [Outcome::Idle; LANES];
        let mut h = [0.0; LANES];
        let mut last = [false; LANES];
        let mut any = false;
        for l in 0..LANES {
            if !active[l] {
                continue;
            }
            match self.ctl[l].begin(self.t[l], t_end, tol.h_max, tol.max_steps) {
                Err(e) => oc[l] = Outcome::Failed(e),
                Ok((hl, la)) => {
                    debug_assert!(hl > 0.0);
                    h[l] = hl;
                    last[l] = la;
                    oc[l] = Outcome::Rejected;
                    any = true;
                }
            }
        }
        if !any {
            return oc;
        }
        let cas = self.cas;
        let nc = cas.n.min(4);
        let mut core_w = tol.weight;
        for ci in 0..nc {
            core_w[cas.idx[ci]] = 0.0;
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
        macro_rules! at {
            ($c:expr) => {{
                let mut tc = [0.0; LANES];
                for l in 0..LANES {
                    tc[l] = t[l] + $c * h[l];
                }
                tc
            }};
        }
        macro_rules! stage {
            ($dst:expr, |$i:ident, $l:ident| $e:expr) => {
                for $i in 0..N {
                    for $l in 0..LANES {
                        $dst[$i][$l] = $e;
                    }
                }
            };
        }
        let (k1, mut k2, mut k3, mut k4, mut k5, mut k6, mut k7) =
            (self.k1, self.k2, self.k3, self.k4, self.k5, self.k6, self.k7);
        let mut ytmp = self.ytmp;
        let mut ynew = self.ynew;
        stage!(ytmp, |i, l| y[i][l] + h[l] * A21 * k1[i][l]);
        freeze!(ytmp);
        sys.rhs(&at!(C2), &ytmp, &mut k2);
        stage!(ytmp, |i, l| y[i][l] + h[l] * (A31 * k1[i][l] + A32 * k2[i][l]));
        freeze!(ytmp);
        sys.rhs(&at!(C3), &ytmp, &mut k3);
        stage!(ytmp, |i, l| y[i][l] + h[l] * (A41 * k1[i][l] + A42 * k2[i][l] + A43 * k3[i][l]));
        freeze!(ytmp);
        sys.rhs(&at!(C4), &ytmp, &mut k4);
        stage!(ytmp, |i, l| y[i][l] + h[l] * (A51 * k1[i][l] + A52 * k2[i][l] + A53 * k3[i][l] + A54 * k4[i][l]));
        freeze!(ytmp);
        sys.rhs(&at!(C5), &ytmp, &mut k5);
        stage!(ytmp, |i, l| y[i][l]
            + h[l] * (A61 * k1[i][l] + A62 * k2[i][l] + A63 * k3[i][l] + A64 * k4[i][l] + A65 * k5[i][l]));
        freeze!(ytmp);
        let mut t_new = [0.0; LANES];
        for l in 0..LANES {
            t_new[l] = if last[l] { t_end } else { t[l] + h[l] };
        }
        sys.rhs(&t_new, &ytmp, &mut k6);
        stage!(ynew, |i, l| y[i][l]
            + h[l] * (A71 * k1[i][l] + A73 * k3[i][l] + A74 * k4[i][l] + A75 * k5[i][l] + A76 * k6[i][l]));
        freeze!(ynew);
        sys.rhs(&t_new, &ynew, &mut k7);
        let mut evals = 6u64;

        let mut err = [0.0; LANES];
        let mut nw = [0.0; LANES];
        for i in 0..N {
            for l in 0..LANES {
                let e = h[l]
                    * (E1 * k1[i][l] + E3 * k3[i][l] + E4 * k4[i][l] + E5 * k5[i][l] + E6 * k6[i][l] + E7 * k7[i][l]);
                let sk = tol.atol[i] + tol.rtol * y[i][l].abs().max(ynew[i][l].abs());
                let q = e / sk;
                err[l] += core_w[i] * q * q;
                nw[l] += tol.weight[i];
                let dy = ynew[i][l] - y[i][l];
                let bspl = h[l] * k1[i][l] - dy;
                self.r[0][i][l] = y[i][l];
                self.r[1][i][l] = dy;
                self.r[2][i][l] = bspl;
                self.r[3][i][l] = dy - h[l] * k7[i][l] - bspl;
                self.r[4][i][l] = h[l]
                    * (D1 * k1[i][l] + D3 * k3[i][l] + D4 * k4[i][l] + D5 * k5[i][l] + D6 * k6[i][l] + D7 * k7[i][l]);
            }
        }
        self.k2 = k2;
        self.k3 = k3;
        self.k4 = k4;
        self.k5 = k5;
        self.k6 = k6;
        self.k7 = k7;
        self.ytmp = ytmp;
        self.ynew = ynew;
        if nc > 0 {
            let (cerr, ce) = self.cascade_step(sys, &cas, &t, &h, tol);
            evals += ce;
            for l in 0..LANES {
                err[l] += cerr[l];
            }
        }
        for l in 0..LANES {
            if oc[l] != Outcome::Rejected {
                continue;
            }
            self.ctl[l].stats.rhs_evals += evals;
            let e = if nw[l] > 0.0 { (err[l] / nw[l]).sqrt() } else { 0.0 };
            let mut finite = e.is_finite();
            for i in 0..N {
                finite = finite && self.ynew[i][l].is_finite() && self.k7[i][l].is_finite();
            }
            if self.ctl[l].end(e, h[l], last[l], finite) {
                oc[l] = Outcome::Accepted;
                self.t_prev[l] = t[l];
                self.t[l] = t_new[l];
                self.h_last[l] = h[l];
                for ci in 0..nc {
                    self.cy0[ci][l] = y[cas.idx[ci]][l];
                }
                let nonneg = sys.non_negative();
                for i in 0..N {
                    let v = self.ynew[i][l];
                    self.y[i][l] = if i < 64 && nonneg >> i & 1 == 1 && v < 0.0 { 0.0 } else { v };
                    self.k1[i][l] = self.k7[i][l];
                }
            }
        }
        oc
    }

    /// [`super::Dopri5`]'s cascade step on every lane; returns the cascade's share of each
    /// lane's squared error sum and the number of right-hand-side evaluations it made.
    #[inline(always)]
    fn cascade_step<S: BatchSystem<N>>(
        &mut self,
        sys: &S,
        cas: &Cascade,
        t: &Lanes,
        h: &Lanes,
        tol: &Tolerance<N>,
    ) -> (Lanes, u64) {
        let nc = cas.n.min(4);
        let y = self.y;
        let mut evals = 0u64;
        for k in 0..3 {
            let th = (k as f64 + 1.0) * 0.25;
            for i in 0..N {
                for l in 0..LANES {
                    self.nodes[k][i][l] = dense_core(
                        self.r[0][i][l],
                        self.r[1][i][l],
                        self.r[2][i][l],
                        self.r[3][i][l],
                        self.r[4][i][l],
                        th,
                    );
                }
            }
            for ci in 0..nc {
                self.nodes[k][cas.idx[ci]] = y[cas.idx[ci]];
            }
        }
        let mut tn = [[0.0; LANES]; 3];
        for k in 0..3 {
            for l in 0..LANES {
                tn[k][l] = t[l] + (k as f64 + 1.0) * 0.25 * h[l];
            }
        }
        let mut err = [0.0; LANES];
        let mut src4 = [[0.0; LANES]; 4];
        let mut have_dnodes = false;
        let (mut k7_new, mut dn_new) = (0, 0);
        let mut te = [0.0; LANES];
        for l in 0..LANES {
            te[l] = t[l] + h[l];
        }
        for ci in 0..nc {
            let c = cas.idx[ci];
            let (lam, b) = (self.rate[ci], self.base[ci]);
            let mut sn = [[0.0; LANES]; 3];
            let mut s4 = None;
            if sys.cascade_source(&tn[0], &self.nodes[0], ci, &mut sn[0]) {
                for k in 1..3 {
                    let ok = sys.cascade_source(&tn[k], &self.nodes[k], ci, &mut sn[k]);
                    debug_assert!(ok);
                }
                evals += 3;
                if ci > 0 && cas.coupled[ci] {
                    let mut e = [0.0; LANES];
                    let ok = sys.cascade_source(&te, &self.ynew, ci, &mut e);
                    debug_assert!(ok);
                    s4 = Some(e);
                    evals += 1;
                }
            } else {
                if ci > 0 && cas.coupled[ci] {
                    sys.rhs(&te, &self.ynew, &mut self.k7);
                    evals += 1;
                    (have_dnodes, k7_new) = (false, ci);
                }
                if !have_dnodes {
                    for k in 0..3 {
                        sys.rhs(&tn[k], &self.nodes[k], &mut self.dnodes[k]);
                    }
                    evals += 3;
                    (have_dnodes, dn_new) = (true, ci);
                }
                for k in 0..3 {
                    for l in 0..LANES {
                        sn[k][l] = self.dnodes[k][c][l] + lam[l] * (self.nodes[k][c][l] - b[l]);
                    }
                }
                for cj in dn_new..ci {
                    let (g, j) = (self.coupling[ci][cj], cas.idx[cj]);
                    for k in 0..3 {
                        for l in 0..LANES {
                            if g[l] != 0.0 {
                                sn[k][l] += g[l] * (self.nodes[k][j][l] - y[j][l]);
                            }
                        }
                    }
                }
            }
            let s4 = s4.unwrap_or_else(|| {
                let mut s4 = [0.0; LANES];
                for l in 0..LANES {
                    s4[l] = self.k7[c][l] + lam[l] * (self.ynew[c][l] - b[l]);
                }
                for cj in k7_new..ci {
                    let (g, j) = (self.coupling[ci][cj], cas.idx[cj]);
                    for l in 0..LANES {
                        if g[l] != 0.0 {
                            s4[l] += g[l] * (self.ynew[j][l] - y[j][l]);
                        }
                    }
                }
                s4
            });
            let mut a = [[0.0; LANES]; 5];
            let mut a3 = [[0.0; LANES]; 5];
            let mut z = [0.0; LANES];
            let mut mz = [0.0; LANES];
            for l in 0..LANES {
                let s = [self.k1[c][l] + lam[l] * (y[c][l] - b[l]), sn[0][l], sn[1][l], sn[2][l], s4[l]];
                let (al, a3l) = cascade_fit(&s);
                for j in 0..5 {
                    a[j][l] = al[j];
                    a3[j][l] = a3l[j];
                }
                src4[ci][l] = s[4];
                z[l] = lam[l] * h[l];
                mz[l] = -0.25 * z[l];
            }
            let e1 = exp4(&mz);
            let mut exn = [[0.0; LANES]; 3];
            let mut ex = [0.0; LANES];
            for l in 0..LANES {
                let (en, e) = node_exps(e1[l]);
                for k in 0..3 {
                    exn[k][l] = en[k];
                }
                ex[l] = e;
            }
            let m = moments4(&z, &ex);
            for l in 0..LANES {
                let al = [a[0][l], a[1][l], a[2][l], a[3][l], a[4][l]];
                let a3l = [a3[0][l], a3[1][l], a3[2][l], a3[3][l], a3[4][l]];
                let ml = [m[0][l], m[1][l], m[2][l], m[3][l], m[4][l]];
                let (y1, e) = cascade_end(&al, &a3l, &ml, y[c][l], b[l], h[l], ex[l]);
                let sk = tol.atol[c] + tol.rtol * y[c][l].abs().max(y1.abs());
                err[l] += tol.weight[c] * (e / sk) * (e / sk) * CASCADE_ERR_WEIGHT;
                self.ynew[c][l] = y1;
            }
            // its new values at the nodes, for the components after it (none after the last)
            for k in (0..3).filter(|_| ci + 1 < nc) {
                let th = (k as f64 + 1.0) * 0.25;
                let mut x = [0.0; LANES];
                for l in 0..LANES {
                    x[l] = z[l] * th;
                }
                let mk = moments4(&x, &exn[k]);
                for l in 0..LANES {
                    let al = [a[0][l], a[1][l], a[2][l], a[3][l], a[4][l]];
                    let ml = [mk[0][l], mk[1][l], mk[2][l], mk[3][l], mk[4][l]];
                    self.nodes[k][c][l] = cascade_value_m(&al, y[c][l], b[l], h[l], th, exn[k][l], &ml);
                }
            }
            self.ca[ci] = a;
        }
        for ci in 0..nc {
            let c = cas.idx[ci];
            for l in 0..LANES {
                self.k7[c][l] = src4[ci][l] - self.rate[ci][l] * (self.ynew[c][l] - self.base[ci][l]);
            }
        }
        (err, evals)
    }
}

/// [`super::dopri5::moments`] on four lanes: the branch-free recursion on all lanes, and the
/// series (also on all lanes, vectorized) when some lane is below 1; each lane then takes the
/// branch the scalar function takes.
#[inline(always)]
fn moments4(x: &Lanes, ex: &Lanes) -> [Lanes; 5] {
    let mut m = [[0.0; LANES]; 5];
    for l in 0..LANES {
        let r = moments_rec(x[l], ex[l]);
        for j in 0..5 {
            m[j][l] = r[j];
        }
    }
    let mut small = false;
    for l in 0..LANES {
        small |= x[l] < 1.0;
    }
    if small {
        let mut s = [[0.0; LANES]; 5];
        for l in 0..LANES {
            let r = moments_series(x[l]);
            for j in 0..5 {
                s[j][l] = r[j];
            }
        }
        for l in 0..LANES {
            if x[l] < 1.0 {
                for j in 0..5 {
                    m[j][l] = s[j][l];
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod cascade_tests {
    use super::*;
    use nalgebra::SVector;

    /// `y0' = -y0`, `y1' = y0 - 8 y1`; the problem is the cascade index of `y1`.
    struct Lin {
        idx: [usize; LANES],
    }
    impl BatchSystem<2> for Lin {
        type Problem = usize;
        fn load(&mut self, lane: usize, p: &usize) {
            self.idx[lane] = *p;
        }
        fn rhs(&self, _t: &Lanes, y: &[Lanes; 2], dy: &mut [Lanes; 2]) {
            for l in 0..LANES {
                dy[0][l] = -y[0][l];
                dy[1][l] = y[0][l] - 8.0 * y[1][l];
            }
        }
        fn cascade(&self, lane: usize) -> Cascade {
            Cascade { n: 1, idx: [self.idx[lane], 0, 0, 0], rate: [8.0, 0.0, 0.0, 0.0], ..Cascade::NONE }
        }
    }

    /// `y0' = -y0`, `y1' = y0 - 8 y1`, `y2' = g y1 - 5 y2`: a two-component cascade whose
    /// second source is affine in the first with the problem's coefficient `g`.
    struct Chain {
        g: Lanes,
    }
    impl BatchSystem<3> for Chain {
        type Problem = f64;
        fn load(&mut self, lane: usize, g: &f64) {
            self.g[lane] = *g;
        }
        fn rhs(&self, _t: &Lanes, y: &[Lanes; 3], dy: &mut [Lanes; 3]) {
            for l in 0..LANES {
                dy[0][l] = -y[0][l];
                dy[1][l] = y[0][l] - 8.0 * y[1][l];
                dy[2][l] = self.g[l] * y[1][l] - 5.0 * y[2][l];
            }
        }
        fn cascade(&self, lane: usize) -> Cascade {
            let mut coupling = [[0.0; 4]; 4];
            coupling[1][0] = self.g[lane];
            Cascade { n: 2, idx: [1, 2, 0, 0], rate: [8.0, 5.0, 0.0, 0.0], coupling, ..Cascade::NONE }
        }
    }
    /// The same problem for the scalar stepper.
    struct ChainScalar(f64);
    impl super::super::OdeSystem<3> for ChainScalar {
        fn rhs(&self, _t: f64, y: &SVector<f64, 3>, dy: &mut SVector<f64, 3>) {
            dy[0] = -y[0];
            dy[1] = y[0] - 8.0 * y[1];
            dy[2] = self.0 * y[1] - 5.0 * y[2];
        }
        fn cascade(&self) -> Cascade {
            Chain { g: [self.0; LANES] }.cascade(0)
        }
    }

    /// A linearly coupled cascade on the lanes: each lane with its own coefficient, the same
    /// bits as the scalar stepper, and the analytic solution `y2 = g (e^-t / 28 + e^-8t / 21
    /// - e^-5t / 12)` (from `y1 = (e^-t - e^-8t) / 7`) to 1e-8.
    #[test]
    fn a_linearly_coupled_cascade_matches_the_scalar_stepper_and_the_analytic_solution() {
        use super::super::{Dopri5, Stepper};
        let tol = Tolerance {
            rtol: 1e-9,
            atol: SVector::from([1e-12; 3]),
            weight: SVector::from([1.0; 3]),
            h_max: f64::INFINITY,
            max_steps: 10_000,
        };
        let gs = [3.0, 0.0, -2.5, 40.0, 1e-3, 7.0];
        let days = 4;
        let mut sys = Chain { g: [0.0; LANES] };
        let mut b = Dopri5Batch::<3>::with_method(Method::Dopri5Exp);
        let mut got = vec![Vec::new(); gs.len()];
        b.solve(
            &mut sys,
            &tol,
            gs.len(),
            days,
            |j| (gs[j], [1.0, 0.0, 0.0]),
            |j, r, rows| {
                assert!(r.is_ok(), "problem {j}: {r:?}");
                got[j] = rows.to_vec();
            },
        );
        for (j, &g) in gs.iter().enumerate() {
            let sys = ChainScalar(g);
            let mut st = Dopri5::<3>::with_method(Method::Dopri5Exp);
            st.clear();
            st.reset(&sys, 0.0, &SVector::from([1.0, 0.0, 0.0]), &tol);
            let mut rows = vec![[1.0, 0.0, 0.0]];
            let mut out = SVector::<f64, 3>::zeros();
            while st.t() < days as f64 {
                st.step(&sys, days as f64, &tol).unwrap();
                while (rows.len() as f64) <= st.t() {
                    st.dense(rows.len() as f64, &mut out);
                    rows.push(out.into());
                }
            }
            assert_eq!(got[j], rows, "problem {j}: batch and scalar differ");
            for (d, row) in rows.iter().enumerate() {
                let t = d as f64;
                let exact = g * ((-t).exp() / 28.0 + (-8.0 * t).exp() / 21.0 - (-5.0 * t).exp() / 12.0);
                assert!((row[2] - exact).abs() <= 1e-8 * (1.0 + g.abs()), "g {g}, day {d}: {} vs {exact}", row[2]);
            }
        }
    }

    #[test]
    fn a_malformed_cascade_fails_its_problem_only() {
        let tol = Tolerance {
            rtol: 1e-8,
            atol: SVector::from([1e-10, 1e-10]),
            weight: SVector::from([1.0, 1.0]),
            h_max: 1.0,
            max_steps: 10_000,
        };
        // 7 names a component outside the 2-component state; the first five fail at load
        let problems = [7usize, 7, 7, 7, 7, 1, 7, 1, 1, 7];
        let mut sys = Lin { idx: [1; LANES] };
        let mut b = Dopri5Batch::<2>::with_method(Method::Dopri5Exp);
        let mut res = vec![None; problems.len()];
        b.solve(
            &mut sys,
            &tol,
            problems.len(),
            1,
            |j| (problems[j], [1.0, 0.0]),
            |j, r, rows| {
                res[j] = Some(r.map(|_| rows[1][1]));
            },
        );
        // y1(1) = (e^-1 - e^-8)/7 (analytic), tolerance 1e-7
        let exact = ((-1f64).exp() - (-8f64).exp()) / 7.0;
        for (j, r) in res.iter().enumerate() {
            match (problems[j], r) {
                (1, Some(Ok(v))) => assert!((v - exact).abs() < 1e-7, "problem {j}: {v}"),
                (7, Some(Err((t, e)))) => {
                    assert_eq!((*t, *e), (0.0, SolveFailure::InvalidCascade { component: 0 }), "problem {j}")
                }
                other => panic!("problem {j}: {other:?}"),
            }
        }
    }
}
