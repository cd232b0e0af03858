//! Every golden booklet file (written by Python booklet 0.12.10) reads exactly as its MANIFEST
//! says, through the read-only handle (mapped and unmapped) and through a writable open.

use cfdb_kv::{Kind, Mode, ReadOptions, Reader, Writer};
use cfdb_tests::{data_file, manifest};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One manifest byte string: `{"utf8"}`, `{"hex"}` or `{"len", "sha256"}`.
fn bytes_match(expected: &Value, got: &[u8]) -> bool {
    if let Some(s) = expected.get("utf8").and_then(Value::as_str) {
        return s.as_bytes() == got;
    }
    if let Some(h) = expected.get("hex").and_then(Value::as_str) {
        return hex(got) == h;
    }
    let len = expected["len"].as_u64().expect("len");
    let sha = expected["sha256"].as_str().expect("sha256");
    got.len() as u64 == len && hex(&Sha256::digest(got)) == sha
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check_reader(r: &Reader, f: &Value, items_key: &str, len: u64) {
    let name = f["file"].as_str().unwrap();
    let expected = f
        .get(items_key)
        .or_else(|| f.get("after_write_open").and_then(|a| a.get("items")))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{name}: no items in manifest"));
    assert_eq!(r.len(), len, "{name}: len");
    let got: Vec<_> = r.items().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), expected.len(), "{name}: item count");
    for (g, e) in got.iter().zip(expected) {
        assert!(
            bytes_match(&e["key"], g.key),
            "{name}: key {:?} vs {}",
            String::from_utf8_lossy(g.key),
            e["key"]
        );
        assert!(
            bytes_match(&e["value"], g.value),
            "{name}: value of {:?}",
            String::from_utf8_lossy(g.key)
        );
        assert_eq!(g.timestamp, e["timestamp_us"].as_u64(), "{name}: timestamp");
        // Lookups through the index agree with the scan.
        assert_eq!(r.get(g.key).unwrap(), Some(g.value), "{name}: get");
        assert!(r.contains(g.key).unwrap());
        if r.info().timestamps {
            assert_eq!(r.get_timestamp(g.key).unwrap(), g.timestamp);
        } else {
            assert!(r.get_timestamp(g.key).is_err());
        }
    }
    assert_eq!(r.get(b"no such key").unwrap(), None);
    if let Some(m) = f.get("metadata_raw_utf8").and_then(Value::as_str) {
        assert_eq!(
            r.metadata().unwrap(),
            Some(m.as_bytes()),
            "{name}: metadata"
        );
        if r.info().timestamps {
            assert_eq!(
                r.metadata_timestamp().unwrap(),
                f["metadata_timestamp_us"].as_u64()
            );
        }
    } else if r.info().kind == Kind::Variable {
        assert_eq!(r.metadata().unwrap(), None, "{name}: no metadata");
    }
    if let Some(slots) = f.get("reserved_slots_hex").and_then(Value::as_object) {
        for slot in [1u8, 2] {
            let want = slots.get(&slot.to_string()).and_then(Value::as_str);
            let got = r.reserved(slot).unwrap().map(hex);
            assert_eq!(got.as_deref(), want, "{name}: reserved slot {slot}");
        }
    }
}

#[test]
fn golden_files_read_as_manifest_says() {
    let m = manifest("booklet");
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 12);
    for f in files {
        let name = f["file"].as_str().unwrap();
        let path = data_file("booklet", name);
        let h = &f["header"];
        let len = f
            .get("len")
            .or_else(|| f["after_write_open"].get("len"))
            .and_then(Value::as_u64)
            .unwrap();
        for mmap in [true, false] {
            let r = ReadOptions::new()
                .mmap(mmap)
                .open(&path)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let info = r.info();
            assert_eq!(
                info.kind == Kind::Fixed,
                h["kind"] == "fixed",
                "{name}: kind"
            );
            assert_eq!(u64::from(info.version), h["version"].as_u64().unwrap());
            assert_eq!(
                u64::from(info.n_buckets),
                h["n_buckets"].as_u64().unwrap(),
                "{name}: n_buckets"
            );
            assert_eq!(
                u64::from(info.key_serializer),
                h["key_serializer"]["code"].as_u64().unwrap()
            );
            assert_eq!(
                u64::from(info.value_serializer),
                h["value_serializer"]["code"].as_u64().unwrap()
            );
            assert_eq!(u64::from(info.value_len), h["value_len"].as_u64().unwrap());
            assert_eq!(Value::Bool(info.timestamps), h["timestamps"]);
            assert_eq!(
                info.file_timestamp,
                h["file_timestamp_us"].as_u64().unwrap()
            );
            assert_eq!(
                hex(&info.uuid),
                h["uuid"].as_str().unwrap().replace('-', "")
            );
            assert_eq!(
                info.clean,
                h["n_keys"].as_u64() != Some(0xFFFF_FFFF),
                "{name}: clean"
            );
            check_reader(&r, f, "items_in_iteration_order", len);
        }
    }
}

#[test]
fn golden_files_open_for_writing_unchanged() {
    let m = manifest("booklet");
    for f in m["files"].as_array().unwrap() {
        let name = f["file"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::copy(data_file("booklet", name), &path).unwrap();
        let len = f
            .get("len")
            .or_else(|| f["after_write_open"].get("len"))
            .and_then(Value::as_u64)
            .unwrap();
        {
            let mut w = Writer::open(&path, Mode::Write).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(w.len(), len, "{name}: writer len");
            let items = w.items().unwrap();
            assert_eq!(items.len() as u64, len, "{name}: writer items");
            for i in &items {
                assert_eq!(
                    w.get(&i.key).unwrap().as_ref(),
                    Some(&i.value),
                    "{name}: writer get"
                );
            }
            w.close().unwrap();
        }
        // After a writable open (which repairs crash_flag.blt) the file is clean and reads the same.
        let r = Reader::open(&path).unwrap();
        assert!(r.info().clean, "{name}: clean after a writable open");
        check_reader(&r, f, "items_in_iteration_order", len);
    }
}
