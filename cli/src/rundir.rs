//! A trial's output directory: locked while a run uses it, written atomically, never through
//! a symlink, resumable.
//!
//! **Layout.** A complete run leaves `patients.csv`, `summary.json`, `state.json` (the
//! mergeable summary state) and `run.json` (with `"complete": true`, written last). While a
//! run is under way the directory holds `patients.csv.partial` (rows of the finished chunks)
//! and `progress.json` (the manifest, the shard, the next patient id, the length of the
//! partial table at that point and the summary of the patients before it), replaced
//! atomically after every chunk once the rows are on disk. So an interrupted run is never
//! mistaken for a complete one: without `run.json` marked complete there is no
//! `summary.json`, and `--resume` truncates the partial table to the checkpoint and goes on
//! from the checkpoint's patient.

use cartkin::io::PatientCsv;
use cartkin::state::{Manifest, SummaryState};
use cartkin::trial::{PatientSource, Trial, TrialSummary};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why a command failed, with its exit code.
#[derive(Debug)]
pub enum Fail {
    /// Bad input (exit 2).
    Input(String),
    /// The run could not complete (exit 1).
    Run(String),
    /// Interrupted by a signal (exit 130 / 143).
    Interrupted(u8),
    /// A failure whose message was printed already (the exit code only): an MPI rank 0
    /// says a refusal before it lets the other ranks exit, since the launcher may end the
    /// job as soon as one rank exits with an error.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Reported(u8),
}

impl Fail {
    pub fn code(&self) -> u8 {
        match self {
            Fail::Input(_) => 2,
            Fail::Run(_) => 1,
            Fail::Interrupted(c) | Fail::Reported(c) => *c,
        }
    }
    pub fn message(&self) -> Option<String> {
        match self {
            Fail::Input(m) | Fail::Run(m) => Some(m.clone()),
            Fail::Interrupted(_) | Fail::Reported(_) => None,
        }
    }
}

const OUTPUTS: &[&str] =
    &["patients.csv", "summary.json", "state.json", "run.json", "progress.json", "patients.csv.partial"];
const LOCK: &str = ".cartkin.lock";

fn io_fail(what: &Path, e: std::io::Error) -> Fail {
    Fail::Run(format!("{}: {e}", what.display()))
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).map(|m| m.file_type().is_symlink()).unwrap_or(false)
}

