//! `from_value`: a [`Value`] into any `Deserialize` type.

use std::cell::RefCell;

use std::sync::Arc;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};

use super::ser_impl::ValueError;
use super::{PROXY_TOKEN, ProxyWire, VALUE_TOKEN, Value};
use crate::error::{Error, ErrorKind, Result};

thread_local! {
    static STASH: RefCell<Option<Value>> = const { RefCell::new(None) };
}

pub(crate) fn take_stash() -> Option<Value> {
    STASH.with(|s| s.borrow_mut().take())
}

/// Converts a [`Value`] into any deserializable type (as `serde_json::from_value` does).
///
/// The reverse of [`to_value`](super::to_value): a `List` or `Tuple` fills a sequence, a
/// tuple or a struct; a `Dict` fills a map or a struct (by field name); `Int` fills any
/// integer type it fits in, and floats; a `Proxy` becomes a working proxy (which takes a
/// reference on its object, see [`ProxyRef`](super::ProxyRef)).
///
/// # Errors
///
/// [`ErrorKind::Type`] when the value does not have the shape of `T` (Python's
/// `TypeError`); errors of the proxy's manager when a proxy cannot be made.
///
/// # Examples
///
/// ```
/// use mp::managers::{from_value, Value};
/// let v = Value::from(vec![(1, "a"), (2, "b")]);
/// let pairs: Vec<(u8, String)> = from_value(v)?;
/// assert_eq!(pairs, [(1, "a".to_string()), (2, "b".to_string())]);
/// assert!(from_value::<u8>(Value::from(300)).is_err());
/// # Ok::<(), mp::Error>(())
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T> {
    T::deserialize(ValueDeserializer(value)).map_err(|e| Error::new(ErrorKind::Type, e.0))
}

pub(crate) struct ValueDeserializer(pub(crate) Value);

type E = ValueError;

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::None => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Int(i) => match i64::try_from(*i) {
            Ok(i) => de::Unexpected::Signed(i),
            Err(_) => de::Unexpected::Other("a large integer"),
        },
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::Str(s) => de::Unexpected::Str(s),
        Value::Bytes(b) => de::Unexpected::Bytes(b),
        Value::List(_) | Value::Tuple(_) | Value::Set(_) => de::Unexpected::Seq,
        Value::Dict(_) => de::Unexpected::Map,
        Value::Proxy(_) => de::Unexpected::Other("a proxy"),
        Value::Slice(_) => de::Unexpected::Other("a slice"),
    }
}

fn proxy_wire_value(p: &super::ProxyRef) -> std::result::Result<Value, E> {
    super::to_value(&ProxyWire::from_ref(p)).map_err(|e| ValueError(e.to_string()))
}

