//! `SharedMemoryManager`: a manager whose server unlinks, at shutdown, the named shared memory
//! segments created through it (Python's `multiprocessing.managers.SharedMemoryManager`).

use std::fmt;
use std::ops::Deref;

use super::protocol::Request;
use super::{BaseManager, MState, ManagerBuilder, ManagerKind, from_value, proxy};
use crate::error::{Error, ErrorKind, Result};
use crate::shared_memory::{Item, ShareableList, SharedMemory};

/// A manager that tracks named shared memory: Python's
/// `multiprocessing.managers.SharedMemoryManager` (also reachable as
/// `mp::shared_memory::SharedMemoryManager`).
///
/// [`shared_memory`](SharedMemoryManager::shared_memory) and
/// [`shareable_list`](SharedMemoryManager::shareable_list) create a segment in the calling
/// process (any process that can reach the manager: a child given a clone of the manager
/// works too) and register its name with the manager's server. When the manager shuts down
/// ([`shutdown`](BaseManager::shutdown), or the last clone of the manager is dropped, as at the
/// end of Python's `with SharedMemoryManager() as smm:`), the server unlinks every segment it
/// tracks. Mappings that are still open stay valid; the names are gone.
///
/// The server process ignores `SIGINT` (a Ctrl-C meant for the program does not take the
/// segments' keeper down first) and talks to the same [resource
/// tracker](crate::resource_tracker) as the rest of the program, so unlinking a segment there
/// is not reported as a leak at exit.
///
/// It dereferences to [`BaseManager`] (`start`, `shutdown`, `address`, `register`ed typeids
/// through the builder...).
///
/// # Examples
///
/// Python's
///
/// ```python
/// with SharedMemoryManager() as smm:
///     sl = smm.ShareableList(range(5))
///     shm = smm.SharedMemory(size=128)
/// ```
///
/// is
///
/// ```
/// # #[mp::main] fn main() -> mp::Result<()> {
/// use mp::shared_memory::{SharedMemory, SharedMemoryManager};
///
/// let smm = SharedMemoryManager::new();
/// // Creating before `start()` is Python's ValueError.
/// assert_eq!(smm.shared_memory(9).unwrap_err().kind(), mp::ErrorKind::Value);
/// smm.start()?;
/// let sl = smm.shareable_list(0..5)?;
/// let shm = smm.shared_memory(128)?;
/// assert_eq!(smm.list_segments()?, [sl.shm().name(), shm.name()]);
/// shm.write(0, b"hello")?;
/// assert_eq!(SharedMemory::attach(shm.name())?.read_range(0..5)?, b"hello");
/// smm.shutdown()?; // unlinks both segments
/// let gone = SharedMemory::attach(shm.name()).unwrap_err();
/// assert_eq!(gone.raw_os_error(), Some(libc::ENOENT));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedMemoryManager {
    base: BaseManager,
}

impl fmt::Debug for SharedMemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.base, f)
    }
}

impl From<BaseManager> for SharedMemoryManager {
    /// As CPython's `SharedMemoryManager.__init__`, makes sure the program's resource tracker
    /// runs before a server process could start one of its own (best effort: a registration
    /// starts it anyway).
    fn from(base: BaseManager) -> SharedMemoryManager {
        let _ = crate::resource_tracker::ensure_running();
        SharedMemoryManager { base }
    }
}

impl ManagerKind for SharedMemoryManager {
    fn base_manager(&self) -> &BaseManager {
        &self.base
    }
}

impl Deref for SharedMemoryManager {
    type Target = BaseManager;
    fn deref(&self) -> &BaseManager {
        &self.base
    }
}

impl Default for SharedMemoryManager {
    fn default() -> Self {
        SharedMemoryManager::new()
    }
}

