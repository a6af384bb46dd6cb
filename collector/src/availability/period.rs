//! Calendar periods in a time zone, as SLAs are written: a month
//! (`2026-11`), a quarter (`2026-Q4`) or a year (`2026`), each from local
//! midnight on its first day to local midnight on the first day of the
//! next, in an IANA time zone (`Europe/Berlin`; UTC by default), turned
//! into a UTC window in ms. The time-zone database is the one bundled in
//! `jiff` (`tzdb-bundle-always`), so a period means the same on every
//! host, whatever its /usr/share/zoneinfo holds. DST is honoured: a Berlin
//! October is 1 hour longer than 31 days, a Berlin March 1 hour shorter.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::report::Span;
use crate::error::{Error, Result};

/// Earliest year of a period: its start, even 14 hours ahead of UTC, is
/// after [`super::bounds::MIN_TIME_MS`] (2000-01-01).
pub const MIN_YEAR: i16 = 2001;
/// Latest year of a period: its end, even 12 hours behind UTC, is before
/// [`super::bounds::MAX_TIME_MS`] (2200-01-01).
pub const MAX_YEAR: i16 = 2198;
/// Longest time-zone name accepted (the longest IANA name is 32 bytes).
pub const MAX_TZ_BYTES: usize = 64;
/// The time zone when none is named.
pub const DEFAULT_TZ: &str = "UTC";

/// The accepted forms, for every refusal.
const FORMS: &str = "YYYY-MM (a month, e.g. 2026-11), YYYY-QN (a quarter, e.g. 2026-Q4) \
                     or YYYY (a year, e.g. 2026), years 2001 to 2198";

/// A calendar period resolved in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The period as asked (`2026-11`, `2026-Q4`, `2026`).
    pub name: String,
    /// The IANA time zone it is read in.
    pub tz: String,
    /// Local midnight of its first day, in UTC (ms).
    pub starts_at: i64,
    /// Local midnight of the first day after it, in UTC (ms, exclusive).
    pub ends_at: i64,
    /// `starts_at` as local time (RFC 3339 with the zone, for people).
    pub starts_local: String,
    /// `ends_at` as local time.
    pub ends_local: String,
}

/// What a report over a period covers as of a moment: the whole period,
/// or the part of it that has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeriodReport {
    /// The period as asked.
    pub name: String,
    /// Its time zone.
    pub tz: String,
    /// Start of the period (UTC ms).
    pub starts_at: i64,
    /// End of the period (UTC ms, exclusive).
    pub ends_at: i64,
    /// Start as local time.
    pub starts_local: String,
    /// End as local time.
    pub ends_local: String,
    /// The report covers `starts_at..until`: `ends_at`, or now while the
    /// period is still running.
    pub until: i64,
    /// Whether the period is still running (the report stops at now).
    pub partial: bool,
}

/// The first day of a period and the first day after it.
fn first_days(text: &str) -> Result<(Date, Date)> {
    let refuse = || {
        Error::InvalidInput(format!(
            "period {:?} is not {FORMS}",
            text.chars().take(32).collect::<String>()
        ))
    };
    let bytes = text.as_bytes();
    if bytes.len() < 4 || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return Err(refuse());
    }
    let year: i16 = text[..4].parse().map_err(|_| refuse())?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(refuse());
    }
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty();
    // (first month, months long)
    let (month, months): (i8, i8) = match &text[4..] {
        "" => (1, 12),
        rest if rest.len() == 3 && rest.starts_with('-') && digits(&rest[1..]) => {
            let month: i8 = rest[1..].parse().map_err(|_| refuse())?;
            if !(1..=12).contains(&month) {
                return Err(refuse());
            }
            (month, 1)
        }
        rest if rest.len() == 3 && (rest.starts_with("-Q") || rest.starts_with("-q")) => {
            let quarter = match &rest[2..] {
                "1" => 1,
                "2" => 2,
                "3" => 3,
                "4" => 4,
                _ => return Err(refuse()),
            };
            (3 * quarter - 2, 3)
        }
        _ => return Err(refuse()),
    };
    let first = Date::new(year, month, 1).map_err(|_| refuse())?;
    // Within 2001..=2198 the next period's year (at most 2199) is valid.
    let next_month = month + months;
    let next = if next_month > 12 {
        Date::new(year + 1, next_month - 12, 1)
    } else {
        Date::new(year, next_month, 1)
    }
    .map_err(|_| refuse())?;
    Ok((first, next))
}

/// The IANA time zone `name` from the bundled database, or a 400.
pub fn time_zone(name: &str) -> Result<TimeZone> {
    if name.len() > MAX_TZ_BYTES {
        return Err(Error::InvalidInput(format!(
            "tz is longer than {MAX_TZ_BYTES} bytes: give an IANA time zone name such as \
             UTC or Europe/Berlin"
        )));
    }
    TimeZone::get(name).map_err(|_| {
        Error::InvalidInput(format!(
            "tz {name:?} is not an IANA time zone name such as UTC or Europe/Berlin"
        ))
    })
}

