//! mp's binary format for serde values: what [`Connection::send`](crate::Connection::send),
//! queues, pools and process starts put on the wire (`docs/design/codec.md`).
//!
//! A compact, non-self-describing format in bincode's family, written for mp so that it can
//! move bulk data at memory speed and refuse a message read as another type:
//!
//! - integers wider than a byte are LEB128 varints (zigzag for signed ones; `usize`/`isize` as
//!   serde gives them, 64 bits), bytes and floats their little-endian bytes, `bool` one byte,
//!   `char` a varint; strings and byte strings a LEB128 length and their bytes; sequences and
//!   maps a 64-bit count and their items; tuples, structs and their fields only their items;
//!   `Option` a tag byte; enum variants a varint index;
//! - a slice or `Vec` of `u8`, `i8`, `f32` or `f64` (whose encoding is their memory) is copied
//!   as one block on both sides, not element by element (serde hands a format each element
//!   separately; mp recognizes these types and copies the whole block);
//! - every message ends with a 32-bit **fingerprint of its shape**: a hash of what the
//!   serializer wrote (each primitive's kind, `Option` and enum tags, struct and enum names
//!   and field counts, sequence and map markers with their first item's shape). The decoder
//!   computes the same hash from what the receiving type asks for, and refuses the message
//!   when the two differ: `send(&299i32)` read as `usize` is an error, not `598`.
//!
//! What the fingerprint does not catch: two types of the same shape (a `u32` newtype and a
//! `u32`, two structs of the same name and field count whose fields have the same kinds),
//! and the element type of an empty sequence or map (only the first item of a sequence is
//! hashed). It is a check against mistakes, not against a forger.
//!
//! Decoding never trusts a length: a count or a string length larger than the bytes left is
//! an error before anything is allocated, and nesting is bounded.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

/// How deep values may nest (sequences, maps, structs, enums, options, newtypes).
const MAX_DEPTH: u32 = 512;

/// The most items a sequence or map may announce beyond the bytes left in the message.
const ZST_ITEMS: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl ser::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError(msg.to_string())
    }
}

impl de::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError(msg.to_string())
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

// ---------------------------------------------------------------------------------------------
// The shape fingerprint
// ---------------------------------------------------------------------------------------------

mod token {
    pub(super) const BOOL: u8 = 1;
    pub(super) const I8: u8 = 2;
    pub(super) const I16: u8 = 3;
    pub(super) const I32: u8 = 4;
    pub(super) const I64: u8 = 5;
    pub(super) const I128: u8 = 6;
    pub(super) const U8: u8 = 7;
    pub(super) const U16: u8 = 8;
    pub(super) const U32: u8 = 9;
    pub(super) const U64: u8 = 10;
    pub(super) const U128: u8 = 11;
    pub(super) const F32: u8 = 12;
    pub(super) const F64: u8 = 13;
    pub(super) const CHAR: u8 = 14;
    pub(super) const STR: u8 = 15;
    pub(super) const BYTES: u8 = 16;
    pub(super) const NONE: u8 = 17;
    pub(super) const SOME: u8 = 18;
    pub(super) const UNIT: u8 = 19;
    pub(super) const UNIT_STRUCT: u8 = 20;
    pub(super) const NEWTYPE: u8 = 21;
    pub(super) const SEQ: u8 = 22;
    pub(super) const TUPLE: u8 = 23;
    pub(super) const TUPLE_STRUCT: u8 = 24;
    pub(super) const MAP: u8 = 25;
    pub(super) const STRUCT: u8 = 26;
    pub(super) const ENUM: u8 = 27;
    pub(super) const UNIT_VARIANT: u8 = 28;
    pub(super) const NEWTYPE_VARIANT: u8 = 29;
    pub(super) const TUPLE_VARIANT: u8 = 30;
}

/// FNV-1a over the shape tokens, silent while `muted` (the items after a sequence's first).
#[derive(Clone, Copy)]
struct Shape {
    hash: u64,
    muted: u32,
}

impl Shape {
    const fn new() -> Shape {
        Shape {
            hash: 0xcbf2_9ce4_8422_2325,
            muted: 0,
        }
    }

