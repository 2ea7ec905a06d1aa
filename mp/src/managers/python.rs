//! CPython's manager protocol: an mp server answers CPython clients, and an mp client uses
//! a CPython server.
//!
//! CPython's managers send pickles of `(ident, methodname, args, kwds)` and reply with
//! `(kind, result)` pairs (`'#RETURN'`, `'#ERROR'`, `'#TRACEBACK'`, `'#PROXY'`). mp's own
//! messages start with a tag byte below 16; a pickle starts with its `PROTO` opcode, 0x80.
//! So a server tells the two apart on every message, and a client finds out which server
//! it talks to from the first reply it gets. What crosses is plain data ([`super::pickle`]);
//! see `docs/design/managers.md`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::pickle::{Py, dumps, loads};
use super::protocol::{Reply, Request};
use super::proxy::Token;
use super::value::{Dict, ProxyRef, Slice, Value};
use crate::connection::{Address, Client, Connection};
use crate::error::{Error, ErrorKind, Result};

/// Whether a message is a pickle (CPython's protocol) rather than one of mp's.
pub(crate) fn is_pickle(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x80)
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A token as CPython's `Token(typeid, address, id)`; ids travel as hex strings, as
/// CPython's server makes them (`'%x' % id(obj)`).
pub(crate) fn token_py(t: &Token) -> Py {
    Py::Token(Box::new((
        Py::Str(t.typeid.clone()),
        address_py(&t.address),
        Py::Str(format!("{:x}", t.id)),
    )))
}

fn address_py(a: &Address) -> Py {
    match a {
        Address::Tcp(s) => Py::Tuple(vec![Py::Str(s.ip().to_string()), Py::Int(s.port().into())]),
        Address::Unix(p) => Py::Str(p.to_string_lossy().into_owned()),
        Address::Abstract(n) => Py::Str(format!("\0{}", String::from_utf8_lossy(n))),
    }
}

fn address_of(p: &Py) -> Result<Address> {
    match p {
        Py::Tuple(t) if t.len() == 2 => match (&t[0], &t[1]) {
            (Py::Str(host), Py::Int(port)) => {
                let port = u16::try_from(*port).map_err(|_| bad("a port out of range"))?;
                let ip: std::net::IpAddr = match host.as_str() {
                    "localhost" | "" => [127, 0, 0, 1].into(),
                    h => h
                        .parse()
                        .map_err(|_| bad(format!("host '{h}' is not an IP address")))?,
                };
                Ok(Address::Tcp((ip, port).into()))
            }
            _ => Err(bad("a TCP address is not (host, port)")),
        },
        Py::Str(s) => Ok(match s.strip_prefix('\0') {
            Some(n) => Address::Abstract(n.as_bytes().to_vec()),
            None => Address::Unix(s.into()),
        }),
        _ => Err(bad("an address is neither (host, port) nor a path")),
    }
}

/// An object id: CPython's hex string (or an int).
fn id_of(p: &Py) -> Result<u64> {
    match p {
        Py::Str(s) => u64::from_str_radix(s, 16).map_err(|_| bad(format!("'{s}' is not an id"))),
        Py::Int(i) => u64::try_from(*i).map_err(|_| bad("an id out of range")),
        _ => Err(bad("an id is neither a str nor an int")),
    }
}

pub(crate) fn token_of(p: &Py) -> Result<Token> {
    match p {
        Py::Token(t) => Ok(Token {
            typeid: match &t.0 {
                Py::Str(s) => s.clone(),
                _ => return Err(bad("a token's typeid is not a str")),
            },
            address: address_of(&t.1)?,
            id: id_of(&t.2)?,
        }),
        _ => Err(bad("not a Token")),
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Serialization, msg.into())
}

/// The `multiprocessing.managers` class for one of mp's proxy type names.
fn proxy_class(proxytype: &str) -> &'static str {
    super::pickle::PROXY_CLASSES
        .iter()
        .find(|c| **c == proxytype)
        .copied()
        .unwrap_or("AutoProxy")
}

