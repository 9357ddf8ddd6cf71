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
    /// With a greedy rollout table: steps played before the table's value `max_a Q(s, a)`
    /// stands in for the rest of the simulation (0: leaves are evaluated by the table
    /// alone; `None`: play to the depth limit). A cut by the episode's time limit adds
    /// nothing: there is no future after it.
    pub rollout_steps: Option<u32>,
    /// Independent trees per step, searched in parallel (root parallelisation).
    pub trees: u32,
    /// How returns are backed up the tree.
    pub backup: Backup,
    /// With a rollout table: every new node's actions start from the table's values, as
    /// this many simulations each (UCT with prior knowledge, Gelly & Silver 2007); 0 = off.
    pub prior_visits: u32,
}

/// How a simulation's return updates the values in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backup {
    /// Classic UCT: an action's value is the mean return of the simulations through it
    /// (those include the exploration below it).
    Mean,
    /// Bellman backups in the tree (DP-UCT, Keller & Helmert 2013): an action's value is its
    /// mean reward plus the discounted values of the outcomes seen, weighted by how often
    /// each was seen; a node's value is its best action's (or, before any action was
    /// tried below it, the rollout's estimate). Exploration below a node no longer drags
    /// its value down, so on stochastic environments it needs far fewer simulations.
    Bellman,
}

#[derive(Clone, Default)]
struct Edge {
    visits: u32,
    /// Sum of the returns backed up through this edge (`Backup::Mean`).
    total: f64,
    /// Sum of the immediate rewards (`Backup::Bellman`).
    rewards: f64,
    /// The action's value: the mean return, or the Bellman value.
    value: f64,
    /// Virtual visits of a prior value from the rollout table (counted in `visits`).
    prior_n: u32,
    /// That prior value.
    prior: f64,
    /// Outcomes seen: key, child node (`TERMINAL` for an outcome that ended the episode),
    /// and how often.
    children: Vec<Outcome>,
}

#[derive(Clone, Copy)]
struct Outcome {
    key: u64,
    child: u32,
    count: u32,
}

/// The child of an outcome that ended the episode: it has no future.
const TERMINAL: u32 = u32::MAX;

struct Node {
    visits: u32,
    edges: Vec<Edge>,
    /// The estimate of the rollout that expanded this node (its value until an action
    /// below it has been tried).
    leaf: f64,
}

impl Node {
    fn new(n_actions: usize, leaf: f64) -> Node {
        Node {
            visits: 0,
            edges: vec![Edge::default(); n_actions],
            leaf,
        }
    }

    /// A node whose actions start from the table's values, as `weight` visits each.
    fn with_prior(row: Option<&[f64]>, n_actions: usize, weight: u32) -> Node {
        let mut node = Node::new(n_actions, 0.0);
        if let Some(row) = row
            && weight > 0
        {
            for (e, &q) in node.edges.iter_mut().zip(row) {
                e.visits = weight;
                e.prior_n = weight;
                e.prior = q;
                e.value = q;
                e.total = q * f64::from(weight);
            }
            node.visits = weight * n_actions as u32;
            node.leaf = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        }
        node
    }

    /// The node's value under Bellman backups.
    fn value(&self) -> f64 {
        let best = self
            .edges
            .iter()
            .filter(|e| e.visits > 0)
            .map(|e| e.value)
            .fold(f64::NEG_INFINITY, f64::max);
        if best == f64::NEG_INFINITY {
            self.leaf
        } else {
            best
        }
    }
}

struct Tree {
    nodes: Vec<Node>,
    min: f64,
    max: f64,
}

