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
    /// A cross per point (distinct from dots without relying on colour).
    Crosses,
    /// A hollow triangle per point.
    Triangles,
    /// A cross on the bottom edge per point's x, for events without a value (failed
    /// trials); the y coordinates are ignored.
    Rug,
}

/// How a panel's axes map values: linear or logarithmic, and names for the whole-number x
/// positions of a categorical axis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scale {
    /// Logarithmic x axis (points with x <= 0 are skipped).
    pub log_x: bool,
    /// Logarithmic y axis (points with y <= 0 are skipped).
    pub log_y: bool,
    /// Tick labels of x = 0, 1, …: the categories of a categorical axis.
    pub x_categories: Option<Vec<String>>,
}

impl Scale {
    /// A log y axis when every value is positive and they span more than two decades.
    pub fn auto_log_y(values: impl IntoIterator<Item = f64>) -> bool {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        lo > 0.0 && hi.is_finite() && hi / lo > 100.0
    }
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
    let scaled: Vec<(Panel, Scale)> = panels
        .iter()
        .map(|p| (p.clone(), Scale::default()))
        .collect();
    svg_grid(title, &scaled, panels.len().max(1))
}

/// Draws `panels`, each with its axis scales, in rows of `columns` under `title`; returns
/// the SVG text.
pub fn svg_grid(title: &str, panels: &[(Panel, Scale)], columns: usize) -> Result<String, String> {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().max(1).div_ceil(columns);
    let width = 520 * columns as u32;
    let height = 30 + 350 * rows as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| e.to_string())?;
        let areas = root.split_evenly((rows, columns));
        for ((panel, scale), area) in panels.iter().zip(&areas) {
            draw_panel(panel, scale, area)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A coordinate on a (possibly logarithmic) axis: `log10` of it, or `None` off the axis.
fn axis(v: f64, log: bool) -> Option<f64> {
    match log {
        true if v > 0.0 => Some(v.log10()),
        true => None,
        false => Some(v),
    }
}

/// A tick label of an axis coordinate: plain, or the value `10^v` of a log axis.
fn tick(v: f64, log: bool) -> String {
    if !log {
        return format!("{v:.3}");
    }
    let x = 10f64.powf(v);
    if (v - v.round()).abs() < 1e-9 {
        format!("1e{}", v.round() as i64)
    } else {
        format!("{x:.1e}")
    }
}

fn draw_panel(
    p: &Panel,
    scale: &Scale,
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
) -> Result<(), String> {
    // Points in axis coordinates (log10 on log axes); off-axis and non-finite ones dropped.
    let map = |pts: &[(f64, f64)], rug: bool| -> Vec<(f64, f64)> {
        pts.iter()
            .filter_map(|&(x, y)| {
                let x = axis(x, scale.log_x)?;
                let y = if rug { 0.0 } else { axis(y, scale.log_y)? };
                (x.is_finite() && y.is_finite()).then_some((x, y))
            })
            .collect()
    };
    let p = Panel {
        series: p
            .series
            .iter()
            .map(|s| Series {
                points: map(&s.points, s.mark == Mark::Rug),
                ..s.clone()
            })
            .collect(),
        marker: p
            .marker
            .as_ref()
            .and_then(|(x, l)| Some((axis(*x, scale.log_x)?, l.clone()))),
        ..p.clone()
    };
    let p = &p;
    // A rug has no y of its own: it widens the x range only.
    let finite: Vec<(f64, f64)> = p
        .series
        .iter()
        .filter(|s| s.mark != Mark::Rug)
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let rug_x: Vec<f64> = p
        .series
        .iter()
        .filter(|s| s.mark == Mark::Rug)
        .flat_map(|s| s.points.iter().map(|pt| pt.0))
        .collect();
    let some_y = finite.first().map_or(0.0, |pt| pt.1);
    let finite: Vec<(f64, f64)> = finite
        .iter()
        .copied()
        .chain(rug_x.iter().map(|&x| (x, some_y)))
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
    // Categories sit in the middle of their cells, not on the chart's edges.
    if let Some(names) = &scale.x_categories {
        (x0, x1) = (-0.5, names.len().max(1) as f64 - 0.5);
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
    let integral_x = !scale.log_x && finite.iter().all(|(x, _)| x.fract() == 0.0);
    let categories = scale.x_categories.clone();
    let log_x = scale.log_x;
    let x_fmt = move |x: &f64| {
        if let Some(names) = &categories {
            let i = x.round();
            return match names.get(i as usize) {
                Some(n) if (x - i).abs() < 1e-9 && i >= 0.0 => n.clone(),
                _ => String::new(),
            };
        }
        if integral_x {
            format!("{}", x.round() as i64)
        } else {
            tick(*x, log_x)
        }
    };
    let y_fmt = |y: &f64| tick(*y, true);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .light_line_style(WHITE.mix(0.0));
    if scale.log_y {
        mesh.y_label_formatter(&y_fmt);
    }
    if let Some(names) = &scale.x_categories {
        mesh.x_labels(names.len().max(2));
    }
    mesh.draw().map_err(|e| e.to_string())?;
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
            Mark::Crosses | Mark::Rug => {
                let style = color.stroke_width(2);
                let points: Vec<(f64, f64)> = if s.mark == Mark::Rug {
                    points.into_iter().map(|(x, _)| (x, y0)).collect()
                } else {
                    points
                };
                chart
                    .draw_series(points.into_iter().map(|pt| Cross::new(pt, 4, style)))
                    .map_err(|e| e.to_string())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| Cross::new((x + 8, y), 4, style));
            }
            Mark::Triangles => {
                let style = color.stroke_width(2);
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|pt| TriangleMarker::new(pt, 5, style)),
                    )
                    .map_err(|e| e.to_string())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, style));
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
