//! Model-based tests: random sequences of operations against a `BTreeMap`, checked through the
//! writer, after reopening with a reader, and after reopening with a writer.

use std::collections::BTreeMap;

use cfdb_kv::{KvError, Mode, OpenOptions, Reader, Writer};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Set(u16, Vec<u8>),
    Delete(u16),
    Sync,
    Reopen,
    Prune,
    Meta(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u16..40, proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(k, v)| Op::Set(k, v)),
        3 => (0u16..40).prop_map(Op::Delete),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => Just(Op::Prune),
        1 => proptest::collection::vec(any::<u8>(), 0..16).prop_map(Op::Meta),
    ]
}

fn key(k: u16) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn check_reader(
    path: &std::path::Path,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    meta: &Option<Vec<u8>>,
) {
    let r = Reader::open(path).unwrap();
    assert_eq!(r.len(), model.len() as u64);
    assert!(r.info().clean);
    let mut seen = BTreeMap::new();
    for item in r.items() {
        let item = item.unwrap();
        assert!(
            seen.insert(item.key.to_vec(), item.value.to_vec())
                .is_none(),
            "duplicate key in iteration"
        );
    }
    assert_eq!(&seen, model);
    for (k, v) in model {
        assert_eq!(r.get(k).unwrap(), Some(v.as_slice()));
    }
    assert_eq!(r.metadata().unwrap().map(<[u8]>::to_vec), *meta);
}

fn run(ops: Vec<Op>, n_buckets: u32) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.blt");
    let opts = OpenOptions::new().n_buckets(n_buckets);
    let mut w = opts.open(&path, Mode::New).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut meta = None;
    for op in ops {
        match op {
            Op::Set(k, v) => {
                w.set(key(k), &v).unwrap();
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                assert_eq!(w.delete(key(k)).unwrap(), model.remove(&key(k)).is_some());
            }
            Op::Sync => w.sync().unwrap(),
            Op::Reopen => {
                w.close().unwrap();
                check_reader(&path, &model, &meta);
                w = opts.open(&path, Mode::Write).unwrap();
            }
            Op::Prune => {
                w.prune(None, &[]).unwrap();
            }
            Op::Meta(m) => {
                w.set_metadata(&m).unwrap();
                meta = Some(m);
            }
        }
        assert_eq!(w.len(), model.len() as u64);
    }
    for (k, v) in &model {
        assert_eq!(w.get(k).unwrap().as_ref(), Some(v));
    }
    let items = w.items().unwrap();
    assert_eq!(items.len(), model.len());
    w.close().unwrap();
    check_reader(&path, &model, &meta);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_ops_match_a_map(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops, 11);
    }

    #[test]
    fn random_ops_with_growth(ops in proptest::collection::vec(op(), 1..120)) {
        // 6 buckets: the index grows (and moves) once more than 6 keys are live.
        run(ops, 6);
    }
}

#[test]
fn growth_twice_then_delete_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.blt");
    let mut w = OpenOptions::new()
        .n_buckets(6)
        .open(&path, Mode::New)
        .unwrap();
    for i in 0..13000u32 {
        w.set(format!("k{i}"), i.to_le_bytes()).unwrap();
        if i % 3000 == 0 {
            w.sync().unwrap();
        }
    }
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.info().n_buckets, 144013);
    assert_eq!(r.len(), 13000);
    assert_eq!(r.get("k12345").unwrap(), Some(&12345u32.to_le_bytes()[..]));
    drop(r);
    let mut w = Writer::open(&path, Mode::Write).unwrap();
    for i in 0..12990u32 {
        w.delete(format!("k{i}")).unwrap();
    }
    w.prune(None, &[]).unwrap();
    assert_eq!(w.len(), 10);
    w.close().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size < 200 + 6 * 144013 + 1000,
        "pruned file is compact: {size}"
    );
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.keys().count(), 10);
    assert_eq!(r.get("k12999").unwrap(), Some(&12999u32.to_le_bytes()[..]));
}

#[test]
fn prune_by_timestamp_keeps_keep_keys_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.blt");
    let mut w = Writer::open(&path, Mode::New).unwrap();
    for i in 0..10u64 {
        w.set_with_timestamp(format!("k{i}"), b"v", 1000 + i)
            .unwrap();
    }
    w.set_metadata(b"{}").unwrap();
    let removed = w.prune(Some(1005), &[b"k1"]).unwrap();
    assert_eq!(removed, 4);
    let mut keys: Vec<_> = w.keys().unwrap();
    keys.sort();
    let want: Vec<Vec<u8>> = ["k1", "k5", "k6", "k7", "k8", "k9"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(keys, want);
    assert_eq!(w.metadata().unwrap(), Some(b"{}".to_vec()));
    w.close().unwrap();
}

