//! Who may read and change what: roles, global or per team.

use crate::ids::{TeamId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Observer,
    Maintainer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
            Role::Observer => "observer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "maintainer" => Some(Role::Maintainer),
            "observer" => Some(Role::Observer),
            _ => None,
        }
    }

    fn can_write(self) -> bool {
        self >= Role::Maintainer
    }
}

/// A session ends after five days without use (Fleet's default session
/// duration) and, used or not, 30 days after sign-in, so a stolen cookie
/// does not live forever.
pub const SESSION_IDLE_SECS: i64 = 5 * 86_400;
pub const SESSION_MAX_AGE_SECS: i64 = 30 * 86_400;

/// Whether a session made at `created_at` and last used at `last_used_at` is still valid at `now`.
pub fn session_is_live(created_at: i64, last_used_at: i64, now: i64) -> bool {
    now - last_used_at <= SESSION_IDLE_SECS && now - created_at <= SESSION_MAX_AGE_SECS
}

/// Where an object lives: global (org-wide), "No team", or one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Org-wide objects: settings, global policies, labels, users.
    Global,
    /// Hosts without a team and their policies.
    NoTeam,
    Team(TeamId),
}

impl Scope {
    pub fn of_team(team: Option<TeamId>) -> Scope {
        team.map_or(Scope::NoTeam, Scope::Team)
    }
}

/// The signed-in user, as far as authorisation needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub global_role: Option<Role>,
    pub team_roles: Vec<(TeamId, Role)>,
}

impl Principal {
    fn team_role(&self, team: TeamId) -> Option<Role> {
        self.team_roles
            .iter()
            .find(|(t, _)| *t == team)
            .map(|(_, r)| *r)
    }

    /// The role that applies in a scope. Team users see global objects
    /// (labels, global policies) read-only, as in Fleet.
    fn role_in(&self, scope: Scope) -> Option<Role> {
        if let Some(role) = self.global_role {
            return Some(role);
        }
        match scope {
            Scope::Team(team) => self.team_role(team),
            Scope::Global if !self.team_roles.is_empty() => Some(Role::Observer),
            _ => None,
        }
    }

    pub fn can_read(&self, scope: Scope) -> bool {
        self.role_in(scope).is_some()
    }

    pub fn can_write(&self, scope: Scope) -> bool {
        self.role_in(scope).is_some_and(Role::can_write)
    }

    /// Whether any scope is writable for this user: what an upload needs
    /// before the form has said where it goes.
    pub fn can_write_anywhere(&self) -> bool {
        self.global_role.is_some_and(Role::can_write)
            || self.team_roles.iter().any(|(_, role)| role.can_write())
    }

    /// Org settings, users, teams themselves: global admins only.
    pub fn is_global_admin(&self) -> bool {
        self.global_role == Some(Role::Admin)
    }

    /// Team admins may manage their own team's settings and secrets.
    pub fn can_administer_team(&self, team: TeamId) -> bool {
        self.is_global_admin() || self.team_role(team) == Some(Role::Admin)
    }

    /// The teams whose hosts this user may see, or `None` for all of them.
    pub fn visible_teams(&self) -> Option<Vec<TeamId>> {
        if self.global_role.is_some() {
            None
        } else {
            Some(self.team_roles.iter().map(|(t, _)| *t).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_and_at_their_maximum_age() {
        let signed_in = 1_000_000;
        assert!(session_is_live(
            signed_in,
            signed_in,
            signed_in + SESSION_IDLE_SECS
        ));
        assert!(!session_is_live(
            signed_in,
            signed_in,
            signed_in + SESSION_IDLE_SECS + 1
        ));
        let busy = signed_in + SESSION_MAX_AGE_SECS;
        assert!(session_is_live(signed_in, busy, busy));
        assert!(!session_is_live(signed_in, busy + 1, busy + 1));
    }

    fn team_user(team: i64, role: Role) -> Principal {
        Principal {
            user_id: UserId(9),
            global_role: None,
            team_roles: vec![(TeamId(team), role)],
        }
    }

    #[test]
    fn team_observer_reads_only_their_team() {
        let user = team_user(1, Role::Observer);
        assert!(user.can_read(Scope::Team(TeamId(1))));
        assert!(!user.can_read(Scope::Team(TeamId(2))));
        assert!(!user.can_read(Scope::NoTeam));
        assert!(!user.can_write(Scope::Team(TeamId(1))));
        assert_eq!(user.visible_teams(), Some(vec![TeamId(1)]));
    }

    #[test]
    fn team_maintainer_writes_their_team_and_reads_global() {
        let user = team_user(1, Role::Maintainer);
        assert!(user.can_write(Scope::Team(TeamId(1))));
        assert!(user.can_read(Scope::Global));
        assert!(!user.can_write(Scope::Global));
        assert!(!user.can_administer_team(TeamId(1)));
    }

    #[test]
    fn global_roles_cover_every_scope() {
        let observer = Principal {
            user_id: UserId(1),
            global_role: Some(Role::Observer),
            team_roles: vec![],
        };
        assert!(observer.can_read(Scope::Team(TeamId(5))));
        assert!(!observer.can_write(Scope::NoTeam));
        let admin = Principal {
            global_role: Some(Role::Admin),
            ..observer
        };
        assert!(admin.can_write(Scope::Global));
        assert!(admin.is_global_admin());
        assert_eq!(admin.visible_teams(), None);
    }
}
