//! The 4-lane batch solver against the one-patient solver (bit for bit), the fast exponential
//! against `f64::exp`, and failure reporting in the batch path.

use cartkin::model::MinimalModel;
use cartkin::ode::fastexp::{exp, exp4};
use cartkin::{MinimalSolver, SolveFailure, SolverConfig, Stats};
use std::path::Path;

const DAYS: usize = 365;

/// The first `n` patients of the peers' population (2000-row copy in tests/data, else the
/// peers' own table, copied to tests/data for next time).
fn population(n: usize) -> Vec<MinimalModel> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/population_seed42_2000.csv");
    if !local.exists() {
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/population_seed42.csv");
        let text = std::fs::read_to_string(&peers).expect("no population table (tests/data or ../shared/peers)");
        let head: Vec<&str> = text.lines().take(2001).collect();
        std::fs::write(&local, head.join("\n") + "\n").expect("write tests/data/population_seed42_2000.csv");
    }
    cartkin::population::read_minimal_csv(&local).unwrap().into_iter().take(n).map(|r| r.model()).collect()
}

type Solved = (Result<Stats, (f64, SolveFailure)>, Vec<[f64; 6]>);

fn scalar(cfg: &SolverConfig, pts: &[MinimalModel]) -> Vec<Solved> {
    let mut s = MinimalSolver::new(cfg);
    pts.iter()
        .map(|m| {
            let mut out = vec![[0.0; 6]; DAYS + 1];
            let r = s.solve(m, &mut out);
            (r, out)
        })
        .collect()
}

fn batch(cfg: &SolverConfig, pts: &[MinimalModel]) -> Vec<Option<Solved>> {
    batch_on(MinimalSolver::new(cfg), pts)
}

fn batch_on(mut s: MinimalSolver, pts: &[MinimalModel]) -> Vec<Option<Solved>> {
    let mut res: Vec<Option<Solved>> = vec![None; pts.len()];
    s.solve_batch(pts, DAYS, |j, r, rows| {
        assert!(res[j].is_none(), "patient {j} reported twice");
        assert_eq!(rows.len(), DAYS + 1);
        res[j] = Some((r, rows.to_vec()));
    });
    res
}

fn same_bits(a: &[[f64; 6]], b: &[[f64; 6]]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.iter().zip(y).all(|(u, v)| u.to_bits() == v.to_bits()))
}

#[test]
fn batch_is_bit_identical_to_scalar_on_200_patients() {
    let pts = population(200);
    assert_eq!(pts.len(), 200);
    let cfg = SolverConfig::default();
    let sc = scalar(&cfg, &pts);
    let bt = batch(&cfg, &pts);
    for (j, (s, b)) in sc.iter().zip(&bt).enumerate() {
        let b = b.as_ref().unwrap_or_else(|| panic!("patient {j} not reported"));
        assert!(s.0.is_ok(), "patient {j} failed in the scalar solver: {:?}", s.0);
        assert_eq!(s.0, b.0, "patient {j}: statistics differ");
        assert!(same_bits(&s.1, &b.1), "patient {j}: daily outputs differ");
    }
}

#[test]
fn batch_handles_fewer_patients_than_lanes_and_other_methods() {
    let pts = population(7);
    for cfg in [SolverConfig::default().method(cartkin::Method::Dopri5), SolverConfig::with_rtol(1e-9).unwrap()] {
        for n in [1, 3, 7] {
            let sc = scalar(&cfg, &pts[..n]);
            let bt = batch(&cfg, &pts[..n]);
            for (s, b) in sc.iter().zip(&bt) {
                let b = b.as_ref().unwrap();
                assert_eq!(s.0, b.0);
                assert!(same_bits(&s.1, &b.1));
            }
        }
    }
}

#[test]
fn failed_patients_are_reported_not_lost() {
    // a step limit that some patients reach and others do not
    let pts = population(40);
    let cfg = SolverConfig::default().max_steps(190).unwrap();
    let sc = scalar(&cfg, &pts);
    let bt = batch(&cfg, &pts);
    let failed = sc.iter().filter(|s| s.0.is_err()).count();
    assert!(failed > 0 && failed < pts.len(), "the limit should split the patients ({failed} failed)");
    for (j, (s, b)) in sc.iter().zip(&bt).enumerate() {
        let b = b.as_ref().unwrap_or_else(|| panic!("patient {j} lost"));
        assert_eq!(s.0, b.0, "patient {j}");
        if let Err((t, e)) = b.0 {
            assert_eq!(e, SolveFailure::StepLimit { max_steps: 190 });
            assert!(t > 0.0 && t < DAYS as f64);
            // the rows up to the day reached are the scalar solver's
            let reached = t.floor() as usize;
            assert!(same_bits(&s.1[..=reached], &b.1[..=reached]), "patient {j}");
        } else {
            assert!(same_bits(&s.1, &b.1), "patient {j}");
        }
    }
    // a tiny limit: every patient fails, every one is reported
    let cfg = SolverConfig::default().max_steps(1).unwrap();
    let bt = batch(&cfg, &pts);
    assert!(bt.iter().all(|b| matches!(b, Some((Err((_, SolveFailure::StepLimit { max_steps: 1 })), _)))));
}

