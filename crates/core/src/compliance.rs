//! Compliance verdicts: what Flotilla reports to Entra for one host.

use crate::ids::PolicyId;
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
