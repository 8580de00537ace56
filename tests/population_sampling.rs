//! Population sampling (one generator per patient, a documented draw order, value-stability pins): the sampled marginals against their
//! analytic distributions (Kolmogorov–Smirnov), correlation, value stability for a seed,
//! reproducibility per `(seed, id)`, validity of every draw, and the table readers on the
//! shared reference and peer tables (copied into `tests/data/`).

// Table values are copied verbatim from the `%.17g` files, digit for digit.
#![allow(clippy::excessive_precision)]

use cartkin::population::{
    patient_rng, read_minimal_csv, read_population_csv, Amount, BodyWeight, Dose, EscapeSubclone, Fraction,
    NumericTable, Population, RegimenTemplate, TableError, VirtualPatient,
};
use cartkin::{Params, Phenotype, TociPolicy};
use rand::distr::Distribution;
use std::path::PathBuf;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------
// Helpers: the normal CDF and the KS statistic
// ---------------------------------------------------------------------------------------

/// Complementary error function: the Chebyshev-fitted approximation of Numerical Recipes
/// (Press et al., 2nd ed., section 6.2, `erfcc`), fractional error < 1.2e-7 everywhere. KS
/// statistics here are compared with critical values of order 1e-2, so this is ample.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Standard normal CDF.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// KS statistic `D = sup |F_n(x) - F(x)|` of `xs` against the CDF `cdf`.
fn ks(mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in xs.iter().enumerate() {
        let f = cdf(x);
        d = d.max((i as f64 + 1.0) / n - f).max(f - i as f64 / n);
    }
    d
}

/// Critical value of the one-sample KS test at alpha = 0.001 (asymptotic):
/// `c(alpha) / sqrt(n)` with `c = sqrt(-ln(alpha / 2) / 2) = 1.949`.
fn ks_critical_001(n: usize) -> f64 {
    1.949 / (n as f64).sqrt()
}

/// Assert `D < 1.949/sqrt(n)` (alpha = 0.001) and print both (`--nocapture` shows them).
fn assert_ks(label: &str, d: f64, n: usize) {
    let c = ks_critical_001(n);
    println!("KS {label}: D = {d:.5}, critical (alpha 0.001, n = {n}) = {c:.5}");
    assert!(d < c, "{label}: D = {d} >= {c}");
}

fn uniform01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// 20,000 patients of the reference population (seed 2026, ids 0..20000), shared by the KS
/// tests.
const N: usize = 20_000;
fn reference_draws() -> &'static [VirtualPatient] {
    static DRAWS: OnceLock<Vec<VirtualPatient>> = OnceLock::new();
    DRAWS.get_or_init(|| {
        let pop = Population::reference_200();
        (0..N as u64).map(|id| pop.sample_patient(2026, id)).collect()
    })
}

#[test]
fn normal_cdf_is_accurate() {
    // Reference values of Phi (to 16 digits); tolerance 2e-7 absolute (the erfc bound).
    for (x, want) in [
        (0.0, 0.5),
        (1.0, 0.841_344_746_068_542_9),
        (-1.959_963_984_540_054, 0.025),
        (3.0, 0.998_650_101_968_369_9),
        (-4.0, 3.167_124_183_311_992e-5),
    ] {
        assert!((phi(x) - want).abs() < 2e-7, "Phi({x}) = {} vs {want}", phi(x));
    }
}

// ---------------------------------------------------------------------------------------
// (a) KS tests of each marginal of reference_200()
// ---------------------------------------------------------------------------------------

#[test]
fn ks_log_normal_parameters() {
    let draws = reference_draws();
    let typical = Params::nominal();
    let sigma = (1.0f64 + 0.4 * 0.4).ln().sqrt(); // CV 40%
    let pop = Population::reference_200();
    assert_eq!(pop.varied_names(), ["rho_E", "k_kill", "r_L", "delta_E", "p_I"]);
    for &(name, s) in pop.varied_names().iter().zip(pop.sigmas()).collect::<Vec<_>>().iter() {
        assert!((s - sigma).abs() < 1e-15);
        let typ = typical.get(name).unwrap();
        let z: Vec<f64> = draws.iter().map(|p| (p.params.get(name).unwrap() / typ).ln() / sigma).collect();
        let d = ks(z, phi);
        // alpha = 0.001: D < 1.949 / sqrt(20000) = 0.01378
        assert_ks(name, d, N);
    }
    // the other parameters are REF-1 (f_mem 0.2 is REF-1's too)
    let p = &draws[0].params;
    for &name in Params::NAMES {
        if !pop.varied_names().contains(&name) {
            assert_eq!(p.get(name), typical.get(name), "{name}");
        }
    }
}

