//! `cartkin sensitivity` as a user runs it: the Ishigami test function against its closed
//! form, the analysis of a design's outputs from a file (the same numbers as the library's),
//! and bad input refused with exit 2 and one line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cartkin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartkin")).args(args).output().expect("run cartkin")
}

fn ok(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout {}\nstderr {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

/// Exit 2 with one line on stderr that contains `what`.
fn refused(args: &[&str], what: &str) {
    let o = cartkin(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?}");
    assert!(err.contains(what), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
}

/// A usage error of the argument parser (clap): exit 2 naming `what` (clap's message has a
/// usage line after it).
fn usage_error(args: &[&str], what: &str) {
    let o = cartkin(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: ") && err.contains(what), "{args:?}: {err}");
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cartkin-sens-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// The full N = 2^14 of the library's test (about a second in a debug build): S1 and ST
/// within 0.01 of the closed form (Ishigami and Homma 1990; Saltelli et al. 2010), which the
/// report also carries.
#[test]
fn ishigami_indices_match_the_closed_form() {
    let v = ok(&cartkin(&["sensitivity", "--test-function", "ishigami", "--n", "16384", "--seed", "3"]));
    let (s1, st) = cartkin::sensitivity::ishigami_indices(7.0, 0.1);
    assert_eq!(v["factors"], serde_json::json!(["x1", "x2", "x3"]));
    assert_eq!(v["n"], 16384);
    assert_eq!(v["runs"], 16384 * 5);
    assert_eq!(floats(&v["analytic"]["S1"]), s1);
    assert_eq!(floats(&v["analytic"]["ST"]), st);
    let (got1, gott) = (floats(&v["S1"]), floats(&v["ST"]));
    for i in 0..3 {
        assert!((got1[i] - s1[i]).abs() <= 0.01, "S1[{i}] {} vs {}", got1[i], s1[i]);
        assert!((gott[i] - st[i]).abs() <= 0.01, "ST[{i}] {} vs {}", gott[i], st[i]);
        for (key, est) in [("S1_ci", got1[i]), ("ST_ci", gott[i])] {
            let ci = floats(&v[key][i]);
            assert!(ci.len() == 2 && ci[0] <= est && est <= ci[1], "{key}[{i}] {ci:?} {est}");
        }
    }
}

/// A design's outputs written as a CSV (inputs and a column y, SALib's row order) and read
/// back by `--analyze`: the same indices, bit for bit, as the library's on the same outputs.
#[test]
fn analyze_reads_a_designs_outputs() {
    use cartkin::sensitivity::{ishigami, Factor, SaltelliDesign};
    let pi = std::f64::consts::PI;
    let f: Vec<Factor> = ["x1", "x2", "x3"].iter().map(|n| Factor::linear(n, -pi, pi).unwrap()).collect();
    let d = SaltelliDesign::new(3, 256, 11).unwrap();
    let y = d.evaluate(&f, |x| ishigami([x[0], x[1], x[2]], 7.0, 0.1)).unwrap();
    let mut csv = String::from("x1,x2,x3,y\n");
    for (row, out) in d.salib_rows().zip(y.to_salib()) {
        let x: Vec<String> = row.iter().zip(&f).map(|(u, f)| f.value(*u).to_string()).collect();
        csv += &format!("{},{out}\n", x.join(","));
    }
    let dir = scratch("analyze");
    let file = dir.join("y.csv");
    std::fs::write(&file, csv).unwrap();
    let v = ok(&cartkin(&["sensitivity", "--analyze", file.to_str().unwrap(), "--factors", "3", "--seed", "8"]));
    let s = y.analyze(100, 8).unwrap();
    assert_eq!(floats(&v["S1"]), s.s1);
    assert_eq!(floats(&v["ST"]), s.st);
    assert_eq!(floats(&v["S1_conf"]), s.s1_conf);
    assert_eq!(v["n"], 256);
    // one output short: 1279 rows is not a multiple of K + 2 = 5
    let text = std::fs::read_to_string(&file).unwrap();
    let short: String = text.lines().take(1280).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("short.csv"), short).unwrap();
    refused(
        &["sensitivity", "--analyze", dir.join("short.csv").to_str().unwrap(), "--factors", "3"],
        "1279 outputs is not a positive multiple of k + 2 = 5",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_exit_2_with_one_line() {
    let ish = ["sensitivity", "--test-function", "ishigami"];
    refused(&[&ish[..], &["--n", "0"]].concat(), "--n 0: must be a power of two");
    refused(&[&ish[..], &["--n", "1000"]].concat(), "--n 1000: must be a power of two");
    usage_error(&[&ish[..], &["--n", "-3"]].concat(), "-3");
    refused(&[&ish[..], &["--resamples", "1"]].concat(), "--resamples 1");
    usage_error(&["sensitivity", "--test-function", "rosenbrock"], "rosenbrock");
    usage_error(&["sensitivity"], "required");
    usage_error(&["sensitivity", "--analyze", "y.csv"], "--factors");
    usage_error(&["sensitivity", "--analyze", "y.csv", "--factors", "3", "--n", "8"], "--n");
    refused(&["sensitivity", "--analyze", "/nonexistent/y.csv", "--factors", "3"], "cannot read /nonexistent/y.csv");
    let dir = scratch("bad");
    for (name, text, what) in [
        ("empty.csv", "", "empty"),
        ("nan.csv", "y\n1\nNaN\n1\n1\n1\n", "line 3: output NaN is not a finite number"),
        ("word.csv", "y\n1\nfoo\n", "line 3: \"foo\" is not a number"),
        ("noy.csv", "a,b\n1,2\n", "no column `y`"),
        ("const.csv", "1\n1\n1\n1\n1\n1\n1\n1\n1\n", "not a positive multiple of k + 2 = 5"),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        refused(&["sensitivity", "--analyze", p.to_str().unwrap(), "--factors", "3"], what);
    }
    // one base row: no variance to share out
    let p = dir.join("one.csv");
    std::fs::write(&p, "1\n2\n3\n4\n5\n").unwrap();
    refused(&["sensitivity", "--analyze", p.to_str().unwrap(), "--factors", "3"], "1 base rows: at least 2");
    refused(&["sensitivity", "--analyze", p.to_str().unwrap(), "--factors", "0"], "--factors 0");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_study_needs_a_valid_factors_file() {
    let dir = scratch("study");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[factor]]\npath = \"typical.nope\"\nlo = 1\nhi = 2\n").unwrap();
    let flat = dir.join("flat.toml");
    std::fs::write(&flat, "[[factor]]\npath = \"typical.rho_E\"\nlo = 2\nhi = 1\n").unwrap();
    refused(&["sensitivity", "eliana"], "--factors FILE");
    refused(&["sensitivity", "eliana", "--factors", "/no/such/factors.toml"], "factors.toml");
    refused(&["sensitivity", "eliana", "--factors", flat.to_str().unwrap()], "below hi");
    refused(&["sensitivity", "eliana", "--factors", bad.to_str().unwrap(), "--n", "2", "--patients", "5"], "nope");
    refused(&["sensitivity", "eliana", "--factors", flat.to_str().unwrap(), "--n", "3"], "below hi");
    refused(&["sensitivity", "--test-function", "ishigami", "--patients", "5"], "go with a study");
    let _ = std::fs::remove_dir_all(&dir);
}
