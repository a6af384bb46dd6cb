//! `/api/v1/availability?period=…&tz=…`: availability over calendar
//! periods in a time zone, from outages written straight into the store at
//! explicit instants, so every figure is exact.

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::App;

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

/// 2026-09-30T22:00Z, local midnight of 2026-10-01 in Berlin (CEST, UTC+2).
const BERLIN_OCT: i64 = 1_790_805_600_000;
/// 2026-10-01T00:00Z.
const UTC_OCT: i64 = 1_790_812_800_000;
/// 2026-10-31T23:00Z, local midnight of 2026-11-01 in Berlin (CET, UTC+1).
const BERLIN_NOV: i64 = 1_793_487_600_000;
/// 2026-11-01T00:00Z.
const UTC_NOV: i64 = 1_793_491_200_000;
/// 2026-11-30T23:00Z, local midnight of 2026-12-01 in Berlin.
const BERLIN_DEC: i64 = 1_796_079_600_000;
/// 2026-12-31T23:00Z, local midnight of 2027-01-01 in Berlin.
const BERLIN_2027: i64 = 1_798_758_000_000;
/// 2026-07-01T00:00Z.
const UTC_JUL: i64 = 1_782_864_000_000;

fn percent(scheduled: i64, down: i64) -> f64 {
    (scheduled - down) as f64 * 100.0 / scheduled as f64
}

/// The one host row of a report.
fn figures(report: &Value) -> &Value {
    let hosts = report["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{report}");
    &hosts[0]["availability"]
}

/// Two outages of two hours each, placed on the edges where Berlin and UTC
/// disagree: A is 2026-10-01 00:00–02:00 in Berlin but the last two hours
/// of September in UTC; B is 2026-11-01 00:00–02:00 in Berlin, but an hour
/// on each side of the October/November line in UTC.
async fn edge_outages(app: &App) -> String {
    let host = app.host("berlin-db", &[]).await;
    app.outage_between(&host, BERLIN_OCT, UTC_OCT).await;
    app.outage_between(&host, BERLIN_NOV, BERLIN_NOV + 2 * H)
        .await;
    host
}

/// The report of `host` for `query`, which must succeed.
async fn report(app: &App, host: &str, query: &str) -> Value {
    let uri = format!("/api/v1/availability?host_id={host}&{query}");
    let reply = app.get(&uri, &app.viewer).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {reply:?}");
    reply.body
}

