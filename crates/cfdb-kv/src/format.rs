//! The booklet v5 on-disk format: constants, the 200-byte header, the key hash and block heads.
//!
//! Everything here is pure: it parses and builds byte arrays and never touches a file. The
//! layout is described byte by byte in `docs/format.md` (and `booklet-format.md` of the spec).

/// Length of the fixed header.
pub const HEADER_LEN: u64 = 200;
/// Length of a key hash.
pub const HASH_LEN: usize = 13;
/// Width of a pointer.
pub const PTR_LEN: u64 = 6;
/// Width of a timestamp, when the file has them.
pub const TS_LEN: u64 = 7;
/// `n_keys` value that marks an unclean close.
pub const DIRTY: u32 = 0xFFFF_FFFF;
/// Largest timestamp that fits the 56-bit field.
pub const MAX_TIMESTAMP: u64 = (1 << 56) - 1;
/// Largest file offset a 48-bit pointer can hold.
pub const MAX_OFFSET: u64 = (1 << 48) - 1;
/// Index sizes the reference grows through.
pub const GROWTH_SIZES: [u32; 4] = [12007, 144013, 1728017, 20736017];
/// Largest bucket count we accept in a header (the reference's growth stops at 20736017).
pub const MAX_BUCKETS: u32 = 1 << 26;
/// The reference's default bucket count.
pub const DEFAULT_BUCKETS: u32 = 12007;
/// The write-buffer size of the reference (also ours).
pub const BUFFER_SIZE: usize = 4 << 20;

/// Magic of the variable-length kind.
pub const MAGIC_VARIABLE: [u8; 16] = [
    0x4f, 0x7e, 0x8a, 0x3f, 0xe7, 0x5c, 0x47, 0x50, 0xad, 0x43, 0x0a, 0x72, 0x8f, 0xe3, 0x1c, 0xfe,
];
/// Magic of the fixed-length kind.
pub const MAGIC_FIXED: [u8; 16] = [
    0x04, 0xd3, 0xb2, 0x94, 0xf2, 0x10, 0x41, 0x62, 0x95, 0x8d, 0x04, 0x00, 0x73, 0x8c, 0x9e, 0x0a,
];

/// Key bytes of the metadata slot.
pub const METADATA_KEY: &[u8] = b"adb01ebc1ba3433eb043527";
/// Key bytes of reserved slot 1.
pub const RESERVED1_KEY: &[u8] = b"7c40d2ea915b4f3a8e6d201";
/// Key bytes of reserved slot 2.
pub const RESERVED2_KEY: &[u8] = b"f19a5c3d7e2b48069ab34c5";
/// The three hidden keys.
pub const HIDDEN_KEYS: [&[u8]; 3] = [METADATA_KEY, RESERVED1_KEY, RESERVED2_KEY];

/// Legacy padding sentinel for the layout fields (ASCII `000000`).
const LEGACY_PAD: u64 = 0x3030_3030_3030;

/// Tag cfdb-kv leaves in the header padding at a clean close (ignored by the reference).
const CLEAN_TAG_MAGIC: &[u8; 8] = b"cfdbkv\x01\x00";
const CLEAN_TAG_AT: usize = 80;

/// A 13-byte key hash.
pub type Hash = [u8; HASH_LEN];

/// BLAKE2s parameters of the key hash: a 13-byte digest, no key, salt or personalization.
pub fn hash_params() -> &'static blake2s_simd::Params {
    static PARAMS: std::sync::LazyLock<blake2s_simd::Params> = std::sync::LazyLock::new(|| {
        let mut p = blake2s_simd::Params::new();
        p.hash_length(HASH_LEN);
        p
    });
    &PARAMS
}

/// BLAKE2s with a 13-byte digest over the serialized key bytes.
///
/// Keys of up to one 64-byte block (every cfdb chunk key) go through [`short_key_hash`]; longer
/// keys through `blake2s_simd`.
#[inline]
pub fn key_hash(key: &[u8]) -> Hash {
    match short_key_hash(key) {
        Some(h) => h,
        None => to_hash(&hash_params().hash(key)),
    }
}

