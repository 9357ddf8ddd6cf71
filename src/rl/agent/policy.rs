//! Greedy and epsilon-greedy action selection over rows of a Q-table.
//!
//! Tie-breaking (documented choice): *during training* the greedy action is drawn uniformly
//! among all actions tied for the maximum, using the seeded training generator (as in Sutton &
//! Barto and the Gymnasium FrozenLake tutorial; with a first-index rule an all-zero Q-table
//! would always pick action 0, which badly hurts early exploration). *The greedy policy*
//! used for evaluation, rollouts and policy drawings breaks ties by the lowest action index,
//! so it is a pure function of the Q-table.

use crate::rl::rng::RlRng;

/// Index of the largest value, lowest index among ties.
#[inline]
pub fn greedy_action(row: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..row.len() {
        if row[i] > row[best] {
            best = i;
        }
    }
    best
}

/// Largest value of a (non-empty) row.
#[inline(always)]
pub fn max_value(row: &[f64]) -> f64 {
    let mut m = row[0];
    for &v in &row[1..] {
        if v > m {
            m = v;
        }
    }
    m
}

/// Index of the largest value, uniformly random among ties (draws a number only when there
/// is a tie).
#[inline(always)]
pub fn argmax_random_tie(row: &[f64], rng: &mut RlRng) -> usize {
    let mut best = row[0];
    let mut idx = 0;
    let mut ties = 1;
    for (i, &v) in row.iter().enumerate().skip(1) {
        if v > best {
            best = v;
            idx = i;
            ties = 1;
        } else if v == best {
            ties += 1;
        }
    }
    if ties == 1 {
        return idx;
    }
    let mut k = rng.below(ties);
    for (i, &v) in row.iter().enumerate() {
        if v == best {
            if k == 0 {
                return i;
            }
            k -= 1;
        }
    }
    idx
}

/// Epsilon-greedy: with probability `epsilon` a uniformly random action, otherwise the
/// greedy action with random tie-breaking. Always consumes one uniform draw for the coin.
#[inline(always)]
pub fn epsilon_greedy(row: &[f64], epsilon: f64, rng: &mut RlRng) -> usize {
    if rng.next_f64() < epsilon {
        rng.below(row.len())
    } else {
        argmax_random_tie(row, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_lowest_index() {
        assert_eq!(greedy_action(&[0.0, 1.0, 1.0, 0.5]), 1);
        assert_eq!(greedy_action(&[0.0, 0.0]), 0);
        assert_eq!(max_value(&[-3.0, -1.0, -2.0]), -1.0);
    }

    #[test]
    fn random_ties_cover_all_tied_actions_only() {
        let mut rng = RlRng::new(2, 0);
        let mut seen = [0u32; 4];
        for _ in 0..4_000 {
            seen[argmax_random_tie(&[1.0, 0.0, 1.0, 1.0], &mut rng)] += 1;
        }
        assert_eq!(seen[1], 0);
        for i in [0, 2, 3] {
            assert!((1_200..1_470).contains(&seen[i]), "{seen:?}");
        }
        assert_eq!(argmax_random_tie(&[0.0, 2.0, 1.0], &mut rng), 1);
    }

    #[test]
    fn epsilon_one_is_uniform_and_zero_is_greedy() {
        let mut rng = RlRng::new(4, 0);
        let row = [0.0, 5.0, 0.0];
        assert!((0..100).all(|_| epsilon_greedy(&row, 0.0, &mut rng) == 1));
        let ones = (0..3_000)
            .filter(|_| epsilon_greedy(&row, 1.0, &mut rng) == 1)
            .count();
        assert!((900..1_100).contains(&ones), "{ones}");
    }
}
