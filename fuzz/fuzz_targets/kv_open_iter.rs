//! Fuzz target: arbitrary bytes as a booklet file, opened read-only and fully iterated by
//! `cfdb_kv::fuzz_open_iter`. Any panic, abort or sanitizer report is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cfdb_kv::fuzz_open_iter(data);
});
