//! Dataset-level crash safety: a writer process is SIGKILLed at random moments; whatever it had
//! synced must survive, in Rust and in Python cfdb.
//!
//! The writer is this test binary re-executed (`crash_child`, inert unless
//! `CFDB_CORE_CRASH_CHILD` is set). It creates a dataset (coordinates `x` and `t`, data
//! variables `v(t, x)` float64 and `flag(t)` int16), then runs numbered epochs forever: each
//! appends or prepends one `t` value (prepends move the origin below 0), writes that row, often
//! overwrites a block of older rows (sometimes all of them, megabytes, so the key/value write
//! buffer flushes in the middle of an epoch), sets the `epoch` attribute, calls
//! `Dataset::sync`, and only then appends the epoch number to a log file (fsync'd). The epochs
//! are a deterministic function of a seed, so the parent can replay them.
//!
//! After each kill, with `L` the last logged epoch:
//!
//! * the read-only open (booklet's salvage view of an unclean file) works and shows the state
//!   after epoch `L` or after epoch `L + 1` (the one running or just synced when killed): the
//!   shape and origin of one of the two, every cell holding its value after `L` or the value
//!   epoch `L + 1` wrote there (a cell of the new row may still be blank), never anything else;
//! * `open_rw` recovers the file, and the recovered file reads exactly as the salvage view did;
//! * Python cfdb 0.11.0 reads the recovered file and sees exactly what Rust sees.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cfdb_core::{
    Access, CoordSpec, DataTypeMeta, DataVarSpec, Dataset, OpenMode, OpenOptions, ReadWrite, open,
    open_rw, sel,
};
use cfdb_tests::crash::Rng;
use cfdb_tests::run_python_json;
use ndarray::{Array1, ArrayD, IxDyn};
use serde_json::Value;

const CHILD_ENV: &str = "CFDB_CORE_CRASH_CHILD";
const NX: usize = 600;
const X_CHUNK: usize = 200;
const T_CHUNK: usize = 8;
const FIRST_T: i64 = 100_000;
/// The child stops by itself (a failure) after this many epochs: the parent kills it long
/// before, and the values below stay unique and exact.
const MAX_EPOCHS: u64 = 9_000;

/// `v` at row `t`, column `x`, as written by epoch `gen`: unique per (t, gen, x), exact in f64.
fn value(t: i64, generation: u64, x: usize) -> f64 {
    (t * 10_000_000 + generation as i64 * 1000 + x as i64) as f64
}

fn flag_of(generation: u64) -> i16 {
    (generation % 30_000) as i16 + 1
}

/// The dataset as the writer has it after some epoch.
#[derive(Clone, Debug)]
struct State {
    epoch: u64,
    origin: i64,
    t: Vec<i64>,
    v: Vec<Vec<f64>>,
    flag: Vec<i16>,
}

/// What one epoch does.
#[derive(Clone, Debug)]
struct Plan {
    epoch: u64,
    prepend: bool,
    t: i64,
    /// Rows (indexes after the extension) and columns overwritten, if any.
    overwrite: Option<(Range<usize>, Range<usize>)>,
}

impl State {
    fn new() -> State {
        State {
            epoch: 0,
            origin: 0,
            t: Vec::new(),
            v: Vec::new(),
            flag: Vec::new(),
        }
    }

