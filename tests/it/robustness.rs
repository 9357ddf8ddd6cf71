//! No input makes the front end panic, overflow its stack or hang: thousands of mutated
//! examples (deleted, duplicated and swapped tokens, random bytes, invalid UTF-8), a file at
//! the size limit and 100,000 nested brackets each end in a program or in diagnostics. The
//! same holds for the file readers: 10,000 mutated IDX, NPY, CSV and safetensors files.

use std::time::{Duration, Instant};

use ammc::diag::render_plain;
use ammc::front::front_end;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The example programs (valid and error examples): the mutation corpus.
pub(crate) fn examples() -> Vec<(String, Vec<u8>)> {
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

/// One to three token edits of `text`: deleted, duplicated, swapped or replaced tokens,
/// random bytes, invalid UTF-8.
pub(crate) fn mutate_tokens(rng: &mut ChaCha8Rng, text: &[u8]) -> Vec<u8> {
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
    toks.concat()
}

#[test]
fn ten_thousand_mutations() {
    let corpus = examples();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut ok = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..10_000 {
        let (name, text) = &corpus[i % corpus.len()];
        let bytes = mutate_tokens(&mut rng, text);
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
fn file_at_the_size_limit() {
    let limit = ammc::front::MAX_SOURCE_BYTES;
    let mut text = String::new();
    let mut i = 0;
    while text.len() < limit - 100 {
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
    let junk = "@".repeat(limit);
    assert!(!run("junk.amm", junk.as_bytes()));
    // One byte more is refused before parsing.
    let start = Instant::now();
    assert!(!run("over.amm", "@".repeat(limit + 1).as_bytes()));
    assert!(start.elapsed() < Duration::from_secs(1));
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

// ---------------------------------------------------------------------------------------
// File readers

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_file(kind: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn npy_file(version: u8, descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    header.push('\n');
    let mut b = b"\x93NUMPY".to_vec();
    b.push(version);
    b.push(0);
    if version == 1 {
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Which reader a seed file is for.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Csv,
    Idx,
    Npy,
    Safetensors,
}

/// Small valid files of every reader, in the layouts the loaders support.
fn seeds() -> Vec<(Reader, Vec<u8>)> {
    use ammc::data::safetensors::{Tensor, serialize};
    let floats: Vec<u8> = (0..12)
        .flat_map(|i| (i as f32 * 0.25).to_be_bytes())
        .collect();
    let le64: Vec<u8> = (0..12).flat_map(|i| (i as f64).to_le_bytes()).collect();
    let tensors = vec![
        Tensor {
            name: "features.dense1.weight".into(),
            shape: vec![2, 3],
            data: vec![0.5; 6],
        },
        Tensor {
            name: "features.dense1.bias".into(),
            shape: vec![2],
            data: vec![0.1, 0.2],
        },
    ];
    vec![
        (Reader::Csv, b"x,y,label\n1,2,0\n3.5,-1,1\n0,0,2\n".to_vec()),
        (Reader::Csv, gzip(b"\xef\xbb\xbfa,b\n1,2\n3,4\n")),
        (
            Reader::Idx,
            idx_file(0x08, &[3, 2, 2], &(0..12).collect::<Vec<u8>>()),
        ),
        (Reader::Idx, idx_file(0x0D, &[3, 2, 2], &floats)),
        (Reader::Idx, idx_file(0x08, &[3], &[0, 1, 2])),
        (Reader::Idx, gzip(&idx_file(0x08, &[3, 1, 2, 2], &[7; 12]))),
        (Reader::Npy, npy_file(1, "<f4", "(3, 2)", false, &[0; 24])),
        (Reader::Npy, npy_file(2, "<f8", "(3, 4)", true, &le64)),
        (Reader::Npy, npy_file(1, "|u1", "(3,)", false, &[0, 1, 1])),
        (
            Reader::Npy,
            gzip(&npy_file(3, ">i2", "(3, 2, 2)", false, &[1; 24])),
        ),
        (
            Reader::Safetensors,
            serialize(&tensors, &Default::default()),
        ),
    ]
}

/// One mutation of the kinds hostile files show: bit flips, truncation, inserted and
/// deleted bytes, header fields set to extremes, and text edits of the NPY/JSON headers.
fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    let header = b.len().min(96);
    for _ in 0..rng.random_range(1..4) {
        if b.is_empty() {
            b.push(rng.random());
            continue;
        }
        // Most edits land in the header, where the sizes are.
        let at = if rng.random_bool(0.7) {
            rng.random_range(0..header.min(b.len()))
        } else {
            rng.random_range(0..b.len())
        };
        match rng.random_range(0..9) {
            0 => b[at] ^= 1 << rng.random_range(0..8),
            1 => b.truncate(at),
            2 => {
                let n = rng.random_range(1..16);
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                b.splice(at..at, junk);
            }
            3 => {
                let end = (at + rng.random_range(1..8)).min(b.len());
                b.drain(at..end);
            }
            4 => {
                // A 4-byte field (IDX dimension, NPY header length) set to an extreme.
                let v: u32 = [0, 1, 0xff, 0xffff, 0x7fff_ffff, u32::MAX][rng.random_range(0..6)];
                let end = (at + 4).min(b.len());
                let bytes = v.to_be_bytes();
                b[at..end].copy_from_slice(&bytes[..end - at]);
            }
            5 => b[at] = [0, b'(', b')', b',', b'\'', b'-', b'9', 0xff][rng.random_range(0..8)],
            6 => {
                // Text edits of headers: descr, shapes, numbers, JSON punctuation.
                let edits: [&[u8]; 10] = [
                    b"''",
                    b"'<'",
                    b"(0,)",
                    b")(",
                    b"99999999999999999999",
                    b"1e39",
                    b"nan",
                    b"\"data_offsets\":[0,0]",
                    b"\xc3\xa9",
                    b",,",
                ];
                let e = edits[rng.random_range(0..edits.len())];
                let end = (at + e.len()).min(b.len());
                b.splice(at..end, e.iter().copied());
            }
            7 => b.extend((0..rng.random_range(1..64)).map(|_| rng.random::<u8>())),
            _ => {
                let (i, j) = (at, rng.random_range(0..b.len()));
                b.swap(i, j);
            }
        }
    }
    b
}

#[test]
fn ten_thousand_mutated_data_files() {
    use ammc::data::files;
    let dir = std::env::temp_dir().join(format!("ammc-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = dir.join("b");
    let seeds = seeds();
    // Every seed is valid to begin with, so mutations start from files that load.
    std::fs::write(&b, idx_file(0x08, &[3], &[0, 1, 2])).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let start = Instant::now();
    let mut errors = 0;
    for case in 0..10_000 {
        let (reader, seed) = &seeds[case % seeds.len()];
        let bytes = if case < seeds.len() {
            seed.clone()
        } else {
            mutate(&mut rng, seed)
        };
        // A new file per case: truncating and rewriting one file costs ~1 ms here.
        let a = dir.join(case.to_string());
        std::fs::write(&a, &bytes).unwrap();
        let failed = match reader {
            Reader::Csv => files::csv(&a, "label").is_err() & files::csv(&a, "b").is_err(),
            Reader::Idx => {
                let shape = files::idx_sample_shape(&a).is_err();
                let labels = files::idx_labels(&a).is_err();
                shape & labels & files::idx(&a, &b).is_err()
            }
            Reader::Npy => {
                let shape = files::npy_sample_shape(&a).is_err();
                let labels = files::npy_labels(&a).is_err();
                shape & labels & files::npy(&a, &a).is_err()
            }
            Reader::Safetensors => {
                let header = ammc::check::weights::read_header(&a).is_err();
                header & ammc::data::safetensors::deserialize(&bytes).is_err()
            }
        };
        if case < seeds.len() {
            assert!(!failed, "seed {case} ({reader:?}) does not load");
        }
        errors += usize::from(failed);
    }
    let took = start.elapsed();
    // Most mutations break the file; some (a flipped data bit) leave it valid.
    assert!(errors > 5_000, "{errors}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
