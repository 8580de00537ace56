//! `cartkin trial STUDY --mpi`: one trial over the ranks of an MPI job
//! (`mpirun -np P cartkin trial STUDY --mpi --out DIR`; docs/CLUSTER.md, "MPI").
//!
//! **Work.** Rank r of P runs shard r of P (`Trial::shard_range(r, P)`, contiguous ids) in
//! its own rayon pool. Rank 0 alone touches the output directory: it streams its own rows
//! into the table as they come, then receives the other ranks' rows (rank order is id
//! order), their trajectory files and their summary states, merges the states exactly
//! (`SummaryState::merge`) and writes the outputs through [`RunDir`] (locked, atomic, never
//! through a symlink, `run.json` last). So the directory needs no shared filesystem and
//! holds the bytes of a one-process run: patients.csv, summary.json, state.json and
//! trajectories/ (run.json adds the MPI layout and the times).
//!
//! **Messages.** Every byte stream (rows, a trajectory file) goes in pieces of at most
//! [`PIECE`] bytes, whose sizes both sides derive from the length and the piece size
//! announced first, so that no message comes near MPI's `int` counts and a receive never
//! needs a probe. (`CARTKIN_MPI_PIECE_BYTES` sets a smaller piece on a sending rank: the
//! tests make every transfer take many pieces with it.)
//!
//! **Errors** never leave a rank waiting. Up to the computation every rank takes part in one
//! gate: each tells rank 0 whether it is ready (its arguments, its study, its run's
//! manifest), rank 0 then takes the directory (and only if every rank is ready and they
//! agree on the run), and broadcasts the verdict; on a refusal every rank exits with its
//! code and rank 0 alone prints the message. After the gate an error on any rank ends the
//! job with `MPI_Abort` (the directory then holds an incomplete run, never `run.json`).
//! MPI's own errors are fatal (its default handler), so a broken link ends the job too.
//!
//! **Threads.** MPI is called from the main thread only (`Threading::Funneled`); the rayon
//! workers only compute. The default `--threads` of a rank: the cores it may run on
//! (`available_parallelism`, which follows the launcher's binding), shared among the ranks
//! of its node when their core sets overlap (see [`default_threads`]).

use crate::rundir::{self, Fail, RunDir, Start};
use crate::{print_report, run_json, Progress, TrialArgs};
use cartkin::io::{PatientCsv, TrajectoryCsv};
use cartkin::state::{Shards, SummaryState};
use cartkin::study::Study;
use cartkin::trial::{PatientSource, Subject, Trial};
use cartkin::Grid;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Destination, Root, Source};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Mutex;
use std::time::Instant;

/// The largest message: 16 MiB, far below the 2^31 - 1 elements of an MPI count, and what
/// rank 0 holds of another rank's rows at a time (larger pieces send no faster: at 16 MiB
/// the per-message cost is already nothing next to the bytes).
const PIECE: usize = 16 << 20;

/// The piece size this rank sends with: [`PIECE`], or `CARTKIN_MPI_PIECE_BYTES` (1 to
/// [`PIECE`]) for the tests.
fn piece_bytes() -> usize {
    std::env::var("CARTKIN_MPI_PIECE_BYTES")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(PIECE, |p| p.clamp(1, PIECE))
}

/// `trial --mpi`: initialise MPI, run the rank's part, finalise. Returns on every rank;
/// when the gate refuses the run, rank 0 returns the error and the other ranks exit with
/// its code without a word (rank 0 has said it).
pub fn cmd_trial(a: &TrialArgs) -> Result<(), Fail> {
    let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        return Err(Fail::Run("--mpi: MPI is initialised already".into()));
    };
    let world = universe.world();
    let res = run(&world, a);
    match res {
        Err(f) if world.rank() != 0 => {
            let code = f.code();
            // MPI_Finalize (a collective close) before the exit, which runs no destructor
            drop(world);
            drop(universe);
            let _ = std::io::stdout().flush();
            std::process::exit(i32::from(code))
        }
        res => res,
    }
}

