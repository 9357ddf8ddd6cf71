//! Mini-batches over a dataset.
//!
//! - Shuffled mode (training): at the start of epoch `e` the sample order is a fresh
//!   permutation drawn from `ChaCha8Rng::seed_from_u64(seed)` on stream `e`, so epoch `e`'s
//!   order depends only on `(seed, e)` — resuming at epoch 7 replays epoch 7 exactly.
//! - Sequential mode (evaluation): samples in dataset order.
//! - Every batch has `batch_size` samples except possibly the last of an epoch, which holds the
//!   remainder (it is kept, not dropped, so every sample is seen once per epoch; loss averaging
//!   should divide by the batch's actual length).
//! - Batches are lent out: [`BatchLoader::next_batch`] returns views into buffers owned by the
//!   loader (reused from batch to batch, so no allocation per batch), or — in sequential mode —
//!   straight into the dataset (no copy at all). Features are one contiguous `f32` slice of
//!   `len × sample_len` values, row-major.

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::dataset::{Dataset, Labels};
use super::error::DataError;

/// The labels of one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchLabels<'b> {
    /// One class index per sample.
    Classes(&'b [u32]),
    /// `len × width` targets, row-major.
    Targets {
        /// The values.
        values: &'b [f32],
        /// Targets per sample.
        width: usize,
    },
}

/// One mini-batch, borrowed from its loader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batch<'b> {
    /// Number of samples in this batch.
    pub len: usize,
    /// `len × sample_len` feature values, row-major.
    pub features: &'b [f32],
    /// The samples' labels.
    pub labels: BatchLabels<'b>,
    /// Row indices (into the dataset) of the samples, in batch order.
    pub indices: &'b [usize],
}

/// Yields fixed-size mini-batches of a dataset, epoch after epoch.
#[derive(Debug)]
pub struct BatchLoader<'a> {
    data: &'a Dataset,
    batch_size: usize,
    /// `Some(seed)` for shuffled mode, `None` for sequential.
    seed: Option<u64>,
    order: Vec<usize>,
    pos: usize,
    features: Vec<f32>,
    classes: Vec<u32>,
    targets: Vec<f32>,
}

