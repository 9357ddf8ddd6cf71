"""A conditional search space shared by Optuna and ammc, both ways: Optuna starts the study
with define-by-run (`sgd_lr` and `momentum` only when `opt` is "sgd", `adam_lr` only when it
is "adam", a stepped float, a log int), ammc resumes it, Optuna reads ammc's trials (absent
params absent, best trial and params agreeing with best.json) and adds its own, and ammc
resumes again to a larger budget.

usage: python check_optuna_conditional.py AMMC_BINARY WORK_DIR
"""
import json
import math
import os
import shutil
import subprocess
import sys

import optuna

SOURCE = """
param opt: str = "sgd"
param sgd_lr = 0.01
param momentum = 0.9
param adam_lr = 0.001
param units: int = 32
param q = 0.5

tune search {
    space {
        opt ~ choice("sgd", "adam") {
            "sgd" {
                sgd_lr ~ log_uniform(1e-3, 1e-1)
                momentum ~ uniform(0.5, 0.95, step = 0.05)
            }
            "adam" {
                adam_lr ~ log_uniform(1e-5, 1e-2)
            }
        }
        units ~ int(8, 256, log = true)
        q ~ uniform(0, 1, step = 0.1)
    }
    strategy = tpe(trials = BUDGET, startup = 4)
    objective = minimize((log(sgd_lr) + 4) ^ 2 + (momentum - 0.7) ^ 2 + (log(adam_lr) + 7) ^ 2 + (log(units) - 4) ^ 2 + (q - 0.3) ^ 2)
}
"""

DEFAULTS = {"sgd_lr": 0.01, "momentum": 0.9, "adam_lr": 0.001}


def objective(trial: optuna.Trial) -> float:
    """The same space and formula, define-by-run; absent params keep their defaults."""
    p = dict(DEFAULTS)
    opt = trial.suggest_categorical("opt", ["sgd", "adam"])
    if opt == "sgd":
        p["sgd_lr"] = trial.suggest_float("sgd_lr", 1e-3, 1e-1, log=True)
        p["momentum"] = trial.suggest_float("momentum", 0.5, 0.95, step=0.05)
    else:
        p["adam_lr"] = trial.suggest_float("adam_lr", 1e-5, 1e-2, log=True)
    units = trial.suggest_int("units", 8, 256, log=True)
    q = trial.suggest_float("q", 0.0, 1.0, step=0.1)
    return (
        (math.log(p["sgd_lr"]) + 4) ** 2
        + (p["momentum"] - 0.7) ** 2
        + (math.log(p["adam_lr"]) + 7) ** 2
        + (math.log(units) - 4) ** 2
        + (q - 0.3) ** 2
    )


def run_ammc(ammc: str, work: str, budget: int) -> str:
    path = f"{work}/tune.amm"
    with open(path, "w") as f:
        f.write(SOURCE.replace("BUDGET", str(budget)))
    r = subprocess.run(
        [ammc, "run", path, "search", "--quiet", "--out", f"{work}/out"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def check_agrees(study: optuna.Study, work: str, trials: int) -> None:
    best = json.load(open(f"{work}/out/search/best.json"))
    assert len(study.trials) == trials == best["trials"], (len(study.trials), best["trials"])
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE, t
        sgd = t.params["opt"] == "sgd"
        want = {"opt", "units", "q"} | ({"sgd_lr", "momentum"} if sgd else {"adam_lr"})
        assert set(t.params) == want, (t.number, t.params)
        assert set(t.distributions) == want, (t.number, t.distributions)
        q = t.params["q"]
        assert abs(q - round(q * 10) / 10) < 1e-9, q
        if sgd:
            m = t.params["momentum"]
            assert abs(m - (0.5 + round((m - 0.5) / 0.05) * 0.05)) < 1e-9, m
    assert study.best_value == best["best"]["value"], (study.best_value, best)
    assert study.best_trial.number == best["best"]["number"], (study.best_trial.number, best)
    assert study.best_params == best["best"]["params"], (study.best_params, best)


def main(ammc: str, work: str) -> int:
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(f"{work}/out/search")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(f"{work}/out/search/study.journal")
    )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # 1. Optuna starts the study.
    study = optuna.create_study(
        study_name="search",
        storage=storage,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    study.optimize(objective, n_trials=6)
    # 2. ammc resumes it to 16 trials.
    out = run_ammc(ammc, work, 16)
    assert "resumed: 6 trials" in out, out
    study = optuna.load_study(study_name="search", storage=storage)
    check_agrees(study, work, 16)
    ammc_trials = [t for t in study.trials if "ammc:slot" in t.system_attrs]
    assert len(ammc_trials) == 10, len(ammc_trials)
    assert {t.params["opt"] for t in ammc_trials} == {"sgd", "adam"}, ammc_trials
    # 3. Optuna's TPE continues over ammc's conditional trials.
    study = optuna.load_study(
        study_name="search", storage=storage, sampler=optuna.samplers.TPESampler(seed=1)
    )
    study.optimize(objective, n_trials=4)
    # 4. ammc resumes everything to 24 trials.
    out = run_ammc(ammc, work, 24)
    assert "resumed: 20 trials" in out, out
    study = optuna.load_study(study_name="search", storage=storage)
    check_agrees(study, work, 24)
    print(
        f"ok: conditional study: {len(study.trials)} trials "
        f"({sum('ammc:slot' in t.system_attrs for t in study.trials)} by ammc), "
        f"best {study.best_value:.6g} at {study.best_params} (trial {study.best_trial.number})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