impl Tree {
    fn new(n_actions: usize) -> Tree {
        Tree {
            nodes: vec![Node::new(n_actions, 0.0)],
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
            let score = self.normalised(e.value) + c * (ln / f64::from(e.visits)).sqrt();
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

/// One tree's search from `root`, looking at most `depth` steps ahead: per-action visit
/// counts at the root.
fn search<S: Simulator>(
    sim: &S,
    root: &S::State,
    cfg: &MctsConfig,
    depth_limit: u32,
    time_left: u32,
    rollout_state: &dyn Fn(&S::State) -> Option<usize>,
    rng: &mut Rng,
) -> (Vec<u32>, u64) {
    let na = sim.n_actions();
    let table_row = |st: &S::State| match (&cfg.rollout, rollout_state(st)) {
        (Rollout::Greedy(q), Some(s)) => Some(&q[s * na..(s + 1) * na]),
        _ => None,
    };
    let mut tree = Tree::new(na);
    tree.nodes[0] = Node::with_prior(table_row(root), na, cfg.prior_visits);
    // (node, action, reward, index of the outcome in the edge's children).
    let mut path: Vec<(usize, u32, f64, usize)> = Vec::new();
    let mut steps = 0u64;
    for _ in 0..cfg.simulations {
        let mut state = root.clone();
        let mut node = 0usize;
        let mut depth = 0u32;
        let mut ended = false;
        let mut expanded = None;
        path.clear();
        // Selection and expansion.
        while depth < depth_limit {
            let a = tree.select(node, cfg.exploration, rng);
            let (r, terminated, key) = sim.step(&mut state, a, rng);
            steps += 1;
            depth += 1;
            let next_node = tree.nodes.len() as u32;
            let edge = &mut tree.nodes[node].edges[a as usize];
            let found = edge.children.iter().position(|o| o.key == key);
            let (k, child) = match found {
                Some(k) => (k, edge.children[k].child),
                None => {
                    let child = if terminated { TERMINAL } else { next_node };
                    edge.children.push(Outcome {
                        key,
                        child,
                        count: 0,
                    });
                    (edge.children.len() - 1, child)
                }
            };
            path.push((node, a, r, k));
            if terminated {
                ended = true;
                break;
            }
            if found.is_none() {
                tree.nodes
                    .push(Node::with_prior(table_row(&state), na, cfg.prior_visits));
                expanded = Some(child as usize);
                break;
            }
            node = child as usize;
        }
        // Rollout from the new node to the depth limit (or `rollout_steps` greedy steps,
        // then the table's value of where it stopped).
        let mut tail = 0.0;
        let mut discount = 1.0;
        if !ended {
            let mut played = 0u32;
            let cut = cfg.rollout_steps.unwrap_or(u32::MAX);
            while depth < depth_limit && played < cut {
                let a = match (&cfg.rollout, rollout_state(&state)) {
                    (Rollout::Greedy(q), Some(s)) => argmax(&q[s * na..(s + 1) * na]),
                    _ => rng.below(na as u32),
                };
                let (r, terminated, _) = sim.step(&mut state, a, rng);
                steps += 1;
                depth += 1;
                played += 1;
                tail += discount * r;
                discount *= cfg.gamma;
                if terminated {
                    ended = true;
                    break;
                }
            }
            // Bootstrap from the table where the simulation was cut short of the episode's
            // time limit.
            if !ended
                && depth < time_left
                && let (Rollout::Greedy(q), Some(s)) = (&cfg.rollout, rollout_state(&state))
            {
                let row = &q[s * na..(s + 1) * na];
                tail += discount * row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            }
        }
        if let Some(n) = expanded {
            tree.nodes[n].leaf = tail;
        }
        // Backup, from the bottom of the path up.
        let mut g = tail;
        for &(n, a, r, k) in path.iter().rev() {
            g = r + cfg.gamma * g;
            let value = match cfg.backup {
                Backup::Mean => {
                    let e = &mut tree.nodes[n].edges[a as usize];
                    e.total += g;
                    e.children[k].count += 1;
                    e.total / f64::from(e.visits + 1)
                }
                Backup::Bellman => {
                    let e = &mut tree.nodes[n].edges[a as usize];
                    e.rewards += r;
                    e.children[k].count += 1;
                    let e = &tree.nodes[n].edges[a as usize];
                    let seen = f64::from(e.visits + 1);
                    let future: f64 = e
                        .children
                        .iter()
                        .filter(|o| o.child != TERMINAL)
                        .map(|o| f64::from(o.count) * tree.nodes[o.child as usize].value())
                        .sum();
                    (f64::from(e.prior_n) * e.prior + e.rewards + cfg.gamma * future) / seen
                }
            };
            let node = &mut tree.nodes[n];
            node.visits += 1;
            let e = &mut node.edges[a as usize];
            e.visits += 1;
            e.value = value;
            tree.min = tree.min.min(value);
            tree.max = tree.max.max(value);
        }
    }
    (
        tree.nodes[0].edges.iter().map(|e| e.visits).collect(),
        steps,
    )
}

/// The action MCTS takes in `state` with `steps_left` steps before the episode's time
/// limit, and the simulator steps it spent. Simulations look `depth` steps ahead, but never
/// past the time limit: a plan that needs more steps than are left is worth nothing, and
/// only a search that knows it can prefer a quick risky route near the end of an episode.
/// `stream` seeds the trees (one derived stream per tree).
pub fn act<S: Simulator>(
    sim: &S,
    state: &S::State,
    cfg: &MctsConfig,
    steps_left: u32,
    rollout_state: &(dyn Fn(&S::State) -> Option<usize> + Sync),
    stream: u64,
) -> (u32, u64) {
    let trees = cfg.trees.max(1);
    let depth = cfg.depth.min(steps_left).max(1);
    let results: Vec<(Vec<u32>, u64)> = (0..trees)
        .into_par_iter()
        .map(|t| {
            let mut rng =
                Rng::seed_from_u64(stream ^ (u64::from(t) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            search(sim, state, cfg, depth, steps_left, rollout_state, &mut rng)
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
