//! Verifies the Python side of the interop tests (`tests/python/*.py`) against the golden
//! booklet files: whatever the Rust crates are later compared with must itself be right.
//!
//! Needs the interop venv (`cargo xtask test` makes it, or set `CFDB_INTEROP_PYTHON`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use cfdb_tests::{data_file, manifest, python, python_script, run_python_json};
use serde_json::{Value, json};

/// Hex of a manifest byte string (`{"utf8"}`, `{"hex"}`, or `{"len", "sha256"}`).
///
/// The large form is only used for `large_value.blt`, whose README defines the bytes
/// (byte i = i % 251); any other use fails loudly.
fn manifest_bytes_hex(file: &str, v: &Value) -> String {
    if let Some(s) = v.get("utf8").and_then(Value::as_str) {
        return hex(s.as_bytes());
    }
    if let Some(s) = v.get("hex").and_then(Value::as_str) {
        return s.to_owned();
    }
    let len = v
        .get("len")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{file}: unknown byte-string form {v}"));
    assert_eq!(file, "large_value.blt", "{file}: unexpected large value");
    let len = usize::try_from(len).expect("value length fits usize");
    let bytes: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).expect("< 251"))
        .collect();
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").expect("writing to a String");
    }
    s
}

/// The expected `booklet_dump.py` items for a manifest item list.
fn expected_items(file: &str, items: &Value) -> Vec<Value> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("{file}: items is not a list"))
        .iter()
        .map(|it| {
            let key = it["key"]["utf8"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: non-UTF-8 key in manifest"));
            json!({
                "key": key,
                "value_hex": manifest_bytes_hex(file, &it["value"]),
                "timestamp_us": it.get("timestamp_us").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

fn dump(path: &Path) -> Value {
    run_python_json("booklet_dump.py", &[path.to_str().expect("UTF-8 path")])
}

fn check_items(file: &str, got: &Value, want: &[Value]) {
    let got = got["items"].as_array().expect("items list");
    assert_eq!(got.len(), want.len(), "{file}: item count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{file}: item #{i} (iteration order)");
    }
}

fn manifest_files() -> Vec<Value> {
    manifest("booklet")["files"]
        .as_array()
        .expect("files list")
        .clone()
}

#[test]
fn booklet_dump_matches_manifest_for_every_golden_file() {
    let files = manifest_files();
    assert!(files.len() >= 12, "expected every golden file in MANIFEST");
    let mut checked = 0;
    for entry in &files {
        let file = entry["file"].as_str().expect("file name");
        let path = data_file("booklet", file);
        if entry["booklet_open_r"] != "ok" {
            // booklet refuses to read it: the script must fail with booklet's error.
            let out = Command::new(python())
                .arg(python_script("booklet_dump.py"))
                .arg(&path)
                .output()
                .expect("start python");
            assert!(!out.status.success(), "{file}: dump should fail");
            let err = String::from_utf8_lossy(&out.stderr);
            let want = entry["booklet_open_r"].as_str().expect("error text");
            assert!(err.contains(want), "{file}: stderr {err:?} lacks {want:?}");
            assert!(out.stdout.is_empty(), "{file}: no JSON on failure");
            continue;
        }
        let got = dump(&path);
        assert_eq!(got["len"], entry["len"], "{file}: len");
        assert_eq!(
            got["n_buckets"], entry["header"]["n_buckets"],
            "{file}: n_buckets"
        );
        assert_eq!(
            got["timestamps"], entry["header"]["timestamps"],
            "{file}: timestamps flag"
        );
        let want = expected_items(file, &entry["items_in_iteration_order"]);
        check_items(file, &got, &want);
        let want_meta = entry.get("metadata").cloned().unwrap_or(Value::Null);
        assert_eq!(got["metadata"], want_meta, "{file}: metadata");
        if let Some(ts) = entry.get("metadata_timestamp_us") {
            assert_eq!(
                &got["metadata_timestamp_us"], ts,
                "{file}: metadata timestamp"
            );
        }
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} files were dumped");
}

#[test]
fn booklet_apply_recovers_crash_flag_file_like_the_manifest() {
    let entry = manifest_files()
        .into_iter()
        .find(|e| e["file"] == "crash_flag.blt")
        .expect("crash_flag.blt in MANIFEST");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash_flag.blt");
    std::fs::copy(data_file("booklet", "crash_flag.blt"), &path).expect("copy");
    let p = path.to_str().expect("UTF-8 path");

    let out = run_apply(p, "w", None, "[]");
    let after = &entry["after_write_open"];
    assert_eq!(out, json!({"ok": true, "len": after["len"]}));

    // booklet quirk: a write-mode open recounts the keys in memory but only rewrites the
    // header's n_keys when a write is flushed, so after an empty session the file is still
    // flagged as not closed cleanly and read-only opens keep refusing it.
    let still = Command::new(python())
        .arg(python_script("booklet_dump.py"))
        .arg(&path)
        .output()
        .expect("start python");
    assert!(
        !still.status.success(),
        "an empty 'w' session does not clear the flag"
    );
    assert!(String::from_utf8_lossy(&still.stderr).contains("closed incorrectly"));

    // One real write clears it; the surviving item is the manifest's `after_write_open` one.
    let out = run_apply(p, "w", None, r#"[["set_ts", "z", "7a", 1700000000000099]]"#);
    assert_eq!(out["len"], after["len"].as_u64().expect("len") + 1);
    let got = dump(&path);
    let mut want = expected_items("crash_flag.blt", &after["items"]);
    want.push(json!({"key": "z", "value_hex": "7a", "timestamp_us": 1_700_000_000_000_099_u64}));
    check_items("crash_flag.blt", &got, &want);
}

fn run_apply(path: &str, flag: &str, n_buckets: Option<u32>, ops: &str) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(python_script("booklet_apply.py"))
        .arg(path)
        .arg(flag);
    if let Some(n) = n_buckets {
        cmd.arg(n.to_string());
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ops.as_bytes())
        .expect("write ops");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "booklet_apply.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from booklet_apply.py")
}

#[test]
fn booklet_apply_then_dump_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ops.blt");
    let p = path.to_str().expect("UTF-8 path");
    let ops = json!([
        ["set_ts", "a", "0001", 1_700_000_000_000_000_u64],
        ["set_ts", "b", "", 1_700_000_000_000_001_u64],
        ["meta", {"name": "x", "n": [1, 2]}, 1_700_000_000_000_002_u64],
        ["sync"],
        ["set_ts", "a", "ff", 1_700_000_000_000_003_u64],
        ["del", "b"],
        ["set_ts", "c", "636363", 1_700_000_000_000_004_u64],
        ["prune"],
        ["set", "d", "64"]
    ]);
    let out = run_apply(p, "n", Some(5), &ops.to_string());
    assert_eq!(out, json!({"ok": true, "len": 3}));
    let got = dump(&path);
    assert_eq!(got["len"], 3);
    assert_eq!(got["n_buckets"], 5);
    assert_eq!(got["metadata"], json!({"name": "x", "n": [1, 2]}));
    assert_eq!(got["metadata_timestamp_us"], 1_700_000_000_000_002_u64);
    let items = got["items"].as_array().expect("items");
    let mut kv: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["key"].as_str().expect("key").to_owned(),
                i["value_hex"].as_str().expect("hex").to_owned(),
            )
        })
        .collect();
    kv.sort();
    let want = [("a", "ff"), ("c", "636363"), ("d", "64")];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(kv, want);
    let ts_a = items.iter().find(|i| i["key"] == "a").expect("a")["timestamp_us"].clone();
    assert_eq!(ts_a, 1_700_000_000_000_003_u64);
    let ts_d = items.iter().find(|i| i["key"] == "d").expect("d")["timestamp_us"]
        .as_u64()
        .expect("d has a clock timestamp");
    assert!(ts_d > 1_700_000_000_000_004, "d was stamped with the clock");

    // An unknown op is an error with a message, not a silent no-op.
    let bad = Command::new(python())
        .arg(python_script("booklet_apply.py"))
        .arg(p)
        .arg("w")
        .stdin(Stdio::null())
        .output()
        .expect("start python");
    assert!(!bad.status.success(), "empty stdin is not a JSON list");
}

