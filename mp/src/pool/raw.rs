//! Type-erased submissions: a task named at run time, its argument chunks already encoded, its
//! results kept encoded. This is what a pool living in a manager's server uses
//! ([`SyncManager::pool`](crate::managers::SyncManager::pool)): the server does not know the
//! tasks' types, its clients encode the arguments and decode the results.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::engine::{JobSink, Outcome};
use crate::error::{Error, ErrorKind, Result};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A failure kept by a [`RawJob`] (an [`Error`] is not `Clone`; a job's result can be asked
/// for more than once, as Python's `AsyncResult.get`).
pub(crate) type Failure = (ErrorKind, String);

fn failure(e: &Error) -> Failure {
    (e.kind(), e.to_string())
}

/// What [`RawJob::next_chunk`] found.
#[derive(Debug)]
pub(crate) enum NextChunk {
    /// The encoded `Vec<Value>` of the next chunk, or its failure.
    Ready(std::result::Result<Vec<u8>, Failure>),
    /// Every chunk has been taken.
    End,
    /// Nothing arrived before the deadline.
    Timeout,
}

struct RawState {
    /// Per chunk: its outcome once it arrived (`None` again once taken by `next_chunk`).
    chunks: Vec<Option<std::result::Result<Vec<u8>, Failure>>>,
    /// Chunks not arrived yet.
    left: usize,
    /// The first failure to arrive (the whole job's failure, as CPython's `MapResult`).
    first_error: Option<Failure>,
    /// Arrived chunks not taken yet, in the order they arrived (`imap_unordered`).
    arrived: VecDeque<usize>,
    /// Chunks handed out by `next_chunk`.
    taken: usize,
}

/// The results of one raw submission (an `apply` is one chunk of one item; a `map` is its
/// chunks), encoded as the workers sent them.
pub(crate) struct RawJob {
    state: Mutex<RawState>,
    cond: Condvar,
}

impl RawJob {
    fn new(nchunks: usize) -> Arc<RawJob> {
        Arc::new(RawJob {
            state: Mutex::new(RawState {
                chunks: (0..nchunks).map(|_| None).collect(),
                left: nchunks,
                first_error: None,
                arrived: VecDeque::new(),
                taken: 0,
            }),
            cond: Condvar::new(),
        })
    }

    /// Whether every chunk has arrived.
    pub(crate) fn ready(&self) -> bool {
        lock(&self.state).left == 0
    }

    /// Waits until every chunk has arrived or `deadline` passes; returns whether they have.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut st = lock(&self.state);
        while st.left > 0 {
            st = match deadline {
                None => self.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    self.cond
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        true
    }

    /// The whole result once every chunk has arrived: the encoded chunks in order, or the
    /// first failure. `None` while chunks are outstanding. Can be asked again.
    pub(crate) fn result(&self) -> Option<std::result::Result<Vec<Vec<u8>>, Failure>> {
        let st = lock(&self.state);
        if st.left > 0 {
            return None;
        }
        if let Some(e) = &st.first_error {
            return Some(Err(e.clone()));
        }
        let mut all = Vec::with_capacity(st.chunks.len());
        for c in &st.chunks {
            match c {
                Some(Ok(b)) => all.push(b.clone()),
                Some(Err(e)) => return Some(Err(e.clone())),
                None => {
                    return Some(Err((
                        ErrorKind::Value,
                        "the chunks of this job were already taken by an iterator".into(),
                    )));
                }
            }
        }
        Some(Ok(all))
    }

    /// Whether the job succeeded; `None` while chunks are outstanding.
    pub(crate) fn successful(&self) -> Option<bool> {
        let st = lock(&self.state);
        (st.left == 0).then(|| st.first_error.is_none())
    }

    /// Takes the next chunk: the next in order (`ordered`) or the next to have arrived.
    pub(crate) fn next_chunk(&self, ordered: bool, deadline: Option<Instant>) -> NextChunk {
        let mut st = lock(&self.state);
        loop {
            if st.taken >= st.chunks.len() {
                return NextChunk::End;
            }
            let pick = if ordered {
                let i = st.taken;
                st.chunks[i].is_some().then_some(i)
            } else {
                st.arrived.pop_front()
            };
            if let Some(i) = pick {
                if ordered {
                    st.arrived.retain(|&x| x != i);
                }
                st.taken += 1;
                if let Some(c) = st.chunks[i].take() {
                    return NextChunk::Ready(c);
                }
                continue;
            }
            st = match deadline {
                None => self.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return NextChunk::Timeout;
                    }
                    self.cond
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

impl JobSink for RawJob {
    fn complete(&self, chunk: usize, outcome: Outcome) {
        let r = match outcome {
            Outcome::Ok(bytes, fds) if fds.is_empty() => Ok(bytes),
            Outcome::Ok(_, _) => Err((
                ErrorKind::Serialization,
                "a result holding OS handles (a Connection, a Queue...) cannot be sent back \
                 through a manager"
                    .to_string(),
            )),
            Outcome::Err(e) => Err(failure(&e)),
        };
        let mut st = lock(&self.state);
        if chunk >= st.chunks.len() || st.chunks[chunk].is_some() || st.left == 0 {
            return;
        }
        if let Err(e) = &r {
            st.first_error.get_or_insert_with(|| e.clone());
        }
        st.chunks[chunk] = Some(r);
        st.arrived.push_back(chunk);
        st.left -= 1;
        drop(st);
        self.cond.notify_all();
    }
}

impl super::PoolIn<super::WorkerProcesses> {
    /// Submits the task called `task` once per chunk of `chunks`, each an encoded `Vec` of
    /// argument tuples (`Vec<T::Args>`), and returns where the encoded `Vec<T::Value>` of each
    /// chunk will land.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Value`] if no task of that name is registered in this program, or the pool
    /// is not running.
    pub(crate) fn submit_raw(&self, task: &str, chunks: Vec<Vec<u8>>) -> Result<Arc<RawJob>> {
        super::sealed::Engine::check_caller(&self.ex)?;
        let entry = crate::registry::lookup(task).ok_or_else(|| {
            Error::value(format!(
                "no task named `{task}` is registered in the pool's program (add #[mp::task] \
                 to it, in the same binary)"
            ))
        })?;
        self.ex.shared.check_running()?;
        let job = RawJob::new(chunks.len());
        if chunks.is_empty() {
            return Ok(job);
        }
        let sink: Arc<dyn JobSink> = job.clone();
        let mut recs = Vec::with_capacity(chunks.len());
        for (i, bytes) in chunks.into_iter().enumerate() {
            recs.push(
                self.ex
                    .shared
                    .record(sink.clone(), i, entry.name, bytes, Vec::new())?,
            );
        }
        self.ex.shared.submit(recs, false)?;
        Ok(job)
    }
}

impl super::PoolBuilderIn<super::WorkerProcesses> {
    /// [`initializer`](PoolBuilder::initializer) with the task named at run time and its
    /// argument tuple already encoded.
    pub(crate) fn initializer_raw(mut self, task: String, args: Vec<u8>) -> Self {
        self.init = Some(Ok(super::processes::InitSpec(
            task,
            args,
            Vec::new(),
            Default::default(),
        )));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_in_order_and_as_they_arrive() {
        let job = RawJob::new(3);
        assert!(!job.ready());
        assert!(job.result().is_none());
        job.complete(2, Outcome::Ok(vec![2], Vec::new()));
        job.complete(0, Outcome::Ok(vec![0], Vec::new()));
        // A duplicate completion is ignored.
        job.complete(0, Outcome::Ok(vec![9], Vec::new()));
        assert!(matches!(
            job.next_chunk(true, Some(Instant::now())),
            NextChunk::Ready(Ok(ref b)) if b == &[0]
        ));
        assert!(matches!(
            job.next_chunk(true, Some(Instant::now())),
            NextChunk::Timeout
        ));
        job.complete(1, Outcome::Err(Error::new(ErrorKind::Remote, "boom")));
        assert!(job.ready());
        assert_eq!(job.successful(), Some(false));
        assert!(matches!(
            job.next_chunk(true, None),
            NextChunk::Ready(Err((ErrorKind::Remote, _)))
        ));
        assert!(matches!(
            job.next_chunk(true, None),
            NextChunk::Ready(Ok(ref b)) if b == &[2]
        ));
        assert!(matches!(job.next_chunk(true, None), NextChunk::End));
    }

    #[test]
    fn whole_result_is_repeatable_and_keeps_the_first_failure() {
        let job = RawJob::new(2);
        job.complete(1, Outcome::Ok(vec![1], Vec::new()));
        job.complete(0, Outcome::Ok(vec![0], Vec::new()));
        assert_eq!(job.result().unwrap().unwrap(), vec![vec![0], vec![1]]);
        assert_eq!(job.result().unwrap().unwrap(), vec![vec![0], vec![1]]);
        let job = RawJob::new(2);
        job.complete(1, Outcome::Err(Error::new(ErrorKind::Remote, "first")));
        job.complete(0, Outcome::Err(Error::new(ErrorKind::WorkerLost, "second")));
        assert_eq!(
            job.result().unwrap().unwrap_err(),
            (ErrorKind::Remote, "first".to_string())
        );
        let empty = RawJob::new(0);
        assert!(empty.wait(None));
        assert_eq!(empty.result().unwrap().unwrap(), Vec::<Vec<u8>>::new());
        assert!(matches!(empty.next_chunk(false, None), NextChunk::End));
    }

    #[test]
    fn unordered_takes_arrival_order() {
        let job = RawJob::new(2);
        job.complete(1, Outcome::Ok(vec![1], Vec::new()));
        assert!(matches!(
            job.next_chunk(false, None),
            NextChunk::Ready(Ok(ref b)) if b == &[1]
        ));
        job.complete(0, Outcome::Ok(vec![0], Vec::new()));
        assert!(matches!(
            job.next_chunk(false, None),
            NextChunk::Ready(Ok(ref b)) if b == &[0]
        ));
        assert!(matches!(job.next_chunk(false, None), NextChunk::End));
    }
}