/// The BLAKE2s initialisation vector (RFC 7693).
const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// The BLAKE2s message schedule (RFC 7693).
const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/// Word 0 of the parameter block: digest length 13, no key, fanout 1, depth 1.
const PARAM0: u32 = 0x0101_0000 | HASH_LEN as u32;

/// BLAKE2s-13 of a key that fits one 64-byte block (`None` for longer keys).
///
/// A key of at most 64 bytes is the whole message, so the hash is a single compression of the
/// zero-padded key with counter = key length and the final-block flag set (RFC 7693). This is
/// the lookup hot path, so it is written for latency: the 16 state words live in locals, the
/// message schedule is resolved at compile time, and the compression is instantiated per
/// 16-byte length class, so the message words past the key are compile-time zeros and their
/// additions disappear. Keys of up to 16 bytes (the common case) are loaded with a few
/// overlapping reads instead of a copy. Bit-identical to `blake2s_simd` with `hash_length(13)`
/// (tested against it for every length 0..=200).
#[inline]
pub fn short_key_hash(key: &[u8]) -> Option<Hash> {
    let h = match key.len() {
        0..=16 => {
            let (lo, hi) = load16(key);
            let m = [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32];
            compress_final::<4>(&m, key.len() as u32)
        }
        17..=32 => compress_padded::<8>(key),
        33..=48 => compress_padded::<12>(key),
        49..=64 => compress_padded::<16>(key),
        _ => return None,
    };
    let mut out = [0u8; HASH_LEN];
    out[..4].copy_from_slice(&h[0].to_le_bytes());
    out[4..8].copy_from_slice(&h[1].to_le_bytes());
    out[8..12].copy_from_slice(&h[2].to_le_bytes());
    out[12] = h[3].to_le_bytes()[0];
    Some(out)
}

/// A key of at most 16 bytes as two little-endian u64 (zero-padded), without a copy loop.
#[inline(always)]
fn load16(key: &[u8]) -> (u64, u64) {
    let n = key.len();
    let u64_at = |i: usize| {
        key.get(i..i + 8).map_or(0, |b| {
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        })
    };
    let u32_at = |i: usize| {
        key.get(i..i + 4).map_or(0, |b| {
            u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })
    };
    let byte = |i: usize| key.get(i).map_or(0, |&b| u64::from(b));
    match n {
        // Bytes 8..n: the last 8 bytes shifted down past the overlap.
        9..=16 => (u64_at(0), u64_at(n - 8) >> (8 * (16 - n))),
        8 => (u64_at(0), 0),
        // Bytes 4..n: the last 4 bytes shifted down past the overlap (nothing when n == 4).
        4..=7 => (u32_at(0) | ((u32_at(n - 4) >> (8 * (8 - n))) << 32), 0),
        // 1..=3 bytes: first, middle and last byte (they coincide for short keys).
        1..=3 => (
            byte(0) | byte(n / 2) << (8 * (n / 2)) | byte(n - 1) << (8 * (n - 1)),
            0,
        ),
        _ => (0, 0),
    }
}

/// [`compress_final`] of a key of at most `4 * W` bytes, zero-padded through a block buffer.
#[inline(never)]
fn compress_padded<const W: usize>(key: &[u8]) -> [u32; 4] {
    let mut block = [0u8; 64];
    let n = key.len().min(4 * W);
    block[..n].copy_from_slice(&key[..n]);
    let mut m = [0u32; W];
    for (w, c) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    compress_final::<W>(&m, key.len() as u32)
}

