//! Monte Carlo tree search (UCT) with the environment as its own simulator: before every
//! real step, `simulations` walks from a copy of the current state select actions by UCB1,
//! add one node, finish with a rollout (random, or greedy on a Q-table) to the depth limit,
//! and back the discounted return up the path. The real action is the root's most visited.
//!
//! Values are normalised to [0, 1] by the smallest and largest returns seen in the tree
//! before the exploration bonus is added, so one `exploration` constant suits rewards of
//! any scale (CartPole's +1 per step as well as FrozenLake's 0/1).
//!
//! Stochastic outcomes (a slippery lake) get one child per next state under each action
//! (a closed-loop tree); a deterministic simulator has one. Determinism: every tree's
//! random stream is derived from (seed, episode, step, tree); with `trees = k` the k trees
//! of a step are searched in parallel and their root counts summed in tree order, so the
//! result does not depend on the number of threads.

use rayon::prelude::*;

use crate::rl::env::{CompiledTable, ControlEnv};
use crate::rl::rng::Rng;

/// A simulator MCTS can copy and step.
pub trait Simulator: Send + Sync {
    /// The state a search starts from (cheap to clone).
    type State: Clone + Send + Sync;
    /// Number of actions.
    fn n_actions(&self) -> usize;
    /// Takes `action` from `state`; returns (reward, terminated, key of the next state
    /// among the outcomes of this action: 0 for a deterministic simulator).
    fn step(&self, state: &mut Self::State, action: u32, rng: &mut Rng) -> (f64, bool, u64);
}

/// A tabular environment's table: the state is its number.
pub struct TableSim<'a>(pub &'a CompiledTable, pub usize);

impl Simulator for TableSim<'_> {
    type State = u32;
    fn n_actions(&self) -> usize {
        self.1
    }
    #[inline]
    fn step(&self, state: &mut u32, action: u32, rng: &mut Rng) -> (f64, bool, u64) {
        let o = self.0.step(*state, action, rng);
        *state = o.next;
        (o.reward, o.terminated, u64::from(o.next))
    }
}

/// A classic-control environment: deterministic dynamics, the state is the whole env.
pub struct ControlSim(pub usize);

impl Simulator for ControlSim {
    type State = ControlEnv;
    fn n_actions(&self) -> usize {
        self.0
    }
    #[inline]
    fn step(&self, state: &mut ControlEnv, action: u32, _rng: &mut Rng) -> (f64, bool, u64) {
        let s = state.step(action);
        (s.reward, s.terminated, 0)
    }
}

/// How a simulation finishes below the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Rollout {
    /// Uniformly random actions.
    Random,
    /// Greedy on a Q-table (`q[state * n_actions + a]`), tabular environments only.
    Greedy(Vec<f64>),
}

/// MCTS settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MctsConfig {
    /// Simulations per real step (per tree).
    pub simulations: u32,
    /// UCB1 exploration constant (on values normalised to [0, 1]).
    pub exploration: f64,
    /// Steps a simulation looks ahead (tree and rollout together).
    pub depth: u32,
    /// Discount of the simulated returns.
    pub gamma: f64,
    /// Rollout policy.
    pub rollout: Rollout,
    /// Independent trees per step, searched in parallel (root parallelisation).
    pub trees: u32,
}

#[derive(Clone, Default)]
struct Edge {
    visits: u32,
    total: f64,
    /// (outcome key, child node).
    children: Vec<(u64, u32)>,
}

struct Node {
    visits: u32,
    edges: Vec<Edge>,
}

struct Tree {
    nodes: Vec<Node>,
    min: f64,
    max: f64,
}

impl Tree {
    fn new(n_actions: usize) -> Tree {
        Tree {
            nodes: vec![Node {
                visits: 0,
                edges: vec![Edge::default(); n_actions],
            }],
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn normalised(&self, v: f64) -> f64 {
        if self.max > self.min {
            (v - self.min) / (self.max - self.min)
        } else {
            0.5
        }
    }

    /// UCB1 over the node's actions; untried actions first, in a random order.
    fn select(&self, node: usize, c: f64, rng: &mut Rng) -> u32 {
        let n = &self.nodes[node];
        let untried = n.edges.iter().filter(|e| e.visits == 0).count();
        if untried > 0 {
            let k = rng.below(untried as u32) as usize;
            let (a, _) = n
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| e.visits == 0)
                .nth(k)
                .unwrap_or((0, &n.edges[0]));
            return a as u32;
        }
        let ln = f64::from(n.visits.max(1)).ln();
        let mut best = f64::NEG_INFINITY;
        let mut choice = 0u32;
        for (a, e) in n.edges.iter().enumerate() {
            let mean = e.total / f64::from(e.visits);
            let score = self.normalised(mean) + c * (ln / f64::from(e.visits)).sqrt();
            if score > best {
                best = score;
                choice = a as u32;
            }
        }
        choice
    }
}

/// Greedy action of a Q-table row (lowest index on ties).
fn argmax(row: &[f64]) -> u32 {
    let mut best = 0;
    for (a, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = a;
        }
    }
    best as u32
}

