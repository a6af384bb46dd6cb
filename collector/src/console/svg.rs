//! Charts drawn on the server as SVG markup (no script, no external
//! request, no inline style: the console's Content-Security-Policy allows
//! none of them). Every number placed in an attribute is computed here;
//! every text goes through maud's escaping.

use maud::{Markup, html};

use crate::store::Outage;

const WIDTH: f64 = 720.0;

/// `x` of time `at` on a `WIDTH`-wide axis from `from` to `to`.
fn x_of(at: i64, from: i64, to: i64) -> f64 {
    let span = (to - from).max(1) as f64;
    ((at.clamp(from, to) - from) as f64 / span * WIDTH).clamp(0.0, WIDTH)
}

/// An availability timeline from `from` to `to` (ms): green where the host
/// was up, a band per outage coloured by kind (unplanned red, planned
/// blue, degraded amber), with a title (tooltip) naming each.
pub fn availability(outages: &[Outage], from: i64, to: i64, now: i64) -> Markup {
    html! {
        svg class="chart availability" role="img" aria-label="availability timeline"
            viewBox="0 0 720 40" width="720" height="40" xmlns="http://www.w3.org/2000/svg" {
            rect x="0" y="8" width="720" height="24" fill="#3a9a5b" {
                title { "up" }
            }
            @for outage in outages {
                @let start = x_of(outage.began_at, from, to);
                @let end = x_of(outage.ended_at.unwrap_or(now), from, to);
                @let colour = match outage.kind.as_str() {
                    "planned" => "#4a78c2",
                    "degraded" => "#d89b2b",
                    _ => "#c63d3d",
                };
                rect class={ "outage " (outage.kind) } x=(format!("{start:.1}")) y="8"
                    width=(format!("{:.1}", (end - start).max(1.0))) height="24" fill=(colour) {
                    title { (outage.kind) " outage: " (outage.cause) }
                }
            }
        }
    }
}

/// A line chart of `points` (time ms, value) from `from` to `to`, values
/// from 0 to `max` (at least the largest point).
pub fn line(points: &[(i64, f64)], from: i64, to: i64, max: f64, label: &str) -> Markup {
    let top = points
        .iter()
        .map(|(_, value)| *value)
        .fold(max, f64::max)
        .max(f64::MIN_POSITIVE);
    let path: Vec<String> = points
        .iter()
        .filter(|(_, value)| value.is_finite())
        .map(|(at, value)| {
            format!(
                "{:.1},{:.1}",
                x_of(*at, from, to),
                100.0 - (value / top * 96.0).clamp(0.0, 100.0)
            )
        })
        .collect();
    html! {
        svg class="chart line" role="img" aria-label=(label)
            viewBox="0 0 720 100" width="720" height="100" xmlns="http://www.w3.org/2000/svg" {
            rect x="0" y="0" width="720" height="100" fill="#f6f7f9" {}
            line x1="0" y1="4" x2="720" y2="4" stroke="#d0d4da" {}
            text x="4" y="14" font-size="10" fill="#555" { (format!("{top:.0}")) }
            @if path.is_empty() {
                text x="300" y="55" font-size="12" fill="#555" { "no samples" }
            } @else if path.len() == 1 {
                @let (x, y) = path[0].split_once(',').unwrap_or(("0", "0"));
                circle cx=(x) cy=(y) r="2.5" fill="#2d6cdf" {}
            } @else {
                polyline points=(path.join(" ")) fill="none" stroke="#2d6cdf" stroke-width="1.5" {}
            }
        }
    }
}