/// How an mp value crosses to Python. `exposed` gives the methods of an object a proxy
/// refers to (sent with an `AutoProxy`, which has no fixed method list).
pub(crate) fn to_py(v: &Value, exposed: &dyn Fn(&Token) -> Option<Vec<String>>) -> Py {
    let many = |items: &[Value]| items.iter().map(|x| to_py(x, exposed)).collect();
    match v {
        Value::None => Py::None,
        Value::Bool(b) => Py::Bool(*b),
        Value::Int(i) => Py::Int(*i),
        Value::Float(f) => Py::Float(*f),
        Value::Str(s) => Py::Str(s.clone()),
        Value::Bytes(b) => Py::Bytes(b.clone()),
        Value::List(l) => Py::List(many(l)),
        Value::Tuple(t) => Py::Tuple(many(t)),
        Value::Set(s) => Py::Set(many(s)),
        Value::Dict(d) => Py::Dict(
            d.iter()
                .map(|(k, x)| (to_py(k, exposed), to_py(x, exposed)))
                .collect(),
        ),
        Value::Slice(s) => {
            let o = |x: Option<i64>| x.map_or(Py::None, |i| Py::Int(i.into()));
            Py::Slice(Box::new((o(s.start), o(s.stop), o(s.step))))
        }
        Value::Proxy(p) => {
            let class = proxy_class(&p.proxytype);
            // Only an AutoProxy has no fixed method list to rebuild with.
            let names = if class == "AutoProxy" {
                exposed(&p.token)
            } else {
                None
            };
            let kwds = match names {
                Some(names) => vec![(
                    Py::Str("exposed".into()),
                    Py::Tuple(names.into_iter().map(Py::Str).collect()),
                )],
                None => Vec::new(),
            };
            Py::Proxy {
                class,
                token: Box::new(token_py(&p.token)),
                kwds,
            }
        }
    }
}

