//! Every metric name in one place: the contract dashboards and alerts rely on
//! (README, "Metrics").

pub const KR_VALUE: &str = "okr_key_result_value";
pub const KR_START: &str = "okr_key_result_start";
pub const KR_TARGET: &str = "okr_key_result_target";
pub const KR_PROGRESS: &str = "okr_key_result_progress_ratio";
pub const KR_EXPECTED: &str = "okr_key_result_expected_progress_ratio";
pub const KR_STATUS: &str = "okr_key_result_status";
pub const KR_LAST_UPDATE: &str = "okr_key_result_last_update_timestamp_seconds";
pub const KR_INFO: &str = "okr_key_result_info";
pub const KR_HELD: &str = "okr_key_result_held";
pub const KR_WINDOWS_SATISFIED: &str = "okr_key_result_windows_satisfied";
pub const KR_WINDOWS_REQUIRED: &str = "okr_key_result_windows_required";
pub const KR_FORECAST_VALUE: &str = "okr_key_result_forecast_value";
pub const KR_FORECAST_PROGRESS: &str = "okr_key_result_forecast_progress_ratio";
pub const OBJECTIVE_PROGRESS: &str = "okr_objective_progress_ratio";
pub const OBJECTIVE_FORECAST_PROGRESS: &str = "okr_objective_forecast_progress_ratio";
pub const TEAM_PROGRESS: &str = "okr_team_progress_ratio";
pub const SOURCE_FETCHES: &str = "okr_source_fetches_total";
pub const SOURCE_FETCH_FAILURES: &str = "okr_source_fetch_failures_total";
pub const SOURCE_FETCH_DURATION: &str = "okr_source_fetch_duration_seconds";
pub const SOURCE_LAST_SUCCESS: &str = "okr_source_last_success_timestamp_seconds";
pub const SCHEDULER_LAG: &str = "okr_scheduler_lag_seconds";
pub const BACKFILL_VALUES: &str = "okr_backfill_values_total";
pub const BACKFILL_FAILURES: &str = "okr_backfill_failures_total";
pub const CHECK_IN_BACKLOG: &str = "okr_check_in_backlog";
pub const CHECK_IN_BACKLOG_DROPPED: &str = "okr_check_in_backlog_dropped_total";
pub const CHECK_INS_SKIPPED_UNCHANGED: &str = "okr_check_ins_skipped_unchanged_total";
pub const CHECK_INS_COMPACTED: &str = "okr_check_ins_compacted_total";
pub const BUILD_INFO: &str = "okr_build_info";
