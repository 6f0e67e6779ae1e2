//! Group commit of check-ins. One task writes every check-in: it takes what
//! is waiting (up to `MAX_BATCH`), writes it in one transaction and
//! acknowledges each only after the commit. Under load many check-ins share
//! one fsync instead of each paying for its own, and on SQLite writers
//! never fight over the write lock (whose busy handler sleeps in
//! milliseconds). An idle writer commits a lone check-in at once, so
//! nothing waits for a batch to fill; a busy one starts a commit at most
//! every `COMMIT_EVERY`, so a steady stream of fetches (each arriving alone)
//! shares commits too. The writer applies the `[storage] heartbeat` to
//! fetched values (see `heartbeat`).

use std::time::Duration;

use tokio::time::Instant;

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
/// Under a steady stream, the least time from one commit's start to the
/// next: a commit's fixed cost (its transaction, its fsync) is paid once
/// for what arrives meanwhile, for at most this much wait.
const COMMIT_EVERY: Duration = Duration::from_millis(10);

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
    let mut last_commit: Option<Instant> = None;
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
        if let Some(last) = last_commit {
            gather(&mut rx, &mut batch, last + COMMIT_EVERY, &stop).await;
        }
        last_commit = Some(Instant::now());
        write_batch(&store, std::mem::take(&mut batch), heartbeat).await;
    }
}

/// Adds to `batch` what arrives until `until` (or it is full, or the
/// writer stops). Returns at once when `until` has passed: an idle writer
/// never waits.
async fn gather(
    rx: &mut mpsc::Receiver<Job>,
    batch: &mut Vec<Job>,
    until: Instant,
    stop: &CancellationToken,
) {
    while batch.len() < MAX_BATCH && Instant::now() < until && !stop.is_cancelled() {
        let room = MAX_BATCH - batch.len();
        tokio::select! {
            got = rx.recv_many(batch, room) => if got == 0 { return },
            () = tokio::time::sleep_until(until) => return,
            () = stop.cancelled() => return,
        }
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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::okr::{CheckIn, Origin};

    fn job(n: usize) -> Job {
        let check_in = CheckIn {
            key_result: format!("kr-{n}"),
            value: 1.0,
            observed_at: Utc::now(),
            origin: Origin::source("s"),
            note: None,
            confidence: None,
            idempotency_key: None,
        };
        let write = CheckInWrite {
            check_in,
            is_override: false,
            hold: None,
            audit: None,
            guard: None,
        };
        Job {
            write,
            reply: oneshot::channel().0,
        }
    }

    /// A queue holding `n` jobs.
    fn queue(n: usize) -> (mpsc::Sender<Job>, mpsc::Receiver<Job>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        for i in 0..n {
            tx.try_send(job(i)).unwrap_or_else(|_| panic!("room"));
        }
        (tx, rx)
    }

    /// How many jobs `gather` takes into an empty batch; fails rather than
    /// hangs if it waits when it must not.
    async fn gathered_at_once(
        rx: &mut mpsc::Receiver<Job>,
        until: Instant,
        stop: &CancellationToken,
    ) -> usize {
        let mut batch = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), gather(rx, &mut batch, until, stop))
            .await
            .expect("gather returned at once");
        batch.len()
    }

    #[tokio::test]
    async fn an_idle_writer_commits_at_once() {
        let (_tx, mut rx) = queue(2);
        let past = Instant::now();
        let taken = gathered_at_once(&mut rx, past, &CancellationToken::new()).await;
        assert_eq!(taken, 0);
    }

    #[tokio::test]
    async fn a_busy_writer_takes_what_waits_into_its_commit() {
        let (_tx, mut rx) = queue(3);
        let mut batch = vec![job(9)];
        let soon = Instant::now() + COMMIT_EVERY;
        gather(&mut rx, &mut batch, soon, &CancellationToken::new()).await;
        assert_eq!(batch.len(), 4);
    }

    #[tokio::test]
    async fn a_full_batch_a_stop_or_a_closed_queue_ends_the_wait() {
        let later = Instant::now() + Duration::from_secs(3600);
        let go_on = CancellationToken::new();
        let (_tx, mut rx) = queue(MAX_BATCH + 5);
        assert_eq!(gathered_at_once(&mut rx, later, &go_on).await, MAX_BATCH);
        let stop = CancellationToken::new();
        stop.cancel();
        let (_tx, mut rx) = queue(1);
        assert_eq!(gathered_at_once(&mut rx, later, &stop).await, 0);
        let (tx, mut rx) = queue(1);
        drop(tx);
        assert_eq!(gathered_at_once(&mut rx, later, &go_on).await, 1);
    }
}
