//! Python's integer true division (`int / int -> float`), reproduced exactly.
//!
//! rechunkit computes several integer quantities as `math.ceil(a / b)` and scales factors with
//! `a / b` on Python ints. Python rounds the exact quotient once to the nearest `f64` (ties to
//! even); these helpers do the same, so the results stay identical even where the operands are
//! too large for a plain `f64` division to be exact (above 2^53).

/// 2^53: below this every integer is an exact `f64`.
const EXACT: u128 = 1 << 53;

/// `a / b` as Python computes it for ints: the exact quotient rounded once to the nearest
/// `f64`, ties to even. `b` must be non-zero.
pub(crate) fn int_div_f64(a: u128, b: u128) -> f64 {
    debug_assert!(b != 0);
    if b == 0 {
        return f64::INFINITY;
    }
    if a < EXACT && b < EXACT {
        // Both operands exact: IEEE division rounds the exact quotient once.
        return a as f64 / b as f64;
    }
    let mut q = a / b;
    let mut rem = a % b;
    // Collect quotient bits until there are at least 55 (53 kept + guard + one more), then fold
    // the rest of the fraction into a sticky bit: `u128 as f64` then rounds to nearest even
    // exactly as rounding the exact quotient would.
    let mut exp: i32 = 0;
    while q < (1 << 54) && rem != 0 {
        // rem < b: one more binary digit of the fraction, without overflowing (2·rem may not
        // fit when b > 2^127).
        let bit = rem >= b - rem;
        rem = if bit { rem - (b - rem) } else { rem << 1 };
        q = (q << 1) | u128::from(bit);
        exp -= 1;
    }
    if q == 0 {
        return 0.0;
    }
    let m = q | u128::from(rem != 0);
    let x = m as f64;
    // x * 2^exp, exact: exp >= -(54 + 128) and x >= 2^54 whenever exp < 0.
    x * pow2(exp)
}

/// 2^e for `-1022 <= e <= 1023` (exact).
fn pow2(e: i32) -> f64 {
    let biased = u64::try_from(1023 + e).unwrap_or(0);
    f64::from_bits(biased << 52)
}

/// `math.ceil(a / b)` with Python's float true division, for non-negative ints.
///
/// Equals the exact integer ceiling whenever both operands are below 2^53 (the quotient of such
/// operands can never round onto an integer); above that it reproduces Python's rounding.
pub(crate) fn py_ceil_div(a: u128, b: u128) -> u128 {
    if a < EXACT && b < EXACT {
        return a.div_ceil(b);
    }
    let q = int_div_f64(a, b).ceil();
    // A non-negative finite float below 2^128 converts exactly.
    q as u128
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_are_plain_division() {
        assert_eq!(int_div_f64(1, 3), 1.0 / 3.0);
        assert_eq!(int_div_f64(0, 7), 0.0);
        assert_eq!(py_ceil_div(10, 3), 4);
        assert_eq!(py_ceil_div(9, 3), 3);
        assert_eq!(py_ceil_div(0, 3), 0);
    }

    #[test]
    fn large_values_round_like_python() {
        // Python: (2**53 + 1) / 1 == 9007199254740992.0 (ties to even), so
        // math.ceil((2**53 + 1) / 1) == 2**53.
        assert_eq!(int_div_f64((1 << 53) + 1, 1), 9_007_199_254_740_992.0);
        assert_eq!(py_ceil_div((1 << 53) + 1, 1), 1 << 53);
        // (2**53 + 3) / 1 rounds up to 2**53 + 4.
        assert_eq!(py_ceil_div((1 << 53) + 3, 1), (1 << 53) + 4);
        // Python: (10**30 + 1) / 10**30 == 1.0; (2**100 + 2**48) / 2**100 == 1.0000000000000002.
        assert_eq!(int_div_f64(10u128.pow(30) + 1, 10u128.pow(30)), 1.0);
        assert_eq!(
            int_div_f64((1 << 100) + (1 << 48), 1 << 100),
            1.000_000_000_000_000_2
        );
        // A quotient far below 1 with huge operands: (2**60) / (3 * 2**60) == 1/3.
        assert_eq!(int_div_f64(1 << 60, 3 << 60), 1.0 / 3.0);
        assert_eq!(int_div_f64(u128::MAX, u128::MAX), 1.0);
        assert_eq!(int_div_f64(u128::MAX, 1), 2f64.powi(128));
    }

    /// Independent reference for operands below 2^64: scale the numerator to 127 bits, so the
    /// integer quotient keeps at least 63 significant bits, and fold the remainder into a
    /// sticky bit before the (correctly rounded) conversion.
    fn reference(a: u64, b: u64) -> f64 {
        if a == 0 {
            return 0.0;
        }
        let sh = 127 - (64 - a.leading_zeros());
        let num = u128::from(a) << sh;
        let q = num / u128::from(b);
        let r = num % u128::from(b);
        let m = q | u128::from(r != 0);
        (m as f64) * 2f64.powi(-i32::try_from(sh).unwrap())
    }

    proptest! {
        #[test]
        fn matches_reference(a in any::<u64>(), b in 1u64..) {
            prop_assert_eq!(int_div_f64(u128::from(a), u128::from(b)), reference(a, b));
        }

        #[test]
        fn small_ceil_is_exact(a in 0u128..(1 << 53), b in 1u128..(1 << 53)) {
            prop_assert_eq!(py_ceil_div(a, b), a.div_ceil(b));
        }
    }
}
