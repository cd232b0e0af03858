//! Block copies between N-d views: row by row over contiguous runs, in parallel when large.
//!
//! `ArrayBase::assign` and `to_owned` on strided `IxDyn` views step element by element through
//! a generic index; the executor copies whole blocks (a storage chunk into the bulk buffer, a
//! target window out of it), so it merges the axes that are contiguous in both views, walks the
//! rest with a fixed-dimension iterator, copies each run with a slice copy, and splits large
//! blocks over the rayon pool.

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, Dimension, IxDyn};
use ndarray::{Ix1, Ix2, Ix3, Ix4, Zip};

use crate::RechunkError;

/// Blocks of at least this many elements are split over the rayon pool.
const PAR_MIN_ELEMS: usize = 1 << 17;

/// Copies `src` into `dst` (same shape), row by row over the runs that are contiguous in both,
/// splitting large blocks across the rayon pool.
///
/// ```
/// use cfdb_rechunk::copy_block;
/// use ndarray::{ArrayD, IxDyn, s};
/// let src = ArrayD::from_shape_fn(IxDyn(&[4, 6]), |ix| ix[0] * 10 + ix[1]);
/// let mut dst = ArrayD::zeros(IxDyn(&[2, 3]));
/// copy_block(dst.view_mut(), src.slice(s![1..3, 2..5]).into_dyn())?;
/// assert_eq!(dst, src.slice(s![1..3, 2..5]).into_dyn());
/// # Ok::<(), cfdb_rechunk::RechunkError>(())
/// ```
///
/// # Errors
///
/// [`RechunkError::SourceShape`] when the shapes differ.
pub fn copy_block<T: Clone + Send + Sync>(
    dst: ArrayViewMutD<'_, T>,
    src: ArrayViewD<'_, T>,
) -> Result<(), RechunkError> {
    if dst.shape() != src.shape() {
        return Err(RechunkError::SourceShape {
            region: Vec::new(),
            expected: dst.shape().to_vec(),
            got: src.shape().to_vec(),
        });
    }
    if dst.is_empty() {
        return Ok(());
    }
    copy_par(dst, src);
    Ok(())
}

/// An owned, standard-layout copy of `src` (a fast `to_owned` for strided views): one pass,
/// no fill, split over the rayon pool when large.
pub fn owned_copy<T: Clone + Send + Sync>(src: ArrayViewD<'_, T>) -> ArrayD<T> {
    if let Some(s) = src.as_slice() {
        return ArrayD::from_shape_vec(IxDyn(src.shape()), s.to_vec())
            .unwrap_or_else(|_| src.to_owned());
    }
    let out = match src.ndim() {
        1 => collect::<T, Ix1>(&src),
        2 => collect::<T, Ix2>(&src),
        3 => collect::<T, Ix3>(&src),
        4 => collect::<T, Ix4>(&src),
        _ => None,
    };
    match out {
        Some(a) if a.is_standard_layout() => a,
        Some(a) => a.as_standard_layout().into_owned(),
        None => src.as_standard_layout().into_owned(),
    }
}

fn collect<T: Clone + Send + Sync, D: Dimension>(src: &ArrayViewD<'_, T>) -> Option<ArrayD<T>> {
    let v = src.clone().into_dimensionality::<D>().ok()?;
    let zip = Zip::from(&v);
    let out = if v.len() >= PAR_MIN_ELEMS && rayon::current_num_threads() > 1 {
        zip.par_map_collect(|x| x.clone())
    } else {
        zip.map_collect(|x| x.clone())
    };
    Some(out.into_dyn())
}

fn copy_par<T: Clone + Send + Sync>(dst: ArrayViewMutD<'_, T>, src: ArrayViewD<'_, T>) {
    if dst.len() >= PAR_MIN_ELEMS && rayon::current_num_threads() > 1 {
        // Split along the first axis longer than 1.
        if let Some(ax) = dst.shape().iter().position(|&n| n > 1) {
            let mid = dst.shape()[ax] / 2;
            let (d0, d1) = dst.split_at(Axis(ax), mid);
            let (s0, s1) = src.split_at(Axis(ax), mid);
            rayon::join(|| copy_par(d0, s0), || copy_par(d1, s1));
            return;
        }
    }
    copy_seq(dst, src);
}

