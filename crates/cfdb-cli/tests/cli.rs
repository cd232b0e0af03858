//! The `cfdb` binary on bad input (missing, foreign, truncated, unclean and locked files,
//! unknown names, empty regions), and its `copy`, `prune`, `check`, `repair` and `demo`
//! commands. Errors must be one line on stderr naming the file, exit code 2 for usage errors
//! and 1 for bad files, and never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/cfdb");

fn golden(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

fn golden_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfdb"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 10);
    v
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn run_os(args: &[&std::ffi::OsStr]) -> Run {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_cfdb"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn cfdb(args: &[&str]) -> Run {
    let a: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    run_os(&a)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A failed run: the expected code, one line on stderr starting with `cfdb: ` that names
/// `file` (when given), and no panic.
fn assert_error(r: &Run, code: i32, file: Option<&Path>, what: &str) {
    assert_eq!(
        r.code, code,
        "{what}: exit code (stdout {:?}, stderr {:?})",
        r.out, r.err
    );
    assert!(!r.err.contains("panicked"), "{what}: panic: {}", r.err);
    assert!(!r.err.contains("internal error"), "{what}: {}", r.err);
    assert!(
        !r.err.to_lowercase().contains("backtrace"),
        "{what}: {}",
        r.err
    );
    if code == 2 && file.is_none() {
        // clap's own usage errors are several lines.
        return;
    }
    assert_eq!(r.err.lines().count(), 1, "{what}: one line: {:?}", r.err);
    assert!(r.err.starts_with("cfdb: "), "{what}: {:?}", r.err);
    if let Some(f) = file {
        assert!(r.err.contains(s(f)), "{what}: names the file: {:?}", r.err);
    }
}

fn copy_of(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(golden(name), &p).unwrap();
    p
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.cfdb");
    for cmd in ["info", "dump", "check", "repair", "prune"] {
        let r = cfdb(&[cmd, s(&p)]);
        assert_error(&r, 1, Some(&p), cmd);
        assert!(r.err.contains("no such file"), "{cmd}: {}", r.err);
    }
    assert!(!p.exists(), "nothing created");
    let r = cfdb(&["copy", s(&p), s(&dir.path().join("b.cfdb"))]);
    assert_error(&r, 1, Some(&p), "copy");
}

#[test]
fn not_a_booklet_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("text.cfdb");
    std::fs::write(
        &p,
        "this is not a booklet file, just some text\n".repeat(20),
    )
    .unwrap();
    let before = std::fs::read(&p).unwrap();
    for cmd in ["info", "dump", "check", "repair", "prune"] {
        let r = cfdb(&[cmd, s(&p)]);
        assert_error(&r, 1, Some(&p), cmd);
        assert!(r.err.contains("not a booklet file"), "{cmd}: {}", r.err);
    }
    assert_eq!(std::fs::read(&p).unwrap(), before, "left unchanged");
    let empty = dir.path().join("empty.cfdb");
    std::fs::write(&empty, b"").unwrap();
    for cmd in ["info", "dump", "check"] {
        assert_error(&cfdb(&[cmd, s(&empty)]), 1, Some(&empty), cmd);
    }
    // A directory.
    assert_error(
        &cfdb(&["info", s(dir.path())]),
        1,
        Some(dir.path()),
        "directory",
    );
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "s01_grid_3d_zstd.cfdb",
        "s04_ts_ortho_geometry_lz4_shuffle.cfdb",
    ] {
        let full = std::fs::read(golden(name)).unwrap();
        let n = full.len();
        for cut in [10, 100, 300, n / 2, n - 500, n - 1] {
            let p = dir.path().join(format!("cut{cut}_{name}"));
            std::fs::write(&p, &full[..cut]).unwrap();
            let what = format!("{name} cut at {cut}");
            // Reading either works (a torn tail is salvaged read-only) or fails cleanly.
            for cmd in ["info", "dump"] {
                let r = cfdb(&[cmd, s(&p), "--json"]);
                if r.code != 0 {
                    assert_error(&r, 1, Some(&p), &format!("{cmd} {what}"));
                }
            }
            // check always reports the damage.
            let r = cfdb(&["check", s(&p)]);
            assert_eq!(r.code, 1, "check {what}: {} {}", r.out, r.err);
            assert!(!r.err.contains("panicked"), "{}", r.err);
            assert_eq!(r.err.lines().count(), 1, "check {what}: {:?}", r.err);
            // repair either recovers the file (then it checks clean) or says why not.
            let r = cfdb(&["repair", s(&p)]);
            if r.code == 0 {
                let c = cfdb(&["check", s(&p)]);
                assert_eq!(c.code, 0, "check after repair {what}: {} {}", c.out, c.err);
            } else {
                assert_error(&r, 1, Some(&p), &format!("repair {what}"));
            }
        }
    }
}