/// The rank's whole part: the default threads (collective), its checks and study, then
/// the run of its model's trial.
fn run(world: &SimpleCommunicator, a: &TrialArgs) -> Result<(), Fail> {
    let threads = default_threads(world, a.threads);
    let prepared = check_args(a).and_then(|()| crate::trial_study(a));
    let study = match prepared {
        Ok((study, _)) => study,
        Err(f) => return gate(world, Err(f), || Ok(())).map(|_| ()),
    };
    with_trial!(
        &study,
        |t| run_rank(world, t, &study, a, threads),
        else gate(world, Err(Fail::Input("the study has no patients".into())), || Ok(())).map(|_| ())
    )
}

/// What `--mpi` does not combine with.
fn check_args(a: &TrialArgs) -> Result<(), Fail> {
    if a.shard.is_some() {
        return Err(Fail::Input(
            "--mpi with --shard: an MPI run is the whole trial, rank r running shard r of the ranks; drop --shard (or drop --mpi to run one shard)".into(),
        ));
    }
    if a.resume {
        return Err(Fail::Input(
            "--mpi with --resume: an MPI run keeps no checkpoints; run it again without --resume (it starts afresh)"
                .into(),
        ));
    }
    Ok(())
}

/// The worker threads of this rank: `requested`, or by default the cores this rank may run
/// on (`available_parallelism`, which follows the CPU binding that mpirun or srun gives
/// it). When the ranks of a node may run on overlapping cores (their counts add up to more
/// than the node's online cores: no binding, or an oversubscribed node), the rank takes its
/// share, `cores / ranks on the node` (at least 1), so that the node is not oversubscribed.
/// With the note to print when the node's ranks may run on fewer cores than it has (the
/// launcher bound them: Open MPI binds each rank to one core when it starts 1 or 2 ranks).
/// Collective: every rank calls it.
fn default_threads(world: &SimpleCommunicator, requested: Option<usize>) -> (usize, Option<String>) {
    let own = std::thread::available_parallelism().map_or(1, |n| n.get());
    let node = world.split_shared(world.rank());
    let mut all = vec![0u64; usize::try_from(node.size()).unwrap_or(1).max(1)];
    node.all_gather_into(&(own as u64), &mut all[..]);
    if let Some(t) = requested {
        return (t, None);
    }
    let online = online_cpus().unwrap_or_else(|| all.iter().copied().max().unwrap_or(1) as usize);
    let sum: u64 = all.iter().sum();
    if sum < online as u64 {
        let note = format!(
            "note: the {} rank(s) on this node may run on {sum} of its {online} cores (the launcher's CPU binding); `mpirun --bind-to none` or `srun --cpus-per-task` gives them more",
            all.len()
        );
        (own, Some(note))
    } else if sum == online as u64 {
        (own, None)
    } else {
        ((own / all.len()).max(1), None)
    }
}

/// The node's online CPUs (Linux: /sys/devices/system/cpu/online, e.g. `0-63` or
/// `0-3,8-11`); `None` where it cannot be read.
fn online_cpus() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    let mut n = 0usize;
    for part in text.trim().split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()?.checked_sub(a.trim().parse::<usize>().ok()?)? + 1,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// One rank's status at the gate, as sent to rank 0: ready for `manifest`, or failed.
fn status_bytes(local: &Result<String, Fail>) -> Vec<u8> {
    let v = match local {
        Ok(manifest) => serde_json::json!({ "ready": manifest }),
        Err(f) => serde_json::json!({ "code": f.code(), "message": f.message().unwrap_or_default() }),
    };
    v.to_string().into_bytes()
}

