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

/// The factors and arguments of the small designs below: 2 factors, N = 4 (16 trials of 60
/// patients).
fn small_design(dir: &std::path::Path, out: &std::path::Path) -> Vec<String> {
    let f = dir.join("factors.toml");
    std::fs::write(
        &f,
        "[[factor]]\npath = \"typical.phi_T\"\nlo = 0.6\nhi = 1.4\n\n\
         [[factor]]\npath = \"covariates.unfit_product.probability\"\nlo = 0.1\nhi = 0.5\n",
    )
    .unwrap();
    [
        "sensitivity",
        "eliana",
        "--factors",
        f.to_str().unwrap(),
        "--n",
        "4",
        "--patients",
        "60",
        "--outputs",
        "cr_rate,crs_severe_rate,cmax_median",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_ok(args: &[String]) -> Output {
    let o = cartkin(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn same_files(a: &std::path::Path, b: &std::path::Path) {
    for f in ["design.json", "rows.csv", "indices.json", "indices.csv"] {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(x == y, "{f} of {} and {} differ", a.display(), b.display());
    }
}

/// A design split into 3 shards (run in any order) and merged, and a design killed part-way
/// and resumed, give the bytes of the uninterrupted, unsharded run.
#[test]
fn shards_merge_and_a_killed_design_resumes_to_the_unsharded_bytes() {
    let d = scratch("shards");
    let whole = small_design(&d, &d.join("U"));
    run_ok(&whole);
    // the library's analysis of the same design
    let u: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("U/indices.json")).unwrap()).unwrap();
    assert_eq!((u["n"].as_u64(), u["trials"].as_u64(), u["patients"].as_u64()), (Some(4), Some(16), Some(60)));
    let rows = std::fs::read_to_string(d.join("U/rows.csv")).unwrap();
    assert_eq!(rows.lines().count(), 17, "{rows}");
    assert!(rows.starts_with("row,cr_rate,crs_severe_rate,cmax_median\n0,"));

    for k in [2, 0, 1] {
        let mut a = small_design(&d, &d.join(format!("S{k}")));
        a.extend(["--shard".into(), format!("{k}/3")]);
        run_ok(&a);
    }
    let s = |x: &str| d.join(x).display().to_string();
    // an incomplete set is refused, naming the missing shard
    refused(&["sensitivity", "--merge", &s("S0"), &s("S2"), "--out", &s("M")], "missing shards 1/3");
    refused(&["sensitivity", "--merge", &s("S0"), &s("S0"), &s("S1"), "--out", &s("M")], "twice");
    let o = cartkin(&["sensitivity", "--merge", &s("S1"), &s("S2"), &s("S0"), "--out", &s("M")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    same_files(&d.join("U"), &d.join("M"));

    // killed once two trials are on disk, then resumed
    let killed = small_design(&d, &d.join("R"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cartkin"))
        .args(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let on_disk = || std::fs::read_to_string(d.join("R/rows.csv")).map_or(0, |t| t.lines().count().saturating_sub(1));
    while on_disk() < 2 && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = on_disk();
    assert!((2..16).contains(&kept), "killed part-way: {kept} rows on disk");
    let design = std::fs::read_to_string(d.join("R/design.json")).unwrap();
    assert!(design.contains("\"complete\": false") && !d.join("R/indices.json").exists());
    // not without --resume
    let again = cartkin(&killed.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume to continue it"));
    let mut resume = killed.clone();
    resume.push("--resume".into());
    let o = run_ok(&resume);
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("resuming: {kept} of 16 trials done")));
    same_files(&d.join("U"), &d.join("R"));
    let _ = std::fs::remove_dir_all(&d);
}

/// A design's directory is refused to another design (always with --resume, without --force
/// otherwise), a trial's outputs are never mixed with a design's, and a shard count above the
/// design's rows is bad input.
#[test]
fn another_design_or_a_trials_directory_is_refused() {
    let d = scratch("refuse");
    let a = small_design(&d, &d.join("A"));
    run_ok(&a);
    let before = std::fs::read(d.join("A/indices.json")).unwrap();
    let mut other = a.clone();
    other.extend(["--seed".into(), "9".into()]);
    let mut other_resume = other.clone();
    other_resume.push("--resume".into());
    for (args, says) in [(&other, "use another --out, or --force"), (&other_resume, "refusing to --resume it")] {
        let o = cartkin(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("holds another design") && err.contains(says), "{err}");
    }
    assert_eq!(std::fs::read(d.join("A/indices.json")).unwrap(), before, "a refused design changed nothing");
    let mut forced = other.clone();
    forced.push("--force".into());
    run_ok(&forced);
    assert_ne!(std::fs::read(d.join("A/indices.json")).unwrap(), before);

    std::fs::create_dir_all(d.join("T")).unwrap();
    std::fs::write(d.join("T/summary.json"), "{}").unwrap();
    let t = small_design(&d, &d.join("T"));
    let o = cartkin(&t.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a trial's outputs (summary.json)"));

    let mut many = small_design(&d, &d.join("X"));
    many.extend(["--shard".into(), "0/17".into()]);
    let o = cartkin(&many.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at most 16 shards"));
    assert!(!d.join("X").exists(), "bad input made no directory");
    usage_error(&["sensitivity", "eliana", "--factors", "f.toml", "--shard", "0/2"], "--out");
    let _ = std::fs::remove_dir_all(&d);
}