/// One BLAKE2s compression of the only (hence final) block of a `len`-byte message, from the
/// initial state of a 13-byte digest. `m` holds the first `W` message words; the other
/// `16 - W` words are zero. Returns the first four words of the new state (the digest is
/// their first 13 bytes).
#[inline(always)]
fn compress_final<const W: usize>(m: &[u32; W], len: u32) -> [u32; 4] {
    // Message word i, a compile-time zero past the key's words.
    let m: [u32; 16] = std::array::from_fn(|i| if i < W { m[i] } else { 0 });
    macro_rules! g {
        ($a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $y:expr) => {
            $a = $a.wrapping_add($b).wrapping_add($x);
            $d = ($d ^ $a).rotate_right(16);
            $c = $c.wrapping_add($d);
            $b = ($b ^ $c).rotate_right(12);
            $a = $a.wrapping_add($b).wrapping_add($y);
            $d = ($d ^ $a).rotate_right(8);
            $c = $c.wrapping_add($d);
            $b = ($b ^ $c).rotate_right(7);
        };
    }
    let h0 = IV[0] ^ PARAM0;
    let (mut v0, mut v1, mut v2, mut v3) = (h0, IV[1], IV[2], IV[3]);
    let (mut v4, mut v5, mut v6, mut v7) = (IV[4], IV[5], IV[6], IV[7]);
    let (mut v8, mut v9, mut v10, mut v11) = (IV[0], IV[1], IV[2], IV[3]);
    // Counter t = len (t1 = 0), final-block flag f0 = !0, f1 = 0.
    let (mut v12, mut v13, mut v14, mut v15) = (IV[4] ^ len, IV[5], !IV[6], IV[7]);
    macro_rules! round {
        ($r:expr) => {{
            const S: [usize; 16] = SIGMA[$r];
            g!(v0, v4, v8, v12, m[S[0]], m[S[1]]);
            g!(v1, v5, v9, v13, m[S[2]], m[S[3]]);
            g!(v2, v6, v10, v14, m[S[4]], m[S[5]]);
            g!(v3, v7, v11, v15, m[S[6]], m[S[7]]);
            g!(v0, v5, v10, v15, m[S[8]], m[S[9]]);
            g!(v1, v6, v11, v12, m[S[10]], m[S[11]]);
            g!(v2, v7, v8, v13, m[S[12]], m[S[13]]);
            g!(v3, v4, v9, v14, m[S[14]], m[S[15]]);
        }};
    }
    round!(0);
    round!(1);
    round!(2);
    round!(3);
    round!(4);
    round!(5);
    round!(6);
    round!(7);
    round!(8);
    round!(9);
    // Only words 0..4 of the new state are needed; the rest of v is dead here.
    let _ = (v4, v5, v6, v7, v12, v13, v14, v15);
    [
        h0 ^ v0 ^ v8,
        IV[1] ^ v1 ^ v9,
        IV[2] ^ v2 ^ v10,
        IV[3] ^ v3 ^ v11,
    ]
}

