//! The names under which distributed queries travel to agents and back.

use crate::ids::{LabelId, PolicyId};

pub const DETAIL_PREFIX: &str = "fleet_detail_query_";
pub const LABEL_PREFIX: &str = "fleet_label_query_";
pub const POLICY_PREFIX: &str = "fleet_policy_query_";

/// What a distributed query name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryName {
    Detail(String),
    Label(LabelId),
    Policy(PolicyId),
}

impl QueryName {
    /// Reads a name from a distributed write; `None` for names Flotilla never sent.
    pub fn parse(name: &str) -> Option<QueryName> {
        if let Some(detail) = name.strip_prefix(DETAIL_PREFIX) {
            return (!detail.is_empty()).then(|| QueryName::Detail(detail.to_string()));
        }
        if let Some(id) = name.strip_prefix(LABEL_PREFIX) {
            return id.parse().ok().map(QueryName::Label);
        }
        if let Some(id) = name.strip_prefix(POLICY_PREFIX) {
            return id.parse().ok().map(QueryName::Policy);
        }
        None
    }

    pub fn to_wire(&self) -> String {
        match self {
            QueryName::Detail(name) => format!("{DETAIL_PREFIX}{name}"),
            QueryName::Label(id) => format!("{LABEL_PREFIX}{id}"),
            QueryName::Policy(id) => format!("{POLICY_PREFIX}{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            QueryName::Detail("os_version".into()),
            QueryName::Label(LabelId(7)),
            QueryName::Policy(PolicyId(42)),
        ] {
            assert_eq!(QueryName::parse(&name.to_wire()), Some(name));
        }
    }

    #[test]
    fn foreign_and_malformed_names_are_ignored() {
        assert_eq!(QueryName::parse("fleet_policy_query_abc"), None);
        assert_eq!(QueryName::parse("fleet_detail_query_"), None);
        assert_eq!(QueryName::parse("pack_something"), None);
    }
}
