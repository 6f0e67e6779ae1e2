//! The simulator behind `bench/storage.sh`: a quarter of fetches for a
//! slice of KRs, written through the real check-in writer (with or without
//! the heartbeat) into a fresh database, then compacted by the real
//! compactor (or not), and measured. Prints one tab-separated line:
//! `fetches stored kept bytes_per_check_in bytes_per_kr`.
//!
//! Values are realistic for KR metrics: mostly unchanged, with a change
//! (a small step up or down) at random, on average every
//! `--change-every` hours. Seeded, so runs compare.
//!
//! Usage: `cargo run --release --example storage_sim -- --url sqlite:///tmp/x.db --krs 4 --every 15m --heartbeat 1h --retention 35d`

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use okrd::config::parse_duration;
use okrd::okr::{CheckIn, Origin};
use okrd::store::{CheckInWrite, CompactionPlan, Compactor, Store};
use rand::{Rng, SeedableRng};
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// A fresh database: sqlite://PATH or postgres://...
    #[arg(long)]
    url: String,
    /// KRs simulated for the whole quarter.
    #[arg(long, default_value_t = 4)]
    krs: usize,
    /// Fetch interval.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    every: Duration,
    /// Days simulated.
    #[arg(long, default_value_t = 91)]
    days: u32,
    /// `[storage] heartbeat`; 0s stores every fetch.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    heartbeat: Duration,
    /// `[storage] raw_retention`; 0s never compacts.
    #[arg(long, default_value = "35d", value_parser = parse_duration)]
    retention: Duration,
    /// Mean hours between changes of a KR's value.
    #[arg(long, default_value_t = 6.0)]
    change_every: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Writes in flight at once: enough to fill the writer's group commits.
const IN_FLIGHT: usize = 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let store = Store::connect(&args.url, 4).await?;
    store.migrate().await?;
    let (set, _, problems) = okrd::okr::file::parse_str("sim.toml", &okrs(args.krs));
    if !problems.is_empty() {
        return Err(format!("{problems:?}").into());
    }
    store.apply(&set, &okrd::okr::Ownership::new()).await?;
    let empty = table_bytes(&args.url).await?;

    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let end = start + chrono::Duration::days(i64::from(args.days));
    let (writer, task) = store.check_in_writer(CancellationToken::new(), args.heartbeat);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let change = args.every.as_secs_f64() / (args.change_every * 3600.0);
    let mut values: Vec<f64> = (0..args.krs).map(|i| 100.0 + i as f64).collect();
    let (mut fetches, mut stored) = (0u64, 0u64);
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    let step = chrono::Duration::from_std(args.every)?;
    let mut at = start;
    while at < end {
        for (i, v) in values.iter_mut().enumerate() {
            if rng.random_bool(change.min(1.0)) {
                *v += if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            }
            pending.push(writer.write(fetched(i, *v, at)));
            fetches += 1;
        }
        if pending.len() >= IN_FLIGHT {
            stored += flush(&mut pending).await?;
        }
        at += step;
    }
    stored += flush(&mut pending).await?;
    drop(pending);
    drop(writer);
    task.await?;

    if !args.retention.is_zero() {
        let plan = CompactionPlan {
            retention: args.retention,
            batch: 1000,
            timezone: chrono_tz::UTC,
        };
        Compactor::new(store.clone(), plan).run(end).await?;
    }
    let kept = kept_rows(&args.url).await?;
    store.close().await;
    let bytes = table_bytes(&args.url).await?.saturating_sub(empty);
    let per_check_in = bytes as f64 / kept.max(1) as f64;
    let per_kr = bytes as f64 / args.krs as f64;
    println!("{fetches}\t{stored}\t{kept}\t{per_check_in:.1}\t{per_kr:.0}");
    Ok(())
}

async fn flush(
    pending: &mut Vec<
        impl std::future::Future<Output = Result<okrd::store::Written, okrd::store::StoreError>>,
    >,
) -> Result<u64, okrd::store::StoreError> {
    let mut stored = 0;
    for w in futures_util::future::join_all(pending.drain(..)).await {
        stored += u64::from(matches!(w?, okrd::store::Written::New(_)));
    }
    Ok(stored)
}

/// A fetched value as the pipeline writes it: origin and slot key included.
fn fetched(i: usize, value: f64, at: DateTime<Utc>) -> CheckInWrite {
    let kr = kr_id(i);
    CheckInWrite {
        check_in: CheckIn {
            idempotency_key: Some(format!("{kr}@{}", at.timestamp_millis())),
            key_result: kr,
            value,
            observed_at: at,
            origin: Origin::source("web-analytics"),
            note: None,
            confidence: None,
        },
        is_override: false,
        hold: None,
        audit: None,
        guard: None,
    }
}

/// Realistic ids: as long as a team's slugs usually are.
fn kr_id(i: usize) -> String {
    format!("monthly-active-users-{i:05}")
}

/// One objective and owner per KR, so no OKR rule limits the slice.
fn okrs(krs: usize) -> String {
    let mut out = String::from(
        "[[periods]]\nid = \"2026-Q1\"\nstart = \"2026-01-01\"\nend = \"2026-03-31\"\n\
         [[teams]]\nid = \"t\"\nname = \"T\"\n",
    );
    for i in 0..krs {
        out.push_str(&format!(
            "[[objectives]]\nid = \"o{i}\"\ntitle = \"O\"\nperiod = \"2026-Q1\"\nteam = \"t\"\n\
             [[key_results]]\nid = \"{}\"\nobjective = \"o{i}\"\nteam = \"t\"\nowner = \"o{i}@x\"\n\
             title = \"K\"\nkind = \"increase\"\nstart = 0\ntarget = 1000\n",
            kr_id(i)
        ));
    }
    out
}

/// Check-in rows left.
async fn kept_rows(url: &str) -> Result<i64, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let n = sqlx::query("SELECT COUNT(*) FROM check_ins")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    conn.close().await?;
    Ok(n)
}

/// Bytes the check-ins take with their indexes, once deleted rows are
/// reclaimed: the SQLite file after VACUUM, PostgreSQL's table, indexes
/// and TOAST after VACUUM FULL.
async fn table_bytes(url: &str) -> Result<u64, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let size = if url.starts_with("sqlite:") {
        sqlx::raw_sql(AssertSqlSafe("VACUUM"))
            .execute(&mut conn)
            .await?;
        sqlx::query("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
            .fetch_one(&mut conn)
            .await?
            .try_get::<i64, _>(0)?
    } else {
        sqlx::raw_sql(AssertSqlSafe("VACUUM FULL check_ins"))
            .execute(&mut conn)
            .await?;
        sqlx::query("SELECT pg_total_relation_size('check_ins')::BIGINT")
            .fetch_one(&mut conn)
            .await?
            .try_get::<i64, _>(0)?
    };
    conn.close().await?;
    Ok(u64::try_from(size).unwrap_or(0))
}
