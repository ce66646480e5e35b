//! Fleet's wire contract: the request and response bodies Flotilla speaks,
//! as typed structs, so each Fleet field name is written once. Records from
//! the store become these with `From`; front doors serialize them.
//! Golden tests (`tests/wire_golden.rs`) check the keys and types against
//! Fleet's documented examples.

pub mod admin;
pub mod device;
pub mod library;
pub mod orbit;
pub mod osquery;
pub mod requests;

pub use admin::*;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// RFC 3339 in UTC, as Fleet writes timestamps.
pub fn timestamp(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn optional_timestamp(unix_secs: Option<i64>) -> Option<String> {
    unix_secs.map(timestamp)
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
