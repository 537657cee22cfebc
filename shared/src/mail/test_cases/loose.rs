//! Lenient typed readers for report files: a field that is missing, `null` or of another
//! shape than expected reads as absent, so one odd value drops that field, never the case
//! or the file. Only broken JSON (or serde_json's nesting limit of 128, kept on purpose so a
//! hostile nesting cannot overflow the stack) fails a whole file.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::domain::test_case::TestStatus;

/// A scalar field: `Some` only when the JSON value has the expected type.
#[derive(Debug)]
pub(crate) struct Loose<T>(pub(crate) Option<T>);

impl<T> Default for Loose<T> {
    fn default() -> Self {
        Self(None)
    }
}

/// What a [`Loose`] scalar accepts; every other JSON value reads as absent.
pub(crate) trait Scalar: Sized {
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
}

impl Scalar for String {
    fn from_str(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
}

impl Scalar for TestStatus {
    fn from_str(s: &str) -> Option<Self> {
        Some(TestStatus::from_report(s))
    }
}

impl Scalar for bool {
    fn from_bool(b: bool) -> Option<Self> {
        Some(b)
    }
}

impl Scalar for u64 {
    fn from_u64(n: u64) -> Option<Self> {
        Some(n)
    }
    fn from_f64(f: f64) -> Option<Self> {
        // 2^53: beyond it a float no longer holds whole units.
        (0.0..=9_007_199_254_740_992.0)
            .contains(&f)
            .then(|| f.round() as u64)
    }
}

/// The visits of the scalars a container reader does not take: each reads as `$none`.
macro_rules! scalars_read_as {
    ($none:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

/// Reads and drops the rest of a sequence or map (their nesting still counts toward the
/// recursion limit).
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de, T: Scalar> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Scalar> Visitor<'de> for V<T> {
            type Value = Loose<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose(T::from_str(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Loose(T::from_u64(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose(u64::try_from(v).ok().and_then(T::from_u64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Loose(T::from_f64(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Loose(T::from_bool(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|()| Loose(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|()| Loose(None))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field that should be an object of type `T` (whose fields are all lenient): `Some`
/// when it is one.
#[derive(Debug)]
pub(crate) struct Obj<T>(pub(crate) Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|()| Obj(None))
            }
            scalars_read_as!(Obj(None));
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field that should be an array: the first `MAX` elements (each read leniently by `T`),
/// the rest read and dropped; `None` when it is not an array.
#[derive(Debug)]
pub(crate) struct List<T, const MAX: usize>(pub(crate) Option<Vec<T>>);

impl<T, const MAX: usize> Default for List<T, MAX> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T, const MAX: usize> List<T, MAX> {
    pub(crate) fn items(&self) -> &[T] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = List<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while items.len() < MAX {
                    match seq.next_element::<T>()? {
                        Some(item) => {
                            take_entry()?;
                            items.push(item);
                        }
                        None => return Ok(List(Some(items))),
                    }
                }
                drain_seq(seq).map(|()| List(Some(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|()| List(None))
            }
            scalars_read_as!(List(None));
        }
        deserializer.deserialize_any(V::<T, MAX>(PhantomData))
    }
}

/// A field that should be an object of `T`s by key (a key given twice keeps its first
/// value); empty when it is not an object.
#[derive(Debug)]
pub(crate) struct ById<T>(pub(crate) HashMap<String, T>);

impl<T> Default for ById<T> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ById<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ById<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut by_id = HashMap::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    take_entry()?;
                    by_id.entry(key).or_insert(value);
                }
                Ok(ById(by_id))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|()| ById::default())
            }
            scalars_read_as!(ById::default());
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

thread_local! {
    /// Entries [`List`] and [`ById`] may still keep in the parse running on this thread
    /// (`None`: no budget).
    static ENTRIES_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `parse` keeping at most `max` list elements and map entries in [`List`] and
/// [`ById`]: a file of tiny entries (`"a",` is 4 bytes) would otherwise make far more
/// memory than its bytes. Past it the parse fails, naming the budget.
pub(crate) fn with_entry_budget<R>(max: usize, parse: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ENTRIES_LEFT.set(None);
        }
    }
    ENTRIES_LEFT.set(Some(max));
    let _reset = Reset;
    parse()
}

fn take_entry<E: serde::de::Error>() -> Result<(), E> {
    ENTRIES_LEFT.with(|left| match left.get() {
        None => Ok(()),
        Some(0) => Err(E::custom(
            "more entries (groups, leaves and the ids they list) than the reader keeps",
        )),
        Some(n) => {
            left.set(Some(n - 1));
            Ok(())
        }
    })
}
