//! `[storage]`: how much of the check-in history is kept (README
//! "Storage"): an unchanged fetched value is stored once per `heartbeat`,
//! and raw fetched check-ins older than `raw_retention` are compacted in
//! the background to the last value of each day.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::duration::HumanDuration;

/// The shortest `raw_retention` other than 0: the day being compacted
/// must be over everywhere, whatever the time zone.
pub const MIN_RAW_RETENTION: Duration = Duration::from_secs(2 * 86_400);

/// Rows per compaction batch at most: the batch's ids are bound as
/// parameters of one statement, and both backends cap those.
pub const MAX_COMPACTION_BATCH: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// An unchanged fetched value is stored again after this long; `0s`
    /// stores every fetch.
    pub heartbeat: HumanDuration,
    /// Fetched check-ins older than this are compacted to the last of
    /// each day; `0s` never compacts.
    #[serde(deserialize_with = "retention")]
    pub raw_retention: HumanDuration,
    /// How often compaction runs (on one replica per interval).
    #[serde(deserialize_with = "not_zero")]
    pub compaction_interval: HumanDuration,
    /// Check-ins a compaction batch reads, and deletes at most, per statement.
    #[serde(deserialize_with = "batch")]
    pub compaction_batch: usize,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            heartbeat: HumanDuration(Duration::from_secs(3600)),
            raw_retention: HumanDuration(Duration::from_secs(35 * 86_400)),
            compaction_interval: HumanDuration(Duration::from_secs(3600)),
            compaction_batch: 1000,
        }
    }
}

fn retention<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    let t = HumanDuration::deserialize(d)?;
    if !t.0.is_zero() && t.0 < MIN_RAW_RETENTION {
        return Err(serde::de::Error::custom(
            "must be at least 2d (or 0s to never compact): the day being compacted must be over",
        ));
    }
    Ok(t)
}

fn not_zero<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    let t = HumanDuration::deserialize(d)?;
    if t.0.is_zero() {
        return Err(serde::de::Error::custom(
            "must be longer than 0s (set raw_retention = \"0s\" to never compact)",
        ));
    }
    Ok(t)
}

fn batch<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if !(1..=MAX_COMPACTION_BATCH).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "must be between 1 and {MAX_COMPACTION_BATCH}"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StorageSettings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_keep_an_hourly_heartbeat_and_35_days_raw() {
        let s = parse("").unwrap();
        assert_eq!(s.heartbeat.0, Duration::from_secs(3600));
        assert_eq!(s.raw_retention.0, Duration::from_secs(35 * 86_400));
        assert_eq!(s.compaction_interval.0, Duration::from_secs(3600));
        assert_eq!(s.compaction_batch, 1000);
    }

    #[test]
    fn knobs_parse_like_the_other_durations() {
        let s = parse(
            "heartbeat = \"0s\"\nraw_retention = \"2d\"\ncompaction_interval = \"10m\"\n\
             compaction_batch = 50\n",
        )
        .unwrap();
        assert!(s.heartbeat.0.is_zero());
        assert_eq!(s.raw_retention.0, MIN_RAW_RETENTION);
        assert_eq!(s.compaction_interval.0, Duration::from_secs(600));
        assert_eq!(s.compaction_batch, 50);
        assert!(
            parse("raw_retention = \"0s\"")
                .unwrap()
                .raw_retention
                .0
                .is_zero()
        );
    }

    #[test]
    fn short_retention_zero_interval_and_odd_batches_are_refused() {
        let err = parse("raw_retention = \"47h\"").unwrap_err();
        assert!(err.contains("at least 2d"), "{err}");
        let err = parse("compaction_interval = \"0s\"").unwrap_err();
        assert!(err.contains("longer than 0s"), "{err}");
        for n in [0, MAX_COMPACTION_BATCH + 1] {
            let err = parse(&format!("compaction_batch = {n}")).unwrap_err();
            assert!(err.contains("between 1 and"), "{err}");
        }
        let err = parse("heartbeat = \"1y\"").unwrap_err();
        assert!(err.contains("unknown unit"), "{err}");
    }
}