#[test]
fn ks_uniform_f0() {
    let u: Vec<f64> = reference_draws().iter().map(|p| (p.covariates.f0 - 0.01) / 0.94).collect();
    let d = ks(u, uniform01);
    assert_ks("f0", d, N); // 1.949/sqrt(n)
}

#[test]
fn ks_log_uniform_dose() {
    let span = (5e8f64 / 2e7).ln();
    let u: Vec<f64> = reference_draws()
        .iter()
        .map(|p| {
            assert_eq!(p.regimen.total_cells(), p.covariates.dose_cells);
            assert!((2e7..=5e8).contains(&p.covariates.dose_cells));
            (p.covariates.dose_cells / 2e7).ln() / span
        })
        .collect();
    let d = ks(u, uniform01);
    assert_ks("dose", d, N); // 1.949/sqrt(n)
}

#[test]
fn escape_presence_is_bernoulli_half_and_fraction_log10_uniform() {
    let draws = reference_draws();
    let present: Vec<&VirtualPatient> = draws.iter().filter(|p| p.covariates.frac_cd19neg > 0.0).collect();
    let k = present.len() as f64;
    // Binomial(20000, 1/2): mean 10000, sd sqrt(20000/4) = 70.7; two-sided alpha = 0.001 is
    // |k - 10000| < 3.29 sd = 233.
    let sd = (N as f64 * 0.25).sqrt();
    assert!((k - N as f64 / 2.0).abs() < 3.29 * sd, "present in {k} of {N}");
    for p in draws {
        let b = p.patient.blasts();
        let l_tot = p.params.h * p.covariates.f0 / (1.0 - p.covariates.f0);
        let frac = p.covariates.frac_cd19neg;
        assert_eq!(b[Phenotype::CD19_NEG.index()], frac * l_tot);
        assert_eq!(b[Phenotype::DOUBLE_POS.index()], (1.0 - frac) * l_tot);
        assert_eq!(b[Phenotype::CD22_NEG.index()], 0.0);
        assert_eq!(b[Phenotype::DOUBLE_NEG.index()], 0.0);
    }
    let u: Vec<f64> = present.iter().map(|p| (p.covariates.frac_cd19neg.log10() + 7.0) / 4.0).collect();
    let d = ks(u, uniform01);
    assert_ks("fraction", d, present.len()); // 1.949/sqrt(n_present)
}

#[test]
fn reference_table_is_consistent_with_reference_200() {
    // The 200 reference patients were drawn from this distribution (by numpy): the same KS
    // tests at alpha = 0.001 with n = 200 (critical value 1.949/sqrt(200) = 0.138).
    let pts = read_population_csv(data("population_200.csv")).unwrap();
    let pop = Population::reference_200();
    let typical = Params::nominal();
    for (&name, &s) in pop.varied_names().iter().zip(pop.sigmas()) {
        let typ = typical.get(name).unwrap();
        let z: Vec<f64> = pts.iter().map(|p| (p.params.get(name).unwrap() / typ).ln() / s).collect();
        let d = ks(z, phi);
        assert_ks(name, d, 200);
    }
    let d = ks(pts.iter().map(|p| (p.covariates.f0 - 0.01) / 0.94).collect(), uniform01);
    assert_ks("f0", d, 200);
    let span = (5e8f64 / 2e7).ln();
    let d = ks(pts.iter().map(|p| (p.covariates.dose_cells / 2e7).ln() / span).collect(), uniform01);
    assert_ks("dose", d, 200);
    let fr: Vec<f64> = pts
        .iter()
        .filter(|p| p.covariates.frac_cd19neg > 0.0)
        .map(|p| (p.covariates.frac_cd19neg.log10() + 7.0) / 4.0)
        .collect();
    assert_eq!(fr.len(), 100, "the reference picked exactly 100 of 200");
    let d = ks(fr, uniform01);
    assert_ks("fraction", d, 100);
}

// ---------------------------------------------------------------------------------------
// (b) correlation through a Cholesky factor
// ---------------------------------------------------------------------------------------

