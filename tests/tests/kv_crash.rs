//! Crash safety of cfdb-kv, proved two ways:
//!
//! * deterministic failpoints: a writer process aborts right after each named step of set,
//!   overwrite, delete, growth, prune, creation and recovery itself;
//! * random SIGKILLs of a writer process running a random workload (200 by default,
//!   `CFDB_CRASH_ITERS` for more).
//!
//! Every crashed file must reopen; everything the writer had synced must read back intact, and
//! every key written after the last sync must read as its old value or a newer one, never a
//! mix. The read-only salvage view and the recovered file must agree, and Python booklet must
//! read the recovered file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use cfdb_kv::{Mode, Reader, Writer};
use cfdb_tests::crash::{Acceptable, Op, PHASES, Rng, phase_ops, random_ops};
use cfdb_tests::run_python_json;

const CHILD: &str = env!("CARGO_BIN_EXE_kv_crash_child");

fn run_child(args: &[&str], failpoint: Option<&str>) -> ExitStatus {
    let mut c = Command::new(CHILD);
    c.args(args);
    match failpoint {
        Some(f) => c.env("CFDB_KV_FAILPOINT", f),
        None => c.env_remove("CFDB_KV_FAILPOINT"),
    };
    c.status().expect("spawn the crash child")
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// What a reader sees: items, metadata, len and whether the file was clean.
type Observed = (BTreeMap<Vec<u8>, Vec<u8>>, Option<Vec<u8>>, u64, bool);

/// Reads the whole visible state through a reader.
fn observe(path: &Path) -> Observed {
    let r = Reader::open(path)
        .unwrap_or_else(|e| panic!("read-only open of the crashed file failed: {e}"));
    let mut seen = BTreeMap::new();
    for item in r.items() {
        let item = item.unwrap();
        assert!(
            seen.insert(item.key.to_vec(), item.value.to_vec())
                .is_none(),
            "a key is listed twice"
        );
        assert_eq!(
            r.get(item.key).unwrap(),
            Some(item.value),
            "lookup disagrees with the scan"
        );
    }
    let meta = r.metadata().unwrap().map(<[u8]>::to_vec);
    (seen, meta, r.len(), r.info().clean)
}

/// The full check of a crashed file against what the writer had synced.
fn verify(path: &Path, acceptable: Option<&Acceptable>, python: bool, what: &str) {
    let Some(acc) = acceptable else {
        // Killed before the file was even created: whatever is there must open as new.
        Writer::open(path, Mode::Create)
            .unwrap_or_else(|e| panic!("{what}: reopen with 'c': {e}"))
            .close()
            .unwrap();
        return;
    };
    let (seen, meta, len, _) = observe(path);
    acc.check(&seen, &meta)
        .unwrap_or_else(|e| panic!("{what}: read-only salvage view: {e}"));
    assert_eq!(len, seen.len() as u64, "{what}: len");
    Writer::open(path, Mode::Write)
        .unwrap_or_else(|e| panic!("{what}: recovering open: {e}"))
        .close()
        .unwrap();
    let (after, meta_after, len_after, clean) = observe(path);
    assert!(clean, "{what}: clean after recovery");
    assert_eq!(
        after, seen,
        "{what}: recovery changed what the read-only view showed"
    );
    assert_eq!(meta_after, meta, "{what}: metadata changed by recovery");
    assert_eq!(len_after, after.len() as u64);
    if python {
        let py = run_python_json("booklet_verify.py", &[path.to_str().unwrap()]);
        assert_eq!(
            py["lookup_mismatches"],
            serde_json::json!([]),
            "{what}: Python lookups"
        );
        assert_eq!(py["len"].as_u64(), Some(len_after), "{what}: Python len");
        assert_eq!(
            py["n_items"].as_u64(),
            Some(len_after),
            "{what}: Python items"
        );
    }
}

fn phased_acceptable(scenario: &str, log: &Path) -> Option<Acceptable> {
    let lines = log_lines(log);
    let last: u32 = lines.last()?.parse().ok()?;
    let synced: Vec<Op> = (1..=last).flat_map(|p| phase_ops(scenario, p)).collect();
    let window = if last < PHASES {
        phase_ops(scenario, last + 1)
    } else {
        Vec::new()
    };
    Some(Acceptable::new(&synced, &window))
}

const FAILPOINTS: &[(&str, &str)] = &[
    ("phases", "create.after_write"),
    ("phases", "flush.after_data"),
    ("phases", "flush.after_data:2"),
    ("phases", "flush.after_data:4"),
    ("phases", "sync.after_data"),
    ("phases", "sync.after_data:2"),
    ("phases", "sync.after_index:2"),
    ("phases", "sync.link"),
    ("phases", "sync.link:15"),
    ("phases", "sync.link:8"),
    ("phases", "sync.after_header:2"),
    ("phases", "sync.after_header:4"),
    ("phases", "grow.after_header"),
    ("phases", "grow.after_index"),
    ("phases", "delete.after_kill"),
    ("phases", "prune.after_sidecar"),
    ("phases", "prune.after_mark"),
    ("phases", "prune.copy"),
    ("phases", "prune.after_copy"),
    ("relocated", "prune.after_sidecar"),
    ("relocated", "grow.after_skip"),
    ("relocated", "grow.after_header"),
    ("relocated", "grow.after_index"),
    ("relocated", "sync.link:3"),
];

#[test]
fn every_failpoint_leaves_a_recoverable_file() {
    let dir = tempfile::tempdir().unwrap();
    for (i, &(scenario, fp)) in FAILPOINTS.iter().enumerate() {
        let file = dir.path().join(format!("fp{i}.blt"));
        let log = dir.path().join(format!("fp{i}.log"));
        let status = run_child(
            &[scenario, file.to_str().unwrap(), log.to_str().unwrap()],
            Some(fp),
        );
        assert!(
            !status.success(),
            "failpoint {fp} of {scenario} was never reached"
        );
        let what = format!("{scenario} killed at {fp}");
        verify(
            &file,
            phased_acceptable(scenario, &log).as_ref(),
            true,
            &what,
        );
    }
}

#[test]
fn recovery_itself_can_be_killed_and_rerun() {
    let dir = tempfile::tempdir().unwrap();
    // (crash point, bytes torn off the end afterwards, recovery failpoint)
    let cases = [
        ("sync.link:15", 0, "recover.after_mark"),
        ("sync.link:15", 0, "recover.link:3"),
        ("sync.link:15", 0, "recover.after_index"),
        ("flush.after_data:4", 7, "recover.after_truncate"),
        ("flush.after_data:5", 100_000, "recover.link:2"),
        ("grow.after_index", 0, "recover.link"),
    ];
    for (i, (crash, torn, recover_fp)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("r{i}.blt"));
        let log = dir.path().join(format!("r{i}.log"));
        let f = file.to_str().unwrap();
        let l = log.to_str().unwrap();
        assert!(!run_child(&["phases", f, l], Some(crash)).success());
        if torn > 0 {
            // A write cut short: the last block of the unsynced tail is incomplete.
            let len = std::fs::metadata(&file).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(len - torn)
                .unwrap();
        }
        let acceptable = phased_acceptable("phases", &log);
        let status = run_child(&["recover", f, l], Some(recover_fp));
        assert!(
            !status.success(),
            "recovery failpoint {recover_fp} after {crash} was never reached"
        );
        verify(
            &file,
            acceptable.as_ref(),
            i == 0,
            &format!("{crash} then recovery killed at {recover_fp}"),
        );
    }
}

