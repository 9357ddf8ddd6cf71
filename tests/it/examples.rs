//! Every example is a snapshot: valid programs record their resolved form, error programs
//! their rendered diagnostics (Gleam-style: the SOURCE, then the ERROR). Adding a file adds
//! a snapshot.

use std::path::Path;

use ammc::diag::render_plain;
use ammc::front::front_end;
use ammc::syntax::{parse_file, pretty};

/// Path relative to the crate root, so snapshots do not depend on where the repo lives.
fn relative(path: &Path) -> &Path {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root).unwrap_or(path)
}

#[test]
fn valid_examples_resolve() {
    insta::glob!("../../examples", "*.amm", |path| {
        let rel = relative(path);
        let bytes = std::fs::read(path).unwrap();
        let fe = front_end(&rel.display().to_string(), &bytes, Some(rel), &[]);
        let program = match fe.program {
            Ok(p) => p,
            Err(d) => panic!(
                "{} failed:\n{}",
                rel.display(),
                render_plain(&d, &fe.sources, 80)
            ),
        };
        let summaries = match ammc::check::check(&program, &fe.sources) {
            Ok(s) => s,
            Err(d) => panic!(
                "{} failed:\n{}",
                rel.display(),
                render_plain(&d, &fe.sources, 80)
            ),
        };
        let networks = ammc::check::q_networks(&program, &fe.sources).unwrap();
        // Every value a tune space gives checks too.
        let branches = ammc::tune::branches::check_branches(
            &program,
            &rel.display().to_string(),
            &bytes,
            Some(rel),
            &[],
        );
        assert!(branches.is_empty(), "{}: {branches:?}", rel.display());
        let tables: String = summaries
            .iter()
            .chain(&networks)
            .map(ammc::check::render_table)
            .collect::<Vec<_>>()
            .join("\n");
        let text = String::from_utf8(bytes).unwrap();
        let ast = parse_file(ammc::source::FileId(0), &text).unwrap();
        let out = format!(
            "RESOLVED\n{}\nSHAPES\n{}\nCANONICAL\n{}",
            ammc::resolve::dump::dump(&program),
            tables,
            pretty::file(&ast)
        );
        insta::assert_snapshot!(out);
    });
}

/// `// set: name=value` lines at the top of an error example are `--set` flags.
fn set_lines(text: &[u8]) -> Vec<ammc::resolve::Override> {
    String::from_utf8_lossy(text)
        .lines()
        .take_while(|l| l.starts_with("//"))
        .filter_map(|l| l.strip_prefix("// set: "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(n, v)| ammc::resolve::Override {
            name: n.trim().to_string(),
            value: v.trim().to_string(),
        })
        .collect()
}

#[test]
fn error_examples_report() {
    insta::glob!("../../examples", "errors/*.amm", |path| {
        let rel = relative(path);
        let bytes = std::fs::read(path).unwrap();
        let fe = front_end(
            &rel.display().to_string(),
            &bytes,
            Some(rel),
            &set_lines(&bytes),
        );
        // As `ammc check`: the shape checker, then the RL pass (maps, agent settings), then
        // the values of tune spaces (rendered with the sources of their re-resolution).
        let mut sources = fe.sources;
        let diags = match fe.program {
            Ok(program) => match ammc::check::check(&program, &sources) {
                Ok(_) => {
                    let branches = ammc::tune::branches::check_branches(
                        &program,
                        &rel.display().to_string(),
                        &bytes,
                        Some(rel),
                        &set_lines(&bytes),
                    );
                    if let Some(b) = branches.into_iter().next() {
                        sources = b.sources;
                        b.diags
                    } else {
                        let rl: Vec<_> = ammc::rl::program::check(&program)
                            .into_iter()
                            .filter(|d| d.code != "amm::rl::argument")
                            .collect();
                        assert!(!rl.is_empty(), "{} should fail", rel.display());
                        rl
                    }
                }
                Err(d) => d,
            },
            Err(d) => d,
        };
        assert!(diags.iter().all(|d| d.code.starts_with("amm::")));
        assert!(
            diags.iter().all(|d| !d.labels.is_empty()),
            "every diagnostic points at code"
        );
        let out = format!(
            "SOURCE\n{}\nERROR\n{}",
            String::from_utf8_lossy(&bytes),
            render_plain(&diags, &sources, 80)
        );
        insta::assert_snapshot!(out);
    });
}

/// Printing a file and parsing it again gives the same canonical text.
#[test]
fn canonical_form_round_trips() {
    insta::glob!("../../examples", "**/*.amm", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let Ok(ast) = parse_file(ammc::source::FileId(0), &text) else {
            return;
        };
        let once = pretty::file(&ast);
        let again = parse_file(ammc::source::FileId(0), &once).unwrap_or_else(|_| {
            panic!(
                "canonical text of {} does not parse:\n{once}",
                path.display()
            )
        });
        assert_eq!(once, pretty::file(&again), "{}", path.display());
    });
}
