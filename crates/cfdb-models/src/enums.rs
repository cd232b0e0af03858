//! The string enumerations of the system metadata.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelsError;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order Python declares them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored strings, in the order of [`ALL`](Self::ALL).
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The string stored in the metadata.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses a stored string exactly (case-sensitive); `path` is used in the error.
            pub(crate) fn parse_at(s: &str, path: &str) -> Result<Self, ModelsError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ModelsError::UnknownVariant {
                        path: path.to_owned(),
                        value: s.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ModelsError;

            /// Exact, case-sensitive match of the stored string.
            fn from_str(s: &str) -> Result<Self, ModelsError> {
                Self::parse_at(s, "$")
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum! {
    /// The dataset type (`dataset_type`), which fixes the dimensional layout.
    DatasetType {
        /// `"grid"`: (x, y, time) gridded fields.
        Grid => "grid",
        /// `"ts_ortho"`: (point, time) station time series.
        TsOrtho => "ts_ortho",
        /// `"ts_forecast"`: (point, forecast_reference_time, forecast_period).
        TsForecast => "ts_forecast",
        /// `"grid_forecast"`: (x, y, forecast_reference_time, forecast_period).
        GridForecast => "grid_forecast",
    }
}

string_enum! {
    /// The chunk compression of a dataset (`compression`, `cfdb-format.md` §5.3).
    Compression {
        /// `"zstd"`: one Zstandard frame.
        Zstd => "zstd",
        /// `"lz4"`: one LZ4 frame.
        Lz4 => "lz4",
        /// `"zstd_shuffle"`: byte shuffle, then Zstandard.
        ZstdShuffle => "zstd_shuffle",
        /// `"lz4_shuffle"`: byte shuffle, then LZ4.
        Lz4Shuffle => "lz4_shuffle",
    }
}

string_enum! {
    /// The axis a coordinate represents (`axis`).
    Axis {
        /// `"x"`.
        X => "x",
        /// `"y"`.
        Y => "y",
        /// `"z"`.
        Z => "z",
        /// `"t"`.
        T => "t",
        /// `"xy"` (point geometries).
        Xy => "xy",
        /// `"xyz"`.
        Xyz => "xyz",
    }
}

impl Compression {
    /// Whether chunks are byte-shuffled before compression.
    pub const fn is_shuffle(self) -> bool {
        matches!(self, Compression::ZstdShuffle | Compression::Lz4Shuffle)
    }

    /// Whether the codec is Zstandard (otherwise LZ4).
    pub const fn is_zstd(self) -> bool {
        matches!(self, Compression::Zstd | Compression::ZstdShuffle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (v, n) in DatasetType::ALL.iter().zip(DatasetType::NAMES) {
            assert_eq!(v.as_str(), *n);
            assert_eq!(n.parse::<DatasetType>().unwrap(), *v);
        }
        for (v, n) in Compression::ALL.iter().zip(Compression::NAMES) {
            assert_eq!(n.parse::<Compression>().unwrap(), *v);
        }
        for (v, n) in Axis::ALL.iter().zip(Axis::NAMES) {
            assert_eq!(n.parse::<Axis>().unwrap(), *v);
            assert_eq!(v.to_string(), *n);
        }
        assert!("Grid".parse::<DatasetType>().is_err());
        assert!("X".parse::<Axis>().is_err());
        assert!(Compression::Lz4Shuffle.is_shuffle() && !Compression::Lz4Shuffle.is_zstd());
        assert!(Compression::Zstd.is_zstd() && !Compression::Zstd.is_shuffle());
    }

    #[test]
    fn serde() {
        assert_eq!(serde_json::to_string(&Axis::Xyz).unwrap(), r#""xyz""#);
        let c: Compression = serde_json::from_str(r#""zstd_shuffle""#).unwrap();
        assert_eq!(c, Compression::ZstdShuffle);
        assert!(serde_json::from_str::<Compression>(r#""brotli""#).is_err());
    }
}
