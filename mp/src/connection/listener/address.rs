//! [`Address`]: where a [`Listener`] listens and a [`Client`] connects, its [`Family`], and the
//! [`ToAddress`] conversions.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr as UnixSocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

// Names the docs link to.
#[cfg(doc)]
use super::{Client, Listener};

/// The address of a [`Listener`]: Python's `AF_UNIX` path, Linux abstract name or `AF_INET`
/// `(host, port)`.
///
/// Build one from a string (see [`FromStr`](#impl-FromStr-for-Address)), a `(host, port)`
/// tuple, a [`SocketAddr`] or a [`Path`], or with the constructors. Addresses are
/// serializable, so they can be sent to other processes (a manager sends its listener's
/// address to its clients).
///
/// # Examples
///
/// ```
/// use mp::connection::Address;
/// # fn main() -> mp::Result<()> {
/// assert_eq!("/tmp/x.sock".parse::<Address>()?, Address::Unix("/tmp/x.sock".into()));
/// assert_eq!("\0name".parse::<Address>()?, Address::Abstract(b"name".to_vec()));
/// assert_eq!("127.0.0.1:6000".parse::<Address>()?, Address::Tcp(([127, 0, 0, 1], 6000).into()));
/// assert!(matches!(Address::tcp("localhost", 6000)?, Address::Tcp(a) if a.port() == 6000));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A Unix socket path (`AF_UNIX`).
    Unix(PathBuf),
    /// A Linux abstract socket name (Python's `"\0name"`), without the leading NUL.
    Abstract(Vec<u8>),
    /// A TCP address (`AF_INET` or `AF_INET6`).
    Tcp(SocketAddr),
}

/// The kind of socket of a [`Listener`] or [`Client`]: Python's `family` argument.
///
/// Parse Python's names with [`FromStr`](#impl-FromStr-for-Family): `"AF_INET"`,
/// `"AF_INET6"`, `"AF_UNIX"` (`"AF_PIPE"` is Windows-only and rejected).
///
/// # Examples
///
/// ```
/// use mp::connection::Family;
/// assert_eq!("AF_UNIX".parse::<Family>().unwrap(), Family::Unix);
/// assert!("AF_PIPE".parse::<Family>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// TCP over IPv4.
    Inet,
    /// TCP over IPv6.
    Inet6,
    /// Unix domain sockets (paths and abstract names).
    Unix,
}

impl FromStr for Family {
    type Err = Error;
    fn from_str(s: &str) -> Result<Family> {
        match s {
            "AF_INET" => Ok(Family::Inet),
            "AF_INET6" => Ok(Family::Inet6),
            "AF_UNIX" => Ok(Family::Unix),
            "AF_PIPE" => Err(Error::value("family AF_PIPE is only available on Windows")),
            _ => Err(Error::value(format!(
                "unrecognized family `{s}`; expected one of \"AF_INET\", \"AF_INET6\", \"AF_UNIX\""
            ))),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Inet => "AF_INET",
            Family::Inet6 => "AF_INET6",
            Family::Unix => "AF_UNIX",
        })
    }
}

impl Address {
    /// A Unix socket path.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::connection::Address::unix("/tmp/s");
    /// assert_eq!(a.family(), mp::connection::Family::Unix);
    /// ```
    pub fn unix(path: impl Into<PathBuf>) -> Address {
        Address::Unix(path.into())
    }

    /// A Linux abstract socket name (no file is created).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = mp::connection::Address::abstract_name("mp-test");
    /// assert_eq!(a.to_string(), "@mp-test");
    /// ```
    pub fn abstract_name(name: impl AsRef<[u8]>) -> Address {
        Address::Abstract(name.as_ref().to_vec())
    }