/// The gate before the computation (collective). Every rank reports `local` (its run's
/// manifest as JSON, or its error) to rank 0; rank 0 checks that every rank is ready for
/// the same run, then runs `open` (taking the output directory), and broadcasts the
/// verdict. Returns `open`'s value on rank 0 (`None` elsewhere), or the verdict's error on
/// every rank.
fn gate<T>(
    world: &SimpleCommunicator,
    local: Result<String, Fail>,
    open: impl FnOnce() -> Result<T, Fail>,
) -> Result<Option<T>, Fail> {
    let root = world.process_at_rank(0);
    let mut opened = None;
    let verdict: Result<(), Fail> = if world.rank() == 0 {
        let mut first: Option<Fail> = None;
        for r in 1..world.size() {
            let (bytes, _) = world.process_at_rank(r).receive_vec::<u8>();
            if first.is_some() {
                continue; // still receive every status: no rank is left sending
            }
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let other = if let Some(m) = v["ready"].as_str() {
                match &local {
                    Ok(mine) if mine != m => Some(Fail::Input(format!(
                        "MPI rank {r} reads another run than rank 0 ({}): every rank must read the same study with the same options",
                        manifest_difference(mine, m)
                    ))),
                    _ => None,
                }
            } else {
                let code = v["code"].as_u64().and_then(|c| u8::try_from(c).ok()).unwrap_or(1);
                let msg = v["message"].as_str().unwrap_or("a malformed status").to_string();
                Some(if code == 2 {
                    Fail::Input(format!("MPI rank {r}: {msg}"))
                } else {
                    Fail::Run(format!("MPI rank {r}: {msg}"))
                })
            };
            first = other;
        }
        // rank 0's own failure first: it is usually every rank's (the same study)
        match (local, first) {
            (Err(f), _) => Err(f),
            (Ok(_), Some(f)) => Err(f),
            (Ok(_), None) => open().map(|t| opened = Some(t)),
        }
    } else {
        root.send(&status_bytes(&local)[..]);
        Ok(())
    };
    // Rank 0 says a refusal now, before the verdict lets the other ranks exit: mpirun ends
    // the whole job (rank 0 too) as soon as one rank exits with an error, so a message
    // printed after the broadcast could be lost.
    let verdict = match verdict {
        Err(f) if world.rank() == 0 => {
            if let Some(m) = f.message() {
                eprintln!("error: {}", cartkin::error::one_line(&m, 2000));
            }
            let _ = std::io::stderr().flush();
            Err(Fail::Reported(f.code()))
        }
        v => v,
    };
    // the verdict: a code (0: go) and rank 0's message
    let mut msg: Vec<u8> = match &verdict {
        Ok(()) => vec![0],
        Err(f) => {
            let mut m = vec![f.code()];
            m.extend_from_slice(f.message().unwrap_or_default().as_bytes());
            m
        }
    };
    let mut len = msg.len() as u64;
    root.broadcast_into(&mut len);
    msg.resize(usize::try_from(len).unwrap_or(1).max(1), 0);
    root.broadcast_into(&mut msg[..]);
    if world.rank() == 0 {
        return verdict.map(|()| opened);
    }
    let text = String::from_utf8_lossy(&msg[1..]).into_owned();
    match msg[0] {
        0 => Ok(None),
        2 => Err(Fail::Input(text)),
        _ => Err(Fail::Run(text)),
    }
}

/// The first manifest field that differs between two manifests (as JSON).
fn manifest_difference(a: &str, b: &str) -> String {
    let (Ok(x), Ok(y)) = (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b))
    else {
        return "an unreadable manifest".into();
    };
    // the fields a user sets first, the hashes that cover everything else last
    for k in ["crate_version", "model", "model_version", "seed", "n_patients", "population", "run_hash", "format"] {
        if x[k] != y[k] {
            return format!("{k} {} vs {}", x[k], y[k]);
        }
    }
    "another manifest".into()
}

