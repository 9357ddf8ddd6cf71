//! What a finished study shows and leaves behind: the trial table, the best trial with
//! ready-to-paste `--set` flags, `best.json`, `trials.svg` (objective per trial and the
//! running best) and `slice.svg` (objective by param), drawn by `run::plot`.

use std::fmt::Write as _;

use super::journal::TrialState;
use super::space::{ParamValue, Space};
use super::study::{Direction, StudyResult, Trial};

fn params_text(space: &Space, t: &Trial) -> String {
    space
        .present(&t.params)
        .into_iter()
        .map(|(d, v)| format!("{}={}", d.name, short(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn short(v: &super::space::ParamValue) -> String {
    match v {
        super::space::ParamValue::Float(f) => format!("{f:.6}"),
        other => other.source_text(),
    }
}

/// The `--set name=value` flags of a trial's params (`run`, the block a trial chose, is not
/// a param: see [`chosen_block`]).
pub fn set_flags(space: &Space, t: &Trial) -> String {
    space
        .present(&t.params)
        .into_iter()
        .filter(|(d, _)| d.name != "run")
        .map(|(d, v)| format!("--set {}={}", d.name, v.source_text()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The block a trial ran when the space searches `run ~ choice(…)`.
pub fn chosen_block(space: &Space, t: &Trial) -> Option<String> {
    match space.get(&t.params, "run")? {
        ParamValue::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// The trial table: number, params, value, state, seconds, and why a trial failed (a column
/// present only when one did).
pub fn table(space: &Space, result: &StudyResult) -> String {
    let with_error = result.trials.iter().any(|t| t.error.is_some());
    let mut head = vec!["trial", "params", "value", "state", "seconds"];
    if with_error {
        head.push("error");
    }
    let rows: Vec<Vec<String>> = result
        .trials
        .iter()
        .map(|t| {
            let mut r = vec![
                t.number.to_string(),
                params_text(space, t),
                t.value.map_or("-".to_string(), |v| format!("{v:.6}")),
                t.state.name().to_string(),
                format!("{:.3}", t.seconds),
            ];
            if with_error {
                r.push(t.error.clone().unwrap_or_default());
            }
            r
        })
        .collect();
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cells: &[&str]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            // Numbers align right, text left; the last column is not padded.
            let right = matches!(i, 0 | 2 | 4);
            if i > 0 {
                l += "  ";
            }
            if right {
                l += &" ".repeat(pad);
                l += c;
            } else {
                l += c;
                if i + 1 < cells.len() {
                    l += &" ".repeat(pad);
                }
            }
        }
        let _ = writeln!(s, "{l}");
    };
    line(&mut s, &head);
    for r in &rows {
        line(&mut s, &r.iter().map(String::as_str).collect::<Vec<_>>());
    }
    s
}

/// `best.json`: the best trial's number, value and params.
pub fn best_json(name: &str, space: &Space, direction: Direction, result: &StudyResult) -> String {
    let best = result.best_trial().map(|t| {
        let params: serde_json::Map<String, serde_json::Value> = space
            .present(&t.params)
            .into_iter()
            .map(|(d, v)| (d.name.clone(), v.to_json()))
            .collect();
        let mut b = serde_json::json!({
            "number": t.number,
            "value": t.value,
            "params": params,
            "set": set_flags(space, t),
        });
        // The block the best trial ran, when `run` is searched.
        if let (Some(run), Some(m)) = (chosen_block(space, t), b.as_object_mut()) {
            m.insert("run".into(), serde_json::json!(run));
        }
        b
    });
    let v = serde_json::json!({
        "study": name,
        "direction": match direction { Direction::Minimize => "minimize", Direction::Maximize => "maximize" },
        "trials": result.trials.len(),
        "complete": result.complete(),
        "failed": result.trials.iter().filter(|t| t.state == TrialState::Fail).count(),
        "pruned": result.trials.iter().filter(|t| t.state == TrialState::Pruned).count(),
        "best": best,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// `trials.svg`: the optimisation history drawn by the shared `run::plot` module: the
/// objective of each COMPLETE trial (dots) and each PRUNED one (triangles, at its last
/// intermediate value) by trial number, the best value so far as a line, and failed trials,
/// which have no value, as crosses on the bottom edge. The y axis is logarithmic when the
/// values are positive and span more than two decades.
pub fn svg(name: &str, direction: Direction, result: &StudyResult) -> String {
    use crate::run::plot::{self, Mark, Panel, Scale, Series};
    let mut by_number: Vec<&Trial> = result.trials.iter().collect();
    by_number.sort_by_key(|t| t.number);
    let points = |state: TrialState| -> Vec<(f64, f64)> {
        by_number
            .iter()
            .filter(|t| t.state == state)
            .filter_map(|t| t.value.map(|v| (t.number as f64, v)))
            .collect()
    };
    let complete = points(TrialState::Complete);
    let mut best: Vec<(f64, f64)> = Vec::new();
    for &(x, v) in &complete {
        let b = match best.last() {
            Some(&(_, b)) if direction.loss(b) <= direction.loss(v) => b,
            _ => v,
        };
        best.push((x, b));
    }
    let pruned = points(TrialState::Pruned);
    let log_y = Scale::auto_log_y(complete.iter().chain(&pruned).map(|p| p.1));
    let mut series = vec![
        Series {
            name: "complete".into(),
            points: complete,
            mark: Mark::Dots,
        },
        Series {
            name: "best so far".into(),
            points: best,
            mark: Mark::Line,
        },
    ];
    if !pruned.is_empty() {
        series.push(Series {
            name: "pruned (last value)".into(),
            points: pruned,
            mark: Mark::Triangles,
        });
    }
    let failed_at: Vec<(f64, f64)> = by_number
        .iter()
        .filter(|t| t.state == TrialState::Fail)
        .map(|t| (t.number as f64, 0.0))
        .collect();
    if !failed_at.is_empty() {
        series.push(Series {
            name: "failed (no value)".into(),
            points: failed_at,
            mark: Mark::Rug,
        });
    }
    let failed = result
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Fail)
        .count();
    let title = if failed > 0 {
        format!("{name}: {failed} trial(s) failed (no value)")
    } else {
        name.to_string()
    };
    let panel = Panel {
        title: "optimisation history".into(),
        x_label: "trial".into(),
        y_label: match direction {
            Direction::Minimize => "objective (minimised)".into(),
            Direction::Maximize => "objective (maximised)".into(),
        },
        series,
        marker: None,
    };
    let scale = Scale {
        log_y,
        ..Scale::default()
    };
    svg_or_note(plot::svg_grid(&title, &[(panel, scale)], 1))
}

/// Drawing into a string cannot fail on I/O; if plotters refuses anyway, the study's results
/// stand and the picture says why it is missing.
fn svg_or_note(drawn: Result<String, String>) -> String {
    drawn.unwrap_or_else(|e| {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"40\"><text x=\"10\" y=\"25\">no plot: {}</text></svg>\n",
            e.replace('&', "&amp;").replace('<', "&lt;")
        )
    })
}

/// `slice.svg`: the objective against each searched param, one panel per param (Optuna's
/// slice plot): COMPLETE trials as dots, PRUNED ones as triangles at their last value; a
/// log x axis for log-scaled params, the values' names for a `choice`, and a log y axis
/// when the values span more than two decades.
pub fn slice_svg(name: &str, space: &Space, direction: Direction, result: &StudyResult) -> String {
    use crate::run::plot::{self, Mark, Panel, Scale, Series};
    use crate::tune::Distribution;
    let valued: Vec<&Trial> = result
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete || t.state == TrialState::Pruned)
        .filter(|t| t.value.is_some_and(f64::is_finite))
        .collect();
    let log_y = Scale::auto_log_y(valued.iter().filter_map(|t| t.value));
    let panels: Vec<(Panel, Scale)> = space
        .dims
        .iter()
        .map(|d| {
            let x_of = |v: &ParamValue| match &d.dist {
                Distribution::Choice(values) => {
                    values.iter().position(|c| c == v).map(|k| k as f64)
                }
                _ => v.as_f64(),
            };
            let points = |state: TrialState| -> Vec<(f64, f64)> {
                valued
                    .iter()
                    .filter(|t| t.state == state)
                    .filter_map(|t| Some((x_of(space.get(&t.params, &d.name)?)?, t.value?)))
                    .collect()
            };
            let mut series = vec![Series {
                name: "complete".into(),
                points: points(TrialState::Complete),
                mark: Mark::Dots,
            }];
            let pruned = points(TrialState::Pruned);
            if !pruned.is_empty() {
                series.push(Series {
                    name: "pruned (last value)".into(),
                    points: pruned,
                    mark: Mark::Triangles,
                });
            }
            let (log_x, categories) = match &d.dist {
                Distribution::Float { log, .. } | Distribution::Int { log, .. } => (*log, None),
                Distribution::Quantized { .. } => (false, None),
                Distribution::Choice(values) => (
                    false,
                    Some(values.iter().map(|v| v.source_text()).collect()),
                ),
            };
            let panel = Panel {
                // A conditional param's panel names its branch: only those trials have it.
                title: match space
                    .dims
                    .iter()
                    .position(|x| x.name == d.name)
                    .and_then(|i| space.conditions[i].as_ref())
                {
                    Some(c) => {
                        let parent = &space.dims[c.parent];
                        let values: Vec<String> = c
                            .values
                            .iter()
                            .filter_map(|k| match &parent.dist {
                                Distribution::Choice(vs) => vs.get(*k).map(|v| v.source_text()),
                                _ => None,
                            })
                            .collect();
                        format!("{} ({} = {})", d.name, parent.name, values.join(" | "))
                    }
                    None => d.name.clone(),
                },
                x_label: if log_x {
                    format!("{} (log scale)", d.name)
                } else {
                    d.name.clone()
                },
                y_label: match direction {
                    Direction::Minimize => "objective (minimised)".into(),
                    Direction::Maximize => "objective (maximised)".into(),
                },
                series,
                marker: None,
            };
            let scale = Scale {
                log_x,
                log_y,
                x_categories: categories,
            };
            (panel, scale)
        })
        .collect();
    let columns = panels.len().clamp(1, 3);
    svg_or_note(plot::svg_grid(
        &format!("{name}: objective by param"),
        &panels,
        columns,
    ))
}