impl SharedMemoryManager {
    /// A builder (address, authkey, start method, registered typeids): Python's
    /// `SharedMemoryManager(address, authkey)` and `register`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::SharedMemoryManager;
    /// let smm = SharedMemoryManager::builder()
    ///     .start_method(mp::StartMethod::Spawn)
    ///     .start()?;
    /// let shm = smm.shared_memory(64)?;
    /// assert_eq!(shm.size(), 64);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ManagerBuilder<SharedMemoryManager> {
        let mut b = ManagerBuilder::new("SharedMemoryManager");
        b.segments = true;
        b
    }

    /// A manager with the defaults, not started: Python's `SharedMemoryManager()`. Call
    /// [`start`](BaseManager::start).
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryManager`].
    pub fn new() -> SharedMemoryManager {
        SharedMemoryManager::builder().build()
    }

    /// The server's address and key, or Python's ValueError before `start()`/`connect()`.
    fn target(&self) -> Result<(crate::connection::Address, Vec<u8>)> {
        if matches!(&*self.base.state(), MState::Initial) {
            return Err(Error::value(
                "the SharedMemoryManager is not started: call start() (or connect()) first",
            ));
        }
        Ok((self.base.endpoint()?, self.base.authkey().to_vec()))
    }

    fn control(&self, req: &Request) -> Result<super::Value> {
        let (address, key) = self.target()?;
        proxy::reply_value(proxy::request(&address, &key, req)?)
    }

    /// Creates a segment of `size` bytes (random name, tracked by this process's resource
    /// tracker too) and registers it with the manager: Python's `smm.SharedMemory(size)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] before `start()` or for a zero size; [`ErrorKind::Process`] after
    /// `shutdown()`; the segment cannot be created; the server cannot be reached (the segment
    /// is then unlinked again).
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryManager`].
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory> {
        self.target()?;
        let shm = SharedMemory::create(size)?;
        self.adopt(shm.name(), || shm.unlink())?;
        Ok(shm)
    }

    /// Creates a [`ShareableList`] holding `items` and registers its segment with the manager:
    /// Python's `smm.ShareableList(sequence)`.
    ///
    /// # Errors
    ///
    /// As [`shared_memory`](SharedMemoryManager::shared_memory), plus what
    /// [`ShareableList::new`] refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::{Item, SharedMemoryManager};
    /// let smm = SharedMemoryManager::builder().start()?;
    /// let sl = smm.shareable_list(["howdy", "partner"])?;
    /// assert_eq!(sl.get(1)?, Item::from("partner"));
    /// let name = sl.shm().name().to_string();
    /// drop(smm); // shuts the manager down: the list's segment is unlinked
    /// assert!(mp::shared_memory::ShareableList::attach(&name).is_err());
    /// # Ok(()) }
    /// ```
    pub fn shareable_list<I: Into<Item>>(
        &self,
        items: impl IntoIterator<Item = I>,
    ) -> Result<ShareableList> {
        self.target()?;
        let sl = ShareableList::new(items)?;
        self.adopt(sl.shm().name(), || sl.shm().unlink())?;
        Ok(sl)
    }

    /// Registers `name`; if the server cannot take it, unlinks the segment (`undo`) and returns
    /// the server's error, as CPython does.
    fn adopt(&self, name: &str, undo: impl FnOnce() -> Result<()>) -> Result<()> {
        let r = self.track_segment(name);
        if r.is_err() {
            let _ = undo();
        }
        r
    }

    /// Asks the server to unlink the segment `name` when it shuts down: CPython's
    /// `track_segment` control request (what [`shared_memory`](Self::shared_memory) sends).
    /// Any named segment can be handed over this way.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] before `start()`; the server cannot be reached.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::{SharedMemory, SharedMemoryManager};
    /// let smm = SharedMemoryManager::builder().start()?;
    /// let shm = SharedMemory::create(32)?; // not made by the manager
    /// smm.track_segment(shm.name())?;
    /// smm.shutdown()?;
    /// assert!(SharedMemory::attach(shm.name()).is_err());
    /// # Ok(()) }
    /// ```
    pub fn track_segment(&self, name: &str) -> Result<()> {
        self.control(&Request::TrackSegment {
            name: name.to_owned(),
        })
        .map(drop)
    }

    /// Forgets the segment `name` and unlinks it now: CPython's `release_segment` control
    /// request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if the manager does not track `name` (or before `start()`);
    /// [`ErrorKind::Os`] if the segment was already unlinked by someone else.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[mp::main] fn main() -> mp::Result<()> {
    /// use mp::shared_memory::{SharedMemory, SharedMemoryManager};
    /// let smm = SharedMemoryManager::builder().start()?;
    /// let shm = smm.shared_memory(32)?;
    /// smm.release_segment(shm.name())?;
    /// assert!(smm.list_segments()?.is_empty());
    /// assert!(SharedMemory::attach(shm.name()).is_err());
    /// assert_eq!(smm.release_segment(shm.name()).unwrap_err().kind(), mp::ErrorKind::Value);
    /// # Ok(()) }
    /// ```
    pub fn release_segment(&self, name: &str) -> Result<()> {
        self.control(&Request::ReleaseSegment {
            name: name.to_owned(),
        })
        .map(drop)
    }

    /// The names of the segments the server will unlink at shutdown, oldest first: CPython's
    /// `list_segments` control request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] before `start()`; the server cannot be reached.
    ///
    /// # Examples
    ///
    /// See [`SharedMemoryManager`].
    pub fn list_segments(&self) -> Result<Vec<String>> {
        let v = self.control(&Request::ListSegments)?;
        from_value(v).map_err(|e| Error::new(ErrorKind::Remote, e.message().to_owned()))
    }
}
