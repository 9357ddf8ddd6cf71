//! The schema of every builtin the language knows: layers, losses, optimizers, schedules,
//! datasets, environments, agents, search distributions, strategies — their argument names,
//! kinds and defaults — and the fields each block accepts. `resolve` checks calls and fields
//! against it (Ludwig let typos pass silently; `.amm` never does).

/// What kind of value an argument or field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Whole number.
    Int,
    /// Real number (an int is accepted).
    Float,
    /// `true` / `false`.
    Bool,
    /// String.
    Str,
    /// A list of numbers.
    NumList,
    /// A list of builtins of a family (`metrics = [accuracy]`).
    ListOf(Family),
    /// A builtin of a family, with or without arguments (`adam(lr = 0.1)`, `relu`).
    Builtin(Family),
    /// A declared name of some block kind.
    Ref(RefKind),
    /// Pretrained weights: a safetensors path, or the name of a train block whose trained
    /// model provides them.
    Weights,
    /// A saved action-value or value table: a `.npy` path, or the name of an agent block
    /// whose run provides it.
    Table,
    /// Any expression; checked by the pass that uses it.
    Expr,
    /// A per-epoch metric watched for improvement: `val.loss`, `val.accuracy`, `val.mse`,
    /// `val.mae` or `train.loss`.
    Watch,
}

/// Families of builtins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Network layers.
    Layer,
    /// Training losses.
    Loss,
    /// Optimizers.
    Optimizer,
    /// Learning-rate schedules.
    Schedule,
    /// Dataset loaders.
    Dataset,
    /// RL environments.
    Env,
    /// RL algorithms.
    Agent,
    /// Exploration-rate schedules.
    Epsilon,
    /// Search-space distributions.
    Distribution,
    /// Search strategies.
    Strategy,
    /// Objective directions.
    Objective,
    /// Training metrics.
    Metric,
    /// Pruning rules.
    Pruner,
    /// Early-stopping rules.
    Stopping,
    /// Weight-initialisation schemes.
    Init,
    /// Where a tune study lives.
    Storage,
    /// Tree-ensemble heads: the last stage of a model, trained by boosting
    /// (`crate::trees`).
    TreeHead,
}

impl Family {
    /// A noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Family::Layer => "layer",
            Family::Loss => "loss",
            Family::Optimizer => "optimizer",
            Family::Schedule => "schedule",
            Family::Dataset => "dataset loader",
            Family::Env => "environment",
            Family::Agent => "agent algorithm",
            Family::Epsilon => "epsilon schedule",
            Family::Distribution => "distribution",
            Family::Strategy => "search strategy",
            Family::Objective => "objective",
            Family::Metric => "metric",
            Family::Pruner => "pruner",
            Family::Stopping => "early-stopping rule",
            Family::Init => "initialisation scheme",
            Family::Storage => "study storage",
            Family::TreeHead => "tree head",
        }
    }
}

/// Kinds of declared names a field may refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// `model` declarations.
    Model,
    /// `data` declarations.
    Data,
    /// `env` declarations.
    Env,
    /// `train` or `agent` declarations (what a `tune` runs).
    Runnable,
}

/// Default of an argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    /// Must be given.
    Required,
    /// May be omitted; the consumer decides (documented on the argument).
    Optional,
    /// Integer default.
    Int(i64),
    /// Float default.
    Float(f64),
    /// Bool default.
    Bool(bool),
    /// String default.
    Str(&'static str),
}

/// One argument (or block field). Builtins use `ArgSpec<'static>`; the formals of a user's
/// backbone or head borrow their names from the AST.
#[derive(Clone, Copy, Debug)]
pub struct ArgSpec<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its kind.
    pub kind: Kind,
    /// Its default.
    pub default: Default,
    /// One line for docs and hovers.
    pub doc: &'static str,
}

/// One builtin callable.
#[derive(Clone, Copy, Debug)]
pub struct CallSpec {
    /// Family it belongs to.
    pub family: Family,
    /// Name as written (`builtin.digits` for dotted ones).
    pub name: &'static str,
    /// Arguments in positional order.
    pub args: &'static [ArgSpec<'static>],
    /// Takes any number of extra positional values (`choice(1, 2, 3)`).
    pub variadic: bool,
    /// One line for docs.
    pub doc: &'static str,
}

const fn a(
    name: &'static str,
    kind: Kind,
    default: Default,
    doc: &'static str,
) -> ArgSpec<'static> {
    ArgSpec {
        name,
        kind,
        default,
        doc,
    }
}

