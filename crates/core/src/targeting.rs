//! Label targeting: which hosts an object (profile, policy, package) is for.

use serde::{Deserialize, Serialize};

/// How a label's members are decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelMembership {
    /// Hosts answer the label's query.
    #[default]
    Dynamic,
    /// An admin lists the hosts.
    Manual,
}

/// Which hosts an object targets, by label name. Empty lists target every host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelScope {
    pub labels_include_all: Vec<String>,
    pub labels_include_any: Vec<String>,
    pub labels_exclude_any: Vec<String>,
}

impl LabelScope {
    /// Every label name used, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.labels_include_all
            .iter()
            .chain(&self.labels_include_any)
            .chain(&self.labels_exclude_any)
            .map(String::as_str)
    }

    /// How many of the three modes are used; an object takes at most one.
    pub fn modes_used(&self) -> usize {
        [
            &self.labels_include_all,
            &self.labels_include_any,
            &self.labels_exclude_any,
        ]
        .iter()
        .filter(|l| !l.is_empty())
        .count()
    }
}

/// Does a host in `host_labels` get an object scoped by `scope`?
pub fn label_scope_applies(scope: &LabelScope, host_labels: &[&str]) -> bool {
    let has = |name: &String| host_labels.contains(&name.as_str());
    scope.labels_include_all.iter().all(has)
        && (scope.labels_include_any.is_empty() || scope.labels_include_any.iter().any(has))
        && !scope.labels_exclude_any.iter().any(has)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_scopes_follow_fleet_semantics() {
        let scope = |all: &[&str], any: &[&str], exclude: &[&str]| LabelScope {
            labels_include_all: all.iter().map(|s| s.to_string()).collect(),
            labels_include_any: any.iter().map(|s| s.to_string()).collect(),
            labels_exclude_any: exclude.iter().map(|s| s.to_string()).collect(),
        };
        assert!(label_scope_applies(&LabelScope::default(), &[]));
        assert!(label_scope_applies(
            &scope(&["a", "b"], &[], &[]),
            &["a", "b", "c"]
        ));
        assert!(!label_scope_applies(&scope(&["a", "b"], &[], &[]), &["a"]));
        assert!(label_scope_applies(&scope(&[], &["a", "b"], &[]), &["b"]));
        assert!(!label_scope_applies(&scope(&[], &["a", "b"], &[]), &["c"]));
        assert!(!label_scope_applies(&scope(&[], &[], &["x"]), &["x", "a"]));
        assert!(label_scope_applies(&scope(&[], &[], &["x"]), &["a"]));
        assert_eq!(scope(&["a"], &[], &["b"]).modes_used(), 2);
    }
}
