//! The bodies `/key-results` takes and answers with, and the checks of a
//! KR's own fields.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Principal;
use crate::api::error::{ApiError, ApiResult, Warning};
use crate::api::extract::{nullable, present};
use crate::api::input::{
    self, MAX_DESCRIPTION, MAX_OWNER, MAX_PARAMS_BYTES, MAX_SCHEDULE, MAX_TITLE, MAX_UNIT,
};
use crate::api::views::KeyResultView;
use crate::okr::guard::Guard;
use crate::okr::sustain::{Aggregate, Comparison, SustainFields, Window};
use crate::okr::{KeyResult, KrKind, Rollup, SourceRef, WorkflowState};

/// A KR's source binding, as in OKR files.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBindingBody {
    /// A `[[sources]]` name from the daemon's config.
    #[serde(rename = "use")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub source: String,
    /// Overrides the source's schedule (crontab, 5 or 6 fields).
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 100
    )]
    pub schedule: Option<String>,
    /// Connector params merged over the source's (never secrets).
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SourceBindingBody {
    pub(super) fn into_model(self) -> ApiResult<SourceRef> {
        input::text("source.use", &self.source, MAX_TITLE, false)?;
        input::opt_text(
            "source.schedule",
            self.schedule.as_deref(),
            MAX_SCHEDULE,
            false,
        )?;
        let params = self.params.unwrap_or_default();
        let size = serde_json::Value::Object(params.clone()).to_string().len();
        if size > MAX_PARAMS_BYTES {
            return Err(ApiError::unprocessable(format!(
                "`source.params` is {size} bytes of JSON; the most is {MAX_PARAMS_BYTES}"
            )));
        }
        Ok(SourceRef {
            source: self.source,
            schedule: self.schedule,
            params,
        })
    }
}

/// A new KR: the fields of an OKR file's `[[key_results]]`. It starts as a draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyResult {
    /// Letters, digits, `.`, `_` and `-`; at most 128.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub id: String,
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub objective: String,
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub team: String,
    /// Who answers for it [default: the token's name].
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 254
    )]
    pub owner: Option<String>,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub title: String,
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        max_length = 4000
    )]
    pub description: Option<String>,
    pub kind: KrKind,
    /// Baseline (increase / decrease).
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub start: Option<f64>,
    /// Goal (increase / decrease) or threshold (at_least / at_most).
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub target: Option<f64>,
    /// Deadline (milestones).
    pub due: Option<NaiveDate>,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 32
    )]
    pub unit: Option<String>,
    /// Share of its objective's progress [default: 1].
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    pub weight: Option<f64>,
    /// The KR it contributes to.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<String>,
    /// How a parent KR without a source derives its value from its children.
    pub rollup: Option<Rollup>,
    pub source: Option<SourceBindingBody>,
    /// Sustain KRs (required for them, refused for the others): which side
    /// of `target` a window's value must be on.
    pub comparison: Option<Comparison>,
    /// Sustain KRs: local days, weeks from Monday or calendar months, in
    /// the scheduler's time zone.
    pub window: Option<Window>,
    /// Sustain KRs: how many windows of the period must hold the level.
    #[schema(minimum = 1, maximum = 1000)]
    pub required: Option<u32>,
    /// Sustain KRs: a window's value is its last one or the mean of its days [default: last].
    pub aggregate: Option<Aggregate>,
    /// Bounds on believable fetched values; set fields win over the source's guard.
    pub guard: Option<Guard>,
}