#[tokio::test]
async fn a_berlin_month_differs_from_a_utc_month_by_the_zone_and_the_dst_hour() {
    let app = App::new().await;
    let host = edge_outages(&app).await;
    // (query, from, to, unplanned downtime, failures)
    for (query, from, to, down, failures) in [
        // 31 days and the hour of the DST change; only A is inside.
        (
            "period=2026-10&tz=Europe/Berlin",
            BERLIN_OCT,
            BERLIN_NOV,
            2 * H,
            1,
        ),
        // UTC October: the first hour of B.
        ("period=2026-10", UTC_OCT, UTC_NOV, H, 1),
        ("period=2026-10&tz=UTC", UTC_OCT, UTC_NOV, H, 1),
        (
            "period=2026-11&tz=Europe/Berlin",
            BERLIN_NOV,
            BERLIN_DEC,
            2 * H,
            1,
        ),
        // UTC November: the second hour of B, which began in October.
        ("period=2026-11", UTC_NOV, UTC_NOV + 30 * DAY, H, 0),
        (
            "period=2026-Q3&tz=Europe/Berlin",
            UTC_JUL - 2 * H,
            BERLIN_OCT,
            0,
            0,
        ),
        ("period=2026-Q3", UTC_JUL, UTC_OCT, 2 * H, 1),
        (
            "period=2026-09&tz=Europe/Berlin",
            BERLIN_OCT - 30 * DAY,
            BERLIN_OCT,
            0,
            0,
        ),
    ] {
        let body = report(&app, &host, query).await;
        assert_eq!(
            (body["from"].as_i64(), body["to"].as_i64()),
            (Some(from), Some(to)),
            "{query}"
        );
        let period = &body["period"];
        assert_eq!(period["starts_at"].as_i64(), Some(from), "{query}");
        assert_eq!(period["ends_at"].as_i64(), Some(to), "{query}");
        assert_eq!(period["until"].as_i64(), Some(to), "{query}");
        assert_eq!(period["partial"], false, "{query}: a past period is whole");
        let figures = figures(&body);
        assert_eq!(figures["scheduled_ms"].as_i64(), Some(to - from), "{query}");
        assert_eq!(
            figures["unplanned_downtime_ms"].as_i64(),
            Some(down),
            "{query}"
        );
        assert_eq!(figures["failures"].as_u64(), Some(failures), "{query}");
        // serde_json parses floats to within an ulp, not always exactly.
        let got = figures["availability_percent"].as_f64().expect("percent");
        assert!(
            (got - percent(to - from, down)).abs() < 1e-9,
            "{query}: {got}"
        );
    }
    // Berlin's Q4 2026 holds both outages; it runs until 2027-01-01 local
    // midnight, and is reported up to now until then.
    let before = rollcall_proto::now_ms();
    let quarter = report(&app, &host, "period=2026-Q4&tz=Europe/Berlin").await;
    let after = rollcall_proto::now_ms();
    let to = quarter["to"].as_i64().expect("to");
    assert_eq!(quarter["from"].as_i64(), Some(BERLIN_OCT));
    assert_eq!(quarter["period"]["ends_at"].as_i64(), Some(BERLIN_2027));
    assert_eq!(
        BERLIN_2027 - BERLIN_OCT,
        92 * DAY + H,
        "Q4 with the DST hour"
    );
    if after < BERLIN_2027 {
        assert!((before..=after).contains(&to), "up to now: {to}");
        assert_eq!(quarter["period"]["partial"], true);
    } else {
        assert_eq!(to, BERLIN_2027);
        assert_eq!(quarter["period"]["partial"], false);
    }
    assert_eq!(quarter["period"]["until"].as_i64(), Some(to));
    let figures_q4 = figures(&quarter);
    assert_eq!(figures_q4["scheduled_ms"].as_i64(), Some(to - BERLIN_OCT));
    assert_eq!(figures_q4["unplanned_downtime_ms"].as_i64(), Some(4 * H));
    assert_eq!(figures_q4["failures"].as_u64(), Some(2));

    let october = report(&app, &host, "period=2026-10&tz=Europe/Berlin").await;
    assert_eq!(BERLIN_NOV - BERLIN_OCT, 31 * DAY + H, "the DST hour");
    assert_eq!(october["period"]["tz"], "Europe/Berlin");
    assert_eq!(october["period"]["name"], "2026-10");
    assert_eq!(
        october["period"]["starts_local"],
        "2026-10-01T00:00:00+02:00[Europe/Berlin]"
    );
    assert_eq!(
        october["period"]["ends_local"],
        "2026-11-01T00:00:00+01:00[Europe/Berlin]"
    );
    let figures = figures(&october);
    assert_eq!(
        (figures["mtrs_ms"].as_i64(), figures["mtbf_ms"].as_i64()),
        (Some(2 * H), Some(31 * DAY - H)),
        "one failure of 2 h in 31 d + 1 h"
    );
    // A duration window still works beside periods, with period null.
    let window = report(&app, &host, "window=1d").await;
    assert_eq!(window["period"], Value::Null);
    assert_eq!(
        window["to"]
            .as_i64()
            .zip(window["from"].as_i64())
            .map(|(to, from)| to - from),
        Some(DAY)
    );
}

