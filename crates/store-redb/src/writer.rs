//! The writer thread and group commit.
//!
//! Every write is a job sent to one dedicated thread, which owns the write
//! side of the database. The thread takes the first job that arrives and
//! every job queued behind it, up to `max_batch` (waiting up to
//! `max_wait` for more when the batch is not full), runs them one after
//! the other in **one** write transaction, commits it with immediate
//! durability (one fsync), and only then answers each caller. Writes that
//! arrive during a commit's fsync queue up and form the next batch, so
//! under load an fsync is shared by many writes, and alone a write waits
//! for nothing but its own commit.
//!
//! A job checks everything it needs before it changes anything, so a job
//! that refuses (`NotFound`, `Conflict`, `Invalid`) leaves the transaction
//! as it found it and its neighbours commit. A job that fails inside redb
//! (`Unavailable`, `Internal`: the transaction may hold half of its
//! changes) aborts the batch, and the other jobs of the batch run again,
//! each in its own transaction. A failed commit fails every job of the
//! batch: nothing of it was acknowledged.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use peer_store::StoreError;
use redb::{Database, Durability, Table, WriteTransaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::RedbConfig;
use crate::error::storage;
use crate::tables;

/// A table open for writing.
pub(crate) type WTable<'txn> = Table<'txn, &'static [u8], &'static [u8]>;

/// Every table, open in one write transaction.
pub(crate) struct WriteTables<'txn> {
    pub(crate) meta: WTable<'txn>,
    pub(crate) users: WTable<'txn>,
    pub(crate) user_names: WTable<'txn>,
    pub(crate) rooms: WTable<'txn>,
    pub(crate) public_rooms: WTable<'txn>,
    pub(crate) members: WTable<'txn>,
    pub(crate) memberships: WTable<'txn>,
    pub(crate) bans: WTable<'txn>,
    pub(crate) invites: WTable<'txn>,
    pub(crate) envelopes: WTable<'txn>,
    pub(crate) messages: WTable<'txn>,
    pub(crate) peers: WTable<'txn>,
    pub(crate) audit: WTable<'txn>,
    pub(crate) audit_by_room: WTable<'txn>,
    pub(crate) audit_by_actor: WTable<'txn>,
    pub(crate) audit_sources: WTable<'txn>,
}

impl<'txn> WriteTables<'txn> {
    /// Opens (creating on first use) every table.
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        let t = |def| txn.open_table(def).map_err(storage);
        Ok(WriteTables {
            meta: t(tables::META)?,
            users: t(tables::USERS)?,
            user_names: t(tables::USER_NAMES)?,
            rooms: t(tables::ROOMS)?,
            public_rooms: t(tables::PUBLIC_ROOMS)?,
            members: t(tables::MEMBERS)?,
            memberships: t(tables::MEMBERSHIPS)?,
            bans: t(tables::BANS)?,
            invites: t(tables::INVITES)?,
            envelopes: t(tables::ENVELOPES)?,
            messages: t(tables::MESSAGES)?,
            peers: t(tables::PEERS)?,
            audit: t(tables::AUDIT)?,
            audit_by_room: t(tables::AUDIT_BY_ROOM)?,
            audit_by_actor: t(tables::AUDIT_BY_ACTOR)?,
            audit_sources: t(tables::AUDIT_SOURCES)?,
        })
    }
}

/// True for the errors after which a transaction may hold half a change.
fn poisons(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable { .. } | StoreError::Internal(_))
}

