//! Numeric encodings: float/int/datetime packing, float precision rounding and the exported
//! parameter helpers (`cfdb-format.md` §4.4–4.7, `algorithms.md` §6).

use crate::dtype::IntType;
use crate::element::Datetime64;
use crate::error::{CodecError, Result};

/// Fixed-width little-endian element of `N` bytes.
pub(crate) trait Le<const N: usize>: Copy {
    /// The unsigned integer of the same width, holding the value's little-endian bits.
    type Word: crate::encode::Word;
    fn from_le(b: [u8; N]) -> Self;
    fn to_le(self) -> [u8; N];
    /// From the little-endian value assembled in the low `N` bytes of `v`.
    fn from_u64(v: u64) -> Self;
    /// The bits as [`Le::Word`] (`to_le` read as a little-endian unsigned integer).
    fn to_word(self) -> Self::Word;
}

macro_rules! impl_le {
    ($($t:ty => $n:literal, $u:ty, |$v:ident| $conv:expr, |$x:ident| $word:expr);*) => {$(
        impl Le<$n> for $t {
            type Word = $u;
            #[inline(always)]
            fn from_le(b: [u8; $n]) -> Self { <$t>::from_le_bytes(b) }
            #[inline(always)]
            fn to_le(self) -> [u8; $n] { self.to_le_bytes() }
            #[inline(always)]
            fn from_u64(w: u64) -> Self { let $v = w as $u; $conv }
            #[inline(always)]
            fn to_word(self) -> $u { let $x = self; $word }
        }
    )*};
}
impl_le!(
    i8 => 1, u8, |v| v as i8, |x| x as u8;
    u8 => 1, u8, |v| v, |x| x;
    i16 => 2, u16, |v| v as i16, |x| x as u16;
    u16 => 2, u16, |v| v, |x| x;
    i32 => 4, u32, |v| v as i32, |x| x as u32;
    u32 => 4, u32, |v| v, |x| x;
    f32 => 4, u32, |v| f32::from_bits(v), |x| x.to_bits();
    i64 => 8, u64, |v| v as i64, |x| x as u64;
    u64 => 8, u64, |v| v, |x| x;
    f64 => 8, u64, |v| f64::from_bits(v), |x| x.to_bits()
);

/// Integer element types (decoded integers and codes).
pub(crate) trait Int: Copy + PartialEq + Send + Sync + 'static {
    const TYPE: IntType;
    fn to_i128(self) -> i128;
    /// C-style conversion (keeps the low bits).
    fn wrap_from_i128(v: i128) -> Self;
    fn wrapping_add(self, o: Self) -> Self;
    fn wrapping_sub(self, o: Self) -> Self;
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
    /// Saturating conversion (exact for integral in-range values).
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
}

macro_rules! impl_int {
    ($($t:ty => $it:ident),*) => {$(
        impl Int for $t {
            const TYPE: IntType = IntType::$it;
            #[inline(always)]
            fn to_i128(self) -> i128 { self as i128 }
            #[inline(always)]
            fn wrap_from_i128(v: i128) -> Self { v as $t }
            #[inline(always)]
            fn wrapping_add(self, o: Self) -> Self { <$t>::wrapping_add(self, o) }
            #[inline(always)]
            fn wrapping_sub(self, o: Self) -> Self { <$t>::wrapping_sub(self, o) }
            #[inline(always)]
            fn to_f32(self) -> f32 { self as f32 }
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn from_f32(v: f32) -> Self { v as $t }
            #[inline(always)]
            fn from_f64(v: f64) -> Self { v as $t }
        }
    )*};
}
impl_int!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64);

/// The two float widths; all packing arithmetic happens in `Self`.
pub(crate) trait Flt:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + Send
    + Sync
    + 'static
{
    const NAN: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// Correctly rounded conversion of an exact integer.
    fn from_i128(v: i128) -> Self;
    fn from_code<E: Int>(c: E) -> Self;
    fn to_code<E: Int>(self) -> E;
    fn rint(self) -> Self;
    fn finite(self) -> bool;
    fn up(self) -> Self;
    fn down(self) -> Self;
    /// `10^p` as numpy sees it: an exact Python int (p ≥ 0) or a Python float (p < 0),
    /// converted to `Self` with one rounding.
    fn pow10(p: i64) -> Self;
}

macro_rules! impl_flt {
    ($t:ty, $to:ident, $from:ident) => {
        impl Flt for $t {
            const NAN: Self = <$t>::NAN;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_code<E: Int>(c: E) -> Self {
                c.$to()
            }
            #[inline(always)]
            fn to_code<E: Int>(self) -> E {
                E::$from(self)
            }
            #[inline(always)]
            fn rint(self) -> Self {
                self.round_ties_even()
            }
            #[inline(always)]
            fn finite(self) -> bool {
                self.is_finite()
            }
            fn up(self) -> Self {
                self.next_up()
            }
            fn down(self) -> Self {
                self.next_down()
            }
            fn pow10(p: i64) -> Self {
                if p >= 0 {
                    format!("1e{p}").parse::<$t>().unwrap_or(<$t>::INFINITY)
                } else {
                    let d = 10f64.powf(p as f64);
                    d as $t
                }
            }
        }
    };
}
impl_flt!(f32, to_f32, from_f32);
impl_flt!(f64, to_f64, from_f64);

