//! `ammc lsp` driven over stdio by a JSON-RPC client written here: the handshake,
//! diagnostics as a document is broken and fixed, inlay hints with each line's shape,
//! hovers, definition into the stdlib, completion, references and rename, formatting, the
//! quick fix, shutdown — with exact results on the examples. Then the mutation corpus
//! through the `ide` layer and through the running server: no input stops it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use ammc::ide::Analysis;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    /// Notifications received while waiting for responses.
    notes: Vec<Value>,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ammc"))
            .arg("lsp")
            .env(
                "XDG_CACHE_HOME",
                std::env::temp_dir().join("ammc-lsp-test-cache"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut c = Client {
            child,
            stdin,
            stdout,
            next_id: 0,
            notes: Vec::new(),
        };
        let init = c.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        let caps = &init["capabilities"];
        for cap in [
            "hoverProvider",
            "inlayHintProvider",
            "definitionProvider",
            "completionProvider",
            "renameProvider",
            "documentFormattingProvider",
            "codeActionProvider",
        ] {
            assert!(!caps[cap].is_null(), "{cap} missing: {caps}");
        }
        c.notify("initialized", json!({}));
        c
    }

    fn write(&mut self, msg: &Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "server closed stdout"
            );
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.write(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.read();
            if msg["id"] == id {
                assert!(msg["error"].is_null(), "{method}: {msg}");
                return msg["result"].clone();
            }
            self.notes.push(msg);
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        if let Some(i) = self
            .notes
            .iter()
            .position(|n| n["method"] == "textDocument/publishDiagnostics")
        {
            let n = self.notes.remove(i);
            assert_eq!(n["params"]["uri"], uri);
            return n["params"]["diagnostics"].as_array().unwrap().clone();
        }
        loop {
            let n = self.read();
            if n["method"] == "textDocument/publishDiagnostics" {
                assert_eq!(n["params"]["uri"], uri);
                return n["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }

    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "amm", "version": 1, "text": text}}),
        );
        self.diagnostics(uri)
    }

    fn change(&mut self, uri: &str, version: i64, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Value {
        let mut params = json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
        if method == "textDocument/references" {
            params["context"] = json!({"includeDeclaration": true});
        }
        self.request(method, params)
    }

    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.is_null());
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

fn example(name: &str) -> (String, String, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (format!("file://{}", path.display()), text, path)
}

/// Line and UTF-16 column of the first occurrence of `needle` (plus `skip` characters).
fn pos(text: &str, needle: &str, skip: usize) -> (u32, u32) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"))
        + skip;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |k| k + 1);
    (line as u32, col as u32)
}

