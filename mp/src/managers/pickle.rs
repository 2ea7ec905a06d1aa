//! Python's pickle format, limited to plain data and the few classes CPython's manager
//! protocol sends: what a CPython manager client or server exchanges with mp's.
//!
//! Decoding executes nothing. Only data opcodes are read, and the only names a pickle may
//! refer to are the fixed allow-list of [`Global`]: the manager protocol's `Token`,
//! `RebuildProxy` and proxy classes, `Namespace`, managed `Value`, `array`, `set`, `slice`,
//! and the exception classes a manager reports. Any other name is an error that says which
//! name it was. Lengths are checked against the bytes received before anything is
//! allocated, nesting is bounded, and memo references (which may share one object many
//! times) are bounded by a node budget, so no input makes the decoder allocate without
//! limit, overflow its stack or panic.

use crate::error::{Error, ErrorKind, Result};

/// How deeply a decoded value may nest.
const MAX_DEPTH: usize = 200;

/// A decoded (or to be encoded) pickle: Python's plain data and the protocol's objects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
    Set(Vec<Py>),
    FrozenSet(Vec<Py>),
    /// `slice(start, stop, step)`.
    Slice(Box<(Py, Py, Py)>),
    /// `multiprocessing.managers.Token(typeid, address, id)`.
    Token(Box<(Py, Py, Py)>),
    /// `RebuildProxy(<class>, token, serializer, kwds)`: a proxy inside a message.
    Proxy {
        /// The proxy class's name in `multiprocessing.managers`.
        class: &'static str,
        /// A [`Py::Token`].
        token: Box<Py>,
        /// Its keyword arguments (`exposed` for an `AutoProxy`).
        kwds: Vec<(Py, Py)>,
    },
    /// An exception instance: its class and `args`.
    Exception {
        /// `(module, name)` of its class.
        class: (&'static str, &'static str),
        /// `self.args`.
        args: Vec<Py>,
    },
    /// A `multiprocessing.managers.Namespace` and its attributes.
    Namespace(Vec<(Py, Py)>),
    /// A `multiprocessing.managers.Value`: typecode and value.
    ManagedValue(Box<(Py, Py)>),
    /// An `array.array`: typecode and items.
    Array(String, Vec<Py>),
}

/// The names a pickle may use: everything else is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Global {
    Token,
    RebuildProxy,
    ProxyClass(&'static str),
    Namespace,
    ManagedValue,
    ArrayReconstructor,
    ArrayType,
    Set,
    FrozenSet,
    ByteArray,
    Slice,
    CodecsEncode,
    Exception(&'static str, &'static str),
}

/// The proxy classes of `multiprocessing.managers` a `RebuildProxy` may name.
pub(crate) const PROXY_CLASSES: &[&str] = &[
    "AutoProxy",
    "BaseProxy",
    "ListProxy",
    "BaseListProxy",
    "DictProxy",
    "NamespaceProxy",
    "AcquirerProxy",
    "ConditionProxy",
    "EventProxy",
    "BarrierProxy",
    "ValueProxy",
    "ArrayProxy",
    "IteratorProxy",
    "PoolProxy",
];

/// The exception classes that cross: `(module, name)`.
pub(crate) const EXCEPTIONS: &[(&str, &str)] = &[
    ("queue", "Empty"),
    ("_queue", "Empty"),
    ("queue", "Full"),
    ("builtins", "KeyError"),
    ("builtins", "IndexError"),
    ("builtins", "ValueError"),
    ("builtins", "TypeError"),
    ("builtins", "AttributeError"),
    ("builtins", "RuntimeError"),
    ("builtins", "AssertionError"),
    ("builtins", "StopIteration"),
    ("builtins", "NotImplementedError"),
    ("builtins", "OSError"),
    ("builtins", "EOFError"),
    ("builtins", "TimeoutError"),
    ("builtins", "ZeroDivisionError"),
    ("builtins", "LookupError"),
    ("builtins", "Exception"),
    ("threading", "BrokenBarrierError"),
    ("multiprocessing.managers", "RemoteError"),
    ("multiprocessing.context", "TimeoutError"),
    ("multiprocessing.context", "AuthenticationError"),
    ("multiprocessing.context", "BufferTooShort"),
    ("multiprocessing.context", "ProcessError"),
];

