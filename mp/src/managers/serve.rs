//! The server in this process (`Server`), the server process's body, and the built-in task
//! that runs it under spawn and forkserver.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::base::{Initializer, Inner, send_shutdown};
use super::server::{Callable, Exposed, ServerSocket, State, TypeEntry};
use super::{BaseManager, MState, proxy, refs, sock, types};
use crate::connection::{Address, Connection, Listener};
use crate::context::StartMethod;
use crate::error::{Error, ErrorKind, Result};
use crate::registry::{self, TaskEntry};
use crate::task::Task;

/// A server running in this process: Python's `Server`, from
/// [`BaseManager::get_server`].
///
/// # Examples
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::managers::{BaseManager, Queue, QueueProxy, Shared};
/// let queue = Shared::new(Queue::new(0));
/// let q = queue.clone();
/// let m = BaseManager::builder()
///     .address(("127.0.0.1", 0))
///     .authkey(b"abracadabra")
///     .register_with::<QueueProxy<String>, _, _>("get_queue", move |()| q.clone())
///     .build();
/// let server = m.get_server()?;
/// let address = server.address().clone();
/// let t = std::thread::spawn(move || server.serve_forever());
/// let client = BaseManager::builder()
///     .address(&address)
///     .authkey(b"abracadabra")
///     .register_remote::<QueueProxy<String>>("get_queue")
///     .connect()?;
/// let remote: QueueProxy<String> = client.create("get_queue", ())?;
/// remote.put("hello".into())?;
/// assert_eq!(queue.read().get_local(std::time::Duration::ZERO)?, "hello".into());
/// client.stop_server()?;
/// t.join().unwrap()?;
/// # Ok(()) }
/// ```
pub struct Server {
    pub(super) listener: ServerSocket,
    pub(super) state: Arc<State>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} server at {}>", self.state.kind, self.state.address)
    }
}

impl Server {
    /// The address it listens at.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn address(&self) -> &Address {
        &self.state.address
    }

    /// Serves clients until one of them sends the shutdown request
    /// ([`BaseManager::stop_server`]): Python's `serve_forever()` (which then exits the
    /// process; this returns instead).
    ///
    /// # Errors
    ///
    /// The listening socket fails.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn serve_forever(self) -> Result<()> {
        crate::logging::info!("manager serving at '{}'", self.state.address);
        let r = self.state.serve(&self.listener, None);
        self.state.stop();
        self.state.release_all_segments();
        r
    }
}

impl BaseManager {
    /// Asks the server this manager is connected to to stop (the shutdown request, from a
    /// client: how a `serve_forever` server is stopped).
    ///
    /// # Errors
    ///
    /// The server cannot be reached.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn stop_server(&self) -> Result<()> {
        let address = self.endpoint()?;
        send_shutdown(&address, &self.inner.authkey)?;
        proxy::forget_manager(&address);
        *self.state() = MState::Shutdown { exitcode: None };
        Ok(())
    }
}

fn default_address() -> Address {
    let mut r = [0u8; 8];
    crate::sys::random_bytes(&mut r);
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    Address::Abstract(format!("mp-manager-{}-{tag}", crate::sys::getpid()).into_bytes())
}

pub(super) fn bind_server(
    kind: String,
    address: Option<Address>,
    authkey: Vec<u8>,
    types: Vec<TypeEntry>,
    (max_message, segments): (u64, bool),
) -> Result<(ServerSocket, Arc<State>)> {
    let address = address.unwrap_or_else(default_address);
    let (listener, bound) = match &address {
        Address::Tcp(_) => {
            let l = Listener::builder()
                .address(address)
                .authenticate(false)
                .backlog(128)
                .max_message_size(Some(max_message))
                .bind()?;
            let bound = l.address().clone();
            (ServerSocket::Stream(l), bound)
        }
        _ => (
            ServerSocket::Packet(sock::PacketListener::bind(&address, 128)?),
            address,
        ),
    };
    let state = Arc::new(State::new(
        bound,
        authkey,
        kind,
        types,
        max_message,
        segments,
    )?);
    Ok((listener, state))
}

pub(super) fn run_initializer(init: &Initializer) -> std::result::Result<(), String> {
    let Initializer::Task(name, args) = init;
    let args = args
        .as_ref()
        .map_err(|e| format!("cannot encode the initializer's arguments: {e}"))?;
    let entry = registry::lookup(name)
        .ok_or_else(|| format!("the initializer `{name}` is not registered"))?;
    crate::bootstrap::invoke(entry, args, Vec::new())
}

/// The body of a server process.
pub(super) fn server_main(
    kind: String,
    address: Option<Address>,
    authkey: Vec<u8>,
    types: Vec<TypeEntry>,
    init: Option<Box<dyn FnOnce() -> std::result::Result<(), String>>>,
    limits: (u64, bool),
    writer: Connection,
) -> std::result::Result<(), String> {
    // A server forked from a process with proxies was lent references on their objects, as
    // every fork child is: it never uses them.
    refs::release_all();
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // Not daemonic from the inside (as CPython's manager processes), so that what it serves
    // may start processes (`manager.Pool()`); it still dies with the process that started it.
    crate::process::clear_daemon_flag();
    if let Some(init) = init
        && let Err(e) = init()
    {
        let _ = writer.send(&std::result::Result::<Address, String>::Err(format!(
            "the initializer failed: {e}"
        )));
        return Err(e);
    }
    let (listener, state) = match bind_server(kind, address, authkey, types, limits) {
        Ok(x) => x,
        Err(e) => {
            let msg = e.to_string();
            let _ = writer.send(&std::result::Result::<Address, String>::Err(msg.clone()));
            return Err(msg);
        }
    };
    crate::logging::info!("manager serving at '{}'", state.address);
    writer
        .send(&std::result::Result::<Address, String>::Ok(
            state.address.clone(),
        ))
        .map_err(|e| e.to_string())?;
    drop(writer);
    let r = state.serve(&listener, None).map_err(|e| e.to_string());
    state.release_all_segments();
    state.clear_objects();
    crate::logging::info!("manager exiting with exitcode 0");
    r
}

