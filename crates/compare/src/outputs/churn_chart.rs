//! A churn run (`--churn`) in the HTML report: its timeline as one inline SVG chart (second by
//! second the calls each server answered, stacked, one colour per server; the failed ones on
//! top in red; the p99 as a line on its own axis at the right; each event a vertical line at
//! its start and a band over the time it took, labelled above the plot), and what each event
//! cost as the rows of a table.

use std::{collections::BTreeSet, fmt::Write as _};

use super::svg::{axis, decimals, escape, text_width};
use crate::run::churn::report::ChurnReport;

/// One colour per server, in the order of their names. Red is left out: it means failed.
const SERVER_COLOURS: [&str; 8] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac"];
const FAILED_COLOUR: &str = "#d62728";
/// Calls whose record names no server: drawn so that a column still adds up to the calls.
const UNNAMED_COLOUR: &str = "#ddd";

/// The headers of [`event_rows`].
pub(super) const EVENT_HEADERS: [&str; 9] = [
    "event",
    "at s",
    "took s",
    "failed",
    "sent again",
    "p99 ms",
    "× steady p99",
    "fair share after",
    "shares after",
];

/// What each event cost (see [`EventFigures`]), one row per event under [`EVENT_HEADERS`]:
/// the calls that failed and were sent again from its start to 2 s after its end, their p99
/// and its ratio to the steady p99, and how the servers shared the calls after it.
///
/// [`EventFigures`]: crate::run::churn::report::EventFigures
pub(super) fn event_rows(churn: &ChurnReport) -> Vec<Vec<String>> {
    let ms = |us: Option<u64>| us.map_or("-".to_owned(), |us| format!("{:.2}", us as f64 / 1000.0));
    churn
        .events
        .iter()
        .map(|event| {
            let against_steady = match (event.p99_us, churn.steady_p99_us) {
                (Some(p99), Some(steady)) if steady > 0 => {
                    format!("{:.2}", p99 as f64 / steady as f64)
                }
                _ => "-".to_owned(),
            };
            let fair = event
                .fair_share_after_s
                .map_or("not within the run".to_owned(), |after| format!("{after:.2} s"));
            let shares: Vec<String> = event
                .shares_after
                .iter()
                .map(|(name, share)| format!("{name} {:.0} %", share * 100.0))
                .collect();
            vec![
                event.event.clone(),
                format!("{:.1}", event.began_s),
                format!("{:.1}", event.took_s),
                event.failed.to_string(),
                event.retried.to_string(),
                ms(event.p99_us),
                against_steady,
                fair,
                shares.join(", "),
            ]
        })
        .collect()
}