    #[inline(always)]
    fn mix(&mut self, t: u8) {
        if self.muted == 0 {
            self.hash = (self.hash ^ u64::from(t)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// A number (a length, a variant index) as one step.
    #[inline(always)]
    fn mix_u64(&mut self, v: u64) {
        if self.muted == 0 {
            self.hash = (self.hash ^ v).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn mix_name(&mut self, name: &str) {
        if self.muted == 0 {
            for &b in name.as_bytes() {
                self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            self.mix(0);
        }
    }

    /// A tuple struct or struct: its kind, name and field count.
    fn named(&mut self, tok: u8, name: &str, len: usize) {
        self.mix(tok);
        self.mix_name(name);
        self.mix_u64(len as u64);
    }

    fn folded(&self) -> u32 {
        (self.hash ^ (self.hash >> 32)) as u32
    }
}

/// The element types whose slices and `Vec`s are copied as one block: those whose encoding is
/// their memory (wider integers are varints, see the module docs).
macro_rules! block_types {
    ($m:ident) => {
        $m!(u8, token::U8);
        $m!(i8, token::I8);
        $m!(f32, token::F32);
        $m!(f64, token::F64);
    };
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Appends the encoding of `value` (and its fingerprint) to `out`.
///
/// # Errors
///
/// What the value's `Serialize` reports (a handle outside an mp transport, a failing custom
/// impl), or a sequence longer than `u64::MAX` items.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let mut enc = Encoder {
        out,
        shape: Shape::new(),
    };
    match value.serialize(&mut enc) {
        Ok(()) => {
            let fp = enc.shape.folded();
            enc.out.extend_from_slice(&fp.to_le_bytes());
            Ok(())
        }
        Err(e) => {
            enc.out.truncate(start);
            Err(e)
        }
    }
}

/// The encoding of `value`.
///
/// # Errors
///
/// As [`encode_into`].
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2... as 0, 1, 2, 3...
#[inline(always)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    shape: Shape,
}

impl Encoder<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// LEB128: seven bits a byte, low groups first.
    #[inline]
    fn put_varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    fn put_varint128(&mut self, mut n: u128) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    fn put_len(&mut self, n: u64) {
        self.put_varint(n);
    }

    fn put_count(&mut self, n: usize) {
        self.put(&(n as u64).to_le_bytes());
    }

    /// A slice of a primitive number behind the iterator `it`, as bytes, with its element's
    /// token and its length.
    #[cfg(target_endian = "little")]
    fn block_of<I: Iterator>(it: &I) -> Option<(&[u8], u8, usize)> {
        let id = typeid::of::<I>();
        macro_rules! try_type {
            ($t:ty, $tok:expr) => {
                if id == typeid::of::<std::slice::Iter<'static, $t>>() {
                    // SAFETY: `I` is `slice::Iter<'_, $t>` (the type ids, which ignore lifetimes,
                    // are equal), so the reference may be read as one.
                    let it = unsafe { &*(it as *const I).cast::<std::slice::Iter<'_, $t>>() };
                    let s = it.as_slice();
                    // SAFETY: a primitive number has no padding and every byte pattern of its
                    // size is some bytes; the length is the slice's size in bytes.
                    let bytes = unsafe {
                        std::slice::from_raw_parts(
                            s.as_ptr().cast::<u8>(),
                            std::mem::size_of_val(s),
                        )
                    };
                    return Some((bytes, $tok, s.len()));
                }
            };
        }
        block_types!(try_type);
        None
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Encoder<'a> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Seq<'b, 'a>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Seq<'b, 'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.shape.mix(token::BOOL);
        self.out.push(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), CodecError> {
        self.shape.mix(token::I8);
        self.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), CodecError> {
        self.shape.mix(token::I16);
        self.put_varint(zigzag(i64::from(v)));
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), CodecError> {
        self.shape.mix(token::I32);
        self.put_varint(zigzag(i64::from(v)));
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), CodecError> {
        self.shape.mix(token::I64);
        self.put_varint(zigzag(v));
        Ok(())
    }

    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), CodecError> {
        self.shape.mix(token::I128);
        self.put_varint128(((v << 1) ^ (v >> 127)) as u128);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), CodecError> {
        self.shape.mix(token::U8);
        self.out.push(v);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), CodecError> {
        self.shape.mix(token::U16);
        self.put_varint(u64::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), CodecError> {
        self.shape.mix(token::U32);
        self.put_varint(u64::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), CodecError> {
        self.shape.mix(token::U64);
        self.put_varint(v);
        Ok(())
    }

    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), CodecError> {
        self.shape.mix(token::U128);
        self.put_varint128(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), CodecError> {
        self.shape.mix(token::F32);
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), CodecError> {
        self.shape.mix(token::F64);
        self.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        self.shape.mix(token::CHAR);
        self.put_varint(u64::from(u32::from(v)));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        self.shape.mix(token::STR);
        self.put_len(v.len() as u64);
        self.put(v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        self.shape.mix(token::BYTES);
        self.put_len(v.len() as u64);
        self.put(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), CodecError> {
        self.shape.mix(token::NONE);
        self.out.push(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), CodecError> {
        self.shape.mix(token::SOME);
        self.out.push(1);
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CodecError> {
        self.shape.mix(token::UNIT);
        Ok(())
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), CodecError> {
        self.shape.mix(token::UNIT_STRUCT);
        self.shape.mix_name(name);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), CodecError> {
        self.variant(name, index, token::UNIT_VARIANT);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<(), CodecError> {
        self.shape.mix(token::NEWTYPE);
        self.shape.mix_name(name);
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
        v: &T,
    ) -> Result<(), CodecError> {
        self.variant(name, index, token::NEWTYPE_VARIANT);
        v.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'b, 'a>, CodecError> {
        Ok(Seq::open(self, token::SEQ, len))
    }

    fn collect_seq<I>(self, iter: I) -> Result<(), CodecError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        let iter = iter.into_iter();
        #[cfg(target_endian = "little")]
        if let Some((bytes, tok, n)) = Encoder::block_of(&iter) {
            self.shape.mix(token::SEQ);
            if n > 0 {
                self.shape.mix(tok);
            }
            self.put_count(n);
            self.put(bytes);
            return Ok(());
        }
        let (lo, hi) = iter.size_hint();
        let mut seq = ser::Serializer::serialize_seq(self, (Some(lo) == hi).then_some(lo))?;
        for item in iter {
            ser::SerializeSeq::serialize_element(&mut seq, &item)?;
        }
        ser::SerializeSeq::end(seq)
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self, CodecError> {
        self.shape.mix(token::TUPLE);
        self.shape.mix_u64(len as u64);
        Ok(self)
    }

    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self, CodecError> {
        self.shape.named(token::TUPLE_STRUCT, name, len);
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<Self, CodecError> {
        self.variant(name, index, token::TUPLE_VARIANT);
        self.shape.mix_u64(len as u64);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, CodecError> {
        self.serialize_tuple_variant(name, index, variant, len)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Seq<'b, 'a>, CodecError> {
        Ok(Seq::open(self, token::MAP, len))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self, CodecError> {
        self.shape.named(token::STRUCT, name, len);
        Ok(self)
    }
}

impl Encoder<'_> {
    fn variant(&mut self, name: &str, index: u32, kind: u8) {
        self.shape.mix(token::ENUM);
        self.shape.mix_name(name);
        self.shape.mix_u64(u64::from(index));
        self.shape.mix(kind);
        self.put_varint(u64::from(index));
    }
}

/// A sequence or map being written: its count is patched in at the end (serde may not know
/// it up front), and the items after the first are left out of the fingerprint.
struct Seq<'b, 'a> {
    enc: &'b mut Encoder<'a>,
    at: usize,
    count: u64,
}

impl<'b, 'a> Seq<'b, 'a> {
    /// Starts a sequence or map (`tok`), with its count to be patched in by [`finish`].
    fn open(enc: &'b mut Encoder<'a>, tok: u8, len: Option<usize>) -> Seq<'b, 'a> {
        enc.shape.mix(tok);
        let at = enc.out.len();
        enc.put_count(len.unwrap_or(0));
        Seq { enc, at, count: 0 }
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CodecError> {
        if self.count == 0 {
            v.serialize(&mut *self.enc)
        } else {
            self.enc.shape.muted += 1;
            let r = v.serialize(&mut *self.enc);
            self.enc.shape.muted -= 1;
            r
        }
    }

    fn finish(self) -> Result<(), CodecError> {
        self.enc.out[self.at..self.at + 8].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_, '_> {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CodecError> {
        self.item(v)?;
        self.count += 1;
        Ok(())
    }

    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

impl ser::SerializeMap for Seq<'_, '_> {
    type Ok = ();
    type Error = CodecError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), CodecError> {
        self.item(k)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CodecError> {
        self.item(v)?;
        self.count += 1;
        Ok(())
    }

    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

macro_rules! fields {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = CodecError;

            #[inline]
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: &'static str,)?
                v: &T,
            ) -> Result<(), CodecError> {
                v.serialize(&mut **self)
            }

            #[inline]
            fn end(self) -> Result<(), CodecError> {
                Ok(())
            }
        }
    };
}

fields!(SerializeTuple, serialize_element);
fields!(SerializeTupleStruct, serialize_field);
fields!(SerializeTupleVariant, serialize_field);
fields!(SerializeStruct, serialize_field, _key);
fields!(SerializeStructVariant, serialize_field, _key);

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes a whole message as a `T`.
///
/// # Errors
///
/// The bytes are not a `T`: too short, malformed, with bytes left over, or encoded from a
/// value of another shape (the fingerprint differs).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let Some(body_len) = bytes.len().checked_sub(4) else {
        return err("the message is shorter than its fingerprint");
    };
    let (body, fp) = bytes.split_at(body_len);
    let mut dec = Decoder {
        input: body,
        shape: Shape::new(),
        depth: 0,
    };
    let value = T::deserialize(&mut dec)?;
    if !dec.input.is_empty() {
        return err(format!("{} trailing bytes", dec.input.len()));
    }
    let want = u32::from_le_bytes([fp[0], fp[1], fp[2], fp[3]]);
    if dec.shape.folded() != want {
        return err(
            "the message was encoded from a value of another type (its shape fingerprint \
             differs): the sender and the receiver disagree on the type",
        );
    }
    Ok(value)
}

struct Decoder<'de> {
    input: &'de [u8],
    shape: Shape,
    depth: u32,
}

impl<'de> Decoder<'de> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8], CodecError> {
        if self.input.len() < n {
            return err("unexpected end of the message");
        }
        let (a, b) = self.input.split_at(n);
        self.input = b;
        Ok(a)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    /// A LEB128 number of at most `bits` bits, in its one encoding (no trailing zero groups).
    #[inline]
    fn varint(&mut self, bits: u32) -> Result<u64, CodecError> {
        let mut n: u64 = 0;
        let mut shift = 0;
        loop {
            let Some((&b, rest)) = self.input.split_first() else {
                return err("unexpected end of the message");
            };
            self.input = rest;
            let group = u64::from(b & 0x7f);
            if shift >= bits || (bits - shift < 7 && group >> (bits - shift) != 0) {
                return err("a number is out of range");
            }
            n |= group << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return err("a number is not in its shortest form");
                }
                return Ok(n);
            }
            shift += 7;
        }
    }

    fn varint128(&mut self) -> Result<u128, CodecError> {
        let mut n: u128 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            let group = u128::from(b & 0x7f);
            if shift >= 128 || (128 - shift < 7 && group >> (128 - shift) != 0) {
                return err("a number is out of range");
            }
            n |= group << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return err("a number is not in its shortest form");
                }
                return Ok(n);
            }
            shift += 7;
        }
    }

    /// A LEB128 length, at most the bytes left.
    fn len(&mut self) -> Result<usize, CodecError> {
        let n = self.varint(64)?;
        self.bounded(n)
    }

    /// A 64-bit item count: at most the bytes left (an item takes a byte or more), or at most
    /// [`ZST_ITEMS`] (items of a zero-sized type, such as the `()` arguments of a pool's
    /// tasks, take none; serde preallocates at most 1 MiB whatever the count).
    fn count(&mut self) -> Result<usize, CodecError> {
        let n = u64::from_le_bytes(self.array()?);
        if n <= ZST_ITEMS {
            return Ok(n as usize);
        }
        self.bounded(n)
    }

    fn bounded(&self, n: u64) -> Result<usize, CodecError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.input.len() => Ok(n),
            _ => err(format!(
                "a length of {n} is more than the {} bytes left in the message",
                self.input.len()
            )),
        }
    }

    #[inline]
    fn enter(&mut self) -> Result<(), CodecError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("the value nests too deeply");
        }
        Ok(())
    }

    #[inline]
    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn str(&mut self) -> Result<&'de str, CodecError> {
        let n = self.len()?;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| CodecError("a string is not UTF-8".into()))
    }

    /// A `Vec` of a primitive number, copied as one block, when `V` builds one.
    #[cfg(target_endian = "little")]
    fn block<V: Visitor<'de>>(&mut self) -> Option<Result<V::Value, CodecError>> {
        let id = typeid::of::<V::Value>();
        macro_rules! try_type {
            ($t:ty, $tok:expr) => {
                if id == typeid::of::<Vec<$t>>() {
                    return Some(self.block_vec::<$t>($tok).map(|v| {
                        let v = std::mem::ManuallyDrop::new(v);
                        // SAFETY: `V::Value` is `Vec<$t>` (equal type ids), so the bits of
                        // one are the other; `v` is not dropped here.
                        unsafe { std::mem::transmute_copy::<Vec<$t>, V::Value>(&*v) }
                    }));
                }
            };
        }
        block_types!(try_type);
        None
    }

    #[cfg(target_endian = "little")]
    fn block_vec<T: Copy>(&mut self, tok: u8) -> Result<Vec<T>, CodecError> {
        self.shape.mix(token::SEQ);
        let n = u64::from_le_bytes(self.array()?);
        let size = std::mem::size_of::<T>();
        let bytes = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(size))
            .filter(|&b| b <= self.input.len())
            .ok_or_else(|| {
                CodecError(format!(
                    "a sequence of {n} items is longer than the message"
                ))
            })?;
        if n > 0 {
            self.shape.mix(tok);
        }
        let src = self.take(bytes)?;
        let n = bytes / size;
        let mut v = Vec::<T>::with_capacity(n);
        // SAFETY: `v` has room for `n` items of `T`, `src` holds `n * size` bytes, and every
        // byte pattern is a valid primitive number `T` (little-endian, as written).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes);
            v.set_len(n);
        }
        Ok(v)
    }
}