#[test]
fn cholesky_correlation_of_log_values() {
    let rho: f64 = 0.8;
    let pop = Population::builder(Params::nominal())
        .variability("rho_E", 0.4)
        .variability("k_kill", 0.3)
        .correlation_cholesky(vec![vec![1.0, 0.0], vec![rho, (1.0 - rho * rho).sqrt()]])
        .build()
        .unwrap();
    let n = 20_000;
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for id in 0..n as u64 {
        let p = pop.sample_patient(7, id);
        x.push(p.params.rho_e.ln());
        y.push((p.params.k_kill / 2.0).ln());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(&x), mean(&y));
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let r = sxy / (sxx * syy).sqrt();
    // sd of r is about (1 - rho^2)/sqrt(n) = 0.0025; tolerance +-0.03
    assert!((r - rho).abs() < 0.03, "sample correlation {r}");
    // each marginal keeps its own sigma: sd of ln within 3% (sd of the sd ~ 0.5%)
    let sx = (sxx / (n - 1) as f64).sqrt();
    let sy = (syy / (n - 1) as f64).sqrt();
    let (sig_x, sig_y) = ((1.0f64 + 0.16).ln().sqrt(), (1.0f64 + 0.09).ln().sqrt());
    assert!((sx / sig_x - 1.0).abs() < 0.03, "{sx} vs {sig_x}");
    assert!((sy / sig_y - 1.0).abs() < 0.03, "{sy} vs {sig_y}");
}

// ---------------------------------------------------------------------------------------
// (c) value stability
// ---------------------------------------------------------------------------------------

