"""ammc's discrete environments have exactly Gymnasium's transition tables: `ammc inspect
FILE ENV --transitions` is compared entry by entry with `env.unwrapped.P` for FrozenLake
4x4/8x8 (slippery and not), CliffWalking and Taxi, and the initial-state distributions and
time limits are compared too. Also checks a qtable.npy written by `ammc run` loads in NumPy.
Usage: python3 tests/python/check_gymnasium.py path/to/ammc   (needs gymnasium, numpy)"""
import json
import subprocess
import sys
import tempfile

import gymnasium as gym
import numpy as np

ammc = sys.argv[1]

CASES = [
    ("frozen_lake(map = \"4x4\", slippery = true)", "FrozenLake-v1", {"map_name": "4x4", "is_slippery": True}, 100),
    ("frozen_lake(map = \"4x4\", slippery = false)", "FrozenLake-v1", {"map_name": "4x4", "is_slippery": False}, 100),
    ("frozen_lake(map = \"8x8\", slippery = true)", "FrozenLake8x8-v1", {"map_name": "8x8", "is_slippery": True}, 200),
    ("frozen_lake(map = \"8x8\", slippery = false)", "FrozenLake8x8-v1", {"map_name": "8x8", "is_slippery": False}, 200),
    ("cliff_walking()", "CliffWalking-v1", {}, None),
    ("taxi()", "Taxi-v3" if "Taxi-v3" in gym.registry else "Taxi-v4", {}, 200),
]


def inspect(d, call, flag=True):
    path = f"{d}/env.amm"
    open(path, "w").write(f"env e = {call}\n")
    args = [ammc, "inspect", path, "e"] + (["--transitions"] if flag else [])
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, (call, out.stderr)
    return out.stdout


with tempfile.TemporaryDirectory() as d:
    for call, env_id, kwargs, limit in CASES:
        env = gym.make(env_id, **kwargs)
        ours = json.loads(inspect(d, call))
        theirs = env.unwrapped.P
        assert len(ours) == len(theirs), (call, len(ours), len(theirs))
        entries = 0
        for s, actions in theirs.items():
            mine = ours[str(s)]
            assert len(mine) == len(actions), (call, s)
            for a, outcomes in actions.items():
                got = mine[str(a)]
                assert len(got) == len(outcomes), (call, s, a, got, outcomes)
                for (p, ns, r, t), (gp, gns, gr, gt) in zip(outcomes, got):
                    assert gp == float(p) and gns == int(ns) and gr == float(r) and gt == bool(t), (
                        call, s, a, (p, ns, r, t), (gp, gns, gr, gt))
                    entries += 1
        assert env.spec.max_episode_steps == limit, (call, env.spec.max_episode_steps, limit)
        desc = inspect(d, call, flag=False)
        assert f"time limit {limit if limit is not None else 'none'}" in desc, desc
        print(f"{call:45} == {env_id} {kwargs}: {len(ours)} states, {entries} outcomes identical, limit {limit}")

    # Taxi's initial distribution: uniform over passenger at a stand != destination.
    env = gym.make("Taxi-v3" if "Taxi-v3" in gym.registry else "Taxi-v4").unwrapped
    starts = {int(env.reset(seed=i)[0]) for i in range(3000)}
    allowed = {s for s in range(500) if env.initial_state_distrib[s] > 0}
    assert starts <= allowed and len(allowed) == 300, (len(starts), len(allowed))
    print(f"taxi: Gymnasium's initial distribution has {len(allowed)} states (ours: passenger at a stand != destination, 300)")

    # A Q-table written by `ammc run` is a float64 [states, actions] array.
    path = f"{d}/lake.amm"
    open(path, "w").write(
        'env lake = frozen_lake()\nagent a = q_learning(env = lake) { episodes = 200 eval_episodes = 10 }\n')
    out = subprocess.run([ammc, "run", path, "--quiet", "--out", f"{d}/runs"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    q = np.load(f"{d}/runs/a/qtable.npy")
    assert q.dtype == np.float64 and q.shape == (16, 4), (q.dtype, q.shape)
    print(f"qtable.npy: {q.dtype} {q.shape}, loads in NumPy")
print("gymnasium: all tables match")