/// One write, with where its answer goes.
trait Job: Send {
    /// Runs the write in the batch's transaction; `Err` when it failed
    /// inside redb (the batch must not commit).
    fn run(&mut self, tables: &mut WriteTables<'_>) -> Result<(), StoreError>;

    /// Answers the caller: its result if the batch committed, else why not.
    fn finish(self: Box<Self>, outcome: Result<(), StoreError>);
}

struct TypedJob<R, F> {
    op: F,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
    _place: OwnedSemaphorePermit,
}

impl<R, F> Job for TypedJob<R, F>
where
    R: Send + 'static,
    F: FnMut(&mut WriteTables<'_>) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, tables: &mut WriteTables<'_>) -> Result<(), StoreError> {
        let result = (self.op)(tables);
        let failed = match &result {
            Err(e) if poisons(e) => Err(e.clone()),
            _ => Ok(()),
        };
        self.result = Some(result);
        failed
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreError>) {
        let answer = match outcome {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(StoreError::internal("a write was not run"))),
            Err(e) => Err(e),
        };
        // The caller may have gone away (a cancelled request): nothing to do.
        let _ = self.reply.send(answer);
    }
}

/// The handle of the writer thread.
pub(crate) struct Writer {
    sender: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    places: Arc<Semaphore>,
}

impl Writer {
    /// Starts the thread.
    pub(crate) fn start(db: Arc<Database>, config: &RedbConfig) -> Result<Self, std::io::Error> {
        let (sender, receiver) = mpsc::channel();
        let max_batch = config.max_batch.max(1);
        let max_wait = config.max_wait;
        let thread = std::thread::Builder::new()
            .name("peer-store-redb writer".into())
            .spawn(move || run(&db, &receiver, max_batch, max_wait))?;
        Ok(Writer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            places: Arc::new(Semaphore::new(config.max_queued.max(1))),
        })
    }

    /// Runs `op` in a batch and returns its result once the batch is
    /// durable. `op` may run twice (see the module docs), so it must not
    /// consume what it captured.
    pub(crate) async fn write<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnMut(&mut WriteTables<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let closed = || StoreError::unavailable("the store is closed");
        let place = Arc::clone(&self.places)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            op,
            result: None,
            reply,
            _place: place,
        });
        {
            let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
            sender
                .as_ref()
                .ok_or_else(closed)?
                .send(job)
                .map_err(|_| closed())?;
        }
        answer
            .await
            .map_err(|_| StoreError::unavailable("the writer stopped"))?
    }

    /// Stops taking writes, lets the queued ones commit, and waits for the
    /// thread to end.
    pub(crate) fn stop(&self) {
        self.places.close();
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// True while the thread runs.
    pub(crate) fn is_running(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    db: &Database,
    jobs: &Receiver<Box<dyn Job>>,
    max_batch: usize,
    max_wait: std::time::Duration,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + max_wait;
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match jobs.recv_timeout(left) {
                        Ok(job) => batch.push(job),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        commit(db, batch);
    }
}

/// Why a batch did not commit.
enum Failure {
    /// A job failed inside redb: the others may succeed alone.
    Job(StoreError),
    /// The transaction could not begin or commit: nothing of it is durable.
    Transaction(StoreError),
}

fn commit(db: &Database, mut batch: Vec<Box<dyn Job>>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| apply(db, &mut batch)))
        .unwrap_or_else(|_| Err(Failure::Job(StoreError::internal("a write panicked"))));
    match outcome {
        Ok(()) => {
            for job in batch {
                job.finish(Ok(()));
            }
        }
        Err(Failure::Job(_)) if batch.len() > 1 => {
            tracing::warn!(
                jobs = batch.len(),
                "a write failed inside the database; retrying the batch's writes one by one"
            );
            for job in batch {
                commit(db, vec![job]);
            }
        }
        Err(Failure::Job(e) | Failure::Transaction(e)) => {
            for job in batch {
                job.finish(Err(e.clone()));
            }
        }
    }
}

fn apply(db: &Database, batch: &mut [Box<dyn Job>]) -> Result<(), Failure> {
    let mut txn = db
        .begin_write()
        .map_err(|e| Failure::Transaction(storage(e)))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| Failure::Transaction(storage(e)))?;
    {
        let mut tables = WriteTables::open(&txn).map_err(Failure::Transaction)?;
        for job in batch.iter_mut() {
            job.run(&mut tables).map_err(Failure::Job)?;
        }
    }
    txn.commit().map_err(|e| Failure::Transaction(storage(e)))
}
