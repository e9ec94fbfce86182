//! Charts of the HTML report, drawn with plotters into SVG strings that are inlined in the page.
//!
//! Each function takes plain series (no report types), so what a chart shows is decided in
//! `html.rs` and how it is drawn here. Text is escaped by the SVG backend; callers still pass
//! names through [`label`] so that control characters and very long names cannot break a layout.

use plotters::prelude::*;

pub type ChartResult = Result<String, Box<dyn std::error::Error>>;

const FONT: &str = "sans-serif";
const WIDTH: u32 = 620;
const HEIGHT: u32 = 360;

/// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(90, 90, 90),
];
const FLAG: RGBColor = RGBColor(200, 30, 30);
/// Background of the weeks a finding is about: the flag colour, faint.
const NAMED: RGBColor = RGBColor(250, 228, 228);
/// `NAMED` for legends written in HTML.
pub const NAMED_CSS: &str = "#fae4e4";
const MUTED: RGBColor = RGBColor(150, 150, 150);

/// A name as a chart shows it: printable, at most 28 characters.
pub fn label(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() > 28 {
        let mut short: String = clean.chars().take(27).collect();
        short.push('…');
        short
    } else {
        clean
    }
}

fn money_axis(value: f64) -> String {
    if value >= 1000.0 {
        format!("${:.0}k", value / 1000.0)
    } else if value >= 1.0 {
        format!("${value:.0}")
    } else {
        format!("${value:.2}")
    }
}

fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.1, 10.0);
    }
    (lo / 1.5, hi * 1.5)
}

/// One agent on the efficiency chart.
pub struct ScatterPoint {
    pub name: String,
    pub weekly_output: f64,
    pub weekly_cost: f64,
    pub flagged: bool,
}

/// Weekly spend against weekly output on log axes, the cohort's curve, flagged agents in red
/// and named.
pub fn efficiency(
    title: &str,
    points: &[ScatterPoint],
    output_floor: f64,
    expected_cost: &dyn Fn(f64) -> f64,
) -> ChartResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x_lo, x_hi) = log_bounds(points.iter().map(|p| p.weekly_output.max(output_floor)));
        let curve: Vec<(f64, f64)> = (0..=60)
            .map(|i| {
                let x = x_lo * (x_hi / x_lo).powf(f64::from(i) / 60.0);
                (x, expected_cost(x))
            })
            .collect();
        let (y_lo, y_hi) = log_bounds(
            points
                .iter()
                .map(|p| p.weekly_cost)
                .chain(curve.iter().map(|c| c.1)),
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(label(title), (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("weekly output index (log)")
            .y_desc("weekly spend (log)")
            .y_label_formatter(&|v| money_axis(*v))
            .x_label_formatter(&|v| format!("{v:.1}"))
            .x_labels(6)
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .draw()?;
        chart.draw_series(LineSeries::new(curve, PALETTE[0].stroke_width(2)))?;
        chart.draw_series(points.iter().filter(|p| !p.flagged).map(|p| {
            Circle::new(
                (p.weekly_output.max(output_floor), p.weekly_cost),
                3,
                MUTED.filled(),
            )
        }))?;
        // Flagged agents drawn last, on top, each named just above and right of its dot.
        chart.draw_series(points.iter().filter(|p| p.flagged).map(|p| {
            EmptyElement::at((p.weekly_output.max(output_floor), p.weekly_cost))
                + Circle::new((0, 0), 5, FLAG.filled())
                + Text::new(
                    label(&p.name),
                    (7, -14),
                    (FONT, 11).into_font().color(&FLAG),
                )
        }))?;
        root.present()?;
    }
    Ok(svg)
}

/// One flagged agent's weeks: spend (bars) and tokens (line) above, delivered output below,
/// the onset week marked in both and the weeks the finding is about (`named`) shaded.
pub fn timeline(
    title: &str,
    weeks: &[String],
    cost: &[f64],
    tokens: &[f64],
    output: &[f64],
    onset: Option<usize>,
    named: &[bool],
) -> ChartResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 60)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(&label(title), (FONT, 16))?;
        let (upper, lower) = root.split_vertically((HEIGHT + 20) * 3 / 5);
        let n = weeks.len().max(1) as f64;
        let week_label = |x: &f64| -> String {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            weeks.get(i as usize).cloned().unwrap_or_default()
        };
        let max =
            |v: &[f64], least: f64| v.iter().copied().fold(0.0f64, f64::max).max(least) * 1.15;

        let mut top = ChartBuilder::on(&upper)
            .margin(8)
            .x_label_area_size(0)
            .y_label_area_size(64)
            .right_y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..max(cost, 1.0))?
            .set_secondary_coord(-0.5..n - 0.5, 0.0..max(tokens, 1e6) / 1e6);
        top.configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .y_desc("spend")
            .y_label_formatter(&|v| money_axis(*v))
            .draw()?;
        top.configure_secondary_axes()
            .y_desc("tokens (millions)")
            .draw()?;
        let ceiling = max(cost, 1.0);
        top.draw_series(
            named
                .iter()
                .enumerate()
                .filter(|(_, named)| **named)
                .map(|(i, _)| {
                    let x = i as f64;
                    Rectangle::new([(x - 0.5, 0.0), (x + 0.5, ceiling)], NAMED.filled())
                }),
        )?;
        top.draw_series(cost.iter().enumerate().map(|(i, c)| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, *c)],
                PALETTE[0].mix(0.75).filled(),
            )
        }))?;
        top.draw_secondary_series(LineSeries::new(
            tokens.iter().enumerate().map(|(i, t)| (i as f64, t / 1e6)),
            PALETTE[1].stroke_width(2),
        ))?;
        if let Some(i) = onset {
            let x = i as f64 - 0.5;
            top.draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, max(cost, 1.0))],
                FLAG.stroke_width(2),
            )))?;
        }

        // The right margin stands in for the upper panel's second axis, so the weeks line up.
        let mut bottom = ChartBuilder::on(&lower)
            .margin(8)
            .margin_right(72)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..max(output, 1.0))?;
        bottom
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(weeks.len().min(13))
            .x_label_formatter(&week_label)
            .x_desc("week")
            .y_desc("output index")
            .draw()?;
        bottom.draw_series(output.iter().enumerate().map(|(i, o)| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, *o)],
                PALETTE[2].mix(0.8).filled(),
            )
        }))?;
        if let Some(i) = onset {
            let x = i as f64 - 0.5;
            bottom.draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, max(output, 1.0))],
                FLAG.stroke_width(2),
            )))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The CSS colour of palette entry `i`, for legends written in HTML.
