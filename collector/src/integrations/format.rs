//! How adapters write times and host names in vendor payloads.

use crate::incidents::event::CiRef;

/// Civil date and time (UTC) of a millisecond timestamp.
fn civil(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 UTC with milliseconds: `2024-05-01T12:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let t = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `YYYY-MM-DD HH:MM:SS` in GMT, as ServiceNow expects.
pub fn gmt_datetime(ms: i64) -> String {
    let t = civil(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The CI's best host name: FQDN if known, else its name.
pub fn node_name(ci: &CiRef) -> &str {
    if ci.fqdn.is_empty() {
        &ci.name
    } else {
        &ci.fqdn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(gmt_datetime(1_714_564_800_123), "2024-05-01 12:00:00");
    }
}
