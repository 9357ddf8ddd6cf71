//! No input makes the front end panic, overflow its stack or hang: thousands of mutated
//! examples (deleted, duplicated and swapped tokens, random bytes, invalid UTF-8), a 10 MB
//! file and 100,000 nested brackets each end in a program or in diagnostics.

use std::time::{Duration, Instant};

use ammc::diag::render_plain;
use ammc::front::front_end;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn examples() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["examples", "examples/errors"] {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.extension().is_some_and(|e| e == "amm") {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Splits text into rough tokens (words, numbers, single punctuation, whitespace runs).
fn tokens(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let class = |b: u8| {
        if b.is_ascii_alphanumeric() || b == b'_' {
            0
        } else if b.is_ascii_whitespace() {
            1
        } else {
            2
        }
    };
    for &b in text {
        match out.last_mut() {
            Some(last) if class(b) != 2 && class(last[0]) == class(b) => last.push(b),
            _ => out.push(vec![b]),
        }
    }
    out
}

/// Runs the front end and the shape checker and renders whatever they report (rendering
/// must not panic either).
fn run(name: &str, bytes: &[u8]) -> bool {
    let fe = front_end(name, bytes, None, &[]);
    match fe.program {
        Ok(program) => match ammc::check::check(&program, &fe.sources) {
            Ok(models) => {
                // Lowering every checked model must not panic either.
                for m in &models {
                    let _ = ammc::lower::lower(m, m.batch.min(4));
                }
                true
            }
            Err(d) => {
                let text = render_plain(&d, &fe.sources, 80);
                assert!(text.contains("amm::"), "{text}");
                false
            }
        },
        Err(d) => {
            assert!(!d.is_empty());
            let text = render_plain(&d, &fe.sources, 80);
            assert!(text.contains("amm::"), "{text}");
            false
        }
    }
}

#[test]
fn ten_thousand_mutations() {
    let corpus = examples();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut ok = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..10_000 {
        let (name, text) = &corpus[i % corpus.len()];
        let mut toks = tokens(text);
        let edits = rng.random_range(1..4);
        for _ in 0..edits {
            if toks.is_empty() {
                break;
            }
            let a = rng.random_range(0..toks.len());
            match rng.random_range(0..6) {
                0 => {
                    toks.remove(a);
                }
                1 => {
                    let t = toks[a].clone();
                    toks.insert(a, t);
                }
                2 => {
                    let b = rng.random_range(0..toks.len());
                    toks.swap(a, b);
                }
                3 => {
                    let n = rng.random_range(1..4);
                    let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                    toks.insert(a, bytes);
                }
                4 => {
                    // Invalid UTF-8 in the middle of a token.
                    toks.insert(a, vec![0xff, 0xfe]);
                }
                _ => {
                    let b = rng.random_range(0..toks.len());
                    let t = toks[b].clone();
                    toks[a] = t;
                }
            }
        }
        let bytes: Vec<u8> = toks.concat();
        let start = Instant::now();
        if run(name, &bytes) {
            ok += 1;
        }
        slowest = slowest.max(start.elapsed());
    }
    // Some mutations are harmless (swapping equal tokens, duplicating whitespace).
    assert!(ok > 0 && ok < 10_000, "ok = {ok}");
    assert!(
        slowest < Duration::from_secs(2),
        "slowest mutation took {slowest:?}"
    );
}

#[test]
fn random_bytes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..500 {
        let n = rng.random_range(0..400);
        let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        run("random.amm", &bytes);
        // Printable ASCII noise reaches deeper into the parser than arbitrary bytes.
        let ascii: Vec<u8> = (0..n).map(|_| rng.random_range(b' '..=b'~')).collect();
        run("ascii.amm", &ascii);
    }
}

#[test]
fn deep_nesting_is_a_diagnostic() {
    for open in ["(", "[", "{"] {
        let text = format!("param x = {}", open.repeat(100_000));
        assert!(!run("deep.amm", text.as_bytes()));
    }
    let text = format!("param x = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(!run("deep.amm", text.as_bytes()));
    let negs = format!("param x = {}1", "-".repeat(100_000));
    run("negs.amm", negs.as_bytes());
    // Within the limit, nesting works.
    let ok = format!("param x = {}1{}", "(".repeat(30), ")".repeat(30));
    assert!(run("ok.amm", ok.as_bytes()));
}

#[test]
fn ten_megabyte_file() {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10_000_000 {
        text.push_str(&format!("param p{i} = {i} * 2 + 1 // a comment\n"));
        i += 1;
    }
    let start = Instant::now();
    assert!(run("big.amm", text.as_bytes()));
    let valid = start.elapsed();
    // The same with an error at the very end.
    text.push_str("param = 3\n");
    assert!(!run("big.amm", text.as_bytes()));
    assert!(valid < Duration::from_secs(30), "{valid:?}");
    let junk = "@".repeat(10_000_000);
    assert!(!run("junk.amm", junk.as_bytes()));
}

#[test]
fn absurd_sizes_are_diagnostics() {
    let cases = [
        "data d = synthetic(shape = [16000000, 16000000, 16000000], classes = 2)\nbackbone b { conv(16000000, kernel = 16000000, pad = 16000000) flatten dense(16000000) }\nmodel m = b\ntrain t { model = m data = d loss = cross_entropy optimizer = adam batch = 1000000000 }\n",
        "data d = builtin.digits()\nbackbone b { flatten repeat(9223372036854775807) { dense(10) } }\nmodel m = b\ntrain t { model = m data = d loss = cross_entropy optimizer = adam }\n",
        "data d = builtin.digits()\nbackbone b { flatten repeat(1000) { repeat(1000) { relu } } dense(10) }\nmodel m = b\ntrain t { model = m data = d loss = cross_entropy optimizer = adam }\n",
        "data d = synthetic(shape = [3, 4096, 4096], classes = 10)\nbackbone b { flatten dense(100000) dense(10) }\nmodel m = b\ntrain t { model = m data = d loss = cross_entropy optimizer = adam }\n",
    ];
    for c in cases {
        assert!(!run("absurd.amm", c.as_bytes()), "{c}");
    }
}
