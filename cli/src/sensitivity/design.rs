//! A study's sensitivity design in a directory (`cartkin sensitivity STUDY --out DIR`):
//! resumable after a kill, split into shards (`--shard K/N`), shards joined by `--merge`.
//!
//! The directory holds `design.json` (the design's [`DesignHeader`], the shard, its rows,
//! whether it is complete), `rows.csv` (`row,<output>...`: each trial's outputs, every
//! number in Rust's shortest round-trip form, `NaN` for an output a trial's summary does
//! not have; rewritten atomically after a trial once the run has computed ten times as long
//! as the last rewrite took, and when the run ends or is stopped) and, for a whole design (one shard, or
//! a merge), `indices.json` and `indices.csv`. The rows of a design are the same bytes
//! however it is split, stopped and resumed, so the indices are too.

use crate::rundir::{self, Fail};
use cartkin::sensitivity::study::{shard_rows, DesignHeader, StudyDesign};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `design.json`'s format tag.
const FORMAT: &str = "cartkin-sensitivity-design-1";

/// Files of another kind of run (a trial's outputs) that a design refuses to mix with.
const FOREIGN: &[&str] = &["summary.json", "patients.csv", "run.json", "progress.json", "state.json"];

/// Files a design writes.
const OURS: &[&str] = &["design.json", "rows.csv", "indices.json", "indices.csv"];

/// `design.json`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct ShardFile {
    format: String,
    #[serde(flatten)]
    header: DesignHeader,
    /// `[k, n]`: shard k of n.
    shard: [usize; 2],
    /// The shard's rows, `first_row .. end_row`.
    first_row: usize,
    end_row: usize,
    complete: bool,
}

/// Progress on stderr: a line every 16 trials and at the end.
pub fn progress(done: usize, total: usize, started: Instant) {
    if done.is_multiple_of(16) || done == total {
        eprintln!("  {done}/{total} trials ({:.0} s)", started.elapsed().as_secs_f64());
    }
}

fn read_shard_file(dir: &Path) -> Result<Option<ShardFile>, String> {
    let p = dir.join("design.json");
    if !p.exists() {
        return Ok(None);
    }
    let text =
        cartkin::io::read_capped(&p, cartkin::io::MAX_INPUT_BYTES).map_err(|e| format!("{}: {e}", p.display()))?;
    let f: ShardFile =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a design's design.json: {e}", p.display()))?;
    if f.format != FORMAT {
        return Err(format!("{}: format {:?}, expected {FORMAT:?}", p.display(), f.format));
    }
    Ok(Some(f))
}

/// The rows of `rows.csv` in `dir`: row index to outputs (`width` each), every index in
/// `range`, none twice.
fn read_rows(dir: &Path, width: usize, range: std::ops::Range<usize>) -> Result<BTreeMap<usize, Vec<f64>>, String> {
    let p = dir.join("rows.csv");
    let name = p.display();
    let text = match cartkin::io::read_capped(&p, cartkin::io::MAX_TABLE_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let mut rows = BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != width + 1 {
            return Err(format!("{name}: line {}: {} fields, expected {}", i + 1, fields.len(), width + 1));
        }
        let row: usize = fields[0].parse().map_err(|_| format!("{name}: line {}: row {:?}", i + 1, fields[0]))?;
        if !range.contains(&row) {
            return Err(format!("{name}: line {}: row {row} is not one of this shard's ({range:?})", i + 1));
        }
        let y = fields[1..]
            .iter()
            .map(|f| f.parse::<f64>().map_err(|_| format!("{name}: line {}: {f:?} is not a number", i + 1)))
            .collect::<Result<Vec<f64>, String>>()?;
        if rows.insert(row, y).is_some() {
            return Err(format!("{name}: row {row} twice"));
        }
    }
    Ok(rows)
}