#[tokio::test]
async fn a_year_and_a_leap_february() {
    let app = App::new().await;
    let host = app.host("leap", &[]).await;
    // 2028-02-29T12:00Z, one hour down on the leap day.
    let leap_day_noon = 1_835_438_400_000;
    app.outage_between(&host, leap_day_noon, leap_day_noon + H)
        .await;
    let now = rollcall_proto::now_ms();
    if now > 1_835_481_600_000 {
        // 2028-03-01T00:00Z has passed: February 2028 is whole.
        let reply = app
            .get(
                &format!("/api/v1/availability?host_id={host}&period=2028-02"),
                &app.viewer,
            )
            .await;
        let figures = figures(&reply.body);
        assert_eq!(figures["scheduled_ms"].as_i64(), Some(29 * DAY));
        assert_eq!(figures["unplanned_downtime_ms"].as_i64(), Some(H));
    } else {
        // Until then it lies in the future and is refused.
        let reply = app
            .get(
                &format!("/api/v1/availability?host_id={host}&period=2028-02"),
                &app.viewer,
            )
            .await;
        App::assert_bad_request(&reply, "period 2028-02 (UTC) lies wholly in the future");
    }
    // A whole past year in Berlin: its two DST changes cancel out.
    let reply = app
        .get(
            &format!("/api/v1/availability?host_id={host}&period=2025&tz=Europe/Berlin"),
            &app.viewer,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // 2024-12-31T23:00Z.
    assert_eq!(reply.body["from"].as_i64(), Some(1_735_686_000_000));
    assert_eq!(
        figures(&reply.body)["scheduled_ms"].as_i64(),
        Some(365 * DAY)
    );
    assert_eq!(
        figures(&reply.body)["unplanned_downtime_ms"].as_i64(),
        Some(0)
    );
}

#[tokio::test]
async fn a_running_period_is_reported_up_to_now_and_a_future_one_is_refused() {
    let app = App::new().await;
    let host = app.host("running", &[]).await;
    let now = rollcall_proto::now_ms();
    let year = jiff::Timestamp::from_millisecond(now)
        .expect("now")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .year();
    let year_start = jiff::civil::date(year, 1, 1)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("new year")
        .timestamp()
        .as_millisecond();
    // Down from new year for at most an hour, and over before now.
    let down = H.min((now - year_start) / 2);
    app.outage_between(&host, year_start, year_start + down)
        .await;
    let before = rollcall_proto::now_ms();
    let reply = app
        .get(
            &format!("/api/v1/availability?host_id={host}&period={year}"),
            &app.viewer,
        )
        .await;
    let after = rollcall_proto::now_ms();
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let body = &reply.body;
    assert_eq!(body["from"].as_i64(), Some(year_start));
    let to = body["to"].as_i64().expect("to");
    assert!((before..=after).contains(&to), "reported up to now: {to}");
    assert_eq!(body["period"]["partial"], true);
    assert_eq!(body["period"]["until"].as_i64(), Some(to));
    assert!(body["period"]["ends_at"].as_i64().expect("ends_at") > to);
    let figures = figures(body);
    assert_eq!(figures["scheduled_ms"].as_i64(), Some(to - year_start));
    assert_eq!(figures["unplanned_downtime_ms"].as_i64(), Some(down));

    let next = year + 1;
    for query in [
        format!("period={next}"),
        format!("period={next}-01&tz=Pacific/Kiritimati"),
        format!("period={next}-Q1"),
    ] {
        let reply = app
            .get(&format!("/api/v1/availability?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, "lies wholly in the future");
    }
}

#[tokio::test]
async fn bad_periods_and_time_zones_are_400s_naming_the_accepted_forms() {
    let app = App::new().await;
    let forms = "YYYY-MM (a month, e.g. 2026-11), YYYY-QN (a quarter, e.g. 2026-Q4)";
    let either = "give one of window=30d, since (and until), or period=2026-11";
    for (query, needle) in [
        ("period=2026-13", forms),
        ("period=2026-Q5", forms),
        ("period=November", forms),
        ("period=2026-11-01", forms),
        ("period=1999-12", forms),
        ("period=", forms),
        (
            "period=2026-11&tz=Mars%2FOlympus",
            "is not an IANA time zone name",
        ),
        (
            "period=2026-11&tz=..%2F..%2Fetc%2Fpasswd",
            "is not an IANA time zone name",
        ),
        ("period=2026-11&tz=", "is not an IANA time zone name"),
        ("tz=Europe%2FBerlin", "tz applies to period only"),
        ("tz=Europe%2FBerlin&window=30d", "tz applies to period only"),
        ("period=2026-11&window=30d", either),
        ("period=2026-11&since=1800000000000", either),
        ("period=2026-11&until=1800000000000", either),
        ("until=1800000000000", either),
        ("period=2026-11&period=2026-12", "duplicate field `period`"),
    ] {
        let reply = app
            .get(&format!("/api/v1/availability?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let long = "A".repeat(1_000);
    let reply = app
        .get(
            &format!("/api/v1/availability?period=2026-11&tz={long}"),
            &app.viewer,
        )
        .await;
    App::assert_bad_request(&reply, "tz is longer than 64 bytes");
    assert!(reply.error().len() < 300, "{}", reply.error());
}

/// Only `/availability` takes a calendar period: the other lists that
/// share its query refuse one rather than answer for the wrong time.
#[tokio::test]
async fn lists_without_periods_refuse_one() {
    let app = App::new().await;
    for uri in [
        "/api/v1/outages?period=2026-11",
        "/api/v1/outages?tz=Europe%2FBerlin",
        "/api/v1/incidents?period=2026-Q4",
        "/api/v1/relationships?period=2026",
    ] {
        let reply = app.get(uri, &app.viewer).await;
        App::assert_bad_request(&reply, "period and tz apply to /api/v1/availability only");
    }
    let outages = app.get("/api/v1/outages", &app.viewer).await;
    assert_eq!(outages.status, StatusCode::OK, "{outages:?}");
}
