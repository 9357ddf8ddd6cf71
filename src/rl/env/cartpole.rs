//! CartPole-v1 (Gymnasium `classic_control/cartpole.py`): same constants, same Euler
//! integrator, same arithmetic order (so trajectories agree with Gymnasium's float64 state to
//! rounding of `sin`/`cos`), termination at |x| > 2.4 or |theta| > 12°, reward 1 per step
//! including the terminating one, time limit 500.

use crate::rl::error::RlError;
use crate::rl::rng::RlRng;

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
/// Half the pole's length, as in Gymnasium.
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
/// Pole angle (radians) beyond which the episode terminates: 12 degrees.
pub const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// Cart position beyond which the episode terminates.
pub const X_THRESHOLD: f64 = 2.4;
/// Half-width of the uniform initial-state distribution (each of the 4 components).
pub const RESET_BOUND: f64 = 0.05;

/// Configuration of `cartpole(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CartPoleConfig {
    /// Episode step limit; default 500 (CartPole-v1).
    pub max_steps: Option<u32>,
}

impl Default for CartPoleConfig {
    fn default() -> Self {
        CartPoleConfig {
            max_steps: Some(500),
        }
    }
}

impl CartPoleConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), RlError> {
        if self.max_steps == Some(0) {
            return Err(RlError::bad_argument("max_steps", 0, "at least 1"));
        }
        Ok(())
    }
}

/// Cart-pole state `[x, x_dot, theta, theta_dot]` (float64, like Gymnasium's internal
/// `env.unwrapped.state`; Gymnasium's observation is this cast to float32).
pub type CartPoleState = [f64; 4];

/// The cart-pole system.
#[derive(Debug, Clone, PartialEq)]
pub struct CartPole {
    /// Current state.
    pub state: CartPoleState,
}

impl Default for CartPole {
    fn default() -> Self {
        CartPole { state: [0.0; 4] }
    }
}

impl CartPole {
    /// Draws the initial state: each component uniform in `[-0.05, 0.05)`, in the order
    /// x, x_dot, theta, theta_dot.
    pub fn reset(&mut self, rng: &mut RlRng) -> CartPoleState {
        for v in &mut self.state {
            *v = rng.uniform(-RESET_BOUND, RESET_BOUND);
        }
        self.state
    }

    /// Applies action 0 (push left) or 1 (push right, any non-zero action) for one time step.
    /// Returns whether the episode terminates (the pole fell or the cart left the track).
    #[inline]
    pub fn step(&mut self, action: usize) -> bool {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        // Same operation order as Gymnasium, so rounding matches.
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        let x = x + TAU * x_dot;
        let x_dot = x_dot + TAU * xacc;
        let theta = theta + TAU * theta_dot;
        let theta_dot = theta_dot + TAU * thetaacc;
        self.state = [x, x_dot, theta, theta_dot];
        !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_push_topples_the_pole() {
        let mut cp = CartPole::default();
        let mut rng = RlRng::new(0, 0);
        cp.reset(&mut rng);
        assert!(cp.state.iter().all(|v| v.abs() <= RESET_BOUND));
        let steps = (1..=500).find(|_| cp.step(1)).unwrap();
        // Always pushing right tips the pole left within a few dozen steps.
        assert!((5..60).contains(&steps), "{steps}");
        assert!(cp.state[2] < -THETA_THRESHOLD);
    }

    #[test]
    fn one_step_by_hand() {
        let mut cp = CartPole {
            state: [0.0, 0.0, 0.0, 0.0],
        };
        cp.step(1);
        // temp = 10/1.1; thetaacc = -temp / (0.5 * (4/3 - 0.1/1.1)); x_dot = 0.02 * xacc.
        let temp = 10.0 / 1.1;
        let thetaacc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
        let xacc = temp - 0.05 * thetaacc / 1.1;
        assert_eq!(cp.state[0], 0.0);
        assert!((cp.state[1] - 0.02 * xacc).abs() < 1e-15);
        assert!((cp.state[3] - 0.02 * thetaacc).abs() < 1e-15);
    }
}
