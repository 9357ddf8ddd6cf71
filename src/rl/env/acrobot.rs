//! Gymnasium `Acrobot-v1`: two links hang from a pivot; torque −1, 0 or +1 (actions 0, 1,
//! 2) on the joint between them swings the tip above the line one link length over the
//! pivot. The dynamics are Gymnasium's `_dsdt` integrated over dt = 0.2 s by one step of
//! its `rk4` (the classic fourth-order Runge–Kutta with the torque carried as a fifth,
//! constant state component), then the angles are wrapped into [−π, π] and the angular
//! velocities clipped to ±4π and ±9π. The default is Gymnasium's `book_or_nips = "book"`
//! equation for θ̈₂; `acrobot(nips = true)` gives the paper's. Reward −1 per step, 0 on the
//! terminating step; truncation after 500 steps. Start: all four state components
//! uniform in [−0.1, 0.1), rounded to f32 as Gymnasium does.

use std::f64::consts::PI;

use crate::rl::rng::Rng;

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const G: f64 = 9.8;
/// Gymnasium's `max_episode_steps` for Acrobot-v1.
pub const MAX_STEPS: u32 = 500;
/// Observation bounds `(low, high)`: cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂.
pub const BOUNDS: [(f64, f64); 6] = [
    (-1.0, 1.0),
    (-1.0, 1.0),
    (-1.0, 1.0),
    (-1.0, 1.0),
    (-MAX_VEL_1, MAX_VEL_1),
    (-MAX_VEL_2, MAX_VEL_2),
];

/// Which equation for the second joint's acceleration (Gymnasium's `book_or_nips`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dynamics {
    /// Sutton & Barto's book and the Java implementation (Gymnasium's default).
    Book,
    /// The NIPS paper's equation (drops the θ̇₁² sin θ₂ term).
    Nips,
}

/// The physical state `[θ₁, θ₂, θ̇₁, θ̇₂]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acrobot {
    /// Angles and angular velocities.
    pub state: [f64; 4],
    /// Which dynamics.
    pub dynamics: Dynamics,
}

/// Gymnasium's `wrap`: shifts `x` by whole periods into [m, M].
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    // Bounded: the velocities are clipped, so an angle moves by at most 9π·0.2 per step;
    // a non-finite angle is left alone rather than looping forever.
    if !x.is_finite() {
        return x;
    }
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

impl Acrobot {
    /// A fresh episode.
    pub fn reset(rng: &mut Rng, dynamics: Dynamics) -> Acrobot {
        let mut state = [0.0; 4];
        for v in &mut state {
            *v = f64::from(rng.uniform(-0.1, 0.1) as f32);
        }
        Acrobot { state, dynamics }
    }

    /// The observation `[cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂]`.
    pub fn observe(&self) -> [f64; 6] {
        let [t1, t2, d1, d2] = self.state;
        [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2]
    }

    /// Gymnasium's `_dsdt` on the augmented state `[θ₁, θ₂, θ̇₁, θ̇₂, torque]`.
    fn dsdt(&self, s: &[f64; 5]) -> [f64; 5] {
        let (m1, m2, l1, lc1, lc2) = (
            LINK_MASS_1,
            LINK_MASS_2,
            LINK_LENGTH_1,
            LINK_COM_POS_1,
            LINK_COM_POS_2,
        );
        let (i1, i2) = (LINK_MOI, LINK_MOI);
        let [theta1, theta2, dtheta1, dtheta2, a] = *s;
        let d1 = m1 * lc1.powi(2)
            + m2 * (l1.powi(2) + lc2.powi(2) + 2.0 * l1 * lc2 * theta2.cos())
            + i1
            + i2;
        let d2 = m2 * (lc2.powi(2) + l1 * lc2 * theta2.cos()) + i2;
        let phi2 = m2 * lc2 * G * (theta1 + theta2 - PI / 2.0).cos();
        let phi1 = -m2 * l1 * lc2 * dtheta2.powi(2) * theta2.sin()
            - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
            + (m1 * lc1 + m2 * l1) * G * (theta1 - PI / 2.0).cos()
            + phi2;
        let ddtheta2 = match self.dynamics {
            Dynamics::Nips => {
                (a + d2 / d1 * phi1 - phi2) / (m2 * lc2.powi(2) + i2 - d2.powi(2) / d1)
            }
            Dynamics::Book => {
                (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1.powi(2) * theta2.sin() - phi2)
                    / (m2 * lc2.powi(2) + i2 - d2.powi(2) / d1)
            }
        };
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
        [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
    }

    /// One RK4 step of 0.2 s; returns whether the tip is above the line.
    pub fn step(&mut self, action: u32) -> bool {
        let torque = AVAIL_TORQUE[(action as usize).min(2)];
        let [a, b, c, d] = self.state;
        let y0 = [a, b, c, d, torque];
        let dt2 = DT / 2.0;
        let add = |y: &[f64; 5], k: &[f64; 5], h: f64| -> [f64; 5] {
            std::array::from_fn(|i| y[i] + h * k[i])
        };
        let k1 = self.dsdt(&y0);
        let k2 = self.dsdt(&add(&y0, &k1, dt2));
        let k3 = self.dsdt(&add(&y0, &k2, dt2));
        let k4 = self.dsdt(&add(&y0, &k3, DT));
        let ns: [f64; 4] =
            std::array::from_fn(|i| y0[i] + DT / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]));
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            ns[2].clamp(-MAX_VEL_1, MAX_VEL_1),
            ns[3].clamp(-MAX_VEL_2, MAX_VEL_2),
        ];
        let [t1, t2, _, _] = self.state;
        -t1.cos() - (t2 + t1).cos() > 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hanging_still_stays_still_and_wrap_is_periodic() {
        let mut a = Acrobot {
            state: [0.0; 4],
            dynamics: Dynamics::Book,
        };
        assert!(!a.step(1));
        assert!(a.state.iter().all(|v| v.abs() < 1e-12), "{:?}", a.state);
        assert_eq!(wrap(3.5, -PI, PI), 3.5 - 2.0 * PI);
        assert_eq!(wrap(-3.5, -PI, PI), -3.5 + 2.0 * PI);
        assert!(wrap(f64::NAN, -PI, PI).is_nan());
    }

    #[test]
    fn book_and_nips_differ_once_the_first_link_moves() {
        let s = [0.3, -0.2, 1.0, 0.5];
        let mut b = Acrobot {
            state: s,
            dynamics: Dynamics::Book,
        };
        let mut n = Acrobot {
            state: s,
            dynamics: Dynamics::Nips,
        };
        b.step(2);
        n.step(2);
        assert_ne!(b.state, n.state);
    }

    #[test]
    fn pumping_energy_swings_up_within_the_limit() {
        let mut rng = Rng::seed_from_u64(0);
        let mut a = Acrobot::reset(&mut rng, Dynamics::Book);
        // Torque in the direction of the second joint's motion (in Gymnasium this swings
        // up within 65–122 steps from seeds 0–4; pushing with the first link never does).
        let up = (0..MAX_STEPS).any(|_| {
            let act = if a.state[3] >= 0.0 { 2 } else { 0 };
            a.step(act)
        });
        assert!(up);
    }
}
