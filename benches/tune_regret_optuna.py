"""Optuna's samplers on the test functions of benches/tune_regret.rs, for the same table.

Called by `cargo bench --bench tune_regret` (not run by hand): argv is the number of seeds,
the number of evaluations and the function names; prints one JSON object per line,
{"function", "sampler", "seed", "values"} with the objective of every trial in order.
The functions must stay identical to the Rust ones in tune_regret.rs.
"""

import json
import math
import sys

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(x):
    a, b = x
    pi = math.pi
    return (
        (b - 5.1 / (4 * pi * pi) * a * a + 5 / pi * a - 6) ** 2
        + 10 * (1 - 1 / (8 * pi)) * math.cos(a)
        + 10
    )


HART_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HART_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]
HART_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(HART_A[i][j] * (x[j] - HART_P[i][j] * 1e-4) ** 2 for j in range(6))
        total += HART_ALPHA[i] * math.exp(-inner)
    return -total


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def styblinski_tang(x):
    return sum(v**4 - 16 * v * v + 5 * v for v in x) / 2


def ackley(x):
    d = len(x)
    s1 = sum(v * v for v in x) / d
    s2 = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e


FUNCTIONS = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)]),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6),
    "rosenbrock4": (rosenbrock, [(-5.0, 10.0)] * 4),
    "styblinski_tang5": (styblinski_tang, [(-5.0, 5.0)] * 5),
    "ackley5": (ackley, [(-32.768, 32.768)] * 5),
}


def samplers():
    out = {"optuna-tpe": lambda seed: optuna.samplers.TPESampler(seed=seed)}
    try:
        import torch  # noqa: F401  GPSampler needs it

        out["optuna-gp"] = lambda seed: optuna.samplers.GPSampler(seed=seed)
    except ImportError:
        print("optuna-gp skipped: torch is not installed", file=sys.stderr)
    return out


def main():
    seeds, evals = int(sys.argv[1]), int(sys.argv[2])
    chosen = samplers()
    for name in sys.argv[3:]:
        f, bounds = FUNCTIONS[name]
        for sampler_name, make in chosen.items():
            for seed in range(seeds):
                study = optuna.create_study(sampler=make(seed))

                def objective(trial):
                    x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
                    return f(x)

                study.optimize(objective, n_trials=evals)
                values = [t.value for t in study.trials]
                print(json.dumps({"function": name, "sampler": sampler_name, "seed": seed,
                                  "values": values}), flush=True)


if __name__ == "__main__":
    main()
