"""Opens an ammc study journal with Optuna and checks it agrees with ammc's best.json.

usage: python check_optuna.py RUN_DIR/TUNE_NAME   (the directory with study.journal, best.json)

Pruned trials (if any) must be PRUNED in Optuna too, carry the intermediate values ammc
reported, and have their last intermediate value as value (Optuna's own convention).
"""
import json
import math
import os
import sys

import optuna


def main(path: str) -> int:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(f"{path}/study.journal")
    )
    best = json.load(open(f"{path}/best.json"))
    study = optuna.load_study(study_name=best["study"], storage=storage)
    states = optuna.trial.TrialState
    complete = [t for t in study.trials if t.state == states.COMPLETE]
    assert len(complete) == best["complete"], (len(complete), best["complete"])
    pruned = [t for t in study.trials if t.state == states.PRUNED]
    assert len(pruned) == best.get("pruned", 0), (len(pruned), best.get("pruned"))
    for t in pruned:
        assert t.intermediate_values, t
        last = t.intermediate_values[max(t.intermediate_values)]
        assert t.value == last, (t.number, t.value, last)
    assert study.direction.name.lower() == best["direction"], study.direction
    # Times: Optuna reads them into local time; without a UTC offset in the journal they would
    # be off by the machine's offset (CI runs this with TZ set far from UTC).
    written = os.path.getmtime(f"{path}/study.journal")
    for t in study.trials:
        for stamp in (t.datetime_start, t.datetime_complete):
            if stamp is not None:
                assert abs(stamp.timestamp() - written) < 1800, (t.number, stamp, written)
    ours = best["best"]
    assert math.isclose(study.best_value, ours["value"], rel_tol=0, abs_tol=0), (
        study.best_value,
        ours["value"],
    )
    assert study.best_trial.number == ours["number"], (study.best_trial.number, ours["number"])
    assert study.best_params == ours["params"], (study.best_params, ours["params"])
    print(
        f"ok: {best['study']}: {len(study.trials)} trials ({len(complete)} complete, "
        f"{len(pruned)} pruned), best value {study.best_value} at {study.best_params} "
        f"(trial {study.best_trial.number})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
