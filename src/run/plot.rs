//! Pictures of a run's progress, the same way for every run kind: learning curves of a
//! train run, returns of an agent, the optimisation history of a study. One small model
//! (panels of named series) drawn by `plotters` into SVG, which any browser or image viewer
//! opens and which needs no fonts at build or run time.

use plotters::prelude::*;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A line through the points.
    Line,
    /// A thin, faint line (noisy raw values under their smoothed line).
    Thin,
    /// A dot per point.
    Dots,
}

/// One named sequence of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// The points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// How to draw them.
    pub mark: Mark,
}

/// One chart: axes, labels and the series drawn on them.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// What is drawn.
    pub series: Vec<Series>,
    /// An x position to mark with a vertical line (the best epoch), with its label.
    pub marker: Option<(f64, String)>,
}

const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// Draws `panels` side by side under `title`; returns the SVG text.
pub fn svg(title: &str, panels: &[Panel]) -> Result<String, String> {
    let width = 520 * panels.len().max(1) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(panel, area)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn draw_panel(
    p: &Panel,
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
) -> Result<(), String> {
    let finite: Vec<(f64, f64)> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = finite.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), (x, y)| (a.min(*x), b.max(*x), c.min(*y), d.max(*y)),
    );
    if finite.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0).abs() * 0.05).max(1e-9);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    // Epochs, episodes and trials are whole numbers: no "2.0" ticks for them.
    let integral_x = finite.iter().all(|(x, _)| x.fract() == 0.0);
    let x_fmt = move |x: &f64| {
        if integral_x {
            format!("{}", x.round() as i64)
        } else {
            format!("{x:.3}")
        }
    };
    chart
        .configure_mesh()
        .x_label_formatter(&x_fmt)
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| e.to_string())?;
    if let Some((x, label)) = &p.marker {
        chart
            .draw_series(LineSeries::new(
                [(*x, y0), (*x, y1)],
                ShapeStyle::from(&BLACK.mix(0.35)).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label(label.as_str())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.35)));
    }
    for (i, s) in p.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        match s.mark {
            Mark::Line => {
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                    });
            }
            Mark::Thin => {
                let style = color.mix(0.45).stroke_width(1);
                chart
                    .draw_series(LineSeries::new(points, style))
                    .map_err(|e| e.to_string())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
            }
            Mark::Dots => {
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|pt| Circle::new(pt, 3, color.filled())),
                    )
                    .map_err(|e| e.to_string())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
            }
        }
    }
    // The legend goes where the curves end up not being: below rising curves (accuracy,
    // returns), above falling ones (losses).
    let ends_high = p
        .series
        .iter()
        .filter_map(|s| s.points.iter().rev().find(|(_, y)| y.is_finite()))
        .any(|(_, y)| *y > (y0 + y1) / 2.0);
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(if ends_high {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_and_survives_empty_and_non_finite_data() {
        let panel = |points: Vec<(f64, f64)>| Panel {
            title: "loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![
                Series {
                    name: "train".into(),
                    points: points.clone(),
                    mark: Mark::Line,
                },
                Series {
                    name: "validation".into(),
                    points,
                    mark: Mark::Dots,
                },
            ],
            marker: Some((2.0, "best".into())),
        };
        let text = svg(
            "fit",
            &[panel(vec![(1.0, 2.0), (2.0, 1.0), (3.0, f64::NAN)])],
        )
        .unwrap();
        assert!(text.starts_with("<svg") && text.contains("validation") && text.contains("best"));
        assert!(text.contains("<circle"), "dots are drawn");
        svg("empty", &[panel(Vec::new())]).unwrap();
        svg("one point", &[panel(vec![(1.0, 1.0)])]).unwrap();
    }
}