    fn plan(&self, seed: u64) -> Plan {
        let epoch = self.epoch + 1;
        let mut r = Rng::new(seed ^ epoch.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let prepend = !self.t.is_empty() && r.below(4) == 0;
        let t = match (self.t.first(), self.t.last()) {
            (Some(first), _) if prepend => first - 1,
            (_, Some(last)) => last + 1,
            _ => FIRST_T,
        };
        let n = self.t.len() as u64 + 1;
        let overwrite = if epoch.is_multiple_of(7) {
            let a = r.below(NX as u64) as usize;
            Some((0..n as usize, a..NX))
        } else if n >= 2 && r.below(3) == 0 {
            let a = r.below(n) as usize;
            let b = a + 1 + r.below((n - a as u64).min(40)) as usize;
            let xa = r.below(NX as u64) as usize;
            let xb = xa + 1 + r.below((NX - xa) as u64) as usize;
            Some((a..b, xa..xb))
        } else {
            None
        };
        Plan {
            epoch,
            prepend,
            t,
            overwrite,
        }
    }

    fn apply(&mut self, p: &Plan) {
        let row: Vec<f64> = (0..NX).map(|x| value(p.t, p.epoch, x)).collect();
        if p.prepend {
            self.t.insert(0, p.t);
            self.v.insert(0, row);
            self.flag.insert(0, flag_of(p.epoch));
            self.origin -= 1;
        } else {
            self.t.push(p.t);
            self.v.push(row);
            self.flag.push(flag_of(p.epoch));
        }
        if let Some((rows, xs)) = &p.overwrite {
            for i in rows.clone() {
                for x in xs.clone() {
                    self.v[i][x] = value(self.t[i], p.epoch, x);
                }
                self.flag[i] = flag_of(p.epoch);
            }
        }
        self.epoch = p.epoch;
    }

    /// Storage position → row index.
    fn row_at(&self, pos: i64) -> Option<usize> {
        let i = pos - self.origin;
        (0..self.t.len() as i64).contains(&i).then_some(i as usize)
    }
}

// ---- the child -----------------------------------------------------------------------------

fn log_line(log: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    writeln!(f, "{line}").unwrap();
    f.sync_all().unwrap();
}

fn run_plan(ds: &mut Dataset<ReadWrite>, before: &State, p: &Plan) {
    let t = Array1::from(vec![p.t]).into_dyn();
    if p.prepend {
        assert_eq!(ds.prepend("t", t).unwrap(), 1);
    } else {
        assert_eq!(ds.append("t", t).unwrap(), 1);
    }
    let row = if p.prepend { 0 } else { before.t.len() };
    let vals = ArrayD::from_shape_fn(IxDyn(&[1, NX]), |ix| value(p.t, p.epoch, ix[1]));
    ds.write("v", sel![row, ..], vals.view()).unwrap();
    let flag = ArrayD::from_elem(IxDyn(&[1]), flag_of(p.epoch));
    ds.write("flag", sel![row], flag.view()).unwrap();
    if let Some((rows, xs)) = &p.overwrite {
        let mut after = before.clone();
        after.apply(&Plan {
            overwrite: None,
            ..p.clone()
        });
        let block = ArrayD::from_shape_fn(IxDyn(&[rows.len(), xs.len()]), |ix| {
            value(after.t[rows.start + ix[0]], p.epoch, xs.start + ix[1])
        });
        ds.write("v", sel![rows.clone(), xs.clone()], block.view())
            .unwrap();
        let flags = ArrayD::from_elem(IxDyn(&[rows.len()]), flag_of(p.epoch));
        ds.write("flag", sel![rows.clone()], flags.view()).unwrap();
    }
    ds.attrs_mut()
        .unwrap()
        .insert("epoch".to_owned(), Value::from(p.epoch));
}

fn child(path: &Path, log: &Path, seed: u64) {
    let mut ds = OpenOptions::new()
        .n_buckets(257)
        .open_rw(path, OpenMode::New)
        .unwrap();
    ds.create_coord(
        "x",
        CoordSpec::new(DataTypeMeta::new("int32"))
            .data(Array1::from_iter(0..NX as i32).into_dyn())
            .chunk_len(256),
    )
    .unwrap();
    ds.create_coord(
        "t",
        CoordSpec::new(DataTypeMeta::new("int64")).chunk_len(T_CHUNK),
    )
    .unwrap();
    ds.create_data_var(
        "v",
        &["t", "x"],
        DataVarSpec::new(DataTypeMeta::new("float64")).chunk_shape(&[T_CHUNK, X_CHUNK]),
    )
    .unwrap();
    ds.create_data_var(
        "flag",
        &["t"],
        DataVarSpec::new(DataTypeMeta::new("int16")).chunk_shape(&[16]),
    )
    .unwrap();
    ds.attrs_mut()
        .unwrap()
        .insert("epoch".to_owned(), Value::from(0));
    ds.sync().unwrap();
    log_line(log, "0");
    let mut state = State::new();
    while state.epoch < MAX_EPOCHS {
        let p = state.plan(seed);
        run_plan(&mut ds, &state, &p);
        state.apply(&p);
        ds.sync().unwrap();
        log_line(log, &p.epoch.to_string());
    }
    ds.close().unwrap();
    // Never reached when the parent does its job: a normal exit is reported as a failure.
    std::process::exit(3);
}

/// The writer process; does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(spec) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let spec = spec.into_string().unwrap();
    let mut parts = spec.split('\n');
    let path = PathBuf::from(parts.next().unwrap());
    let log = PathBuf::from(parts.next().unwrap());
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    child(&path, &log, seed);
}