/// Deliberate snapshot: patients 0, 1, 2 of `reference_200()` with seed 42, to all digits.
/// It guards reproducibility across versions (of this crate, rand, rand_distr and
/// rand_chacha): if it changes, every seeded trial result changes. Update it only on purpose,
/// and say so in the changelog.
#[test]
fn value_stability_seed_42() {
    #[rustfmt::skip]
    let want: [[f64; 8]; 3] = [
        // rho_E, k_kill, r_L, delta_E, p_I, f0, frac_CD19neg, dose
        [1.2021886701945197, 3.3437806981291356, 0.04609875518838461, 0.36042959416906545, 82.09570086178181, 0.15096133807290546, 0.00016424458823087305, 239436041.010838],
        [1.269348127979329, 1.4176899116240267, 0.04907308851892541, 0.6266593904303391, 56.081182118551034, 0.7373153357748441, 1.6317577333703055e-7, 40100332.87312593],
        [1.0153179878692227, 1.0684690104558645, 0.045593324535042085, 0.2913647300723694, 104.54506445150498, 0.29107222461219795, 3.580049251677538e-7, 39227684.81014516],
    ];
    let pop = Population::reference_200();
    for (id, w) in want.iter().enumerate() {
        let p = pop.sample_patient(42, id as u64);
        let s = p.sampled_parameters();
        let got = [
            s[0].1,
            s[1].1,
            s[2].1,
            s[3].1,
            s[4].1,
            p.covariates.f0,
            p.covariates.frac_cd19neg,
            p.covariates.dose_cells,
        ];
        assert_eq!(&got, w, "patient {id}: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------
// (d) a patient depends only on (seed, id)
// ---------------------------------------------------------------------------------------

#[test]
fn patient_depends_only_on_seed_and_id() {
    let pop = Population::reference_200();
    let ids = [0u64, 1, 2, 17, 1000, u64::MAX];
    let forward: Vec<VirtualPatient> = ids.iter().map(|&id| pop.sample_patient(5, id)).collect();
    // reverse order, with other ids and seeds drawn in between
    let mut backward = Vec::new();
    for &id in ids.iter().rev() {
        let _ = pop.sample_patient(5, id.wrapping_add(1));
        let _ = pop.sample_patient(6, id);
        backward.push(pop.sample_patient(5, id));
    }
    backward.reverse();
    assert_eq!(forward, backward);
    for (p, &id) in forward.iter().zip(&ids) {
        assert_eq!(p.id, id);
        // the same as the Distribution on patient_rng(seed, id), apart from the id
        let mut q = pop.sample(&mut patient_rng(5, id));
        assert_eq!(q.id, 0);
        q.id = id;
        assert_eq!(&q, p);
    }
    // the iterator gives the same patients
    let first: Vec<VirtualPatient> = pop.patients(5).take(3).collect();
    assert_eq!(&first[..], &forward[..3]);
    // different ids and seeds differ
    assert_ne!(forward[0].params, forward[1].params);
    assert_ne!(pop.sample_patient(6, 0).params, forward[0].params);
    // from several threads, in any order
    let from_threads: Vec<VirtualPatient> = std::thread::scope(|s| {
        let hs: Vec<_> = ids
            .iter()
            .rev()
            .map(|&id| {
                s.spawn({
                    let pop = &pop;
                    move || pop.sample_patient(5, id)
                })
            })
            .collect();
        let mut v: Vec<VirtualPatient> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        v.reverse();
        v
    });
    assert_eq!(from_threads, forward);
}

// ---------------------------------------------------------------------------------------
// (e) every draw is a valid patient
// ---------------------------------------------------------------------------------------

#[test]
fn every_reference_draw_gives_a_valid_scenario() {
    let pop = Population::reference_200();
    for id in 0..100_000u64 {
        let p = pop.sample_patient(99, id);
        if let Err(e) = p.scenario(365.0) {
            panic!("patient {id}: {e}");
        }
    }
}

#[test]
fn extreme_populations_still_give_valid_patients() {
    // Absurd CVs, U-shaped Betas, log-uniforms over 600 decades, a heavy weight tail and a
    // split template: the clamps keep every draw inside its domain.
    let names = ["rho_E", "K_A", "tau_LD", "H", "K_C", "k_kill", "delta_M", "K_k", "k_I"];
    let mut b = Population::builder(Params::nominal());
    for name in names {
        b = b.variability(name, 1e3);
    }
    let n = names.len();
    let corr: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.9 }).collect()).collect();
    let pop = b
        .correlation(corr)
        .f0(Fraction::Beta { a: 0.01, b: 0.01, lo: 0.0, hi: 1.0 })
        .escape(Some(EscapeSubclone {
            phenotype: Phenotype::CD22_NEG,
            probability: 0.5,
            fraction: Amount::LogUniform { lo: 1e-300, hi: 1.0 },
        }))
        .dose(Dose::PerKg {
            cells_per_kg: Amount::LogUniform { lo: 1e-300, hi: 1e300 },
            weight: BodyWeight { median_kg: 40.0, cv: 10.0, min_kg: 1e-3, max_kg: 1e3 },
            flat_above_kg: Some((50.0, Amount::LogUniform { lo: 1e-300, hi: 1e300 })),
        })
        .f_mem(Fraction::Beta { a: 0.01, b: 0.01, lo: 0.0, hi: 1.0 })
        .regimen(RegimenTemplate {
            schedule: vec![(0.0, 0.1), (1.0, 0.3), (2.0, 0.6)],
            tocilizumab: TociPolicy::Prophylactic { times: vec![0.0] },
            ..RegimenTemplate::default()
        })
        .build()
        .unwrap();
    let mut rng = patient_rng(1, 1);
    for p in pop.sample_iter(&mut rng).take(20_000) {
        assert!(p.scenario(365.0).is_ok(), "{p:?}");
        assert!(p.covariates.f0 <= cartkin::population::F0_MAX);
        assert!(p.patient.blasts().iter().all(|b| b.is_finite() && *b >= 0.0));
        assert!(p.regimen.infusions().iter().all(|i| i.cells.is_finite() && i.cells > 0.0));
        assert!((0.0..=1.0).contains(&p.params.f_mem));
    }
}

// ---------------------------------------------------------------------------------------
// (f) table readers
// ---------------------------------------------------------------------------------------

