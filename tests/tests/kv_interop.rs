//! cfdb-kv ⇄ Python booklet 0.12.10, both directions, on real files: whatever one writes (growth,
//! prune, skip blocks, large values, deletes, overwrites, metadata, recovery), the other reads
//! identically. Also file locking across the two implementations.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cfdb_kv::{KvError, Mode, OpenOptions, ReadOptions, Reader, Writer};
use cfdb_tests::{data_file, python, python_script, run_python_json, run_python_stdin_json};
use serde_json::{Value, json};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads `path` with Python booklet and with cfdb-kv and asserts they see the same file.
fn assert_same_view(path: &Path) -> Value {
    let py = run_python_json("booklet_verify.py", &[path.to_str().unwrap()]);
    assert_eq!(
        py["lookup_mismatches"],
        json!([]),
        "Python lookups disagree with its scan: {path:?}"
    );
    let r = Reader::open(path).unwrap();
    assert!(r.info().clean, "{path:?} is clean");
    assert_eq!(py["len"].as_u64(), Some(r.len()), "len of {path:?}");
    let ours: Vec<Value> = r
        .items()
        .map(|i| {
            let i = i.unwrap();
            json!([
                String::from_utf8(i.key.to_vec()).unwrap(),
                hex(i.value),
                i.timestamp
            ])
        })
        .collect();
    assert_eq!(
        Value::Array(ours),
        py["items"],
        "items of {path:?} in iteration order"
    );
    assert_eq!(py["n_items"].as_u64(), Some(r.len()));
    let meta: Value = match r.metadata().unwrap() {
        Some(m) => serde_json::from_slice(m).unwrap(),
        None => Value::Null,
    };
    assert_eq!(meta, py["metadata"], "metadata of {path:?}");
    py
}