pub fn css_color(i: usize) -> String {
    let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Series stacked over the weeks (spend by team, by model), series `i` in [`css_color`]`(i)`.
pub fn stacked_area(title: &str, weeks: &[String], series: &[(String, Vec<f64>)]) -> ChartResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = weeks.len();
        let mut cumulative: Vec<Vec<f64>> = Vec::with_capacity(series.len());
        let mut running = vec![0.0; n];
        for (_, values) in series {
            for (r, v) in running.iter_mut().zip(values) {
                *r += v;
            }
            cumulative.push(running.clone());
        }
        let top = running.iter().copied().fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let x_max = (n.max(2) - 1) as f64;
        let week_label = |x: &f64| -> String {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            weeks.get(i as usize).cloned().unwrap_or_default()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(label(title), (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(n.min(13))
            .x_label_formatter(&week_label)
            .y_label_formatter(&|v| money_axis(*v))
            .x_desc("week")
            .y_desc("spend")
            .draw()?;
        // Drawn from the top band down, so each band covers the ones above it only where it is.
        for (i, upper) in cumulative.iter().enumerate().rev() {
            let color = PALETTE[i % PALETTE.len()];
            chart.draw_series(AreaSeries::new(
                upper.iter().enumerate().map(|(x, y)| (x as f64, *y)),
                0.0,
                color.mix(0.85),
            ))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The Lorenz curve of spend over agents: the share of spend held by the cheapest x of agents.
pub fn lorenz(title: &str, curve: &[(f64, f64)]) -> ChartResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(label(title), (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("share of agents, least spend first")
            .y_desc("share of spend")
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()?;
        chart.draw_series(LineSeries::new(
            vec![(0.0, 0.0), (1.0, 1.0)],
            MUTED.stroke_width(1),
        ))?;
        chart.draw_series(
            AreaSeries::new(curve.iter().copied(), 0.0, PALETTE[0].mix(0.25))
                .border_style(PALETTE[0].stroke_width(2)),
        )?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_charts_are_escaped_and_shortened() {
        let points = vec![ScatterPoint {
            name: "<script>alert(1)</script>".into(),
            weekly_output: 2.0,
            weekly_cost: 300.0,
            flagged: true,
        }];
        let svg = efficiency("peers <b>", &points, 0.5, &|x| 100.0 * x).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(label(&"x".repeat(40)).chars().count(), 28);
    }

    #[test]
    fn every_chart_draws_with_empty_and_flat_data() {
        let weeks = vec!["09-07".to_string()];
        assert!(timeline("a", &weeks, &[0.0], &[0.0], &[0.0], Some(0), &[true]).is_ok());
        assert!(stacked_area("s", &weeks, &[("t".into(), vec![0.0])]).is_ok());
        assert!(stacked_area("s", &[], &[]).is_ok());
        assert!(lorenz("l", &[(0.0, 0.0), (1.0, 1.0)]).is_ok());
        assert!(efficiency("e", &[], 0.5, &|_| 1.0).is_ok());
    }
}
