//! Compliance verdicts: what Flotilla reports to Entra for one host.

use crate::access::Scope;
use crate::ids::PolicyId;
use crate::platform::{HostPlatform, PlatformSet};
use std::collections::HashMap;

/// What is reported to Microsoft: the inventory's management state and the
/// compliance status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub managed: bool,
    pub compliant: bool,
}

impl Verdict {
    pub fn management_state(self) -> &'static str {
        if self.managed {
            "managed"
        } else {
            "notManaged"
        }
    }

    pub fn compliance_status(self) -> &'static str {
        if self.compliant {
            "compliant"
        } else {
            "notCompliant"
        }
    }
}

/// What is known of a host's Entra registration, for admins to see why a
/// Mac is (or isn't) reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntraStatus {
    Registered,
    /// fleetd answered: the Mac has no Platform SSO registration.
    NotRegistered,
    /// Plain osquery has no `app_sso_platform` table, so it can't say.
    NeedsFleetd,
    /// Only Macs register through Platform SSO.
    NotApplicable,
}

impl EntraStatus {
    /// The status of a host of this platform, given whether fleetd runs on it
    /// and whether it reported a registration.
    pub fn of(platform: &HostPlatform, has_fleetd: bool, registered: bool) -> EntraStatus {
        if registered {
            EntraStatus::Registered
        } else if platform.family() != Some(crate::Platform::Darwin) {
            EntraStatus::NotApplicable
        } else if has_fleetd {
            EntraStatus::NotRegistered
        } else {
            EntraStatus::NeedsFleetd
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntraStatus::Registered => "registered",
            EntraStatus::NotRegistered => "not_registered",
            EntraStatus::NeedsFleetd => "needs_fleetd",
            EntraStatus::NotApplicable => "not_applicable",
        }
    }

    /// What the host page and the host API say about it.
    pub fn message(self) -> &'static str {
        match self {
            EntraStatus::Registered => "Registered with Entra",
            EntraStatus::NotRegistered => {
                "Not registered with Entra (no Platform SSO registration)"
            }
            EntraStatus::NeedsFleetd => "Entra identity unknown: needs fleetd",
            EntraStatus::NotApplicable => "Entra registration is reported by Macs only",
        }
    }
}

/// A policy as far as choosing the ones that count is concerned.
#[derive(Debug, Clone, Copy)]
pub struct CandidatePolicy<'a> {
    pub id: PolicyId,
    pub scope: Scope,
    pub conditional_access_enabled: bool,
    pub platform: &'a PlatformSet,
    /// Whether the policy's label targeting takes in the host.
    pub in_label_scope: bool,
}

/// The policies that decide a host's compliance: its team's (or "No team"'s)
/// policies with conditional access enabled that run on its platform and whose
/// labels take it in. Global
/// policies never count.
pub fn counted_policies<'a>(
    candidates: impl IntoIterator<Item = CandidatePolicy<'a>>,
    host_platform: &HostPlatform,
) -> Vec<PolicyId> {
    candidates
        .into_iter()
        .filter(|p| p.conditional_access_enabled && p.scope != Scope::Global && p.in_label_scope)
        .filter(|p| p.platform.targets_host(host_platform))
        .map(|p| p.id)
        .collect()
}

/// Decides a host's verdict.
///
/// - `counted`: the conditional-access policies of the host's team (or "No
///   team") that apply to its platform;
/// - `results`: the host's stored results (`Some(true)` pass, `Some(false)`
///   fail, `None` errored); a policy absent from the map has no result;
/// - `mdm_enrolled`: the host's MDM state (`None`: never reported).
///
/// A failing, errored or missing result makes the host non-compliant: a host
/// must never gain compliance by leaving a result out. A host that is not
/// under MDM is reported as not managed, which Entra treats as non-compliant,
/// so it is reported non-compliant too.
pub fn verdict(
    counted: &[PolicyId],
    results: &HashMap<PolicyId, Option<bool>>,
    mdm_enrolled: Option<bool>,
) -> Verdict {
    let managed = mdm_enrolled == Some(true);
    let policies_pass = counted
        .iter()
        .all(|policy| matches!(results.get(policy), Some(Some(true))));
    Verdict {
        managed,
        compliant: managed && policies_pass,
    }
}