fn global(module: &str, name: &str) -> Result<Global> {
    Ok(match (module, name) {
        ("multiprocessing.managers", "Token") => Global::Token,
        ("multiprocessing.managers", "RebuildProxy") => Global::RebuildProxy,
        ("multiprocessing.managers", "Namespace") => Global::Namespace,
        ("multiprocessing.managers", "Value") => Global::ManagedValue,
        ("multiprocessing.managers", n) if PROXY_CLASSES.contains(&n) => Global::ProxyClass(
            PROXY_CLASSES
                .iter()
                .find(|c| **c == n)
                .copied()
                .unwrap_or(""),
        ),
        ("array", "_array_reconstructor") => Global::ArrayReconstructor,
        ("array", "array") => Global::ArrayType,
        ("builtins", "set") | ("__builtin__", "set") => Global::Set,
        ("builtins", "frozenset") | ("__builtin__", "frozenset") => Global::FrozenSet,
        ("builtins", "bytearray") | ("__builtin__", "bytearray") => Global::ByteArray,
        ("builtins", "slice") | ("__builtin__", "slice") => Global::Slice,
        ("_codecs", "encode") => Global::CodecsEncode,
        _ => match EXCEPTIONS.iter().find(|(m, n)| *m == module && *n == name) {
            Some(&(m, n)) => Global::Exception(m, n),
            None => {
                return Err(bad(format!(
                    "the pickle refers to `{module}.{name}`, which is not plain data: mp \
                     decodes None, bool, int, float, str, bytes, tuple, list, dict, set and \
                     the manager protocol's own classes, and runs no code from a pickle"
                )));
            }
        },
    })
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Serialization, format!("pickle: {}", msg.into()))
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// A node of the object graph being built: containers refer to other nodes by index, so
/// that memo references see later changes (a list memoized empty, then appended to).
#[derive(Debug, Clone)]
enum Node {
    Leaf(Py),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
    FrozenSet(Vec<usize>),
    Global(Global),
    /// `cls.__new__(cls)` of an allow-listed class, before or after `BUILD`.
    New(Global, Option<usize>),
    /// The result of calling an allow-listed global: resolved when converted.
    Call(Global, usize),
}

#[derive(Clone, Copy)]
enum Item {
    Mark,
    Node(usize),
}

struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Item>,
    memo: std::collections::HashMap<u32, usize>,
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() - self.pos < n {
            return Err(bad("truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64> {
        let s = self.take(n)?;
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// A length read from the input, refused if longer than what is left.
    fn len(&mut self, width: usize) -> Result<usize> {
        let n = self.le(width)?;
        if n > (self.b.len() - self.pos) as u64 {
            return Err(bad("a length runs past the end of the data"));
        }
        Ok(n as usize)
    }

    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.b[self.pos..];
        let end = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or_else(|| bad("truncated line"))?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| bad("a name is not UTF-8"))
    }

    fn node(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn push(&mut self, n: Node) {
        let i = self.node(n);
        self.stack.push(Item::Node(i));
    }

    fn pop(&mut self) -> Result<usize> {
        match self.stack.pop() {
            Some(Item::Node(i)) => Ok(i),
            Some(Item::Mark) => Err(bad("unexpected mark")),
            None => Err(bad("stack underflow")),
        }
    }

    fn top(&self) -> Result<usize> {
        match self.stack.last() {
            Some(Item::Node(i)) => Ok(*i),
            _ => Err(bad("stack underflow")),
        }
    }

    /// The items above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<usize>> {
        let at = self
            .stack
            .iter()
            .rposition(|x| matches!(x, Item::Mark))
            .ok_or_else(|| bad("no mark"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|x| match x {
                Item::Node(i) => i,
                Item::Mark => 0,
            })
            .collect())
    }

    fn str(&mut self, n: usize) -> Result<String> {
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad("a str is not UTF-8"))
    }

    fn leaf(&mut self, p: Py) {
        self.push(Node::Leaf(p));
    }

    fn global_name(&self, i: usize) -> Result<&str> {
        match &self.nodes[i] {
            Node::Leaf(Py::Str(s)) => Ok(s),
            _ => Err(bad("a global's name is not a str")),
        }
    }

    fn run(&mut self) -> Result<usize> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(bad(format!("unsupported protocol {v}")));
                    }
                }
                0x95 => {
                    // FRAME: a hint; its contents follow inline.
                    self.le(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Item::Mark),
                b'0' => {
                    self.stack.pop().ok_or_else(|| bad("stack underflow"))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(Item::Node(t));
                }
                b'N' => self.leaf(Py::None),
                0x88 => self.leaf(Py::Bool(true)),
                0x89 => self.leaf(Py::Bool(false)),
                b'J' => {
                    let v = self.le(4)? as u32 as i32;
                    self.leaf(Py::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.leaf(Py::Int(v.into()));
                }
                b'M' => {
                    let v = self.le(2)?;
                    self.leaf(Py::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.len(4)?
                    };
                    let b = self.take(n)?;
                    self.leaf(Py::Int(long_from_le(b)?));
                }
                b'I' | b'L' => {
                    // Protocol 0's decimal ints ("I01\n" is True).
                    let l = self.line()?.trim_end_matches('L');
                    let p = match l {
                        "00" => Py::Bool(false),
                        "01" => Py::Bool(true),
                        _ => Py::Int(l.parse().map_err(|_| bad("a bad decimal int"))?),
                    };
                    self.leaf(p);
                }
                b'G' => {
                    let s = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    self.leaf(Py::Float(f64::from_be_bytes(a)));
                }
                b'F' => {
                    let l = self.line()?;
                    let f = l.parse().map_err(|_| bad("a bad decimal float"))?;
                    self.leaf(Py::Float(f));
                }
                0x8c | b'X' | 0x8d => {
                    let n = match op {
                        0x8c => self.len(1)?,
                        b'X' => self.len(4)?,
                        _ => self.len(8)?,
                    };
                    let s = self.str(n)?;
                    self.leaf(Py::Str(s));
                }
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => self.len(1)?,
                        b'B' => self.len(4)?,
                        _ => self.len(8)?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.leaf(Py::Bytes(b));
                }
                b')' => self.push(Node::Tuple(Vec::new())),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(bad("stack underflow"));
                    }
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Node::Tuple(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items));
                }
                b']' => self.push(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                b'}' => self.push(Node::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(&items)?;
                    self.push(Node::Dict(pairs));
                }
                0x8f => self.push(Node::Set(Vec::new())),
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Node::FrozenSet(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    let l = self.top()?;
                    self.extend(l, vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let l = self.top()?;
                    self.extend(l, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, pairs(&items)?)?;
                }
                b'c' => {
                    let m = self.line()?;
                    let n = self.line()?;
                    let g = global(m, n)?;
                    self.push(Node::Global(g));
                }
                0x93 => {
                    let n = self.pop()?;
                    let m = self.pop()?;
                    let g = global(self.global_name(m)?, self.global_name(n)?)?;
                    self.push(Node::Global(g));
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let Node::Global(g) = self.nodes[f] else {
                        return Err(bad("REDUCE of something that is not a known global"));
                    };
                    self.push(Node::Call(g, args));
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?; // NEWOBJ_EX's kwargs
                    }
                    let _args = self.pop()?;
                    let c = self.pop()?;
                    match self.nodes[c] {
                        Node::Global(
                            g @ (Global::Token | Global::Namespace | Global::ManagedValue),
                        ) => self.push(Node::New(g, None)),
                        Node::Global(g @ Global::Exception(..)) => self.push(Node::Call(g, _args)),
                        _ => return Err(bad("NEWOBJ of a class that is not plain data")),
                    }
                }
                b'b' => {
                    let state = self.pop()?;
                    let o = self.top()?;
                    match &mut self.nodes[o] {
                        Node::New(_, s) => *s = Some(state),
                        // An exception's `__dict__` (notes, attributes): not carried.
                        Node::Call(Global::Exception(..), _) => {}
                        _ => return Err(bad("BUILD of an object that is not plain data")),
                    }
                }
                b'p' => {
                    let i = self.line()?.parse().map_err(|_| bad("a bad memo index"))?;
                    let t = self.top()?;
                    self.memo.insert(i, t);
                }
                b'q' | b'r' => {
                    let i = if op == b'q' { self.le(1)? } else { self.le(4)? } as u32;
                    let t = self.top()?;
                    self.memo.insert(i, t);
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    let t = self.top()?;
                    self.memo.insert(i, t);
                }
                b'g' | b'h' | b'j' => {
                    let i = match op {
                        b'g' => self.line()?.parse().map_err(|_| bad("a bad memo index"))?,
                        b'h' => self.le(1)? as u32,
                        _ => self.le(4)? as u32,
                    };
                    let n = *self
                        .memo
                        .get(&i)
                        .ok_or_else(|| bad("a memo key is missing"))?;
                    self.stack.push(Item::Node(n));
                }
                _ => return Err(bad(format!("unsupported opcode {op:#04x}"))),
            }
        }
    }

    fn extend(&mut self, at: usize, items: Vec<usize>) -> Result<()> {
        match &mut self.nodes[at] {
            Node::List(v) | Node::Set(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(bad("APPEND to something that is not a list or set")),
        }
    }

    fn set_items(&mut self, at: usize, items: Vec<(usize, usize)>) -> Result<()> {
        match &mut self.nodes[at] {
            Node::Dict(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(bad("SETITEM on something that is not a dict")),
        }
    }
}

fn pairs(items: &[usize]) -> Result<Vec<(usize, usize)>> {
    if items.len() % 2 != 0 {
        return Err(bad("a dict has an odd number of items"));
    }
    Ok(items.chunks(2).map(|c| (c[0], c[1])).collect())
}

/// A two's-complement little-endian integer (`LONG1`/`LONG4`).
fn long_from_le(b: &[u8]) -> Result<i128> {
    if b.is_empty() {
        return Ok(0);
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    // Leading sign bytes beyond 16 carry nothing.
    let fill = if neg { 0xff } else { 0 };
    let mut sig = b.len();
    while sig > 16 && b[sig - 1] == fill {
        sig -= 1;
    }
    if sig > 16 || (sig == 16 && ((b[15] & 0x80 != 0) != neg)) {
        return Err(bad(
            "an int beyond 128 bits (mp's managed ints hold -2**127 .. 2**127-1)",
        ));
    }
    let mut a = [fill; 16];
    a[..sig].copy_from_slice(&b[..sig]);
    Ok(i128::from_le_bytes(a))
}

/// Turns the object graph into a tree, bounded in depth and in total size (memo
/// references can share one node many times).
struct Resolver<'a> {
    nodes: &'a [Node],
    budget: usize,
}

impl Resolver<'_> {
    fn many(&mut self, items: &[usize], depth: usize) -> Result<Vec<Py>> {
        items.iter().map(|&i| self.go(i, depth + 1)).collect()
    }

    fn go(&mut self, i: usize, depth: usize) -> Result<Py> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deeply (or a cycle)"));
        }
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| bad("too many objects (shared references expand too far)"))?;
        Ok(match &self.nodes[i] {
            Node::Leaf(p) => {
                // A long string shared many times costs by its size.
                let n = match p {
                    Py::Bytes(b) => b.len(),
                    Py::Str(s) => s.len(),
                    _ => 0,
                };
                self.budget = self
                    .budget
                    .checked_sub(n / 64)
                    .ok_or_else(|| bad("too many objects (shared references expand too far)"))?;
                p.clone()
            }
            Node::Tuple(v) => Py::Tuple(self.many(v, depth)?),
            Node::List(v) => Py::List(self.many(v, depth)?),
            Node::Set(v) => Py::Set(self.many(v, depth)?),
            Node::FrozenSet(v) => Py::FrozenSet(self.many(v, depth)?),
            Node::Dict(v) => Py::Dict(
                v.iter()
                    .map(|&(k, x)| Ok((self.go(k, depth + 1)?, self.go(x, depth + 1)?)))
                    .collect::<Result<_>>()?,
            ),
            Node::Global(g) => return Err(bad(format!("a bare class or function ({g:?})"))),
            Node::New(g, state) => {
                let st = match state {
                    Some(s) => self.go(*s, depth + 1)?,
                    None => Py::None,
                };
                match (g, st) {
                    (Global::Token, Py::Tuple(t)) if t.len() == 3 => {
                        let mut t = t.into_iter();
                        let (a, b, c) = (t.next(), t.next(), t.next());
                        Py::Token(Box::new((
                            a.unwrap_or(Py::None),
                            b.unwrap_or(Py::None),
                            c.unwrap_or(Py::None),
                        )))
                    }
                    (Global::Namespace, Py::Dict(d)) => Py::Namespace(d),
                    (Global::Namespace, Py::None) => Py::Namespace(Vec::new()),
                    (Global::ManagedValue, Py::Dict(d)) => {
                        let get = |k: &str| {
                            d.iter()
                                .find(|(x, _)| *x == Py::Str(k.into()))
                                .map(|(_, v)| v.clone())
                                .unwrap_or(Py::None)
                        };
                        Py::ManagedValue(Box::new((get("_typecode"), get("_value"))))
                    }
                    (g, _) => return Err(bad(format!("a {g:?} with an unexpected state"))),
                }
            }
            Node::Call(g, args) => {
                let args = match self.go(*args, depth + 1)? {
                    Py::Tuple(a) => a,
                    _ => return Err(bad("a call's arguments are not a tuple")),
                };
                call(*g, args)?
            }
        })
    }
}