    /// A TCP address from a host name or IP literal and a port: Python's `(host, port)`.
    /// Host names resolve to their first IPv4 address if they have one (as Python's
    /// `AF_INET` does), else to their first IPv6 address.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Os`] if the host does not resolve.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> mp::Result<()> {
    /// let a = mp::connection::Address::tcp("127.0.0.1", 0)?;
    /// assert_eq!(a.family(), mp::connection::Family::Inet);
    /// # Ok(()) }
    /// ```
    pub fn tcp(host: &str, port: u16) -> Result<Address> {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Address::Tcp(SocketAddr::new(ip, port)));
        }
        let all: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::os(format!("cannot resolve `{host}`"), e))?
            .collect();
        all.iter()
            .find(|a| a.is_ipv4())
            .or_else(|| all.first())
            .map(|a| Address::Tcp(*a))
            .ok_or_else(|| Error::new(ErrorKind::Os, format!("`{host}` has no address")))
    }

    /// The family this address belongs to: Python's `address_type(address)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mp::connection::{Address, Family};
    /// assert_eq!(Address::abstract_name("x").family(), Family::Unix);
    /// ```
    pub fn family(&self) -> Family {
        match self {
            Address::Unix(_) | Address::Abstract(_) => Family::Unix,
            Address::Tcp(a) if a.is_ipv6() => Family::Inet6,
            Address::Tcp(_) => Family::Inet,
        }
    }

    pub(super) fn unix_addr(&self) -> Result<UnixSocketAddr> {
        match self {
            Address::Unix(p) => UnixSocketAddr::from_pathname(p)
                .map_err(|e| Error::value(format!("bad unix socket path {}: {e}", p.display()))),
            Address::Abstract(n) => UnixSocketAddr::from_abstract_name(n)
                .map_err(|e| Error::value(format!("bad abstract socket name: {e}"))),
            Address::Tcp(_) => Err(Error::value("not a unix address")),
        }
    }

    pub(super) fn from_unix(a: &UnixSocketAddr) -> Option<Address> {
        if let Some(p) = a.as_pathname() {
            return Some(Address::Unix(p.to_path_buf()));
        }
        a.as_abstract_name().map(|n| Address::Abstract(n.to_vec()))
    }
}

impl fmt::Display for Address {
    /// A path, `@name` for an abstract name, `ip:port` for TCP.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

impl FromStr for Address {
    type Err = Error;

    /// Python's rules for strings, plus `host:port` for TCP:
    ///
    /// - `"\0name"`: an abstract name;
    /// - `"\\\\.\\pipe\\name"`: a Windows pipe, rejected ([`ErrorKind::Value`]);
    /// - an IP socket address (`"127.0.0.1:80"`, `"[::1]:80"`), or `host:port` without a
    ///   `/`: TCP (the host is resolved, see [`Address::tcp`]);
    /// - anything else: a Unix socket path (use [`Address::unix`] for a path that looks like
    ///   `host:port`).
    fn from_str(s: &str) -> Result<Address> {
        if let Some(name) = s.strip_prefix('\0') {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if s.starts_with("\\\\") {
            return Err(Error::value(format!(
                "address type of {s:?} unrecognized: Windows named pipes (AF_PIPE) are not \
                 available on this platform"
            )));
        }
        if s.is_empty() {
            return Err(Error::value("empty address"));
        }
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Address::Tcp(a));
        }
        if !s.contains('/')
            && let Some((host, port)) = s.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
            && !host.is_empty()
        {
            return Address::tcp(host, port);
        }
        Ok(Address::Unix(PathBuf::from(s)))
    }
}

/// Conversion into an [`Address`]; implemented for strings (see
/// [`Address::from_str`](#impl-FromStr-for-Address)), `(host, port)` tuples, socket addresses
/// and paths. Like `std::net::ToSocketAddrs`, this lets [`Listener::bind`] and
/// [`Client::connect`] take Python-shaped addresses.
///
/// # Examples
///
/// ```
/// use mp::connection::ToAddress;
/// # fn main() -> mp::Result<()> {
/// let a = ("localhost", 6000).to_address()?;
/// assert_eq!(a.family(), mp::connection::Family::Inet);
/// # Ok(()) }
/// ```
pub trait ToAddress {
    /// Converts (and, for host names, resolves) the address.
    ///
    /// # Errors
    ///
    /// The address is malformed or does not resolve.
    fn to_address(&self) -> Result<Address>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address> {
        Ok(self.clone())
    }
}
impl ToAddress for str {
    fn to_address(&self) -> Result<Address> {
        self.parse()
    }
}
impl ToAddress for String {
    fn to_address(&self) -> Result<Address> {
        self.parse()
    }
}
impl ToAddress for (&str, u16) {
    fn to_address(&self) -> Result<Address> {
        Address::tcp(self.0, self.1)
    }
}
impl ToAddress for (String, u16) {
    fn to_address(&self) -> Result<Address> {
        Address::tcp(&self.0, self.1)
    }
}
impl ToAddress for (IpAddr, u16) {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Tcp(SocketAddr::new(self.0, self.1)))
    }
}
impl ToAddress for SocketAddr {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Tcp(*self))
    }
}
impl ToAddress for Path {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Unix(self.to_path_buf()))
    }
}
impl ToAddress for PathBuf {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Unix(self.clone()))
    }
}
impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Result<Address> {
        (**self).to_address()
    }
}

pub(super) fn check_family(address: &Address, family: Option<Family>) -> Result<()> {
    match family {
        Some(f) if f != address.family() => Err(Error::value(format!(
            "address {address} is not of family {f} (it is {})",
            address.family()
        ))),
        _ => Ok(()),
    }
}
