"""ammc's classic-control environments have Gymnasium's dynamics: for CartPole-v1,
MountainCar-v0 and Acrobot-v1 (book and nips), `ammc inspect FILE ENV --rollout
ACTIONS.json --state S0.json` is replayed through Gymnasium from the same physical state
(`env.unwrapped.state`) with the same actions, and every observation (within 1e-6 of
Gymnasium's float64 state, before its float32 rounding),
reward, `terminated` and `truncated` is compared. Action sequences: random ones, and one
from a policy that reaches the goal (so termination is compared), and the time limit is
compared with its default and with `max_steps`. Reset distributions are compared in
distribution only (bounds and mean of many seeded resets).
Usage: python3 tests/python/check_rollouts.py path/to/ammc   (needs gymnasium, numpy)"""
import json
import os
import subprocess
import sys
import tempfile

import gymnasium as gym
import numpy as np

ammc = sys.argv[1]
TOL = 1e-6

# (ammc call, Gymnasium id, attributes set on env.unwrapped, a goal-reaching policy)
ENVS = [
    ("cartpole()", "CartPole-v1", {},
     lambda s: 1 if s[2] + 0.5 * s[3] > 0 else 0),
    ("mountain_car()", "MountainCar-v0", {},
     lambda s: 2 if s[1] >= 0 else 0),
    ("acrobot()", "Acrobot-v1", {},
     lambda s: 2 if s[3] >= 0 else 0),
    ("acrobot(nips = true)", "Acrobot-v1", {"book_or_nips": "nips"},
     lambda s: 2 if s[3] >= 0 else 0),
]


def ours(d, call, actions, state=None, seed=0):
    amm, acts, s0 = f"{d}/env.amm", f"{d}/actions.json", f"{d}/s0.json"
    open(amm, "w").write(f"env e = {call}\n")
    json.dump([int(a) for a in actions], open(acts, "w"))
    args = [ammc, "inspect", amm, "e", "--rollout", acts, "--seed", str(seed)]
    if state is not None:
        json.dump([float(v) for v in state], open(s0, "w"))
        args += ["--state", s0]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, (call, out.stderr)
    return json.loads(out.stdout)


def obs64(env_id, state):
    """The observation in float64 (Gymnasium returns it rounded to float32, whose rounding
    alone is up to 1e-6 for Acrobot's velocities; ammc keeps f64)."""
    s = np.array(state, dtype=np.float64)
    if env_id.startswith("Acrobot"):
        return np.array([np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]])
    return s


def theirs(env_id, attrs, state, actions, max_steps=None):
    kwargs = {} if max_steps is None else {"max_episode_steps": max_steps}
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    for k, v in attrs.items():
        setattr(env.unwrapped, k, v)
    env.unwrapped.state = np.array(state, dtype=np.float64)
    steps = []
    for a in actions:
        _, r, term, trunc, _ = env.step(int(a))
        steps.append((obs64(env_id, env.unwrapped.state), r, term, trunc))
        if term or trunc:
            break
    return env, steps


def compare(label, got, want):
    assert len(got["steps"]) == len(want), (label, len(got["steps"]), len(want))
    worst = 0.0
    for i, (g, (obs, r, term, trunc)) in enumerate(zip(got["steps"], want)):
        diff = float(np.max(np.abs(np.array(g["observation"]) - obs)))
        worst = max(worst, diff)
        assert diff <= TOL, (label, i, g["observation"], obs)
        assert g["reward"] == float(r), (label, i, g["reward"], r)
        assert g["terminated"] == term and g["truncated"] == trunc, (label, i, g, term, trunc)
    return worst


rng = np.random.default_rng(14)
with tempfile.TemporaryDirectory() as d:
    for call, env_id, attrs, policy in ENVS:
        n_actions = gym.make(env_id).action_space.n
        limit = gym.make(env_id).spec.max_episode_steps
        worst, steps, ends = 0.0, 0, set()
        for trial in range(12):
            # A start from Gymnasium's own reset, then random or goal-seeking actions.
            env = gym.make(env_id)
            env.reset(seed=trial)
            for k, v in attrs.items():
                setattr(env.unwrapped, k, v)
            s0 = [float(v) for v in env.unwrapped.state]
            if trial % 3 == 0:
                actions = []
                while True:
                    a = policy(env.unwrapped.state)
                    actions.append(a)
                    _, _, term, trunc, _ = env.step(a)
                    if term or trunc:
                        break
            else:
                actions = rng.integers(0, n_actions, size=limit + 5).tolist()
            max_steps = 25 if trial % 3 == 2 else None
            c = call if max_steps is None else (
                call.replace("()", f"(max_steps = {max_steps})") if call.endswith("()")
                else call.replace(")", f", max_steps = {max_steps})"))
            got = ours(d, c, actions, s0)
            assert got["initial_state"] == s0, (c, got["initial_state"], s0)
            _, want = theirs(env_id, attrs, s0, actions, max_steps)
            worst = max(worst, compare(f"{c} trial {trial}", got, want))
            steps += len(want)
            last = want[-1]
            ends.add("terminated" if last[2] else "truncated" if last[3] else "cut")
        assert "terminated" in ends and "truncated" in ends, (call, ends)
        # Reset distribution: in Gymnasium's bounds, centred like Gymnasium's.
        starts = np.array([ours(d, call, [], None, seed)["initial_state"] for seed in range(60)])
        gym_starts = []
        for seed in range(300):
            e = gym.make(env_id)
            e.reset(seed=seed)
            gym_starts.append(np.array(e.unwrapped.state, dtype=np.float64))
        gym_starts = np.array(gym_starts)
        lo, hi = gym_starts.min(axis=0), gym_starts.max(axis=0)
        span = np.maximum(hi - lo, 1e-12)
        assert np.all(starts >= lo - 0.02 * span) and np.all(starts <= hi + 0.02 * span), (call, starts.min(0), starts.max(0), lo, hi)
        assert np.all(np.abs(starts.mean(0) - gym_starts.mean(0)) <= 0.2 * span + 1e-12), (call, starts.mean(0), gym_starts.mean(0))
        print(f"{call:25} == {env_id} {attrs}: {steps} steps identical within {worst:.1e}, ends {sorted(ends)}, resets in distribution")
print("rollouts: all trajectories match")