/// The first 13 bytes of a BLAKE2s result made with [`hash_params`].
pub fn to_hash(h: &blake2s_simd::Hash) -> Hash {
    let mut out = [0u8; HASH_LEN];
    let b = h.as_bytes();
    let n = b.len().min(HASH_LEN);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// Hashes many keys at once (SIMD across keys where the CPU allows).
pub fn key_hashes<K: AsRef<[u8]>>(keys: &[K], out: &mut [Hash]) {
    let params = hash_params();
    let mut jobs: Vec<blake2s_simd::many::HashManyJob<'_>> = keys
        .iter()
        .map(|k| blake2s_simd::many::HashManyJob::new(params, k.as_ref()))
        .collect();
    blake2s_simd::many::hash_many(jobs.iter_mut());
    for (o, j) in out.iter_mut().zip(&jobs) {
        *o = to_hash(&j.to_hash());
    }
}

/// [`bucket`] for a fixed `n_buckets`, with the 128-bit modulo replaced by one 64-bit one.
///
/// The hash is `l0 + l1·2³² + l2·2⁶⁴ + l3·2⁹⁶` with 32-bit limbs `l0..l2` and the 8-bit `l3`.
/// With `p_k = 2^(32k) mod n` precomputed, `Σ l_k·p_k` is congruent to the hash and stays below
/// 2⁶⁴ while `n ≤ 2³⁰` (each `p_k < n`), so a single `u64 % n` finishes. Headers allow at most
/// 2²⁶ buckets; a larger `n` falls back to the 128-bit modulo.
#[derive(Clone, Copy, Debug)]
pub struct BucketOf {
    n: u64,
    p: [u64; 3],
}

impl BucketOf {
    /// Precomputes the limb weights for `n_buckets` (0 is treated as 1, like [`bucket`]).
    pub fn new(n_buckets: u32) -> BucketOf {
        let n = u64::from(n_buckets.max(1));
        let m = u128::from(n);
        BucketOf {
            n,
            p: [
                ((1u128 << 32) % m) as u64,
                ((1u128 << 64) % m) as u64,
                ((1u128 << 96) % m) as u64,
            ],
        }
    }

    /// The bucket of `hash`; equals `bucket(hash, n_buckets)`.
    #[inline]
    pub fn of(&self, hash: &Hash) -> usize {
        let l0 = u64::from(u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]]));
        let l1 = u64::from(u32::from_le_bytes([hash[4], hash[5], hash[6], hash[7]]));
        let l2 = u64::from(u32::from_le_bytes([hash[8], hash[9], hash[10], hash[11]]));
        let l3 = u64::from(hash[12]);
        if self.n > 1 << 30 {
            // Beyond any header we accept (MAX_BUCKETS = 2^26); the sum below could overflow.
            return bucket(hash, self.n as u32);
        }
        // Each term is below 2^32·n <= 2^62 and l3·p2 below 2^38, so the sum fits.
        let s = l0 + l1 * self.p[0] + l2 * self.p[1] + l3 * self.p[2];
        (s % self.n) as usize
    }
}

/// The bucket of a hash: the 13 bytes as a little-endian u104, modulo `n_buckets`.
pub fn bucket(hash: &Hash, n_buckets: u32) -> usize {
    let mut wide = [0u8; 16];
    wide[..HASH_LEN].copy_from_slice(hash);
    let v = u128::from_le_bytes(wide);
    // n_buckets > 0 is checked when a header is parsed or built.
    (v % u128::from(n_buckets.max(1))) as usize
}

/// Whether a hash is one of the three hidden keys'.
pub fn is_hidden_hash(hash: &Hash) -> bool {
    hidden_hashes().contains(hash)
}

/// The hashes of the hidden keys.
pub fn hidden_hashes() -> [Hash; 3] {
    // Precomputed from HIDDEN_KEYS (checked by a unit test).
    [
        [
            0x42, 0x7e, 0xf5, 0x09, 0xe6, 0xef, 0x2c, 0xbf, 0x16, 0x6e, 0x6e, 0x82, 0x01,
        ],
        [
            0x5a, 0x81, 0x57, 0xb7, 0x56, 0x28, 0xdf, 0x9d, 0x14, 0x4b, 0x7e, 0x43, 0xa1,
        ],
        [
            0x07, 0xf6, 0x6d, 0xd0, 0xa0, 0xbc, 0xa1, 0x8c, 0x18, 0x2e, 0xde, 0xe1, 0x18,
        ],
    ]
}

/// The next size in the growth sequence, or `None` when the index no longer grows.
pub fn next_growth_size(current: u32) -> Option<u32> {
    if current >= GROWTH_SIZES[3] {
        return None;
    }
    GROWTH_SIZES.iter().copied().find(|&s| s > current)
}