/// How a Python value arrives in mp. Proxies resolve to their objects when the receiver is
/// their server.
pub(crate) fn from_py(p: Py) -> Result<Value> {
    let many = |items: Vec<Py>| items.into_iter().map(from_py).collect::<Result<Vec<_>>>();
    Ok(match p {
        Py::None => Value::None,
        Py::Bool(b) => Value::Bool(b),
        Py::Int(i) => Value::Int(i),
        Py::Float(f) => Value::Float(f),
        Py::Str(s) => Value::Str(s),
        Py::Bytes(b) => Value::Bytes(b),
        Py::List(l) => Value::List(many(l)?),
        Py::Tuple(t) => Value::Tuple(many(t)?),
        Py::Set(s) | Py::FrozenSet(s) => Value::set(many(s)?)?,
        Py::Dict(d) | Py::Namespace(d) => {
            let mut out = Dict::new();
            for (k, x) in d {
                out.insert(from_py(k)?, from_py(x)?)?;
            }
            Value::Dict(out)
        }
        Py::Slice(s) => {
            let o = |x: Py| match x {
                Py::None => Ok(None),
                Py::Int(i) => i64::try_from(i)
                    .map(Some)
                    .map_err(|_| bad("a slice index out of range")),
                _ => Err(bad("a slice index that is not an int")),
            };
            let (a, b, c) = *s;
            Value::Slice(Box::new(Slice {
                start: o(a)?,
                stop: o(b)?,
                step: o(c)?,
            }))
        }
        Py::ManagedValue(v) => from_py(v.1)?,
        Py::Array(_, items) => Value::List(many(items)?),
        Py::Proxy { class, token, .. } => {
            let token = token_of(&token)?;
            let proxytype = if class == "AutoProxy" {
                format!("AutoProxy[{}]", token.typeid)
            } else {
                class.to_owned()
            };
            let keep = super::server::resolve_keep(&token);
            Value::Proxy(ProxyRef {
                token,
                proxytype,
                keep,
            })
        }
        Py::Token(_) => return Err(bad("a bare Token is not a value")),
        Py::Exception { class, .. } => {
            return Err(bad(format!(
                "an exception ({}.{}) is not a value",
                class.0, class.1
            )));
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The Python exception class for an error kind (`None`: reported as `RemoteError`).
fn exception_for(kind: ErrorKind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        ErrorKind::Empty => ("queue", "Empty"),
        ErrorKind::Full => ("queue", "Full"),
        ErrorKind::Key => ("builtins", "KeyError"),
        ErrorKind::Index => ("builtins", "IndexError"),
        ErrorKind::Value => ("builtins", "ValueError"),
        ErrorKind::Type => ("builtins", "TypeError"),
        ErrorKind::Runtime => ("builtins", "RuntimeError"),
        ErrorKind::Assertion => ("builtins", "AssertionError"),
        ErrorKind::StopIteration => ("builtins", "StopIteration"),
        ErrorKind::NotImplemented => ("builtins", "NotImplementedError"),
        ErrorKind::Os => ("builtins", "OSError"),
        ErrorKind::Eof => ("builtins", "EOFError"),
        ErrorKind::BrokenBarrier => ("threading", "BrokenBarrierError"),
        ErrorKind::Timeout => ("multiprocessing.context", "TimeoutError"),
        ErrorKind::Authentication => ("multiprocessing.context", "AuthenticationError"),
        ErrorKind::BufferTooShort => ("multiprocessing.context", "BufferTooShort"),
        _ => return None,
    })
}

fn kind_for(class: (&str, &str)) -> ErrorKind {
    match class.1 {
        "Empty" => ErrorKind::Empty,
        "Full" => ErrorKind::Full,
        "KeyError" => ErrorKind::Key,
        "IndexError" => ErrorKind::Index,
        "ValueError" => ErrorKind::Value,
        "TypeError" | "AttributeError" => ErrorKind::Type,
        "RuntimeError" => ErrorKind::Runtime,
        "AssertionError" => ErrorKind::Assertion,
        "StopIteration" => ErrorKind::StopIteration,
        "NotImplementedError" => ErrorKind::NotImplemented,
        "OSError" => ErrorKind::Os,
        "EOFError" => ErrorKind::Eof,
        "BrokenBarrierError" => ErrorKind::BrokenBarrier,
        "TimeoutError" => ErrorKind::Timeout,
        "AuthenticationError" => ErrorKind::Authentication,
        "BufferTooShort" => ErrorKind::BufferTooShort,
        _ => ErrorKind::Remote,
    }
}

/// A Python exception's message as `str(e)` shows it.
fn message_of(args: &[Py]) -> String {
    let show = |p: &Py| match from_py(p.clone()) {
        Ok(Value::Str(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => format!("{p:?}"),
    };
    match args {
        [] => String::new(),
        [one] => show(one),
        many => many.iter().map(show).collect::<Vec<_>>().join(", "),
    }
}

// ---------------------------------------------------------------------------------------------
// The server side: a CPython client's request
// ---------------------------------------------------------------------------------------------

/// A CPython client's request, as the server's own requests where they match.
pub(crate) enum PyRequest {
    /// A request mp's protocol has.
    Plain(Request),
    /// `create(typeid, *args, **kwds)`, with CPython's calling convention.
    Create {
        typeid: String,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    },
    /// `accept_connection(name)`: the channel's first request.
    Accept,
    /// A method call with keyword arguments: folded by the server, which knows the object.
    Call {
        id: u64,
        method: String,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    },
}

fn kwds_of(p: Py) -> Result<Vec<(String, Value)>> {
    match p {
        Py::Dict(d) => d
            .into_iter()
            .map(|(k, v)| match k {
                Py::Str(k) => Ok((k, from_py(v)?)),
                _ => Err(bad("a keyword that is not a str")),
            })
            .collect(),
        _ => Err(bad("kwds is not a dict")),
    }
}

fn tuple_of(p: Py) -> Result<Vec<Py>> {
    match p {
        Py::Tuple(t) | Py::List(t) => Ok(t),
        _ => Err(bad("args is not a tuple")),
    }
}

/// A pickled tuple of `n` items.
fn tuple_n(bytes: &[u8], n: usize, what: &str) -> Result<Vec<Py>> {
    match loads(bytes)? {
        Py::Tuple(t) if t.len() == n => Ok(t),
        _ => Err(bad(what)),
    }
}

/// Decodes a CPython client's `(ident, methodname, args, kwds)`.
pub(crate) fn decode_request(bytes: &[u8]) -> Result<PyRequest> {
    let mut t = tuple_n(bytes, 4, "a request is not (ident, methodname, args, kwds)")?;
    let kwds = t.pop().unwrap_or(Py::None);
    let args = tuple_of(t.pop().unwrap_or(Py::None))?;
    let Some(Py::Str(method)) = t.pop() else {
        return Err(bad("a method name that is not a str"));
    };
    let ident = t.pop().unwrap_or(Py::None);
    if ident != Py::None {
        let kwds = kwds_of(kwds)?;
        let args = args.into_iter().map(from_py).collect::<Result<Vec<_>>>()?;
        let id = id_of(&ident)?;
        if kwds.is_empty() {
            return Ok(PyRequest::Plain(Request::Call {
                id,
                method,
                args: Value::Tuple(args),
            }));
        }
        return Ok(PyRequest::Call {
            id,
            method,
            args,
            kwds,
        });
    }
    let one_id = |args: &[Py]| match args {
        [x] => id_of(x),
        _ => Err(bad(format!("{method}() takes one id"))),
    };
    Ok(PyRequest::Plain(match method.as_str() {
        "accept_connection" => return Ok(PyRequest::Accept),
        "dummy" => Request::Dummy,
        "incref" => Request::Incref { id: one_id(&args)? },
        "decref" => Request::Decref { id: one_id(&args)? },
        "get_methods" => match args.as_slice() {
            [t] => Request::GetMethods {
                id: token_of(t)?.id,
            },
            _ => return Err(bad("get_methods() takes one token")),
        },
        "number_of_objects" => Request::NumberOfObjects,
        "debug_info" => Request::DebugInfo,
        "shutdown" => Request::Shutdown,
        "create" => {
            let mut a = args.into_iter();
            let Some(Py::Str(typeid)) = a.next() else {
                return Err(bad("create() needs a typeid"));
            };
            return Ok(PyRequest::Create {
                typeid,
                args: a.map(from_py).collect::<Result<_>>()?,
                kwds: kwds_of(kwds)?,
            });
        }
        m => return Err(bad(format!("'{m}' unrecognized"))),
    }))
}

/// Encodes the server's reply for a CPython client. A proxy returned at the top level
/// goes as `'#PROXY'` (the client builds it with its manager's registry and authkey), after
/// `incref` took the reference CPython's client gives back once its proxy exists.
pub(crate) fn encode_reply(
    rep: Reply,
    exposed: &dyn Fn(&Token) -> Option<Vec<String>>,
    incref: &dyn Fn(u64) -> Result<()>,
    namespace: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let s = |x: &str| Py::Str(x.to_owned());
    let msg = match rep {
        Reply::Return(Value::Proxy(p)) if incref(p.token.id).is_ok() => {
            let names = exposed(&p.token).unwrap_or_default();
            Py::Tuple(vec![
                s("#PROXY"),
                Py::Tuple(vec![
                    Py::Tuple(names.into_iter().map(Py::Str).collect()),
                    token_py(&p.token),
                ]),
            ])
        }
        Reply::Return(v) => {
            let v = match to_py(&v, exposed) {
                // `_getvalue()` of a Namespace is a Namespace.
                Py::Dict(d) if namespace == Some("#GETVALUE") => Py::Namespace(d),
                p => p,
            };
            Py::Tuple(vec![s("#RETURN"), v])
        }
        Reply::Created { id, exposed, .. } => Py::Tuple(vec![
            s("#RETURN"),
            Py::Tuple(vec![
                Py::Str(format!("{id:x}")),
                Py::Tuple(exposed.into_iter().map(Py::Str).collect()),
            ]),
        ]),
        // A Namespace's missing attribute.
        Reply::Error {
            kind: ErrorKind::Key,
            message,
        } if namespace.is_some() => Py::Tuple(vec![
            s("#ERROR"),
            Py::Exception {
                class: ("builtins", "AttributeError"),
                args: vec![Py::Str(message)],
            },
        ]),
        Reply::Error { kind, message } => match exception_for(kind) {
            Some(class) => Py::Tuple(vec![
                s("#ERROR"),
                Py::Exception {
                    class,
                    args: if message.is_empty() {
                        vec![]
                    } else {
                        vec![Py::Str(message)]
                    },
                },
            ]),
            None => Py::Tuple(vec![
                s("#TRACEBACK"),
                Py::Str(format!("{kind:?}Error: {message}")),
            ]),
        },
        Reply::Traceback(t) => Py::Tuple(vec![s("#TRACEBACK"), Py::Str(t)]),
        Reply::Welcome { .. } => Py::Tuple(vec![s("#RETURN"), Py::None]),
    };
    dumps(&msg, out)
}

/// The reply to a request that could not be decoded.
pub(crate) fn encode_traceback(text: &str, out: &mut Vec<u8>) {
    let msg = Py::Tuple(vec![Py::Str("#TRACEBACK".into()), Py::Str(text.into())]);
    // Two strings never nest too deeply.
    let _ = dumps(&msg, out);
}

// ---------------------------------------------------------------------------------------------
// Keyword arguments
// ---------------------------------------------------------------------------------------------

/// A parameter's default, for a keyword argument given after a skipped one.
#[derive(Clone, Copy)]
enum Def {
    None,
    True,
    False,
    NegOne,
    Required,
}

/// The parameters of the methods CPython's proxies call with keywords, per referent type.
fn params(type_name: &str, method: &str) -> Option<&'static [(&'static str, Def)]> {
    use Def::*;
    Some(match (type_name, method) {
        ("Queue", "get") => &[("block", True), ("timeout", None)],
        ("Queue", "put") => &[("item", Required), ("block", True), ("timeout", None)],
        ("Lock" | "RLock", "acquire") => &[("blocking", True), ("timeout", NegOne)],
        ("Semaphore" | "BoundedSemaphore", "acquire") => &[("blocking", True), ("timeout", None)],
        ("Semaphore" | "BoundedSemaphore", "release") => &[("n", Required)],
        ("Condition", "acquire") => &[("blocking", True), ("timeout", NegOne)],
        ("Condition" | "Event" | "Barrier", "wait") => &[("timeout", None)],
        ("Condition", "notify") => &[("n", Required)],
        ("dict", "get" | "setdefault") => &[("key", Required), ("default", None)],
        ("dict", "pop") => &[("key", Required), ("default", Required)],
        ("list", "sort") => &[("reverse", False)],
        ("list", "index") => &[("value", Required), ("start", Required), ("stop", Required)],
        ("list", "pop") => &[("index", Required)],
        ("Value", "set") => &[("value", Required)],
        _ => return Option::None,
    })
}

/// Folds keyword arguments into positional ones for a method of a `type_name` object.
///
/// # Errors
///
/// [`ErrorKind::Type`] for a keyword the method does not take (or a required one left out).
pub(crate) fn fold_kwds(
    type_name: &str,
    method: &str,
    mut args: Vec<Value>,
    mut kwds: Vec<(String, Value)>,
) -> Result<Vec<Value>> {
    if type_name == "dict" && method == "update" {
        // `update(other=(), **kw)`: the keywords are items.
        let mut d = match args.pop() {
            Some(Value::Dict(d)) => d,
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::Type,
                    format!(
                        "update() with keywords takes a dict, not {}",
                        other.type_name()
                    ),
                ));
            }
            Option::None => Dict::new(),
        };
        for (k, v) in kwds {
            d.insert(Value::Str(k), v)?;
        }
        args.push(Value::Dict(d));
        return Ok(args);
    }
    if type_name == "list" && method == "sort" {
        // A key function cannot cross; `key=None` is the default.
        if let Some(i) = kwds.iter().position(|(k, _)| k == "key") {
            if kwds[i].1 != Value::None {
                return Err(Error::new(
                    ErrorKind::Type,
                    "sort(key=...) of a managed list: a key function cannot cross to the \
                     manager",
                ));
            }
            kwds.remove(i);
        }
    }
    if kwds.is_empty() {
        return Ok(args);
    }
    let Some(ps) = params(type_name, method) else {
        let (k, _) = &kwds[0];
        return Err(Error::new(
            ErrorKind::Type,
            format!("{method}() got an unexpected keyword argument '{k}'"),
        ));
    };
    for (k, _) in &kwds {
        let i = ps.iter().position(|(n, _)| n == k).ok_or_else(|| {
            Error::new(
                ErrorKind::Type,
                format!("{method}() got an unexpected keyword argument '{k}'"),
            )
        })?;
        if i < args.len() {
            return Err(Error::new(
                ErrorKind::Type,
                format!("{method}() got multiple values for argument '{k}'"),
            ));
        }
    }
    let last = kwds
        .iter()
        .filter_map(|(k, _)| ps.iter().position(|(n, _)| n == k))
        .max()
        .unwrap_or(0);
    for (name, def) in &ps[args.len()..=last] {
        let given = kwds.iter().position(|(k, _)| k == name);
        let v = match (given, def) {
            (Some(i), _) => kwds.swap_remove(i).1,
            (Option::None, Def::None) => Value::None,
            (Option::None, Def::True) => Value::Bool(true),
            (Option::None, Def::False) => Value::Bool(false),
            (Option::None, Def::NegOne) => Value::Int(-1),
            (Option::None, Def::Required) => {
                return Err(Error::new(
                    ErrorKind::Type,
                    format!("{method}() missing argument '{name}'"),
                ));
            }
        };
        args.push(v);
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// The client side: a CPython server
// ---------------------------------------------------------------------------------------------

static PYTHON_SERVERS: Mutex<Option<HashSet<Address>>> = Mutex::new(None);
/// Whether any CPython server is known (so that mp's own calls skip the lock).
static ANY: AtomicBool = AtomicBool::new(false);

/// Whether the manager at `address` is a CPython one (found out on first contact).
pub(crate) fn is_python(address: &Address) -> bool {
    if !ANY.load(Ordering::Relaxed) {
        return false;
    }
    PYTHON_SERVERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|s| s.contains(address))
}

