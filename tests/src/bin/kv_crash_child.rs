//! The writer process of the kv crash tests. It runs a deterministic workload on a booklet file
//! and appends a line to a log after every `sync`/`close` that returned, so the parent knows
//! what was durable when it killed us (or when a failpoint aborted us).
//!
//! Usage: `kv_crash_child <scenario> <file> <log> [seed]`, scenarios `phases`, `relocated`,
//! `random` and `recover`. With `CFDB_KV_FAILPOINT=<name>[:<n>]` the process aborts right after
//! the n-th hit of that step.

use std::io::Write;
use std::path::Path;

use cfdb_kv::{Mode, OpenOptions, Writer};
use cfdb_tests::crash::{Op, PHASES, Rng, phase_ops, random_ops};

fn log(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log");
    writeln!(f, "{line}").expect("log write");
}

fn apply(w: &mut Writer, op: &Op) {
    match op {
        Op::Set(k, v) => w.set(k, v).expect("set"),
        Op::Delete(k) => {
            w.delete(k).expect("delete");
        }
        Op::Meta(m) => w.set_metadata(m).expect("meta"),
        Op::Flush => {
            w.items().expect("items");
        }
        Op::Prune => {
            w.prune(None, &[]).expect("prune");
        }
        Op::Sync => w.sync().expect("sync"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (scenario, file, logp) = (args[1].as_str(), Path::new(&args[2]), Path::new(&args[3]));
    match scenario {
        "phases" | "relocated" => {
            let mut w = OpenOptions::new()
                .n_buckets(6)
                .open(file, Mode::New)
                .expect("create");
            log(logp, "0");
            for phase in 1..=PHASES {
                for op in phase_ops(scenario, phase) {
                    apply(&mut w, &op);
                }
                w.sync().expect("sync");
                log(logp, &phase.to_string());
            }
            w.close().expect("close");
        }
        "random" => {
            let seed: u64 = args[4].parse().expect("seed");
            let mut w = OpenOptions::new()
                .n_buckets(6)
                .open(file, Mode::New)
                .expect("create");
            log(logp, "0");
            let mut rng = Rng::new(seed);
            for (i, op) in random_ops(&mut rng).enumerate() {
                apply(&mut w, &op);
                if matches!(op, Op::Sync | Op::Prune) {
                    log(logp, &(i + 1).to_string());
                }
            }
        }
        "recover" => {
            Writer::open(file, Mode::Write)
                .expect("recovering open")
                .close()
                .expect("close");
            log(logp, "recovered");
        }
        other => panic!("unknown scenario {other}"),
    }
}