/// How an item of the key is drawn.
enum Swatch<'a> {
    Fill(&'a str),
    Line { width: f64, dash: &'a str },
    Band,
}

/// The churn run second by second on one chart, titled `title`: x the seconds from the run's
/// start; on the left axis the calls that ended in each second, stacked by the server that
/// answered them (one colour each, named in the key) with the failed ones on top in red; on
/// the right axis the second's p99 in ms (a line, broken where a second had no successful
/// call) and the steady p99 (dotted); each event a dashed vertical line at its start and a
/// shaded band until it was done, labelled in a row of its own above the plot.
pub(super) fn timeline_chart(title: &str, churn: &ChurnReport) -> String {
    // Every server named anywhere, so that a server keeps its colour from event to event and
    // one that joined but never answered still shows in the key.
    let servers: Vec<&str> = churn
        .timeline
        .iter()
        .flat_map(|second| second.servers.keys())
        .chain(churn.events.iter().flat_map(|event| &event.servers_after))
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |name: &str| {
        let place = servers.iter().position(|server| *server == name).unwrap_or(0);
        SERVER_COLOURS[place % SERVER_COLOURS.len()]
    };
    let (left, plot_width, plot_height, right_margin) = (56.0, 600.0, 220.0, 60.0);
    let top = 30.0 + 12.0 * churn.events.len() as f64;
    let (right, bottom) = (left + plot_width, top + plot_height);
    let run_s = churn.timeline.iter().map(|s| s.second + 1).max().unwrap_or(0) as f64;
    let events_end = churn.events.iter().map(|e| e.began_s + e.took_s).fold(0.0, f64::max);
    let x_end = run_s.max(events_end.ceil()).max(1.0);
    let (_, x_step) = axis(x_end);
    let most_calls = churn.timeline.iter().map(|s| s.ok + s.failed).max().unwrap_or(0);
    let (count_end, count_step) = axis(most_calls as f64);
    let ms = |us: u64| us as f64 / 1000.0;
    let worst_ms = churn
        .timeline
        .iter()
        .filter_map(|s| s.p99_us)
        .chain(churn.steady_p99_us)
        .map(ms)
        .fold(0.0, f64::max);
    let (ms_end, ms_step) = axis(worst_ms);
    let x = |second: f64| left + plot_width * second.clamp(0.0, x_end) / x_end;
    let count_y = |count: f64| top + plot_height * (1.0 - count / count_end);
    let ms_y = |ms: f64| top + plot_height * (1.0 - ms / ms_end);
    let width = (right + right_margin).max(title.len() as f64 * 7.2);
    // The opening tag comes last, when the key has said how tall the chart is.
    let mut svg = format!(
        "<text x='0' y='14' font-weight='bold' font-size='13'>{}</text>\
         <text transform='translate(12 {middle}) rotate(-90)' font-size='11' text-anchor='middle'>calls/s</text>\
         <text transform='translate({right_title} {middle}) rotate(90)' font-size='11' text-anchor='middle'>p99, ms</text>\
         <text x='{center}' y='{}' font-size='11' text-anchor='middle'>seconds from the run's start</text>",
        escape(title),
        bottom + 30.0,
        middle = top + plot_height / 2.0,
        right_title = right + right_margin - 12.0,
        center = left + plot_width / 2.0,
    );
    // The bands first, so that the bars and lines stay on top of their shade.
    for event in &churn.events {
        let (from, to) = (x(event.began_s), x(event.began_s + event.took_s));
        let _ = write!(
            svg,
            "<rect class='event-band' x='{from:.1}' y='{top}' width='{:.1}' height='{plot_height}' fill='#000' fill-opacity='0.08'/>",
            to - from
        );
    }
    for i in 0..=(x_end / x_step + 1e-9).floor() as usize {
        let second = x_step * i as f64;
        let _ = write!(
            svg,
            "<line x1='{at:.1}' x2='{at:.1}' y1='{bottom}' y2='{}' stroke='#000'/>\
             <text x='{at:.1}' y='{}' font-size='10' text-anchor='middle'>{second:.places$}</text>",
            bottom + 4.0,
            bottom + 14.0,
            at = x(second),
            places = decimals(x_step)
        );
    }
    for i in 0..=(count_end / count_step).round() as usize {
        let count = count_step * i as f64;
        let at = count_y(count);
        let _ = write!(
            svg,
            "<line x1='{left}' x2='{right}' y1='{at:.1}' y2='{at:.1}' stroke='#ccc'/>\
             <text x='{}' y='{:.1}' font-size='10' text-anchor='end'>{count:.places$}</text>",
            left - 4.0,
            at + 3.0,
            places = decimals(count_step)
        );
    }
    // The right axis has ticks of its own, not grid lines: two grids would cross.
    for i in 0..=(ms_end / ms_step).round() as usize {
        let value = ms_step * i as f64;
        let at = ms_y(value);
        let _ = write!(
            svg,
            "<line x1='{right}' x2='{}' y1='{at:.1}' y2='{at:.1}' stroke='#000'/>\
             <text x='{}' y='{:.1}' font-size='10'>{value:.places$}</text>",
            right + 4.0,
            right + 6.0,
            at + 3.0,
            places = decimals(ms_step)
        );
    }
    let bar_width = plot_width / x_end * 0.8;
    for second in &churn.timeline {
        let bar_x = x(second.second as f64 + 0.1);
        let named: u64 = second.servers.values().sum();
        let unnamed = second.ok.saturating_sub(named);
        let mut stacked = 0u64;
        let mut segment = |svg: &mut String,
                           calls: u64,
                           attributes: &str,
                           fill: &str,
                           tip: &str| {
            let (low, high) = (count_y(stacked as f64), count_y((stacked + calls) as f64));
            stacked += calls;
            let _ = write!(
                svg,
                "<rect {attributes} x='{bar_x:.1}' y='{high:.1}' width='{bar_width:.1}' height='{:.1}' fill='{fill}' stroke='#000' stroke-width='0.5'>\
                 <title>{}</title></rect>",
                low - high,
                escape(&format!("second {}: {tip}", second.second))
            );
        };
        for (name, calls) in second.servers.iter().filter(|(_, calls)| **calls > 0) {
            let attributes = format!(
                "class='calls' data-server=\"{}\" data-second='{}'",
                escape(name),
                second.second
            );
            segment(
                &mut svg,
                *calls,
                &attributes,
                colour(name),
                &format!("{name} answered {calls}"),
            );
        }
        if unnamed > 0 {
            let tip = format!("{unnamed} answered by a server not named");
            segment(&mut svg, unnamed, "class='calls unnamed'", UNNAMED_COLOUR, &tip);
        }
        if second.failed > 0 {
            let tip = format!("{} failed, {} sent again", second.failed, second.retried);
            segment(&mut svg, second.failed, "class='failed'", FAILED_COLOUR, &tip);
        }
    }
    if let Some(steady) = churn.steady_p99_us {
        let _ = write!(
            svg,
            "<line class='steady-p99' x1='{left}' x2='{right}' y1='{at:.1}' y2='{at:.1}' stroke='#000' stroke-width='1' stroke-dasharray='1 3'/>",
            at = ms_y(ms(steady))
        );
    }
    // One line per run of seconds with a p99: a second without one (no call succeeded) is a
    // gap, not a slope between its neighbours.
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    for second in &churn.timeline {
        match second.p99_us {
            Some(p99) => runs.last_mut().expect("never empty").push(format!(
                "{:.1},{:.1}",
                x(second.second as f64 + 0.5),
                ms_y(ms(p99))
            )),
            None => runs.push(Vec::new()),
        }
    }
    for points in runs.iter().filter(|points| !points.is_empty()) {
        // A white edge under the line keeps it readable across the bars of any colour.
        let _ = write!(
            svg,
            "<polyline points='{points}' fill='none' stroke='#fff' stroke-width='3.6'/>\
             <polyline class='p99' points='{points}' fill='none' stroke='#000' stroke-width='1.6'/>",
            points = points.join(" ")
        );
        if let [point] = points.as_slice() {
            let (cx, cy) = point.split_once(',').expect("written as x,y");
            let _ = write!(svg, "<circle cx='{cx}' cy='{cy}' r='2' fill='#000'/>");
        }
    }
    let _ = write!(
        svg,
        "<rect x='{left}' y='{top}' width='{plot_width}' height='{plot_height}' fill='none' stroke='#000'/>"
    );
    // Each event's label in a row of its own above the plot: there they cross neither the bars
    // nor each other, however close the events; one that would run past the plot's right edge
    // turns to its line's left.
    for (row, event) in churn.events.iter().enumerate() {
        let text = format!("{} (took {:.1} s)", event.event, event.took_s);
        let at = x(event.began_s);
        let text_y = 30.0 + 12.0 * row as f64;
        let (text_x, anchor) = match at + 3.0 + text_width(&text) > right {
            true => (at - 3.0, "end"),
            false => (at + 3.0, "start"),
        };
        let _ = write!(
            svg,
            "<line class='event' x1='{at:.1}' x2='{at:.1}' y1='{}' y2='{bottom}' stroke='#000' stroke-width='1' stroke-dasharray='4 2'/>\
             <text class='event-label' x='{text_x:.1}' y='{text_y}' font-size='10' text-anchor='{anchor}'>{}</text>",
            text_y - 8.0,
            escape(&text)
        );
    }
    let mut key: Vec<(Swatch<'_>, String)> =
        servers.iter().map(|name| (Swatch::Fill(colour(name)), (*name).to_owned())).collect();
    if churn.timeline.iter().any(|s| s.ok > s.servers.values().sum::<u64>()) {
        key.push((Swatch::Fill(UNNAMED_COLOUR), "server not named".into()));
    }
    key.extend([
        (Swatch::Fill(FAILED_COLOUR), "failed".into()),
        (Swatch::Line { width: 1.6, dash: "" }, "p99 (right axis)".into()),
        (Swatch::Line { width: 1.0, dash: "1 3" }, "steady p99".into()),
        (Swatch::Band, "event, until done".into()),
    ]);
    // The key flows left to right, on as many rows as it needs.
    let (mut key_x, mut key_y) = (left, bottom + 50.0);
    for (swatch, text) in &key {
        if key_x + 28.0 + text_width(text) > width && key_x > left {
            (key_x, key_y) = (left, key_y + 16.0);
        }
        let _ = match swatch {
            Swatch::Fill(fill) => write!(
                svg,
                "<rect x='{key_x}' y='{}' width='10' height='10' fill='{fill}' stroke='#000' stroke-width='0.5'/>",
                key_y - 5.0
            ),
            Swatch::Line { width, dash } => write!(
                svg,
                "<line x1='{key_x}' x2='{}' y1='{key_y}' y2='{key_y}' stroke='#000' stroke-width='{width}' stroke-dasharray='{dash}'/>",
                key_x + 10.0
            ),
            Swatch::Band => write!(
                svg,
                "<rect x='{key_x}' y='{}' width='10' height='10' fill='#000' fill-opacity='0.08'/>\
                 <line x1='{key_x}' x2='{key_x}' y1='{}' y2='{}' stroke='#000' stroke-dasharray='4 2'/>",
                key_y - 5.0,
                key_y - 5.0,
                key_y + 5.0
            ),
        };
        let _ = write!(
            svg,
            "<text x='{}' y='{}' font-size='10'>{}</text>",
            key_x + 14.0,
            key_y + 3.0,
            escape(text)
        );
        key_x += 28.0 + text_width(text);
    }
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{}' role=img>{svg}</svg>",
        key_y + 14.0
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::run::churn::report::{EventFigures, Second};

    /// Three seconds on two servers, `server-b` joining at 1.0 s and ready 0.5 s later; each
    /// second `failed[i]` calls failed, and the middle second had no successful call's p99.
    fn churn(failed: [u64; 3]) -> ChurnReport {
        let second = |second: u64, a: u64, b: u64, p99_us: Option<u64>| Second {
            second,
            ok: a + b,
            failed: failed[second as usize],
            retried: 0,
            p50_us: p99_us.map(|p99| p99 / 2),
            p99_us,
            servers: BTreeMap::from([("server-a".into(), a), ("server-b".into(), b)]),
        };
        ChurnReport {
            schedule: "scale:1->2@1s".into(),
            steady_p99_us: Some(2_000),
            events: vec![EventFigures {
                event: "scale:1->2@1s".into(),
                began_s: 1.0,
                took_s: 0.5,
                servers_after: vec!["server-a".into(), "server-b".into()],
                failed: failed.iter().sum(),
                retried: 0,
                p99_us: Some(6_000),
                fair_share_after_s: Some(0.75),
                shares_after: BTreeMap::from([("server-a".into(), 0.5), ("server-b".into(), 0.5)]),
            }],
            timeline: vec![
                second(0, 100, 1, Some(2_000)),
                second(1, 60, 40, None),
                second(2, 50, 50, Some(3_000)),
            ],
        }
    }

    /// The points of every p99 line, in order.
    fn p99_points(svg: &str) -> Vec<String> {
        svg.split("<polyline class='p99' points='")
            .skip(1)
            .flat_map(|rest| rest.split('\'').next().unwrap_or("").split(' '))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn each_second_stacks_one_bar_per_server_that_answered() {
        let svg = timeline_chart("grpc", &churn([0, 0, 0]));
        for server in ["server-a", "server-b"] {
            for second in 0..3 {
                let bar = format!("class='calls' data-server=\"{server}\" data-second='{second}'");
                assert_eq!(svg.matches(&bar).count(), 1, "{server} in second {second}");
            }
        }
        assert_eq!(svg.matches("class='calls'").count(), 6);
        assert!(!svg.contains("unnamed"), "every call named its server");
        assert!(svg.contains(">server-a</text>") && svg.contains(">server-b</text>"), "the key");
    }

    #[test]
    fn the_event_is_a_line_a_band_and_its_label() {
        let svg = timeline_chart("grpc", &churn([0, 0, 0]));
        assert_eq!(svg.matches("class='event'").count(), 1);
        assert_eq!(svg.matches("class='event-band'").count(), 1);
        assert!(svg.contains(&escape("scale:1->2@1s (took 0.5 s)")), "{svg}");
    }

    #[test]
    fn failed_calls_are_marked_red_only_in_the_seconds_they_failed() {
        let svg = timeline_chart("grpc", &churn([0, 7, 0]));
        assert_eq!(svg.matches("class='failed'").count(), 1);
        assert!(svg.contains(&format!("class='failed' x='{:.1}'", 56.0 + 600.0 / 3.0 * 1.1)));
        assert!(svg.contains(&format!("fill='{FAILED_COLOUR}'")));
        let calm = timeline_chart("grpc", &churn([0, 0, 0]));
        assert_eq!(calm.matches("class='failed'").count(), 0);
    }

    #[test]
    fn the_p99_line_has_a_point_per_second_with_a_p99_and_breaks_at_the_others() {
        let svg = timeline_chart("grpc", &churn([0, 0, 0]));
        let points = p99_points(&svg);
        assert_eq!(points.len(), 2, "{points:?}");
        assert_eq!(svg.matches("<polyline class='p99'").count(), 2, "a gap at second 1");
        assert_eq!(svg.matches("class='steady-p99'").count(), 1);
    }

    #[test]
    fn each_event_row_sets_its_p99_against_the_steady_one() {
        let rows = event_rows(&churn([0, 7, 0]));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].len(), EVENT_HEADERS.len());
        assert_eq!(rows[0][3], "7");
        assert_eq!((rows[0][5].as_str(), rows[0][6].as_str()), ("6.00", "3.00"));
        assert_eq!(rows[0][7], "0.75 s");
        assert_eq!(rows[0][8], "server-a 50 %, server-b 50 %");
    }
}
