//! Deterministic train/val/test splits.
//!
//! Semantics:
//! - `fractions` has 1 to 3 entries (train, val, test), each in (0, 1], summing to 1 within
//!   1e-6.
//! - Part sizes are `n · fraction` rounded by the largest-remainder method (ties go to the
//!   earlier part), so they always add up to `n`: 1,797 × [0.7, 0.15, 0.15] → 1258, 270, 269.
//! - The sample order is first permuted by `ChaCha8Rng::seed_from_u64(seed)`; the same seed and
//!   data always give the same split.
//! - Stratified splits (the default for class labels) keep every class's proportion in every
//!   part as close as integer counts allow: each class `c` contributes `⌊n_c · f⌋` samples to a
//!   part, and the leftover samples are handed out by largest remainder so the part sizes
//!   above are still met exactly. Within a part, samples keep the permuted order (classes are
//!   interleaved, not grouped).
//! - Real-valued targets are never stratified (asking for it is an error).

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::dataset::Dataset;
use super::error::DataError;

/// How to stratify a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stratify {
    /// Stratify when the labels are classes, not otherwise.
    #[default]
    Auto,
    /// Always stratify (an error for real-valued targets).
    Yes,
    /// Never stratify: cut the permuted order into consecutive pieces.
    No,
}

/// Checks split fractions (1..=3 entries, each in (0, 1], sum 1 ± 1e-6).
pub fn validate_fractions(fractions: &[f64]) -> Result<(), DataError> {
    let fail = |reason: String| DataError::Split {
        fractions: fractions.to_vec(),
        reason,
    };
    if fractions.is_empty() || fractions.len() > 3 {
        return Err(fail(format!(
            "expected 1 to 3 fractions, got {}",
            fractions.len()
        )));
    }
    if let Some(f) = fractions
        .iter()
        .find(|&&f| !(f.is_finite() && f > 0.0 && f <= 1.0))
    {
        return Err(fail(format!("fraction {f} is not in (0, 1]")));
    }
    let sum: f64 = fractions.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        let shown = format!("{sum:.9}");
        let shown = shown.trim_end_matches('0').trim_end_matches('.');
        return Err(fail(format!("fractions sum to {shown}, not 1")));
    }
    Ok(())
}

