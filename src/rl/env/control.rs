//! The classic-control environments (`cartpole`, `mountain_car`, `acrobot`) behind one
//! type: a continuous observation, a few discrete actions, a time limit. Tabular agents see
//! them through a [`crate::rl::episodic::Discretizer`]; a `dqn` agent sees the observation.

use super::acrobot::{self, Acrobot, Dynamics};
use super::cartpole::{self, CartPole};
use super::mountain_car::{self, MountainCar};
use crate::rl::error::RlError;
use crate::rl::rng::Rng;

/// Which classic-control environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    /// Gymnasium `CartPole-v1`.
    CartPole,
    /// Gymnasium `MountainCar-v0`.
    MountainCar,
    /// Gymnasium `Acrobot-v1` with the given θ̈₂ equation.
    Acrobot(Dynamics),
}

/// A classic-control environment with its time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlSpec {
    /// Which one.
    pub kind: ControlKind,
    /// Episodes are truncated after this many steps.
    pub max_steps: u32,
}

/// What one step produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControlStep {
    /// Reward.
    pub reward: f64,
    /// The episode ended in a terminal state (not by the time limit).
    pub terminated: bool,
}

impl ControlKind {
    /// The builtin's name.
    pub fn name(self) -> &'static str {
        match self {
            ControlKind::CartPole => "cartpole",
            ControlKind::MountainCar => "mountain_car",
            ControlKind::Acrobot(_) => "acrobot",
        }
    }

    /// Gymnasium's registered time limit.
    pub fn default_max_steps(self) -> u32 {
        match self {
            ControlKind::CartPole => cartpole::MAX_STEPS,
            ControlKind::MountainCar => mountain_car::MAX_STEPS,
            ControlKind::Acrobot(_) => acrobot::MAX_STEPS,
        }
    }

    /// Length of the observation vector.
    pub fn obs_dim(self) -> usize {
        self.bounds().len()
    }

    /// Number of actions.
    pub fn n_actions(self) -> usize {
        match self {
            ControlKind::CartPole => 2,
            ControlKind::MountainCar | ControlKind::Acrobot(_) => 3,
        }
    }

    /// Length of the physical state (what `--state` sets).
    pub fn state_dim(self) -> usize {
        match self {
            ControlKind::CartPole | ControlKind::Acrobot(_) => 4,
            ControlKind::MountainCar => 2,
        }
    }

    /// Observation ranges `(low, high)` used to discretise for tabular agents: Gymnasium's
    /// observation space, except CartPole's unbounded velocities (see
    /// [`crate::rl::episodic::CARTPOLE_BOUNDS`]).
    pub fn bounds(self) -> &'static [(f64, f64)] {
        match self {
            ControlKind::CartPole => &crate::rl::episodic::CARTPOLE_BOUNDS,
            ControlKind::MountainCar => &mountain_car::BOUNDS,
            ControlKind::Acrobot(_) => &acrobot::BOUNDS,
        }
    }

    /// Names of the observation components, for messages.
    pub fn obs_names(self) -> &'static str {
        match self {
            ControlKind::CartPole => "x, velocity, angle, angular velocity",
            ControlKind::MountainCar => "position, velocity",
            ControlKind::Acrobot(_) => "cos θ1, sin θ1, cos θ2, sin θ2, θ1 velocity, θ2 velocity",
        }
    }
}

/// A running classic-control environment.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlEnv {
    /// CartPole.
    CartPole(CartPole),
    /// MountainCar.
    MountainCar(MountainCar),
    /// Acrobot.
    Acrobot(Acrobot),
}

impl ControlEnv {
    /// An environment of `kind` (in an all-zero state until [`ControlEnv::reset`]).
    pub fn new(kind: ControlKind) -> ControlEnv {
        match kind {
            ControlKind::CartPole => ControlEnv::CartPole(CartPole { state: [0.0; 4] }),
            ControlKind::MountainCar => ControlEnv::MountainCar(MountainCar { state: [0.0; 2] }),
            ControlKind::Acrobot(dynamics) => ControlEnv::Acrobot(Acrobot {
                state: [0.0; 4],
                dynamics,
            }),
        }
    }

    /// Starts an episode from Gymnasium's reset distribution.
    #[inline]
    pub fn reset(&mut self, rng: &mut Rng) {
        match self {
            ControlEnv::CartPole(c) => *c = CartPole::reset(rng),
            ControlEnv::MountainCar(m) => *m = MountainCar::reset(rng),
            ControlEnv::Acrobot(a) => *a = Acrobot::reset(rng, a.dynamics),
        }
    }

    /// Takes `action` (an index below the number of actions).
    #[inline]
    pub fn step(&mut self, action: u32) -> ControlStep {
        match self {
            ControlEnv::CartPole(c) => ControlStep {
                reward: 1.0,
                terminated: c.step(action),
            },
            ControlEnv::MountainCar(m) => ControlStep {
                reward: -1.0,
                terminated: m.step(action),
            },
            ControlEnv::Acrobot(a) => {
                let terminated = a.step(action);
                ControlStep {
                    reward: if terminated { 0.0 } else { -1.0 },
                    terminated,
                }
            }
        }
    }

    /// Writes the observation into `out` (length [`ControlKind::obs_dim`]).
    #[inline]
    pub fn observe(&self, out: &mut [f64]) {
        match self {
            ControlEnv::CartPole(c) => out.copy_from_slice(&c.state),
            ControlEnv::MountainCar(m) => out.copy_from_slice(&m.state),
            ControlEnv::Acrobot(a) => out.copy_from_slice(&a.observe()),
        }
    }

    /// The physical state.
    pub fn state(&self) -> &[f64] {
        match self {
            ControlEnv::CartPole(c) => &c.state,
            ControlEnv::MountainCar(m) => &m.state,
            ControlEnv::Acrobot(a) => &a.state,
        }
    }

    /// Sets the physical state (Gymnasium's `env.unwrapped.state = …`), for replaying a
    /// trajectory from a given start.
    pub fn set_state(&mut self, state: &[f64]) -> Result<(), RlError> {
        let want = self.state().len();
        if state.len() != want || state.iter().any(|v| !v.is_finite()) {
            return Err(RlError::State {
                message: format!(
                    "the state has {} values{}, but this environment's state is {want} finite numbers",
                    state.len(),
                    if state.iter().any(|v| !v.is_finite()) {
                        " (not all finite)"
                    } else {
                        ""
                    }
                ),
            });
        }
        match self {
            ControlEnv::CartPole(c) => c.state.copy_from_slice(state),
            ControlEnv::MountainCar(m) => m.state.copy_from_slice(state),
            ControlEnv::Acrobot(a) => a.state.copy_from_slice(state),
        }
        Ok(())
    }
}