// ---- the parent ----------------------------------------------------------------------------

/// What a reader sees.
#[derive(Debug)]
struct Seen {
    var_names: Vec<String>,
    origin: i64,
    t: Vec<i64>,
    v: Vec<f64>,
    flag: Vec<i16>,
    epoch: Option<u64>,
}

fn observe<A: Access>(ds: &Dataset<A>) -> Seen {
    let t = ds.coord("t").unwrap();
    let origin = t.origin().unwrap();
    let tv = t.as_var().read::<i64>().unwrap();
    let n = tv.len();
    let v = ds.data_var("v").unwrap();
    assert_eq!(v.shape(), [n, NX], "v follows t");
    let v = v.read::<f64>().unwrap();
    let flag = ds.data_var("flag").unwrap().read::<i16>().unwrap();
    assert_eq!(flag.len(), n);
    assert_eq!(
        ds.coord("x").unwrap().as_var().read::<i32>().unwrap(),
        Array1::from_iter(0..NX as i32).into_dyn()
    );
    Seen {
        var_names: ds.var_names().into_iter().map(str::to_owned).collect(),
        origin,
        t: tv.iter().copied().collect(),
        v: v.iter().copied().collect(),
        flag: flag.iter().copied().collect(),
        epoch: ds.attrs().unwrap().get("epoch").and_then(Value::as_u64),
    }
}