/// A rollout chart: one stacked bar per step, hosts at the target version
/// or newer (green) under older (red) under without the package (grey),
/// each bar as tall as the fleet at that step, with a title per bar.
pub fn rollout(steps: &[crate::cmdb::rollout::Step], target: &str) -> Markup {
    let most = steps
        .iter()
        .map(|step| step.at_or_above + step.below + step.without)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = WIDTH / steps.len().max(1) as f64;
    let height = |n: u64| n as f64 / most * 96.0;
    html! {
        svg class="chart rollout" role="img" aria-label={ "rollout of " (target) }
            viewBox="0 0 720 100" width="720" height="100" xmlns="http://www.w3.org/2000/svg" {
            rect x="0" y="0" width="720" height="100" fill="#f6f7f9" {}
            @for (index, step) in steps.iter().enumerate() {
                @let x = index as f64 * width;
                @let bar = (width - 1.0).max(0.5);
                @let (good, old, none) = (height(step.at_or_above), height(step.below), height(step.without));
                g {
                    title { (crate::console::pages::when(step.at)) ": " (step.at_or_above) " at " (target) " or newer, "
                        (step.below) " older, " (step.without) " without" }
                    rect class="at-or-above" x=(format!("{x:.1}")) y=(format!("{:.1}", 100.0 - good))
                        width=(format!("{bar:.1}")) height=(format!("{good:.1}")) fill="#3a9a5b" {}
                    rect class="below" x=(format!("{x:.1}")) y=(format!("{:.1}", 100.0 - good - old))
                        width=(format!("{bar:.1}")) height=(format!("{old:.1}")) fill="#c63d3d" {}
                    rect class="without" x=(format!("{x:.1}")) y=(format!("{:.1}", 100.0 - good - old - none))
                        width=(format!("{bar:.1}")) height=(format!("{none:.1}")) fill="#b9bec6" {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(kind: &str, began_at: i64, ended_at: Option<i64>) -> Outage {
        Outage {
            id: "o".into(),
            host_id: "h".into(),
            kind: kind.into(),
            cause: "<b>silent</b>".into(),
            began_at,
            detected_at: began_at,
            ended_at,
            incident_id: None,
        }
    }

    #[test]
    fn outages_are_placed_on_the_axis_and_clamped() {
        let svg = availability(
            &[
                outage("unplanned", 250, Some(500)),
                outage("planned", -100, None),
            ],
            0,
            1000,
            1000,
        )
        .into_string();
        assert!(svg.contains(r#"x="180.0" y="8" width="180.0""#), "{svg}");
        // Began before the axis, still open: from 0 to now.
        assert!(svg.contains(r#"x="0.0" y="8" width="720.0""#), "{svg}");
        assert!(svg.contains("&lt;b&gt;silent&lt;/b&gt;"), "escaped: {svg}");
        assert!(!svg.contains("style"));
    }

    #[test]
    fn a_line_scales_to_its_largest_point() {
        let svg = line(&[(0, 50.0), (1000, 100.0)], 0, 1000, 10.0, "cpu").into_string();
        assert!(svg.contains(r#"points="0.0,52.0 720.0,4.0""#), "{svg}");
        let single = line(&[(500, 25.0)], 0, 1000, 100.0, "cpu").into_string();
        assert!(
            single.contains(r#"<circle cx="360.0" cy="76.0""#),
            "{single}"
        );
        let empty = line(&[], 0, 1000, 100.0, "cpu").into_string();
        assert!(empty.contains("no samples"));
    }

    #[test]
    fn rollout_bars_stack_to_the_fleet_at_each_step() {
        use crate::cmdb::rollout::Step;
        let steps = [
            Step {
                at: 0,
                at_or_above: 1,
                below: 3,
                without: 0,
            },
            Step {
                at: 1,
                at_or_above: 2,
                below: 1,
                without: 1,
            },
        ];
        let svg = rollout(&steps, "<1.0>").into_string();
        // Four hosts at most: the first bar's three old hosts are 72 high above a 24-high green one.
        assert!(
            svg.contains(r#"class="at-or-above" x="0.0" y="76.0" width="359.0" height="24.0""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="below" x="0.0" y="4.0" width="359.0" height="72.0""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="without" x="360.0" y="4.0" width="359.0" height="24.0""#),
            "{svg}"
        );
        assert!(svg.contains("&lt;1.0&gt;"), "escaped: {svg}");
    }
}
