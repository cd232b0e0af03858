//! `cfdb plan --json` gives the numbers of Python cfdb 0.11.0's Rechunker for the same
//! variable, target and budget; bad `--chunk` arguments are usage errors.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn python() -> PathBuf {
    std::env::var_os("CFDB_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/interop-venv/bin/python"))
}

fn cfdb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cfdb"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn plan_json_equals_python_rechunker() {
    let files = [
        (
            "s01_grid_3d_zstd.cfdb",
            "temp",
            vec![("latitude", 5), ("longitude", 1), ("time", 4)],
        ),
        ("s01_grid_3d_zstd.cfdb", "precip", vec![("time", 1)]),
        ("s05_prepend_append_zstd.cfdb", "conc", vec![("time", 2)]),
        (
            "s10_default_chunks_zstd_level3.cfdb",
            "v",
            vec![("x", 3), ("t", 1)],
        ),
    ];
    for (file, var, chunks) in files {
        let path = root().join("tests/data/cfdb").join(file);
        for max_mem in [1usize << 29, 256] {
            let mut args = vec![
                "plan".to_owned(),
                path.display().to_string(),
                "--var".into(),
                var.into(),
                "--json".into(),
            ];
            args.push("--max-mem".into());
            args.push(max_mem.to_string());
            for (d, n) in &chunks {
                args.push("--chunk".into());
                args.push(format!("{d}={n}"));
            }
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = cfdb(&a);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Value = serde_json::from_slice(&out.stdout).unwrap();
            // The same target as a full shape, for Python.
            let info: Value =
                serde_json::from_slice(&cfdb(&["info", path.to_str().unwrap(), "--json"]).stdout)
                    .unwrap();
            let meta = &info["metadata"]["variables"];
            let target: Vec<u64> = meta[var]["coords"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let c = c.as_str().unwrap();
                    chunks
                        .iter()
                        .find(|(d, _)| *d == c)
                        .map(|(_, n)| *n as u64)
                        .unwrap_or_else(|| meta[c]["shape"][0].as_u64().unwrap())
                })
                .collect();
            let cases = json!([{"target": target, "max_mem": max_mem, "sel": null}]).to_string();
            let py = Command::new(python())
                .arg(root().join("tests/python/rechunker_dump.py"))
                .args([path.to_str().unwrap(), var, &cases])
                .output()
                .unwrap();
            assert!(
                py.status.success(),
                "{}",
                String::from_utf8_lossy(&py.stderr)
            );
            let want: Value = serde_json::from_slice(&py.stdout).unwrap();
            let want = &want[0];
            for (k, pk) in [
                ("n_chunks", "calc_n_chunks"),
                ("n_reads", "n_reads"),
                ("n_writes", "n_writes"),
                ("ideal_read_chunk_shape", "ideal_read_chunk_shape"),
                ("ideal_read_chunk_mem", "ideal_read_chunk_mem"),
                ("source_read_chunk_shape", "source_read_chunk_shape"),
            ] {
                assert_eq!(got[k], want[pk], "{file} {var} {max_mem}: {k}");
            }
        }
    }
}

#[test]
fn bad_chunk_arguments_are_usage_errors() {
    let path = root().join("tests/data/cfdb/s01_grid_3d_zstd.cfdb");
    let p = path.to_str().unwrap();
    for bad in ["nodim=3", "time=0", "time", "time=x"] {
        let out = cfdb(&["plan", p, "--var", "temp", "--chunk", bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    let out = cfdb(&["plan", p, "--var", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}
