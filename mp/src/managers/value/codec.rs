//! The binary form of values and of the pieces of manager messages: a tag byte, LEB128
//! varints, length-prefixed strings. Decoding checks every length against the bytes that are
//! left (so a lying length never allocates), and nesting against [`MAX_DEPTH`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::{Dict, MAX_DEPTH, ProxyWire, Slice, Value};
use crate::connection::Address;
use crate::error::{Error, ErrorKind, Result};

const T_NONE: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_INT: u8 = 3;
const T_FLOAT: u8 = 4;
const T_STR: u8 = 5;
const T_BYTES: u8 = 6;
const T_LIST: u8 = 7;
const T_TUPLE: u8 = 8;
const T_DICT: u8 = 9;
const T_PROXY: u8 = 10;
const T_SLICE: u8 = 11;
const T_SET: u8 = 12;

pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::Serialization,
        format!("malformed message: {}", msg.into()),
    )
}

fn too_deep() -> Error {
    Error::new(
        ErrorKind::Value,
        format!("value nests more than {MAX_DEPTH} levels deep"),
    )
}

// ----- writing -----

pub(crate) fn put_u64(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

fn put_u128(buf: &mut Vec<u8>, mut x: u128) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_u64(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_bytes(buf, s.as_bytes());
}

pub(crate) fn put_address(buf: &mut Vec<u8>, a: &Address) {
    match a {
        Address::Unix(p) => {
            buf.push(0);
            put_bytes(buf, p.as_os_str().as_bytes());
        }
        Address::Abstract(n) => {
            buf.push(1);
            put_bytes(buf, n);
        }
        Address::Tcp(sa) => {
            match sa.ip() {
                IpAddr::V4(ip) => {
                    buf.push(2);
                    buf.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    buf.push(3);
                    buf.extend_from_slice(&ip.octets());
                }
            }
            buf.extend_from_slice(&sa.port().to_le_bytes());
        }
    }
}

pub(crate) fn encode_value(v: &Value, buf: &mut Vec<u8>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    match v {
        Value::None => buf.push(T_NONE),
        Value::Bool(false) => buf.push(T_FALSE),
        Value::Bool(true) => buf.push(T_TRUE),
        Value::Int(i) => {
            buf.push(T_INT);
            // Zigzag, so that small negative numbers stay short.
            put_u128(buf, ((*i << 1) ^ (*i >> 127)) as u128);
        }
        Value::Float(f) => {
            buf.push(T_FLOAT);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        Value::Str(s) => {
            buf.push(T_STR);
            put_str(buf, s);
        }
        Value::Bytes(b) => {
            buf.push(T_BYTES);
            put_bytes(buf, b);
        }
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            buf.push(match v {
                Value::List(_) => T_LIST,
                Value::Set(_) => T_SET,
                _ => T_TUPLE,
            });
            put_u64(buf, items.len() as u64);
            for x in items {
                encode_value(x, buf, depth + 1)?;
            }
        }
        Value::Dict(d) => {
            buf.push(T_DICT);
            put_u64(buf, d.len() as u64);
            for (k, x) in d.iter() {
                encode_value(k, buf, depth + 1)?;
                encode_value(x, buf, depth + 1)?;
            }
        }
        Value::Proxy(p) => {
            buf.push(T_PROXY);
            put_str(buf, &p.token.typeid);
            put_address(buf, &p.token.address);
            put_u64(buf, p.token.id);
            put_str(buf, &p.proxytype);
        }
        Value::Slice(sl) => {
            buf.push(T_SLICE);
            for x in [sl.start, sl.stop, sl.step] {
                match x {
                    None => buf.push(0),
                    Some(i) => {
                        buf.push(1);
                        put_u64(buf, ((i << 1) ^ (i >> 63)) as u64);
                    }
                }
            }
        }
    }
    Ok(())
}

// ----- reading -----

/// A cursor over received bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(bad(format!("{} trailing bytes", self.remaining())));
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| bad("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(bad(format!(
                "length {n} is over the {} bytes left",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let mut x: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            x |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    return Err(bad("varint overflows 64 bits"));
                }
                return Ok(x);
            }
        }
        Err(bad("varint too long"))
    }

    fn u128(&mut self) -> Result<u128> {
        let mut x: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.u8()?;
            x |= ((b & 0x7f) as u128) << shift;
            if b & 0x80 == 0 {
                if shift == 126 && b > 3 {
                    return Err(bad("varint overflows 128 bits"));
                }
                return Ok(x);
            }
        }
        Err(bad("varint too long"))
    }

    /// A length that must fit in what is left (each counted item takes at least one byte).
    pub(crate) fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        if n > self.remaining() as u64 {
            return Err(bad(format!(
                "length {n} is over the {} bytes left",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad("a string is not UTF-8"))
    }

    pub(crate) fn address(&mut self) -> Result<Address> {
        Ok(match self.u8()? {
            0 => Address::Unix(PathBuf::from(std::ffi::OsStr::from_bytes(self.bytes()?))),
            1 => Address::Abstract(self.bytes()?.to_vec()),
            2 => {
                let o: [u8; 4] = self.take(4)?.try_into().map_err(|_| bad("address"))?;
                let p: [u8; 2] = self.take(2)?.try_into().map_err(|_| bad("address"))?;
                Address::Tcp(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(o)),
                    u16::from_le_bytes(p),
                ))
            }
            3 => {
                let o: [u8; 16] = self.take(16)?.try_into().map_err(|_| bad("address"))?;
                let p: [u8; 2] = self.take(2)?.try_into().map_err(|_| bad("address"))?;
                Address::Tcp(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(o)),
                    u16::from_le_bytes(p),
                ))
            }
            t => return Err(bad(format!("unknown address kind {t}"))),
        })
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(match self.u8()? {
            T_NONE => Value::None,
            T_FALSE => Value::Bool(false),
            T_TRUE => Value::Bool(true),
            T_INT => {
                let z = self.u128()?;
                Value::Int(((z >> 1) as i128) ^ -((z & 1) as i128))
            }
            T_FLOAT => {
                let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| bad("float"))?;
                Value::Float(f64::from_le_bytes(b))
            }
            T_STR => Value::Str(self.str()?.to_owned()),
            T_BYTES => Value::Bytes(self.bytes()?.to_vec()),
            t @ (T_LIST | T_TUPLE | T_SET) => {
                let n = self.len()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                match t {
                    T_LIST => Value::List(v),
                    T_SET => Value::set(v)?,
                    _ => Value::Tuple(v),
                }
            }
            T_DICT => {
                let n = self.len()?;
                let mut d = Dict::new();
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    d.insert(k, v).map_err(|e| bad(e.message().to_owned()))?;
                }
                Value::Dict(d)
            }
            T_PROXY => {
                let typeid = self.str()?.to_owned();
                let address = self.address()?;
                let id = self.u64()?;
                let proxytype = self.str()?.to_owned();
                Value::Proxy(
                    ProxyWire {
                        typeid,
                        address,
                        id,
                        proxytype,
                        exposed: None,
                        authkey: None,
                        owned: false,
                    }
                    .into_ref(),
                )
            }
            T_SLICE => {
                let mut part = || -> Result<Option<i64>> {
                    Ok(match self.u8()? {
                        0 => None,
                        1 => {
                            let z = self.u64()?;
                            Some(((z >> 1) as i64) ^ -((z & 1) as i64))
                        }
                        t => return Err(bad(format!("bad slice part {t}"))),
                    })
                };
                let (start, stop, step) = (part()?, part()?, part()?);
                Value::Slice(Box::new(Slice { start, stop, step }))
            }
            t => return Err(bad(format!("unknown value tag {t}"))),
        })
    }
}

/// Decodes one value that must use all of `bytes`.
pub(crate) fn decode_value_all(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader::new(bytes);
    let v = r.value(0)?;
    r.finish()?;
    Ok(v)
}