pub(crate) fn mark_python(address: &Address) {
    PYTHON_SERVERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(address.clone());
    ANY.store(true, Ordering::Relaxed);
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn connect(address: &Address, authkey: &[u8], timeout: Duration) -> Result<Connection> {
    match address {
        Address::Tcp(_) => Client::builder(address)
            .authkey(authkey)
            .timeout(Some(timeout))
            .connect(),
        _ => Err(Error::new(
            ErrorKind::Value,
            "a CPython manager is reached over TCP only (mp's Unix-socket managers use \
             SOCK_SEQPACKET, CPython's SOCK_STREAM)",
        )),
    }
}

fn send_py(conn: &Connection, msg: &Py) -> Result<()> {
    let mut buf = Vec::new();
    dumps(msg, &mut buf)?;
    conn.send_bytes(&buf)
}

fn recv_reply(conn: &Connection, timeout: Option<Duration>) -> Result<Reply> {
    if let Some(t) = timeout
        && !conn.poll_timeout(t)?
    {
        return Err(Error::new(
            ErrorKind::Timeout,
            format!("no reply within {t:?}"),
        ));
    }
    decode_reply(&conn.recv_bytes()?)
}

/// Decodes a CPython server's `(kind, result)` as one of mp's replies.
pub(crate) fn decode_reply(bytes: &[u8]) -> Result<Reply> {
    let mut t = tuple_n(bytes, 2, "a reply is not (kind, result)")?;
    let result = t.pop().unwrap_or(Py::None);
    let Some(Py::Str(kind)) = t.pop() else {
        return Err(bad("a reply kind that is not a str"));
    };
    Ok(match (kind.as_str(), result) {
        ("#RETURN", r) => Reply::Return(from_py(r)?),
        ("#ERROR", Py::Exception { class, args }) => Reply::Error {
            kind: kind_for(class),
            message: message_of(&args),
        },
        ("#ERROR", other) => Reply::Error {
            kind: ErrorKind::Remote,
            message: format!("{other:?}"),
        },
        ("#TRACEBACK" | "#UNSERIALIZABLE", Py::Str(t)) => Reply::Traceback(t),
        ("#PROXY", Py::Tuple(t)) if t.len() == 2 => {
            let token = token_of(&t[1])?;
            let proxytype = format!("AutoProxy[{}]", token.typeid);
            PENDING.with(|p| p.borrow_mut().push(token.clone()));
            Reply::Return(Value::Proxy(ProxyRef {
                token,
                proxytype,
                keep: None,
            }))
        }
        (k, _) => return Err(bad(format!("unknown reply kind '{k}'"))),
    })
}

thread_local! {
    /// This thread's method-call channels to CPython servers.
    static CHANNELS: RefCell<Vec<(Address, i32, Connection)>> = const { RefCell::new(Vec::new()) };
    /// References a `'#PROXY'` reply took for this thread, given back once the proxy made
    /// from it holds its own (after this thread's next request).
    static PENDING: RefCell<Vec<Token>> = const { RefCell::new(Vec::new()) };
}

/// One control request on a connection of its own, as CPython's `dispatch` does.
fn control(
    address: &Address,
    authkey: &[u8],
    method: &str,
    args: Vec<Py>,
    kwds: Vec<(Py, Py)>,
    timeout: Option<Duration>,
) -> Result<Reply> {
    let conn = connect(address, authkey, timeout.unwrap_or(TIMEOUT))?;
    send_py(
        &conn,
        &Py::Tuple(vec![
            Py::None,
            Py::Str(method.into()),
            Py::Tuple(args),
            Py::Dict(kwds),
        ]),
    )?;
    recv_reply(&conn, Some(timeout.unwrap_or(TIMEOUT)))
}

fn id_py(id: u64) -> Py {
    Py::Str(format!("{id:x}"))
}

/// The same request in the methods CPython's proxies expose, for the few methods mp's
/// proxies call that CPython's referents lack or do not expose (`list.copy`, `list.clear`).
fn cpython_equivalent(method: &str) -> Option<(&'static str, Value)> {
    let all = Value::Slice(Box::default());
    match method {
        "copy" => Some(("#GETVALUE", Value::Tuple(vec![]))),
        "clear" => Some(("__delitem__", Value::Tuple(vec![all]))),
        _ => None,
    }
}

/// A method call on this thread's channel to a CPython server; a method the server does not
/// expose is retried as its CPython equivalent, if it has one.
fn call(
    address: &Address,
    authkey: &[u8],
    id: u64,
    method: &str,
    args: &Value,
    timeout: Option<Duration>,
) -> Result<Reply> {
    let r = call_once(address, authkey, id, method, args, timeout)?;
    match (&r, cpython_equivalent(method)) {
        (Reply::Traceback(t), Some((m, a))) if t.contains("is not in exposed") => {
            call_once(address, authkey, id, m, &a, timeout)
        }
        _ => Ok(r),
    }
}

fn call_once(
    address: &Address,
    authkey: &[u8],
    id: u64,
    method: &str,
    args: &Value,
    timeout: Option<Duration>,
) -> Result<Reply> {
    let pid = super::proxy::my_pid();
    let cached = CHANNELS
        .try_with(|c| {
            let mut v = c.borrow_mut();
            v.retain(|e| e.1 == pid);
            v.iter()
                .position(|e| e.0 == *address)
                .map(|i| v.swap_remove(i).2)
        })
        .ok()
        .flatten();
    let conn = match cached {
        Some(c) => c,
        None => {
            let c = connect(address, authkey, timeout.unwrap_or(TIMEOUT))?;
            let name = format!(
                "{}|{}",
                crate::current_process().name(),
                std::thread::current().name().unwrap_or("Thread")
            );
            send_py(
                &c,
                &Py::Tuple(vec![
                    Py::None,
                    Py::Str("accept_connection".into()),
                    Py::Tuple(vec![Py::Str(name)]),
                    Py::Dict(vec![]),
                ]),
            )?;
            match recv_reply(&c, Some(timeout.unwrap_or(TIMEOUT)))? {
                Reply::Return(_) => c,
                other => {
                    return Err(super::proxy::reply_value(other)
                        .err()
                        .unwrap_or_else(|| bad("no channel")));
                }
            }
        }
    };
    // An AutoProxy of this server inside the arguments goes with its method names, as
    // CPython's client sends it: a server rebuilding it without them would ask for them on a
    // connection authenticated with its process's own key.
    let exposed = |t: &Token| {
        if t.address != *address {
            return None;
        }
        match control(
            address,
            authkey,
            "get_methods",
            vec![token_py(t)],
            vec![],
            timeout,
        ) {
            Ok(Reply::Return(Value::Tuple(names) | Value::List(names))) => Some(
                names
                    .into_iter()
                    .filter_map(|n| match n {
                        Value::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    };
    let args = match to_py(args, &exposed) {
        Py::Tuple(t) => t,
        Py::None => Vec::new(),
        other => vec![other],
    };
    let msg = Py::Tuple(vec![
        id_py(id),
        Py::Str(method.into()),
        Py::Tuple(args),
        Py::Dict(vec![]),
    ]);
    let mut res = send_py(&conn, &msg).and_then(|_| recv_reply(&conn, timeout));
    // As CPython's client: a '#PROXY' token names the address the call went to.
    if let Ok(Reply::Return(Value::Proxy(p))) = &mut res {
        p.token.address = address.clone();
        PENDING.with(|x| {
            if let Some(t) = x.borrow_mut().last_mut() {
                t.address = address.clone();
            }
        });
    }
    if res.is_ok() {
        let _ = CHANNELS.try_with(|c| c.borrow_mut().push((address.clone(), pid, conn)));
    }
    res
}

/// What [`super::proxy`]'s exchange does for a CPython server: `req` is one of mp's
/// encoded requests, answered the way CPython's client would ask for it.
pub(crate) fn exchange(
    address: &Address,
    authkey: &[u8],
    req: &[u8],
    want: bool,
    timeout: Option<Duration>,
) -> Result<Option<Reply>> {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let r = exchange_one(address, authkey, Request::decode(req)?, timeout);
    // The proxies made from earlier '#PROXY' replies hold their references by now.
    for t in pending {
        let _ = control(
            &t.address,
            authkey,
            "decref",
            vec![id_py(t.id)],
            vec![],
            timeout,
        );
    }
    let r = r?;
    Ok(want.then_some(r))
}

fn exchange_one(
    address: &Address,
    authkey: &[u8],
    req: Request,
    timeout: Option<Duration>,
) -> Result<Reply> {
    let c = |m: &str, args: Vec<Py>| control(address, authkey, m, args, vec![], timeout);
    match req {
        Request::Hello { .. } => Ok(Reply::Welcome {
            address: address.clone(),
        }),
        Request::Dummy => c("dummy", vec![]),
        Request::Call { id, method, args } => call(address, authkey, id, &method, &args, timeout),
        Request::Incref { id } => c("incref", vec![id_py(id)]),
        Request::Decref { id } => c("decref", vec![id_py(id)]),
        Request::IncrefMany { refs } => {
            // All or none, as mp's server does it: what was taken is given back on failure.
            let mut taken = Vec::new();
            for (id, n) in refs {
                for _ in 0..n {
                    match c("incref", vec![id_py(id)]) {
                        Ok(Reply::Return(_)) => taken.push(id),
                        res => {
                            for id in taken {
                                let _ = c("decref", vec![id_py(id)]);
                            }
                            return res;
                        }
                    }
                }
            }
            Ok(Reply::Return(Value::None))
        }
        Request::DecrefMany { refs } => {
            for (id, n) in refs {
                for _ in 0..n {
                    let _ = c("decref", vec![id_py(id)]);
                }
            }
            Ok(Reply::Return(Value::None))
        }
        Request::GetMethods { id } => c(
            "get_methods",
            vec![token_py(&Token {
                typeid: String::new(),
                address: address.clone(),
                id,
            })],
        ),
        Request::NumberOfObjects => c("number_of_objects", vec![]),
        Request::DebugInfo => c("debug_info", vec![]),
        Request::Shutdown => c("shutdown", vec![]),
        Request::Create { typeid, .. } => Err(Error::new(
            ErrorKind::Value,
            format!("create('{typeid}') of a CPython manager goes through `create_python`"),
        )),
        Request::TrackSegment { .. } | Request::ReleaseSegment { .. } | Request::ListSegments => {
            Err(Error::new(
                ErrorKind::NotImplemented,
                "SharedMemoryManager requests to a CPython manager",
            ))
        }
    }
}

/// `create(typeid, *args)` on a CPython server. `args` is the callable's argument tuple as
/// a value; a `Namespace`'s attributes go as keywords, as CPython's `Namespace(**kwds)`
/// takes them.
pub(crate) fn create(
    address: &Address,
    authkey: &[u8],
    typeid: &str,
    args: Value,
    referent: &str,
) -> Result<Reply> {
    let mut args = match args {
        Value::Tuple(t) => t,
        Value::None => Vec::new(),
        other => vec![other],
    };
    let mut kwds = Vec::new();
    if referent == "Namespace"
        && let [Value::List(items)] = args.as_slice()
    {
        for it in items {
            if let Value::Tuple(kv) = it
                && let [k @ Value::Str(_), v] = kv.as_slice()
            {
                kwds.push((to_py(k, &|_| None), to_py(v, &|_| None)));
            }
        }
        args.clear();
    }
    let mut pargs = vec![Py::Str(typeid.into())];
    pargs.extend(args.iter().map(|a| to_py(a, &|_| None)));
    match control(address, authkey, "create", pargs, kwds, None)? {
        Reply::Return(Value::Tuple(t)) if t.len() == 2 => {
            let id = match &t[0] {
                Value::Str(s) => u64::from_str_radix(s, 16).map_err(|_| bad("a bad id"))?,
                Value::Int(i) => u64::try_from(*i).map_err(|_| bad("a bad id"))?,
                _ => return Err(bad("create() returned an id that is not a str")),
            };
            let exposed = match &t[1] {
                Value::Tuple(x) | Value::List(x) => x
                    .iter()
                    .filter_map(|m| match m {
                        Value::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(Reply::Created {
                id,
                typeid: typeid.to_owned(),
                exposed,
                proxytype: format!("AutoProxy[{typeid}]"),
            })
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(k: &str, v: Value) -> (String, Value) {
        (k.to_owned(), v)
    }

    #[test]
    fn keywords_fold_into_positions() {
        let v = Value::from;
        // `q.get(timeout=1)`: `block` takes its default.
        assert_eq!(
            fold_kwds("Queue", "get", vec![], vec![kw("timeout", v(1))]).unwrap(),
            vec![Value::Bool(true), v(1)]
        );
        assert_eq!(
            fold_kwds("Queue", "put", vec![v(5)], vec![kw("timeout", v(2))]).unwrap(),
            vec![v(5), Value::Bool(true), v(2)]
        );
        assert_eq!(
            fold_kwds("Lock", "acquire", vec![], vec![kw("timeout", v(3))]).unwrap(),
            vec![Value::Bool(true), v(3)]
        );
        // `update(other, **kw)`: the keywords are items; `sort(key=None, reverse=True)`.
        let Value::Dict(d) = fold_kwds("dict", "update", vec![], vec![kw("a", v(1))])
            .unwrap()
            .remove(0)
        else {
            panic!("not a dict");
        };
        assert_eq!(d.get(&Value::from("a")), Some(&v(1)));
        assert_eq!(
            fold_kwds(
                "list",
                "sort",
                vec![],
                vec![kw("key", Value::None), kw("reverse", Value::Bool(true))]
            )
            .unwrap(),
            vec![Value::Bool(true)]
        );
        // No keywords: the arguments as they are, whatever the method.
        assert_eq!(
            fold_kwds("Foo", "bar", vec![v(1)], vec![]).unwrap(),
            vec![v(1)]
        );
        // A large set is hashed, not compared pairwise (a peer's 200k items stay fast).
        let many = Value::set(
            (0..200_000)
                .map(Value::from)
                .chain((0..10).map(Value::from)),
        );
        assert!(matches!(many.unwrap(), Value::Set(s) if s.len() == 200_000));
        // Errors are TypeErrors, as in Python.
        for (t, m, args, kwds) in [
            ("Queue", "get", vec![], vec![kw("foo", v(1))]),
            (
                "Queue",
                "get",
                vec![Value::Bool(false)],
                vec![kw("block", v(1))],
            ),
            ("dict", "pop", vec![], vec![kw("default", v(1))]),
            ("list", "sort", vec![], vec![kw("key", v(1))]),
            ("Event", "set", vec![], vec![kw("x", v(1))]),
        ] {
            let e = fold_kwds(t, m, args, kwds).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Type, "{t}.{m}: {e}");
        }
    }

    #[test]
    fn plain_values_cross_unchanged() {
        let values = [
            Value::None,
            Value::Bool(true),
            Value::Int(-(1 << 100)),
            Value::Float(0.25),
            Value::from("é"),
            Value::Bytes(vec![0, 255]),
            Value::List(vec![Value::from(1), Value::Tuple(vec![])]),
            Value::set([Value::from(1), Value::from("x")]).unwrap(),
            Value::slice(1, -1),
        ];
        for v in values {
            let mut b = Vec::new();
            dumps(&to_py(&v, &|_| None), &mut b).unwrap();
            assert_eq!(from_py(loads(&b).unwrap()).unwrap(), v);
        }
        let mut d = Dict::new();
        d.insert(Value::from("k"), Value::from(2)).unwrap();
        let mut b = Vec::new();
        dumps(&to_py(&Value::Dict(d.clone()), &|_| None), &mut b).unwrap();
        assert_eq!(from_py(loads(&b).unwrap()).unwrap(), Value::Dict(d));
    }

    #[test]
    fn tokens_and_addresses_cross() {
        let t = Token {
            typeid: "Queue".into(),
            address: Address::Tcp(([127, 0, 0, 1], 5000).into()),
            id: 0x7f12_ab00,
        };
        assert_eq!(token_of(&token_py(&t)).unwrap(), t);
        // CPython's abstract Unix names start with a NUL.
        let a = Address::Abstract(b"mp-x".to_vec());
        assert_eq!(address_of(&address_py(&a)).unwrap(), a);
        assert!(id_of(&Py::Str("not hex".into())).is_err());
        assert_eq!(id_of(&Py::Str("ff".into())).unwrap(), 255);
    }
}