fn rows_csv(header: &DesignHeader, rows: &BTreeMap<usize, Vec<f64>>) -> String {
    let mut s = format!("row,{}\n", header.outputs.join(","));
    for (r, y) in rows {
        s.push_str(&r.to_string());
        for v in y {
            s.push(',');
            s.push_str(&format!("{v}"));
        }
        s.push('\n');
    }
    s
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, Fail> {
    Ok(serde_json::to_string_pretty(v).map_err(|e| Fail::Run(e.to_string()))? + "\n")
}

/// Whether `dir` may take `want`: refuses another design's or another run's outputs unless
/// `force`, and (with `resume`) anything but the same design and shard. Returns the rows to
/// keep.
fn admit(dir: &Path, want: &ShardFile, resume: bool, force: bool) -> Result<BTreeMap<usize, Vec<f64>>, Fail> {
    let d = dir.display();
    let existing = read_shard_file(dir);
    let foreign = FOREIGN.iter().find(|f| dir.join(f).exists());
    let verdict: Result<BTreeMap<usize, Vec<f64>>, String> = match (existing, foreign) {
        (_, Some(f)) => Err(format!("a trial's outputs ({f})")),
        (Err(e), _) => Err(e),
        (Ok(None), _) if OURS.iter().any(|f| dir.join(f).exists()) => Err("outputs of an unknown design".into()),
        (Ok(None), _) => Ok(BTreeMap::new()),
        (Ok(Some(f)), _) if f.header != want.header => Err(format!(
            "another design ({})",
            if f.header.study != want.header.study {
                format!("study {} vs {}", f.header.study, want.header.study)
            } else {
                format!("fingerprint {} vs {}", f.header.fingerprint, want.header.fingerprint)
            }
        )),
        (Ok(Some(f)), _) if f.shard != want.shard => {
            Err(format!("another shard ({}/{} vs {}/{})", f.shard[0], f.shard[1], want.shard[0], want.shard[1]))
        }
        (Ok(Some(f)), _) if !resume && !force => {
            return Err(Fail::Run(format!(
                "{d}: holds this design's rows ({}); --resume to continue it, or --force to start over",
                if f.complete { "complete" } else { "incomplete" }
            )))
        }
        (Ok(Some(_)), _) if force => Ok(BTreeMap::new()),
        (Ok(Some(_)), _) => read_rows(dir, want.header.outputs.len(), want.first_row..want.end_row)
            .map_err(|e| format!("a rows.csv it cannot resume ({e})")),
    };
    match verdict {
        Ok(rows) => Ok(rows),
        Err(what) if resume => Err(Fail::Run(format!("{d}: holds {what}; refusing to --resume it"))),
        Err(what) if !force => {
            Err(Fail::Run(format!("{d}: holds {what}; use another --out, or --force to overwrite it")))
        }
        Err(_) => Ok(BTreeMap::new()),
    }
}

/// Clear a forced directory of what a design writes (another run's files are left alone:
/// they are not this design's, and the new design.json says what the directory holds).
fn clear(dir: &Path) -> Result<(), Fail> {
    for f in OURS {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| Fail::Run(format!("{}: {e}", p.display())))?;
        }
    }
    Ok(())
}

/// Run shard `shard` of `design` in `dir` (`(0, 1)`: the whole design, then analysed).
pub fn run(design: &StudyDesign, dir: &Path, shard: (usize, usize), resume: bool, force: bool) -> Result<(), Fail> {
    rundir::ensure_dir(dir)?;
    let _lock = rundir::lock_dir(dir)?;
    let range = shard_rows(design.rows(), shard.0, shard.1);
    let mut file = ShardFile {
        format: FORMAT.into(),
        header: design.header().clone(),
        shard: [shard.0, shard.1],
        first_row: range.start,
        end_row: range.end,
        complete: false,
    };
    let mut rows = admit(dir, &file, resume, force)?;
    if rows.is_empty() {
        clear(dir)?;
    }
    let kept = rows.len();
    rundir::write_atomic(dir, "design.json", json(&file)?.as_bytes())?;
    rundir::write_atomic(dir, "rows.csv", rows_csv(&file.header, &rows).as_bytes())?;
    let signals = crate::Signals::install()?;
    let started = Instant::now();
    let total = range.len();
    if kept > 0 {
        eprintln!("  resuming: {kept} of {total} trials done");
    }
    // rows.csv is rewritten after a trial only once the run has spent ten times as long
    // computing as the last rewrite took (and when the loop ends, however it ends): every
    // trial while the file is small next to a trial, and never more than ~10% of the run in
    // rewriting a growing file when trials are cheap and rows many
    let mut saved = (rows.len(), Instant::now(), std::time::Duration::ZERO);
    let save = |rows: &BTreeMap<usize, Vec<f64>>, saved: &mut (usize, Instant, std::time::Duration)| {
        if saved.0 != rows.len() {
            let t = Instant::now();
            rundir::write_atomic(dir, "rows.csv", rows_csv(&file.header, rows).as_bytes())?;
            *saved = (rows.len(), Instant::now(), t.elapsed());
        }
        Ok::<(), Fail>(())
    };
    for row in range.clone() {
        if rows.contains_key(&row) {
            continue;
        }
        if let Some(f) = signals.stop() {
            save(&rows, &mut saved)?;
            eprintln!("stopped after {} of {total} trials; --resume continues", rows.len());
            return Err(f);
        }
        let y = match design.run_row(row) {
            Ok(y) => y,
            Err(e) => {
                save(&rows, &mut saved)?;
                return Err(Fail::Input(e.to_string()));
            }
        };
        rows.insert(row, y);
        if saved.1.elapsed() >= 10 * saved.2 {
            save(&rows, &mut saved)?;
        }
        progress(rows.len(), total, started);
    }
    save(&rows, &mut saved)?;
    file.complete = true;
    rundir::write_atomic(dir, "design.json", json(&file)?.as_bytes())?;
    if shard == (0, 1) {
        analyse(dir, &file.header, &rows)
    } else {
        say!(
            "shard {}/{}: rows {}..{} of {} ({} computed, {kept} kept); wrote {}/design.json, rows.csv (join the shards with --merge)",
            shard.0,
            shard.1,
            range.start,
            range.end,
            design.rows(),
            total - kept,
            dir.display()
        );
        Ok(())
    }
}