/// What calling an allow-listed global makes.
fn call(g: Global, mut args: Vec<Py>) -> Result<Py> {
    Ok(match g {
        Global::Exception(m, n) => Py::Exception {
            class: (m, n),
            args,
        },
        Global::Set | Global::FrozenSet => {
            let items = match args.pop() {
                None => Vec::new(),
                Some(Py::List(v) | Py::Tuple(v) | Py::Set(v) | Py::FrozenSet(v)) => v,
                Some(_) => return Err(bad("set() of something that is not a sequence")),
            };
            if g == Global::Set {
                Py::Set(items)
            } else {
                Py::FrozenSet(items)
            }
        }
        Global::ByteArray => match args.into_iter().next() {
            None => Py::Bytes(Vec::new()),
            Some(Py::Bytes(b)) => Py::Bytes(b),
            Some(Py::Str(s)) => Py::Bytes(latin1(&s)?),
            Some(_) => return Err(bad("bytearray() of something that is not bytes")),
        },
        Global::CodecsEncode => match args.first() {
            Some(Py::Str(s)) => Py::Bytes(latin1(s)?),
            _ => return Err(bad("_codecs.encode of something that is not a str")),
        },
        Global::Slice => {
            let mut a = args.into_iter();
            let (x, y, z) = (a.next(), a.next(), a.next());
            match (x, y, z) {
                (Some(stop), None, None) => Py::Slice(Box::new((Py::None, stop, Py::None))),
                (Some(s), Some(e), step) => Py::Slice(Box::new((s, e, step.unwrap_or(Py::None)))),
                _ => return Err(bad("slice() takes 1 to 3 arguments")),
            }
        }
        Global::RebuildProxy => {
            let mut a = args.into_iter();
            match (a.next(), a.next(), a.next(), a.next()) {
                (Some(Py::Str(class)), Some(token @ Py::Token(_)), _, Some(Py::Dict(kwds))) => {
                    // `call` sees the class resolved to its name (see `Resolver`).
                    let class = PROXY_CLASSES
                        .iter()
                        .find(|c| **c == class)
                        .copied()
                        .ok_or_else(|| bad("RebuildProxy of an unknown proxy class"))?;
                    Py::Proxy {
                        class,
                        token: Box::new(token),
                        kwds,
                    }
                }
                _ => return Err(bad("RebuildProxy with unexpected arguments")),
            }
        }
        Global::ArrayReconstructor => {
            let mut a = args.into_iter();
            match (a.next(), a.next(), a.next(), a.next()) {
                (_, Some(Py::Str(tc)), Some(Py::Int(fmt)), Some(Py::Bytes(b))) => {
                    Py::Array(tc, array_items(fmt, &b)?)
                }
                _ => return Err(bad("_array_reconstructor with unexpected arguments")),
            }
        }
        Global::ArrayType => match (args.first(), args.get(1)) {
            (Some(Py::Str(tc)), None) => Py::Array(tc.clone(), Vec::new()),
            (Some(Py::Str(tc)), Some(Py::List(items))) => Py::Array(tc.clone(), items.clone()),
            _ => return Err(bad("array() with unexpected arguments")),
        },
        Global::Token | Global::Namespace | Global::ManagedValue | Global::ProxyClass(_) => {
            return Err(bad(format!("a call of {g:?}")));
        }
    })
}