fn copy_seq<T: Clone>(mut dst: ArrayViewMutD<'_, T>, mut src: ArrayViewD<'_, T>) {
    if let (Some(d), Some(s)) = (dst.as_slice_mut(), src.as_slice()) {
        d.clone_from_slice(s);
        return;
    }
    let n = dst.ndim();
    // Merge outer axes into the last one while that keeps both views' runs contiguous.
    if n >= 2 {
        for take in (0..n - 1).rev() {
            let mut s2 = src.clone();
            if !s2.merge_axes(Axis(take), Axis(n - 1)) {
                break;
            }
            if !dst.merge_axes(Axis(take), Axis(n - 1)) {
                break;
            }
            src = s2;
        }
    }
    match n {
        1 => rows::<T, Ix1>(dst, src),
        2 => rows::<T, Ix2>(dst, src),
        3 => rows3(dst, src),
        4 => rows::<T, Ix4>(dst, src),
        _ => dst.assign(&src),
    }
}

/// Three dimensions (the common case) walked plane by plane, row by row.
fn rows3<T: Clone>(dst: ArrayViewMutD<'_, T>, src: ArrayViewD<'_, T>) {
    let (Ok(mut dst), Ok(src)) = (
        dst.into_dimensionality::<Ix3>(),
        src.into_dimensionality::<Ix3>(),
    ) else {
        return;
    };
    for (mut dp, sp) in dst.outer_iter_mut().zip(src.outer_iter()) {
        for (mut d, s) in dp.outer_iter_mut().zip(sp.outer_iter()) {
            match (d.as_slice_mut(), s.as_slice()) {
                (Some(d), Some(s)) => d.clone_from_slice(s),
                _ => d.assign(&s),
            }
        }
    }
}

fn rows<T: Clone, D: Dimension>(dst: ArrayViewMutD<'_, T>, src: ArrayViewD<'_, T>) {
    let (Ok(mut dst), Ok(src)) = (
        dst.into_dimensionality::<D>(),
        src.into_dimensionality::<D>(),
    ) else {
        return;
    };
    let last = Axis(dst.ndim() - 1);
    for (mut d, s) in dst.lanes_mut(last).into_iter().zip(src.lanes(last)) {
        match (d.as_slice_mut(), s.as_slice()) {
            (Some(d), Some(s)) => d.clone_from_slice(s),
            _ => d.assign(&s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn, Slice};
    use proptest::prelude::*;

    fn arr(shape: &[usize]) -> ArrayD<u32> {
        let mut k = 0u32;
        ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            k += 1;
            k
        })
    }

    proptest! {
        #[test]
        fn equals_assign(
            shape in proptest::collection::vec(1usize..7, 1..6),
            cuts in proptest::collection::vec((0usize..7, 0usize..7), 6),
            transpose in any::<bool>(),
        ) {
            let src = arr(&shape);
            let regions: Vec<std::ops::Range<usize>> = shape
                .iter()
                .zip(&cuts)
                .map(|(&n, &(a, b))| {
                    let (a, b) = (a % n, b % n);
                    a.min(b)..a.max(b) + 1
                })
                .collect();
            let mut view = src.slice_each_axis(|ax| Slice::from(regions[ax.axis.index()].clone()));
            if transpose {
                view = view.reversed_axes();
            }
            let mut want = ArrayD::zeros(IxDyn(view.shape()));
            want.assign(&view);
            let mut got = ArrayD::zeros(IxDyn(view.shape()));
            copy_block(got.view_mut(), view.clone()).unwrap();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(owned_copy(view.clone()), want.clone());
            // Into a strided destination.
            let big: Vec<usize> = view.shape().iter().map(|n| n + 2).collect();
            let mut dst = ArrayD::zeros(IxDyn(&big));
            let inner: Vec<std::ops::Range<usize>> = view.shape().iter().map(|&n| 1..n + 1).collect();
            copy_block(
                dst.slice_each_axis_mut(|ax| Slice::from(inner[ax.axis.index()].clone())),
                view.clone(),
            )
            .unwrap();
            let back = dst.slice_each_axis(|ax| Slice::from(inner[ax.axis.index()].clone()));
            prop_assert_eq!(back, want.view());
            prop_assert_eq!(dst.iter().filter(|&&x| x == 0).count(), dst.len() - want.len());
        }
    }

    #[test]
    fn large_parallel_copy() {
        let src = arr(&[300, 40, 28]);
        let view = src.slice_each_axis(|ax| match ax.axis.index() {
            2 => Slice::from(7..14),
            _ => Slice::from(..),
        });
        let got = owned_copy(view.clone());
        assert_eq!(got, view);
        assert!(got.is_standard_layout());
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let src = arr(&[2, 3]);
        let mut dst = ArrayD::<u32>::zeros(IxDyn(&[3, 2]));
        assert!(copy_block(dst.view_mut(), src.view()).is_err());
    }
}
