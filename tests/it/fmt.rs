//! `ammc fmt`: text in, text out for each comment case; idempotent and comment-keeping on
//! every example, the stdlib and thousands of mutated programs with comments sprinkled in;
//! the command's `--check`, stdin and syntax-error behaviour.

use std::path::Path;
use std::process::{Command, Stdio};

use ammc::source::SourceMap;
use ammc::syntax::{format_source, parse_file, pretty, trivia};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn fmt(text: &str) -> String {
    let mut sources = SourceMap::new();
    match format_source(&mut sources, "t.amm", text) {
        Ok(f) => f,
        Err(d) => panic!("{}", ammc::diag::render_plain(&d, &sources, 80)),
    }
}

/// The canonical text of the tree (comments aside): formatting must not change it.
fn tree(text: &str) -> Option<String> {
    let mut sources = SourceMap::new();
    let id = sources.add("t.amm", text);
    parse_file(id, text).ok().map(|f| pretty::file(&f))
}

fn comment_texts(text: &str) -> Vec<String> {
    let mut c: Vec<String> = trivia::comments(text).into_iter().map(|c| c.text).collect();
    c.sort();
    c
}

/// Formats `text`, checks the invariants, and returns the result.
fn check_invariants(name: &str, text: &str) -> Option<String> {
    let want_tree = tree(text)?;
    let once = fmt(text);
    assert_eq!(
        tree(&once).as_deref(),
        Some(want_tree.as_str()),
        "{name}: tree changed\n{once}"
    );
    assert_eq!(
        comment_texts(&once),
        comment_texts(text),
        "{name}: comments differ\n{text}\n---\n{once}"
    );
    let twice = fmt(&once);
    assert_eq!(twice, once, "{name}: not idempotent");
    Some(once)
}

#[test]
fn own_line_and_trailing_comments_stay_where_they_were() {
    let src = "\
// Header, two lines
// of it.

use std.heads.{classifier}   // the head
/// The learning rate.
param lr = 1e-3 // trailing
param epochs = 3
// before data
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = \"scale\")
backbone f {  // opens
    flatten
    // inside

    dense(64)    relu // grouped with its activation
    // before the brace
}
train fit {
    model = f -> classifier(classes = 10)
    data = digits   // \"// a string, not a comment\"
    loss = cross_entropy
    optimizer = adam(lr = lr)


    epochs = epochs
}  // after the brace
// the end
";
    let want = "\
// Header, two lines
// of it.

use std.heads.{classifier}  // the head
/// The learning rate.
param lr = 1e-3  // trailing
param epochs = 3
// before data
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = \"scale\")

backbone f {  // opens
    flatten
    // inside

    dense(64) relu  // grouped with its activation
    // before the brace
}

train fit {
    model = f -> classifier(classes = 10)
    data = digits  // \"// a string, not a comment\"
    loss = cross_entropy
    optimizer = adam(lr = lr)

    epochs = epochs
}  // after the brace
// the end
";
    // `model = f -> …` is not a train field's syntax; use a real model item instead.
    let src = src.replace(
        "    model = f -> classifier(classes = 10)\n",
        "    model = f\n",
    );
    let want = want.replace(
        "    model = f -> classifier(classes = 10)\n",
        "    model = f\n",
    );
    assert_eq!(fmt(&src), want);
    assert_eq!(fmt(&want), want);
}

#[test]
fn layout_is_canonical_but_spelling_and_grouping_are_the_authors() {
    let src = "param a = 1_000\nparam b = 2 ^ -1\nparam c = 1e-4\n\
               backbone f { flatten dense(a) relu }\n\
               backbone g {\n  conv(8, kernel = 3) relu residual { conv(8, kernel = 3,pad=1) relu }\n    flatten\n}\n\
               tune t {\n space { x ~ uniform(0, 1) }\n run = fit\n}\n";
    let want = "param a = 1_000\nparam b = 2 ^ -1\nparam c = 1e-4\n\
                backbone f { flatten dense(a) relu }\n\n\
                backbone g {\n    conv(8, kernel = 3) relu residual { conv(8, kernel = 3, pad = 1) relu }\n    flatten\n}\n\n\
                tune t {\n    space {\n        x ~ uniform(0, 1)\n    }\n    run = fit\n}\n";
    assert_eq!(fmt(src), want);
    assert_eq!(fmt(want), want);
}