/// Reads a little-endian u48.
#[inline]
pub fn read_u48(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(6);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

/// Encodes a u48 (the top two bytes of `v` must be zero).
pub fn u48(v: u64) -> [u8; 6] {
    let b = v.to_le_bytes();
    [b[0], b[1], b[2], b[3], b[4], b[5]]
}

/// Reads a little-endian u56.
#[inline]
pub fn read_u56(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(7);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

/// Encodes a u56.
pub fn u56(v: u64) -> [u8; 7] {
    let b = v.to_le_bytes();
    [b[0], b[1], b[2], b[3], b[4], b[5], b[6]]
}

fn u16_at(b: &[u8; 200], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8; 200], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The two file kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Variable-length values (the default; the kind cfdb uses).
    Variable,
    /// Fixed-length values of `value_len` bytes, no timestamps, no metadata.
    Fixed,
}

/// What cfdb-kv records in the header padding at every clean close: the file length and the
/// layout at that moment. A writable open that finds a different length knows that someone
/// (a Python writer, maybe a crashed one) appended since, and checks the appended tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanTag {
    /// File length at the clean close.
    pub eof: u64,
    /// Effective index offset at the clean close.
    pub index_offset: u64,
    /// Bucket count at the clean close.
    pub n_buckets: u32,
}

/// The decoded 200-byte header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// File kind.
    pub kind: Kind,
    /// Format version (5 for files we create).
    pub version: u16,
    /// Bucket count.
    pub n_buckets: u32,
    /// Value serializer code.
    pub value_serializer: u16,
    /// Key serializer code.
    pub key_serializer: u16,
    /// Live user keys, or [`DIRTY`].
    pub n_keys: u32,
    /// Fixed value length (fixed kind), else 0.
    pub value_len: u32,
    /// Whether blocks carry timestamps.
    pub timestamps: bool,
    /// File creation time, µs since the epoch.
    pub file_timestamp: u64,
    /// File UUID.
    pub uuid: [u8; 16],
    /// Raw `index_offset` field.
    pub index_offset_raw: u64,
    /// Raw `first_data_block_pos` field.
    pub first_data_raw: u64,
    /// cfdb-kv's clean-close tag, when present.
    pub clean_tag: Option<CleanTag>,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

impl Header {
    /// A fresh header: version 5, no keys, standard layout. `value_len` is the fixed value
    /// length (fixed kind) or 0; timestamps are forced off for the fixed kind.
    pub fn new(
        kind: Kind,
        n_buckets: u32,
        serializers: (u16, u16),
        value_len: u32,
        timestamps: bool,
        created: (u64, [u8; 16]),
    ) -> Header {
        let (key_serializer, value_serializer) = serializers;
        let (now_us, uuid) = created;
        Header {
            kind,
            version: 5,
            n_buckets,
            value_serializer,
            key_serializer,
            n_keys: 0,
            value_len,
            timestamps: timestamps && kind == Kind::Variable,
            file_timestamp: now_us.min(MAX_TIMESTAMP),
            uuid,
            index_offset_raw: 0,
            first_data_raw: 0,
            clean_tag: None,
        }
    }

