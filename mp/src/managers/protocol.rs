//! The manager protocol: requests and replies, as plain data in CPython's frames.
//!
//! Each message is one [`Connection`](crate::Connection) frame holding a tag byte and fields
//! in a tagged binary form (see `docs/design/managers.md`). Nothing received is ever run:
//! a request names an object by id and a method by name, and the server looks both up in
//! tables it built itself (unlike CPython's pickles). Decoding is total: any byte string
//! gives a request or an error, never a panic, and lengths are checked against the bytes
//! actually received.

use super::value::Value;
use super::value::codec::{Reader, bad, encode_value, put_address, put_bytes, put_str, put_u64};
use crate::connection::Address;
use crate::error::{ErrorKind, Result};

/// What a client asks of a manager's server.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Opens a method-call channel (CPython's `accept_connection`); the reply is
    /// [`Reply::Welcome`].
    Hello {
        /// The address the client connected to (the server then knows the tokens it sends
        /// back under that name as its own).
        address: Address,
    },
    /// Checks that the server is there (CPython's `dummy`, used by `connect()`).
    Dummy,
    /// Calls `method` of object `id` with positional `args` (a tuple).
    Call {
        /// The object.
        id: u64,
        /// The method name.
        method: String,
        /// The arguments, as a `Value::Tuple`.
        args: Value,
    },
    /// Makes a new object of `typeid`: CPython's `create`. The reply's reference belongs to
    /// the proxy the client builds.
    Create {
        /// The registered type.
        typeid: String,
        /// The callable's arguments, encoded by the client with the codec of its types.
        args: Vec<u8>,
        /// The referent type the client's proxy expects (`""`: any).
        referent: String,
    },
    /// Takes one more reference on an object.
    Incref {
        /// The object.
        id: u64,
    },
    /// Drops one reference on an object; answered with `None` once done (CPython's decref
    /// waits for its reply too).
    Decref {
        /// The object.
        id: u64,
    },
    /// The names of the methods exposed for an object.
    GetMethods {
        /// The object.
        id: u64,
    },
    /// How many objects the server holds.
    NumberOfObjects,
    /// A description of the objects the server holds.
    DebugInfo,
    /// Stops the server (after the reply). A SharedMemoryManager's server first unlinks
    /// every segment it tracks.
    Shutdown,
    /// SharedMemoryManager's server only: remember a segment to unlink at shutdown
    /// (CPython's `track_segment`).
    TrackSegment {
        /// The segment's name.
        name: String,
    },
    /// SharedMemoryManager's server only: forget a segment and unlink it now (CPython's
    /// `release_segment`).
    ReleaseSegment {
        /// The segment's name.
        name: String,
    },
    /// SharedMemoryManager's server only: the names of the segments it tracks (CPython's
    /// `list_segments`).
    ListSegments,
    /// Takes `n` more references on each `(id, n)`, all or none: if one object is gone, the
    /// reply is an error and no count changes. What a proxy sent to another process (and a
    /// fork child's inheritance) takes in one round trip per manager.
    IncrefMany {
        /// The objects and how many references to take on each.
        refs: Vec<(u64, u64)>,
    },
    /// Drops `n` references on each `(id, n)`; no reply is sent.
    DecrefMany {
        /// The objects and how many references to drop on each.
        refs: Vec<(u64, u64)>,
    },
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The result (CPython's `#RETURN`).
    Return(Value),
    /// The referent's method failed with an error of this kind (CPython's `#ERROR`).
    Error {
        /// The kind (Python's exception type).
        kind: ErrorKind,
        /// The message.
        message: String,
    },
    /// A new object (the reply to `Create`).
    Created {
        /// Its id.
        id: u64,
        /// Its typeid.
        typeid: String,
        /// The methods its proxies may call.
        exposed: Vec<String>,
        /// The name of its proxy type.
        proxytype: String,
    },
    /// The server failed (CPython's `#TRACEBACK`): a bad request, a panic in a method.
    Traceback(String),
    /// The reply to `Hello`.
    Welcome {
        /// The address the server is bound to.
        address: Address,
    },
}

impl From<crate::Error> for Reply {
    /// A failed request's reply (CPython's `#ERROR`).
    fn from(e: crate::Error) -> Reply {
        Reply::Error {
            kind: e.kind(),
            message: e.message().to_owned(),
        }
    }
}

const R_HELLO: u8 = 0;
const R_DUMMY: u8 = 1;
const R_CALL: u8 = 2;
const R_CREATE: u8 = 3;
const R_INCREF: u8 = 4;
const R_DECREF: u8 = 5;
const R_GET_METHODS: u8 = 6;
const R_NUMBER: u8 = 7;
const R_DEBUG: u8 = 8;
const R_SHUTDOWN: u8 = 9;
const R_TRACK_SEGMENT: u8 = 10;
const R_RELEASE_SEGMENT: u8 = 11;
const R_LIST_SEGMENTS: u8 = 12;
const R_INCREF_MANY: u8 = 13;
const R_DECREF_MANY: u8 = 14;