fn latin1(s: &str) -> Result<Vec<u8>> {
    s.chars()
        .map(|c| u8::try_from(c as u32).map_err(|_| bad("a latin-1 byte string out of range")))
        .collect()
}

/// The items of an `array.array` from its machine format code and bytes (CPython's
/// `_array_reconstructor`).
fn array_items(fmt: i128, b: &[u8]) -> Result<Vec<Py>> {
    let (width, kind) = match fmt {
        0 | 1 => (1, fmt),
        2..=5 => (2, fmt),
        6..=9 => (4, fmt),
        10..=13 => (8, fmt),
        14 | 15 => (4, fmt),
        16 | 17 => (8, fmt),
        _ => return Err(bad(format!("array machine format {fmt} is not supported"))),
    };
    if b.len() % width != 0 {
        return Err(bad("array bytes are not a whole number of items"));
    }
    let big = kind >= 2 && kind % 2 == 1;
    let signed = matches!(kind, 1 | 4 | 5 | 8 | 9 | 12 | 13);
    Ok(b.chunks(width)
        .map(|c| {
            let mut a = [0u8; 8];
            if big {
                a[..width].copy_from_slice(c);
                a[..width].reverse();
            } else {
                a[..width].copy_from_slice(c);
            }
            let raw = u64::from_le_bytes(a);
            match kind {
                14 | 15 => Py::Float(f32::from_bits(raw as u32).into()),
                16 | 17 => Py::Float(f64::from_bits(raw)),
                _ if signed => {
                    let shift = 64 - 8 * width as u32;
                    Py::Int((((raw << shift) as i64) >> shift).into())
                }
                _ => Py::Int(raw.into()),
            }
        })
        .collect())
}

