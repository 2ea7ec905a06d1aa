//! `to_value`: any `Serialize` type into a [`Value`].

use std::fmt;

use serde::ser::{self, Serialize};

use super::{Dict, MAX_DEPTH, PROXY_TOKEN, ProxyWire, VALUE_TOKEN, Value};

thread_local! {
    /// Set by `Value::serialize` around its newtype: the value itself, which `to_value`
    /// clones as it is.
    pub(crate) static SELF_PTR: std::cell::Cell<*const Value> =
        const { std::cell::Cell::new(std::ptr::null()) };
}
use crate::error::{Error, ErrorKind, Result};

/// Converts any serializable value into a [`Value`] (as `serde_json::to_value` does).
///
/// Integers become `Int`, floats `Float`, strings and chars `Str`, `serde_bytes` buffers
/// `Bytes`, sequences `List`, tuples `Tuple`, maps and structs `Dict` (a struct's field
/// names are `str` keys), `None` and `()` become `None`, a unit enum variant its name, other
/// variants `{name: content}`. Proxies become [`Value::Proxy`].
///
/// # Errors
///
/// [`ErrorKind::Serialization`] if the value's `Serialize` fails, an integer is over 127
/// bits, or it nests more than [`MAX_DEPTH`] levels.
///
/// # Examples
///
/// ```
/// use mp::managers::{to_value, Value};
/// #[derive(serde::Serialize)]
/// struct P { x: i32, name: &'static str }
/// assert_eq!(to_value(&P { x: 1, name: "a" })?.to_string(), "{'x': 1, 'name': 'a'}");
/// assert_eq!(to_value(&(1, vec![2.5]))?, Value::from((1, vec![2.5])));
/// # Ok::<(), mp::Error>(())
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    value
        .serialize(ValueSerializer { depth: 0 })
        .map_err(|e| Error::new(ErrorKind::Serialization, e.0))
}

/// The error of the value serializer and deserializer.
#[derive(Debug)]
pub(crate) struct ValueError(pub(crate) String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

impl ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

type R = std::result::Result<Value, ValueError>;

#[derive(Clone, Copy)]
pub(crate) struct ValueSerializer {
    depth: usize,
}

impl ValueSerializer {
    fn inner(self) -> std::result::Result<ValueSerializer, ValueError> {
        if self.depth >= MAX_DEPTH {
            return Err(ValueError(format!(
                "value nests more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(ValueSerializer {
            depth: self.depth + 1,
        })
    }
}

fn variant(name: &str, content: Value) -> Value {
    let mut d = Dict::new();
    d.map.insert(Value::Str(name.to_owned()), content);
    Value::Dict(d)
}

pub(crate) struct SeqSer {
    ser: ValueSerializer,
    items: Vec<Value>,
    tuple: bool,
    variant: Option<&'static str>,
}

impl SeqSer {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> std::result::Result<(), ValueError> {
        self.items.push(v.serialize(self.ser)?);
        Ok(())
    }
    fn done(self) -> R {
        let v = if self.tuple {
            Value::Tuple(self.items)
        } else {
            Value::List(self.items)
        };
        Ok(match self.variant {
            Some(name) => variant(name, v),
            None => v,
        })
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        self.push(v)
    }
    fn end(self) -> R {
        self.done()
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        self.push(v)
    }
    fn end(self) -> R {
        self.done()
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        self.push(v)
    }
    fn end(self) -> R {
        self.done()
    }
}

impl ser::SerializeTupleVariant for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        self.push(v)
    }
    fn end(self) -> R {
        self.done()
    }
}

pub(crate) struct MapSer {
    ser: ValueSerializer,
    dict: Dict,
    key: Option<Value>,
    variant: Option<&'static str>,
}

impl MapSer {
    fn insert(&mut self, k: Value, v: Value) -> std::result::Result<(), ValueError> {
        self.dict
            .insert(k, v)
            .map(|_| ())
            .map_err(|e| ValueError(e.message().to_owned()))
    }
    fn done(self) -> R {
        let v = Value::Dict(self.dict);
        Ok(match self.variant {
            Some(name) => variant(name, v),
            None => v,
        })
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), ValueError> {
        self.key = Some(k.serialize(self.ser)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        let k = self
            .key
            .take()
            .ok_or_else(|| ValueError("map value without a key".into()))?;
        let v = v.serialize(self.ser)?;
        self.insert(k, v)
    }
    fn end(self) -> R {
        self.done()
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        let v = v.serialize(self.ser)?;
        self.insert(Value::Str(key.to_owned()), v)
    }
    fn end(self) -> R {
        self.done()
    }
}

impl ser::SerializeStructVariant for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        let v = v.serialize(self.ser)?;
        self.insert(Value::Str(key.to_owned()), v)
    }
    fn end(self) -> R {
        self.done()
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = SeqSer;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = MapSer;

    fn serialize_bool(self, v: bool) -> R {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_i16(self, v: i16) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_i32(self, v: i32) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_i64(self, v: i64) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_i128(self, v: i128) -> R {
        Ok(Value::Int(v))
    }
    fn serialize_u8(self, v: u8) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_u16(self, v: u16) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_u32(self, v: u32) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_u64(self, v: u64) -> R {
        Ok(Value::Int(v as i128))
    }
    fn serialize_u128(self, v: u128) -> R {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| ValueError(format!("integer {v} is too large for a managed value")))
    }
    fn serialize_f32(self, v: f32) -> R {
        Ok(Value::Float(v as f64))
    }
    fn serialize_f64(self, v: f64) -> R {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> R {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> R {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> R {
        Ok(Value::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(Value::None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        Ok(Value::None)
    }
    fn serialize_unit_variant(self, _name: &'static str, _i: u32, variant: &'static str) -> R {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> R {
        if name == VALUE_TOKEN {
            let p = SELF_PTR.with(|p| p.replace(std::ptr::null()));
            if !p.is_null() {
                // SAFETY: `Value::serialize` set the pointer to `self` just before calling
                // this, and `self` is borrowed for the whole call; it is taken (nulled) here
                // so that it is used once.
                return Ok(unsafe { (*p).clone() });
            }
            return v.serialize(self);
        }
        if name == PROXY_TOKEN {
            let wire_value = v.serialize(self.inner()?)?;
            let wire: ProxyWire = super::from_value(wire_value)
                .map_err(|e| ValueError(format!("malformed proxy: {e}")))?;
            return Ok(Value::Proxy(wire.into_ref()));
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant_name: &'static str,
        v: &T,
    ) -> R {
        Ok(variant(variant_name, v.serialize(self.inner()?)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ValueError> {
        Ok(SeqSer {
            ser: self.inner()?,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            tuple: false,
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ValueError> {
        Ok(SeqSer {
            ser: self.inner()?,
            items: Vec::with_capacity(len.min(4096)),
            tuple: true,
            variant: None,
        })
    }
    fn serialize_tuple_struct(self, _n: &'static str, len: usize) -> Result<SeqSer, ValueError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant_name: &'static str,
        len: usize,
    ) -> Result<SeqSer, ValueError> {
        let mut s = self.serialize_tuple(len)?;
        s.variant = Some(variant_name);
        Ok(s)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer, ValueError> {
        Ok(MapSer {
            ser: self.inner()?,
            dict: Dict::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _n: &'static str, len: usize) -> Result<MapSer, ValueError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant_name: &'static str,
        len: usize,
    ) -> Result<MapSer, ValueError> {
        let mut m = self.serialize_map(Some(len))?;
        m.variant = Some(variant_name);
        Ok(m)
    }
}