#[test]
fn reads_the_reference_population_table() {
    let pts = read_population_csv(data("population_200.csv")).unwrap();
    assert_eq!(pts.len(), 200);
    for (k, p) in pts.iter().enumerate() {
        assert_eq!(p.id, k as u64);
        assert!(p.scenario(365.0).is_ok());
        // the L0 columns agree with f0 and frac_CD19neg (README: L_tot = H f0 / (1 - f0))
        let l_tot = 5e11 * p.covariates.f0 / (1.0 - p.covariates.f0);
        assert!((p.patient.l_tot() - l_tot).abs() <= 1e-12 * l_tot, "patient {k}");
    }
    // id 0, exactly as written (17 significant digits round-trip)
    let p0 = &pts[0];
    assert_eq!(
        p0.sampled_parameters(),
        vec![
            ("rho_E", 0.73671589625217282),
            ("k_kill", 2.1942230716762681),
            ("r_L", 0.024081821652192689),
            ("delta_E", 0.5136324597338775),
            ("p_I", 127.87781764865174),
        ]
    );
    assert_eq!(p0.covariates.f0, 0.14905379832180793);
    assert_eq!(p0.covariates.frac_cd19neg, 3.208829699288075e-05);
    assert_eq!(p0.covariates.dose_cells, 94720238.691687435);
    assert_eq!(p0.regimen.total_cells(), 94720238.691687435);
    assert_eq!(p0.patient.blasts(), [87578401046.571854, 2810331.9217093685, 0.0, 0.0]);
    assert_eq!(p0.params.f_mem, 0.2);
    assert_eq!(p0.params.k_a, 1e10);
    // id 199: no CD19-CD22+ blasts
    let p = &pts[199];
    assert_eq!(p.id, 199);
    assert_eq!(
        [p.params.rho_e, p.params.k_kill, p.params.r_l, p.params.delta_e, p.params.p_i],
        [1.2071906114417668, 2.4964262915956659, 0.021742578146917723, 0.34810633964597432, 96.775215963463779]
    );
    assert_eq!(p.covariates.f0, 0.49286742062083538);
    assert_eq!(p.covariates.frac_cd19neg, 0.0);
    assert_eq!(p.covariates.dose_cells, 39751404.236127287);
    assert_eq!(p.patient.blasts(), [485935473938.79456, 0.0, 0.0, 0.0]);
    assert_eq!(p.patient.b0(), 1e8);
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("cartkin_{tag}_{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bad_tables_name_file_line_and_column() {
    let dir = TempDir::new("pop_tables");
    let good = std::fs::read_to_string(data("population_200.csv")).unwrap();
    let lines: Vec<&str> = good.lines().take(4).collect(); // header + ids 0, 1, 2

    // a missing column (p_I dropped from the header and every row)
    let drop_col = |l: &str| -> String {
        let mut f: Vec<&str> = l.split(',').collect();
        f.remove(5);
        f.join(",")
    };
    let path = dir.0.join("missing.csv");
    std::fs::write(&path, lines.iter().map(|l| drop_col(l)).collect::<Vec<_>>().join("\n")).unwrap();
    let e = read_population_csv(&path).unwrap_err();
    assert!(matches!(&e, TableError::MissingColumn { column, line: 1, .. } if column == "p_I"), "{e}");
    assert!(e.to_string().contains("missing.csv") && e.to_string().contains("line 1"), "{e}");

    // a non-numeric value: k_kill (column 3) of id 1 (line 3)
    let with_value = |v: &str| -> String {
        let mut rows: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        let mut f: Vec<&str> = lines[2].split(',').collect();
        f[2] = v;
        rows[2] = f.join(",");
        rows.join("\n") + "\n"
    };
    let path = dir.0.join("abc.csv");
    std::fs::write(&path, with_value("abc")).unwrap();
    let e = read_population_csv(&path).unwrap_err();
    assert!(
        matches!(&e, TableError::NotANumber { line: 3, index: 3, column, text, .. } if column == "k_kill" && text == "abc"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("abc.csv") && msg.contains("line 3") && msg.contains("column 3 (k_kill)"), "{msg}");

    // NaN (f64::from_str accepts it; the reader must not)
    let path = dir.0.join("nan.csv");
    std::fs::write(&path, with_value("NaN")).unwrap();
    let e = read_population_csv(&path).unwrap_err();
    assert!(matches!(&e, TableError::NonFinite { line: 3, index: 3, column, .. } if column == "k_kill"), "{e}");
    assert_eq!(e.line(), Some(3));
    assert_eq!(e.column(), Some("k_kill"));

    // a value out of its domain
    let path = dir.0.join("neg.csv");
    std::fs::write(&path, with_value("-1")).unwrap();
    let e = read_population_csv(&path).unwrap_err();
    assert!(matches!(&e, TableError::Invalid { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("k_kill"), "{e}");

    // the good prefix reads
    let path = dir.0.join("good.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    assert_eq!(read_population_csv(&path).unwrap().len(), 3);
}

#[test]
fn reads_the_peers_minimal_table() {
    let rows = read_minimal_csv(data("population_seed42_2000.csv")).unwrap();
    assert_eq!(rows.len(), 2000);
    assert!(rows.iter().enumerate().all(|(k, r)| r.id == k as u64));
    let r0 = rows[0];
    assert_eq!(
        [r0.rho_e, r0.k_kill, r0.l0, r0.r_l, r0.delta_e],
        [1.1548176765210827, 1.2236996038829828, 142546586273.51813, 0.077970273885614602, 0.11936082564352184]
    );
    let r = rows[1999];
    assert_eq!(
        [r.rho_e, r.k_kill, r.l0, r.r_l, r.delta_e],
        [2.1496540368531156, 1.9411920582664208, 104109170256.87785, 0.085057754280288486, 0.27517512336366223]
    );
    // each column is log-normal with CV 50% around the minimal model's typical values
    // (peers/README.md): KS at alpha = 0.001, critical value 1.949/sqrt(2000) = 0.0436
    let sigma = (1.0f64 + 0.25).ln().sqrt();
    assert!((sigma - 0.472381).abs() < 1e-6);
    type Get = fn(&cartkin::population::MinimalRow) -> f64;
    let cols: [(&str, f64, Get); 5] = [
        ("rhoE", 1.0, |r| r.rho_e),
        ("kk", 2.0, |r| r.k_kill),
        ("L0", 1e11, |r| r.l0),
        ("rL", 0.05, |r| r.r_l),
        ("dE", 0.3, |r| r.delta_e),
    ];
    for (name, typ, get) in cols {
        let d = ks(rows.iter().map(|r| (get(r) / typ).ln() / sigma).collect(), phi);
        assert_ks(name, d, rows.len());
    }
    // each row is a scenario of the minimal model
    let sc = rows[0].scenario().unwrap();
    assert_eq!(sc.params().rho_e, r0.rho_e);
    assert_eq!(sc.params().k_c, f64::INFINITY);
    assert_eq!(sc.patient().blasts()[Phenotype::CD22_NEG.index()], r0.l0);
    assert_eq!(sc.patient().blasts()[Phenotype::DOUBLE_NEG.index()], 1e4);
}

#[test]
fn reference_summaries_are_not_a_minimal_table() {
    // The peers' reference summaries (tests/data/reference_summaries.csv) are keyed by the
    // same ids as the first 50 rows of the population table; they are outputs, so the
    // minimal-table reader rejects them for their missing input columns.
    let e = read_minimal_csv(data("reference_summaries.csv")).unwrap_err();
    assert!(matches!(&e, TableError::MissingColumn { column, .. } if column == "rhoE"), "{e}");
    let t = NumericTable::read(data("reference_summaries.csv")).unwrap();
    assert_eq!(t.len(), 50);
    let id = t.column("id").unwrap();
    let rows = read_minimal_csv(data("population_seed42_2000.csv")).unwrap();
    for (k, row) in rows.iter().take(t.len()).enumerate() {
        assert_eq!(t.id(k, id).unwrap(), row.id);
    }
    let tmax = t.column("Tmax_EM").unwrap();
    assert!((0..t.len()).all(|k| t.get(k, tmax).unwrap().fract() == 0.0));
}

// ---------------------------------------------------------------------------------------
// (g) invalid draws are recorded failures, never panics (found by tests/fuzz.rs)
// ---------------------------------------------------------------------------------------

#[test]
fn a_draw_outside_the_patient_domain_is_a_recorded_failure_not_a_panic() {
    use cartkin::trial::{PatientSource, Trial};
    // H = 1e308 (accepted by its domain) puts every patient's initial blasts above 1e30
    let mut p = Params::nominal();
    p.set("H", 1e308).unwrap();
    let pop = Population::builder(p).build().unwrap();
    let e = pop.try_sample_patient(1, 0).unwrap_err();
    assert!(e.to_string().contains("<= 1e30 cells"), "{e}");
    assert!(pop.patient(1, 0).is_err());
    let s = Trial::new(pop, 5, 1).run(&mut |_| {}, None);
    assert_eq!(s.n_failed(), 5);
    assert_eq!(s.to_json()["failures_by_reason"]["invalid_input"], 5);
    // a fixed B-cell count above the cap is refused when the population is built
    let e = Population::builder(Params::nominal()).b0(1e46).build().unwrap_err();
    assert!(e.to_string().contains("population.b0"), "{e}");
}