/// Splits `n` items into parts proportional to `fractions` by the largest-remainder method.
/// Ties in the remainder go to the earlier part.
pub fn apportion(n: usize, fractions: &[f64]) -> Vec<usize> {
    let quotas: Vec<f64> = fractions.iter().map(|f| n as f64 * f).collect();
    let mut sizes: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let assigned: usize = sizes.iter().sum();
    // The fractions sum to 1 ± 1e-6, so the floors can overshoot only through rounding.
    if assigned > n {
        let mut over = assigned - n;
        for s in sizes.iter_mut().rev() {
            let cut = over.min(*s);
            *s -= cut;
            over -= cut;
        }
        return sizes;
    }
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = quotas[a] - quotas[a].floor();
        let rb = quotas[b] - quotas[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in 0..(n - assigned) {
        sizes[order[i % order.len()]] += 1;
    }
    sizes
}

/// Row indices of each part, after a seeded permutation, optionally stratified.
pub fn split_indices(
    data: &Dataset,
    fractions: &[f64],
    seed: u64,
    stratify: Stratify,
) -> Result<Vec<Vec<usize>>, DataError> {
    validate_fractions(fractions)?;
    let n = data.len();
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let sizes = apportion(n, fractions);
    let classes = data.labels().as_classes();
    let stratified = match (stratify, classes) {
        (Stratify::No, _) => None,
        (_, Some(c)) => Some(c),
        (Stratify::Auto, None) => None,
        (Stratify::Yes, None) => {
            return Err(DataError::Split {
                fractions: fractions.to_vec(),
                reason: "stratification needs class labels; these are real-valued targets".into(),
            });
        }
    };
    let Some(classes) = stratified else {
        let mut parts = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for s in sizes {
            parts.push(perm[start..start + s].to_vec());
            start += s;
        }
        return Ok(parts);
    };

    // Only classes that occur take part (a class count may be far larger than the data).
    // alloc[r · parts + p]: how many samples of present class r go to part p. Row sums are the
    // class counts, column sums the part sizes; entries are floor(n_c · f_p) plus leftovers.
    let all_counts = classes.counts();
    let present: Vec<usize> = (0..all_counts.len())
        .filter(|&c| all_counts[c] > 0)
        .collect();
    let mut row_of = vec![usize::MAX; all_counts.len()];
    for (r, &c) in present.iter().enumerate() {
        row_of[c] = r;
    }
    let counts: Vec<usize> = present.iter().map(|&c| all_counts[c]).collect();
    let k = counts.len();
    let parts = fractions.len();
    let mut alloc = vec![0usize; k * parts];
    let mut row_left = counts.clone();
    let mut col_need = sizes.clone();
    let mut remainders = Vec::with_capacity(k * parts);
    for r in 0..k {
        for p in 0..parts {
            let q = counts[r] as f64 * fractions[p];
            let base = (q.floor() as usize).min(row_left[r]).min(col_need[p]);
            alloc[r * parts + p] = base;
            row_left[r] -= base;
            col_need[p] -= base;
            remainders.push((q - q.floor(), r, p));
        }
    }
    // Leftovers: largest remainders first, at most one extra per cell...
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    for &(_, r, p) in &remainders {
        if row_left[r] > 0 && col_need[p] > 0 {
            alloc[r * parts + p] += 1;
            row_left[r] -= 1;
            col_need[p] -= 1;
        }
    }
    // ...then anything still unplaced (rare corner cases) wherever a part has room. Row and
    // column totals are equal, so this always places every sample.
    for r in 0..k {
        for p in 0..parts {
            let m = row_left[r].min(col_need[p]);
            alloc[r * parts + p] += m;
            row_left[r] -= m;
            col_need[p] -= m;
        }
    }

    // Walk the permutation; the j-th sample of class c goes to the first part whose cumulative
    // allocation for c exceeds j.
    let mut seen = vec![0usize; k];
    let mut out: Vec<Vec<usize>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
    for &i in &perm {
        let r = row_of[classes.indices[i] as usize];
        let j = seen[r];
        seen[r] += 1;
        let mut cum = 0;
        for (p, part) in out.iter_mut().enumerate() {
            cum += alloc[r * parts + p];
            if j < cum {
                part.push(i);
                break;
            }
        }
    }
    Ok(out)
}

/// Splits a dataset into 1 to 3 parts (train, val, test) — see the module docs.
pub fn split(
    data: &Dataset,
    fractions: &[f64],
    seed: u64,
    stratify: Stratify,
) -> Result<Vec<Dataset>, DataError> {
    let parts = split_indices(data, fractions, seed, stratify)?;
    Ok(parts.iter().map(|rows| data.select(rows)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_matches_documented_example() {
        assert_eq!(apportion(1797, &[0.7, 0.15, 0.15]), vec![1258, 270, 269]);
        assert_eq!(apportion(10, &[0.8, 0.2]), vec![8, 2]);
        assert_eq!(apportion(3, &[1.0]), vec![3]);
        assert_eq!(apportion(0, &[0.5, 0.5]), vec![0, 0]);
        for n in 0..50 {
            assert_eq!(apportion(n, &[0.33, 0.33, 0.34]).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn sparse_class_ids_split_without_per_class_blowup() {
        use crate::data::dataset::{ClassLabels, Labels};
        use ndarray::Array2;
        let labels = vec![0, 999_999, 5, 999_999, 0, 5, 0, 999_999];
        let l = ClassLabels::new(labels, 1_000_000).unwrap();
        let d = Dataset::new(Array2::zeros((8, 1)), vec![1], Labels::Classes(l)).unwrap();
        let parts = split_indices(&d, &[0.5, 0.5], 1, Stratify::Auto).unwrap();
        assert_eq!(parts[0].len() + parts[1].len(), 8);
        let mut all = parts.concat();
        all.sort();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn fractions_are_validated() {
        assert!(validate_fractions(&[0.7, 0.15, 0.15]).is_ok());
        assert!(validate_fractions(&[0.8, 0.2 + 5e-7]).is_ok());
        for bad in [
            &[][..],
            &[0.5, 0.4],
            &[0.5, 0.5, 0.0],
            &[1.1, -0.1],
            &[0.25; 4],
            &[f64::NAN, 1.0],
        ] {
            let e = validate_fractions(bad).unwrap_err();
            assert_eq!(e.code_str(), "amm::data::split");
        }
    }
}
