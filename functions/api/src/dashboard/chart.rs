//! Daily charts as SVG, drawn on the server: one bar per day, scaled to the series' largest
//! value, with a title and a description for screen readers (the same numbers are in the table
//! beside each chart).

use std::fmt::Write;

/// One series of a chart: a value per day, in order.
pub(crate) struct Series<'a> {
    pub title: &'a str,
    /// Each day's label (`2026-12-03`) and value.
    pub points: &'a [(String, i64)],
    /// How a value reads in the description (`12.50 EUR`, `3`).
    pub show: &'a dyn Fn(i64) -> String,
}

const WIDTH: i64 = 600;
const HEIGHT: i64 = 120;
const PAD: i64 = 4;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The bar chart of `series`, `id` naming its title for `aria-labelledby`.
pub(crate) fn bars(id: &str, series: &Series<'_>) -> String {
    let points = series.points;
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let count = i64::try_from(points.len()).unwrap_or(i64::MAX).max(1);
    let slot = WIDTH
        .saturating_sub(PAD.saturating_mul(2))
        .checked_div(count)
        .unwrap_or(1)
        .max(1);
    let bar = slot.saturating_sub(slot / 4).max(1);
    let total: i64 = points.iter().fold(0i64, |s, (_, v)| s.saturating_add(*v));
    let peak = points.iter().max_by_key(|(_, v)| *v);
    let description = match (points.first(), points.last(), peak) {
        (Some((first, _)), Some((last, _)), Some((peak_day, peak_value))) => format!(
            "{} from {first} to {last}: {} in all, highest {} on {peak_day}.",
            series.title,
            (series.show)(total),
            (series.show)(*peak_value)
        ),
        _ => format!("{}: no days.", series.title),
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t {id}-d" preserveAspectRatio="none"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        escape(series.title),
        escape(&description)
    );
    let usable = HEIGHT.saturating_sub(PAD.saturating_mul(2));
    let mut x = PAD;
    for (_, value) in points {
        let value = (*value).max(0);
        let h = value.saturating_mul(usable).checked_div(max).unwrap_or(0);
        let h = if value > 0 { h.max(1) } else { 0 };
        let y = HEIGHT.saturating_sub(PAD).saturating_sub(h);
        let _ = write!(svg, r#"<rect x="{x}" y="{y}" width="{bar}" height="{h}"/>"#);
        x = x.saturating_add(slot);
    }
    let _ = write!(
        svg,
        r#"<line x1="0" y1="{y}" x2="{WIDTH}" y2="{y}" class="axis"/></svg>"#,
        y = HEIGHT.saturating_sub(PAD)
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(values: &[i64]) -> String {
        let points: Vec<(String, i64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("2026-12-{:02}", i + 1), *v))
            .collect();
        bars(
            "c",
            &Series {
                title: "Clicks",
                points: &points,
                show: &|v| v.to_string(),
            },
        )
    }

    #[test]
    fn the_tallest_day_fills_the_chart_and_an_empty_day_draws_nothing() {
        let svg = chart(&[0, 5, 10]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"height="0""#), "{svg}");
        assert!(
            svg.contains(&format!(r#"height="{}""#, HEIGHT - 2 * PAD)),
            "{svg}"
        );
        assert!(
            svg.contains(&format!(r#"height="{}""#, (HEIGHT - 2 * PAD) / 2)),
            "{svg}"
        );
        assert!(svg.contains("15 in all, highest 10 on 2026-12-03"), "{svg}");
    }

    #[test]
    fn a_title_is_escaped_and_no_days_still_draw() {
        let svg = bars(
            "x",
            &Series {
                title: "<b>",
                points: &[],
                show: &|v| v.to_string(),
            },
        );
        assert!(svg.contains("&lt;b&gt;: no days."));
        assert!(!svg.contains("<b>"));
    }
}