#[test]
fn random_sigkills_never_lose_synced_data() {
    let iters: u64 = std::env::var("CFDB_CRASH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(0x5eed);
    let mut killed_mid_run = 0;
    for it in 0..iters {
        let seed = rng.next_u64();
        let file = dir.path().join(format!("k{}.blt", it % 4));
        let log = dir.path().join(format!("k{}.log", it % 4));
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&log);
        let mut child = Command::new(CHILD)
            .args([
                "random",
                file.to_str().unwrap(),
                log.to_str().unwrap(),
                &seed.to_string(),
            ])
            .env_remove("CFDB_KV_FAILPOINT")
            .spawn()
            .unwrap();
        // Mostly mid-run, sometimes right at the start (during creation).
        let delay = if it % 10 == 0 {
            rng.below(3)
        } else {
            5 + rng.below(60)
        };
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the random writer never ends by itself");
        let lines = log_lines(&log);
        let acceptable = lines
            .last()
            .and_then(|l| l.parse::<usize>().ok())
            .map(|done| {
                // Replay the workload up to the first sync after the last logged one.
                let mut r = Rng::new(seed);
                let mut ops: Vec<Op> = Vec::new();
                for op in random_ops(&mut r) {
                    let is_sync = matches!(op, Op::Sync | Op::Prune);
                    ops.push(op);
                    if ops.len() > done && is_sync {
                        break;
                    }
                }
                killed_mid_run += 1;
                Acceptable::new(&ops[..done], &ops[done..])
            });
        verify(
            &file,
            acceptable.as_ref(),
            it % 25 == 0,
            &format!("iteration {it} (seed {seed}, killed after {delay} ms)"),
        );
    }
    assert!(
        killed_mid_run * 2 > iters,
        "most kills should land after the file was created ({killed_mid_run}/{iters})"
    );
}
