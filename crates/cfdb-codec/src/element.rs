//! Native element types ([`Element`]) and the runtime-typed [`ArrayData`].

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

use crate::dtype::{ElementKind, IntType};
use crate::error::{CodecError, Result};

/// A numpy `datetime64` value: signed 64-bit ticks since 1970-01-01T00:00 in the unit carried by
/// the variable's [`crate::DataType`]; [`Datetime64::NAT`] (`i64::MIN`) is not-a-time.
///
/// ```
/// use cfdb_codec::Datetime64;
/// assert!(Datetime64::NAT.is_nat());
/// assert_eq!(Datetime64(18262).ticks(), Some(18262));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Datetime64(pub i64);

impl Datetime64 {
    /// Not-a-time.
    pub const NAT: Datetime64 = Datetime64(i64::MIN);

    /// Whether this is NaT.
    pub const fn is_nat(self) -> bool {
        self.0 == i64::MIN
    }

    /// The ticks, or `None` for NaT.
    pub const fn ticks(self) -> Option<i64> {
        if self.is_nat() { None } else { Some(self.0) }
    }
}

impl Default for Datetime64 {
    /// NaT, the blank of datetime variables.
    fn default() -> Self {
        Datetime64::NAT
    }
}

/// One geometry cell: its WKT text exactly as stored (`None` = missing).
///
/// Keeping the text (rather than only a parsed geometry) makes re-encoding a decoded chunk
/// byte-identical. [`WktGeometry::to_geo`] parses it into `geo-types`, and
/// [`WktGeometry::from_geo`] formats a geometry the way cfdb's GEOS writer does.
///
/// ```
/// use cfdb_codec::WktGeometry;
/// let g = WktGeometry(Some("POINT (172.63623 -43.53205)".to_owned()));
/// let geo = g.to_geo().unwrap().unwrap();
/// assert_eq!(WktGeometry::from_geo(&geo, 5), g);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WktGeometry(pub Option<String>);

impl WktGeometry {
    /// Parses the WKT (`Ok(None)` when missing).
    pub fn to_geo(&self) -> Result<Option<geo_types::Geometry<f64>>> {
        match &self.0 {
            None => Ok(None),
            Some(text) => crate::wkt_fmt::parse_wkt(text).map(Some),
        }
    }

    /// Formats a geometry as GEOS would with `rounding_precision = precision`, trimmed.
    pub fn from_geo(geom: &geo_types::Geometry<f64>, precision: i64) -> WktGeometry {
        WktGeometry(Some(crate::wkt_fmt::format_wkt(geom, precision)))
    }

    /// The stored text.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// The native element types a decoded chunk can hold; sealed.
///
/// ```
/// use cfdb_codec::{ArrayData, Element, ElementKind};
/// use ndarray::ArrayD;
/// assert_eq!(<f32 as Element>::KIND, ElementKind::F32);
/// let data = f32::wrap(ArrayD::from_elem(vec![2, 2], 1.5f32));
/// assert_eq!(f32::view(&data).unwrap()[[1, 1]], 1.5);
/// ```
pub trait Element: sealed::Sealed + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The element kind.
    const KIND: ElementKind;
    /// The blank of this element (NaN, 0, false, NaT, missing); for packed integers the
    /// blank of a missing chunk is also 0.
    fn blank() -> Self;
    /// A cheap all-zero-bits-ish value used to pre-size output buffers (overwritten).
    #[doc(hidden)]
    fn zero() -> Self;
    /// Wraps an array into [`ArrayData`].
    fn wrap(array: ArrayD<Self>) -> ArrayData;
    /// Borrows the array if `data` holds this element type.
    fn view(data: &ArrayData) -> Option<&ArrayD<Self>>;
    /// Mutably borrows the array if `data` holds this element type.
    fn view_mut(data: &mut ArrayData) -> Option<&mut ArrayD<Self>>;
    /// Unwraps the array, or gives `data` back if it holds another element type.
    fn unwrap(data: ArrayData) -> std::result::Result<ArrayD<Self>, ArrayData>;
    /// Wraps a view into [`ArrayDataView`].
    fn wrap_view(view: ArrayViewD<'_, Self>) -> ArrayDataView<'_>;
    /// The view if `data` holds this element type.
    fn unwrap_view<'a>(data: &ArrayDataView<'a>) -> Option<ArrayViewD<'a, Self>>;
    /// Wraps a mutable view into [`ArrayDataViewMut`].
    fn wrap_view_mut(view: ArrayViewMutD<'_, Self>) -> ArrayDataViewMut<'_>;
    /// The mutable view if `data` holds this element type, else `data` back.
    fn unwrap_view_mut(
        data: ArrayDataViewMut<'_>,
    ) -> std::result::Result<ArrayViewMutD<'_, Self>, ArrayDataViewMut<'_>>;
}

/// A chunk or variable of decoded values, typed at run time.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum ArrayData {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
    DateTime(ArrayD<Datetime64>),
    Str(ArrayD<Option<String>>),
    Geometry(ArrayD<WktGeometry>),
}