/// Resolves `period` (`2026-11`, `2026-Q4`, `2026`) in `tz` (UTC when
/// `None`) to its UTC bounds; a 400 naming the accepted forms otherwise.
pub fn resolve(period: &str, tz: Option<&str>) -> Result<Period> {
    let tz_name = tz.unwrap_or(DEFAULT_TZ);
    let (first, next) = first_days(period)?;
    let zone = time_zone(tz_name)?;
    let at_midnight = |day: Date| {
        // A day whose midnight falls in a DST gap starts at the first
        // instant after the gap (jiff's "compatible" rule).
        day.to_zoned(zone.clone()).map_err(|error| {
            Error::InvalidInput(format!(
                "period {period}: {day} has no start in {tz_name}: {error}"
            ))
        })
    };
    let (start, end) = (at_midnight(first)?, at_midnight(next)?);
    Ok(Period {
        name: period.to_string(),
        tz: tz_name.to_string(),
        starts_at: start.timestamp().as_millisecond(),
        ends_at: end.timestamp().as_millisecond(),
        starts_local: start.to_string(),
        ends_local: end.to_string(),
    })
}

impl Period {
    /// The report window of the period as of `now`: the whole period once
    /// it is over, `starts_at..now` (partial) while it runs, and a 400 when
    /// it has not begun.
    pub fn as_of(&self, now: i64) -> Result<(Span, PeriodReport)> {
        if now <= self.starts_at {
            return Err(Error::InvalidInput(format!(
                "period {} ({}) lies wholly in the future: it starts at {} ({} ms)",
                self.name, self.tz, self.starts_local, self.starts_at
            )));
        }
        let until = self.ends_at.min(now);
        let report = PeriodReport {
            name: self.name.clone(),
            tz: self.tz.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            starts_local: self.starts_local.clone(),
            ends_local: self.ends_local.clone(),
            until,
            partial: until < self.ends_at,
        };
        Ok(((self.starts_at, until), report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::bounds::{DAY_MS, MAX_TIME_MS, MIN_TIME_MS};

    const H: i64 = 3_600_000;
    /// 2026-11-01T00:00:00Z.
    const NOV_2026_UTC: i64 = 1_793_491_200_000;

    fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
        match result {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    fn bounds(period: &str, tz: Option<&str>) -> (i64, i64) {
        let resolved = resolve(period, tz).expect(period);
        (resolved.starts_at, resolved.ends_at)
    }

    #[test]
    fn a_utc_month_is_its_days_long() {
        assert_eq!(
            bounds("2026-11", None),
            (NOV_2026_UTC, NOV_2026_UTC + 30 * DAY_MS)
        );
        let resolved = resolve("2026-11", None).expect("month");
        assert_eq!(resolved.tz, "UTC");
        assert_eq!(resolved.starts_local, "2026-11-01T00:00:00+00:00[UTC]");
        assert_eq!(resolved.ends_local, "2026-12-01T00:00:00+00:00[UTC]");
    }

    #[test]
    fn a_berlin_month_starts_at_local_midnight() {
        // CET is UTC+1 in November: local midnight is 23:00 the day before.
        let (start, end) = bounds("2026-11", Some("Europe/Berlin"));
        assert_eq!(start, NOV_2026_UTC - H);
        assert_eq!(end - start, 30 * DAY_MS);
        let resolved = resolve("2026-11", Some("Europe/Berlin")).expect("month");
        assert_eq!(
            resolved.starts_local,
            "2026-11-01T00:00:00+01:00[Europe/Berlin]"
        );
    }

    #[test]
    fn a_berlin_month_across_the_dst_change_is_an_hour_off() {
        // 2026-10-25 03:00 CEST → 02:00 CET: October has 31 days and 1 hour.
        let (start, end) = bounds("2026-10", Some("Europe/Berlin"));
        assert_eq!(end - start, 31 * DAY_MS + H);
        // 2026-10-01T00:00+02:00 = 2026-09-30T22:00Z.
        assert_eq!(start, NOV_2026_UTC - 31 * DAY_MS - 2 * H);
        // 2026-03-29 02:00 CET → 03:00 CEST: March is 1 hour short.
        let (start, end) = bounds("2026-03", Some("Europe/Berlin"));
        assert_eq!(end - start, 31 * DAY_MS - H);
        // In UTC both are plain 31 days.
        let (start, end) = bounds("2026-10", Some("UTC"));
        assert_eq!(end - start, 31 * DAY_MS);
    }

    #[test]
    fn quarters_and_years() {
        // Q4 = October, November, December: 92 days, plus the October hour in Berlin.
        let (start, end) = bounds("2026-Q4", None);
        assert_eq!(
            (start, end - start),
            (NOV_2026_UTC - 31 * DAY_MS, 92 * DAY_MS)
        );
        assert_eq!(bounds("2026-q4", None), (start, end), "lowercase q");
        let (start, end) = bounds("2026-Q4", Some("Europe/Berlin"));
        assert_eq!(end - start, 92 * DAY_MS + H);
        assert_eq!(end, bounds("2027-01", Some("Europe/Berlin")).0);
        let (start, end) = bounds("2026-Q1", None);
        assert_eq!(end - start, 90 * DAY_MS);
        assert_eq!(
            bounds("2028-Q1", None).1 - bounds("2028-Q1", None).0,
            91 * DAY_MS
        );
        // A year in Berlin: both DST changes cancel out.
        let (start, end) = bounds("2026", Some("Europe/Berlin"));
        assert_eq!(end - start, 365 * DAY_MS);
        assert_eq!(end, bounds("2027-01", Some("Europe/Berlin")).0);
        assert_eq!(
            bounds("2028", None).1 - bounds("2028", None).0,
            366 * DAY_MS
        );
    }

    #[test]
    fn february_of_a_leap_year_has_29_days() {
        let days = |period: &str| {
            let (start, end) = bounds(period, None);
            (end - start) / DAY_MS
        };
        assert_eq!(days("2028-02"), 29);
        assert_eq!(days("2026-02"), 28);
        assert_eq!(days("2100-02"), 28, "divisible by 100, not by 400");
        assert_eq!(days("2096-02"), 29);
    }

    #[test]
    fn the_southern_hemisphere_and_far_zones() {
        // Sydney: AEDT (UTC+11) on 2026-11-01.
        let (start, _) = bounds("2026-11", Some("Australia/Sydney"));
        assert_eq!(start, NOV_2026_UTC - 11 * H);
        // The extreme years stay within the accepted time range everywhere.
        for tz in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"] {
            let (start, _) = bounds("2001", Some(tz));
            let (_, end) = bounds("2198", Some(tz));
            assert!(start >= MIN_TIME_MS && end <= MAX_TIME_MS, "{tz}");
        }
    }

    #[test]
    fn bad_periods_name_the_accepted_forms() {
        for bad in [
            "",
            "2026-13",
            "2026-00",
            "2026-1",
            "2026-001",
            "2026-Q5",
            "2026-Q0",
            "2026-Q",
            "26-11",
            "2026/11",
            "2026-11-01",
            " 2026",
            "2026 ",
            "+2026",
            "２０２６",
            "2000",
            "2199-01",
            "9999",
            "-2026",
            "2026-Q４",
            "abcd",
            "2026-1a",
        ] {
            let text = message(resolve(bad, None));
            assert!(
                text.contains("YYYY-MM (a month, e.g. 2026-11)"),
                "{bad:?}: {text}"
            );
            assert!(text.contains("YYYY-QN"), "{bad:?}: {text}");
        }
        let long = "9".repeat(10_000);
        assert!(
            message(resolve(&long, None)).len() < 300,
            "the echo is bounded"
        );
    }

    #[test]
    fn bad_time_zones_are_refused() {
        for bad in [
            "Mars/Olympus_Mons",
            "",
            "Europe/",
            "../../etc/passwd",
            "/usr/share/zoneinfo/UTC",
            "Europe/Berlin\0",
            "CET+1",
        ] {
            let text = message(resolve("2026-11", Some(bad)));
            assert!(
                text.contains("is not an IANA time zone name"),
                "{bad:?}: {text}"
            );
        }
        let text = message(resolve("2026-11", Some(&"A".repeat(65))));
        assert!(text.contains("longer than 64 bytes"), "{text}");
        // The period is checked first, so a bad period is named even with a bad zone.
        assert!(message(resolve("2026-13", Some("Nowhere"))).contains("period"));
    }

    #[test]
    fn a_running_period_is_reported_up_to_now_and_a_future_one_is_refused() {
        let period = resolve("2026-11", None).expect("month");
        let (window, report) = period.as_of(NOV_2026_UTC + DAY_MS).expect("running");
        assert_eq!(window, (NOV_2026_UTC, NOV_2026_UTC + DAY_MS));
        assert!(report.partial);
        assert_eq!(report.until, NOV_2026_UTC + DAY_MS);
        let (window, report) = period.as_of(NOV_2026_UTC + 90 * DAY_MS).expect("over");
        assert_eq!(window, (NOV_2026_UTC, NOV_2026_UTC + 30 * DAY_MS));
        assert!(!report.partial);
        let (_, report) = period.as_of(NOV_2026_UTC + 30 * DAY_MS).expect("just over");
        assert!(!report.partial, "the end is exclusive");
        for future in [NOV_2026_UTC, NOV_2026_UTC - 1, 0] {
            let text = message(period.as_of(future));
            assert!(text.contains("lies wholly in the future"), "{text}");
        }
    }
}