impl<'de> Deserializer<'de> for ValueDeserializer {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        match self.0 {
            Value::None => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Int(i) => {
                if let Ok(i) = i64::try_from(i) {
                    v.visit_i64(i)
                } else if let Ok(u) = u64::try_from(i) {
                    v.visit_u64(u)
                } else if let Ok(u) = u128::try_from(i) {
                    v.visit_u128(u)
                } else {
                    v.visit_i128(i)
                }
            }
            Value::Float(f) => v.visit_f64(f),
            Value::Str(s) => v.visit_string(s),
            Value::Bytes(b) => v.visit_byte_buf(b),
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => visit_seq(items, v),
            Value::Dict(d) => v.visit_map(MapDe {
                iter: d.into_iter(),
                value: None,
            }),
            Value::Proxy(p) => ValueDeserializer(proxy_wire_value(&p)?).deserialize_any(v),
            Value::Slice(sl) => ValueDeserializer(Value::Tuple(
                [sl.start, sl.stop, sl.step]
                    .into_iter()
                    .map(|x| x.map_or(Value::None, |i| Value::Int(i as i128)))
                    .collect(),
            ))
            .deserialize_any(v),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        match self.0 {
            Value::None => v.visit_none(),
            other => v.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        match self.0 {
            Value::None => v.visit_unit(),
            // A struct's `()` field sent as an empty tuple.
            Value::Tuple(t) | Value::List(t) if t.is_empty() => v.visit_unit(),
            other => Err(de::Error::invalid_type(unexpected(&other), &v)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> std::result::Result<V::Value, E> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> std::result::Result<V::Value, E> {
        if name == VALUE_TOKEN {
            STASH.with(|s| *s.borrow_mut() = Some(self.0));
            let r = v.visit_newtype_struct(ValueDeserializer(Value::None));
            STASH.with(|s| s.borrow_mut().take());
            return r;
        }
        if name == PROXY_TOKEN {
            return match self.0 {
                Value::Proxy(p) => match crate::managers::proxy::Local::from_ref(&p) {
                    // An object of this process: it goes to the proxy through a side table
                    // of one, as through an in-process transport.
                    Ok(local) => {
                        let mut w = ProxyWire::from_ref(&p);
                        w.id = 0;
                        let w = super::to_value(&w).map_err(|e| ValueError(e.to_string()))?;
                        crate::space::handle::with_decoding(vec![Arc::new(local)], || {
                            v.visit_newtype_struct(ValueDeserializer(w))
                        })
                    }
                    Err(_) => v.visit_newtype_struct(ValueDeserializer(proxy_wire_value(&p)?)),
                },
                other => Err(de::Error::custom(format!(
                    "expected a proxy, found a {}: {other}",
                    other.type_name()
                ))),
            };
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        match self.0 {
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => visit_seq(items, v),
            Value::Bytes(b) => visit_seq(b.into_iter().map(|x| Value::Int(x as i128)).collect(), v),
            other => Err(de::Error::invalid_type(unexpected(&other), &v)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        v: V,
    ) -> std::result::Result<V::Value, E> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> std::result::Result<V::Value, E> {
        self.deserialize_seq(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        match self.0 {
            Value::Bytes(b) => v.visit_byte_buf(b),
            Value::Str(s) => v.visit_string(s),
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => visit_seq(items, v),
            other => Err(de::Error::invalid_type(unexpected(&other), &v)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        self.deserialize_bytes(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> std::result::Result<V::Value, E> {
        match self.0 {
            Value::Str(s) => v.visit_enum(s.into_deserializer()),
            Value::Dict(d) if d.len() == 1 => {
                let Some((k, content)) = d.into_iter().next() else {
                    return Err(de::Error::custom("empty enum"));
                };
                v.visit_enum(EnumDe { tag: k, content })
            }
            other => Err(de::Error::invalid_type(unexpected(&other), &"an enum")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, E> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        map struct identifier
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Value>, v: V) -> std::result::Result<V::Value, E> {
    let len = items.len();
    let mut seq = SeqDe {
        iter: items.into_iter(),
    };
    let r = v.visit_seq(&mut seq)?;
    if seq.iter.len() != 0 {
        return Err(de::Error::invalid_length(len, &"fewer elements"));
    }
    Ok(r)
}

struct SeqDe {
    iter: std::vec::IntoIter<Value>,
}

impl<'de> SeqAccess<'de> for SeqDe {
    type Error = E;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> std::result::Result<Option<T::Value>, E> {
        match self.iter.next() {
            Some(x) => seed.deserialize(ValueDeserializer(x)).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe {
    iter: indexmap::map::IntoIter<Value, Value>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for MapDe {
    type Error = E;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, E> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ValueDeserializer(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> std::result::Result<T::Value, E> {
        let v = self
            .value
            .take()
            .ok_or_else(|| <E as de::Error>::custom("map value without a key"))?;
        seed.deserialize(ValueDeserializer(v))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct EnumDe {
    tag: Value,
    content: Value,
}

impl<'de> EnumAccess<'de> for EnumDe {
    type Error = E;
    type Variant = VariantDe;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> std::result::Result<(V::Value, VariantDe), E> {
        let tag = seed.deserialize(ValueDeserializer(self.tag))?;
        Ok((tag, VariantDe(self.content)))
    }
}

struct VariantDe(Value);

impl<'de> VariantAccess<'de> for VariantDe {
    type Error = E;
    fn unit_variant(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> std::result::Result<T::Value, E> {
        seed.deserialize(ValueDeserializer(self.0))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> std::result::Result<V::Value, E> {
        ValueDeserializer(self.0).deserialize_seq(v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        v: V,
    ) -> std::result::Result<V::Value, E> {
        ValueDeserializer(self.0).deserialize_any(v)
    }
}
