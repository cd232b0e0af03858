//! Fuzz target: arbitrary bytes fed to the chunk decoders by `cfdb_codec::fuzz_decode`.
//! Any panic, abort or sanitizer report is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cfdb_codec::fuzz_decode(data);
});