/// One tree's search from `root`: per-action visit counts at the root.
fn search<S: Simulator>(
    sim: &S,
    root: &S::State,
    cfg: &MctsConfig,
    rollout_state: &dyn Fn(&S::State) -> Option<usize>,
    rng: &mut Rng,
) -> (Vec<u32>, u64) {
    let na = sim.n_actions();
    let mut tree = Tree::new(na);
    let mut path: Vec<(usize, u32, f64)> = Vec::new();
    let mut steps = 0u64;
    for _ in 0..cfg.simulations {
        let mut state = root.clone();
        let mut node = 0usize;
        let mut depth = 0u32;
        let mut ended = false;
        path.clear();
        // Selection and expansion.
        while depth < cfg.depth {
            let a = tree.select(node, cfg.exploration, rng);
            let (r, terminated, key) = sim.step(&mut state, a, rng);
            steps += 1;
            depth += 1;
            path.push((node, a, r));
            if terminated {
                ended = true;
                break;
            }
            let edge = &tree.nodes[node].edges[a as usize];
            match edge.children.iter().find(|(k, _)| *k == key) {
                Some(&(_, child)) => node = child as usize,
                None => {
                    let child = tree.nodes.len() as u32;
                    tree.nodes.push(Node {
                        visits: 0,
                        edges: vec![Edge::default(); na],
                    });
                    tree.nodes[node].edges[a as usize]
                        .children
                        .push((key, child));
                    break;
                }
            }
        }
        // Rollout from the new node to the depth limit.
        let mut tail = 0.0;
        let mut discount = 1.0;
        if !ended {
            while depth < cfg.depth {
                let a = match (&cfg.rollout, rollout_state(&state)) {
                    (Rollout::Greedy(q), Some(s)) => argmax(&q[s * na..(s + 1) * na]),
                    _ => rng.below(na as u32),
                };
                let (r, terminated, _) = sim.step(&mut state, a, rng);
                steps += 1;
                depth += 1;
                tail += discount * r;
                discount *= cfg.gamma;
                if terminated {
                    break;
                }
            }
        }
        // Backup: the return from each node of the path.
        let mut g = tail;
        for &(n, a, r) in path.iter().rev() {
            g = r + cfg.gamma * g;
            let node = &mut tree.nodes[n];
            node.visits += 1;
            let e = &mut node.edges[a as usize];
            e.visits += 1;
            e.total += g;
            let mean = e.total / f64::from(e.visits);
            tree.min = tree.min.min(mean);
            tree.max = tree.max.max(mean);
        }
    }
    (
        tree.nodes[0].edges.iter().map(|e| e.visits).collect(),
        steps,
    )
}

/// The action MCTS takes in `state`, and the simulator steps it spent. `stream` seeds the
/// trees (one derived stream per tree).
pub fn act<S: Simulator>(
    sim: &S,
    state: &S::State,
    cfg: &MctsConfig,
    rollout_state: &(dyn Fn(&S::State) -> Option<usize> + Sync),
    stream: u64,
) -> (u32, u64) {
    let trees = cfg.trees.max(1);
    let results: Vec<(Vec<u32>, u64)> = (0..trees)
        .into_par_iter()
        .map(|t| {
            let mut rng =
                Rng::seed_from_u64(stream ^ (u64::from(t) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            search(sim, state, cfg, rollout_state, &mut rng)
        })
        .collect();
    let na = sim.n_actions();
    let mut counts = vec![0u64; na];
    let mut steps = 0;
    for (c, s) in &results {
        for (t, &v) in counts.iter_mut().zip(c) {
            *t += u64::from(v);
        }
        steps += s;
    }
    let mut best = 0;
    for a in 1..na {
        if counts[a] > counts[best] {
            best = a;
        }
    }
    (best as u32, steps)
}
