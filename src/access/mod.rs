//! Who may do what over the REST API: roles, the principal a request acts
//! as, and API tokens (`token`: making, hashing and checking them; `cache`:
//! looking them up without a database read per request).

pub mod cache;
pub mod named;
pub mod token;

use serde::{Deserialize, Serialize};

/// What a token grants, from least to most (README "Tokens and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Works on their own team's KRs: drafts, proposals, check-ins without a source.
    Member,
    /// Everything a member can, for every team, plus reviews and managing
    /// periods, teams and objectives.
    Leader,
    /// Everything, plus sources and the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Leader, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Leader => "leader",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's public id; `None` for anonymous reads.
    pub token_id: Option<String>,
    /// The token holder's name: the author of their check-ins and audit records.
    pub name: String,
    pub role: Role,
    /// For members: the team they act for.
    pub team: Option<String>,
}

impl Principal {
    /// A reader without a token (`[server] anonymous_read = true`).
    pub fn anonymous() -> Principal {
        Principal {
            token_id: None,
            name: "anonymous".into(),
            role: Role::Viewer,
            team: None,
        }
    }

    /// True when this principal may work on KRs of `team` as its member or above.
    pub fn acts_for(&self, team: &str) -> bool {
        match self.role {
            Role::Leader | Role::Admin => true,
            Role::Member => self.team.as_deref() == Some(team),
            Role::Viewer => false,
        }
    }

    /// How audit records and reviews name this principal: `name (token id)`.
    pub fn actor(&self) -> String {
        match &self.token_id {
            Some(id) => format!("{} (token {id})", self.name),
            None => self.name.clone(),
        }
    }
}

/// A principal the web app has already authenticated (a session cookie or
/// a trusted proxy's header), put into an in-process API request's
/// extensions. Only code in this process can set an extension, never a
/// client, so the API takes it in place of a bearer token: the web app's
/// writes then go through the API's own checks, one code path.
#[derive(Debug, Clone)]
pub struct ActingAs(pub Principal);

#[cfg(test)]
mod tests {
    use super::*;

    fn member(team: &str) -> Principal {
        Principal {
            token_id: Some("t1".into()),
            name: "dana".into(),
            role: Role::Member,
            team: Some(team.into()),
        }
    }

    #[test]
    fn members_act_for_their_team_only_and_leaders_for_all() {
        assert!(member("auth").acts_for("auth"));
        assert!(!member("auth").acts_for("growth"));
        let leader = Principal {
            role: Role::Leader,
            team: None,
            ..member("auth")
        };
        assert!(leader.acts_for("growth"));
        assert!(!Principal::anonymous().acts_for("auth"));
    }

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Viewer < Role::Member && Role::Member < Role::Leader);
        assert!(Role::Leader < Role::Admin);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