/// End the whole job after the gate: the message, then `MPI_Abort` with the exit code.
fn abort(world: &SimpleCommunicator, f: Fail) -> ! {
    if let Some(m) = f.message() {
        eprintln!("error: MPI rank {}: {}", world.rank(), cartkin::error::one_line(&m, 2000));
    }
    world.abort(i32::from(f.code()))
}

/// Send `bytes` to rank 0 in pieces of `piece` bytes (the last one shorter).
fn send_pieces(world: &SimpleCommunicator, bytes: &[u8], piece: usize) {
    let root = world.process_at_rank(0);
    for piece in bytes.chunks(piece) {
        root.send(piece);
    }
}

/// Receive `len` bytes from rank `r` in the pieces of [`send_pieces`], handing each piece
/// to `each`.
fn receive_pieces(
    world: &SimpleCommunicator,
    r: i32,
    len: u64,
    piece: usize,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let from = world.process_at_rank(r);
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(piece, |l| l.min(piece));
        buf.resize(n, 0);
        from.receive_into(&mut buf[..n]);
        each(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Where a rank's rows go: rank 0's table in the output directory, another rank's buffer
/// (sent to rank 0 at the end), or nowhere (no `--out`).
enum Rows {
    Table(PatientCsv<BufWriter<File>>),
    Buffer(PatientCsv<Vec<u8>>),
    None,
}

/// What a rank other than 0 sends first (as JSON): its summary state and what follows.
struct Meta {
    /// The rank's summary state.
    state: SummaryState,
    /// The size of the pieces that follow (the last of each stream shorter).
    piece: usize,
    /// Bytes of rows that follow.
    rows_bytes: u64,
    /// The trajectory files that follow: (patient id, bytes), in this order.
    trajectories: Vec<(u64, u64)>,
    /// The rank's worker threads.
    threads: usize,
    /// The rank's computing time, seconds.
    compute_s: f64,
}

impl Meta {
    fn to_bytes(&self) -> Vec<u8> {
        serde_json::json!({
            "state": self.state.to_json(),
            "piece": self.piece,
            "rows_bytes": self.rows_bytes,
            "trajectories": self.trajectories,
            "threads": self.threads,
            "compute_s": self.compute_s,
        })
        .to_string()
        .into_bytes()
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let state = SummaryState::from_json(v["state"].as_str().ok_or("no state")?)
            .map_err(|e| format!("its summary state: {e}"))?;
        let mut trajectories = Vec::new();
        for t in v["trajectories"].as_array().ok_or("no trajectories")? {
            match (t[0].as_u64(), t[1].as_u64()) {
                (Some(id), Some(len)) => trajectories.push((id, len)),
                _ => return Err("a malformed trajectory entry".into()),
            }
        }
        Ok(Meta {
            state,
            piece: v["piece"]
                .as_u64()
                .and_then(|p| usize::try_from(p).ok())
                .filter(|p| (1..=PIECE).contains(p))
                .ok_or("no piece size, or one out of range")?,
            rows_bytes: v["rows_bytes"].as_u64().ok_or("no rows_bytes")?,
            trajectories,
            threads: v["threads"].as_u64().and_then(|t| usize::try_from(t).ok()).ok_or("no threads")?,
            compute_s: v["compute_s"].as_f64().ok_or("no compute_s")?,
        })
    }
}

/// The run of one rank, after its study is read: the gate, its shard, then the gathering
/// and the outputs at rank 0.
fn run_rank<S: PatientSource>(
    world: &SimpleCommunicator,
    trial: Trial<S>,
    study: &Study,
    a: &TrialArgs,
    (threads, note): (usize, Option<String>),
) -> Result<(), Fail>
where
    <S::Patient as Subject>::Row: TrajectoryCsv,
{
    let (rank, size) = (world.rank(), world.size());
    let (r, p) = (u64::try_from(rank).unwrap_or(0), u64::try_from(size).unwrap_or(1));
    let trial = if a.trajectories > 0 { trial.trajectories(a.trajectories, Grid::Daily) } else { trial };
    let manifest = trial.manifest();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Fail::Run(format!("thread pool: {e}")));
    let local = pool
        .as_ref()
        .map_err(|e| Fail::Run(e.message().unwrap_or_default()))
        .and_then(|_| serde_json::to_string(&manifest).map_err(|e| Fail::Run(format!("manifest: {e}"))));
    // rank 0 takes the directory as a one-process run would (shard 0 of 1: the directory
    // holds the whole run), and only once every rank is ready
    let opened = gate(world, local, || match &a.out {
        Some(d) => {
            let mut dir = RunDir::open(d, &manifest, (0, 1), false, a.force)?;
            match dir.start(&trial)? {
                Start::Fresh { csv } => Ok(Some((dir, csv))),
                // without --resume a run always starts afresh
                Start::Resume { .. } | Start::Complete => Err(Fail::Run(format!("{}: not a fresh start", d.display()))),
            }
        }
        None => Ok(None),
    })?;
    let pool = match pool {
        Ok(p) => p,
        Err(f) => abort(world, f), // unreachable: the gate refused a rank without a pool
    };
    let (mut dir, table) = match opened.flatten() {
        Some((d, c)) => (Some(d), Some(c)),
        None => (None, None),
    };
    let rows = match table {
        Some(c) => Rows::Table(c),
        None if a.out.is_some() && rank != 0 => {
            Rows::Buffer(PatientCsv::continuing_for_source(Vec::new(), trial.source()))
        }
        None => Rows::None,
    };

    let range = trial.shard_range(r, p);
    if rank == 0 {
        say!("{}", study.describe());
        say!("  MPI: {size} ranks x {threads} threads at rank 0; rank 0 runs patients {}..{}", range.start, range.end);
        if let Some(n) = note.filter(|_| !a.quiet) {
            eprintln!("{n}");
        }
    }
    let mut progress = Progress::new(a.quiet || rank != 0, range.end - range.start, 0);
    let traj_dir = a.out.as_ref().map(|d| d.join("trajectories"));
    // the sink (rows, trajectories) and the chunk hook share the first error; a rank other
    // than 0 keeps its trajectory files until it sends them
    let shared = Mutex::new((rows, Vec::<(u64, Vec<u8>)>::new(), None::<String>));
    let start = Instant::now();
    let (summary, next) = pool.install(|| {
        trial.run_chunks(
            range.clone(),
            range.start,
            trial.empty_summary(),
            &mut |o| {
                let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                let (rows, kept, io_error) = &mut *sh;
                if io_error.is_some() {
                    return;
                }
                if let (Some(t), Some(td)) = (&o.trajectory, &traj_dir) {
                    let text = <<S::Patient as Subject>::Row as TrajectoryCsv>::csv(t);
                    if rank == 0 {
                        if let Err(e) = rundir::write_atomic(td, &format!("patient_{}.csv", o.id), text.as_bytes()) {
                            *io_error = e.message();
                            return;
                        }
                    } else {
                        kept.push((o.id, text.into_bytes()));
                    }
                }
                let res = match rows {
                    Rows::Table(w) => w.write(o),
                    Rows::Buffer(w) => w.write(o),
                    Rows::None => Ok(()),
                };
                if let Err(e) = res {
                    *io_error = Some(format!("patients.csv: {e}"));
                }
            },
            &mut |next, _| {
                progress.update(next - range.start);
                shared.lock().unwrap_or_else(|e| e.into_inner()).2.is_none()
            },
        )
    });
    let compute_s = start.elapsed().as_secs_f64();
    progress.finish();
    let (mut rows, kept, io_error) = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = io_error {
        abort(world, Fail::Run(e));
    }
    if next < range.end {
        abort(world, Fail::Run(format!("stopped at patient {next} of {}..{}", range.start, range.end)));
    }
    let state = SummaryState { manifest: manifest.clone(), shards: Shards { n_shards: p, held: vec![r] }, summary };

    if rank != 0 {
        let rows_bytes = match rows {
            Rows::Buffer(w) => w.finish().unwrap_or_else(|e| abort(world, Fail::Run(format!("rows: {e}")))),
            _ => Vec::new(),
        };
        let meta = Meta {
            state,
            piece: piece_bytes(),
            rows_bytes: rows_bytes.len() as u64,
            trajectories: kept.iter().map(|(id, t)| (*id, t.len() as u64)).collect(),
            threads,
            compute_s,
        };
        world.process_at_rank(0).send(&meta.to_bytes()[..]);
        send_pieces(world, &rows_bytes, meta.piece);
        for (_, t) in &kept {
            send_pieces(world, t, meta.piece);
        }
        return Ok(());
    }

    // rank 0: the other ranks' parts in rank order, which is id order
    let mut states = vec![state];
    let mut threads_per_rank = vec![threads];
    let mut compute = vec![compute_s];
    let mut buf: Vec<u8> = Vec::new();
    for from in 1..size {
        let (bytes, _) = world.process_at_rank(from).receive_vec::<u8>();
        let meta = Meta::from_bytes(&bytes)
            .unwrap_or_else(|e| abort(world, Fail::Run(format!("MPI rank {from}: a malformed message: {e}"))));
        states.push(meta.state);
        threads_per_rank.push(meta.threads);
        compute.push(meta.compute_s);
        let res = receive_pieces(world, from, meta.rows_bytes, meta.piece, &mut buf, |piece| match &mut rows {
            Rows::Table(w) => w.get_mut().write_all(piece).map_err(|e| Fail::Run(format!("patients.csv: {e}"))),
            _ => Err(Fail::Run(format!("MPI rank {from} sent rows that no table takes"))),
        });
        if let Err(f) = res {
            abort(world, f);
        }
        for (id, len) in meta.trajectories {
            let mut text = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            let res = receive_pieces(world, from, len, meta.piece, &mut buf, |piece| {
                text.extend_from_slice(piece);
                Ok(())
            })
            .and_then(|()| match (&traj_dir, id < a.trajectories) {
                (Some(td), true) => rundir::write_atomic(td, &format!("patient_{id}.csv"), &text),
                _ => Err(Fail::Run(format!(
                    "MPI rank {from} sent the trajectory of patient {id}, which was not asked for"
                ))),
            });
            if let Err(f) = res {
                abort(world, f);
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let merged = SummaryState::merge(&states)
        .and_then(|m| m.complete())
        .unwrap_or_else(|e| abort(world, Fail::Run(format!("cannot merge the ranks' summaries: {e}"))));
    // the state of the whole run as one shard: the same state.json as a one-process run
    let whole = SummaryState {
        manifest: manifest.clone(),
        shards: Shards { n_shards: 1, held: vec![0] },
        summary: merged.summary,
    };
    let n = trial.n_patients();
    let total_threads: usize = threads_per_rank.iter().sum();
    if let (Some(d), Rows::Table(w)) = (dir.as_mut(), rows) {
        let mut run = run_json(study, &manifest, None, &(0..n), total_threads, wall, 0, n);
        run["mpi_ranks"] = size.into();
        run["threads_per_rank"] = threads_per_rank.clone().into();
        run["rank_compute_s"] = compute.into();
        if let Err(f) = d.finish(w, &whole.summary, &whole, &run) {
            abort(world, f);
        }
    }
    let unit = cartkin::model::zoo::Kind::from_name(&study.model).map_or("cells", |k| k.car_t_unit());
    print_report(&whole.summary, n, n, wall, total_threads, unit);
    if let Some(d) = &a.out {
        eprintln!("wrote {}/patients.csv, summary.json, run.json, state.json", d.display());
    }
    Ok(())
}
