//! `ammc eval` and `ammc predict`: parse, call [`crate::runtime::infer`], render.

use std::path::{Path, PathBuf};

use crate::check::ModelSummary;
use crate::diag::Diag;
use crate::runtime::backend::BackendKind;
use crate::runtime::infer::{
    EvalReport, FeatureTap, InferError, Predictions, Predictor, feature_tap, feature_taps,
    read_model_file,
};
use crate::source::{SourceMap, Span};

use super::{EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Output};

/// What every command on a trained block needs.
pub struct BlockArgs<'a> {
    /// The .amm file.
    pub file: &'a Path,
    /// The train block.
    pub block: &'a str,
    /// `--set` values.
    pub set: &'a [String],
    /// `--weights` (default `<out>/<block>/model.safetensors`).
    pub weights: Option<&'a Path>,
    /// `--out`.
    pub out_dir: &'a Path,
}

/// A checked train block with its weights file located.
struct Block {
    sources: SourceMap,
    program: crate::resolve::Program,
    model: ModelSummary,
    span: Span,
    weights: PathBuf,
}

fn block(out: &Output, args: &BlockArgs) -> Result<Block, u8> {
    let mut sources = SourceMap::new();
    let program = super::load(out, args.file, args.set, &mut sources)?;
    let summaries = crate::check::check(&program, &sources).map_err(|diags| {
        out.diags(&diags, &sources);
        EXIT_DIAGNOSTICS
    })?;
    let Some(model) = summaries.iter().find(|s| s.train == args.block).cloned() else {
        let names: Vec<&str> = summaries.iter().map(|s| s.train.as_str()).collect();
        let hint = crate::diag::suggest(args.block, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        out.usage_error(&format!(
            "no train block `{}` in {}{hint}; train blocks: {}",
            args.block,
            args.file.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
        return Err(EXIT_USAGE);
    };
    let span = program
        .lookup(crate::resolve::ModuleId(0), args.block)
        .map(|id| program.def(id))
        .map_or(Span::new(crate::source::FileId(0), 0, 0), |d| {
            d.item.name().map_or(d.item.span, |n| n.span)
        });
    let weights = args.weights.map_or_else(
        || {
            args.out_dir
                .join(args.block)
                .join(crate::runtime::program::files::MODEL)
        },
        Path::to_path_buf,
    );
    Ok(Block {
        sources,
        program,
        model,
        span,
        weights,
    })
}

fn fail(out: &Output, b: &Block, e: &InferError) -> u8 {
    out.diags(&[e.diag(&b.model.train, b.span)], &b.sources);
    EXIT_DIAGNOSTICS
}

/// `ammc eval`.
pub fn eval(out: &Output, args: &BlockArgs, data: Option<&str>, top_k: usize, json: bool) -> u8 {
    let b = match block(out, args) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let base_dir = args.file.parent().unwrap_or(Path::new("."));
    let plan =
        (!b.model.layers.is_empty()).then(|| crate::lower::lower(&b.model, b.model.spec.batch));
    let mut predictor = match Evaluator::load(&b, plan.as_ref()) {
        Ok(p) => p,
        Err(e) => return fail(out, &b, &e),
    };
    let (what, report) = match data {
        None => {
            let spec = &b.model.spec.data;
            let splits = match crate::data::load(spec, base_dir) {
                Ok(s) => s,
                Err(e) => return fail(out, &b, &InferError::Data(e)),
            };
            let Some(test) = splits.test else {
                out.usage_error(&format!("`{}` has no test split", spec.name));
                return EXIT_USAGE;
            };
            (
                format!("the test split of `{}`", spec.name),
                predictor.evaluate(&test, top_k),
            )
        }
        Some(name) => {
            let Some(spec) = crate::check::data_spec(&b.program, &b.sources, name) else {
                out.diags(
                    &[Diag::new(
                        "amm::eval::data",
                        format!("no `data` declaration `{name}` in {}", args.file.display()),
                    )
                    .primary(b.span, "evaluating this train block")
                    .help("name a `data` declaration of the file with `--data`")],
                    &b.sources,
                );
                return EXIT_DIAGNOSTICS;
            };
            let whole = match crate::data::load_whole(&spec, base_dir) {
                Ok(d) => d,
                Err(e) => return fail(out, &b, &InferError::Data(e)),
            };
            if let Err(e) = fits(&b.model, &whole, name) {
                return fail(out, &b, &e);
            }
            (
                format!("all of `{name}` (normalised as in training)"),
                predictor.evaluate_raw(whole, top_k),
            )
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(out, &b, &e),
    };
    if json {
        let value = serde_json::json!({
            "block": b.model.train,
            "weights": b.weights.display().to_string(),
            "data": what,
            "report": report,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        say!(
            "{}",
            render_report(&b.model.train, &what, &b.weights, &report)
        );
    }
    EXIT_OK
}

/// A trained block's model, neural or ending in a tree head (`trees.json` beside the
/// weights), evaluated the same way.
enum Evaluator<'p> {
    Net(Predictor<'p>),
    Trees(Box<crate::trees::features::TreeModel<'p>>),
}

impl<'p> Evaluator<'p> {
    fn load(
        b: &'p Block,
        plan: Option<&'p crate::lower::Plan>,
    ) -> Result<Evaluator<'p>, InferError> {
        if b.model.spec.tree.is_some() {
            return crate::trees::features::TreeModel::load(
                BackendKind::default(),
                &b.model,
                plan,
                &b.weights,
            )
            .map(|t| Evaluator::Trees(Box::new(t)));
        }
        let file = read_model_file(&b.weights)?;
        let plan = plan.ok_or_else(|| InferError::Op("a model without layers".into()))?;
        Predictor::new(BackendKind::default(), &b.model, plan, &file).map(Evaluator::Net)
    }

    fn evaluate(
        &mut self,
        d: &crate::data::Dataset,
        top_k: usize,
    ) -> Result<EvalReport, InferError> {
        match self {
            Evaluator::Net(p) => p.evaluate(d, top_k),
            Evaluator::Trees(t) => t.evaluate(d, top_k),
        }
    }

    fn evaluate_raw(
        &mut self,
        d: crate::data::Dataset,
        top_k: usize,
    ) -> Result<EvalReport, InferError> {
        match self {
            Evaluator::Net(p) => p.evaluate_raw(d, top_k),
            Evaluator::Trees(t) => t.evaluate_raw(d, top_k),
        }
    }

    fn predict(&mut self, x: Vec<f32>) -> Result<Predictions, InferError> {
        match self {
            Evaluator::Net(p) => p.predict(x),
            Evaluator::Trees(t) => t.predict(x),
        }
    }
}

/// Another dataset must have the model's sample shape and label kind.
fn fits(model: &ModelSummary, d: &crate::data::Dataset, name: &str) -> Result<(), InferError> {
    if d.sample_shape != model.input.0 {
        return Err(InferError::Shape {
            input: PathBuf::from(format!("`{name}`")),
            found: d.sample_shape.clone(),
            expected: model.input.0.clone(),
        });
    }
    let width = model
        .spec
        .tree
        .as_ref()
        .map_or_else(|| model.output().0.iter().product::<usize>(), |t| t.outputs);
    let ok = match (&d.labels, &model.spec.loss) {
        (
            crate::data::Labels::Classes { classes, .. },
            crate::check::spec::Loss::CrossEntropy { .. },
        ) => *classes <= width,
        (crate::data::Labels::Values { width: w, .. }, l) => {
            !matches!(l, crate::check::spec::Loss::CrossEntropy { .. }) && *w == width
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(InferError::Data(crate::data::DataError::LabelKind(
            format!(
                "the labels of `{name}` do not match what the model of `{}` predicts ({} outputs)",
                model.train, width
            ),
        )))
    }
}

fn render_report(block: &str, what: &str, weights: &Path, r: &EvalReport) -> String {
    let mut s = format!(
        "eval {block} on {what}: {} samples, weights {}\n",
        r.samples,
        weights.display()
    );
    s += &format!("loss {:.6}\n", r.loss);
    if let Some(c) = &r.classification {
        s += &format!("accuracy {:.4}  macro F1 {:.4}", c.accuracy, c.macro_f1);
        for t in c.top_k.iter().filter(|t| t.k > 1) {
            s += &format!("  top-{} {:.4}", t.k, t.accuracy);
        }
        s += "\n\nclass  precision  recall      f1  support\n";
        for p in &c.per_class {
            s += &format!(
                "{:>5}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}\n",
                p.class, p.precision, p.recall, p.f1, p.support
            );
        }
        s += "\nconfusion matrix (rows: true class, columns: predicted)\n";
        let w = c
            .confusion
            .iter()
            .flatten()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(1)
            .max(c.confusion.len().to_string().len());
        s += &format!("{:>5} ", "");
        for j in 0..c.confusion.len() {
            s += &format!(" {j:>w$}");
        }
        s += "\n";
        for (i, row) in c.confusion.iter().enumerate() {
            s += &format!("{i:>5} ");
            for v in row {
                s += &format!(" {v:>w$}");
            }
            s += "\n";
        }
    }
    if let Some(m) = &r.regression {
        s += &format!(
            "mse {:.6}  mae {:.6}  r2 {}\n",
            m.mse,
            m.mae,
            m.r2.map_or("undefined (constant targets)".to_string(), |v| format!(
                "{v:.6}"
            ))
        );
    }
    s.trim_end().to_string()
}

/// What `ammc predict` writes besides reading `--input`.
pub struct PredictOptions<'a> {
    /// `--output` (default: CSV predictions on stdout).
    pub output: Option<&'a Path>,
    /// `--features`: a stage or layer whose activations are written instead of predictions.
    pub features: Option<&'a str>,
    /// `--feature-maps`: a directory for the conv feature maps of the first input.
    pub feature_maps: Option<&'a Path>,
}

/// `ammc predict`.
pub fn predict(out: &Output, args: &BlockArgs, input: &Path, opts: &PredictOptions) -> u8 {
    let output = opts.output;
    let npy_output = output.is_some_and(|p| p.extension().is_some_and(|e| e == "npy"));
    if opts.features.is_some() && !npy_output {
        out.usage_error("`--features` writes NPY: give `--output FILE.npy`");
        return EXIT_USAGE;
    }
    let b = match block(out, args) {
        Ok(b) => b,
        Err(code) => return code,
    };
    if b.model.spec.tree.is_some() {
        if opts.features.is_some() || opts.feature_maps.is_some() {
            out.usage_error("`--features` and `--feature-maps` read a neural model's activations; a tree head has none (predict with its backbone's train block instead)");
            return EXIT_USAGE;
        }
        return predict_trees(out, &b, input, output, npy_output);
    }
    let plan = crate::lower::lower(&b.model, b.model.spec.batch);
    // Names are checked before any file is read, so a typo costs nothing.
    let tap = match opts
        .features
        .map(|name| feature_tap(&b.model, &plan, name))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => return fail(out, &b, &e),
    };
    let samples = match crate::data::files::samples(input) {
        Ok(s) => s,
        Err(e) => return fail(out, &b, &InferError::Data(e)),
    };
    let expected = &b.model.input.0;
    // A CSV row is flat: it fits when it holds as many values as a sample.
    let flat_ok = samples.sample_shape.len() == 1
        && samples.sample_shape[0] == expected.iter().product::<usize>();
    // A 3-D NPY array reads as images [1, h, w]; a sequence model takes it as [T, F].
    let sequence_ok = samples.sample_shape.len() == 3
        && samples.sample_shape[0] == 1
        && samples.sample_shape[1..] == expected[..];
    if samples.sample_shape != *expected && !flat_ok && !sequence_ok {
        let e = InferError::Shape {
            input: input.to_path_buf(),
            found: samples.sample_shape.clone(),
            expected: expected.clone(),
        };
        return fail(out, &b, &e);
    }
    let file = match read_model_file(&b.weights) {
        Ok(f) => f,
        Err(e) => return fail(out, &b, &e),
    };
    let mut predictor = match Predictor::new(BackendKind::default(), &b.model, &plan, &file) {
        Ok(p) => p,
        Err(e) => return fail(out, &b, &e),
    };
    let n = samples.len();
    if let Some(dir) = opts.feature_maps {
        let per = expected.iter().product::<usize>();
        let first = samples.features[..per.min(samples.features.len())].to_vec();
        if let Err(code) = write_feature_maps(out, &b, &plan, &mut predictor, first, dir) {
            return code;
        }
    }
    let (bytes, what) = if let Some(tap) = &tap {
        let values = match predictor.activations(samples.features, tap) {
            Ok(v) => v,
            Err(e) => return fail(out, &b, &e),
        };
        let mut shape = vec![n];
        shape.extend(&tap.shape);
        (
            crate::rl::npy::f32_nd(&values, &shape),
            format!("the activations of `{}` {}", tap.name, shape_text(&shape)),
        )
    } else {
        let predictions = match predictor.predict(samples.features) {
            Ok(p) => p,
            Err(e) => return fail(out, &b, &e),
        };
        let bytes = if npy_output {
            match &predictions {
                Predictions::Classes {
                    probabilities,
                    width,
                    ..
                } => crate::rl::npy::f32_2d(probabilities, n, *width),
                Predictions::Values { values, width } => crate::rl::npy::f32_2d(values, n, *width),
            }
        } else {
            csv(&predictions).into_bytes()
        };
        (bytes, "predictions".to_string())
    };
    match output {
        Some(path) => {
            if let Err(e) = crate::data::atomic::write_atomic(path, &bytes) {
                out.usage_error(&format!("cannot write {}: {e}", path.display()));
                return EXIT_USAGE;
            }
            eprintln!(
                "{what} of {n} sample{} with `{}`; wrote {}",
                if n == 1 { "" } else { "s" },
                b.model.train,
                path.display()
            );
        }
        None => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(&bytes);
        }
    }
    EXIT_OK
}

/// `ammc predict` for a model ending in a tree head.
fn predict_trees(
    out: &Output,
    b: &Block,
    input: &Path,
    output: Option<&Path>,
    npy_output: bool,
) -> u8 {
    let samples = match crate::data::files::samples(input) {
        Ok(s) => s,
        Err(e) => return fail(out, b, &InferError::Data(e)),
    };
    let expected = &b.model.input.0;
    let flat_ok = samples.sample_shape.len() == 1
        && samples.sample_shape[0] == expected.iter().product::<usize>();
    if samples.sample_shape != *expected && !flat_ok {
        let e = InferError::Shape {
            input: input.to_path_buf(),
            found: samples.sample_shape.clone(),
            expected: expected.clone(),
        };
        return fail(out, b, &e);
    }
    let plan =
        (!b.model.layers.is_empty()).then(|| crate::lower::lower(&b.model, b.model.spec.batch));
    let mut model = match Evaluator::load(b, plan.as_ref()) {
        Ok(m) => m,
        Err(e) => return fail(out, b, &e),
    };
    let n = samples.len();
    let predictions = match model.predict(samples.features) {
        Ok(p) => p,
        Err(e) => return fail(out, b, &e),
    };
    let bytes = if npy_output {
        match &predictions {
            Predictions::Classes {
                probabilities,
                width,
                ..
            } => crate::rl::npy::f32_2d(probabilities, n, *width),
            Predictions::Values { values, width } => crate::rl::npy::f32_2d(values, n, *width),
        }
    } else {
        csv(&predictions).into_bytes()
    };
    match output {
        Some(path) => {
            if let Err(e) = crate::data::atomic::write_atomic(path, &bytes) {
                out.usage_error(&format!("cannot write {}: {e}", path.display()));
                return EXIT_USAGE;
            }
            eprintln!(
                "predictions of {n} sample{} with `{}`; wrote {}",
                if n == 1 { "" } else { "s" },
                b.model.train,
                path.display()
            );
        }
        None => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(&bytes);
        }
    }
    EXIT_OK
}

fn shape_text(dims: &[usize]) -> String {
    format!(
        "[{}]",
        dims.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Renders the maps of every conv layer (its stored output: the activation fused into it,
/// if any) for one sample as `<dir>/<layer>.png`.
fn write_feature_maps(
    out: &Output,
    b: &Block,
    plan: &crate::lower::Plan,
    predictor: &mut Predictor,
    sample: Vec<f32>,
    dir: &Path,
) -> Result<(), u8> {
    let taps: Vec<FeatureTap> = feature_taps(&b.model, plan)
        .into_iter()
        .filter(|t| t.conv && t.shape.len() == 3 && t.name.contains('.'))
        .collect();
    if taps.is_empty() {
        out.usage_error(&format!(
            "the model of `{}` has no conv layer, so it has no feature maps to draw",
            b.model.train
        ));
        return Err(EXIT_USAGE);
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        out.usage_error(&format!("cannot create {}: {e}", dir.display()));
        return Err(EXIT_USAGE);
    }
    let mut written = Vec::new();
    for tap in &taps {
        let maps = predictor
            .activations(sample.clone(), tap)
            .map_err(|e| fail(out, b, &e))?;
        let (c, h, w) = (tap.shape[0], tap.shape[1], tap.shape[2]);
        let png = crate::export::feature_maps::grid_png(&maps, c, h, w)
            .map_err(|m| fail(out, b, &InferError::Op(m)))?;
        let path = dir.join(format!("{}.png", tap.name));
        if let Err(e) = crate::data::atomic::write_atomic(&path, &png) {
            out.usage_error(&format!("cannot write {}: {e}", path.display()));
            return Err(EXIT_USAGE);
        }
        written.push(format!("{}.png", tap.name));
    }
    eprintln!(
        "feature maps of the first input: {} in {}",
        written.join(", "),
        dir.display()
    );
    Ok(())
}

/// Predictions as CSV: `class,p0,…` for a classifier, `y0,…` for regression. Values are
/// printed in Rust's shortest round-trip form, so reading them back gives the same f32.
fn csv(p: &Predictions) -> String {
    let mut s = String::new();
    match p {
        Predictions::Classes {
            classes,
            probabilities,
            width,
        } => {
            s += "class";
            for j in 0..*width {
                s += &format!(",p{j}");
            }
            s += "\n";
            for (c, row) in classes.iter().zip(probabilities.chunks(*width)) {
                s += &c.to_string();
                for v in row {
                    s += &format!(",{v}");
                }
                s += "\n";
            }
        }
        Predictions::Values { values, width } => {
            s += &(0..*width)
                .map(|j| format!("y{j}"))
                .collect::<Vec<_>>()
                .join(",");
            s += "\n";
            for row in values.chunks(*width) {
                s += &row
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                s += "\n";
            }
        }
    }
    s
}

/// `ammc export onnx`.
pub fn export_onnx(out: &Output, args: &BlockArgs, output: &Path) -> u8 {
    let b = match block(out, args) {
        Ok(b) => b,
        Err(code) => return code,
    };
    if b.model.spec.tree.is_some() {
        out.usage_error("ONNX export covers neural models; a tree head is saved as `trees.json` (see docs/language.md, \"Tree heads\")");
        return EXIT_USAGE;
    }
    let file = match read_model_file(&b.weights) {
        Ok(f) => f,
        Err(e) => return fail(out, &b, &e),
    };
    let plan = crate::lower::lower(&b.model, b.model.spec.batch);
    // Loading checks that the weights fit the model before anything is written.
    if let Err(e) = Predictor::new(BackendKind::Reference, &b.model, &plan, &file) {
        return fail(out, &b, &e);
    }
    if let Some(l) = b.model.layers.iter().find(|l| {
        use crate::check::LayerOp as L;
        matches!(
            l.op,
            L::Embedding { .. }
                | L::Conv1d { .. }
                | L::MaxPool1d { .. }
                | L::AvgPool1d { .. }
                | L::Rnn { .. }
                | L::Last
                | L::TimeMean
        )
    }) {
        let m = format!("`{}` (`{}`) has no ONNX form yet", l.name, l.text);
        return fail(out, &b, &InferError::Unsupported(m));
    }
    let bytes = match crate::export::onnx::export(&b.model, &plan, &file) {
        Ok(bytes) => bytes,
        Err(m) => return fail(out, &b, &InferError::Op(m)),
    };
    if let Err(e) = crate::data::atomic::write_atomic(output, &bytes) {
        out.usage_error(&format!("cannot write {}: {e}", output.display()));
        return EXIT_USAGE;
    }
    eprintln!(
        "exported `{}` to {} (ONNX opset {})",
        b.model.train,
        output.display(),
        crate::export::onnx::OPSET
    );
    EXIT_OK
}

/// `ammc export data`: the train block's splits, normalised as training sees them, as NPY
/// (`<split>_x.npy` float32 `[n, …sample shape]`, `<split>_y.npy` int64 classes or float32
/// `[n, width]` targets).
pub fn export_data(out: &Output, args: &BlockArgs, dir: &Path) -> u8 {
    let b = match block(out, args) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let base_dir = args.file.parent().unwrap_or(Path::new("."));
    let splits = match crate::data::load(&b.model.spec.data, base_dir) {
        Ok(s) => s,
        Err(e) => return fail(out, &b, &InferError::Data(e)),
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        out.usage_error(&format!("cannot create {}: {e}", dir.display()));
        return EXIT_USAGE;
    }
    let named = [
        ("train", Some(&splits.train)),
        ("val", splits.val.as_ref()),
        ("test", splits.test.as_ref()),
    ];
    let mut written = Vec::new();
    for (name, d) in named {
        let Some(d) = d else { continue };
        let n = d.len();
        let mut shape = vec![n];
        shape.extend(&d.sample_shape);
        let x = crate::rl::npy::f32_nd(&d.features, &shape);
        let y = match &d.labels {
            crate::data::Labels::Classes { ids, .. } => {
                let ids: Vec<i64> = ids.iter().map(|&c| i64::from(c)).collect();
                crate::rl::npy::i64_1d(&ids)
            }
            crate::data::Labels::Values { values, width } => {
                crate::rl::npy::f32_nd(values, &[n, *width])
            }
        };
        for (suffix, bytes) in [("x", x), ("y", y)] {
            let path = dir.join(format!("{name}_{suffix}.npy"));
            if let Err(e) = crate::data::atomic::write_atomic(&path, &bytes) {
                out.usage_error(&format!("cannot write {}: {e}", path.display()));
                return EXIT_USAGE;
            }
        }
        written.push(format!("{name} ({n})"));
    }
    eprintln!(
        "exported the splits of `{}`: {} to {}",
        b.model.spec.data.name,
        written.join(", "),
        dir.display()
    );
    EXIT_OK
}
