//! One piece `[t_0, t_4]` of an accepted step, sampled at five points, and the crossing and
//! maximum searches on its dense output that the driver and the endpoint observer share.

use crate::locate::{first_upward, local_maxima, Probe, SAMPLES};
use crate::ode::Stepper;
use nalgebra::SVector;

/// A sampled piece of the current step: times, dense states and their derivatives, and the
/// stepper for evaluations anywhere in it.
pub(crate) struct Piece<'s, const N: usize, S: Stepper<N>> {
    pub ts: [f64; SAMPLES],
    pub ys: [SVector<f64, N>; SAMPLES],
    pub dys: [SVector<f64, N>; SAMPLES],
    pub st: &'s S,
    pub xtol: f64,
}

impl<'s, const N: usize, S: Stepper<N>> Piece<'s, N, S> {
    /// Sample `[ta, tb]` of the stepper's last step.
    pub fn sample(st: &'s S, ta: f64, tb: f64, xtol: f64) -> Self {
        let mut ts = [0.0; SAMPLES];
        let mut ys = [SVector::zeros(); SAMPLES];
        let mut dys = [SVector::zeros(); SAMPLES];
        for k in 0..SAMPLES {
            let t = if k == SAMPLES - 1 { tb } else { ta + (tb - ta) * (k as f64) / ((SAMPLES - 1) as f64) };
            ts[k] = t;
            st.dense_both(t, &mut ys[k], &mut dys[k]);
        }
        Piece { ts, ys, dys, st, xtol }
    }

    /// Start of the piece.
    #[inline]
    pub fn start(&self) -> f64 {
        self.ts[0]
    }

    /// End of the piece.
    #[inline]
    pub fn end(&self) -> f64 {
        self.ts[SAMPLES - 1]
    }

    /// Probe a scalar function `f(y, dy) -> (g, g')` at the samples.
    #[inline]
    pub fn probe(&self, f: &impl Fn(&SVector<f64, N>, &SVector<f64, N>) -> (f64, f64)) -> Probe {
        let mut p = Probe { t: self.ts, g: [0.0; SAMPLES], dg: [0.0; SAMPLES] };
        for k in 0..SAMPLES {
            let (g, dg) = f(&self.ys[k], &self.dys[k]);
            p.g[k] = g;
            p.dg[k] = dg;
        }
        p
    }

    /// First upward crossing of zero by `f` in the piece, given its probe.
    pub fn crossing(&self, p: &Probe, f: &impl Fn(&SVector<f64, N>, &SVector<f64, N>) -> (f64, f64)) -> Option<f64> {
        let mut y = SVector::zeros();
        let mut dy = SVector::zeros();
        let zero = SVector::zeros();
        let st = self.st;
        let value = |t: f64| {
            let mut y = SVector::zeros();
            st.dense(t, &mut y);
            f(&y, &zero).0
        };
        let slope = |t: f64| {
            st.dense_both(t, &mut y, &mut dy);
            f(&y, &dy).1
        };
        first_upward(p, value, slope, self.xtol)
    }

    /// Interior maxima of `f` in the piece, offered to `peak`.
    pub fn maxima(&self, p: &Probe, f: &impl Fn(&SVector<f64, N>, &SVector<f64, N>) -> (f64, f64), peak: &mut Peak) {
        let st = self.st;
        let mut y = SVector::zeros();
        let mut dy = SVector::zeros();
        let mut found = [f64::NAN; SAMPLES];
        let mut n = 0;
        local_maxima(
            p,
            |t| {
                st.dense_both(t, &mut y, &mut dy);
                f(&y, &dy).1
            },
            self.xtol,
            |tm| {
                found[n] = tm;
                n += 1;
            },
        );
        let zero = SVector::zeros();
        for &tm in &found[..n] {
            let mut yv = SVector::zeros();
            st.dense(tm, &mut yv);
            peak.offer(tm, f(&yv, &zero).0);
        }
    }

    /// The maximum of `f` over the piece (interior maxima and the end) offered to `peak`.
    pub fn track_max(&self, f: &impl Fn(&SVector<f64, N>, &SVector<f64, N>) -> (f64, f64), peak: &mut Peak) {
        let p = self.probe(f);
        self.maxima(&p, f, peak);
        peak.offer(self.end(), p.g[SAMPLES - 1]);
    }
}

/// A running maximum and the first time it was reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peak {
    pub v: f64,
    pub t: f64,
}

impl Peak {
    pub fn new() -> Self {
        Peak { v: f64::NEG_INFINITY, t: 0.0 }
    }
    #[inline]
    pub fn offer(&mut self, t: f64, v: f64) {
        if v > self.v {
            self.v = v;
            self.t = t;
        }
    }
}