#[test]
fn unclean_file_check_repair_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_of(dir.path(), "s02_grid_ints_lz4.cfdb");
    let reference = cfdb(&["dump", s(&golden("s02_grid_ints_lz4.cfdb")), "--json"]);
    assert_eq!(reference.code, 0);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[33..37].copy_from_slice(&[0xFF; 4]);
    std::fs::write(&p, &bytes).unwrap();

    let r = cfdb(&["check", s(&p)]);
    assert_eq!(r.code, 1, "{} {}", r.out, r.err);
    assert!(r.out.contains("not closed cleanly"), "{}", r.out);
    assert!(r.err.contains(s(&p)), "{}", r.err);
    assert_eq!(std::fs::read(&p).unwrap(), bytes, "check is read-only");

    // Read-only commands still read it (salvaged in memory).
    let d = cfdb(&["dump", s(&p), "--json"]);
    assert_eq!(d.code, 0, "{}", d.err);
    assert_eq!(d.out, reference.out);

    let r = cfdb(&["repair", s(&p)]);
    assert_eq!(r.code, 0, "{} {}", r.out, r.err);
    assert!(r.out.contains("recovered"), "{}", r.out);

    let r = cfdb(&["check", s(&p)]);
    assert_eq!(r.code, 0, "{} {}", r.out, r.err);
    assert!(r.out.contains("OK"), "{}", r.out);
    let d = cfdb(&["dump", s(&p), "--json"]);
    assert_eq!(d.out, reference.out);

    // Repairing a clean file does nothing.
    let before = std::fs::read(&p).unwrap();
    let r = cfdb(&["repair", s(&p)]);
    assert_eq!(r.code, 0);
    assert!(r.out.contains("nothing to repair"), "{}", r.out);
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn a_damaged_chunk_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_of(dir.path(), "s01_grid_3d_zstd.cfdb");
    let mut bytes = std::fs::read(&p).unwrap();
    // The value of chunk `temp!2.3.0` follows its key: break its compression frame header.
    let key = b"temp!2.3.0";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("chunk key in the file")
        + key.len();
    for b in &mut bytes[at..at + 4] {
        *b ^= 0xFF;
    }
    std::fs::write(&p, &bytes).unwrap();
    let r = cfdb(&["check", s(&p)]);
    assert_eq!(r.code, 1, "{} {}", r.out, r.err);
    let problems: Vec<&str> = r.out.lines().filter(|l| l.contains("PROBLEM")).collect();
    assert_eq!(problems.len(), 1, "{}", r.out);
    assert!(
        problems[0].contains("\"temp\"") && problems[0].contains("temp!2.3.0"),
        "{}",
        r.out
    );
    assert!(!r.err.contains("panicked"));
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    // The other variable still dumps; the damaged one fails with one line.
    assert_eq!(cfdb(&["dump", s(&p), "--var", "precip"]).code, 0);
    let r = cfdb(&["dump", s(&p), "--var", "temp", "--json"]);
    assert_error(&r, 1, Some(&p), "dump temp");
    assert!(r.err.contains("temp!2.3.0"), "{}", r.err);
    // A region that avoids the chunk dumps.
    let r = cfdb(&["dump", s(&p), "--var", "temp", "--isel", "latitude=0:2"]);
    assert_eq!(r.code, 0, "{}", r.err);
}