const fn c(
    family: Family,
    name: &'static str,
    args: &'static [ArgSpec<'static>],
    doc: &'static str,
) -> CallSpec {
    CallSpec {
        family,
        name,
        args,
        variadic: false,
        doc,
    }
}

use self::Default::{Bool as B, Float as F, Int as I, Optional as Opt, Required as Req, Str as S};
use Family::*;
use Kind::{Builtin, Expr, NumList, Ref};

const POOL: &[ArgSpec<'static>] = &[
    a("kernel", Kind::Int, I(2), "window size"),
    a(
        "stride",
        Kind::Int,
        Opt,
        "step between windows (default: kernel)",
    ),
    a("pad", Kind::Int, I(0), "zero padding on each side"),
];
/// Arguments of the recurrent layers.
const RNN: &[ArgSpec<'static>] = &[
    a("units", Kind::Int, Req, "hidden size per direction"),
    a(
        "return_sequences",
        Kind::Bool,
        B(false),
        "output every step [N, T, units] instead of the final state [N, units]",
    ),
    a(
        "bidirectional",
        Kind::Bool,
        B(false),
        "also run backwards in time; outputs are concatenated (2 x units)",
    ),
];
/// Every environment's time-limit override (Gymnasium's `max_episode_steps`).
const ENV_MAX_STEPS: ArgSpec<'static> = a(
    "max_steps",
    Kind::Int,
    Default::Optional,
    "episode time limit (default: Gymnasium's; cliff_walking has none)",
);
const SPLIT_DOC: &str = "fractions for train / validation [/ test], summing to 1";
const DATA_COMMON: [ArgSpec<'static>; 4] = [
    a("split", NumList, Opt, SPLIT_DOC),
    a("seed", Kind::Int, I(0), "seed of the split shuffle"),
    a(
        "normalize",
        Kind::Str,
        Opt,
        "\"none\", \"scale\" or \"standardize\"",
    ),
    a(
        "label_kind",
        Kind::Str,
        S("auto"),
        "\"classes\", \"real\" (regression, even for whole numbers) or \"auto\" (integers are classes)",
    ),
];