// ---------------------------------------------------------------------------------------------
// The server process under spawn and forkserver: a built-in task
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
enum CallableWire {
    Remote,
    Builtin,
    Task(String),
}

#[derive(Serialize, Deserialize)]
struct TypeWire {
    typeid: String,
    callable: CallableWire,
    exposed: Vec<String>,
    proxytype: String,
    referent: String,
}

/// What a spawn or forkserver server process receives.
#[derive(Serialize, Deserialize)]
pub(super) struct ServerSpec {
    kind: String,
    address: Option<Address>,
    authkey: Vec<u8>,
    types: Vec<TypeWire>,
    initializer: Option<(String, Vec<u8>)>,
    max_message: u64,
    segments: bool,
}

impl ServerSpec {
    pub(super) fn from_inner(
        inner: &Inner,
        address: Option<Address>,
        method: StartMethod,
    ) -> Result<ServerSpec> {
        let closure_error = |what: &str| {
            Error::new(
                ErrorKind::ProcessStart,
                format!(
                    "{what} is a closure, which a {method} server process cannot run: register \
                     a `#[mp::task]` fn instead, or use the fork start method, or serve in \
                     this process with get_server().serve_forever()"
                ),
            )
        };
        let mut types = Vec::new();
        for t in &inner.types {
            let callable = match &t.callable {
                Callable::Remote => CallableWire::Remote,
                Callable::Builtin(_) => CallableWire::Builtin,
                Callable::Task(e) => CallableWire::Task(e.name.to_owned()),
                Callable::Closure(_) => {
                    return Err(closure_error(&format!(
                        "the callable of typeid '{}'",
                        t.typeid
                    )));
                }
            };
            types.push(TypeWire {
                typeid: t.typeid.clone(),
                callable,
                exposed: t.exposed.to_vec(),
                proxytype: t.proxytype.clone(),
                referent: t.referent.clone(),
            });
        }
        let initializer = match &inner.initializer {
            None => None,
            Some(Initializer::Task(name, Ok(args))) => Some((name.to_string(), args.clone())),
            Some(Initializer::Task(_, Err(e))) => {
                return Err(Error::new(
                    ErrorKind::Serialization,
                    format!("cannot encode the initializer's arguments: {e}"),
                ));
            }
        };
        Ok(ServerSpec {
            kind: inner.kind.clone(),
            address,
            authkey: inner.authkey.clone(),
            types,
            initializer,
            max_message: inner.max_message,
            segments: inner.segments,
        })
    }

    fn into_types(types: Vec<TypeWire>) -> std::result::Result<Vec<TypeEntry>, String> {
        types
            .into_iter()
            .map(|t| {
                let callable = match t.callable {
                    CallableWire::Remote => Callable::Remote,
                    CallableWire::Builtin => Callable::Builtin(
                        types::builtin(&t.typeid)
                            .ok_or_else(|| format!("no built-in typeid '{}'", t.typeid))?
                            .1,
                    ),
                    CallableWire::Task(name) => Callable::Task(
                        registry::lookup(&name)
                            .ok_or_else(|| format!("the callable `{name}` is not registered"))?,
                    ),
                };
                Ok(TypeEntry {
                    typeid: t.typeid,
                    callable,
                    exposed: Exposed::Owned(t.exposed.into()),
                    proxytype: t.proxytype,
                    referent: t.referent,
                })
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct ServeTask;

impl Task for ServeTask {
    type Args = (ServerSpec, Connection);
    type Output = std::result::Result<(), String>;
    type Value = ();
    const NAME: &'static str = "mp::managers::serve";
    fn run((spec, writer): Self::Args) -> Self::Output {
        let types = ServerSpec::into_types(spec.types)?;
        let init = spec.initializer.map(|(name, args)| {
            Box::new(move || run_initializer(&Initializer::Task(leak_name(name), Ok(args))))
                as Box<dyn FnOnce() -> std::result::Result<(), String>>
        });
        server_main(
            spec.kind,
            spec.address,
            spec.authkey,
            types,
            init,
            (spec.max_message, spec.segments),
            writer,
        )
    }
    fn into_value(out: Self::Output) -> std::result::Result<(), String> {
        out
    }
}

fn leak_name(name: String) -> &'static str {
    registry::lookup(&name).map_or("", |e| e.name)
}

impl crate::process::Target<(ServerSpec, Connection)> for ServeTask {
    type Output = std::result::Result<(), String>;
    fn call(self, args: (ServerSpec, Connection)) -> Self::Output {
        <ServeTask as Task>::run(args)
    }
    fn task_name(&self) -> Option<&'static str> {
        Some(<ServeTask as Task>::NAME)
    }
}

#[linkme::distributed_slice(crate::registry::MP_TASK_REGISTRY)]
static SERVE_TASK: TaskEntry = TaskEntry::of::<ServeTask>(file!(), line!());