/// Create `dir` (and its parents) if missing; refuse a symlink or a non-directory.
pub fn ensure_dir(dir: &Path) -> Result<(), Fail> {
    if is_symlink(dir) {
        return Err(Fail::Run(format!("{}: is a symbolic link; refusing to write through it", dir.display())));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Fail::Run(format!("{}: exists and is not a directory", dir.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| io_fail(dir, e))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Write `dir/name` atomically (the library's [`cartkin::io::write_atomic`]).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Fail> {
    ensure_dir(dir)?;
    cartkin::io::write_atomic(dir, name, bytes).map_err(|e| io_fail(&dir.join(name), e))
}

/// Remove a trial's outputs (and its `trajectories/`) from `dir`: what `--force` discards.
pub fn remove_outputs(dir: &Path) -> Result<(), Fail> {
    for f in OUTPUTS {
        let p = dir.join(f);
        if std::fs::symlink_metadata(&p).is_ok() {
            std::fs::remove_file(&p).map_err(|e| io_fail(&p, e))?;
        }
    }
    let t = dir.join("trajectories");
    if is_symlink(&t) {
        std::fs::remove_file(&t).map_err(|e| io_fail(&t, e))?;
    } else if t.is_dir() {
        std::fs::remove_dir_all(&t).map_err(|e| io_fail(&t, e))?;
    }
    sync_dir(dir);
    Ok(())
}

/// How a run starts in its directory.
pub enum Start {
    /// From the first patient, with a new table.
    Fresh { csv: PatientCsv<BufWriter<File>> },
    /// From a checkpoint.
    Resume { next: u64, summary: Box<TrialSummary>, csv: PatientCsv<BufWriter<File>> },
    /// The same run is complete there already.
    Complete,
}

/// An output directory held (OS lock) by this process.
pub struct RunDir {
    dir: PathBuf,
    manifest: Manifest,
    shard: (u64, u64),
    resume: bool,
    existing: Existing,
    _lock: File,
}

enum Existing {
    Nothing,
    Complete,
    Partial(serde_json::Value),
}

fn read_json(p: &Path) -> Option<serde_json::Value> {
    let mut s = String::new();
    File::open(p).ok()?.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// Take `dir`'s lock (`.cartkin.lock`, an advisory lock held until the file is dropped):
/// another cartkin process using the directory is refused.
pub fn lock_dir(dir: &Path) -> Result<File, Fail> {
    let lp = dir.join(LOCK);
    if is_symlink(&lp) {
        return Err(Fail::Run(format!("{}: is a symbolic link; refusing to use it", lp.display())));
    }
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lp).map_err(|e| io_fail(&lp, e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(Fail::Run(format!("{}: another cartkin run is using this directory", dir.display())))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_fail(&lp, e)),
    }
}

impl RunDir {
    /// Take `dir` for the run `manifest` (shard `k` of `n`): create it, lock it, and decide
    /// whether it may be used: another run's outputs are refused (unless `force` without
    /// `resume`).
    pub fn open(dir: &Path, manifest: &Manifest, shard: (u64, u64), resume: bool, force: bool) -> Result<Self, Fail> {
        ensure_dir(dir)?;
        let lock = lock_dir(dir)?;
        let same = |v: &serde_json::Value| -> Result<bool, String> {
            let m: Manifest = serde_json::from_value(v.get("manifest").cloned().unwrap_or_default())
                .map_err(|_| "an unreadable manifest".to_string())?;
            let s = (v["shard_index"].as_u64(), v["n_shards"].as_u64());
            if m != *manifest {
                let what = if m.seed != manifest.seed {
                    format!("seed {} vs {}", m.seed, manifest.seed)
                } else if m.n_patients != manifest.n_patients {
                    format!("{} vs {} patients", m.n_patients, manifest.n_patients)
                } else if m.crate_version != manifest.crate_version {
                    format!("cartkin {} vs {}", m.crate_version, manifest.crate_version)
                } else {
                    format!("run {} vs {}", m.run_hash, manifest.run_hash)
                };
                return Err(format!("another run ({what})"));
            }
            if s != (Some(shard.0), Some(shard.1)) {
                return Err(format!(
                    "another shard ({}/{} vs {}/{})",
                    s.0.unwrap_or(0),
                    s.1.unwrap_or(1),
                    shard.0,
                    shard.1
                ));
            }
            Ok(true)
        };
        let run = read_json(&dir.join("run.json"));
        let progress = read_json(&dir.join("progress.json"));
        let any_output = OUTPUTS.iter().any(|f| dir.join(f).exists());
        let verdict: Result<Existing, String> = match (&run, &progress) {
            (Some(r), _) if r["complete"] == serde_json::Value::Bool(true) => same(r).map(|_| Existing::Complete),
            (_, Some(p)) => same(p).map(|_| Existing::Partial(p.clone())),
            _ if any_output => Err("outputs of an unknown run".into()),
            _ => Ok(Existing::Nothing),
        };
        let existing = match verdict {
            Ok(e) => e,
            Err(what) if resume => {
                return Err(Fail::Run(format!("{}: holds {what}; refusing to --resume it", dir.display())))
            }
            Err(what) if !force => {
                return Err(Fail::Run(format!(
                    "{}: holds {what}; use another --out, or --force to overwrite it",
                    dir.display()
                )))
            }
            Err(_) => Existing::Nothing,
        };
        Ok(RunDir { dir: dir.to_path_buf(), manifest: manifest.clone(), shard, resume, existing, _lock: lock })
    }

    fn clean(&self) -> Result<(), Fail> {
        remove_outputs(&self.dir)
    }

    /// Where the run starts: a complete run (with `--resume`), a checkpoint (with
    /// `--resume`), or afresh (every earlier output removed first).
    pub fn start<S: PatientSource>(&mut self, trial: &Trial<S>) -> Result<Start, Fail> {
        let partial = self.dir.join("patients.csv.partial");
        if self.resume {
            match &self.existing {
                Existing::Complete => return Ok(Start::Complete),
                Existing::Partial(p) => {
                    if let Some(s) = self.resume_from(trial, p, &partial)? {
                        return Ok(s);
                    }
                }
                Existing::Nothing => {}
            }
        }
        self.clean()?;
        // the run's mark before any of its rows: a run that fails before its first
        // checkpoint (a full disk, a kill) leaves a directory that `--resume` recognises as
        // this run's (and restarts), not "outputs of an unknown run"
        let p = serde_json::json!({ "manifest": self.manifest, "shard_index": self.shard.0, "n_shards": self.shard.1 });
        write_atomic(&self.dir, "progress.json", p.to_string().as_bytes())?;
        let f = OpenOptions::new().write(true).create_new(true).open(&partial).map_err(|e| io_fail(&partial, e))?;
        let csv = PatientCsv::for_source(BufWriter::new(f), trial.source()).map_err(|e| io_fail(&partial, e))?;
        Ok(Start::Fresh { csv })
    }

    fn resume_from<S: PatientSource>(
        &self,
        trial: &Trial<S>,
        p: &serde_json::Value,
        partial: &Path,
    ) -> Result<Option<Start>, Fail> {
        let (Some(next), Some(bytes)) = (p["next_id"].as_u64(), p["csv_bytes"].as_u64()) else { return Ok(None) };
        let Ok(summary) = serde_json::from_value::<TrialSummary>(p["summary"].clone()) else { return Ok(None) };
        if is_symlink(partial) {
            return Err(Fail::Run(format!("{}: is a symbolic link; refusing to use it", partial.display())));
        }
        let Ok(mut f) = OpenOptions::new().read(true).write(true).open(partial) else { return Ok(None) };
        let len = f.metadata().map_err(|e| io_fail(partial, e))?.len();
        if len < bytes {
            return Ok(None); // the checkpoint promises rows that are not there: start afresh
        }
        f.set_len(bytes).map_err(|e| io_fail(partial, e))?;
        f.seek(SeekFrom::End(0)).map_err(|e| io_fail(partial, e))?;
        let csv = PatientCsv::continuing_for_source(BufWriter::new(f), trial.source());
        Ok(Some(Start::Resume { next, summary: Box::new(summary), csv }))
    }

    /// After a chunk: the rows on disk, then the checkpoint that counts them.
    pub fn checkpoint(
        &mut self,
        csv: &mut PatientCsv<BufWriter<File>>,
        next: u64,
        summary: &TrialSummary,
    ) -> Result<(), Fail> {
        let partial = self.dir.join("patients.csv.partial");
        let w = csv.get_mut();
        w.flush().map_err(|e| io_fail(&partial, e))?;
        w.get_ref().sync_data().map_err(|e| io_fail(&partial, e))?;
        let bytes = w.get_ref().metadata().map_err(|e| io_fail(&partial, e))?.len();
        let p = serde_json::json!({
            "manifest": self.manifest,
            "shard_index": self.shard.0,
            "n_shards": self.shard.1,
            "next_id": next,
            "csv_bytes": bytes,
            "summary": summary,
        });
        write_atomic(&self.dir, "progress.json", p.to_string().as_bytes())
    }

    /// The run is complete: the table under its name, the summary, the state, then
    /// `run.json` (the completion mark), then the checkpoint removed.
    pub fn finish(
        &mut self,
        csv: PatientCsv<BufWriter<File>>,
        summary: &TrialSummary,
        state: &SummaryState,
        run: &serde_json::Value,
    ) -> Result<(), Fail> {
        let partial = self.dir.join("patients.csv.partial");
        let w = csv.finish().map_err(|e| io_fail(&partial, e))?;
        w.get_ref().sync_all().map_err(|e| io_fail(&partial, e))?;
        drop(w);
        self.write_reports(summary, state, run, |dir| {
            std::fs::rename(&partial, dir.join("patients.csv")).map_err(|e| io_fail(&partial, e))
        })
    }

    fn write_reports(
        &mut self,
        summary: &TrialSummary,
        state: &SummaryState,
        run: &serde_json::Value,
        table: impl FnOnce(&Path) -> Result<(), Fail>,
    ) -> Result<(), Fail> {
        let _ = std::fs::remove_file(self.dir.join("run.json"));
        table(&self.dir)?;
        let s = serde_json::to_string_pretty(&summary.to_json()).map_err(|e| Fail::Run(e.to_string()))? + "\n";
        write_atomic(&self.dir, "summary.json", s.as_bytes())?;
        write_atomic(&self.dir, "state.json", state.to_json().as_bytes())?;
        let mut run = run.clone();
        run["shard_index"] = self.shard.0.into();
        run["n_shards"] = self.shard.1.into();
        let r = serde_json::to_string_pretty(&run).map_err(|e| Fail::Run(e.to_string()))? + "\n";
        write_atomic(&self.dir, "run.json", r.as_bytes())?;
        let _ = std::fs::remove_file(self.dir.join("progress.json"));
        sync_dir(&self.dir);
        Ok(())
    }

    /// Write the merged outputs of shard directories (in shard order).
    pub fn merge_outputs(&mut self, parts: &[(SummaryState, PathBuf)], merged: &SummaryState) -> Result<(), Fail> {
        self.clean()?;
        let tmp = self.dir.join(".patients.csv.tmp");
        let _ = std::fs::remove_file(&tmp);
        let f = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io_fail(&tmp, e))?;
        let mut w = BufWriter::new(f);
        let mut header: Option<String> = None;
        for (_, d) in parts {
            let p = d.join("patients.csv");
            let text = std::fs::read_to_string(&p).map_err(|e| Fail::Input(format!("{}: {e}", p.display())))?;
            let (h, rows) = text.split_once('\n').unwrap_or((&text, ""));
            match &header {
                None => {
                    header = Some(h.to_string());
                    w.write_all(h.as_bytes()).and_then(|()| w.write_all(b"\n")).map_err(|e| io_fail(&tmp, e))?;
                }
                Some(first) if first != h => {
                    return Err(Fail::Input(format!("{}: its columns differ from the first shard's", p.display())))
                }
                Some(_) => {}
            }
            w.write_all(rows.as_bytes()).map_err(|e| io_fail(&tmp, e))?;
        }
        let f = w.into_inner().map_err(|e| io_fail(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| io_fail(&tmp, e))?;
        // the shards' daily trajectories (`--trajectories K`: ids < K, each in one shard)
        let out_traj = self.dir.join("trajectories");
        for (_, d) in parts {
            let t = d.join("trajectories");
            if is_symlink(&t) {
                return Err(Fail::Run(format!("{}: is a symbolic link; refusing to read through it", t.display())));
            }
            if !t.is_dir() {
                continue;
            }
            let mut files: Vec<PathBuf> = std::fs::read_dir(&t)
                .map_err(|e| io_fail(&t, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv") && !is_symlink(p) && p.is_file())
                .collect();
            files.sort();
            for p in files {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                let bytes = std::fs::read(&p).map_err(|e| io_fail(&p, e))?;
                write_atomic(&out_traj, &name, &bytes)?;
            }
        }
        let run = serde_json::json!({
            "crate": "cartkin",
            "version": env!("CARGO_PKG_VERSION"),
            "complete": true,
            "seed": merged.manifest.seed,
            "n_patients": merged.manifest.n_patients,
            "merged_from": parts.iter().map(|(_, d)| d.display().to_string()).collect::<Vec<_>>(),
            "manifest": merged.manifest,
        });
        let state = SummaryState { shards: merged.shards.clone(), ..merged.clone() };
        self.write_reports(&merged.summary, &state, &run, |dir| {
            std::fs::rename(&tmp, dir.join("patients.csv")).map_err(|e| io_fail(&tmp, e))
        })
    }
}
