//! float32 chunk decode (decompress + unshuffle + decode) vs raw zstd decompression of the
//! same payload: a (100, 100, 28) chunk of uniform random float32 in [0, 10000),
//! `zstd_shuffle` level 1.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cfdb_codec::{ArrayData, ChunkCodec, Compression, DataType};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::ArrayD;

const SHAPE: [usize; 3] = [100, 100, 28];

/// splitmix64: deterministic uniform bits without an RNG dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn chunk() -> ArrayData {
    let n: usize = SHAPE.iter().product();
    let mut s = 42u64;
    let v: Vec<f32> = (0..n)
        .map(|_| ((splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32) * 10000.0)
        .collect();
    ArrayData::F32(ArrayD::from_shape_vec(SHAPE.to_vec(), v).expect("shape"))
}

fn bench(c: &mut Criterion) {
    let dtype = DataType::from_json(r#"{"name":"float32"}"#).expect("dtype");
    let codec = ChunkCodec::new(dtype, Compression::DEFAULT, 1, &SHAPE).expect("codec");
    let data = chunk();
    let stored = codec.encode(&data).expect("encode");
    let n_bytes = (data.len() * 4) as u64;
    eprintln!(
        "chunk {:?}: {} payload bytes -> {} compressed bytes",
        SHAPE,
        n_bytes,
        stored.len()
    );

    let mut g = c.benchmark_group("float32_chunk_100x100x28_zstd_shuffle_l1");
    g.throughput(Throughput::Bytes(n_bytes));

    let mut dctx = zstd::bulk::Decompressor::new().expect("dctx");
    let mut raw: Vec<u8> = Vec::with_capacity(n_bytes as usize);
    g.bench_function("raw_zstd_decompress", |b| {
        b.iter(|| {
            raw.clear();
            dctx.decompress_to_buffer(black_box(&stored), &mut raw)
                .expect("zstd");
            black_box(&raw);
        })
    });

    let mut scratch = Vec::new();
    let mut out = codec.decode(&stored).expect("decode");
    assert_eq!(out, data);
    g.bench_function("codec_decode_into_reused", |b| {
        b.iter(|| {
            codec
                .decode_into(black_box(&stored), &mut scratch, &mut out)
                .expect("decode");
            black_box(&out);
        })
    });

    g.bench_function("codec_decode_allocating", |b| {
        b.iter(|| black_box(codec.decode(black_box(&stored)).expect("decode")))
    });
    g.finish();

    // Paired, interleaved timing of the two paths: robust against other load on the machine
    // (the minimum and median of alternating runs are compared).
    let rounds = 400;
    let (mut t_raw, mut t_codec) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t = Instant::now();
        raw.clear();
        dctx.decompress_to_buffer(black_box(&stored), &mut raw)
            .expect("zstd");
        black_box(&raw);
        t_raw.push(t.elapsed());
        let t = Instant::now();
        codec
            .decode_into(black_box(&stored), &mut scratch, &mut out)
            .expect("decode");
        black_box(&out);
        t_codec.push(t.elapsed());
    }
    t_raw.sort();
    t_codec.sort();
    let gib = |d: Duration| n_bytes as f64 / d.as_secs_f64() / f64::from(1u32 << 30);
    let (r_min, c_min) = (t_raw[0], t_codec[0]);
    let (r_med, c_med) = (t_raw[rounds / 2], t_codec[rounds / 2]);
    eprintln!(
        "paired ({rounds} alternating rounds): raw zstd min {:.1} us ({:.2} GiB/s), median {:.1} us; \
         codec decode_into min {:.1} us ({:.2} GiB/s), median {:.1} us; \
         codec/raw throughput: {:.0}% (min), {:.0}% (median)",
        r_min.as_secs_f64() * 1e6,
        gib(r_min),
        r_med.as_secs_f64() * 1e6,
        c_min.as_secs_f64() * 1e6,
        gib(c_min),
        c_med.as_secs_f64() * 1e6,
        100.0 * r_min.as_secs_f64() / c_min.as_secs_f64(),
        100.0 * r_med.as_secs_f64() / c_med.as_secs_f64(),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