/// Equality with floats compared bit for bit (NaN = NaN).
fn same_seen(a: &Seen, b: &Seen) -> bool {
    a.var_names == b.var_names
        && a.origin == b.origin
        && a.t == b.t
        && a.flag == b.flag
        && a.epoch == b.epoch
        && a.v.len() == b.v.len()
        && a.v
            .iter()
            .zip(&b.v)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Checks a salvaged view against the synced state `s` and the next state `s1`.
fn check(seen: &Seen, s: &State, s1: &State, what: &str) -> usize {
    assert_eq!(seen.var_names, ["x", "t", "v", "flag"], "{what}");
    let n = seen.t.len();
    let mut from_next = 0;
    assert!(
        (n, seen.origin) == (s.t.len(), s.origin) || (n, seen.origin) == (s1.t.len(), s1.origin),
        "{what}: t has {n} values from origin {}; synced: {} from {}, next: {} from {}",
        seen.origin,
        s.t.len(),
        s.origin,
        s1.t.len(),
        s1.origin
    );
    assert!(
        seen.epoch == Some(s.epoch) || seen.epoch == Some(s1.epoch),
        "{what}: epoch attribute {:?}, synced {}",
        seen.epoch,
        s.epoch
    );
    for i in 0..n {
        let pos = seen.origin + i as i64;
        let old = s.row_at(pos);
        let new = s1
            .row_at(pos)
            .expect("the next state covers every position");
        let t = seen.t[i];
        match old {
            Some(o) => assert_eq!(t, s.t[o], "{what}: synced t at row {i} (position {pos})"),
            None => assert!(
                t == s1.t[new] || t == 0,
                "{what}: new t value {t} at row {i}"
            ),
        }
        let f = seen.flag[i];
        let f_old = old.map_or(0, |o| s.flag[o]);
        assert!(
            f == f_old || f == s1.flag[new],
            "{what}: flag {f} at row {i} (position {pos}); synced {f_old}, next {}",
            s1.flag[new]
        );
        for x in 0..NX {
            let got = seen.v[i * NX + x];
            let synced = old.map_or(f64::NAN, |o| s.v[o][x]);
            let next = s1.v[new][x];
            let ok = got == synced || got == next || got.is_nan() && synced.is_nan();
            assert!(
                ok,
                "{what}: v[{i}, {x}] (position {pos}) = {got}; synced {synced}, next {next}"
            );
            if got.to_bits() != synced.to_bits() && !(got.is_nan() && synced.is_nan()) {
                from_next += 1;
            }
        }
    }
    from_next
}

fn log_lines(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

fn python_matches(path: &Path, seen: &Seen, what: &str) {
    let py = run_python_json(
        "cfdb_read_json.py",
        &[path.to_str().unwrap(), "t", "v", "flag"],
    );
    let names: Vec<&str> = py["var_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, seen.var_names, "{what}: Python variable names");
    assert_eq!(
        py["attrs"]["epoch"].as_u64(),
        seen.epoch,
        "{what}: Python epoch"
    );
    let t = &py["vars"]["t"];
    assert_eq!(
        t["origin"].as_i64(),
        Some(seen.origin),
        "{what}: Python origin"
    );
    let pt: Vec<i64> = t["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(pt, seen.t, "{what}: Python t");
    let v = &py["vars"]["v"];
    assert_eq!(v["shape"], serde_json::json!([seen.t.len(), NX]), "{what}");
    let pv = v["values"].as_array().unwrap();
    assert_eq!(pv.len(), seen.v.len(), "{what}: Python v length");
    for (i, (p, r)) in pv.iter().zip(&seen.v).enumerate() {
        let same = match p.as_f64() {
            None => p.is_null() && r.is_nan(),
            Some(p) => p == *r,
        };
        assert!(same, "{what}: Python v[{i}] = {p}, Rust {r}");
    }
    let pf: Vec<i64> = py["vars"]["flag"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let rf: Vec<i64> = seen.flag.iter().map(|&f| i64::from(f)).collect();
    assert_eq!(pf, rf, "{what}: Python flag");
}

/// Verifies one crashed file; returns the number of the last synced epoch, if any.
fn verify(path: &Path, log: &Path, seed: u64, what: &str) -> Option<u64> {
    let lines = log_lines(log);
    let Some(&last) = lines.last() else {
        // Killed before the setup was synced: the file may be anything a crashed creation
        // leaves. Opening it must not panic, and a new dataset can be made in its place.
        let _ = open(path);
        OpenOptions::new()
            .open_rw(path, OpenMode::New)
            .unwrap_or_else(|e| panic!("{what}: recreating: {e}"))
            .close()
            .unwrap();
        open(path).unwrap();
        return None;
    };
    let mut s = State::new();
    while s.epoch < last {
        let p = s.plan(seed);
        s.apply(&p);
    }
    let mut s1 = s.clone();
    s1.apply(&s.plan(seed));

    let salvaged = {
        let ro = open(path).unwrap_or_else(|e| panic!("{what}: read-only open: {e}"));
        observe(&ro)
    };
    let from_next = check(&salvaged, &s, &s1, &format!("{what}, salvage view"));
    eprintln!(
        "{what}: synced epoch {last}; the file shows {} rows (synced {}, next {}), \
         {from_next} cells written by epoch {}",
        salvaged.t.len(),
        s.t.len(),
        s1.t.len(),
        s1.epoch
    );
    open_rw(path)
        .unwrap_or_else(|e| panic!("{what}: recovering open_rw: {e}"))
        .close()
        .unwrap_or_else(|e| panic!("{what}: close after recovery: {e}"));
    let recovered = observe(&open(path).unwrap_or_else(|e| panic!("{what}: reopen: {e}")));
    assert!(
        same_seen(&recovered, &salvaged),
        "{what}: recovery changed what the read-only view showed"
    );
    python_matches(path, &recovered, what);
    Some(last)
}

/// Waits until the child has logged its first line (setup synced).
fn wait_for_setup(log: &Path, child: &mut std::process::Child, what: &str) {
    let start = Instant::now();
    while log_lines(log).is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what}: the writer exited early ({status})");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: the writer never finished its setup"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn random_sigkills_keep_synced_data() {
    let iters: u64 = std::env::var("CFDB_CORE_CRASH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(0xc0de_5eed);
    let mut epochs = Vec::new();
    for it in 0..iters {
        let seed = rng.next_u64();
        let path = dir.path().join(format!("k{it}.cfdb"));
        let log = dir.path().join(format!("k{it}.log"));
        let err = dir.path().join(format!("k{it}.stderr"));
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(
                CHILD_ENV,
                format!("{}\n{}\n{seed}", path.display(), log.display()),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let what = format!("iteration {it} (seed {seed})");
        // The first kill lands during creation; the others mid-run.
        let delay = if it == 0 {
            rng.below(3)
        } else {
            wait_for_setup(&log, &mut child, &what);
            10 + rng.below(300)
        };
        std::thread::sleep(Duration::from_millis(delay));
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{what}: the writer exited by itself ({status}):\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        let what = format!("{what}, killed {delay} ms in");
        epochs.push(verify(&path, &log, seed, &what));
    }
    eprintln!("last synced epoch per kill: {epochs:?}");
    let mid_run = epochs.iter().filter(|e| e.is_some_and(|e| e > 0)).count();
    assert!(
        mid_run as u64 * 2 >= iters,
        "most kills should land after some epochs were synced: {epochs:?}"
    );
}