/// Prepared constants for float packing in type `F` with codes of type `E`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FloatPack<F> {
    factor: F,
    offset: F,
    fill: F,
    fill_code: i128,
    lo: F,
    hi: F,
}

impl<F: Flt> FloatPack<F> {
    pub(crate) fn new(encoded: IntType, precision: i64, offset: f64, fillvalue: i128) -> Self {
        let lo64 = encoded.min() as f64;
        let hi64 = encoded.max() as f64;
        let mut lo = F::from_f64(lo64);
        let mut hi = F::from_f64(hi64);
        if lo.to_f64() < lo64 {
            lo = lo.up();
        }
        if hi.to_f64() > hi64 {
            hi = hi.down();
        }
        FloatPack {
            factor: F::pow10(precision),
            offset: F::from_f64(offset),
            fill: F::from_i128(fillvalue),
            fill_code: fillvalue,
            lo,
            hi,
        }
    }

    /// Encode one value (§4.4): `rint((x − off) × 10^p)`, invalid → fill.
    #[inline(always)]
    pub(crate) fn encode<E: Int>(&self, x: F, fill_code: E) -> E {
        let t = ((x - self.offset) * self.factor).rint();
        if !t.finite() || t < self.lo || t > self.hi {
            fill_code
        } else {
            t.to_code::<E>()
        }
    }

    /// The fill code as an `E`.
    pub(crate) fn fill_code<E: Int>(&self) -> E {
        if E::TYPE.contains(self.fill_code) {
            E::wrap_from_i128(self.fill_code)
        } else {
            self.fill.to_code::<E>()
        }
    }

    /// Decode one code (§4.4): `F(c)`, fill → NaN, else `F(c) / 10^p + off`.
    #[inline(always)]
    pub(crate) fn decode<E: Int>(&self, c: E) -> F {
        let y = F::from_code(c);
        if y == self.fill {
            F::NAN
        } else {
            y / self.factor + self.offset
        }
    }
}

/// numpy `ndarray.round(p)` in type `F`: multiply, `rint`, divide (p ≥ 0) or divide, `rint`,
/// multiply (p < 0). NaN and ±inf pass through.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoundDecimals<F> {
    f: F,
    negative: bool,
}

impl<F: Flt> RoundDecimals<F> {
    pub(crate) fn new(precision: i64) -> Self {
        let n = precision.unsigned_abs();
        // numpy's power_of_ten(n): exact doubles up to 1e22, then repeated ×10.
        let mut d = 1e9f64;
        let f64v = if n < 9 {
            [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
                .get(n as usize)
                .copied()
                .unwrap_or(1.0)
        } else {
            let mut k = n;
            while k > 9 {
                d *= 10.0;
                k -= 1;
            }
            d
        };
        RoundDecimals {
            f: F::from_f64(f64v),
            negative: precision < 0,
        }
    }

    #[inline(always)]
    pub(crate) fn round(&self, x: F) -> F {
        if self.negative {
            (x / self.f).rint() * self.f
        } else {
            (x * self.f).rint() / self.f
        }
    }
}

/// Integer packing constants (§4.5) for decoded type `D`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntPack<D> {
    offset: D,
    fill: Option<i128>,
}

impl<D: Int> IntPack<D> {
    pub(crate) fn new(offset: i128, fill: Option<i128>) -> Result<Self> {
        if !D::TYPE.contains(offset) {
            return Err(CodecError::InvalidDtype {
                name: D::TYPE.name().to_owned(),
                reason: format!("offset {offset} is not representable"),
            });
        }
        Ok(IntPack {
            offset: D::wrap_from_i128(offset),
            fill,
        })
    }

    /// `code = x − off` in `D` (wrapping); out of `E`'s range is an error, as in Python.
    #[inline(always)]
    pub(crate) fn encode<E: Int>(&self, x: D) -> Result<E> {
        let code = x.wrapping_sub(self.offset).to_i128();
        if E::TYPE.contains(code) {
            Ok(E::wrap_from_i128(code))
        } else {
            Err(CodecError::Unencodable {
                reason: format!(
                    "{} value {} packs to code {code}, outside {}",
                    D::TYPE.name(),
                    x.to_i128(),
                    E::TYPE.name()
                ),
            })
        }
    }

    /// `D(code) + off` (wrapping); a code equal to the fill value decodes to 0.
    #[inline(always)]
    pub(crate) fn decode<E: Int>(&self, c: E) -> D {
        let ci = c.to_i128();
        if self.fill == Some(ci) {
            D::wrap_from_i128(0)
        } else {
            D::wrap_from_i128(ci).wrapping_add(self.offset)
        }
    }
}

