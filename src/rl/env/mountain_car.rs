//! Gymnasium `MountainCar-v0`: push an underpowered car left (0), not at all (1) or right
//! (2) to reach the flag at x ≥ 0.5. Same constants and update order as Gymnasium,
//! including the clips and the inelastic left wall; reward −1 per step, termination at the
//! goal, truncation after 200 steps. Start: x uniform in [−0.6, −0.4), velocity 0.

use crate::rl::rng::Rng;

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;
/// Gymnasium's `max_episode_steps` for MountainCar-v0.
pub const MAX_STEPS: u32 = 200;
/// Observation bounds `(low, high)` of position and velocity (Gymnasium's observation space).
pub const BOUNDS: [(f64, f64); 2] = [(MIN_POSITION, MAX_POSITION), (-MAX_SPEED, MAX_SPEED)];

/// The state `[position, velocity]`, which is also the observation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MountainCar {
    /// Position and velocity.
    pub state: [f64; 2],
}

impl MountainCar {
    /// A fresh episode.
    pub fn reset(rng: &mut Rng) -> MountainCar {
        MountainCar {
            state: [rng.uniform(-0.6, -0.4), 0.0],
        }
    }

    /// One step; returns whether the car reached the goal.
    pub fn step(&mut self, action: u32) -> bool {
        let [mut position, mut velocity] = self.state;
        velocity += (f64::from(action) - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        self.state = [position, velocity];
        position >= GOAL_POSITION && velocity >= GOAL_VELOCITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coasting_from_rest_at_the_bottom_stays_put_and_the_wall_stops_the_car() {
        // cos(3·(−π/6)) = 0: no gravity at the valley floor.
        let mut c = MountainCar {
            state: [-std::f64::consts::PI / 6.0, 0.0],
        };
        assert!(!c.step(1));
        assert!(c.state[1].abs() < 1e-15, "{:?}", c.state);
        let mut w = MountainCar {
            state: [-1.19, -0.05],
        };
        w.step(0);
        assert_eq!(w.state, [MIN_POSITION, 0.0]);
    }

    #[test]
    fn always_pushing_right_does_not_reach_the_goal_but_rocking_does() {
        let mut rng = Rng::seed_from_u64(1);
        let mut c = MountainCar::reset(&mut rng);
        assert!((0..MAX_STEPS).all(|_| !c.step(2)));
        // Push in the direction of motion: the classic energy-pumping policy.
        let mut c = MountainCar::reset(&mut rng);
        let reached = (0..MAX_STEPS).any(|_| {
            let a = if c.state[1] >= 0.0 { 2 } else { 0 };
            c.step(a)
        });
        assert!(reached);
    }
}