/// Every builtin callable.
pub static BUILTINS: &[CallSpec] = &[
    // ---- layers
    c(
        Layer,
        "conv",
        &[
            a("channels", Kind::Int, Req, "output channels"),
            a("kernel", Kind::Int, I(3), "square kernel size"),
            a("stride", Kind::Int, I(1), "step between windows"),
            a("pad", Kind::Int, I(0), "zero padding on each side"),
            a("dilation", Kind::Int, I(1), "spacing between kernel taps"),
            a("bias", Kind::Bool, B(true), "learn a bias per channel"),
        ],
        "2-D convolution over [N, C, H, W]",
    ),
    c(Layer, "maxpool", POOL, "2-D max pooling"),
    c(
        Layer,
        "avgpool",
        POOL,
        "2-D average pooling (padding counted)",
    ),
    c(
        Layer,
        "global_avgpool",
        &[],
        "mean over H and W: [N, C, H, W] -> [N, C]",
    ),
    c(Layer, "flatten", &[], "[N, ...] -> [N, product]"),
    c(
        Layer,
        "dense",
        &[
            a("units", Kind::Int, Req, "output features"),
            a("bias", Kind::Bool, B(true), "learn a bias"),
        ],
        "fully connected layer over [N, F]",
    ),
    c(
        Layer,
        "dropout",
        &[a("rate", Kind::Float, F(0.5), "probability of zeroing")],
        "inverted dropout while training",
    ),
    c(
        Layer,
        "batchnorm",
        &[
            a(
                "momentum",
                Kind::Float,
                F(0.1),
                "running-statistics momentum",
            ),
            a("eps", Kind::Float, F(1e-5), "added to the variance"),
        ],
        "batch normalisation over channels",
    ),
    c(Layer, "relu", &[], "max(x, 0)"),
    c(
        Layer,
        "leaky_relu",
        &[a("slope", Kind::Float, F(0.01), "slope for x < 0")],
        "x or slope·x",
    ),
    c(Layer, "sigmoid", &[], "1 / (1 + e^-x)"),
    c(Layer, "tanh", &[], "hyperbolic tangent"),
    c(Layer, "gelu", &[], "x·Φ(x) (exact erf form)"),
    c(Layer, "softmax", &[], "softmax over the last axis"),
    // ---- sequence layers: [N, T, F], time first, features last (see "Sequences")
    c(
        Layer,
        "embedding",
        &[
            a(
                "vocab",
                Kind::Int,
                Req,
                "number of token ids (ids are 0..vocab-1)",
            ),
            a("dim", Kind::Int, Req, "vector size per token"),
        ],
        "token ids [N, T] -> vectors [N, T, dim] (weight [vocab, dim])",
    ),
    c(
        Layer,
        "conv1d",
        &[
            a("channels", Kind::Int, Req, "output features per step"),
            a("kernel", Kind::Int, I(3), "window length in steps"),
            a("stride", Kind::Int, I(1), "steps between windows"),
            a("pad", Kind::Int, I(0), "zero steps added at each end"),
            a("dilation", Kind::Int, I(1), "spacing between kernel taps"),
            a("bias", Kind::Bool, B(true), "learn a bias per channel"),
        ],
        "1-D convolution over time: [N, T, C] -> [N, T', channels] (weight [out, in, kernel], PyTorch's Conv1d)",
    ),
    c(
        Layer,
        "maxpool1d",
        POOL,
        "max over windows of steps: [N, T, F] -> [N, T', F]",
    ),
    c(
        Layer,
        "avgpool1d",
        POOL,
        "mean over windows of steps (padding counted): [N, T, F] -> [N, T', F]",
    ),
    c(
        Layer,
        "gru",
        RNN,
        "gated recurrent unit over [N, T, F] (PyTorch's nn.GRU, batch_first)",
    ),
    c(
        Layer,
        "lstm",
        RNN,
        "long short-term memory over [N, T, F] (PyTorch's nn.LSTM, batch_first)",
    ),
    c(
        Layer,
        "last",
        &[],
        "the last time step: [N, T, F] -> [N, F]",
    ),
    c(
        Layer,
        "mean",
        &[],
        "the mean over time: [N, T, F] -> [N, F]",
    ),
    // ---- losses
    c(
        Loss,
        "cross_entropy",
        &[a(
            "label_smoothing",
            Kind::Float,
            F(0.0),
            "ε in (1-ε)·onehot + ε/C",
        )],
        "softmax cross-entropy on [N, C] logits and class labels",
    ),
    c(Loss, "mse", &[], "mean squared error"),
    c(Loss, "mae", &[], "mean absolute error"),
    // ---- optimizers
    c(
        Optimizer,
        "sgd",
        &[
            a("lr", Kind::Float, F(0.01), "learning rate"),
            a("momentum", Kind::Float, F(0.0), "momentum in [0, 1)"),
            a("nesterov", Kind::Bool, B(false), "Nesterov momentum"),
            a("weight_decay", Kind::Float, F(0.0), "L2 penalty"),
        ],
        "stochastic gradient descent",
    ),
    c(
        Optimizer,
        "adam",
        &[
            a("lr", Kind::Float, F(1e-3), "learning rate"),
            a("beta1", Kind::Float, F(0.9), "first-moment decay"),
            a("beta2", Kind::Float, F(0.999), "second-moment decay"),
            a("eps", Kind::Float, F(1e-8), "denominator term"),
            a(
                "weight_decay",
                Kind::Float,
                F(0.0),
                "L2 penalty added to the gradient",
            ),
        ],
        "Adam",
    ),
    c(
        Optimizer,
        "adamw",
        &[
            a("lr", Kind::Float, F(1e-3), "learning rate"),
            a("beta1", Kind::Float, F(0.9), "first-moment decay"),
            a("beta2", Kind::Float, F(0.999), "second-moment decay"),
            a("eps", Kind::Float, F(1e-8), "denominator term"),
            a(
                "weight_decay",
                Kind::Float,
                F(0.01),
                "decoupled weight decay",
            ),
        ],
        "Adam with decoupled weight decay",
    ),
    // ---- learning-rate schedules
    c(
        Schedule,
        "constant",
        &[a("warmup", Kind::Int, I(0), "linear warm-up steps")],
        "constant learning rate",
    ),
    c(
        Schedule,
        "step",
        &[
            a("every", Kind::Int, Req, "epochs between decays"),
            a("gamma", Kind::Float, F(0.1), "decay factor"),
            a("warmup", Kind::Int, I(0), "linear warm-up steps"),
        ],
        "multiply the rate by gamma every `every` epochs",
    ),
    c(
        Schedule,
        "cosine",
        &[
            a("min_lr", Kind::Float, F(0.0), "final learning rate"),
            a("warmup", Kind::Int, I(0), "linear warm-up steps"),
        ],
        "cosine decay over the whole run",
    ),
    c(
        Schedule,
        "plateau",
        &[
            a(
                "metric",
                Kind::Watch,
                Opt,
                "the watched metric (default val.loss)",
            ),
            a(
                "factor",
                Kind::Float,
                F(0.1),
                "multiply the rate by this on a plateau",
            ),
            a(
                "patience",
                Kind::Int,
                I(10),
                "epochs without improvement before reducing",
            ),
            a(
                "min_delta",
                Kind::Float,
                F(0.0),
                "smallest change that counts as an improvement",
            ),
            a("min_lr", Kind::Float, F(0.0), "lower bound of the rate"),
            a("warmup", Kind::Int, I(0), "linear warm-up steps"),
        ],
        "reduce the rate when a metric stops improving (PyTorch's ReduceLROnPlateau)",
    ),
    // ---- datasets
    c(
        Dataset,
        "builtin.digits",
        &[
            DATA_COMMON[0],
            DATA_COMMON[1],
            DATA_COMMON[2],
            DATA_COMMON[3],
            a(
                "classes",
                NumList,
                Opt,
                "keep only these classes, relabelled 0..k",
            ),
            a(
                "as",
                Kind::Str,
                S("images"),
                "\"images\" [1, 8, 8], or \"rows\": a sequence of 8 steps of 8 pixels [8, 8]",
            ),
        ],
        "UCI optical digits: 1,797 images [1, 8, 8], 10 classes (shipped)",
    ),
    c(
        Dataset,
        "builtin.adding",
        &[
            a("n", Kind::Int, I(2000), "number of sequences"),
            a("steps", Kind::Int, I(50), "sequence length T (at least 2)"),
            DATA_COMMON[0],
            DATA_COMMON[1],
            DATA_COMMON[2],
            DATA_COMMON[3],
        ],
        "the adding problem: T steps of (value, marker) [T, 2]; target: the sum of the 2 marked values",
    ),
    c(
        Dataset,
        "synthetic",
        &[
            a("shape", NumList, Req, "sample shape, e.g. [1, 28, 28]"),
            a("classes", Kind::Int, Req, "number of classes"),
            a("n", Kind::Int, I(1000), "number of samples"),
            DATA_COMMON[0],
            DATA_COMMON[1],
            DATA_COMMON[2],
            DATA_COMMON[3],
        ],
        "learnable synthetic classification data",
    ),
    c(
        Dataset,
        "csv",
        &[
            a("path", Kind::Str, Req, "CSV file with a header row"),
            a("label", Kind::Str, Req, "name of the label column"),
            a(
                "steps",
                Kind::Int,
                Opt,
                "read each row as a sequence of this many steps [steps, columns / steps] (default: a vector)",
            ),
            DATA_COMMON[0],
            DATA_COMMON[1],
            DATA_COMMON[2],
            DATA_COMMON[3],
        ],
        "CSV table",
    ),
    c(
        Dataset,
        "idx",
        &[
            a("images", Kind::Str, Req, "idx3-ubyte file (plain or .gz)"),
            a("labels", Kind::Str, Req, "idx1-ubyte file (plain or .gz)"),
            DATA_COMMON[0],
            DATA_COMMON[1],
            DATA_COMMON[2],
            DATA_COMMON[3],
        ],
        "IDX files (MNIST family)",
    ),
    c(
        Dataset,
        "npy",
        &[
            a("features", Kind::Str, Req, ".npy features [n, ...]"),
            a("labels", Kind::Str, Req, ".npy labels [n]"),
            a(
                "as",
                Kind::Str,
                S("images"),
                "\"images\": [n, h, w] features are images [1, h, w]; \"sequences\": [n, T, F] are sequences [T, F]",
            ),
            DATA_COMMON[0],
            DATA_COMMON[1],
            DATA_COMMON[2],
            DATA_COMMON[3],
        ],
        "NumPy arrays",
    ),
    // ---- environments
    c(
        Env,
        "frozen_lake",
        &[
            a(
                "map",
                Kind::Str,
                S("4x4"),
                "\"4x4\", \"8x8\" or a map string",
            ),
            a(
                "slippery",
                Kind::Bool,
                B(true),
                "moves slip sideways with probability 2/3",
            ),
            ENV_MAX_STEPS,
        ],
        "Gymnasium FrozenLake",
    ),
    c(
        Env,
        "cliff_walking",
        &[ENV_MAX_STEPS],
        "Gymnasium CliffWalking (4x12)",
    ),
    c(
        Env,
        "taxi",
        &[ENV_MAX_STEPS],
        "Gymnasium Taxi (500 states, 6 actions)",
    ),
    c(
        Env,
        "cartpole",
        &[ENV_MAX_STEPS],
        "Gymnasium CartPole-v1 (4-d continuous observation, 2 actions)",
    ),
    c(
        Env,
        "mountain_car",
        &[ENV_MAX_STEPS],
        "Gymnasium MountainCar-v0 (2-d continuous observation, 3 actions)",
    ),
    c(
        Env,
        "acrobot",
        &[
            a(
                "nips",
                Kind::Bool,
                B(false),
                "the NIPS paper's equation for the second joint instead of the book's (Gymnasium's book_or_nips)",
            ),
            ENV_MAX_STEPS,
        ],
        "Gymnasium Acrobot-v1 (6-d continuous observation, 3 actions)",
    ),
    c(
        Env,
        "grid",
        &[
            a("map", Kind::Str, Req, "rows of S G # H . cells"),
            a("step_reward", Kind::Float, F(0.0), "reward per step"),
            a("goal_reward", Kind::Float, F(1.0), "reward at G"),
            a("hole_reward", Kind::Float, F(0.0), "reward at H"),
            a(
                "slip",
                Kind::Float,
                F(0.0),
                "probability of slipping sideways",
            ),
            a("max_steps", Kind::Int, I(100), "episode limit"),
        ],
        "a custom grid world",
    ),
    // ---- agents
    c(
        Agent,
        "q_learning",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "tabular Q-learning",
    ),
    c(
        Agent,
        "sarsa",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "tabular SARSA",
    ),
    c(
        Agent,
        "expected_sarsa",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "tabular expected SARSA",
    ),
    c(
        Agent,
        "double_q",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "tabular double Q-learning",
    ),
    c(
        Agent,
        "dqn",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "deep Q-network: a model of the language as Q-function, replay buffer, target network",
    ),
    c(
        Agent,
        "value_iteration",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "plans on a tabular environment's transition table: Bellman optimality backups until values stop changing",
    ),
    c(
        Agent,
        "policy_iteration",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "plans on a tabular environment's transition table: evaluate the policy, improve it greedily, repeat until stable",
    ),
    c(
        Agent,
        "mcts",
        &[a("env", Ref(RefKind::Env), Req, "environment")],
        "Monte Carlo tree search (UCT) at every step, simulating the environment itself",
    ),
    // ---- epsilon schedules
    c(
        Epsilon,
        "constant",
        &[a("value", Kind::Float, Req, "exploration rate")],
        "fixed epsilon",
    ),
    c(
        Epsilon,
        "linear",
        &[
            a("from", Kind::Float, F(1.0), "start"),
            a("to", Kind::Float, F(0.05), "end"),
            a("steps", Kind::Int, Req, "steps to go from `from` to `to`"),
        ],
        "linear decay",
    ),
    c(
        Epsilon,
        "exponential",
        &[
            a("from", Kind::Float, F(1.0), "start"),
            a("to", Kind::Float, F(0.05), "floor"),
            a("decay", Kind::Float, Req, "factor per episode"),
        ],
        "exponential decay",
    ),
    // ---- distributions
    c(
        Distribution,
        "uniform",
        &[
            a("low", Kind::Float, Req, "lower bound"),
            a("high", Kind::Float, Req, "upper bound"),
            a(
                "step",
                Kind::Float,
                Opt,
                "spacing of the values (none: any real)",
            ),
        ],
        "uniform on [low, high]",
    ),
    c(
        Distribution,
        "log_uniform",
        &[
            a("low", Kind::Float, Req, "lower bound > 0"),
            a("high", Kind::Float, Req, "upper bound"),
            a(
                "step",
                Kind::Float,
                Opt,
                "not allowed: a log scale has no step (as in Optuna)",
            ),
        ],
        "uniform in log space",
    ),
    c(
        Distribution,
        "int",
        &[
            a("low", Kind::Int, Req, "lower bound"),
            a("high", Kind::Int, Req, "upper bound (inclusive)"),
            a("log", Kind::Bool, B(false), "sample in log space"),
            a("step", Kind::Int, I(1), "spacing"),
        ],
        "integers in [low, high]",
    ),
    CallSpec {
        family: Distribution,
        name: "choice",
        args: &[],
        variadic: true,
        doc: "one of the listed values",
    },
    // ---- strategies
    c(
        Strategy,
        "random",
        &[a("trials", Kind::Int, Req, "number of trials")],
        "random search",
    ),
    c(
        Strategy,
        "bayes",
        &[
            a("trials", Kind::Int, Req, "number of trials"),
            a("init", Kind::Int, I(10), "quasi-random initial trials"),
            a(
                "batch",
                Kind::Int,
                I(1),
                "points proposed together (kriging believer); `jobs = batch` keeps every worker busy",
            ),
        ],
        "Gaussian-process Bayesian optimisation",
    ),
    c(
        Strategy,
        "tpe",
        &[
            a("trials", Kind::Int, Req, "number of trials"),
            a(
                "startup",
                Kind::Int,
                I(10),
                "random trials before the model is used",
            ),
            a(
                "batch",
                Kind::Int,
                I(1),
                "points proposed together (constant liar); `jobs = batch` keeps every worker busy",
            ),
            a(
                "candidates",
                Kind::Int,
                I(24),
                "points drawn from the good density per suggestion",
            ),
            a(
                "gamma",
                Kind::Float,
                F(0.1),
                "fraction of trials in the good group (at most 25 trials)",
            ),
            a(
                "multivariate",
                Kind::Bool,
                B(true),
                "one joint density over all params (false: one per param)",
            ),
        ],
        "tree-structured Parzen estimator (Optuna's default sampler)",
    ),
    c(
        Strategy,
        "genetic",
        &[
            a("population", Kind::Int, I(10), "individuals per generation"),
            a("generations", Kind::Int, I(10), "generations"),
        ],
        "genetic algorithm",
    ),
    // ---- objectives
    c(
        Objective,
        "maximize",
        &[a(
            "value",
            Expr,
            Req,
            "a metric such as val.accuracy, or an expression of params",
        )],
        "maximise",
    ),
    c(
        Objective,
        "minimize",
        &[a(
            "value",
            Expr,
            Req,
            "a metric such as val.loss, or an expression of params",
        )],
        "minimise",
    ),
    // ---- metrics and pruners
    c(Metric, "accuracy", &[], "fraction of correct classes"),
    c(Metric, "mse", &[], "mean squared error"),
    c(Metric, "mae", &[], "mean absolute error"),
    c(
        Pruner,
        "median",
        &[a("warmup", Kind::Int, I(1), "epochs before pruning starts")],
        "stop trials worse than the median",
    ),
    c(
        Storage,
        "redis",
        &[
            a(
                "url",
                Kind::Str,
                Req,
                "the server, `redis://HOST:PORT[/DB]`",
            ),
            a(
                "prefix",
                Kind::Str,
                S(""),
                "key prefix (Optuna's `JournalRedisBackend(url, prefix=…)`)",
            ),
        ],
        "the study in Redis, in Optuna's JournalRedisBackend layout",
    ),
    c(
        Stopping,
        "early_stopping",
        &[
            a(
                "metric",
                Kind::Watch,
                Opt,
                "the watched metric (default val.loss)",
            ),
            a(
                "patience",
                Kind::Int,
                I(5),
                "epochs without improvement before stopping",
            ),
            a(
                "min_delta",
                Kind::Float,
                F(0.0),
                "smallest change that counts as an improvement",
            ),
            a(
                "restore_best",
                Kind::Bool,
                B(true),
                "evaluate and save the best epoch's weights",
            ),
        ],
        "stop when a metric stops improving; keeps the best weights",
    ),
    // ---- tree heads (crate::trees): a model's last stage, on frozen flat features
    c(
        TreeHead,
        "boosted_trees",
        &[
            a(
                "trees",
                Kind::Int,
                I(100),
                "boosting rounds (one tree per class and round)",
            ),
            a("depth", Kind::Int, I(6), "largest depth of a tree, 1 to 20"),
            a(
                "lr",
                Kind::Float,
                F(0.1),
                "shrinkage: each tree's leaves are scaled by it",
            ),
            a(
                "min_leaf",
                Kind::Int,
                I(20),
                "fewest training samples in a leaf",
            ),
            a(
                "l2",
                Kind::Float,
                F(0.0),
                "L2 penalty on leaf values (lambda)",
            ),
            a(
                "bins",
                Kind::Int,
                I(255),
                "largest number of bins per feature, 2 to 255",
            ),
            a(
                "early_stopping",
                Kind::Int,
                Opt,
                "stop after this many rounds without a better validation loss; keep the best round",
            ),
        ],
        "histogram gradient-boosted trees (log-loss for classes, squared error for targets)",
    ),
    c(
        TreeHead,
        "decision_tree",
        &[
            a(
                "depth",
                Kind::Int,
                I(6),
                "largest depth of the tree, 1 to 20",
            ),
            a(
                "min_leaf",
                Kind::Int,
                I(1),
                "fewest training samples in a leaf",
            ),
            a(
                "bins",
                Kind::Int,
                I(255),
                "largest number of bins per feature, 2 to 255",
            ),
        ],
        "one tree: leaves hold class frequencies (Gini splits) or target means (squared error)",
    ),
    // ---- initialisation schemes (check::spec::InitScheme)
    c(
        Init,
        "torch",
        &[],
        "PyTorch's default: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
    ),
    c(
        Init,
        "kaiming_uniform",
        &[],
        "He: weights U(-sqrt(6/fan_in), sqrt(6/fan_in)), biases 0",
    ),
    c(
        Init,
        "kaiming_normal",
        &[],
        "He: weights N(0, 2/fan_in), biases 0",
    ),
    c(
        Init,
        "xavier_uniform",
        &[],
        "Glorot: weights U(-sqrt(6/(fan_in+fan_out)), sqrt(6/(fan_in+fan_out))), biases 0",
    ),
    c(
        Init,
        "xavier_normal",
        &[],
        "Glorot: weights N(0, 2/(fan_in+fan_out)), biases 0",
    ),
];