#[test]
fn unknown_names_and_empty_regions_are_usage_errors() {
    let p = golden("s01_grid_3d_zstd.cfdb");
    let cases: &[&[&str]] = &[
        &["--var", "nope"],
        &["--var", "temp", "--var", "nope"],
        &["--isel", "nope=0:1"],
        &["--isel", "time=3:3"],
        &["--isel", "time=10:20"],
        &["--isel", "time=2:1"],
        &["--isel", "time=9"],
        &["--isel", "time=0:1", "--isel", "time=1:2"],
    ];
    for extra in cases {
        for json in [false, true] {
            let mut args = vec!["dump", s(&p)];
            args.extend_from_slice(extra);
            if json {
                args.push("--json");
            }
            let r = cfdb(&args);
            assert_error(&r, 2, Some(&p), &format!("{extra:?}"));
            assert!(r.out.is_empty(), "nothing on stdout: {}", r.out);
        }
    }
    let r = cfdb(&["dump", s(&p), "--isel", "nope=0:1"]);
    assert!(r.err.contains("nope"), "{}", r.err);
    let r = cfdb(&["dump", s(&p), "--isel", "time=3:3"]);
    assert!(r.err.contains("empty"), "{}", r.err);
    // Bad --isel syntax.
    for bad in ["time", "time=a:b", "=0:1"] {
        let r = cfdb(&["dump", s(&p), "--isel", bad]);
        assert_error(&r, 2, None, bad);
        assert_eq!(r.err.lines().count(), 1);
    }
    // clap's usage errors.
    for args in [
        &["frobnicate"][..],
        &["dump"],
        &["dump", s(&p), "--bogus"],
        &["--lock-timeout", "soon", "info", s(&p)],
        &["copy", s(&p), "x.cfdb", "--compression", "gzip"],
    ] {
        assert_error(&cfdb(args), 2, None, &format!("{args:?}"));
    }
    // copy with unknown data variables.
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("c.cfdb");
    for flag in ["--include", "--exclude"] {
        let r = cfdb(&["copy", s(&p), s(&dst), flag, "latitude"]);
        assert_error(&r, 2, Some(&p), flag);
        assert!(!dst.exists());
    }
}

#[test]
fn locked_by_another_writer() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_of(dir.path(), "s03_datetimes_zstd_shuffle.cfdb");
    let w = cfdb::kv::Writer::open(&p, cfdb::kv::Mode::Write).unwrap();
    for cmd in ["info", "dump", "check", "prune", "repair"] {
        let start = Instant::now();
        let r = cfdb(&["--lock-timeout", "1", cmd, s(&p)]);
        let took = start.elapsed();
        assert_error(&r, 1, Some(&p), cmd);
        assert!(r.err.contains("locked"), "{cmd}: {}", r.err);
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(8),
            "{cmd}: took {took:?}"
        );
    }
    // A locked copy destination.
    let src = golden("s02_grid_ints_lz4.cfdb");
    for extra in [&[][..], &["--compression", "lz4"]] {
        let mut args = vec!["--lock-timeout", "1", "copy", s(&src), s(&p), "--force"];
        args.extend_from_slice(extra);
        let r = cfdb(&args);
        assert_error(&r, 1, Some(&p), "copy onto a locked file");
        assert!(r.err.contains("locked"), "{}", r.err);
    }
    // The global option also goes after the subcommand.
    let r = cfdb(&["info", s(&p), "--lock-timeout", "0.2"]);
    assert_error(&r, 1, Some(&p), "after");

    // Without a timeout it says it waits, then goes on once the lock is free.
    let child = Command::new(env!("CARGO_BIN_EXE_cfdb"))
        .args(["info", s(&p)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    w.close().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("<cfdb.Grid>"));
}

/// The dump JSON with the compression fields removed and dtype objects without null fields
/// (a copy writes dtypes in the compact form).
fn comparable(dump: &str) -> Value {
    let mut v: Value = serde_json::from_str(dump).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("compression");
    o.remove("compression_level");
    for var in o["variables"].as_object_mut().unwrap().values_mut() {
        if let Some(Value::Object(d)) = var.get_mut("dtype") {
            d.retain(|_, x| !x.is_null());
        }
    }
    v
}

#[test]
fn copy_keeps_every_value() {
    let dir = tempfile::tempdir().unwrap();
    for src in golden_files() {
        let want = cfdb(&["dump", s(&src), "--json"]);
        assert_eq!(want.code, 0);
        let want_v = comparable(&want.out);
        let name = src.file_name().unwrap().to_str().unwrap();
        for (i, extra) in [&[][..], &["--compression", "lz4", "--level", "3"]]
            .iter()
            .enumerate()
        {
            let dst = dir.path().join(format!("{i}_{name}"));
            let mut args = vec!["copy", s(&src), s(&dst)];
            args.extend_from_slice(extra);
            let r = cfdb(&args);
            assert_eq!(r.code, 0, "{name} {extra:?}: {}", r.err);
            let got = cfdb(&["dump", s(&dst), "--json"]);
            assert_eq!(got.code, 0, "{}", got.err);
            assert_eq!(comparable(&got.out), want_v, "{name} {extra:?}");
            let gv: Value = serde_json::from_str(&got.out).unwrap();
            if i == 1 {
                assert_eq!(gv["compression"], "lz4");
                assert_eq!(gv["compression_level"], 3);
            }
            let c = cfdb(&["check", s(&dst)]);
            assert_eq!(c.code, 0, "{}{}", c.out, c.err);
        }
    }
}