    /// Parses a header; `bytes` may be shorter than 200 (then it is refused).
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let b: &[u8; 200] = bytes
            .get(..200)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                HeaderError(format!(
                    "file is {} bytes, shorter than the 200-byte header",
                    bytes.len()
                ))
            })?;
        let kind = if b[..16] == MAGIC_VARIABLE {
            Kind::Variable
        } else if b[..16] == MAGIC_FIXED {
            Kind::Fixed
        } else {
            return Err(HeaderError("wrong magic: not the correct file type".into()));
        };
        let version = u16_at(b, 16);
        if version < 3 {
            return Err(HeaderError(format!(
                "format version {version} is below 3 and unsupported"
            )));
        }
        let n_buckets = u32_at(b, 21);
        if n_buckets == 0 || n_buckets > MAX_BUCKETS {
            return Err(HeaderError(format!("implausible n_buckets {n_buckets}")));
        }
        let timestamps = kind == Kind::Variable && version >= 4 && b[41] != 0;
        let tag_bytes = &b[CLEAN_TAG_AT..CLEAN_TAG_AT + 28];
        let clean_tag = (&tag_bytes[..8] == CLEAN_TAG_MAGIC).then(|| CleanTag {
            eof: read_u48(&tag_bytes[8..14]),
            index_offset: read_u48(&tag_bytes[14..20]),
            n_buckets: u32::from_le_bytes([
                tag_bytes[20],
                tag_bytes[21],
                tag_bytes[22],
                tag_bytes[23],
            ]),
        });
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[49..65]);
        Ok(Header {
            kind,
            version,
            n_buckets,
            value_serializer: u16_at(b, 29),
            key_serializer: u16_at(b, 31),
            n_keys: u32_at(b, 33),
            value_len: u32_at(b, 37),
            timestamps,
            file_timestamp: read_u56(&b[42..49]),
            uuid,
            index_offset_raw: read_u48(&b[65..71]),
            first_data_raw: read_u48(&b[71..77]),
            clean_tag,
        })
    }

    /// Encodes the header to its 200 bytes.
    pub fn encode(&self) -> [u8; 200] {
        let mut b = [0u8; 200];
        b[..16].copy_from_slice(match self.kind {
            Kind::Variable => &MAGIC_VARIABLE,
            Kind::Fixed => &MAGIC_FIXED,
        });
        b[16..18].copy_from_slice(&self.version.to_le_bytes());
        b[18] = 6;
        b[19] = 2;
        b[20] = if self.kind == Kind::Variable { 4 } else { 0 };
        b[21..25].copy_from_slice(&self.n_buckets.to_le_bytes());
        b[29..31].copy_from_slice(&self.value_serializer.to_le_bytes());
        b[31..33].copy_from_slice(&self.key_serializer.to_le_bytes());
        b[33..37].copy_from_slice(&self.n_keys.to_le_bytes());
        b[37..41].copy_from_slice(&self.value_len.to_le_bytes());
        b[41] = u8::from(self.timestamps);
        b[42..49].copy_from_slice(&u56(self.file_timestamp));
        b[49..65].copy_from_slice(&self.uuid);
        b[65..71].copy_from_slice(&u48(self.index_offset_raw));
        b[71..77].copy_from_slice(&u48(self.first_data_raw));
        if let Some(t) = self.clean_tag {
            let at = CLEAN_TAG_AT;
            b[at..at + 8].copy_from_slice(CLEAN_TAG_MAGIC);
            b[at + 8..at + 14].copy_from_slice(&u48(t.eof));
            b[at + 14..at + 20].copy_from_slice(&u48(t.index_offset));
            b[at + 20..at + 24].copy_from_slice(&t.n_buckets.to_le_bytes());
        }
        b
    }

    /// The effective index offset.
    #[inline]
    pub fn index_offset(&self) -> u64 {
        match self.index_offset_raw {
            0 | LEGACY_PAD => HEADER_LEN,
            x => x,
        }
    }

    /// Length of the bucket index in bytes.
    pub fn index_len(&self) -> u64 {
        PTR_LEN * u64::from(self.n_buckets)
    }

    /// The effective first data block position.
    pub fn first_data(&self) -> u64 {
        match self.first_data_raw {
            0 | LEGACY_PAD => HEADER_LEN + self.index_len(),
            x => x,
        }
    }

    /// Timestamp width in a block (7 or 0).
    #[inline]
    pub fn ts_len(&self) -> u64 {
        if self.timestamps { TS_LEN } else { 0 }
    }

    /// Length of a block's fixed part (everything before the key).
    #[inline]
    pub fn head_len(&self) -> u64 {
        match self.kind {
            Kind::Variable => 25 + self.ts_len(),
            Kind::Fixed => 21,
        }
    }

    /// The data regions for a file of `file_len` bytes (`booklet-format.md` §1).
    pub fn regions(&self, file_len: u64) -> Vec<(u64, u64)> {
        let idx = self.index_offset();
        let first = self.first_data();
        if idx == HEADER_LEN {
            if first < file_len {
                vec![(first, file_len)]
            } else {
                vec![]
            }
        } else {
            let mut v = Vec::with_capacity(2);
            if first < idx {
                v.push((first, idx.min(file_len)));
            }
            let r2 = idx + self.index_len();
            if r2 < file_len {
                v.push((r2, file_len));
            }
            v
        }
    }
}