/// Whether a verdict must be sent: only when it differs from what was last
/// sent (or queued) for this host.
pub fn needs_report(last_sent: Option<Verdict>, now: Verdict) -> bool {
    last_sent != Some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(entries: &[(i64, Option<bool>)]) -> HashMap<PolicyId, Option<bool>> {
        entries.iter().map(|(id, r)| (PolicyId(*id), *r)).collect()
    }

    #[test]
    fn every_counted_policy_must_pass() {
        let counted = [PolicyId(1), PolicyId(2)];
        let all_pass = results(&[(1, Some(true)), (2, Some(true))]);
        assert_eq!(
            verdict(&counted, &all_pass, Some(true)),
            Verdict {
                managed: true,
                compliant: true
            }
        );
        let one_fails = results(&[(1, Some(true)), (2, Some(false))]);
        assert!(!verdict(&counted, &one_fails, Some(true)).compliant);
        let one_errors = results(&[(1, Some(true)), (2, None)]);
        assert!(!verdict(&counted, &one_errors, Some(true)).compliant);
    }

    #[test]
    fn a_missing_result_never_grants_compliance() {
        let counted = [PolicyId(1), PolicyId(2)];
        let only_one = results(&[(1, Some(true))]);
        assert!(!verdict(&counted, &only_one, Some(true)).compliant);
    }

    #[test]
    fn uncounted_policies_do_not_matter_and_none_counted_is_compliant() {
        let failing_elsewhere = results(&[(9, Some(false))]);
        assert!(verdict(&[], &failing_elsewhere, Some(true)).compliant);
        assert!(
            verdict(
                &[PolicyId(1)],
                &results(&[(1, Some(true)), (9, Some(false))]),
                Some(true)
            )
            .compliant
        );
    }

    #[test]
    fn without_mdm_the_host_is_not_managed() {
        let pass = results(&[(1, Some(true))]);
        for mdm in [Some(false), None] {
            let v = verdict(&[PolicyId(1)], &pass, mdm);
            assert_eq!(v.management_state(), "notManaged");
            assert_eq!(v.compliance_status(), "notCompliant");
        }
    }

    #[test]
    fn a_mac_without_fleetd_cant_say_who_it_is_in_entra() {
        let mac = HostPlatform::new("darwin");
        assert_eq!(
            EntraStatus::of(&mac, false, false),
            EntraStatus::NeedsFleetd
        );
        assert_eq!(
            EntraStatus::of(&mac, true, false),
            EntraStatus::NotRegistered
        );
        assert_eq!(EntraStatus::of(&mac, true, true), EntraStatus::Registered);
        let linux = HostPlatform::new("ubuntu");
        assert_eq!(
            EntraStatus::of(&linux, false, false),
            EntraStatus::NotApplicable
        );
        assert_eq!(
            EntraStatus::NeedsFleetd.message(),
            "Entra identity unknown: needs fleetd"
        );
    }

    #[test]
    fn only_the_teams_conditional_access_policies_for_the_platform_count() {
        use crate::ids::TeamId;
        let team = Scope::Team(TeamId(3));
        let candidates = [
            CandidatePolicy {
                id: PolicyId(1),
                scope: team,
                conditional_access_enabled: true,
                platform: &PlatformSet::parse("darwin").unwrap(),
                in_label_scope: true,
            },
            CandidatePolicy {
                id: PolicyId(2),
                scope: team,
                conditional_access_enabled: false,
                platform: &PlatformSet::parse("darwin").unwrap(),
                in_label_scope: true,
            },
            CandidatePolicy {
                id: PolicyId(3),
                scope: Scope::Global,
                conditional_access_enabled: true,
                platform: &PlatformSet::parse("").unwrap(),
                in_label_scope: true,
            },
            CandidatePolicy {
                id: PolicyId(4),
                scope: team,
                conditional_access_enabled: true,
                platform: &PlatformSet::parse("windows").unwrap(),
                in_label_scope: true,
            },
            CandidatePolicy {
                id: PolicyId(5),
                scope: team,
                conditional_access_enabled: true,
                platform: &PlatformSet::parse("").unwrap(),
                in_label_scope: true,
            },
        ];
        assert_eq!(
            counted_policies(candidates, &"darwin".into()),
            vec![PolicyId(1), PolicyId(5)]
        );
        let no_team = [CandidatePolicy {
            id: PolicyId(6),
            scope: Scope::NoTeam,
            conditional_access_enabled: true,
            platform: &PlatformSet::parse("darwin").unwrap(),
            in_label_scope: true,
        }];
        assert_eq!(
            counted_policies(no_team, &"darwin".into()),
            vec![PolicyId(6)]
        );
        let outside_its_labels = [CandidatePolicy {
            id: PolicyId(7),
            scope: team,
            conditional_access_enabled: true,
            platform: &PlatformSet::parse("darwin").unwrap(),
            in_label_scope: false,
        }];
        assert!(counted_policies(outside_its_labels, &"darwin".into()).is_empty());
    }

    #[test]
    fn only_changes_are_reported() {
        let v = Verdict {
            managed: true,
            compliant: false,
        };
        assert!(needs_report(None, v));
        assert!(!needs_report(Some(v), v));
        assert!(needs_report(
            Some(Verdict {
                compliant: true,
                ..v
            }),
            v
        ));
    }
}
