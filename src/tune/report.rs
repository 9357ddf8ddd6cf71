//! What a finished study shows and leaves behind: the trial table, the best trial with
//! ready-to-paste `--set` flags, `best.json`, and `trials.svg` (objective per trial and the
//! running best), drawn by hand.

use std::fmt::Write as _;

use super::journal::TrialState;
use super::space::Space;
use super::study::{Direction, StudyResult, Trial};

fn params_text(space: &Space, t: &Trial) -> String {
    space
        .dims
        .iter()
        .zip(&t.params)
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

/// The `--set name=value` flags of a trial's params.
pub fn set_flags(space: &Space, t: &Trial) -> String {
    space
        .dims
        .iter()
        .zip(&t.params)
        .map(|(d, v)| format!("--set {}={}", d.name, v.source_text()))
        .collect::<Vec<_>>()
        .join(" ")
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
            .dims
            .iter()
            .zip(&t.params)
            .map(|(d, v)| (d.name.clone(), v.to_json()))
            .collect();
        serde_json::json!({
            "number": t.number,
            "value": t.value,
            "params": params,
            "set": set_flags(space, t),
        })
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

/// `trials.svg`: objective of each COMPLETE trial (dots) and the running best (line).
pub fn svg(name: &str, direction: Direction, result: &StudyResult) -> String {
    let (w, h, ml, mr, mt, mb) = (640.0, 360.0, 70.0, 20.0, 30.0, 40.0);
    let pts: Vec<(f64, f64)> = result
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.value.map(|v| (t.number as f64, v)))
        .collect();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">{} — objective per trial and running best</text>\n",
        w / 2.0,
        xml_escape(name)
    );
    if pts.is_empty() {
        s += "<text x=\"320\" y=\"180\" text-anchor=\"middle\">no complete trials</text>\n</svg>\n";
        return s;
    }
    let xmax = result.trials.len().max(2) as f64 - 1.0;
    let (mut ymin, mut ymax) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, v)| {
            (a.min(*v), b.max(*v))
        });
    if ymax - ymin < 1e-12 {
        ymin -= 0.5;
        ymax += 0.5;
    }
    let px = |x: f64| ml + x / xmax * (w - ml - mr);
    let py = |y: f64| mt + (ymax - y) / (ymax - ymin) * (h - mt - mb);
    let _ = writeln!(
        s,
        "<line x1=\"{ml}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{ml}\" y1=\"{mt}\" x2=\"{ml}\" y2=\"{}\" stroke=\"black\"/>",
        h - mb,
        w - mr,
        h - mb,
        h - mb
    );
    for k in 0..=4 {
        let y = ymin + (ymax - ymin) * k as f64 / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            ml - 4.0,
            py(y) + 4.0,
            format_tick(y)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">trial</text>",
        (ml + w - mr) / 2.0,
        h - 8.0
    );
    for (x, y) in &pts {
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#4c72b0\"/>",
            px(*x),
            py(*y)
        );
    }
    let mut best = f64::NAN;
    let mut path = String::new();
    for (x, y) in &pts {
        let better = best.is_nan() || direction.loss(*y) < direction.loss(best);
        if better {
            best = *y;
        }
        let cmd = if path.is_empty() { 'M' } else { 'L' };
        let _ = write!(path, "{cmd}{:.1},{:.1} ", px(*x), py(best));
    }
    let _ = writeln!(
        s,
        "<path d=\"{}\" fill=\"none\" stroke=\"#dd8452\" stroke-width=\"2\"/>",
        path.trim_end()
    );
    s += "</svg>\n";
    s
}

fn format_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