/// The fixed part of a data block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHead {
    /// Key hash.
    pub hash: Hash,
    /// Next pointer: 0 dead, 1 live and last, else the next block of the chain.
    pub next: u64,
    /// Key length.
    pub key_len: u64,
    /// Value length.
    pub value_len: u64,
    /// Timestamp, when the file has them.
    pub timestamp: Option<u64>,
}

impl BlockHead {
    /// Parses a block head from at least `header.head_len()` bytes.
    #[inline]
    pub fn parse(header: &Header, b: &[u8]) -> Option<BlockHead> {
        let hl = usize::try_from(header.head_len()).ok()?;
        let b = b.get(..hl)?;
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(&b[..HASH_LEN]);
        let next = read_u48(&b[13..19]);
        let key_len = u64::from(u16::from_le_bytes([b[19], b[20]]));
        let (value_len, timestamp) = match header.kind {
            Kind::Fixed => (u64::from(header.value_len), None),
            Kind::Variable => {
                let vl = u64::from(u32::from_le_bytes([b[21], b[22], b[23], b[24]]));
                let ts = header.timestamps.then(|| read_u56(&b[25..32]));
                (vl, ts)
            }
        };
        Some(BlockHead {
            hash,
            next,
            key_len,
            value_len,
            timestamp,
        })
    }

    /// Total block length.
    #[inline]
    pub fn block_len(&self, header: &Header) -> u64 {
        header.head_len() + self.key_len + self.value_len
    }
}

