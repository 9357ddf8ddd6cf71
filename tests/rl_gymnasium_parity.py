#!/usr/bin/env python3
"""Compare ammc's RL environments with Gymnasium's.

Usage: python3 tests/rl_gymnasium_parity.py DIR

DIR is written by `cargo test --test rl_parity_dump` (default `target/tmp/rl_parity`). It holds
our transition tables in Gymnasium's `P` layout (`{state: {action: [[prob, next, reward,
terminated], ...]}}`, the same JSON that `ammc inspect FILE ENV --transitions` prints), a
manifest naming the Gymnasium id / kwargs / time limit / start states of each, and CartPole
trajectories (initial state + action sequence + our state after every step).

Checks, for every table: same states, same actions, same number and order of outcomes, same
next states, rewards and termination flags, probabilities equal (reported: exact or max
difference); same `max_episode_steps`; same support of the initial-state distribution
(every one of these environments starts uniformly over it). For CartPole: Gymnasium's
float64 internal state `env.unwrapped.state`, started from our initial state and fed our
actions, equals ours after every step (tolerance 1e-9, max difference reported) and
terminates at the same step. Exit status 0 iff everything matches.
"""

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

PROB_TOL = 1e-12
STATE_TOL = 1e-9


def compare_table(ours, gym_p, name):
    errors = []
    max_prob_diff = 0.0
    exact = True
    if sorted(int(s) for s in ours) != sorted(gym_p):
        return [f"{name}: state sets differ"], 0.0, False
    for s, actions in gym_p.items():
        ours_s = ours[str(s)]
        if sorted(int(a) for a in ours_s) != sorted(actions):
            errors.append(f"{name}: P[{s}] action sets differ")
            continue
        for a, outs in actions.items():
            mine = ours_s[str(a)]
            if len(mine) != len(outs):
                errors.append(f"{name}: P[{s}][{a}] has {len(mine)} outcomes, gymnasium {len(outs)}")
                continue
            for k, (m, g) in enumerate(zip(mine, outs)):
                gp, gs, gr, gt = g
                mp, ms, mr, mt = m
                diff = abs(mp - float(gp))
                max_prob_diff = max(max_prob_diff, diff)
                exact &= mp == float(gp)
                if diff > PROB_TOL or ms != int(gs) or mr != float(gr) or mt != bool(gt):
                    errors.append(f"{name}: P[{s}][{a}][{k}] ours {m} gymnasium {g}")
    return errors, max_prob_diff, exact


def check_tables(root, manifest):
    failures = []
    for entry in manifest["tables"]:
        ours = json.loads((root / entry["file"]).read_text())
        env = gym.make(entry["gym_id"], **entry["kwargs"])
        base = env.unwrapped
        errors, max_diff, exact = compare_table(ours, base.P, entry["file"])
        limit = env.spec.max_episode_steps
        if limit != entry["max_steps"]:
            errors.append(f"{entry['file']}: max_episode_steps gymnasium {limit} ours {entry['max_steps']}")
        support = sorted(int(i) for i in np.flatnonzero(base.initial_state_distrib))
        probs = base.initial_state_distrib[support]
        if support != sorted(entry["start_states"]) or not np.allclose(probs, probs[0]):
            errors.append(f"{entry['file']}: initial-state distribution differs")
        n_out = sum(len(o) for acts in base.P.values() for o in acts.values())
        status = "OK  " if not errors else "FAIL"
        print(f"{status} {entry['file']:<32} {entry['gym_id']:<24} states={len(base.P):<4} "
              f"outcomes={n_out:<5} probs {'bit-exact' if exact else f'max diff {max_diff:.1e}'} "
              f"limit={limit} starts={len(support)}")
        for e in errors[:10]:
            print("     ", e)
        failures += errors
    return failures


def check_cartpole(root, manifest):
    failures = []
    trajectories = json.loads((root / manifest["cartpole"]).read_text())
    env = gym.make("CartPole-v1").unwrapped
    worst = 0.0
    for t in trajectories:
        before = len(failures)
        env.reset(seed=0)
        env.state = np.array(t["initial_state"], dtype=np.float64)
        env.steps_beyond_terminated = None
        for i, (a, ours, ours_term) in enumerate(zip(t["actions"], t["states"], t["terminated"])):
            _, reward, terminated, _, _ = env.step(a)
            diff = float(np.max(np.abs(np.asarray(env.state) - np.asarray(ours))))
            worst = max(worst, diff)
            if diff > STATE_TOL or terminated != ours_term or reward != 1.0:
                failures.append(f"cartpole seed {t['seed']} step {i}: state diff {diff:.2e}, "
                                f"terminated gymnasium {terminated} ours {ours_term}")
                break
        kind = "controller" if t["controller"] else "random"
        print(f"{'OK  ' if len(failures) == before else 'FAIL'} cartpole {kind:<10} seed {t['seed']:<3} "
              f"steps={len(t['actions']):<3} terminated={t['terminated'][-1]}")
    print(f"     cartpole max |state difference| over all steps: {worst:.3e}")
    return failures


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/tmp/rl_parity")
    manifest = json.loads((root / "manifest.json").read_text())
    print(f"gymnasium {gym.__version__}, files from {root}")
    failures = check_tables(root, manifest) + check_cartpole(root, manifest)
    print("PARITY OK" if not failures else f"PARITY FAILED ({len(failures)} problems)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
