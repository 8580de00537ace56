//! A branch-free `exp` for the steppers and the minimal model, written so that the 4-lane
//! version [`exp4`] auto-vectorizes and is bit-identical, lane by lane, to the scalar [`exp`].
//!
//! Method: `x = k ln2 + r` with `k = round(x / ln2)` (the 1.5·2^52 shift trick, exact and
//! vectorizable), Cody–Waite reduction with a 32-bit `ln2_hi` (so `k ln2_hi` and `x - k ln2_hi`
//! are exact) and `ln2_lo`, `|r| <= ln2/2`; `exp(r) = 1 + (r + r² q(r))` with `q` the degree-11
//! Taylor polynomial of `(e^r - 1 - r)/r²` (truncation below 6e-18 relative), evaluated by
//! Estrin's scheme; then the result is scaled by `2^k` as `(p · 2^k1) · 2^k2`, `k1 + k2 = k`,
//! both factors normal, so that overflow gives `inf` and subnormal results are rounded once,
//! correctly from `p` (no flush to zero).
//!
//! Special values: `exp(NaN) = NaN`, `exp(+inf) = inf`, `exp(-inf) = 0`; `x > 709.782712893384`
//! gives `inf`, `x < -745.1332191019412` gives `+0` (the result rounds to zero there, as in
//! `f64::exp`). Accuracy: within 1 ulp of `f64::exp` everywhere (checked in `tests/batch.rs`
//! over 2·10^6 points of [-745.2, 709.8] and the special values), including the subnormal range.
//!
//! No `mul_add` is used (its software fallback is slow without FMA, and Rust never fuses
//! `a * b + c` on its own), so the results do not depend on the target features.

/// `1.5 · 2^52`: adding it rounds to an integer kept in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split: `LN2_HI` has 32 significant bits (fdlibm's `ln2HI`).
#[allow(clippy::excessive_precision)] // fdlibm's constants, digit for digit
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
#[allow(clippy::excessive_precision)]
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// Inputs are clamped to this range before the reduction (exp overflows above 709.79 and
/// rounds to 0 below -745.14, so the clamp does not change any result).
const X_MAX: f64 = 710.0;
const X_MIN: f64 = -746.0;

// 1/n!, n = 2..13
const C2: f64 = 1.0 / 2.0;
const C3: f64 = 1.0 / 6.0;
const C4: f64 = 1.0 / 24.0;
const C5: f64 = 1.0 / 120.0;
const C6: f64 = 1.0 / 720.0;
const C7: f64 = 1.0 / 5040.0;
const C8: f64 = 1.0 / 40320.0;
const C9: f64 = 1.0 / 362_880.0;
const C10: f64 = 1.0 / 3_628_800.0;
const C11: f64 = 1.0 / 39_916_800.0;
const C12: f64 = 1.0 / 479_001_600.0;
const C13: f64 = 1.0 / 6_227_020_800.0;

/// `e^x` (see the module docs for accuracy and special values).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // clamp; NaN passes through both comparisons and propagates to the result
    let x = if x > X_MAX { X_MAX } else { x };
    let x = if x < X_MIN { X_MIN } else { x };
    let ks = x * LOG2E + SHIFT;
    let kd = ks - SHIFT;
    let hi = x - kd * LN2_HI;
    let lo = kd * LN2_LO;
    let r = hi - lo;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q01 = C2 + C3 * r;
    let q23 = C4 + C5 * r;
    let q45 = C6 + C7 * r;
    let q67 = C8 + C9 * r;
    let q89 = C10 + C11 * r;
    let q1011 = C12 + C13 * r;
    let q03 = q01 + r2 * q23;
    let q47 = q45 + r2 * q67;
    let q811 = q89 + r2 * q1011;
    let q = q03 + r4 * q47 + r8 * q811;
    let p = 1.0 + (r + r2 * q);
    // k in [-1076, 1024]; u = k + 2048 > 0 taken from the low bits of ks
    let u = ks.to_bits().wrapping_sub(SHIFT.to_bits().wrapping_sub(2048));
    let h = u >> 1; // k1 = h - 1024, k2 = k - k1 = u - h - 1024
    let s1 = f64::from_bits((h - 1) << 52); // 2^k1 (biased exponent k1 + 1023)
    let s2 = f64::from_bits((u - h - 1) << 52); // 2^k2
    (p * s1) * s2
}

/// [`exp`] on four lanes; each lane is bit-identical to the scalar function (the loop is
/// vectorized by LLVM).
#[inline(always)]
pub fn exp4(x: &[f64; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    for l in 0..4 {
        out[l] = exp(x[l]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert!(exp(709.78).is_finite());
    }
}