/// Builds a complete block (head, key, value) into `out`.
pub fn encode_block(
    out: &mut Vec<u8>,
    header: &Header,
    hash: &Hash,
    next: u64,
    key: &[u8],
    value: &[u8],
    timestamp: u64,
) {
    out.extend_from_slice(hash);
    out.extend_from_slice(&u48(next));
    // Lengths are validated by the caller (key <= u16::MAX, value <= u32::MAX).
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    if header.kind == Kind::Variable {
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        if header.timestamps {
            out.extend_from_slice(&u56(timestamp));
        }
    }
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// A dead "skip block" that exactly covers `len` bytes, or `None` when `len` is too small.
pub fn skip_block(header: &Header, len: u64) -> Option<Vec<u8>> {
    let mut b = vec![0u8; usize::try_from(len).ok()?];
    match header.kind {
        Kind::Variable => {
            let min = header.head_len() + 1;
            if len < min {
                return None;
            }
            let value_len = u32::try_from(len - min).ok()?;
            b[19..21].copy_from_slice(&1u16.to_le_bytes());
            b[21..25].copy_from_slice(&value_len.to_le_bytes());
        }
        Kind::Fixed => {
            let key_len = len.checked_sub(21 + u64::from(header.value_len))?;
            if len < 22 + u64::from(header.value_len) {
                return None;
            }
            let key_len = u16::try_from(key_len).ok()?;
            b[19..21].copy_from_slice(&key_len.to_le_bytes());
        }
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn hash_vectors() {
        let cases: [(&[u8], &str, [usize; 4]); 8] = [
            (b"", "758fe2c70fa22afd145e08c8c1", [1, 1, 10508, 63468]),
            (b"a", "98bffdaaf3946389080dd51a12", [0, 7, 179, 80016]),
            (b"bb", "bede0570dc6b07765222c2a466", [0, 5, 191, 120069]),
            (b"hello", "130e2c525eb0e6143b9d52c21d", [0, 1, 1611, 3032]),
            (
                b"temperature!0.0",
                "3236f5b1f0f0b906fa8b6862d7",
                [2, 10, 3668, 118650],
            ),
            (
                METADATA_KEY,
                "427ef509e6ef2cbf166e6e8201",
                [2, 9, 1352, 103861],
            ),
            (
                RESERVED1_KEY,
                "5a8157b75628df9d144b7e43a1",
                [1, 8, 9981, 124163],
            ),
            (
                RESERVED2_KEY,
                "07f66dd0a0bca18c182edee118",
                [2, 0, 2541, 34886],
            ),
        ];
        for (key, h, buckets) in cases {
            let got = key_hash(key);
            assert_eq!(hex(&got), h, "hash of {key:?}");
            for (n, want) in [3u32, 11, 12007, 144013].into_iter().zip(buckets) {
                assert_eq!(bucket(&got, n), want, "bucket of {key:?} mod {n}");
            }
        }
        for (k, h) in HIDDEN_KEYS.iter().zip(hidden_hashes()) {
            assert_eq!(key_hash(k), h);
        }
    }

    /// Deterministic test bytes (splitmix64).
    fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) as u8
            })
            .collect()
    }

    #[test]
    fn short_key_hash_equals_blake2s_simd() {
        for len in 0..=200usize {
            for seed in 0..64u64 {
                let key = test_bytes(seed * 1000 + len as u64, len);
                let want = to_hash(&hash_params().hash(&key));
                assert_eq!(key_hash(&key), want, "len {len} seed {seed}");
                match short_key_hash(&key) {
                    Some(h) => {
                        assert!(len <= 64);
                        assert_eq!(h, want, "len {len} seed {seed}");
                    }
                    None => assert!(len > 64),
                }
            }
            // All-0xff and all-zero keys exercise the padding of the last word.
            for fill in [0u8, 0xff] {
                let key = vec![fill; len];
                assert_eq!(key_hash(&key), to_hash(&hash_params().hash(&key)));
            }
        }
        // The digest is BLAKE2s with digest length 13, not a truncated BLAKE2s-256.
        assert_eq!(
            hex(&short_key_hash(b"a").unwrap()),
            "98bffdaaf3946389080dd51a12"
        );
    }

    #[test]
    fn bucket_of_equals_bucket() {
        let ns = [
            1u32,
            2,
            3,
            7,
            11,
            12007,
            144013,
            1728017,
            20736017,
            MAX_BUCKETS,
            (1 << 30) - 1,
            1 << 30,
            (1 << 30) + 3,
            u32::MAX,
        ];
        let mut hashes: Vec<Hash> = vec![[0; HASH_LEN], [0xff; HASH_LEN]];
        for seed in 0..2000u64 {
            let b = test_bytes(seed, HASH_LEN);
            hashes.push(b.try_into().unwrap());
        }
        for n in ns {
            let f = BucketOf::new(n);
            for h in &hashes {
                assert_eq!(f.of(h), bucket(h, n), "n {n} hash {}", hex(h));
            }
        }
        assert_eq!(BucketOf::new(0).of(&[7; HASH_LEN]), 0);
    }

    #[test]
    fn growth_sequence() {
        assert_eq!(next_growth_size(7), Some(12007));
        assert_eq!(next_growth_size(1000), Some(12007));
        assert_eq!(next_growth_size(12007), Some(144013));
        assert_eq!(next_growth_size(144013), Some(1728017));
        assert_eq!(next_growth_size(20736017), None);
        assert_eq!(next_growth_size(30000000), None);
    }

    #[test]
    fn header_round_trip() {
        let mut h = Header::new(
            Kind::Variable,
            11,
            (2, 1),
            0,
            true,
            (1_700_000_000_000_000, [7; 16]),
        );
        h.clean_tag = Some(CleanTag {
            eof: 1234,
            index_offset: 200,
            n_buckets: 11,
        });
        let b = h.encode();
        assert_eq!(Header::parse(&b).ok(), Some(h.clone()));
        assert_eq!(h.first_data(), 266);
        assert!(Header::parse(&b[..100]).is_err());
        let mut bad = b;
        bad[0] ^= 1;
        assert!(Header::parse(&bad).is_err());
    }

    #[test]
    fn skip_blocks_tile() {
        let h = Header::new(Kind::Variable, 11, (2, 1), 0, true, (0, [0; 16]));
        let s = skip_block(&h, 66).unwrap();
        let head = BlockHead::parse(&h, &s).unwrap();
        assert_eq!(head.block_len(&h), 66);
        assert_eq!(head.next, 0);
        assert!(skip_block(&h, 32).is_none());
    }
}
