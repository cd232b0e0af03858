//! float32 chunk encode from a strided view of a larger array (the write path of
//! cfdb-core): a (100, 100, 28) chunk cut out of a (200, 200, 56) C-order array of uniform
//! random float32 in [0, 10000), `zstd_shuffle` level 1. Paired, interleaved timings of:
//!
//! * `old`: `to_owned` of the view, `encode_payload`, `compress_payload` (shuffle, then a new
//!   zstd context), the pre-one-pass path;
//! * `encode_view_into`: the one-pass path;
//! * `floor`: a hand-written gather fused with the 4-byte shuffle plus zstd with a reused
//!   context (what cfdb-bench's floor probe does per chunk);
//! * `zstd only`: compressing the already shuffled payload with a reused context.
//!
//! Run with `cargo bench -p cfdb-codec --bench chunk_encode`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cfdb_codec::{ArrayData, ArrayDataView, ChunkCodec, Compression, DataType};
use ndarray::{ArrayD, ArrayViewD, Slice};

const PARENT: [usize; 3] = [200, 200, 56];
const SHAPE: [usize; 3] = [100, 100, 28];
const AT: [usize; 3] = [100, 0, 28];

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn gather_shuffle(src: &[f32], out: &mut Vec<u8>) {
    let [_, m, t] = PARENT;
    let [c0, c1, c2] = SHAPE;
    let n = c0 * c1 * c2;
    out.clear();
    out.resize(4 * n, 0);
    let (p0, rest) = out.split_at_mut(n);
    let (p1, rest) = rest.split_at_mut(n);
    let (p2, p3) = rest.split_at_mut(n);
    for a in 0..c0 {
        for b in 0..c1 {
            let r = (a * c1 + b) * c2;
            let from = ((AT[0] + a) * m + AT[1] + b) * t + AT[2];
            let row = &src[from..from + c2];
            for (k, v) in row.iter().enumerate() {
                let bs = v.to_le_bytes();
                p0[r + k] = bs[0];
                p1[r + k] = bs[1];
                p2[r + k] = bs[2];
                p3[r + k] = bs[3];
            }
        }
    }
}

fn main() {
    let n: usize = PARENT.iter().product();
    let mut s = 42u64;
    let v: Vec<f32> = (0..n)
        .map(|_| ((splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32) * 10000.0)
        .collect();
    let parent = ArrayD::from_shape_vec(PARENT.to_vec(), v.clone()).expect("shape");
    let view: ArrayViewD<'_, f32> = parent.slice_each_axis(|ax| {
        let i = ax.axis.index();
        Slice::from(AT[i]..AT[i] + SHAPE[i])
    });
    let dtype = DataType::from_json(r#"{"name":"float32"}"#).expect("dtype");
    let codec = ChunkCodec::new(dtype, Compression::DEFAULT, 1, &SHAPE).expect("codec");
    let n_bytes = SHAPE.iter().product::<usize>() * 4;

    let old = || {
        let data = ArrayData::F32(view.to_owned());
        let payload = codec.encode_payload(&data).expect("payload");
        codec.compress_payload(&payload).expect("compress")
    };
    let want = old();
    let mut out = Vec::new();
    codec
        .encode_view_into(ArrayDataView::F32(view.view()), &mut out)
        .expect("encode");
    assert_eq!(out, want);
    let mut shuffled = Vec::new();
    let mut cctx = zstd::bulk::Compressor::new(1).expect("cctx");
    let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(n_bytes));
    gather_shuffle(&v, &mut shuffled);
    cctx.compress_to_buffer(&shuffled[..], &mut frame)
        .expect("zstd");
    assert_eq!(frame, want);

    let rounds = 200;
    let mut t = [(); 5].map(|_| Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t0 = Instant::now();
        black_box(old());
        t[0].push(t0.elapsed());

        let t0 = Instant::now();
        codec
            .encode_view_into(ArrayDataView::F32(black_box(view.view())), &mut out)
            .expect("encode");
        black_box(&out);
        t[1].push(t0.elapsed());

        let t0 = Instant::now();
        gather_shuffle(black_box(&v), &mut shuffled);
        frame.clear();
        cctx.compress_to_buffer(&shuffled[..], &mut frame)
            .expect("zstd");
        black_box(&frame);
        t[2].push(t0.elapsed());

        let t0 = Instant::now();
        frame.clear();
        cctx.compress_to_buffer(black_box(&shuffled[..]), &mut frame)
            .expect("zstd");
        black_box(&frame);
        t[3].push(t0.elapsed());

        let t0 = Instant::now();
        gather_shuffle(black_box(&v), &mut shuffled);
        black_box(&shuffled);
        t[4].push(t0.elapsed());
    }
    let names = [
        "old",
        "encode_view_into",
        "floor",
        "zstd only",
        "floor gather only",
    ];
    for (name, ts) in names.iter().zip(t.iter_mut()) {
        ts.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        eprintln!(
            "{name:>18}: min {:8.1} us, median {:8.1} us ({:.2} GiB/s at the median)",
            us(ts[0]),
            us(ts[rounds / 2]),
            n_bytes as f64 / ts[rounds / 2].as_secs_f64() / f64::from(1u32 << 30)
        );
    }
}