impl<'a> BatchLoader<'a> {
    fn new(data: &'a Dataset, batch_size: usize, seed: Option<u64>) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::Config {
                what: "batch size".into(),
                reason: "must be at least 1".into(),
            });
        }
        let cap = batch_size.min(data.len());
        let copies = seed.is_some();
        let mut loader = BatchLoader {
            data,
            batch_size,
            seed,
            order: (0..data.len()).collect(),
            pos: 0,
            features: Vec::with_capacity(if copies { cap * data.sample_len() } else { 0 }),
            classes: Vec::with_capacity(if copies { cap } else { 0 }),
            targets: Vec::new(),
        };
        loader.start_epoch(0);
        Ok(loader)
    }

    /// A loader that reshuffles every epoch (training). Starts at epoch 0.
    pub fn shuffled(data: &'a Dataset, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        Self::new(data, batch_size, Some(seed))
    }

    /// A loader that visits samples in order (evaluation); batches borrow the dataset directly.
    pub fn sequential(data: &'a Dataset, batch_size: usize) -> Result<Self, DataError> {
        Self::new(data, batch_size, None)
    }

    /// Rewinds to the start of epoch `epoch`, drawing that epoch's order in shuffled mode.
    pub fn start_epoch(&mut self, epoch: u64) {
        self.pos = 0;
        if let Some(seed) = self.seed {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(epoch);
            // Restart from the identity so the order depends only on (seed, epoch).
            for (i, o) in self.order.iter_mut().enumerate() {
                *o = i;
            }
            self.order.shuffle(&mut rng);
        }
    }

    /// Number of batches in one epoch (the last may be short).
    pub fn batches_per_epoch(&self) -> usize {
        self.data.len().div_ceil(self.batch_size)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The next batch of the current epoch, or `None` when the epoch is over.
    pub fn next_batch(&mut self) -> Option<Batch<'_>> {
        let n = self.data.len();
        if self.pos >= n {
            return None;
        }
        let start = self.pos;
        let end = (start + self.batch_size).min(n);
        self.pos = end;
        let d = self.data.sample_len();
        let indices = &self.order[start..end];
        let len = end - start;
        if self.seed.is_none() {
            // Sequential: rows start..end are contiguous in the dataset; lend them directly.
            let features = &self.data.features_slice()[start * d..end * d];
            let labels = match self.data.labels() {
                Labels::Classes(c) => BatchLabels::Classes(&c.indices[start..end]),
                Labels::Targets(t) => {
                    let w = t.ncols();
                    BatchLabels::Targets {
                        values: &t.as_slice().unwrap_or(&[])[start * w..end * w],
                        width: w,
                    }
                }
            };
            return Some(Batch {
                len,
                features,
                labels,
                indices,
            });
        }
        let all = self.data.features_slice();
        self.features.clear();
        for &i in indices {
            self.features.extend_from_slice(&all[i * d..(i + 1) * d]);
        }
        let labels = match self.data.labels() {
            Labels::Classes(c) => {
                self.classes.clear();
                self.classes.extend(indices.iter().map(|&i| c.indices[i]));
                BatchLabels::Classes(&self.classes)
            }
            Labels::Targets(t) => {
                self.targets.clear();
                for &i in indices {
                    self.targets.extend(t.row(i).iter().copied());
                }
                BatchLabels::Targets {
                    values: &self.targets,
                    width: t.ncols(),
                }
            }
        };
        Some(Batch {
            len,
            features: &self.features,
            labels,
            indices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::ClassLabels;
    use ndarray::Array2;

    fn data(n: usize) -> Dataset {
        let f = Array2::from_shape_fn((n, 2), |(i, j)| (i * 2 + j) as f32);
        let l = ClassLabels::new((0..n as u32).map(|i| i % 3).collect(), 3).unwrap();
        Dataset::new(f, vec![2], Labels::Classes(l)).unwrap()
    }

    #[test]
    fn sequential_lends_dataset_rows_and_keeps_short_last_batch() {
        let d = data(7);
        let mut l = BatchLoader::sequential(&d, 3).unwrap();
        assert_eq!(l.batches_per_epoch(), 3);
        let mut lens = vec![];
        while let Some(b) = l.next_batch() {
            lens.push(b.len);
            let first = b.indices[0];
            assert_eq!(b.features[0], (first * 2) as f32);
            assert_eq!(b.features.len(), b.len * 2);
            // Zero-copy: the slice points into the dataset's own buffer.
            let base = d.features_slice().as_ptr_range();
            assert!(base.contains(&b.features.as_ptr()));
        }
        assert_eq!(lens, vec![3, 3, 1]);
        assert!(l.next_batch().is_none());
    }

    #[test]
    fn shuffled_covers_every_sample_once_and_is_reproducible() {
        let d = data(10);
        let mut l = BatchLoader::shuffled(&d, 4, 42).unwrap();
        let mut epochs: Vec<Vec<usize>> = vec![];
        for e in 0..3 {
            l.start_epoch(e);
            let mut seen = vec![];
            while let Some(b) = l.next_batch() {
                for (k, &i) in b.indices.iter().enumerate() {
                    assert_eq!(
                        &b.features[k * 2..k * 2 + 2],
                        &[(i * 2) as f32, (i * 2 + 1) as f32]
                    );
                    match b.labels {
                        BatchLabels::Classes(c) => assert_eq!(c[k], (i % 3) as u32),
                        BatchLabels::Targets { .. } => panic!("class labels expected"),
                    }
                }
                seen.extend_from_slice(b.indices);
            }
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            epochs.push(seen);
        }
        assert_ne!(epochs[0], epochs[1]);
        // Epoch 1 again, after epoch 2: identical order (depends only on seed and epoch).
        let mut again = BatchLoader::shuffled(&d, 4, 42).unwrap();
        again.start_epoch(1);
        let mut seen = vec![];
        while let Some(b) = again.next_batch() {
            seen.extend_from_slice(b.indices);
        }
        assert_eq!(seen, epochs[1]);
        assert!(BatchLoader::shuffled(&d, 0, 1).is_err());
    }

    #[test]
    fn buffers_are_reused_between_batches() {
        let d = data(64);
        let mut l = BatchLoader::shuffled(&d, 8, 3).unwrap();
        let first = l.next_batch().unwrap().features.as_ptr();
        while let Some(b) = l.next_batch() {
            assert_eq!(b.features.as_ptr(), first);
        }
    }
}