#[test]
fn large_values_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.blt");
    let mut w = Writer::open(&path, Mode::New).unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    w.set(b"big", &big).unwrap();
    w.set(b"small", b"s").unwrap();
    assert!(matches!(
        w.set(vec![b'x'; 70_000], b""),
        Err(KvError::KeyTooLong { len: 70_000 })
    ));
    assert!(matches!(
        w.set(b"adb01ebc1ba3433eb043527", b""),
        Err(KvError::ReservedKey { .. })
    ));
    assert!(matches!(
        w.set_with_timestamp(b"t", b"", 1 << 56),
        Err(KvError::TimestampOutOfRange(_))
    ));
    w.set(b"", b"").unwrap();
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.get(b"big").unwrap(), Some(big.as_slice()));
    assert_eq!(r.get(b"").unwrap(), Some(&b""[..]));
    assert_eq!(r.len(), 3);
}

#[test]
fn fixed_length_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.blt");
    let mut w = OpenOptions::new()
        .fixed_value_len(4)
        .open(&path, Mode::New)
        .unwrap();
    w.set(b"a", b"1234").unwrap();
    w.set(b"a", b"5678").unwrap();
    assert!(matches!(
        w.set(b"b", b"12"),
        Err(KvError::WrongValueLength {
            expected: 4,
            got: 2
        })
    ));
    assert!(matches!(w.set_metadata(b"x"), Err(KvError::Unsupported(_))));
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.get(b"a").unwrap(), Some(&b"5678"[..]));
    assert!(matches!(r.get_timestamp(b"a"), Err(KvError::NoTimestamps)));
}

#[test]
fn same_process_conflicts_error_instead_of_deadlocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.blt");
    let w = Writer::open(&path, Mode::New).unwrap();
    assert!(matches!(
        Writer::open(&path, Mode::Write),
        Err(KvError::AlreadyOpen {
            held: "a writer",
            ..
        })
    ));
    assert!(matches!(
        Reader::open(&path),
        Err(KvError::AlreadyOpen { .. })
    ));
    w.close().unwrap();
    let r1 = Reader::open(&path).unwrap();
    let r2 = Reader::open(&path).unwrap();
    assert!(matches!(
        Writer::open(&path, Mode::Write),
        Err(KvError::AlreadyOpen {
            held: "a reader",
            ..
        })
    ));
    drop((r1, r2));
    Writer::open(&path, Mode::Write).unwrap().close().unwrap();
}

#[test]
fn missing_and_bad_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.blt");
    assert!(matches!(
        Reader::open(&missing),
        Err(KvError::NotFound { .. })
    ));
    assert!(matches!(
        Writer::open(&missing, Mode::Write),
        Err(KvError::NotFound { .. })
    ));
    let junk = dir.path().join("junk.blt");
    std::fs::write(&junk, vec![7u8; 500]).unwrap();
    let e = Reader::open(&junk).unwrap_err();
    assert!(matches!(e, KvError::NotBooklet { .. }));
    assert!(
        e.to_string().contains("junk.blt"),
        "error names the file: {e}"
    );
    assert!(matches!(
        OpenOptions::new()
            .n_buckets(3)
            .open(dir.path().join("x"), Mode::New),
        Err(KvError::InvalidOption(_))
    ));
}

#[test]
fn readers_are_send_and_sync_and_share_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Reader>();
    assert_send_sync::<Writer>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.blt");
    let mut w = Writer::open(&path, Mode::New).unwrap();
    for i in 0..1000u32 {
        w.set(format!("{i}"), i.to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let r = &r;
            s.spawn(move || {
                for i in (t..1000).step_by(4) {
                    assert_eq!(r.get(format!("{i}")).unwrap(), Some(&i.to_le_bytes()[..]));
                }
            });
        }
    });
}

#[test]
fn get_many_agrees_with_get() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.blt");
    let mut w = OpenOptions::new()
        .n_buckets(7)
        .open(&path, Mode::New)
        .unwrap();
    w.set_many((0..500u32).map(|i| (format!("k{i}"), i.to_le_bytes())))
        .unwrap();
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    // Present and missing keys, repeated, across several batches.
    let keys: Vec<String> = (0..1200u32)
        .map(|i| format!("k{}", (i * 7919) % 700))
        .collect();
    let many = r.get_many(&keys).unwrap();
    assert_eq!(many.len(), keys.len());
    for (k, v) in keys.iter().zip(&many) {
        assert_eq!(*v, r.get(k).unwrap(), "{k}");
    }
    assert!(many.iter().any(Option::is_none) && many.iter().any(Option::is_some));
    let w = Writer::open(&path, Mode::Write);
    drop(r);
    assert!(w.is_err(), "the reader still held the file");
    let w = Writer::open(&path, Mode::Write).unwrap();
    let wm = w.get_many(&keys[..50]).unwrap();
    for (k, v) in keys[..50].iter().zip(wm) {
        assert_eq!(v, w.get(k).unwrap());
    }
}
