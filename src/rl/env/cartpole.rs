//! Gymnasium `CartPole-v1`: push a cart left (action 0) or right (1) to keep a pole
//! upright. Same constants and explicit Euler integration as Gymnasium; the state is
//! kept in f64 (Gymnasium keeps f64 internally too and only returns f32 observations).
//! Reward 1 per step including the last; the episode terminates when |x| > 2.4 or
//! |θ| > 12°, and is truncated after 500 steps. Start state uniform in [−0.05, 0.05)^4.

use crate::rl::rng::Rng;

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_CART + MASS_POLE;
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
/// Pole angle at which the episode terminates (12 degrees, in radians).
pub const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// Cart position at which the episode terminates.
pub const X_THRESHOLD: f64 = 2.4;
/// Gymnasium's `max_episode_steps` for CartPole-v1.
pub const MAX_STEPS: u32 = 500;

/// The physical state `[x, ẋ, θ, θ̇]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CartPole {
    /// Position, velocity, angle, angular velocity.
    pub state: [f64; 4],
}

impl CartPole {
    /// A fresh episode: every component uniform in [−0.05, 0.05).
    pub fn reset(rng: &mut Rng) -> CartPole {
        let mut state = [0.0; 4];
        for v in &mut state {
            *v = rng.uniform(-0.05, 0.05);
        }
        CartPole { state }
    }

    /// One Euler step of 0.02 s; returns whether the episode terminated.
    pub fn step(&mut self, action: u32) -> bool {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sin, cos) = theta.sin_cos();
        // Grouped as Gymnasium groups them (`np.square(·)` first), so the roundings agree.
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sin) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (cos * cos) / TOTAL_MASS));
        let x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
        let [x, _, theta, _] = self.state;
        !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_matches_gymnasium_formula() {
        // From state 0, pushing right: temp = 10/1.1, θ̈ = -cos·temp / (0.5·(4/3 − 0.1/1.1)).
        let mut c = CartPole { state: [0.0; 4] };
        assert!(!c.step(1));
        let temp = 10.0 / 1.1;
        let theta_acc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
        let x_acc = temp - 0.05 * theta_acc / 1.1;
        assert_eq!(c.state, [0.0, 0.02 * x_acc, 0.0, 0.02 * theta_acc]);
    }

    #[test]
    fn always_pushing_one_way_falls_over() {
        let mut rng = Rng::seed_from_u64(3);
        let mut c = CartPole::reset(&mut rng);
        let steps = (1..=500).find(|_| c.step(1)).unwrap();
        assert!((5..60).contains(&steps), "{steps}");
    }
}