const A_RETURN: u8 = 0;
const A_ERROR: u8 = 1;
const A_CREATED: u8 = 2;
const A_TRACEBACK: u8 = 3;
const A_WELCOME: u8 = 4;

const KINDS: &[ErrorKind] = &[
    ErrorKind::Value,
    ErrorKind::Runtime,
    ErrorKind::Assertion,
    ErrorKind::Os,
    ErrorKind::Eof,
    ErrorKind::BufferTooShort,
    ErrorKind::Authentication,
    ErrorKind::Timeout,
    ErrorKind::BrokenBarrier,
    ErrorKind::Remote,
    ErrorKind::WorkerLost,
    ErrorKind::OwnerDied,
    ErrorKind::Serialization,
    ErrorKind::ProcessStart,
    ErrorKind::Process,
    ErrorKind::Empty,
    ErrorKind::Full,
    ErrorKind::ShutDown,
    ErrorKind::Key,
    ErrorKind::Index,
    ErrorKind::Type,
    ErrorKind::NotImplemented,
    ErrorKind::StopIteration,
];

fn kind_code(k: ErrorKind) -> u64 {
    KINDS.iter().position(|x| *x == k).unwrap_or(9) as u64
}

fn kind_of(code: u64) -> ErrorKind {
    KINDS
        .get(code as usize)
        .copied()
        .unwrap_or(ErrorKind::Remote)
}

/// Encodes a `Call` request without building it (the arguments stay borrowed).
pub(crate) fn encode_call(buf: &mut Vec<u8>, id: u64, method: &str, args: &Value) -> Result<()> {
    buf.push(R_CALL);
    put_u64(buf, id);
    put_str(buf, method);
    encode_value(args, buf, 0)
}

fn put_refs(buf: &mut Vec<u8>, refs: &[(u64, u64)]) {
    put_u64(buf, refs.len() as u64);
    for &(id, n) in refs {
        put_u64(buf, id);
        put_u64(buf, n);
    }
}

fn read_refs(r: &mut Reader<'_>) -> Result<Vec<(u64, u64)>> {
    // Each pair takes at least two bytes, so the count is bounded by what was received.
    let n = r.len()?;
    let mut refs = Vec::with_capacity(n / 2);
    for _ in 0..n {
        refs.push((r.u64()?, r.u64()?));
    }
    Ok(refs)
}

impl Request {
    /// Appends the encoded request to `buf`.
    ///
    /// # Errors
    ///
    /// A value nested too deeply.
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<()> {
        match self {
            Request::Hello { address } => {
                buf.push(R_HELLO);
                put_address(buf, address);
            }
            Request::Dummy => buf.push(R_DUMMY),
            Request::Call { id, method, args } => {
                buf.push(R_CALL);
                put_u64(buf, *id);
                put_str(buf, method);
                encode_value(args, buf, 0)?;
            }
            Request::Create {
                typeid,
                args,
                referent,
            } => {
                buf.push(R_CREATE);
                put_str(buf, typeid);
                put_bytes(buf, args);
                put_str(buf, referent);
            }
            Request::Incref { id } => {
                buf.push(R_INCREF);
                put_u64(buf, *id);
            }
            Request::Decref { id } => {
                buf.push(R_DECREF);
                put_u64(buf, *id);
            }
            Request::GetMethods { id } => {
                buf.push(R_GET_METHODS);
                put_u64(buf, *id);
            }
            Request::NumberOfObjects => buf.push(R_NUMBER),
            Request::DebugInfo => buf.push(R_DEBUG),
            Request::Shutdown => buf.push(R_SHUTDOWN),
            Request::TrackSegment { name } => {
                buf.push(R_TRACK_SEGMENT);
                put_str(buf, name);
            }
            Request::ReleaseSegment { name } => {
                buf.push(R_RELEASE_SEGMENT);
                put_str(buf, name);
            }
            Request::ListSegments => buf.push(R_LIST_SEGMENTS),
            Request::IncrefMany { refs } => {
                buf.push(R_INCREF_MANY);
                put_refs(buf, refs);
            }
            Request::DecrefMany { refs } => {
                buf.push(R_DECREF_MANY);
                put_refs(buf, refs);
            }
        }
        Ok(())
    }

