#!/usr/bin/env python3
"""Loads a journal written by ammc's tuning engine with Optuna and checks that Optuna sees
the same trials, best value and best parameters as ammc.

Usage: python3 tests/tune_optuna_check.py [DIR]
DIR (default target/tmp/tune_optuna_check) holds study.journal and expected.json, both
written by `cargo test --test tune_optuna writes_a_journal_optuna_can_load`.
"""

import json
import math
import os
import sys

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def same(a, b):
    """Equal values, with floats compared exactly but ints/bools/strings kept apart."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b) \
            and isinstance(a, float) == isinstance(b, float)
    return a == b


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "tmp", "tune_optuna_check")
    path = os.path.join(d, "study.journal")
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)

    storage = JournalStorage(JournalFileBackend(path))
    study = optuna.load_study(study_name=exp["study"], storage=storage)
    errors = []

    want_dir = optuna.study.StudyDirection.MINIMIZE if exp["direction"] == "minimize" \
        else optuna.study.StudyDirection.MAXIMIZE
    if study.direction != want_dir:
        errors.append(f"direction {study.direction} != {want_dir}")

    best = study.best_trial
    if best.number != exp["best_number"]:
        errors.append(f"best trial {best.number} != {exp['best_number']}")
    if study.best_value != exp["best_value"]:
        errors.append(f"best value {study.best_value!r} != {exp['best_value']!r}")
    if set(study.best_params) != set(exp["best_params"]):
        errors.append(f"best param names {sorted(study.best_params)} != {sorted(exp['best_params'])}")
    for k, v in exp["best_params"].items():
        if not same(study.best_params.get(k), v):
            errors.append(f"best param {k}: optuna {study.best_params.get(k)!r} != ammc {v!r}")

    trials = study.get_trials(deepcopy=False)
    if len(trials) != len(exp["trials"]):
        errors.append(f"{len(trials)} trials != {len(exp['trials'])}")
    for t, e in zip(trials, exp["trials"]):
        if t.number != e["number"] or t.state.name != e["state"]:
            errors.append(f"trial {t.number}: {t.state.name} != #{e['number']} {e['state']}")
        if e["value"] is not None and t.value != e["value"]:
            errors.append(f"trial {t.number}: value {t.value!r} != {e['value']!r}")
        for k, v in e["params"].items():
            if not same(t.params.get(k), v):
                errors.append(f"trial {t.number}: {k} {t.params.get(k)!r} != {v!r}")
        inter = {int(s): v for s, v in e["intermediate"]}
        if t.intermediate_values != inter:
            errors.append(f"trial {t.number}: intermediate {t.intermediate_values} != {inter}")

    counts = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    print(f"optuna {optuna.__version__}: {len(trials)} trials {counts}")
    print(f"best trial #{best.number} value {study.best_value!r}")
    print(f"best params {study.best_params}")
    if errors:
        print("MISMATCH:")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("OK: Optuna reads the same trials, best value and best params as ammc")


if __name__ == "__main__":
    main()
