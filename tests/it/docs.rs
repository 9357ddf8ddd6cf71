//! Every ```amm block in docs/language.md is a test: plain blocks must resolve, blocks
//! marked `amm error` must fail with the code in their first comment line.

use ammc::diag::render_plain;
use ammc::front::front_end;

#[test]
fn language_reference_examples() {
    let doc = std::fs::read_to_string("docs/language.md").unwrap();
    let mut blocks = 0;
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```amm") else {
            continue;
        };
        let expect_error = info.trim() == "error";
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let text = body.join("\n");
        blocks += 1;
        let fe = front_end("docs/language.md", text.as_bytes(), None, &[]);
        match (fe.program, expect_error) {
            (Ok(_), false) => {}
            (Err(d), false) => panic!(
                "doc example failed:\n{text}\n{}",
                render_plain(&d, &fe.sources, 80)
            ),
            (Ok(_), true) => panic!("doc example should fail:\n{text}"),
            (Err(d), true) => {
                let code = body[0].trim_start_matches("//").trim();
                assert!(
                    d.iter().any(|x| x.code == code),
                    "expected {code}, got {:?}",
                    d.iter().map(|x| x.code).collect::<Vec<_>>()
                );
            }
        }
    }
    assert!(blocks >= 10, "only {blocks} examples found");
}
