//! Group commit of check-ins. One task writes every check-in: it takes what
//! is waiting (up to `MAX_BATCH`), writes it in one transaction and
//! acknowledges each only after the commit. Under load many check-ins share
//! one fsync instead of each paying for its own, and on SQLite writers
//! never fight over the write lock (whose busy handler sleeps in
//! milliseconds). An idle writer commits a lone check-in at once, so
//! nothing waits for a batch to fill. The writer applies the `[storage]
//! heartbeat` to fetched values (see `heartbeat`).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::check_ins::{CheckInWrite, Written, insert_one};
use super::codec::now_ms;
use super::{Backend, Store, StoreError};

/// Most check-ins committed together.
const MAX_BATCH: usize = 256;
/// Check-ins waiting for the writer before senders wait for room.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<Written, StoreError>>;

struct Job {
    write: CheckInWrite,
    reply: Reply,
}

/// Hands check-ins to the writer task. Cheap to clone; the task stops once
/// every clone is dropped and what was queued is written.
#[derive(Clone)]
pub struct CheckInWriter {
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Starts the writer task for this store (within a tokio runtime). It
    /// ends once every writer is dropped, or once `stop` is cancelled and
    /// what was queued before is committed. A fetched value equal to the
    /// check-in before it is stored again only `heartbeat` after it (zero:
    /// every time).
    pub fn check_in_writer(
        &self,
        stop: CancellationToken,
        heartbeat: Duration,
    ) -> (CheckInWriter, JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(self.clone(), rx, stop, heartbeat));
        (CheckInWriter { jobs }, task)
    }
}

impl CheckInWriter {
    /// Appends `check_in` with its audit record; returns once committed. A
    /// reused idempotency key writes nothing and returns the check-in
    /// stored then; so does a fetched value the heartbeat makes redundant.
    pub async fn write(&self, write: CheckInWrite) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { write, reply };
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::NotReady("the check-in writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::NotReady("the check-in writer has stopped".into()))?
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    stop: CancellationToken,
    heartbeat: Duration,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let got = tokio::select! {
            got = rx.recv_many(&mut batch, MAX_BATCH) => got,
            () = stop.cancelled() => {
                // Refuse new check-ins; what is queued is still received.
                rx.close();
                rx.recv_many(&mut batch, MAX_BATCH).await
            }
        };
        if got == 0 {
            break;
        }
        write_batch(&store, std::mem::take(&mut batch), heartbeat).await;
    }
}

/// All in one transaction; if anything in it fails, each check-in again
/// on its own, so one bad check-in fails alone. Unless the database is
/// away: then each would wait for it again (up to the pool's 10 s), one
/// after the other, while everything queued behind waits too; all fail at
/// once instead, to be kept for later or answered 503.
async fn write_batch(store: &Store, batch: Vec<Job>, heartbeat: Duration) {
    let now = now_ms();
    match write_together(store, &batch, now, heartbeat).await {
        Ok(results) => {
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        }
        Err(e) if batch.len() > 1 && e.is_unavailable() => {
            let why = e.to_string();
            for job in batch {
                let _ = job.reply.send(Err(StoreError::NotReady(why.clone())));
            }
        }
        Err(_) if batch.len() > 1 => {
            for job in batch {
                let result = write_together(store, std::slice::from_ref(&job), now, heartbeat)
                    .await
                    .map(|mut r| r.remove(0));
                let _ = job.reply.send(result);
            }
        }
        Err(e) => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

async fn write_together(
    store: &Store,
    batch: &[Job],
    now: i64,
    heartbeat: Duration,
) -> Result<Vec<Written>, StoreError> {
    // On SQLite, the write lock up front: guards read what the batch writes against.
    let mut tx = match store.backend {
        Backend::Sqlite => store.pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => store.pool.begin().await?,
    };
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        out.push(insert_one(&mut tx, &job.write, now, heartbeat, store.backend).await?);
    }
    tx.commit().await?;
    Ok(out)
}
