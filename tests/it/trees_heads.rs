//! Tree heads: the boosting loop gives the same trees on any number of threads, a run's
//! `trees.json` and test metrics are reproduced by `ammc eval` and `ammc predict`, early
//! stopping keeps the best round, and `ammc check` rejects what a tree head cannot take.

use std::path::{Path, PathBuf};

use crate::support::ammc;
use ammc::check::spec::{TreeHead, TreeKind};
use ammc::trees::Task;
use ammc::trees::boost::{Samples, fit};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-trees-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn digits() -> ammc::data::Splits {
    let program = "data d = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0)\n";
    let fe = ammc::front::front_end("t.amm", program.as_bytes(), None, &[]);
    let p = fe.program.unwrap_or_else(|_| panic!("resolves"));
    let spec = ammc::check::data_spec(&p, &fe.sources, "d").unwrap();
    ammc::data::load(&spec, Path::new(".")).unwrap()
}

fn head(kind: TreeKind, trees: usize, early: Option<usize>) -> TreeHead {
    TreeHead {
        kind,
        trees,
        depth: 3,
        lr: 0.2,
        min_leaf: 5,
        l2: 1.0,
        bins: 32,
        early_stopping: early,
        outputs: 10,
    }
}

fn samples(d: &ammc::data::Dataset) -> Samples<'_> {
    Samples {
        x: &d.features,
        features: 64,
        labels: &d.labels,
    }
}

#[test]
fn boosting_gives_the_same_trees_on_one_and_two_threads() {
    let s = digits();
    let h = head(TreeKind::BoostedTrees, 6, None);
    let run = |threads: Option<usize>| {
        let pool = threads.map(|t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        });
        fit(
            &h,
            Task::Classes(10),
            samples(&s.train),
            s.val.as_ref().map(samples),
            pool.as_ref(),
            &mut |_| {},
            &|| false,
        )
        .unwrap_or_else(|_| panic!("fits"))
    };
    let one = run(Some(1));
    let two = run(Some(2));
    let none = run(None);
    assert_eq!(one.ensemble.trees.len(), 60);
    assert_eq!(one.ensemble, two.ensemble);
    assert_eq!(one.ensemble, none.ensemble);
    assert_eq!(one.records, two.records);
    // It learns: the training loss falls every round and validation accuracy is high.
    let losses: Vec<f64> = one.records.iter().map(|r| r.train.loss).collect();
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    let acc = one
        .records
        .last()
        .unwrap()
        .val
        .as_ref()
        .unwrap()
        .accuracy
        .unwrap();
    assert!(acc > 0.85, "validation accuracy {acc}");
}

#[test]
fn early_stopping_keeps_the_best_round_and_the_saved_form_reads_back() {
    let s = digits();
    // Depth 3 and a large rate overfit quickly: the validation loss stops improving.
    let mut h = head(TreeKind::BoostedTrees, 200, Some(3));
    h.lr = 0.8;
    let f = fit(
        &h,
        Task::Classes(10),
        samples(&s.train),
        s.val.as_ref().map(samples),
        None,
        &mut |_| {},
        &|| false,
    )
    .unwrap_or_else(|_| panic!("fits"));
    assert!(f.stopped_early, "{} rounds", f.records.len());
    assert_eq!(f.records.len(), f.best_round + 3);
    let best = f.records[f.best_round - 1].val.as_ref().unwrap().loss;
    assert!(
        f.records
            .iter()
            .all(|r| r.val.as_ref().unwrap().loss >= best)
    );
    assert_eq!(f.ensemble.trees.len(), f.best_round * 10);
    // The kept ensemble scores the validation split as the best round's record says.
    let val = s.val.as_ref().unwrap();
    let scores = f.ensemble.scores(&val.features);
    let m = ammc::trees::boost::metrics(f.ensemble.task, f.ensemble.link, &scores, &val.labels);
    assert!((m.loss - best).abs() < 1e-9, "{} vs {best}", m.loss);
    let back = ammc::trees::ensemble::Ensemble::from_json(&f.ensemble.to_json()).unwrap();
    assert_eq!(back, f.ensemble);
}