/// A number stored as its little-endian bytes (one-byte integers, floats).
macro_rules! number {
    ($method:ident, $visit:ident, $t:ty, $tok:expr) => {
        #[inline]
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
            self.shape.mix($tok);
            v.$visit(<$t>::from_le_bytes(self.array()?))
        }
    };
}

/// An unsigned integer stored as a varint.
macro_rules! unsigned {
    ($method:ident, $visit:ident, $t:ty, $tok:expr) => {
        #[inline]
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
            self.shape.mix($tok);
            v.$visit(self.varint(<$t>::BITS)? as $t)
        }
    };
}

/// A signed integer stored as a zigzag varint.
macro_rules! signed {
    ($method:ident, $visit:ident, $t:ty, $tok:expr) => {
        #[inline]
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
            self.shape.mix($tok);
            v.$visit(unzigzag(self.varint(<$t>::BITS)?) as $t)
        }
    };
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = CodecError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CodecError> {
        err("mp's format is not self-describing: this type cannot be decoded from it")
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::BOOL);
        match self.byte()? {
            0 => v.visit_bool(false),
            1 => v.visit_bool(true),
            b => err(format!("{b} is not a bool")),
        }
    }

    number!(deserialize_i8, visit_i8, i8, token::I8);
    number!(deserialize_u8, visit_u8, u8, token::U8);
    number!(deserialize_f32, visit_f32, f32, token::F32);
    number!(deserialize_f64, visit_f64, f64, token::F64);
    unsigned!(deserialize_u16, visit_u16, u16, token::U16);
    unsigned!(deserialize_u32, visit_u32, u32, token::U32);
    unsigned!(deserialize_u64, visit_u64, u64, token::U64);
    signed!(deserialize_i16, visit_i16, i16, token::I16);
    signed!(deserialize_i32, visit_i32, i32, token::I32);
    signed!(deserialize_i64, visit_i64, i64, token::I64);

    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::U128);
        v.visit_u128(self.varint128()?)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::I128);
        let z = self.varint128()?;
        v.visit_i128(((z >> 1) as i128) ^ -((z & 1) as i128))
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::CHAR);
        let c = self.varint(32)? as u32;
        match char::from_u32(c) {
            Some(c) => v.visit_char(c),
            None => err(format!("{c:#x} is not a char")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::STR);
        v.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::BYTES);
        let n = self.len()?;
        v.visit_borrowed_bytes(self.take(n)?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.deserialize_bytes(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        match self.byte()? {
            0 => {
                self.shape.mix(token::NONE);
                v.visit_none()
            }
            1 => {
                self.shape.mix(token::SOME);
                self.enter()?;
                let r = v.visit_some(&mut *self);
                self.leave();
                r
            }
            b => err(format!("{b} is not an Option tag")),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::UNIT);
        v.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, CodecError> {
        self.shape.mix(token::UNIT_STRUCT);
        self.shape.mix_name(name);
        v.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, CodecError> {
        self.shape.mix(token::NEWTYPE);
        self.shape.mix_name(name);
        self.enter()?;
        let r = v.visit_newtype_struct(&mut *self);
        self.leave();
        r
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        #[cfg(target_endian = "little")]
        if let Some(r) = self.block::<V>() {
            return r;
        }
        self.shape.mix(token::SEQ);
        let n = self.count()?;
        self.enter()?;
        let r = v.visit_seq(Items {
            dec: &mut *self,
            left: n,
            mute_after_first: true,
            first: true,
        });
        self.leave();
        r
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::TUPLE);
        self.shape.mix_u64(len as u64);
        self.fields(len, v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, CodecError> {
        self.shape.named(token::TUPLE_STRUCT, name, len);
        self.fields(len, v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::MAP);
        let n = self.count()?;
        self.enter()?;
        let r = v.visit_map(Items {
            dec: &mut *self,
            left: n,
            mute_after_first: true,
            first: true,
        });
        self.leave();
        r
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CodecError> {
        self.shape.named(token::STRUCT, name, fields.len());
        self.fields(fields.len(), v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CodecError> {
        self.shape.mix(token::ENUM);
        self.shape.mix_name(name);
        self.enter()?;
        let r = v.visit_enum(&mut *self);
        self.leave();
        r
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CodecError> {
        err("mp's format has no identifiers")
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CodecError> {
        err("mp's format is not self-describing: nothing can be skipped")
    }
}

impl<'de> Decoder<'de> {
    /// `len` items of a tuple or struct (each in the fingerprint). No depth count: a tuple or
    /// struct nests only as deep as its type, which is finite; recursion goes through the
    /// sequences, maps, options, newtypes and enums that count.
    #[inline]
    fn fields<V: Visitor<'de>>(&mut self, len: usize, v: V) -> Result<V::Value, CodecError> {
        v.visit_seq(Items {
            dec: &mut *self,
            left: len,
            mute_after_first: false,
            first: true,
        })
    }
}

/// The items of a sequence, map, tuple or struct.
struct Items<'a, 'de> {
    dec: &'a mut Decoder<'de>,
    left: usize,
    mute_after_first: bool,
    first: bool,
}

impl<'de> Items<'_, 'de> {
    #[inline]
    fn item<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, CodecError> {
        let mute = self.mute_after_first && !self.first;
        if mute {
            self.dec.shape.muted += 1;
        }
        let r = seed.deserialize(&mut *self.dec);
        if mute {
            self.dec.shape.muted -= 1;
        }
        r
    }
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = CodecError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let v = self.item(seed)?;
        self.first = false;
        Ok(Some(v))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = CodecError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CodecError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.item(seed).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, CodecError> {
        let v = self.item(seed)?;
        self.first = false;
        Ok(v)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = CodecError;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self), CodecError> {
        let index = self.varint(32)? as u32;
        self.shape.mix_u64(u64::from(index));
        let v = seed.deserialize(index.into_deserializer())?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = CodecError;

    fn unit_variant(self) -> Result<(), CodecError> {
        self.shape.mix(token::UNIT_VARIANT);
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, CodecError> {
        self.shape.mix(token::NEWTYPE_VARIANT);
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, CodecError> {
        self.shape.mix(token::TUPLE_VARIANT);
        self.shape.mix_u64(len as u64);
        self.fields(len, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CodecError> {
        self.tuple_variant(fields.len(), v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn round<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(v: T) {
        let b = encode(&v).unwrap();
        assert_eq!(decode::<T>(&b).unwrap(), v);
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    enum E {
        A,
        B(u8),
        C(i32, String),
        D { x: f64, y: Option<Box<E>> },
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        a: u16,
        b: Vec<u8>,
        c: Vec<String>,
        d: BTreeMap<String, Vec<f64>>,
        e: (char, bool, ()),
        f: Vec<E>,
    }

    #[test]
    fn values_round_trip() {
        round(0u8);
        round(-5i128);
        round(u128::MAX);
        round(f64::NAN.to_bits());
        round("héllo".to_string());
        round(Some(vec![1u32, 2, 3]));
        round(None::<u8>);
        round(vec![Vec::<u8>::new(), vec![1], vec![0; 1000]]);
        round((1u8, -2i16, 3u32, -4i64, 5.5f32, 'x'));
        round(S {
            a: 7,
            b: vec![9; 100],
            c: vec!["x".into(), String::new()],
            d: [("k".to_string(), vec![1.5, -0.0])].into_iter().collect(),
            e: ('é', true, ()),
            f: vec![
                E::A,
                E::B(1),
                E::C(-1, "c".into()),
                E::D {
                    x: 2.0,
                    y: Some(Box::new(E::A)),
                },
            ],
        });
    }

    #[test]
    fn blocks_are_copied_and_equal_the_element_wise_form() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let b = encode(&v).unwrap();
        assert_eq!(b.len(), 8 + 4000 + 4);
        round(v);
        // Wider integers are varints: small ones take a byte.
        let small: Vec<u64> = vec![1; 100];
        assert_eq!(encode(&small).unwrap().len(), 8 + 100 + 4);
        round(vec![u64::MAX, 0, 1 << 35]);
        round(vec![i64::MIN, -1, 0, i64::MAX]);
        round((u16::MAX, i16::MIN, u32::MAX, i32::MIN, u128::MAX, i128::MIN));
        round(vec![-1.25f64; 10_000]);
        round(Vec::<i8>::new());
        // A slice encodes as the Vec it decodes to.
        let s: &[u32] = &[1, 2, 3];
        assert_eq!(decode::<Vec<u32>>(&encode(s).unwrap()).unwrap(), [1, 2, 3]);
        // A VecDeque takes the element-wise path; the bytes are the same.
        let d: std::collections::VecDeque<f64> = [1.0, 2.5, -3.0].into_iter().collect();
        let f: &[f64] = &[1.0, 2.5, -3.0];
        assert_eq!(encode(&d).unwrap(), encode(f).unwrap());
        assert_eq!(
            decode::<std::collections::VecDeque<f64>>(&encode(f).unwrap()).unwrap(),
            d
        );
    }

    #[test]
    fn another_type_is_an_error() {
        let b = encode(&299i32).unwrap();
        assert!(decode::<u32>(&b).is_err());
        assert!(decode::<usize>(&b).is_err());
        assert!(decode::<f32>(&b).is_err());
        assert_eq!(decode::<i32>(&b).unwrap(), 299);
        let b = encode(&vec![1u64]).unwrap();
        assert!(decode::<Vec<i64>>(&b).is_err());
        let b = encode(&(1u8, 2u8)).unwrap();
        assert!(decode::<[u8; 2]>(&b).is_ok()); // the same shape: a 2-tuple of u8
        assert!(decode::<(u8, u8, u8)>(&b).is_err());
        // Strings and their borrowed forms are one shape.
        let b = encode("s").unwrap();
        assert_eq!(decode::<String>(&b).unwrap(), "s");
    }

    #[test]
    fn lying_lengths_and_truncation_are_errors() {
        let b = encode(&vec![7u8; 16]).unwrap();
        for cut in 0..b.len() {
            assert!(decode::<Vec<u8>>(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend([0; 4]);
        assert!(decode::<Vec<u8>>(&huge).is_err());
        assert!(decode::<Vec<String>>(&huge).is_err());
        assert!(decode::<BTreeMap<u8, u8>>(&huge).is_err());
        // Items of a zero-sized type take no bytes: a count beyond the bytes left is fine up
        // to a bound.
        round(vec![(); 1000]);
        let mut many = (1u64 << 21).to_le_bytes().to_vec();
        many.extend([0; 4]);
        assert!(decode::<Vec<()>>(&many).is_err());
        let mut s = vec![0xff; 10];
        s.extend([0; 4]);
        assert!(decode::<String>(&s).is_err());
        assert!(decode::<bool>(&[2, 0, 0, 0, 0]).is_err());
        // One encoding per length: a padded LEB128 is refused.
        let mut padded = vec![0x81, 0x00, b'x'];
        padded.extend(encode("x").unwrap()[2..].iter());
        assert!(decode::<String>(&padded).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        #[derive(serde::Serialize, serde::Deserialize, Debug)]
        struct Node(Option<Box<Node>>);
        let mut bytes = vec![1u8; 100_000];
        bytes.extend([0; 5]);
        assert!(decode::<Node>(&bytes).is_err());
    }
}
