//! The bottom-up review workflow (README "The bottom-up flow") as a table: which actions each
//! state allows, where they lead, and which need a comment.
//!
//! ```text
//! draft ──propose──▶ proposed ──approve──▶ approved
//!   ▲                 │   │                   │
//!   │   changes_requested ◀──request_changes──┘
//!   └──── (edit, propose again)   │
//!                      reject ──▶ rejected
//! any state but archived ──archive──▶ archived
//! ```

use serde::{Deserialize, Serialize};

use super::model::WorkflowState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Propose,
    Approve,
    RequestChanges,
    Reject,
    Archive,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Propose,
        Action::Approve,
        Action::RequestChanges,
        Action::Reject,
        Action::Archive,
    ];

    /// As stored in the review history.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Propose => "propose",
            Action::Approve => "approve",
            Action::RequestChanges => "request_changes",
            Action::Reject => "reject",
            Action::Archive => "archive",
        }
    }

    /// As in the URL: `/key-results/{id}/request-changes`.
    pub fn path(self) -> &'static str {
        match self {
            Action::RequestChanges => "request-changes",
            other => other.as_str(),
        }
    }

    /// Where the action leads.
    pub fn target(self) -> WorkflowState {
        match self {
            Action::Propose => WorkflowState::Proposed,
            Action::Approve => WorkflowState::Approved,
            Action::RequestChanges => WorkflowState::ChangesRequested,
            Action::Reject => WorkflowState::Rejected,
            Action::Archive => WorkflowState::Archived,
        }
    }

    /// The states it may be taken from.
    pub fn allowed_from(self) -> &'static [WorkflowState] {
        use WorkflowState::*;
        match self {
            Action::Propose => &[Draft, ChangesRequested],
            Action::Approve => &[Proposed],
            // A leader may also send an approved KR back for rework.
            Action::RequestChanges => &[Proposed, Approved],
            Action::Reject => &[Proposed],
            Action::Archive => &[Draft, Proposed, ChangesRequested, Approved, Rejected],
        }
    }

    /// Saying what to change, or why not, is part of the review.
    pub fn needs_comment(self) -> bool {
        matches!(self, Action::RequestChanges | Action::Reject)
    }
}

/// The actions a KR in `state` allows.
pub fn allowed_actions(state: WorkflowState) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| a.allowed_from().contains(&state))
        .collect()
}

/// The state `action` leads to from `from`, or `None` when it is not allowed there.
pub fn transition(action: Action, from: WorkflowState) -> Option<WorkflowState> {
    action
        .allowed_from()
        .contains(&from)
        .then(|| action.target())
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkflowState::*;

    #[test]
    fn the_review_path_and_its_detours() {
        assert_eq!(transition(Action::Propose, Draft), Some(Proposed));
        assert_eq!(transition(Action::Approve, Proposed), Some(Approved));
        assert_eq!(
            transition(Action::RequestChanges, Proposed),
            Some(ChangesRequested)
        );
        assert_eq!(
            transition(Action::Propose, ChangesRequested),
            Some(Proposed)
        );
        assert_eq!(transition(Action::Reject, Proposed), Some(Rejected));
        assert_eq!(
            transition(Action::RequestChanges, Approved),
            Some(ChangesRequested)
        );
    }

    #[test]
    fn illegal_moves_are_refused() {
        assert_eq!(transition(Action::Approve, Draft), None);
        assert_eq!(transition(Action::Approve, Approved), None);
        assert_eq!(transition(Action::Reject, Approved), None);
        assert_eq!(transition(Action::Propose, Approved), None);
        for a in Action::ALL {
            assert_eq!(transition(a, Archived), None, "{a:?} from archived");
        }
        assert!(allowed_actions(Archived).is_empty());
        assert_eq!(allowed_actions(Rejected), [Action::Archive]);
    }

    #[test]
    fn action_names_in_history_and_urls() {
        for a in Action::ALL {
            // The review history stores what JSON calls the action.
            assert_eq!(
                serde_json::to_value(a).ok(),
                Some(serde_json::Value::String(a.as_str().into()))
            );
        }
        assert_eq!(
            Action::ALL.map(Action::as_str),
            ["propose", "approve", "request_changes", "reject", "archive"]
        );
        assert_eq!(
            Action::ALL.map(Action::path),
            ["propose", "approve", "request-changes", "reject", "archive"]
        );
    }

    #[test]
    fn only_sending_back_and_rejecting_need_a_comment() {
        let needing: Vec<Action> = Action::ALL
            .into_iter()
            .filter(|a| a.needs_comment())
            .collect();
        assert_eq!(needing, [Action::RequestChanges, Action::Reject]);
    }
}