/// Distance in ulps between two finite doubles of the same sign (or zero).
fn ulps(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 {
            i64::MIN - i
        } else {
            i
        }
    };
    key(a).abs_diff(key(b))
}

#[test]
fn fastexp_is_within_one_ulp_of_std() {
    let (lo, hi) = (-745.2f64, 709.8f64);
    let n = 2_000_000u64;
    let mut worst = (0u64, 0.0f64);
    let mut check = |x: f64| {
        let (a, b) = (exp(x), x.exp());
        let d = if a == b { 0 } else { ulps(a, b) };
        if d > worst.0 {
            worst = (d, x);
        }
    };
    for k in 0..=n {
        check(lo + (hi - lo) * (k as f64 / n as f64));
    }
    // dense near 0, in the subnormal range and at the ends
    for k in 0..=200_000u64 {
        let u = k as f64 / 200_000.0;
        check(-1.0 + 2.0 * u);
        check(-745.2 + (745.2 - 708.0) * u);
        check(709.0 + 0.78 * u);
    }
    // pseudo-random bit patterns within the range
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..500_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let x = f64::from_bits(s);
        if x.is_finite() && x > lo && x < hi {
            check(x);
        }
    }
    assert!(worst.0 <= 1, "exp({}) is {} ulps from f64::exp", worst.1, worst.0);
    // special values
    assert!(exp(f64::NAN).is_nan());
    assert_eq!(exp(f64::INFINITY), f64::INFINITY);
    assert_eq!(exp(f64::NEG_INFINITY), 0.0);
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(-0.0), 1.0);
    assert_eq!(exp(1e-300), 1.0);
    assert_eq!(exp(709.79), f64::INFINITY);
    assert_eq!(exp(1e300), f64::INFINITY);
    assert_eq!(exp(-745.14), 0.0);
    assert_eq!(exp(-1e300), 0.0);
    assert_eq!(exp(709.782712893384), 709.782712893384f64.exp());
    assert_eq!(exp(-745.13), (-745.13f64).exp()); // smallest subnormal
    assert!(exp(-740.0) > 0.0 && exp(-740.0) < f64::MIN_POSITIVE);
}

#[test]
fn exp4_lanes_are_bit_identical_to_scalar() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut xs =
        vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 709.78, 709.79, -745.13, -745.14, -740.0, 1e-310];
    for _ in 0..400_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        xs.push(-760.0 + 1480.0 * ((s >> 11) as f64 / (1u64 << 53) as f64));
    }
    while xs.len() % 4 != 0 {
        xs.push(1.0);
    }
    for c in xs.chunks_exact(4) {
        let x = [c[0], c[1], c[2], c[3]];
        let v = exp4(&x);
        for l in 0..4 {
            assert_eq!(v[l].to_bits(), exp(x[l]).to_bits(), "lane {l}, x = {}", x[l]);
        }
    }
}

/// The SIMD path is picked at run time (no `-C target-cpu` in the repository's build
/// configuration): on a CPU with AVX2 and FMA the batch takes the AVX2 path, and the portable
/// path gives the same bits as the AVX2 path and as the one-patient solver.
#[test]
fn the_fast_and_portable_simd_paths_give_the_same_bits() {
    use cartkin::ode::SimdPath;
    let cfg = SolverConfig::default();
    let fast = MinimalSolver::new(&cfg);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        assert_eq!(fast.simd_path(), SimdPath::Avx2, "this CPU has AVX2 and FMA: the fast path must be taken");
    }
    let portable = MinimalSolver::new(&cfg).force_portable(true);
    assert_eq!(portable.simd_path(), SimdPath::Portable);
    let pts = population(200);
    let sc = scalar(&cfg, &pts);
    let (a, b) = (batch_on(fast, &pts), batch_on(portable, &pts));
    for (j, ((x, y), s)) in a.iter().zip(&b).zip(&sc).enumerate() {
        let (x, y) = (x.as_ref().unwrap(), y.as_ref().unwrap());
        assert_eq!(x.0, y.0, "patient {j}: statistics differ between the paths");
        assert!(same_bits(&x.1, &y.1), "patient {j}: the paths' daily outputs differ");
        assert!(same_bits(&x.1, &s.1), "patient {j}: batch and one-patient outputs differ");
    }
}
