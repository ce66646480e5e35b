//! How an agent's answer to a query is read.

use serde::{Deserialize, Serialize};

/// What came back for one query in a distributed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryOutcome {
    /// The query ran and returned this many rows.
    Ran { rows: usize },
    /// The query did not run (non-zero status).
    Failed,
}

impl QueryOutcome {
    /// osquery reports a status per query; anything but 0 (or "0") is a failure.
    /// A query with no status entry is read as having run.
    pub fn from_status(status: Option<&serde_json::Value>, rows: usize) -> QueryOutcome {
        let failed = match status {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Number(n)) => n.as_i64() != Some(0),
            Some(serde_json::Value::String(s)) => s.trim() != "0",
            Some(_) => true,
        };
        if failed {
            QueryOutcome::Failed
        } else {
            QueryOutcome::Ran { rows }
        }
    }
}

/// A policy's result on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyResponse {
    Pass,
    Fail,
    /// The query errored or has not run yet: stored as NULL, shown as "".
    Unknown,
}

impl PolicyResponse {
    /// A policy passes when its query returned rows and fails when it returned none.
    pub fn from_outcome(outcome: QueryOutcome) -> PolicyResponse {
        match outcome {
            QueryOutcome::Ran { rows } if rows > 0 => PolicyResponse::Pass,
            QueryOutcome::Ran { .. } => PolicyResponse::Fail,
            QueryOutcome::Failed => PolicyResponse::Unknown,
        }
    }

    /// The stored form: true for pass, false for fail, NULL for unknown.
    pub fn as_stored(self) -> Option<bool> {
        match self {
            PolicyResponse::Pass => Some(true),
            PolicyResponse::Fail => Some(false),
            PolicyResponse::Unknown => None,
        }
    }

    pub fn from_stored(passes: Option<bool>) -> PolicyResponse {
        match passes {
            Some(true) => PolicyResponse::Pass,
            Some(false) => PolicyResponse::Fail,
            None => PolicyResponse::Unknown,
        }
    }

    /// Fleet's `response` field: "pass", "fail" or "".
    pub fn as_api_str(self) -> &'static str {
        match self {
            PolicyResponse::Pass => "pass",
            PolicyResponse::Fail => "fail",
            PolicyResponse::Unknown => "",
        }
    }
}

/// A dynamic label's result on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelOutcome {
    Member,
    NotMember,
    /// The query failed: membership stays as it was.
    Unchanged,
}

impl LabelOutcome {
    pub fn from_outcome(outcome: QueryOutcome) -> LabelOutcome {
        match outcome {
            QueryOutcome::Ran { rows } if rows > 0 => LabelOutcome::Member,
            QueryOutcome::Ran { .. } => LabelOutcome::NotMember,
            QueryOutcome::Failed => LabelOutcome::Unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_pass_no_rows_fail_error_unknown() {
        let ran = |rows| QueryOutcome::from_status(Some(&json!(0)), rows);
        assert_eq!(PolicyResponse::from_outcome(ran(1)), PolicyResponse::Pass);
        assert_eq!(PolicyResponse::from_outcome(ran(0)), PolicyResponse::Fail);
        let failed = QueryOutcome::from_status(Some(&json!(1)), 3);
        assert_eq!(
            PolicyResponse::from_outcome(failed),
            PolicyResponse::Unknown
        );
        assert_eq!(PolicyResponse::Unknown.as_stored(), None);
        assert_eq!(PolicyResponse::Unknown.as_api_str(), "");
    }

    #[test]
    fn status_may_be_a_string_or_missing() {
        assert_eq!(
            QueryOutcome::from_status(Some(&json!("0")), 2),
            QueryOutcome::Ran { rows: 2 }
        );
        assert_eq!(
            QueryOutcome::from_status(Some(&json!("1")), 0),
            QueryOutcome::Failed
        );
        assert_eq!(
            QueryOutcome::from_status(None, 0),
            QueryOutcome::Ran { rows: 0 }
        );
    }

    #[test]
    fn failed_label_query_keeps_membership() {
        assert_eq!(
            LabelOutcome::from_outcome(QueryOutcome::Failed),
            LabelOutcome::Unchanged
        );
        assert_eq!(
            LabelOutcome::from_outcome(QueryOutcome::Ran { rows: 0 }),
            LabelOutcome::NotMember
        );
        assert_eq!(
            LabelOutcome::from_outcome(QueryOutcome::Ran { rows: 4 }),
            LabelOutcome::Member
        );
    }
}