#[test]
fn a_decision_tree_holds_class_frequencies_and_separates_the_training_set() {
    let s = digits();
    let mut h = head(TreeKind::DecisionTree, 1, None);
    h.depth = 20;
    h.min_leaf = 1;
    h.bins = 255;
    let f = fit(
        &h,
        Task::Classes(10),
        samples(&s.train),
        None,
        None,
        &mut |_| {},
        &|| false,
    )
    .unwrap_or_else(|_| panic!("fits"));
    assert_eq!(f.ensemble.trees.len(), 1);
    let t = &f.ensemble.trees[0];
    for node in 0..t.nodes() {
        let v = t.values(node);
        let sum: f64 = v.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-9 && v.iter().all(|p| *p >= 0.0),
            "{v:?}"
        );
    }
    // Digits have no two identical training images with different labels here.
    assert!(f.records[0].train.accuracy.unwrap() > 0.99);
}

#[test]
fn a_run_is_reproduced_by_eval_and_predict_on_any_thread_count() {
    let dir = scratch("run");
    let file = dir.join("t.amm");
    std::fs::write(
        &file,
        "data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0)\n\
         backbone flat { flatten }\n\
         model m = flat -> boosted_trees(trees = 8, depth = 3, lr = 0.3, min_leaf = 5, bins = 64, early_stopping = 3)\n\
         train fit { model = m data = digits }\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let mut trees = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("out{threads}"));
        let (code, _, err) = ammc(&[
            "run",
            f,
            "--quiet",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        for name in [
            "metrics.jsonl",
            "curves.svg",
            "summary.json",
            "model.safetensors",
        ] {
            assert!(out.join("fit").join(name).is_file(), "{name}");
        }
        trees.push(std::fs::read(out.join("fit/trees.json")).unwrap());
    }
    assert_eq!(
        trees[0], trees[1],
        "trees.json differs between 1 and 2 threads"
    );
    let out = dir.join("out1");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("fit/summary.json")).unwrap()).unwrap();
    let test = &summary["metrics"]["test"];
    let (code, json, err) = ammc(&["eval", f, "fit", "--json", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["report"]["loss"], test["loss"]);
    assert_eq!(
        report["report"]["classification"]["accuracy"],
        test["accuracy"]
    );

    // predict on the exported (raw = normalised here) test split gives the same accuracy.
    let exported = dir.join("export");
    let (code, _, err) = ammc(&[
        "export",
        "data",
        f,
        "fit",
        "-o",
        exported.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, csv, err) = ammc(&[
        "predict",
        f,
        "fit",
        "--input",
        exported.join("test_x.npy").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let s = digits();
    let ammc::data::Labels::Classes { ids, .. } = &s.test.as_ref().unwrap().labels else {
        panic!("classes")
    };
    let predicted: Vec<u32> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(predicted.len(), ids.len());
    let right = predicted.iter().zip(ids).filter(|(p, y)| p == y).count();
    assert_eq!(
        right as f64 / ids.len() as f64,
        test["accuracy"].as_f64().unwrap()
    );

    // A damaged trees.json is a diagnostic, not a panic.
    std::fs::write(out.join("fit/trees.json"), b"{\"format\": \"ammc-trees\"").unwrap();
    let (code, _, err) = ammc(&["eval", f, "fit", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::weights::load"), "{err}");
}

fn codes(src: &str) -> Vec<String> {
    let fe = ammc::front::front_end("t.amm", src.as_bytes(), None, &[]);
    let p = match fe.program {
        Ok(p) => p,
        Err(d) => return d.iter().map(|d| d.code.to_string()).collect(),
    };
    match ammc::check::check(&p, &fe.sources) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.code.to_string()).collect(),
    }
}

#[test]
fn check_knows_what_a_tree_head_accepts() {
    let base = "use std.heads.{classifier}\n\
        data d = builtin.digits(split = [0.7, 0.15, 0.15])\n\
        data two = builtin.digits(split = [0.8, 0.2])\n\
        backbone f { flatten dense(16) relu }\n\
        backbone flat { flatten }\n\
        model pre = f -> classifier(classes = 10)\n\
        train pretrain { model = pre data = d loss = cross_entropy optimizer = adam }\n";
    let with =
        |model: &str, train: &str| format!("{base}model m = {model}\ntrain t {{ {train} }}\n");
    let ok = with(
        "f(weights = pretrain, frozen = true) -> boosted_trees(trees = 5)",
        "model = m data = d seed = 3",
    );
    assert_eq!(codes(&ok), Vec::<String>::new());
    assert_eq!(
        codes(&with(
            "flat -> decision_tree(depth = 3)",
            "model = m data = d"
        )),
        Vec::<String>::new()
    );
    for (model, train, code) in [
        (
            "f -> boosted_trees()",
            "model = m data = d",
            "amm::trees::trainable_backbone",
        ),
        (
            "f(frozen = true) -> boosted_trees()",
            "model = m data = d",
            "amm::trees::trainable_backbone",
        ),
        (
            "f(weights = pretrain) -> boosted_trees()",
            "model = m data = d",
            "amm::trees::trainable_backbone",
        ),
        ("boosted_trees()", "model = m data = d", "amm::trees::flat"),
        (
            "flat -> boosted_trees() -> flat",
            "model = m data = d",
            "amm::trees::not_last",
        ),
        (
            "flat -> boosted_trees()",
            "model = m data = d loss = cross_entropy",
            "amm::trees::field",
        ),
        (
            "flat -> boosted_trees(early_stopping = 5)",
            "model = m data = two",
            "amm::train::no_val",
        ),
        (
            "flat -> boosted_trees(lr = 0)",
            "model = m data = d",
            "amm::value::range",
        ),
        (
            "flat -> decision_tree(min_leaf = 0)",
            "model = m data = d",
            "amm::value::range",
        ),
        (
            "flat -> boosted_trees(tres = 5)",
            "model = m data = d",
            "amm::arg::unknown",
        ),
    ] {
        let got = codes(&with(model, train));
        assert!(got.iter().any(|c| c == code), "{model} / {train}: {got:?}");
    }
}

#[test]
fn a_frozen_cnn_backbone_feeds_the_trees_and_eval_reproduces_the_run() {
    let dir = scratch("cnn");
    let file = dir.join("t.amm");
    std::fs::write(
        &file,
        "use std.heads.{classifier}\n\
         data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = \"scale\")\n\
         backbone features { conv(4, kernel = 3, pad = 1) relu maxpool(2) flatten dense(16) relu }\n\
         model pre = features -> classifier(classes = 10)\n\
         model boosted = features(weights = pretrain, frozen = true) -> boosted_trees(trees = 4, depth = 3, min_leaf = 5)\n\
         train pretrain { model = pre data = digits loss = cross_entropy optimizer = adam(lr = 3e-3) epochs = 2 }\n\
         train boost { model = boosted data = digits }\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = dir.join("runs");
    let o = out.to_str().unwrap();
    let (code, stdout, err) = ammc(&["run", f, "boost", "--out", o]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.join("pretrain/model.safetensors").is_file(),
        "the dependency ran first"
    );
    assert!(stdout.contains("round   4/4"), "{stdout}");
    // The saved backbone is the pretrained one, tensor for tensor.
    let pre =
        ammc::runtime::infer::read_model_file(&out.join("pretrain/model.safetensors")).unwrap();
    let saved =
        ammc::runtime::infer::read_model_file(&out.join("boost/model.safetensors")).unwrap();
    for t in &saved.tensors {
        let p = pre
            .tensors
            .iter()
            .find(|p| p.name == t.name)
            .expect("a backbone tensor");
        assert_eq!(p.data, t.data, "{}", t.name);
    }
    assert_eq!(
        saved.tensors.len(),
        4,
        "conv and dense weights and biases only"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("boost/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["features"], 16);
    let (code, json, err) = ammc(&["eval", f, "boost", "--json", "--out", o]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["report"]["loss"], summary["metrics"]["test"]["loss"]);
    assert_eq!(
        report["report"]["classification"]["accuracy"],
        summary["metrics"]["test"]["accuracy"]
    );
}

#[test]
fn an_editor_offers_tree_heads_as_model_stages_and_not_in_networks() {
    let text = "backbone flat { flatten }\nmodel m = flat -> decision_tree()\nbackbone g { }\n";
    let a = ammc::ide::Analysis::new("t.amm", text, None);
    let stage = text.find("-> ").unwrap() + 3;
    let labels: Vec<String> = a.completions(stage).into_iter().map(|c| c.label).collect();
    assert!(labels.iter().any(|l| l == "boosted_trees"), "{labels:?}");
    assert!(labels.iter().any(|l| l == "decision_tree"), "{labels:?}");
    assert!(labels.iter().any(|l| l == "flat"), "{labels:?}");
    let body = text.find("g { ").unwrap() + 4;
    let labels: Vec<String> = a.completions(body).into_iter().map(|c| c.label).collect();
    assert!(labels.iter().any(|l| l == "conv"), "{labels:?}");
    assert!(!labels.iter().any(|l| l == "boosted_trees"), "{labels:?}");
}