/// Decodes one pickle.
///
/// # Errors
///
/// [`ErrorKind::Serialization`] for anything that is not exactly one pickle of plain data
/// (a name outside the allow-list says which).
pub(crate) fn loads(bytes: &[u8]) -> Result<Py> {
    let mut d = Decoder {
        b: bytes,
        pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    let root = d.run()?;
    if d.pos != bytes.len() {
        return Err(bad("bytes after the end of the pickle"));
    }
    // A proxy class is a global that `RebuildProxy` takes by name.
    let nodes: Vec<Node> = d
        .nodes
        .into_iter()
        .map(|n| match n {
            Node::Global(Global::ProxyClass(c)) => Node::Leaf(Py::Str(c.to_owned())),
            Node::Global(Global::ArrayType) => Node::Leaf(Py::None),
            n => n,
        })
        .collect();
    let mut r = Resolver {
        nodes: &nodes,
        budget: 1_000_000 + bytes.len() * 4,
    };
    r.go(root, 0)
}

// ---------------------------------------------------------------------------------------------
// Encoding (protocol 4, without frames)
// ---------------------------------------------------------------------------------------------

/// Encodes `p` as one pickle (protocol 4), readable by CPython 3.4 and later.
///
/// # Errors
///
/// A value nested more than 200 levels deep.
pub(crate) fn dumps(p: &Py, out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&[0x80, 4]);
    put(p, out, 0)?;
    out.push(b'.');
    Ok(())
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    if s.len() < 256 {
        out.push(0x8c);
        out.push(s.len() as u8);
    } else {
        out.push(b'X');
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn put_global(module: &str, name: &str, out: &mut Vec<u8>) {
    put_str(module, out);
    put_str(name, out);
    out.push(0x93);
}

fn put_items(items: &[Py], out: &mut Vec<u8>, depth: usize) -> Result<()> {
    items.iter().try_for_each(|x| put(x, out, depth + 1))
}

fn put_tuple(items: &[Py], out: &mut Vec<u8>, depth: usize) -> Result<()> {
    match items.len() {
        0 => out.push(b')'),
        1..=3 => {
            put_items(items, out, depth)?;
            out.push(0x84 + items.len() as u8);
        }
        _ => {
            out.push(b'(');
            put_items(items, out, depth)?;
            out.push(b't');
        }
    }
    Ok(())
}

fn put_dict(d: &[(Py, Py)], out: &mut Vec<u8>, depth: usize) -> Result<()> {
    out.push(b'}');
    if !d.is_empty() {
        out.push(b'(');
        for (k, v) in d {
            put(k, out, depth + 1)?;
            put(v, out, depth + 1)?;
        }
        out.push(b'u');
    }
    Ok(())
}

fn put(p: &Py, out: &mut Vec<u8>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(bad("nested too deeply"));
    }
    match p {
        Py::None => out.push(b'N'),
        Py::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        Py::Int(i) => {
            if (0..256).contains(i) {
                out.extend_from_slice(&[b'K', *i as u8]);
            } else if (0..65536).contains(i) {
                out.push(b'M');
                out.extend_from_slice(&(*i as u16).to_le_bytes());
            } else if let Ok(v) = i32::try_from(*i) {
                out.push(b'J');
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                let b = i.to_le_bytes();
                let fill = if *i < 0 { 0xff } else { 0 };
                let mut n = 16;
                while n > 1 && b[n - 1] == fill && ((b[n - 2] & 0x80 != 0) == (*i < 0)) {
                    n -= 1;
                }
                out.extend_from_slice(&[0x8a, n as u8]);
                out.extend_from_slice(&b[..n]);
            }
        }
        Py::Float(f) => {
            out.push(b'G');
            out.extend_from_slice(&f.to_be_bytes());
        }
        Py::Str(s) => put_str(s, out),
        Py::Bytes(b) => {
            if b.len() < 256 {
                out.extend_from_slice(&[b'C', b.len() as u8]);
            } else {
                out.push(b'B');
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            }
            out.extend_from_slice(b);
        }
        Py::Tuple(t) => put_tuple(t, out, depth)?,
        Py::List(l) => {
            out.push(b']');
            if !l.is_empty() {
                out.push(b'(');
                put_items(l, out, depth)?;
                out.push(b'e');
            }
        }
        Py::Dict(d) => put_dict(d, out, depth)?,
        Py::Set(s) => {
            out.push(0x8f);
            if !s.is_empty() {
                out.push(b'(');
                put_items(s, out, depth)?;
                out.push(0x90);
            }
        }
        Py::FrozenSet(s) => {
            out.push(b'(');
            put_items(s, out, depth)?;
            out.push(0x91);
        }
        Py::Slice(s) => {
            put_global("builtins", "slice", out);
            put_tuple(&[s.0.clone(), s.1.clone(), s.2.clone()], out, depth)?;
            out.push(b'R');
        }
        Py::Token(t) => {
            put_global("multiprocessing.managers", "Token", out);
            out.extend_from_slice(&[b')', 0x81]);
            put_tuple(&[t.0.clone(), t.1.clone(), t.2.clone()], out, depth)?;
            out.push(b'b');
        }
        Py::Proxy { class, token, kwds } => {
            put_global("multiprocessing.managers", "RebuildProxy", out);
            out.push(b'(');
            put_global("multiprocessing.managers", class, out);
            put(token, out, depth + 1)?;
            put_str("pickle", out);
            put_dict(kwds, out, depth + 1)?;
            out.extend_from_slice(b"tR");
        }
        Py::Exception { class, args } => {
            put_global(class.0, class.1, out);
            put_tuple(args, out, depth)?;
            out.push(b'R');
        }
        Py::Namespace(d) => {
            put_global("multiprocessing.managers", "Namespace", out);
            out.extend_from_slice(&[b')', 0x81]);
            put_dict(d, out, depth)?;
            out.push(b'b');
        }
        Py::ManagedValue(v) => {
            put_global("multiprocessing.managers", "Value", out);
            out.extend_from_slice(&[b')', 0x81]);
            put_dict(
                &[
                    (Py::Str("_typecode".into()), v.0.clone()),
                    (Py::Str("_value".into()), v.1.clone()),
                ],
                out,
                depth,
            )?;
            out.push(b'b');
        }
        Py::Array(tc, items) => {
            // `array.array(typecode, list)`: a REDUCE of the type itself.
            put_global("array", "array", out);
            put_str(tc, out);
            put(&Py::List(items.clone()), out, depth + 1)?;
            out.push(0x86);
            out.push(b'R');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn s(x: &str) -> Py {
        Py::Str(x.into())
    }

    // Made by CPython 3.11's `pickle.dumps(..., protocol)`.
    const PLAIN: &str = "8004957200000000000000284e88894b004bff4dffff4affffffff8a0500000080008a0800000000000000808a0d00000000000000000000000010473ff80000000000008c0668c3a96c6c6f94430200ff945d94284b015d944b0261657d94288c0161944b014b034b048594758f94284b014b0290284b03919474942e";
    const PROXY_REPLY: &str = "80049568000000000000008c062350524f5859948c085f5f6e6578745f5f9485948c186d756c746970726f63657373696e672e6d616e6167657273948c05546f6b656e9493942981948c055175657565948c093132372e302e302e31944d881386948c0637663132616294879462869486942e";
    const PROXY: &str = "80049581000000000000008c186d756c746970726f63657373696e672e6d616e6167657273948c0c52656275696c6450726f78799493942868008c094c69737450726f787994939468008c05546f6b656e9493942981948c055175657565948c093132372e302e302e31944d881386948c06376631326162948794628c067069636b6c65947d94749452942e";

    fn token() -> Py {
        Py::Token(Box::new((
            s("Queue"),
            Py::Tuple(vec![s("127.0.0.1"), Py::Int(5000)]),
            s("7f12ab"),
        )))
    }

    #[test]
    fn cpython_plain_data_decodes() {
        let v = loads(&hex(PLAIN)).unwrap();
        let want = Py::Tuple(vec![
            Py::None,
            Py::Bool(true),
            Py::Bool(false),
            Py::Int(0),
            Py::Int(255),
            Py::Int(65535),
            Py::Int(-1),
            Py::Int(1 << 31),
            Py::Int(-(1 << 63)),
            Py::Int(1 << 100),
            Py::Float(1.5),
            s("héllo"),
            Py::Bytes(vec![0, 255]),
            Py::List(vec![Py::Int(1), Py::List(vec![Py::Int(2)])]),
            Py::Dict(vec![
                (s("a"), Py::Int(1)),
                (Py::Int(3), Py::Tuple(vec![Py::Int(4)])),
            ]),
            Py::Set(vec![Py::Int(1), Py::Int(2)]),
            Py::FrozenSet(vec![Py::Int(3)]),
        ]);
        assert_eq!(v, want);
        // Our encoding decodes back to the same.
        let mut b = Vec::new();
        dumps(&want, &mut b).unwrap();
        assert_eq!(loads(&b).unwrap(), want);
    }

    #[test]
    fn the_protocols_objects_decode() {
        assert_eq!(
            loads(&hex(PROXY_REPLY)).unwrap(),
            Py::Tuple(vec![
                s("#PROXY"),
                Py::Tuple(vec![Py::Tuple(vec![s("__next__")]), token()])
            ])
        );
        let proxy = Py::Proxy {
            class: "ListProxy",
            token: Box::new(token()),
            kwds: vec![],
        };
        assert_eq!(loads(&hex(PROXY)).unwrap(), proxy);
        let err = "80049522000000000000008c06234552524f52948c065f7175657565948c05456d70747994939429529486942e";
        assert_eq!(
            loads(&hex(err)).unwrap(),
            Py::Tuple(vec![
                s("#ERROR"),
                Py::Exception {
                    class: ("_queue", "Empty"),
                    args: vec![]
                }
            ])
        );
        let ns = "80049540000000000000008c186d756c746970726f63657373696e672e6d616e6167657273948c094e616d6573706163659493942981947d94288c0161944b018c0162948c01789475622e";
        assert_eq!(
            loads(&hex(ns)).unwrap(),
            Py::Namespace(vec![(s("a"), Py::Int(1)), (s("b"), s("x"))])
        );
        let arr = "8004954e000000000000008c056172726179948c145f61727261795f7265636f6e7374727563746f72949394288c056172726179948c0561727261799493948c0169944b08430c01000000feffffff0300000094749452942e";
        assert_eq!(
            loads(&hex(arr)).unwrap(),
            Py::Array("i".into(), vec![Py::Int(1), Py::Int(-2), Py::Int(3)])
        );
        let arrd = "8004954a000000000000008c056172726179948c145f61727261795f7265636f6e7374727563746f72949394288c056172726179948c0164944b104308000000000000e03f94749452942e";
        assert_eq!(
            loads(&hex(arrd)).unwrap(),
            Py::Array("d".into(), vec![Py::Float(0.5)])
        );
        let slice =
            "8004951f000000000000008c086275696c74696e73948c05736c6963659493944b014e4b02879452942e";
        assert_eq!(
            loads(&hex(slice)).unwrap(),
            Py::Slice(Box::new((Py::Int(1), Py::None, Py::Int(2))))
        );
        // A memoized list, then filled, is seen filled by a later reference.
        let shared = "8004950f000000000000005d94285d94284b014b02656801652e";
        let l = Py::List(vec![Py::Int(1), Py::Int(2)]);
        assert_eq!(loads(&hex(shared)).unwrap(), Py::List(vec![l.clone(), l]));
        // Protocol 2 (bytes through `_codecs.encode`, a set through `set([...])`) and 5.
        let p2 = "8002635f636f646563730a656e636f64650a710058020000006162710158060000006c6174696e317102867103527104635f5f6275696c74696e5f5f0a7365740a71055d71064b01618571075271088671092e";
        assert_eq!(
            loads(&hex(p2)).unwrap(),
            Py::Tuple(vec![Py::Bytes(b"ab".to_vec()), Py::Set(vec![Py::Int(1)])])
        );
        let p5 = "8005951a000000000000009602000000000000006162948a0900000000000000004086942e";
        assert_eq!(
            loads(&hex(p5)).unwrap(),
            Py::Tuple(vec![Py::Bytes(b"ab".to_vec()), Py::Int(1 << 70)])
        );
        // What we encode decodes the same.
        for p in [proxy, token(), Py::Namespace(vec![(s("x"), Py::Int(-7))])] {
            let mut b = Vec::new();
            dumps(&p, &mut b).unwrap();
            assert_eq!(loads(&b).unwrap(), p);
        }
    }

    #[test]
    fn code_and_garbage_are_refused() {
        // `print('x')` by REDUCE: refused by name, nothing runs.
        let evil =
            "8004951e000000000000008c086275696c74696e73948c057072696e749493948c017894859452942e";
        let e = loads(&hex(evil)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Serialization);
        assert!(e.to_string().contains("builtins.print"), "{e}");
        // Every truncation of a valid pickle is an error, never a panic.
        for h in [PLAIN, PROXY, PROXY_REPLY] {
            let b = hex(h);
            for cut in 0..b.len() {
                assert!(loads(&b[..cut]).is_err());
            }
        }
        // A huge length allocates nothing.
        assert!(loads(&[0x80, 4, b'X', 0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(
            loads(&[
                0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
            ])
            .is_err()
        );
        // Deep nesting is an error, not a stack overflow.
        let mut deep = vec![0x80, 4];
        deep.extend(std::iter::repeat_n(b']', 10_000));
        deep.extend(std::iter::repeat_n(b'a', 9_999));
        deep.push(b'.');
        assert!(loads(&deep).is_err());
        // Shared references that would expand exponentially hit the budget.
        let mut bomb = vec![0x80, 4, b'K', 1];
        for _ in 0..64 {
            bomb.extend_from_slice(&[b'2', 0x86]);
        }
        bomb.push(b'.');
        assert!(loads(&bomb).is_err());
        // An int beyond 128 bits.
        let mut big = vec![0x80, 4, 0x8a, 17];
        big.extend([0u8; 16]);
        big.push(1);
        big.push(b'.');
        assert!(loads(&big).unwrap_err().to_string().contains("128 bits"));
    }

    #[test]
    fn ints_round_trip_at_every_width() {
        for i in [
            0i128,
            1,
            255,
            256,
            65535,
            65536,
            -1,
            -128,
            -129,
            i32::MAX.into(),
            i32::MIN.into(),
            1 << 40,
            -(1 << 40),
            i64::MAX.into(),
            i128::MAX,
            i128::MIN,
        ] {
            let mut b = Vec::new();
            dumps(&Py::Int(i), &mut b).unwrap();
            assert_eq!(loads(&b).unwrap(), Py::Int(i), "{i}");
        }
    }
}