/// Changes to a KR: members present are set, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyResultPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub objective: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub team: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 254
    )]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        max_length = 200
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$", max_length = 4000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub kind: Option<KrKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, minimum = -1e15, maximum = 1e15)]
    pub start: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, minimum = -1e15, maximum = 1e15)]
    pub target: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub due: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$", max_length = 32)]
    pub unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    pub weight: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub parent: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Rollup>)]
    pub rollup: Option<Option<Rollup>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<SourceBindingBody>)]
    pub source: Option<Option<SourceBindingBody>>,
    /// Sustain KRs. Changing `kind` away from `sustain` clears the four
    /// sustain members.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Comparison>)]
    pub comparison: Option<Option<Comparison>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Window>)]
    pub window: Option<Option<Window>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub required: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Aggregate>)]
    pub aggregate: Option<Option<Aggregate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Guard>)]
    pub guard: Option<Option<Guard>>,
}

/// A KR after a write, with the warnings the rules raised.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResultWritten<'a> {
    #[serde(flatten)]
    pub key_result: KeyResultView<'a>,
    pub warnings: Vec<Warning>,
}

impl NewKeyResult {
    pub(super) fn into_model(self, author: &Principal) -> ApiResult<KeyResult> {
        input::id("id", &self.id)?;
        let sustain = SustainFields {
            comparison: self.comparison,
            window: self.window,
            required: self.required,
            aggregate: self.aggregate,
        }
        .resolve(self.kind, &self.id)
        .map_err(|(_, why)| ApiError::unprocessable(why))?;
        let kr = KeyResult {
            id: self.id,
            objective: self.objective,
            team: self.team,
            owner: self.owner.unwrap_or_else(|| author.name.clone()),
            title: self.title,
            description: self.description,
            kind: self.kind,
            start: self.start,
            target: self.target,
            due: self.due,
            unit: self.unit,
            weight: self.weight.unwrap_or(1.0),
            parent: self.parent,
            rollup: self.rollup,
            source: self.source.map(SourceBindingBody::into_model).transpose()?,
            state: WorkflowState::Draft,
            sustain,
            guard: self.guard,
        };
        check_fields(&kr)?;
        Ok(kr)
    }
}

impl KeyResultPatch {
    pub(super) fn apply(self, kr: &mut KeyResult) -> ApiResult<()> {
        let mut sustain = SustainFields::of(kr.sustain);
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    kr.$field = v;
                }
            )*};
        }
        set!(
            objective,
            team,
            owner,
            title,
            description,
            kind,
            start,
            target,
            due,
            unit,
            weight,
            parent,
            rollup
        );
        if let Some(source) = self.source {
            kr.source = source.map(SourceBindingBody::into_model).transpose()?;
        }
        // The rule belonged to the kind it had.
        if kr.kind != KrKind::Sustain {
            sustain = SustainFields::default();
        }
        macro_rules! set_sustain {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    sustain.$field = v;
                }
            )*};
        }
        set_sustain!(comparison, window, required, aggregate);
        kr.sustain = sustain
            .resolve(kr.kind, &kr.id)
            .map_err(|(_, why)| ApiError::unprocessable(why))?;
        if let Some(guard) = self.guard {
            kr.guard = guard;
        }
        check_fields(kr)
    }
}

/// Lengths and numbers of a KR's own fields.
pub(super) fn check_fields(kr: &KeyResult) -> ApiResult<()> {
    input::text("title", &kr.title, MAX_TITLE, false)?;
    input::text("owner", &kr.owner, MAX_OWNER, false)?;
    input::text("objective", &kr.objective, MAX_TITLE, false)?;
    input::text("team", &kr.team, MAX_TITLE, false)?;
    input::opt_text(
        "description",
        kr.description.as_deref(),
        MAX_DESCRIPTION,
        true,
    )?;
    input::opt_text("unit", kr.unit.as_deref(), MAX_UNIT, false)?;
    input::opt_text("parent", kr.parent.as_deref(), MAX_TITLE, false)?;
    input::opt_number("start", kr.start)?;
    input::opt_number("target", kr.target)?;
    if let Some(g) = &kr.guard {
        input::opt_number("guard.min", g.min)?;
        input::opt_number("guard.max", g.max)?;
    }
    input::weight(kr.weight)
}