/// Analyse a whole design's rows into `indices.json` and `indices.csv` in `dir`.
fn analyse(dir: &Path, header: &DesignHeader, rows: &BTreeMap<usize, Vec<f64>>) -> Result<(), Fail> {
    let y: Vec<Vec<f64>> = rows.values().cloned().collect();
    let r = StudyDesign::analyze_rows(header, &y).map_err(|e| Fail::Run(e.to_string()))?;
    let csv = r.csv();
    rundir::write_atomic(dir, "indices.json", json(&r)?.as_bytes())?;
    rundir::write_atomic(dir, "indices.csv", csv.as_bytes())?;
    say!("{csv}");
    say!("wrote {}/indices.json, indices.csv", dir.display());
    Ok(())
}

/// `--merge DIR... --out OUT`: the complete shards of one design, every shard once, joined
/// into OUT (design.json, rows.csv, indices.json, indices.csv: the bytes of an unsharded run).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<(), Fail> {
    let mut header: Option<DesignHeader> = None;
    let mut shards: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let mut count = None;
    let mut rows = BTreeMap::new();
    for d in dirs {
        let f = read_shard_file(d)
            .map_err(Fail::Input)?
            .ok_or_else(|| Fail::Input(format!("{}: no design.json (not a design's directory)", d.display())))?;
        match &header {
            None => header = Some(f.header.clone()),
            Some(h) if *h != f.header => {
                return Err(Fail::Input(format!(
                    "{}: another design than {} (fingerprint {} vs {})",
                    d.display(),
                    dirs[0].display(),
                    f.header.fingerprint,
                    h.fingerprint
                )))
            }
            Some(_) => {}
        }
        let [k, n] = f.shard;
        if *count.get_or_insert(n) != n {
            return Err(Fail::Input(format!(
                "{}: shard {k}/{n}, the others are of {}",
                d.display(),
                count.unwrap_or(n)
            )));
        }
        if let Some(other) = shards.insert(k, d.clone()) {
            return Err(Fail::Input(format!("shard {k}/{n} twice: {} and {}", other.display(), d.display())));
        }
        if !f.complete {
            return Err(Fail::Input(format!("{}: shard {k}/{n} is incomplete; --resume it first", d.display())));
        }
        let range = f.first_row..f.end_row;
        let got = read_rows(d, f.header.outputs.len(), range.clone()).map_err(Fail::Input)?;
        if got.len() != range.len() {
            return Err(Fail::Input(format!("{}: {} of {} rows", d.display(), got.len(), range.len())));
        }
        rows.extend(got);
    }
    let (Some(header), Some(n)) = (header, count) else {
        return Err(Fail::Input("--merge: no shards".into()));
    };
    let missing: Vec<String> = (0..n).filter(|k| !shards.contains_key(k)).map(|k| format!("{k}/{n}")).collect();
    if !missing.is_empty() {
        return Err(Fail::Input(format!("--merge: missing shards {}", missing.join(", "))));
    }
    let file = ShardFile {
        format: FORMAT.into(),
        header: header.clone(),
        shard: [0, 1],
        first_row: 0,
        end_row: header.rows,
        complete: true,
    };
    if rows.len() != header.rows {
        return Err(Fail::Input(format!("--merge: {} of the design's {} rows", rows.len(), header.rows)));
    }
    rundir::ensure_dir(out)?;
    let _lock = rundir::lock_dir(out)?;
    // the merged design may replace itself (a merge run again), never other outputs
    let existing = read_shard_file(out);
    let same = matches!(&existing, Ok(Some(f)) if f.header == header && f.shard == [0, 1]);
    if !same && !force {
        let foreign = FOREIGN.iter().chain(OURS).find(|f| out.join(f).exists());
        if let Some(f) = foreign {
            return Err(Fail::Run(format!(
                "{}: holds another design's or run's outputs ({f}); use another --out, or --force to overwrite it",
                out.display()
            )));
        }
    }
    clear(out)?;
    rundir::write_atomic(out, "rows.csv", rows_csv(&header, &rows).as_bytes())?;
    rundir::write_atomic(out, "design.json", json(&file)?.as_bytes())?;
    analyse(out, &header, &rows)
}