#[test]
fn a_session_on_the_cnn_example() {
    let (uri, text, _) = example("cnn.amm");
    let mut c = Client::start();
    assert_eq!(c.open(&uri, &text), Vec::<Value>::new());

    // Inlay hints: one per line, after its last layer; the model's output after it.
    let hints = c.request(
        "textDocument/inlayHint",
        json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}}}),
    );
    let got: Vec<(u64, String)> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["position"]["line"].as_u64().unwrap(),
                h["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = [
        (9, "[N, 16, 8, 8]"),
        (10, "[N, 16, 4, 4]"),
        (11, "[N, 16, 4, 4]"),
        (12, "[N, 16, 4, 4]"),
        (13, "[N, 32, 4, 4]"),
        (14, "[N, 32, 2, 2]"),
        (15, "[N, 128]"),
        (18, "[N, 10]"),
    ]
    .iter()
    .map(|(l, s)| (*l, s.to_string()))
    .collect();
    assert_eq!(got, want);
    // The hint sits at the end of the line.
    let first = &hints[0]["position"];
    assert_eq!(first["character"], text.lines().nth(9).unwrap().len());

    // Hover on a layer: its shapes, parameters and MACs, then the builtin's docs.
    let (l, ch) = pos(&text, "conv(16", 1);
    let hover = c.at("textDocument/hover", &uri, l, ch);
    let md = hover["contents"]["value"].as_str().unwrap();
    assert!(
        md.contains("`features.conv1` in `[N, 1, 8, 8]` → out `[N, 16, 8, 8]` · 160 params · 9,216 MACs/sample"),
        "{md}"
    );
    assert!(md.contains("conv(channels: int, kernel: int = 3"), "{md}");

    // Hover on a param use: its declaration and value.
    let (l, ch) = pos(&text, "conv(width", 6);
    let md = c.at("textDocument/hover", &uri, l, ch)["contents"]["value"].clone();
    assert_eq!(md, "```amm\nparam width: int = 32\n```\n\nvalue: `32`\n");

    // Hover on a named argument: the schema's doc line.
    let (l, ch) = pos(&text, "weight_decay", 2);
    let md = c.at("textDocument/hover", &uri, l, ch)["contents"]["value"].clone();
    assert_eq!(
        md,
        "```amm\nweight_decay: float = 0.01\n```\ndecoupled weight decay"
    );

    // Definition of an imported head: the stdlib module, written read-only to disk.
    let (l, ch) = pos(&text, "classifier}", 2);
    let def = c.at("textDocument/definition", &uri, l, ch);
    let target = def["uri"].as_str().unwrap();
    assert!(target.ends_with("/heads.amm"), "{def}");
    let path = target.strip_prefix("file://").unwrap();
    let std_text = std::fs::read_to_string(path).unwrap();
    assert!(std::fs::metadata(path).unwrap().permissions().readonly());
    let line = def["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert!(
        std_text
            .lines()
            .nth(line)
            .unwrap()
            .starts_with("head classifier"),
        "{std_text}"
    );

    // Definition of a param from its use.
    let (l, ch) = pos(&text, "lr = lr", 6);
    let def = c.at("textDocument/definition", &uri, l, ch);
    assert_eq!(def["uri"], uri.as_str());
    assert_eq!(def["range"]["start"], json!({"line": 3, "character": 6}));

    // Completion: argument names with defaults inside a call; fields inside train.
    let (l, ch) = pos(&text, "weight_decay", 0);
    let items = c.at("textDocument/completion", &uri, l, ch);
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.starts_with(&["lr", "beta1", "beta2", "eps", "weight_decay"]),
        "{labels:?}"
    );
    let wd = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "weight_decay")
        .unwrap();
    assert_eq!(wd["detail"], "= 0.01");
    assert_eq!(wd["insertText"], "weight_decay = ");
    let (l, _) = pos(&text, "    epochs = 30", 0);
    let items = c.at("textDocument/completion", &uri, l, 4);
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for f in [
        "model",
        "data",
        "loss",
        "optimizer",
        "epochs",
        "batch",
        "early_stop",
    ] {
        assert!(labels.contains(&f), "{f} not in {labels:?}");
    }
    // …and the builtins a field takes after `=`.
    let (l, ch) = pos(&text, "optimizer = adamw", 12);
    let items = c.at("textDocument/completion", &uri, l, ch);
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"adam") && labels.contains(&"sgd") && !labels.contains(&"relu"),
        "{labels:?}"
    );

    // References and rename of a param: the declaration and its use, not `lr =` keys.
    let (l, ch) = pos(&text, "param lr", 6);
    let refs = c.at("textDocument/references", &uri, l, ch);
    let lines: Vec<(u64, u64)> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["range"]["start"]["line"].as_u64().unwrap(),
                r["range"]["start"]["character"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, vec![(3, 6), (24, 27)]);
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri}, "position": {"line": 3, "character": 6}, "newName": "rate"}),
    );
    assert_eq!(edit["changes"][uri.as_str()].as_array().unwrap().len(), 2);

    // Symbols: the outline.
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lr", "width", "digits", "features", "net", "fit"]);

    // A typo: the diagnostic with its code, span and help; a quick fix; then fixed.
    let broken = text.replace("maxpool(2)\n    residual", "maxpol(2)\n    residual");
    let diags = c.change(&uri, 2, &broken);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "amm::name::unknown_layer");
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 10, "character": 4})
    );
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("help: did you mean `maxpool`?"),
        "{diags:?}"
    );
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": diags[0]["range"], "context": {"diagnostics": diags}}),
    );
    let action = &actions[0];
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(
        action["edit"]["changes"][uri.as_str()][0]["newText"],
        "maxpool"
    );
    assert_eq!(c.change(&uri, 3, &text), Vec::<Value>::new());

    // Formatting: one edit giving the canonical text.
    let messy = text.replace("param width: int = 32", "param   width :int=32");
    c.change(&uri, 4, &messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(edits.as_array().unwrap().len(), 1);
    assert_eq!(edits[0]["newText"], text.as_str());
    c.shutdown();
}

/// Offsets to ask about in a text: a spread including the ends and every 7th byte.
fn probes(text: &str) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=text.len()).step_by(7).collect();
    v.push(text.len());
    v
}

#[test]
fn every_question_on_every_mutant_is_answered() {
    let corpus = super::robustness::examples();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..600 {
        let (name, text) = &corpus[i % corpus.len()];
        let bytes = super::robustness::mutate_tokens(&mut rng, text);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let a = Analysis::new(name, &text, None);
        let _ = a.inlay_hints();
        let _ = a.symbols();
        let _ = a.format();
        let _ = a.fixes(0, text.len());
        for o in probes(&text) {
            let start = Instant::now();
            let _ = a.hover(o);
            let _ = a.completions(o);
            slowest = slowest.max(start.elapsed());
            let _ = a.definition(o);
            let _ = a.references(o);
            let _ = a.rename(o, "renamed");
        }
        let _ = rng.random::<u8>();
    }
    assert!(
        slowest.as_millis() < 200,
        "slowest hover+completion {slowest:?}"
    );
}

#[test]
fn the_server_survives_the_mutation_corpus() {
    let corpus = super::robustness::examples();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut c = Client::start();
    let uri = "file:///nonexistent/mutant.amm";
    c.open(uri, "param a = 1\n");
    for i in 0..150 {
        let (_, text) = &corpus[i % corpus.len()];
        let bytes = super::robustness::mutate_tokens(&mut rng, text);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        c.change(uri, i as i64 + 2, &text);
        let line = rng.random_range(0..text.lines().count().max(1)) as u32;
        for method in [
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/definition",
        ] {
            let _ = c.at(method, uri, line, rng.random_range(0..40));
        }
        let _ = c.request(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 999, "character": 0}}}),
        );
    }
    c.shutdown();
}