#[test]
fn copy_include_exclude_force_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let src = golden("s01_grid_3d_zstd.cfdb");
    let dst = dir.path().join("inc.cfdb");
    let names = |p: &Path| -> Vec<String> {
        let r = cfdb(&["dump", s(p), "--json"]);
        assert_eq!(r.code, 0, "{}", r.err);
        let v: Value = serde_json::from_str(&r.out).unwrap();
        v["variables"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    for recompress in [false, true] {
        let _ = std::fs::remove_file(&dst);
        let mut args = vec!["copy", s(&src), s(&dst), "--include", "temp"];
        if recompress {
            args.extend_from_slice(&["--compression", "zstd_shuffle"]);
        }
        assert_eq!(cfdb(&args).code, 0);
        assert_eq!(names(&dst), ["latitude", "longitude", "time", "temp"]);
        let r = cfdb(&args);
        assert_error(&r, 2, Some(&dst), "exists");
        args.push("--force");
        assert_eq!(cfdb(&args).code, 0);
        let mut args = vec!["copy", s(&src), s(&dst), "--exclude", "temp", "--force"];
        if recompress {
            args.extend_from_slice(&["--level", "9"]);
        }
        assert_eq!(cfdb(&args).code, 0);
        assert_eq!(names(&dst), ["latitude", "longitude", "time", "precip"]);
    }
    // The source itself is refused.
    let own = copy_of(dir.path(), "s02_grid_ints_lz4.cfdb");
    assert_error(
        &cfdb(&["copy", s(&own), s(&own), "--force"]),
        2,
        Some(&own),
        "self",
    );
    // prune keeps the values.
    let before = cfdb(&["dump", s(&own), "--json"]).out;
    let r = cfdb(&["prune", s(&own)]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("removed"), "{}", r.out);
    assert_eq!(cfdb(&["dump", s(&own), "--json"]).out, before);
    assert_eq!(cfdb(&["check", s(&own)]).code, 0);
}

#[test]
fn demo_small() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("demo.cfdb");
    let start = Instant::now();
    let r = cfdb(&["demo", s(&p), "--scale", "0.01"]);
    let took = start.elapsed();
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    eprintln!("demo --scale 0.01 took {took:?}");
    for want in [
        "air_temperature",
        "precipitation",
        "append a week",
        "read by labels",
        "iterate chunks",
        "total",
    ] {
        assert!(r.out.contains(want), "{want}: {}", r.out);
    }
    let c = cfdb(&["check", s(&p)]);
    assert_eq!(c.code, 0, "{}{}", c.out, c.err);
    let i = cfdb(&["info", s(&p), "--json"]);
    let v: Value = serde_json::from_str(&i.out).unwrap();
    assert_eq!(v["metadata"]["crs"], "EPSG:4326");
    assert_eq!(v["metadata"]["variables"]["time"]["shape"][0], 37 * 24);
    assert_eq!(
        v["metadata"]["variables"]["time"]["dtype"]["name"],
        "datetime64[h]"
    );
    let d = cfdb(&[
        "dump",
        s(&p),
        "--json",
        "--var",
        "air_temperature",
        "--isel",
        "time=-1:",
        "--isel",
        "latitude=0:2",
        "--isel",
        "longitude=0:2",
    ]);
    assert_eq!(d.code, 0, "{}", d.err);
    let v: Value = serde_json::from_str(&d.out).unwrap();
    let vals = &v["variables"]["air_temperature"]["values"][0];
    for x in vals
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
    {
        let k = x.as_f64().unwrap();
        assert!((270.0..310.0).contains(&k), "{k}");
    }
    assert_error(
        &cfdb(&["demo", s(&p), "--scale", "-1"]),
        2,
        None,
        "bad scale",
    );
}