/// Fields of a `train` block.
pub static TRAIN_FIELDS: &[ArgSpec<'static>] = &[
    a("model", Ref(RefKind::Model), Req, "the model to train"),
    a("data", Ref(RefKind::Data), Req, "the dataset"),
    a("loss", Builtin(Loss), Req, "the loss"),
    a("optimizer", Builtin(Optimizer), Req, "the optimizer"),
    a("epochs", Kind::Int, I(10), "passes over the training split"),
    a("batch", Kind::Int, I(32), "mini-batch size"),
    a(
        "metrics",
        Kind::ListOf(Metric),
        Opt,
        "metrics reported per epoch (default: accuracy for classification, mse and mae for regression)",
    ),
    a(
        "schedule",
        Builtin(Schedule),
        Opt,
        "learning-rate schedule (default: constant)",
    ),
    a(
        "clip_norm",
        Kind::Float,
        Opt,
        "clip gradients to this global L2 norm",
    ),
    a(
        "seed",
        Kind::Int,
        I(0),
        "seed of initialisation, shuffling and dropout",
    ),
    a(
        "init",
        Builtin(Init),
        Opt,
        "initialisation of dense and conv weights (default: torch, PyTorch's)",
    ),
    a(
        "early_stop",
        Builtin(Stopping),
        Opt,
        "stop when a validation metric stalls (best weights in best.safetensors)",
    ),
];