/// Starts `booklet_lock.py hold PATH MODE SECONDS` and waits for its `{"locked": true}` line.
fn start_holder(path: &str, mode: &str, seconds: &str) -> Child {
    let mut holder = Command::new(python())
        .arg(python_script("booklet_lock.py"))
        .args(["hold", path, mode, seconds])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start holder");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read holder line");
    assert_eq!(
        serde_json::from_str::<Value>(&line).expect("holder JSON"),
        json!({"locked": true})
    );
    holder
}

/// Ends a long-holding child (the lock goes with the process) and reaps it.
fn stop_holder(mut holder: Child) {
    holder.kill().expect("kill holder");
    holder.wait().expect("reap holder");
}

#[test]
fn booklet_lock_hold_blocks_writers_and_try_reports_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lock.blt");
    let p = path.to_str().expect("UTF-8 path");
    run_apply(p, "n", Some(11), r#"[["set", "k", "00"]]"#);

    // A short hold ends by itself, closing the file cleanly.
    let holder = start_holder(p, "w", "0.2");
    assert!(holder.wait_with_output().expect("wait").status.success());

    // An exclusive (write) holder keeps readers and writers out. It holds far longer than the
    // probes take, and is killed afterwards, so slow machines cannot make this flaky.
    let holder = start_holder(p, "w", "120");
    let t = run_python_json("booklet_lock.py", &["try", p, "r", "0.3"]);
    assert_eq!(t["result"], "timeout", "{t}");
    assert!(t["error"].as_str().is_some_and(|e| !e.is_empty()));
    let t = run_python_json("booklet_lock.py", &["try", p, "w", "0.3"]);
    assert_eq!(t["result"], "timeout", "{t}");
    stop_holder(holder);
    let t = run_python_json("booklet_lock.py", &["try", p, "w", "0.3"]);
    assert_eq!(t, json!({"result": "ok"}));

    // A shared (read) holder lets readers in and keeps writers out.
    let holder = start_holder(p, "r", "120");
    let t = run_python_json("booklet_lock.py", &["try", p, "r", "0.3"]);
    assert_eq!(t, json!({"result": "ok"}));
    let t = run_python_json("booklet_lock.py", &["try", p, "w", "0.3"]);
    assert_eq!(t["result"], "timeout", "{t}");
    stop_holder(holder);
    let t = run_python_json("booklet_lock.py", &["try", p, "w", "0.3"]);
    assert_eq!(t, json!({"result": "ok"}));
}