/// Datetime packing (§4.6): `code = ticks − off`, NaT/out of range → 0; code 0 → NaT.
#[inline(always)]
pub(crate) fn datetime_encode<E: Int>(x: Datetime64, offset: i64) -> E {
    if x.is_nat() {
        return E::wrap_from_i128(0);
    }
    let code = x.0.wrapping_sub(offset);
    if code == i64::MIN || !E::TYPE.contains(i128::from(code)) {
        E::wrap_from_i128(0)
    } else {
        E::wrap_from_i128(i128::from(code))
    }
}

/// See [`datetime_encode`].
#[inline(always)]
pub(crate) fn datetime_decode<E: Int>(c: E, offset: i64) -> Datetime64 {
    let ticks = c.to_i128() as i64;
    if ticks == 0 {
        Datetime64::NAT
    } else {
        Datetime64(ticks.wrapping_add(offset))
    }
}

/// cfdb's `compute_int_and_offset` for float inputs: returns `(itemsize, offset)` with
/// `offset = min − 1` and the smallest itemsize of 1, 2, 4, 8 holding
/// `max_code = max·10^p − min·10^p + 10^p` (`algorithms.md` §6.1).
///
/// ```
/// use cfdb_codec::compute_int_and_offset_f64;
/// assert_eq!(compute_int_and_offset_f64(-50.0, 100.0, 2).unwrap(), (2, -51.0));
/// assert_eq!(compute_int_and_offset_f64(0.0, 10000.0, 1).unwrap(), (4, -1.0));
/// ```
pub fn compute_int_and_offset_f64(min: f64, max: f64, precision: i32) -> Result<(u8, f64)> {
    if max < min {
        return Err(CodecError::InvalidDtype {
            name: "float".to_owned(),
            reason: "max_value must be larger than min_value".to_owned(),
        });
    }
    // Python: factor = 10**precision (an exact int for p >= 0, a float otherwise).
    let factor = <f64 as Flt>::pow10(i64::from(precision));
    let data_range = max * factor - min * factor + 1.0;
    let offset = min - 1.0;
    let max_code = data_range - 1.0 + factor;
    // Python compares a float with the exact integer 256**i − 1.
    for (size, limit) in [(1u8, 255.0f64), (2, 65535.0), (4, 4294967295.0)] {
        if max_code <= limit {
            return Ok((size, offset));
        }
    }
    if max_code < 18446744073709551616.0 {
        return Ok((8, offset));
    }
    Err(CodecError::InvalidDtype {
        name: "float".to_owned(),
        reason: "8 bytes is not enough!".to_owned(),
    })
}

/// cfdb's `compute_int_and_offset` for exact integer inputs (integers with `precision = 0`,
/// datetime ticks with the `precision = 1` quirk).
///
/// ```
/// use cfdb_codec::compute_int_and_offset_int;
/// assert_eq!(compute_int_and_offset_int(0, 255, 0).unwrap(), (2, -1));
/// assert_eq!(compute_int_and_offset_int(-5, 250, 0).unwrap(), (2, -6));
/// ```
pub fn compute_int_and_offset_int(min: i128, max: i128, precision: u32) -> Result<(u8, i128)> {
    let err = |reason: &str| CodecError::InvalidDtype {
        name: "int".to_owned(),
        reason: reason.to_owned(),
    };
    if max < min {
        return Err(err("max_value must be larger than min_value"));
    }
    let factor = 10i128
        .checked_pow(precision)
        .ok_or_else(|| err("precision too large"))?;
    let max_code = max
        .checked_mul(factor)
        .zip(min.checked_mul(factor))
        .and_then(|(a, b)| a.checked_sub(b))
        .and_then(|r| r.checked_add(factor))
        .ok_or_else(|| err("8 bytes is not enough!"))?;
    let offset = min - 1;
    for size in [1u8, 2, 4, 8] {
        let limit = (1i128 << (8 * u32::from(size))) - 1;
        if max_code <= limit {
            return Ok((size, offset));
        }
    }
    Err(err("8 bytes is not enough!"))
}

/// cfdb's exported `compute_scale_and_offset(min, max, dtype)`: CF-style `(scale, offset)`
/// (not used by the storage format; `cfdb-format.md` §4.10).
///
/// ```
/// use cfdb_codec::{compute_scale_and_offset, IntType};
/// assert_eq!(compute_scale_and_offset(-50.0, 100.0, IntType::I16), (0.0022888882106997894, 25.0));
/// assert_eq!(compute_scale_and_offset(0.0, 1.0, IntType::I64), (5.421010862427522e-20, 0.49999999999999994));
/// ```
pub fn compute_scale_and_offset(min: f64, max: f64, dtype: IntType) -> (f64, f64) {
    let bits = 8 * dtype.size() as u32;
    let data_range = max - min;
    let target_range = ((1i128 << bits) - 2) as f64;
    let slope = data_range / target_range;
    let target_min: i128 = if !dtype.signed() {
        1
    } else if bits < 64 {
        -((1i128 << (bits - 1)) - 1)
    } else {
        -((1i128 << (bits - 1)) - 1000)
    };
    let offset = min - slope * (target_min as f64);
    (slope, offset)
}
