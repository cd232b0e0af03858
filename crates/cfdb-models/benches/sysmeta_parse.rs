//! The system metadata parse that every `Dataset` open pays: `SysMeta::from_json_bytes` on the
//! metadata of a small grid dataset (three coordinates, two data variables; the shape of what the
//! bench suite's datasets store).
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use cfdb_models::SysMeta;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const META: &[u8] = br#"{"dataset_type":"grid","compression":"zstd","compression_level":1,"variables":{"latitude":{"type":"coord","shape":[5],"chunk_shape":[2],"dtype":{"name":"float64","precision":6,"dtype_encoded":"uint32","fillvalue":0,"offset":-90.000001},"origin":0,"step":0.5,"auto_increment":false,"axis":"y","units":null},"longitude":{"type":"coord","shape":[7],"chunk_shape":[3],"dtype":{"name":"float64","precision":6,"dtype_encoded":"uint32","fillvalue":0,"offset":-180.000001},"origin":0,"step":0.25,"auto_increment":false,"axis":"x","units":null},"time":{"type":"coord","shape":[4],"chunk_shape":[221760],"dtype":{"name":"datetime64[D]"},"origin":0,"step":1,"auto_increment":false,"axis":"t","units":null},"temp":{"type":"data_var","chunk_shape":[2,3,3],"coords":["latitude","longitude","time"],"dtype":{"name":"float32"},"units":null},"precip":{"type":"data_var","chunk_shape":[5,7,1],"coords":["latitude","longitude","time"],"dtype":{"name":"float64","precision":2,"dtype_encoded":"uint16","fillvalue":0,"offset":-1.0},"units":null}},"crs":"EPSG:4326","remote":false,"format_version":1}"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sysmeta");
    g.bench_function("from_json_bytes", |b| {
        b.iter(|| SysMeta::from_json_bytes(black_box(META)).expect("valid metadata"))
    });
    g.bench_function("serde_json_value_only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(META)).expect("valid"))
    });
    let meta = SysMeta::from_json_bytes(META).expect("valid metadata");
    g.bench_function("to_json_bytes", |b| {
        b.iter(|| black_box(&meta).to_json_bytes())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