/// A borrowed, possibly strided view of a chunk or variable, typed at run time: the view
/// counterpart of [`ArrayData`] (what [`crate::ChunkCodec::encode_view`] takes).
///
/// ```
/// use cfdb_codec::{ArrayData, ArrayDataView, ElementKind};
/// use ndarray::ArrayD;
/// let data = ArrayData::I16(ArrayD::zeros(vec![3, 4]));
/// let v = data.view();
/// assert_eq!(v.kind(), ElementKind::Int(cfdb_codec::IntType::I16));
/// assert_eq!(v.shape(), &[3, 4]);
/// assert!(matches!(v, ArrayDataView::I16(_)));
/// ```
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum ArrayDataView<'a> {
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    I8(ArrayViewD<'a, i8>),
    I16(ArrayViewD<'a, i16>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    U8(ArrayViewD<'a, u8>),
    U16(ArrayViewD<'a, u16>),
    U32(ArrayViewD<'a, u32>),
    U64(ArrayViewD<'a, u64>),
    Bool(ArrayViewD<'a, bool>),
    DateTime(ArrayViewD<'a, Datetime64>),
    Str(ArrayViewD<'a, Option<String>>),
    Geometry(ArrayViewD<'a, WktGeometry>),
}

/// A mutable view of decoded values, typed at run time: where a decode writes straight into a
/// caller's array (see [`ChunkCodec::decode_region_into`](crate::ChunkCodec::decode_region_into)).
#[derive(Debug)]
#[allow(missing_docs)]
pub enum ArrayDataViewMut<'a> {
    F32(ArrayViewMutD<'a, f32>),
    F64(ArrayViewMutD<'a, f64>),
    I8(ArrayViewMutD<'a, i8>),
    I16(ArrayViewMutD<'a, i16>),
    I32(ArrayViewMutD<'a, i32>),
    I64(ArrayViewMutD<'a, i64>),
    U8(ArrayViewMutD<'a, u8>),
    U16(ArrayViewMutD<'a, u16>),
    U32(ArrayViewMutD<'a, u32>),
    U64(ArrayViewMutD<'a, u64>),
    Bool(ArrayViewMutD<'a, bool>),
    DateTime(ArrayViewMutD<'a, Datetime64>),
    Str(ArrayViewMutD<'a, Option<String>>),
    Geometry(ArrayViewMutD<'a, WktGeometry>),
}

macro_rules! with_array_data_view_mut {
    ($data:expr, $arr:ident => $body:expr) => {
        match $data {
            ArrayDataViewMut::F32($arr) => $body,
            ArrayDataViewMut::F64($arr) => $body,
            ArrayDataViewMut::I8($arr) => $body,
            ArrayDataViewMut::I16($arr) => $body,
            ArrayDataViewMut::I32($arr) => $body,
            ArrayDataViewMut::I64($arr) => $body,
            ArrayDataViewMut::U8($arr) => $body,
            ArrayDataViewMut::U16($arr) => $body,
            ArrayDataViewMut::U32($arr) => $body,
            ArrayDataViewMut::U64($arr) => $body,
            ArrayDataViewMut::Bool($arr) => $body,
            ArrayDataViewMut::DateTime($arr) => $body,
            ArrayDataViewMut::Str($arr) => $body,
            ArrayDataViewMut::Geometry($arr) => $body,
        }
    };
}

impl<'a> ArrayDataViewMut<'a> {
    /// Wraps a typed mutable view.
    pub fn new<T: Element>(view: ArrayViewMutD<'a, T>) -> ArrayDataViewMut<'a> {
        T::wrap_view_mut(view)
    }

    /// The element kind held.
    pub fn kind(&self) -> ElementKind {
        fn k<T: Element>(_: &ArrayViewMutD<'_, T>) -> ElementKind {
            T::KIND
        }
        with_array_data_view_mut!(self, a => k(a))
    }

    /// The view's shape.
    pub fn shape(&self) -> &[usize] {
        with_array_data_view_mut!(self, a => a.shape())
    }
}

macro_rules! with_array_data_view {
    ($data:expr, $arr:ident => $body:expr) => {
        match $data {
            ArrayDataView::F32($arr) => $body,
            ArrayDataView::F64($arr) => $body,
            ArrayDataView::I8($arr) => $body,
            ArrayDataView::I16($arr) => $body,
            ArrayDataView::I32($arr) => $body,
            ArrayDataView::I64($arr) => $body,
            ArrayDataView::U8($arr) => $body,
            ArrayDataView::U16($arr) => $body,
            ArrayDataView::U32($arr) => $body,
            ArrayDataView::U64($arr) => $body,
            ArrayDataView::Bool($arr) => $body,
            ArrayDataView::DateTime($arr) => $body,
            ArrayDataView::Str($arr) => $body,
            ArrayDataView::Geometry($arr) => $body,
        }
    };
}

impl<'a> ArrayDataView<'a> {
    /// Wraps a typed view.
    pub fn new<T: Element>(view: ArrayViewD<'a, T>) -> ArrayDataView<'a> {
        T::wrap_view(view)
    }

    /// The element kind held.
    pub fn kind(&self) -> ElementKind {
        fn k<T: Element>(_: &ArrayViewD<'_, T>) -> ElementKind {
            T::KIND
        }
        with_array_data_view!(self, a => k(a))
    }

    /// The view's shape.
    pub fn shape(&self) -> &[usize] {
        with_array_data_view!(self, a => a.shape())
    }
}

/// Runs an expression on the typed array inside an [`ArrayData`], whatever its variant.
///
/// `with_array_data!(data, arr => expr)` binds `arr` to the inner `ArrayD<T>` (by value, by
/// reference or mutable reference, following `data`) in every arm.
///
/// ```
/// use cfdb_codec::{with_array_data, ArrayData};
/// use ndarray::ArrayD;
/// let data = ArrayData::I16(ArrayD::zeros(vec![3, 4]));
/// let n = with_array_data!(&data, a => a.len());
/// assert_eq!(n, 12);
/// ```
#[macro_export]
macro_rules! with_array_data {
    ($data:expr, $arr:ident => $body:expr) => {
        match $data {
            $crate::ArrayData::F32($arr) => $body,
            $crate::ArrayData::F64($arr) => $body,
            $crate::ArrayData::I8($arr) => $body,
            $crate::ArrayData::I16($arr) => $body,
            $crate::ArrayData::I32($arr) => $body,
            $crate::ArrayData::I64($arr) => $body,
            $crate::ArrayData::U8($arr) => $body,
            $crate::ArrayData::U16($arr) => $body,
            $crate::ArrayData::U32($arr) => $body,
            $crate::ArrayData::U64($arr) => $body,
            $crate::ArrayData::Bool($arr) => $body,
            $crate::ArrayData::DateTime($arr) => $body,
            $crate::ArrayData::Str($arr) => $body,
            $crate::ArrayData::Geometry($arr) => $body,
        }
    };
}

macro_rules! impl_element {
    ($t:ty, $variant:ident, $kind:expr, $blank:expr, $zero:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const KIND: ElementKind = $kind;
            fn blank() -> Self {
                $blank
            }
            fn zero() -> Self {
                $zero
            }
            fn wrap(array: ArrayD<Self>) -> ArrayData {
                ArrayData::$variant(array)
            }
            fn view(data: &ArrayData) -> Option<&ArrayD<Self>> {
                match data {
                    ArrayData::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn view_mut(data: &mut ArrayData) -> Option<&mut ArrayD<Self>> {
                match data {
                    ArrayData::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn unwrap(data: ArrayData) -> std::result::Result<ArrayD<Self>, ArrayData> {
                match data {
                    ArrayData::$variant(a) => Ok(a),
                    other => Err(other),
                }
            }
            fn wrap_view(view: ArrayViewD<'_, Self>) -> ArrayDataView<'_> {
                ArrayDataView::$variant(view)
            }
            fn unwrap_view<'a>(data: &ArrayDataView<'a>) -> Option<ArrayViewD<'a, Self>> {
                match data {
                    ArrayDataView::$variant(a) => Some(a.clone()),
                    _ => None,
                }
            }
            fn wrap_view_mut(view: ArrayViewMutD<'_, Self>) -> ArrayDataViewMut<'_> {
                ArrayDataViewMut::$variant(view)
            }
            fn unwrap_view_mut(
                data: ArrayDataViewMut<'_>,
            ) -> std::result::Result<ArrayViewMutD<'_, Self>, ArrayDataViewMut<'_>> {
                match data {
                    ArrayDataViewMut::$variant(a) => Ok(a),
                    other => Err(other),
                }
            }
        }
    };
}

impl_element!(f32, F32, ElementKind::F32, f32::NAN, 0.0);
impl_element!(f64, F64, ElementKind::F64, f64::NAN, 0.0);
impl_element!(i8, I8, ElementKind::Int(IntType::I8), 0, 0);
impl_element!(i16, I16, ElementKind::Int(IntType::I16), 0, 0);
impl_element!(i32, I32, ElementKind::Int(IntType::I32), 0, 0);
impl_element!(i64, I64, ElementKind::Int(IntType::I64), 0, 0);
impl_element!(u8, U8, ElementKind::Int(IntType::U8), 0, 0);
impl_element!(u16, U16, ElementKind::Int(IntType::U16), 0, 0);
impl_element!(u32, U32, ElementKind::Int(IntType::U32), 0, 0);
impl_element!(u64, U64, ElementKind::Int(IntType::U64), 0, 0);
impl_element!(bool, Bool, ElementKind::Bool, false, false);
impl_element!(
    Datetime64,
    DateTime,
    ElementKind::DateTime,
    Datetime64::NAT,
    Datetime64(0)
);
impl_element!(Option<String>, Str, ElementKind::Str, None, None);
impl_element!(
    WktGeometry,
    Geometry,
    ElementKind::Geometry,
    WktGeometry(None),
    WktGeometry(None)
);

impl ArrayData {
    /// The element kind held.
    pub fn kind(&self) -> ElementKind {
        fn k<T: Element>(_: &ArrayD<T>) -> ElementKind {
            T::KIND
        }
        with_array_data!(self, a => k(a))
    }

    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        with_array_data!(self, a => a.shape())
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        with_array_data!(self, a => a.len())
    }

    /// Whether the array has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An array of `shape` filled with the blank of `kind` (NaN, 0, false, NaT, missing).
    ///
    /// ```
    /// use cfdb_codec::{ArrayData, ElementKind};
    /// let b = ArrayData::blank(ElementKind::F64, &[2, 3]);
    /// assert!(matches!(b, ArrayData::F64(a) if a.iter().all(|v| v.is_nan())));
    /// ```
    pub fn blank(kind: ElementKind, shape: &[usize]) -> ArrayData {
        fn b<T: Element>(shape: &[usize]) -> ArrayData {
            T::wrap(ArrayD::from_elem(shape.to_vec(), T::blank()))
        }
        match kind {
            ElementKind::F32 => b::<f32>(shape),
            ElementKind::F64 => b::<f64>(shape),
            ElementKind::Int(IntType::I8) => b::<i8>(shape),
            ElementKind::Int(IntType::I16) => b::<i16>(shape),
            ElementKind::Int(IntType::I32) => b::<i32>(shape),
            ElementKind::Int(IntType::I64) => b::<i64>(shape),
            ElementKind::Int(IntType::U8) => b::<u8>(shape),
            ElementKind::Int(IntType::U16) => b::<u16>(shape),
            ElementKind::Int(IntType::U32) => b::<u32>(shape),
            ElementKind::Int(IntType::U64) => b::<u64>(shape),
            ElementKind::Bool => b::<bool>(shape),
            ElementKind::DateTime => b::<Datetime64>(shape),
            ElementKind::Str => b::<Option<String>>(shape),
            ElementKind::Geometry => b::<WktGeometry>(shape),
        }
    }

    /// A view of the whole array.
    pub fn view(&self) -> ArrayDataView<'_> {
        with_array_data!(self, a => Element::wrap_view(a.view()))
    }

    /// Borrows the inner array as `ArrayD<T>`, or a typed error naming both kinds.
    pub fn typed<T: Element>(&self) -> Result<&ArrayD<T>> {
        T::view(self).ok_or_else(|| CodecError::ArrayMismatch {
            expected: T::KIND.to_string(),
            actual: self.kind().to_string(),
        })
    }
}
