//! Study reports: a text table of trials, the best trial as `--set` flags and as
//! `best.json`, and an SVG plot of objective value against trial number with the running
//! best.

use std::fmt::Write as _;

use super::strategy::Direction;
use super::study::StudyOutcome;
use super::trial::{TrialRecord, TrialState};
use super::value::TrialParams;

/// Formats a value compactly for tables and labels.
fn num(v: f64) -> String {
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.4e}")
    }
}

fn duration_text(t: &TrialRecord) -> String {
    match t.duration() {
        Some(d) if d.as_secs_f64() < 60.0 => format!("{:.2}s", d.as_secs_f64()),
        Some(d) => {
            let s = d.as_secs();
            format!("{}m{:02}s", s / 60, s % 60)
        }
        None => "-".into(),
    }
}

/// A fixed-width text table of all trials: number, parameters, value, state, duration.
pub fn trials_table(outcome: &StudyOutcome) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "#".into(),
        "params".into(),
        "value".into(),
        "state".into(),
        "duration".into(),
    ]];
    for t in &outcome.trials {
        let mut state = t.state.name().to_string();
        if t.stale {
            state.push_str(" (stale)");
        }
        if let Some(r) = t.retry_of {
            state.push_str(&format!(" (retry of #{r})"));
        }
        rows.push([
            t.number.to_string(),
            t.params.to_string(),
            t.value.map(num).unwrap_or_else(|| "-".into()),
            state,
            duration_text(t),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line = format!(
            "{:>w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:>w4$}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 8;
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    let best = outcome
        .best()
        .map(|b| {
            format!(
                "best: trial #{} value {} ({})\n",
                b.number,
                num(b.value.unwrap_or(f64::NAN)),
                b.params
            )
        })
        .unwrap_or_else(|| "best: none (no trial completed)\n".into());
    out.push_str(&best);
    out
}

/// `name=value` overrides in `.amm` literal syntax, one per parameter
/// (strings quoted: `act="relu"`).
pub fn set_assignments(params: &TrialParams) -> Vec<String> {
    params
        .iter()
        .map(|(name, v)| format!("{name}={}", v.to_amm_literal()))
        .collect()
}

/// Argument vector `["--set", "lr=0.001", "--set", "act=\"relu\"", …]`.
pub fn set_flags(params: &TrialParams) -> Vec<String> {
    set_assignments(params)
        .into_iter()
        .flat_map(|a| ["--set".to_string(), a])
        .collect()
}

/// Quotes an argument for a POSIX shell when needed.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:/=+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The flags as one shell-ready line: `--set lr=0.001 --set 'act="relu"'`.
pub fn set_flags_line(params: &TrialParams) -> String {
    set_assignments(params)
        .iter()
        .map(|a| format!("--set {}", shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Content of `best.json` for the best COMPLETE trial, or `None` if none completed.
pub fn best_json(outcome: &StudyOutcome) -> Option<String> {
    let b = outcome.best()?;
    let mut params = serde_json::Map::new();
    for (name, v) in b.params.iter() {
        params.insert(name.to_string(), v.to_json());
    }
    let count = |s: TrialState| outcome.in_state(s).count();
    let doc = serde_json::json!({
        "study": outcome.name,
        "direction": outcome.direction.name(),
        "trial": b.number,
        "value": b.value,
        "params": params,
        "set": set_assignments(&b.params),
        "trials": {
            "total": outcome.trials.len(),
            "complete": count(TrialState::Complete),
            "pruned": count(TrialState::Pruned),
            "failed": count(TrialState::Fail),
        },
    });
    serde_json::to_string_pretty(&doc).ok().map(|mut s| {
        s.push('\n');
        s
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// "Nice" tick positions covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// An SVG scatter plot of objective value against trial number (COMPLETE as blue dots,
/// PRUNED as hollow grey circles at their last value, FAIL as red ticks on the axis) with
/// the running best as a step line.
pub fn plot_svg(outcome: &StudyOutcome) -> String {
    let (w, h) = (720.0, 420.0);
    let (ml, mr, mt, mb) = (70.0, 20.0, 40.0, 50.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let values: Vec<f64> = outcome
        .trials
        .iter()
        .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
        .filter_map(|t| t.value)
        .filter(|v| v.is_finite())
        .collect();
    let n = outcome
        .trials
        .iter()
        .map(|t| t.number + 1)
        .max()
        .unwrap_or(1)
        .max(2);
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 * lo.abs().max(1.0) {
        lo -= 0.5;
        hi += 0.5;
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let sx = |i: f64| ml + pw * i / (n - 1) as f64;
    let sy = |v: f64| mt + ph * (1.0 - (v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{} ({})</text>"#,
        w / 2.0,
        xml_escape(&outcome.name),
        outcome.direction.name()
    );
    // Grid and axes.
    for t in ticks(lo, hi, 6) {
        let y = sy(t);
        let _ = writeln!(
            s,
            r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            ml + pw,
            ml - 6.0,
            y + 4.0,
            num(t)
        );
    }
    for t in ticks(0.0, (n - 1) as f64, 8) {
        if t.fract() != 0.0 {
            continue;
        }
        let x = sx(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#888"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            mt + ph,
            mt + ph + 5.0,
            mt + ph + 18.0,
            t as usize
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">trial</text>"#,
        ml + pw / 2.0,
        h - 10.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">objective</text>"#,
        mt + ph / 2.0,
        mt + ph / 2.0
    );
    // Running best.
    let mut best: Option<f64> = None;
    let mut path: Vec<(f64, f64)> = Vec::new();
    for t in &outcome.trials {
        if t.state == TrialState::Complete
            && let Some(v) = t.value.filter(|v| v.is_finite())
        {
            let improves = match (best, outcome.direction) {
                (None, _) => true,
                (Some(b), Direction::Minimize) => v < b,
                (Some(b), Direction::Maximize) => v > b,
            };
            if improves {
                if let Some(b) = best {
                    path.push((sx(t.number as f64), sy(b)));
                }
                best = Some(v);
                path.push((sx(t.number as f64), sy(v)));
            }
        }
    }
    if let Some(b) = best {
        path.push((sx((n - 1) as f64), sy(b)));
        let pts: Vec<String> = path.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#d62728" stroke-width="2"/>"##,
            pts.join(" ")
        );
    }
    for t in &outcome.trials {
        let x = sx(t.number as f64);
        match (t.state, t.value.filter(|v| v.is_finite())) {
            (TrialState::Complete, Some(v)) => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{x:.1}" cy="{:.1}" r="3.5" fill="#1f77b4"><title>#{} {}</title></circle>"##,
                    sy(v),
                    t.number,
                    num(v)
                );
            }
            (TrialState::Pruned, Some(v)) => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{x:.1}" cy="{:.1}" r="3.5" fill="none" stroke="#999"><title>#{} pruned</title></circle>"##,
                    sy(v),
                    t.number
                );
            }
            (TrialState::Fail, _) => {
                let y = mt + ph;
                let _ = writeln!(
                    s,
                    r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{y:.1}" stroke="#d62728" stroke-width="2"><title>#{} failed</title></line>"##,
                    y - 8.0,
                    t.number
                );
            }
            _ => {}
        }
    }
    let legend_y = mt + 14.0;
    let lx = ml + 10.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{lx}" cy="{legend_y}" r="3.5" fill="#1f77b4"/><text x="{}" y="{}">complete</text><line x1="{}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="#d62728" stroke-width="2"/><text x="{}" y="{}">running best</text>"##,
        lx + 8.0,
        legend_y + 4.0,
        lx + 80.0,
        lx + 100.0,
        lx + 106.0,
        legend_y + 4.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::value::{ParamEntry, ParamValue};

    fn params(lr: f64, act: &str) -> TrialParams {
        TrialParams::new(vec![
            ParamEntry {
                name: "lr".into(),
                value: ParamValue::Float(lr),
            },
            ParamEntry {
                name: "act".into(),
                value: ParamValue::Str(act.into()),
            },
        ])
    }

    fn record(number: usize, state: TrialState, value: Option<f64>) -> TrialRecord {
        TrialRecord {
            number,
            slot: Some(number),
            params: params(0.001 * (number + 1) as f64, "relu"),
            state,
            value,
            intermediate: Vec::new(),
            fail_reason: None,
            started: Some(100.0),
            finished: Some(101.5),
            retry_of: None,
            stale: false,
        }
    }

    fn outcome() -> StudyOutcome {
        StudyOutcome {
            name: "search".into(),
            direction: Direction::Maximize,
            budget: 4,
            trials: vec![
                record(0, TrialState::Complete, Some(0.5)),
                record(1, TrialState::Complete, Some(0.9)),
                record(2, TrialState::Fail, None),
                record(3, TrialState::Pruned, Some(0.2)),
            ],
            evaluated_here: 4,
        }
    }

    #[test]
    fn flags_quote_strings() {
        let p = params(0.001, "it's");
        assert_eq!(
            set_flags(&p),
            vec!["--set", "lr=0.001", "--set", "act=\"it's\""]
        );
        assert_eq!(
            set_flags_line(&p),
            r#"--set lr=0.001 --set 'act="it'\''s"'"#
        );
    }

    #[test]
    fn table_lists_every_trial_and_the_best() {
        let t = trials_table(&outcome());
        assert_eq!(t.lines().count(), 2 + 4 + 1);
        assert!(t.contains("FAIL"));
        assert!(t.contains("1.50s"));
        assert!(t.ends_with("best: trial #1 value 0.9 (lr=0.002, act=\"relu\")\n"));
    }

    #[test]
    fn best_json_describes_the_best_trial() {
        let j: serde_json::Value = serde_json::from_str(&best_json(&outcome()).unwrap()).unwrap();
        assert_eq!(j["trial"], 1);
        assert_eq!(j["value"], 0.9);
        assert_eq!(j["params"]["act"], "relu");
        assert_eq!(j["set"][0], "lr=0.002");
        assert_eq!(j["trials"]["failed"], 1);
    }

    #[test]
    fn svg_has_points_and_a_running_best() {
        let s = plot_svg(&outcome());
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("fill=\"#1f77b4\"><title>").count(), 2);
        assert_eq!(s.matches("<polyline").count(), 1);
        assert!(s.contains("#2 failed"));
    }
}