#[test]
fn every_example_and_the_stdlib_are_formatted() {
    let mut checked = 0;
    for dir in [
        "examples",
        "examples/errors",
        "examples/errors/use",
        "stdlib",
    ] {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "amm"))
        {
            let text = std::fs::read_to_string(p).unwrap();
            let name = p.display().to_string();
            if let Some(once) = check_invariants(&name, &text) {
                assert_eq!(once, text, "{name} is not formatted: run `ammc fmt {name}`");
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} files parsed");
}

#[test]
fn mutated_programs_with_comments_keep_every_comment() {
    let corpus = super::robustness::examples();
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut formatted = 0;
    for i in 0..3_000 {
        let (name, text) = &corpus[i % corpus.len()];
        let mut bytes = super::robustness::mutate_tokens(&mut rng, text);
        // Comments between tokens, own-line or trailing, where a newline may be added.
        for k in 0..rng.random_range(1..5) {
            let Ok(s) = std::str::from_utf8(&bytes) else {
                break;
            };
            let spaces: Vec<usize> = s
                .match_indices(char::is_whitespace)
                .map(|(i, _)| i)
                .collect();
            if spaces.is_empty() {
                break;
            }
            let at = spaces[rng.random_range(0..spaces.len())];
            let comment = format!(
                " // c{k}{}\n",
                if rng.random_bool(0.5) { " // x" } else { "" }
            );
            bytes.splice(at..at, comment.into_bytes());
        }
        let Ok(s) = String::from_utf8(bytes) else {
            continue;
        };
        if check_invariants(name, &s).is_some() {
            formatted += 1;
        }
    }
    // About one mutant in ten still parses; every one that does is checked.
    assert!(formatted > 200, "only {formatted} mutants parsed");
}

fn ammc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ammc"))
}

#[test]
fn check_lists_files_stdin_formats_and_syntax_errors_are_left_alone() {
    let dir = std::env::temp_dir().join(format!("ammc-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let messy = "param a=1 // one\nparam b = 2\n";
    let clean = "param a = 1  // one\nparam b = 2\n";
    let broken = "param a = = 1\n";
    std::fs::write(dir.join("sub/messy.amm"), messy).unwrap();
    std::fs::write(dir.join("clean.amm"), clean).unwrap();
    std::fs::write(dir.join("broken.amm"), broken).unwrap();

    // --check over a directory: lists the messy file, exit 1, nothing written; the file
    // that does not parse is noted and skipped.
    let o = ammc().arg("fmt").arg("--check").arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("messy.amm") && !stdout.contains("clean.amm"),
        "{stdout}"
    );
    assert!(
        stderr.contains("broken.amm") && stderr.contains("does not parse"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sub/messy.amm")).unwrap(),
        messy
    );

    // Formatting writes the file, keeping its mode; then --check passes.
    use std::os::unix::fs::PermissionsExt;
    let messy_path = dir.join("sub/messy.amm");
    std::fs::set_permissions(&messy_path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = ammc().arg("fmt").arg(&dir).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sub/messy.amm")).unwrap(),
        clean
    );
    let mode = std::fs::metadata(&messy_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "fmt changed the file's mode");
    let o = ammc().arg("fmt").arg("--check").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0));

    // A file named on the command line that does not parse is an error, left unchanged.
    let o = ammc()
        .arg("fmt")
        .arg(dir.join("broken.amm"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("amm::parse"));
    assert_eq!(
        std::fs::read_to_string(dir.join("broken.amm")).unwrap(),
        broken
    );

    // `-`: stdin to stdout.
    let mut child = ammc()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(messy.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), clean);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!Path::new(&dir).exists());
}
