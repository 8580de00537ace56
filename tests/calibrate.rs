//! `cartkin calibrate`'s library (cartkin::calibrate): the files, study settings, the
//! Nelder–Mead search, recovering known knobs, and the default population's calibration
//! reproduced from ELIANA's targets file.

use cartkin::calibrate::{calibrate, lookup, nelder_mead, read_knobs, read_targets, NelderMead, Target};
use cartkin::study::Study;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("cartkin-calibrate-{}-{name}", std::process::id()))
}

#[test]
fn nelder_mead_finds_the_minimum_of_rosenbrock_in_the_unit_cube() {
    // Rosenbrock's valley mapped into [0, 1]^2, minimum at u = (0.75, 0.75) (x = y = 1)
    let f = |u: &[f64]| {
        let (x, y) = (4.0 * u[0] - 2.0, 4.0 * u[1] - 2.0);
        (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
    };
    let r = nelder_mead(f, &[0.2, 0.8], &NelderMead { max_evals: 2000, ..NelderMead::default() });
    assert!((r.x[0] - 0.75).abs() < 1e-3 && (r.x[1] - 0.75).abs() < 1e-3, "{r:?}");
    assert!(r.evals <= 2000);
    // deterministic
    let again = nelder_mead(f, &[0.2, 0.8], &NelderMead { max_evals: 2000, ..NelderMead::default() });
    assert_eq!(again, r);
}

#[test]
fn study_settings_change_a_study_as_its_file_would() {
    let s = Study::parse("model = \"v2\"\npopulation = \"eliana\"\npatients = 10\n", "s.toml", Path::new(".")).unwrap();
    assert_eq!(s.setting("typical.rho_E"), Some(1.5));
    assert_eq!(s.setting("covariates.marrow_blast_fraction.beta[0]"), Some(1.3));
    let t = s
        .with_settings(&[
            ("typical.rho_E".into(), 2.0),
            ("covariates.marrow_blast_fraction.beta[0]".into(), 2.5),
            ("typical.theta_T".into(), 3.0),
        ])
        .unwrap();
    assert_eq!(t.setting("typical.rho_E"), Some(2.0));
    assert_eq!(t.setting("covariates.marrow_blast_fraction.beta[0]"), Some(2.5));
    assert_eq!(t.seed, s.seed);
    // the same patients otherwise: the typical rho_E moves every patient's rho_E by the factor
    let a = s.v2_trial().unwrap().simulate_patient(3);
    let b = t.v2_trial().unwrap().simulate_patient(3);
    let rho = |o: &cartkin::trial::SourceOutcome<cartkin::population::v2::PopulationV2>| {
        o.parameters.iter().find(|(n, _)| *n == "rho_E").unwrap().1
    };
    assert!((rho(&b) / rho(&a) - 2.0 / 1.5).abs() < 1e-12);
    for (path, v) in [("typical.no_such", 1.0), ("typical.rho_E", -1.0), ("name", 1.0), ("typical.rho_E", f64::NAN)] {
        let e = s.with_settings(&[(path.to_string(), v)]).unwrap_err();
        assert!(e.to_string().contains("rho_E") || e.to_string().contains(path), "{path}: {e}");
    }
}

#[test]
fn targets_and_knobs_files_are_read_and_refused_as_documented() {
    let d = tmp("files");
    let t = read_targets(Path::new("studies/targets/eliana.toml")).unwrap();
    assert_eq!(t.len(), 7);
    assert_eq!(t[0], Target { key: "cr_rate".into(), low: 0.706, high: 0.882, source: t[0].source.clone() });
    let k = read_knobs(Path::new("studies/targets/eliana_v2_knobs.toml")).unwrap();
    assert_eq!(k.len(), 2);
    assert!(k[0].log && k[0].start.is_none());
    for (name, text, what) in [
        ("t1.toml", "[[target]]\nkey = \"cr_rate\"\nlow = 0.9\nhigh = 0.8\n", "below high"),
        ("t2.toml", "[[target]]\nkey = \"cr_rate\"\nlow = 0.1\nhigh = 0.8\nlw = 1\n", "unknown key"),
        ("t3.toml", "[[target]]\nlow = 0.1\nhigh = 0.8\n", "key: missing"),
        ("t4.toml", "target = 1\n", "expected [[target]]"),
    ] {
        let e = read_targets(&write(&d, name, text)).unwrap_err().to_string();
        assert!(e.contains(what), "{name}: {e}");
    }
    for (name, text, what) in [
        ("k1.toml", "[[knob]]\npath = \"typical.rho_E\"\nlo = 0\nhi = 2\nscale = \"log\"\n", "lo > 0"),
        ("k2.toml", "[[knob]]\npath = \"typical.rho_E\"\nlo = 1\nhi = 2\nstart = 3\n", "outside"),
        ("k3.toml", "[[knob]]\npath = \"a\"\nlo = 1\nhi = 2\n[[knob]]\npath = \"a\"\nlo = 1\nhi = 2\n", "twice"),
        ("k4.toml", "[[knob]]\npath = \"a\"\nlo = 1\nhi = 2\nscale = \"cubic\"\n", "log"),
    ] {
        let e = read_knobs(&write(&d, name, text)).unwrap_err().to_string();
        assert!(e.contains(what), "{name}: {e}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Targets made from the study at known knob values (its own summary, +-2%), the knobs
/// started elsewhere (rho_E 2.2, delta_E 0.25): the search recovers rho_E 1.5 and delta_E
/// 0.15 within 3% (the tolerance stated in docs/ANALYSIS.md: the medians it matches move in
/// steps of 0.05 day and 1%, which bounds how closely two knobs can be told apart).
#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds: cargo test --release")]
fn calibrate_recovers_known_knobs() {
    let study = Study::from_path("tests/data/calibrate/study.toml").unwrap();
    let truth = cartkin::calibrate::summary_of(&study);
    let keys = ["tmax_median", "cmax_fold_median", "auc28_median"];
    let targets: Vec<Target> = keys
        .iter()
        .map(|k| {
            let v = lookup(&truth, k).unwrap();
            Target { key: k.to_string(), low: 0.98 * v, high: 1.02 * v, source: "the study itself".into() }
        })
        .collect();
    let knobs = read_knobs(Path::new("tests/data/calibrate/knobs.toml")).unwrap();
    let c = calibrate(&study, &targets, &knobs, 6, &NelderMead { max_evals: 150, ..NelderMead::default() }).unwrap();
    let got = |p: &str| c.knobs.iter().find(|(k, _)| k == p).unwrap().1;
    assert!((got("typical.rho_E") / 1.5 - 1.0).abs() < 0.03, "{}", c.report());
    assert!((got("typical.delta_E") / 0.15 - 1.0).abs() < 0.03, "{}", c.report());
    assert!(c.loss < 1.0 && c.loss < c.loss_start / 100.0, "{}", c.report());
}

/// The default population's calibration from ELIANA's targets file: K_C and I_S50 started
/// far from their calibrated values (1.5e12 and 250 vs 7e11 and 450) come back to values
/// that put every target inside its interval, at the search seed and at a fresh seed.
#[test]
#[ignore = "slow (at most 50 trials of 2,000 patients): run with --release -- --ignored"]
fn calibrate_reproduces_the_default_population_from_its_targets_file() {
    let mut study = Study::from_path("studies/eliana.toml").unwrap();
    study.patients = 2000;
    let targets = read_targets(Path::new("studies/targets/eliana.toml")).unwrap();
    let mut knobs = read_knobs(Path::new("studies/targets/eliana_v2_knobs.toml")).unwrap();
    knobs[0].start = Some(1.5e12);
    knobs[1].start = Some(250.0);
    let c = calibrate(&study, &targets, &knobs, 2019, &NelderMead { max_evals: 50, ..NelderMead::default() }).unwrap();
    eprintln!("{}", c.report());
    assert!(c.targets.iter().all(|t| t.within), "{}", c.report());
    assert!(c.targets.iter().all(|t| t.value.is_some_and(|v| (t.low..=t.high).contains(&v))), "{}", c.report());
}
