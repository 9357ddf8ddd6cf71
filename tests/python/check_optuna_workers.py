"""Three `ammc run` workers and one Optuna worker (`study.optimize`) share one study on a
journal file: exactly the budgeted number of finished trials, unique trial numbers, the
Optuna worker's trials among them, and `optuna.load_study` agrees with ammc's best.json.

usage: python check_optuna_workers.py AMMC_BINARY WORK_DIR [redis://HOST:PORT]

With a Redis URL the study lives in Redis (Optuna's JournalRedisBackend, ammc's --storage).
"""
import json
import math
import os
import shutil
import subprocess
import sys

import optuna
from optuna.study import MaxTrialsCallback

BUDGET = 24
PYTHON_TRIALS = 4

SOURCE = """
use std.heads.{classifier}
param lr = 1e-2
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "scale")
backbone mlp {
    flatten
    dense(32) relu
}
model net = mlp -> classifier(classes = 10)
train fit {
    model = net
    data = digits
    loss = cross_entropy
    optimizer = adam(lr = lr)
    epochs = 6
    batch = 32
}
tune search {
    run = fit
    space {
        lr ~ log_uniform(1e-4, 1e-1)
    }
    strategy = random(trials = BUDGET)
    objective = maximize(val.accuracy)
}
""".replace("BUDGET", str(BUDGET))


def main(ammc: str, work: str, redis_url: str | None) -> int:
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(f"{work}/out/search")
    path = f"{work}/tune.amm"
    with open(path, "w") as f:
        f.write(SOURCE)
    journal = f"{work}/out/search/study.journal"
    if redis_url:
        backend = optuna.storages.journal.JournalRedisBackend(redis_url)
        extra = ["--storage", redis_url]
    else:
        backend = optuna.storages.journal.JournalFileBackend(journal)
        extra = []
    storage = optuna.storages.JournalStorage(backend)
    # Optuna creates the study; the ammc workers join it (same name, direction and space).
    study = optuna.create_study(study_name="search", storage=storage, direction="maximize")
    workers = [
        subprocess.Popen(
            [ammc, "run", path, "search", "--quiet", "--out", f"{work}/out", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        # A formula, not a training: what matters is that the trial is shared.
        return 0.5 + 0.01 * math.log10(lr)

    # The budget across every worker (Optuna counts all states when `states` is None).
    study.optimize(
        objective,
        n_trials=PYTHON_TRIALS,
        callbacks=[MaxTrialsCallback(BUDGET, states=None)],
    )
    for w in workers:
        out, _ = w.communicate(timeout=600)
        text = out.decode()
        assert w.returncode == 0, text
    study = optuna.load_study(study_name="search", storage=storage)
    states = optuna.trial.TrialState
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(study.trials) == BUDGET, [(t.number, t.state) for t in study.trials]
    assert len(finished) == BUDGET
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(BUDGET)), numbers
    python = [t for t in study.trials if "ammc:slot" not in t.system_attrs]
    assert 1 <= len(python) <= PYTHON_TRIALS, len(python)
    slots = sorted(t.system_attrs["ammc:slot"] for t in study.trials if "ammc:slot" in t.system_attrs)
    assert len(slots) == len(set(slots)), slots
    best = json.load(open(f"{work}/out/search/best.json"))
    assert best["trials"] == BUDGET, best
    assert study.best_value == best["best"]["value"], (study.best_value, best)
    assert study.best_trial.number == best["best"]["number"], (study.best_trial.number, best)
    complete = [t for t in study.trials if t.state == states.COMPLETE]
    print(
        f"ok: {len(study.trials)} trials ({len(complete)} complete, {len(python)} by Optuna), "
        f"best {study.best_value} at trial {study.best_trial.number}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