    /// Decodes a request: the function the server applies to every frame it receives.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] for anything that is not exactly one well-formed
    /// request.
    pub fn decode(bytes: &[u8]) -> Result<Request> {
        let mut r = Reader::new(bytes);
        let req = match r.u8()? {
            R_HELLO => Request::Hello {
                address: r.address()?,
            },
            R_DUMMY => Request::Dummy,
            R_CALL => Request::Call {
                id: r.u64()?,
                method: r.str()?.to_owned(),
                args: r.value(0)?,
            },
            R_CREATE => Request::Create {
                typeid: r.str()?.to_owned(),
                args: r.bytes()?.to_vec(),
                referent: r.str()?.to_owned(),
            },
            R_INCREF => Request::Incref { id: r.u64()? },
            R_DECREF => Request::Decref { id: r.u64()? },
            R_GET_METHODS => Request::GetMethods { id: r.u64()? },
            R_NUMBER => Request::NumberOfObjects,
            R_DEBUG => Request::DebugInfo,
            R_SHUTDOWN => Request::Shutdown,
            R_TRACK_SEGMENT => Request::TrackSegment {
                name: r.str()?.to_owned(),
            },
            R_RELEASE_SEGMENT => Request::ReleaseSegment {
                name: r.str()?.to_owned(),
            },
            R_LIST_SEGMENTS => Request::ListSegments,
            R_INCREF_MANY => Request::IncrefMany {
                refs: read_refs(&mut r)?,
            },
            R_DECREF_MANY => Request::DecrefMany {
                refs: read_refs(&mut r)?,
            },
            t => return Err(bad(format!("unknown request tag {t}"))),
        };
        r.finish()?;
        Ok(req)
    }
}

impl Reply {
    /// Appends the encoded reply to `buf`.
    ///
    /// # Errors
    ///
    /// A value nested too deeply.
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<()> {
        match self {
            Reply::Return(v) => {
                buf.push(A_RETURN);
                encode_value(v, buf, 0)?;
            }
            Reply::Error { kind, message } => {
                buf.push(A_ERROR);
                put_u64(buf, kind_code(*kind));
                put_str(buf, message);
            }
            Reply::Created {
                id,
                typeid,
                exposed,
                proxytype,
            } => {
                buf.push(A_CREATED);
                put_u64(buf, *id);
                put_str(buf, typeid);
                put_u64(buf, exposed.len() as u64);
                for m in exposed {
                    put_str(buf, m);
                }
                put_str(buf, proxytype);
            }
            Reply::Traceback(t) => {
                buf.push(A_TRACEBACK);
                put_str(buf, t);
            }
            Reply::Welcome { address } => {
                buf.push(A_WELCOME);
                put_address(buf, address);
            }
        }
        Ok(())
    }

    /// Decodes a reply.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] for anything that is not exactly one well-formed reply.
    pub fn decode(bytes: &[u8]) -> Result<Reply> {
        let mut r = Reader::new(bytes);
        let rep = match r.u8()? {
            A_RETURN => Reply::Return(r.value(0)?),
            A_ERROR => Reply::Error {
                kind: kind_of(r.u64()?),
                message: r.str()?.to_owned(),
            },
            A_CREATED => {
                let id = r.u64()?;
                let typeid = r.str()?.to_owned();
                let n = r.len()?;
                let mut exposed = Vec::with_capacity(n);
                for _ in 0..n {
                    exposed.push(r.str()?.to_owned());
                }
                Reply::Created {
                    id,
                    typeid,
                    exposed,
                    proxytype: r.str()?.to_owned(),
                }
            }
            A_TRACEBACK => Reply::Traceback(r.str()?.to_owned()),
            A_WELCOME => Reply::Welcome {
                address: r.address()?,
            },
            t => return Err(bad(format!("unknown reply tag {t}"))),
        };
        r.finish()?;
        Ok(rep)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_an_error() {
        let reqs = [
            Request::Hello {
                address: Address::Tcp(([127, 0, 0, 1], 5000).into()),
            },
            Request::Call {
                id: 77,
                method: "append".into(),
                args: Value::from((1, "x", vec![0.5])),
            },
            Request::Create {
                typeid: "dict".into(),
                args: vec![1, 2, 3],
                referent: "dict".into(),
            },
            Request::Decref { id: u64::MAX },
            Request::Shutdown,
            Request::TrackSegment {
                name: "psm_0123abcd".into(),
            },
            Request::ReleaseSegment { name: "x".into() },
            Request::ListSegments,
            Request::IncrefMany {
                refs: vec![(1, 2), (u64::MAX, 1)],
            },
            Request::DecrefMany { refs: vec![] },
            Request::DecrefMany {
                refs: vec![(0x7f00_0000_1234, 1000)],
            },
        ];
        for q in reqs {
            let mut b = Vec::new();
            q.encode(&mut b).unwrap();
            assert_eq!(Request::decode(&b).unwrap(), q);
            for cut in 0..b.len() {
                assert!(Request::decode(&b[..cut]).is_err());
            }
            b.push(0);
            assert!(Request::decode(&b).is_err());
        }
        // A huge length prefix allocates nothing and fails.
        assert!(Request::decode(&[R_CALL, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        // A count of pairs over the bytes left is refused before anything is allocated.
        assert!(Request::decode(&[R_INCREF_MANY, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1]).is_err());
        // Deep nesting is refused, not a stack overflow.
        let mut deep = vec![R_CALL, 1, 0];
        deep.extend(std::iter::repeat_n(7u8, 100_000).flat_map(|t| [t, 1]));
        assert!(Request::decode(&deep).is_err());
    }
}