fn value(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// The scenarios cfdb-kv writes for Python to read.
fn write_scenarios(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();

    // Overwrites, deletes and metadata written twice, explicit timestamps.
    let p = dir.join("mixed.blt");
    let mut w = OpenOptions::new()
        .n_buckets(101)
        .open(&p, Mode::New)
        .unwrap();
    for i in 0..60u32 {
        w.set_with_timestamp(
            format!("k{i}"),
            value(i, 40),
            1_700_000_000_000_000 + u64::from(i),
        )
        .unwrap();
    }
    w.set_metadata(br#"{"name":"first"}"#).unwrap();
    w.sync().unwrap();
    for i in (0..60u32).step_by(3) {
        w.set(format!("k{i}"), value(i + 1000, 7)).unwrap();
    }
    for i in (1..60u32).step_by(7) {
        assert!(w.delete(format!("k{i}")).unwrap());
    }
    w.set_metadata(br#"{"name":"second","n":[1,2.5,null]}"#)
        .unwrap();
    w.close().unwrap();
    out.push(p);

    // Index growth 6 -> 12007 -> 144013 (the index moves to EOF each time).
    let p = dir.join("grown.blt");
    let mut w = OpenOptions::new().n_buckets(6).open(&p, Mode::New).unwrap();
    for i in 0..12_100u32 {
        w.set(format!("g{i}"), value(i, 8)).unwrap();
        if i == 100 {
            w.sync().unwrap();
        }
    }
    w.close().unwrap();
    out.push(p);

    // Prune (relocated layout), then writes after the index.
    let p = dir.join("pruned.blt");
    let mut w = OpenOptions::new()
        .n_buckets(11)
        .open(&p, Mode::New)
        .unwrap();
    for i in 0..8u32 {
        w.set(format!("p{i}"), value(i, 10)).unwrap();
    }
    w.set(b"p1", b"overwritten").unwrap();
    w.delete(b"p2").unwrap();
    w.prune(None, &[]).unwrap();
    w.set(b"after1", b"x").unwrap();
    w.set(b"p3", b"overwritten after prune").unwrap();
    w.close().unwrap();
    out.push(p);

    // Prune then growth from the relocated index: a skip block covers the old index.
    let p = dir.join("pruned_grown.blt");
    let mut w = OpenOptions::new().n_buckets(6).open(&p, Mode::New).unwrap();
    for i in 0..5u32 {
        w.set(format!("q{i}"), value(i, 5)).unwrap();
    }
    w.prune(None, &[]).unwrap();
    for i in 5..30u32 {
        w.set(format!("q{i}"), value(i, 5)).unwrap();
    }
    w.close().unwrap();
    assert_eq!(Reader::open(&p).unwrap().info().n_buckets, 12007);
    out.push(p);

    // Values over the 4 MiB write buffer.
    let p = dir.join("large.blt");
    let mut w = Writer::open(&p, Mode::New).unwrap();
    w.set(b"big", value(1, 5 << 20)).unwrap();
    w.set(b"small", b"s").unwrap();
    w.set(b"big2", value(2, (4 << 20) + 1)).unwrap();
    w.close().unwrap();
    out.push(p);

    // cfdb-like: 144013 buckets, chunk keys, attrs, metadata.
    let p = dir.join("cfdb_like.blt");
    let mut w = OpenOptions::new()
        .n_buckets(144_013)
        .open(&p, Mode::New)
        .unwrap();
    w.set_metadata(br#"{"dataset_type":"grid","variables":{}}"#)
        .unwrap();
    for i in 0..50u32 {
        w.set(format!("temperature!{}.0", i * 10), value(i, 400))
            .unwrap();
    }
    w.set(b"__.attrs", br#"{"title":"t"}"#).unwrap();
    w.close().unwrap();
    out.push(p);
    out
}

#[test]
fn python_reads_what_rust_writes_and_rust_reads_python_appends() {
    let dir = tempfile::tempdir().unwrap();
    for path in write_scenarios(dir.path()) {
        assert_same_view(&path);
        let before = Reader::open(&path).unwrap().len();

        // Python appends: new keys, an overwrite and a delete of Rust's keys, new metadata.
        let first_key = {
            let r = Reader::open(&path).unwrap();
            let k = r.keys().next().unwrap().unwrap().to_vec();
            String::from_utf8(k).unwrap()
        };
        let ops = json!([
            ["set_ts", "py-new-1", "01020304", 1_800_000_000_000_000u64],
            ["set", "py-new-2", "ff"],
            ["set", first_key, "abcdef"],
            ["meta", {"by": "python"}],
            ["del", "py-new-2"],
        ]);
        let res = run_python_stdin_json(
            "booklet_apply.py",
            &[path.to_str().unwrap(), "w"],
            &ops.to_string(),
        );
        assert_eq!(res["len"].as_u64(), Some(before + 1));
        assert_same_view(&path);
        let r = Reader::open(&path).unwrap();
        assert_eq!(r.get(b"py-new-1").unwrap(), Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(
            r.get_timestamp(b"py-new-1").unwrap(),
            Some(1_800_000_000_000_000)
        );
        assert_eq!(
            r.get(first_key.as_bytes()).unwrap(),
            Some(&[0xab, 0xcd, 0xef][..])
        );
        drop(r);

        // Rust writes again after Python (its writable open checks Python's tail), and Python
        // reads the result.
        let mut w = Writer::open(&path, Mode::Write).unwrap();
        assert_eq!(w.get(b"py-new-1").unwrap(), Some(vec![1, 2, 3, 4]));
        w.set(b"rust-again", b"yes").unwrap();
        w.delete(b"py-new-1").unwrap();
        w.close().unwrap();
        let py = assert_same_view(&path);
        assert_eq!(py["len"].as_u64(), Some(before + 1));

        // A Python prune of a Rust file, read back by Rust.
        run_python_stdin_json(
            "booklet_apply.py",
            &[path.to_str().unwrap(), "w"],
            r#"[["prune"]]"#,
        );
        assert_same_view(&path);
    }
}

#[test]
fn python_reads_a_file_rust_recovered() {
    // crash_flag.blt: Python's finalizer left n_keys = 0xFFFFFFFF; Python refuses to read it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash_flag.blt");
    std::fs::copy(data_file("booklet", "crash_flag.blt"), &path).unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(!r.info().clean);
    assert_eq!(r.len(), 1);
    drop(r);
    Writer::open(&path, Mode::Write).unwrap().close().unwrap();
    let py = assert_same_view(&path);
    assert_eq!(py["len"], 1);
}

fn spawn_python_holder(path: &Path, mode: &str, seconds: &str) -> std::process::Child {
    let mut child = Command::new(python())
        .arg(python_script("booklet_lock.py"))
        .args(["hold", path.to_str().unwrap(), mode, seconds])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until Python reports that it holds the lock.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("locked"), "python holder said {line:?}");
    child
}

#[test]
fn locks_exclude_python_and_rust_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock.blt");
    let mut w = Writer::open(&path, Mode::New).unwrap();
    w.set(b"k", b"v").unwrap();
    w.close().unwrap();

    // Python holds it for writing: a Rust writer and a Rust reader time out.
    let mut holder = spawn_python_holder(&path, "w", "3");
    let t = Duration::from_millis(300);
    let e = OpenOptions::new()
        .lock_timeout(t)
        .open(&path, Mode::Write)
        .unwrap_err();
    assert!(matches!(e, KvError::LockTimeout { .. }), "{e}");
    assert!(e.to_string().contains("lock.blt"));
    assert!(matches!(
        ReadOptions::new().lock_timeout(t).open(&path),
        Err(KvError::LockTimeout { .. })
    ));
    // Without a timeout the Rust writer waits until Python closes, then gets the file.
    let start = std::time::Instant::now();
    let w = Writer::open(&path, Mode::Write).unwrap();
    assert!(
        start.elapsed() > Duration::from_millis(500),
        "the writer waited for Python"
    );
    assert!(holder.wait().unwrap().success());

    // Rust holds it for writing: Python readers and writers time out.
    let py = run_python_json(
        "booklet_lock.py",
        &["try", path.to_str().unwrap(), "r", "0.3"],
    );
    assert_eq!(py["result"], "timeout");
    let py = run_python_json(
        "booklet_lock.py",
        &["try", path.to_str().unwrap(), "w", "0.3"],
    );
    assert_eq!(py["result"], "timeout");
    w.close().unwrap();

    // A Rust reader shares with Python readers but excludes Python writers.
    let r = Reader::open(&path).unwrap();
    let py = run_python_json(
        "booklet_lock.py",
        &["try", path.to_str().unwrap(), "r", "0.3"],
    );
    assert_eq!(py["result"], "ok");
    let py = run_python_json(
        "booklet_lock.py",
        &["try", path.to_str().unwrap(), "w", "0.3"],
    );
    assert_eq!(py["result"], "timeout");
    drop(r);
    let py = run_python_json(
        "booklet_lock.py",
        &["try", path.to_str().unwrap(), "w", "0.3"],
    );
    assert_eq!(py["result"], "ok");

    // A Python reader lets Rust readers in and keeps Rust writers out.
    let mut holder = spawn_python_holder(&path, "r", "2");
    assert_eq!(
        ReadOptions::new()
            .lock_timeout(t)
            .open(&path)
            .unwrap()
            .get(b"k")
            .unwrap(),
        Some(&b"v"[..])
    );
    assert!(matches!(
        OpenOptions::new().lock_timeout(t).open(&path, Mode::Write),
        Err(KvError::LockTimeout { .. })
    ));
    assert!(holder.wait().unwrap().success());
}