/// Fields of a `tune` block (besides `space`).
pub static TUNE_FIELDS: &[ArgSpec<'static>] = &[
    a(
        "run",
        Ref(RefKind::Runnable),
        Opt,
        "the train or agent block to tune (omit to minimise an expression of params)",
    ),
    a("strategy", Builtin(Strategy), Req, "search strategy"),
    a("objective", Builtin(Objective), Req, "what to optimise"),
    a("jobs", Kind::Int, I(1), "trials run in parallel"),
    a("seed", Kind::Int, I(0), "seed of the strategy"),
    a(
        "prune",
        Builtin(Pruner),
        Opt,
        "early stopping of poor trials",
    ),
    a(
        "storage",
        Builtin(Storage),
        Opt,
        "where the study lives (default: study.journal in the run directory)",
    ),
];

/// Fields of an `agent` block.
pub static AGENT_FIELDS: &[ArgSpec<'static>] = &[
    a("alpha", Kind::Float, F(0.1), "learning rate"),
    a("gamma", Kind::Float, F(0.99), "discount"),
    a(
        "epsilon",
        Builtin(Epsilon),
        Opt,
        "exploration schedule (default: linear(1.0 → 0.05) over half the budget)",
    ),
    a("episodes", Kind::Int, Opt, "training episodes"),
    a(
        "steps",
        Kind::Int,
        Opt,
        "training environment steps (instead of episodes)",
    ),
    a(
        "bins",
        NumList,
        Opt,
        "bins per observation dimension for continuous observations",
    ),
    a(
        "eval_episodes",
        Kind::Int,
        I(1000),
        "greedy evaluation episodes",
    ),
    a("window", Kind::Int, Opt, "episodes per progress-table row"),
    a(
        "log_episodes",
        Kind::Int,
        I(100_000),
        "training episodes written to returns.jsonl, from the first",
    ),
    a(
        "init_from",
        Kind::Str,
        Opt,
        "start from a saved qtable.npy / qnetwork.safetensors (path relative to this file)",
    ),
    a(
        "network",
        Ref(RefKind::Model),
        Opt,
        "dqn: the Q-network model",
    ),
    a(
        "optimizer",
        Builtin(Optimizer),
        Opt,
        "dqn: optimizer (default adam(lr = 1e-3))",
    ),
    a(
        "loss",
        Kind::Str,
        S("huber"),
        "dqn: TD loss, \"huber\" or \"mse\"",
    ),
    a("batch", Kind::Int, I(32), "dqn: mini-batch size"),
    a(
        "buffer",
        Kind::Int,
        I(100_000),
        "dqn: replay buffer capacity",
    ),
    a(
        "learning_starts",
        Kind::Int,
        I(1000),
        "dqn: random steps before learning",
    ),
    a(
        "train_freq",
        Kind::Int,
        I(4),
        "dqn: environment steps between learning phases",
    ),
    a(
        "gradient_steps",
        Kind::Int,
        I(1),
        "dqn: gradient steps per learning phase",
    ),
    a(
        "target_update",
        Kind::Int,
        I(1000),
        "dqn: environment steps between target updates",
    ),
    a(
        "tau",
        Kind::Float,
        F(1.0),
        "dqn: target update weight (1 = copy, < 1 = Polyak)",
    ),
    a("double", Kind::Bool, B(false), "dqn: Double DQN targets"),
    a(
        "clip_norm",
        Kind::Float,
        F(10.0),
        "dqn: clip gradients to this global L2 norm",
    ),
    a(
        "checkpoint_every",
        Kind::Int,
        I(0),
        "dqn: environment steps between greedy evaluations that keep the best network (0: off)",
    ),
    a(
        "checkpoint_episodes",
        Kind::Int,
        I(10),
        "dqn: greedy episodes of each checkpoint evaluation",
    ),
    a(
        "seed",
        Kind::Int,
        I(0),
        "seed of the environment and exploration",
    ),
    a(
        "tolerance",
        Kind::Float,
        F(1e-10),
        "value_iteration, policy_iteration: stop when no value changes by more",
    ),
    a(
        "max_iterations",
        Kind::Int,
        I(100_000),
        "value_iteration, policy_iteration: most sweeps or improvement steps",
    ),
    a(
        "horizon",
        Kind::Int,
        Opt,
        "value_iteration: best values within this many steps (finite horizon)",
    ),
    a(
        "simulations",
        Kind::Int,
        I(100),
        "mcts: simulations per step and tree",
    ),
    a(
        "exploration",
        Kind::Float,
        F(1.0),
        "mcts: UCB1 exploration constant on values normalised to [0, 1]",
    ),
    a(
        "depth",
        Kind::Int,
        I(100),
        "mcts: steps a simulation looks ahead (tree and rollout), at most the steps left in the episode",
    ),
    a(
        "trees",
        Kind::Int,
        I(1),
        "mcts: independent trees per step, searched in parallel",
    ),
    a(
        "rollout",
        Kind::Table,
        Opt,
        "mcts: finish simulations greedily on a table — an agent block of this file (its run's qtable.npy) or a qtable.npy / values.npy path; random actions when absent",
    ),
    a(
        "backup",
        Kind::Str,
        S("mean"),
        "mcts: \"mean\" (classic UCT: mean return through an action) or \"bellman\" (an action's value from the outcomes seen and their nodes' best values: far fewer simulations on slippery environments)",
    ),
    a(
        "rollout_depth",
        Kind::Int,
        Opt,
        "mcts with a `rollout` table: greedy steps before the table's value stands in for the rest (0: leaves valued by the table alone; default: play to `depth`)",
    ),
    a(
        "prior_visits",
        Kind::Int,
        I(10),
        "mcts with a `rollout` table: new tree nodes start each action at the table's value, worth this many simulations (0: off)",
    ),
    a(
        "init",
        Kind::Float,
        F(0.0),
        "tabular learning agents: the value every Q-table entry starts from (higher than any return: optimistic exploration)",
    ),
];

/// Modifiers a model stage accepts besides the network's own parameters.
pub static STAGE_MODIFIERS: &[ArgSpec<'static>] = &[
    a(
        "weights",
        Kind::Weights,
        Opt,
        "pretrained weights: a train block (its trained model) or a safetensors file",
    ),
    a(
        "frozen",
        Kind::Bool,
        B(false),
        "exclude these weights from the update",
    ),
    a(
        "init",
        Builtin(Init),
        Opt,
        "initialisation of this stage's dense and conv weights (default: the train block's `init`)",
    ),
];

/// Looks up a builtin by family and name.
pub fn builtin(family: Family, name: &str) -> Option<&'static CallSpec> {
    BUILTINS
        .iter()
        .find(|b| b.family == family && b.name == name)
}

/// Names of a family's builtins, for suggestions.
pub fn names(family: Family) -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .filter(move |b| b.family == family)
        .map(|b| b.name)
}
