//! Root and extremum location on a step's dense output.
//!
//! A crossing of a level by `g(t)` is found by sampling `g` and its time derivative at five
//! points of the step. A sign change of `g` between two samples brackets a root. Where `g`
//! stays on one side at both samples but `g'` turns (from rising to falling for an upward
//! crossing), the extremum is located as the root of `g'` and compared with the level: this
//! catches a threshold that is crossed and re-crossed inside one step (the near-tangent
//! case of MODEL.md section 4), which a sign test at step ends misses.

/// Number of sample points per piece (both ends included).
pub(crate) const SAMPLES: usize = 5;

/// Brent's method (zeroin) for a root of `f` in `[a, b]` with `f(a)` and `f(b)` of opposite
/// sign (or one of them zero). Returns the point at which `f` is >= 0 for an upward bracket
/// (`f(a) < 0 <= f(b)`): the reported time is never before the true crossing by more than
/// `xtol`, and `f` there is on the far side of the level.
pub(crate) fn brent<F: FnMut(f64) -> f64>(
    mut f: F,
    mut a: f64,
    mut b: f64,
    mut fa: f64,
    mut fb: f64,
    xtol: f64,
) -> f64 {
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    let mut c = a;
    let mut fc = fa;
    let mut d = b - a;
    let mut e = d;
    for _ in 0..200 {
        if (fb > 0.0) == (fc > 0.0) {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol1 = 2.0 * f64::EPSILON * b.abs() + 0.5 * xtol;
        let xm = 0.5 * (c - b);
        if xm.abs() <= tol1 || fb == 0.0 {
            break;
        }
        if e.abs() >= tol1 && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * xm * s;
                q = 1.0 - s;
            } else {
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * xm * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            }
            p = p.abs();
            let min1 = 3.0 * xm * q - (tol1 * q).abs();
            let min2 = (e * q).abs();
            if 2.0 * p < min1.min(min2) {
                e = d;
                d = p / q;
            } else {
                d = xm;
                e = d;
            }
        } else {
            d = xm;
            e = d;
        }
        a = b;
        fa = fb;
        if d.abs() > tol1 {
            b += d;
        } else {
            b += tol1.copysign(xm);
        }
        fb = f(b);
    }
    // return the end of the final bracket on the positive side of the level
    if fb >= 0.0 {
        b
    } else {
        c
    }
}

/// Samples of `g - level` (oriented so that the crossing sought is upward) and of its time
/// derivative at the [`SAMPLES`] points of a piece.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pub t: [f64; SAMPLES],
    pub g: [f64; SAMPLES],
    pub dg: [f64; SAMPLES],
}

/// Whether [`first_upward`] can find nothing in a piece where the function's values lie in
/// `range`: every value is below `level`, or the piece starts at or above it (only a
/// crossing from below the level at the piece's start is searched). `None` (no range known):
/// it may find one.
pub(crate) fn no_upward_crossing(range: Option<(f64, f64)>, level: f64) -> bool {
    matches!(range, Some((l, h)) if h < level || l >= level)
}

/// First upward crossing of zero by `g` in `(t_0, t_4]` given the samples; `g(t_0) < 0` is
/// required (a function already at or above the level does not "reach" it). `value(t)` and
/// `slope(t)` evaluate `g` and `g'` anywhere in the piece.
pub(crate) fn first_upward<V, D>(p: &Probe, mut value: V, mut slope: D, xtol: f64) -> Option<f64>
where
    V: FnMut(f64) -> f64,
    D: FnMut(f64) -> f64,
{
    if !(p.g[0] < 0.0) {
        return None;
    }
    for k in 0..SAMPLES - 1 {
        let (ta, tb) = (p.t[k], p.t[k + 1]);
        let (ga, gb) = (p.g[k], p.g[k + 1]);
        if ga < 0.0 && gb >= 0.0 {
            return Some(brent(&mut value, ta, tb, ga, gb, xtol));
        }
        if ga < 0.0 && gb < 0.0 && p.dg[k] > 0.0 && p.dg[k + 1] < 0.0 {
            // a local maximum inside: locate it as the root of g' (falling through zero)
            let tm = brent(|t| -slope(t), ta, tb, -p.dg[k], -p.dg[k + 1], xtol);
            let gm = value(tm);
            if gm >= 0.0 {
                return Some(brent(&mut value, ta, tm, ga, gm, xtol));
            }
        }
    }
    None
}

/// Interior local maxima of `g` in the piece: every `t` where `g'` falls through zero
/// between two samples, located as a root of `g'`.
pub(crate) fn local_maxima<D>(p: &Probe, mut slope: D, xtol: f64, mut found: impl FnMut(f64))
where
    D: FnMut(f64) -> f64,
{
    for k in 0..SAMPLES - 1 {
        if p.dg[k] > 0.0 && p.dg[k + 1] <= 0.0 {
            let tm = if p.dg[k + 1] == 0.0 {
                p.t[k + 1]
            } else {
                brent(|t| -slope(t), p.t[k], p.t[k + 1], -p.dg[k], -p.dg[k + 1], xtol)
            };
            found(tm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(f: impl Fn(f64) -> f64, df: impl Fn(f64) -> f64, a: f64, b: f64) -> Probe {
        let mut p = Probe { t: [0.0; SAMPLES], g: [0.0; SAMPLES], dg: [0.0; SAMPLES] };
        for k in 0..SAMPLES {
            let t = a + (b - a) * k as f64 / (SAMPLES - 1) as f64;
            p.t[k] = t;
            p.g[k] = f(t);
            p.dg[k] = df(t);
        }
        p
    }

    #[test]
    fn brent_finds_cos_root_to_1e_12() {
        let r = brent(|t: f64| -t.cos(), 0.0, 3.0, -1.0, -(3f64).cos(), 1e-13);
        assert!((r - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    }

    #[test]
    fn near_tangent_crossing_inside_one_piece_is_found() {
        // g peaks 0.14% above the level between two samples and is below at every sample.
        let tc = 0.3;
        let w = 0.0014;
        let f = |t: f64| w - 10.0 * (t - tc) * (t - tc);
        let df = |t: f64| -20.0 * (t - tc);
        let p = probe(f, df, 0.0, 1.0);
        assert!(p.g.iter().all(|&g| g < 0.0), "no sample sees the crossing");
        let r = first_upward(&p, f, df, 1e-14).expect("crossing found");
        let exact = tc - (w / 10.0f64).sqrt();
        assert!((r - exact).abs() < 1e-9, "{r} vs {exact}");
    }

    #[test]
    fn no_crossing_when_the_maximum_stays_below() {
        let f = |t: f64| -0.0014 - 10.0 * (t - 0.3) * (t - 0.3);
        let df = |t: f64| -20.0 * (t - 0.3);
        let p = probe(f, df, 0.0, 1.0);
        assert_eq!(first_upward(&p, f, df, 1e-14), None);
    }
}
