//! Keeping only some classes and renumbering them.
//!
//! `classes = [5, 6, 7, 8, 9]` keeps the samples whose label is one of those and relabels them
//! by position in the list: 5 → 0, 6 → 1, ..., 9 → 4 (so the list order defines the new class
//! indices; `[9, 5]` maps 9 → 0 and 5 → 1). The number of classes becomes the list length and
//! `source_classes` records the original labels. Sample order is preserved.

use super::dataset::{ClassLabels, Dataset, Labels};
use super::error::DataError;

/// Keeps the samples of `classes` and renumbers them `0..classes.len()` in list order.
///
/// `classes` refers to the dataset's current class indices. Errors: an empty or repeated list,
/// a class not below the dataset's class count, real-valued targets, or no sample left.
pub fn filter_classes(data: &Dataset, classes: &[u32]) -> Result<Dataset, DataError> {
    let fail = |reason: String| DataError::ClassFilter {
        classes: classes.to_vec(),
        reason,
    };
    let Labels::Classes(labels) = data.labels() else {
        return Err(fail(
            "the dataset has real-valued targets, not class labels".into(),
        ));
    };
    if classes.is_empty() {
        return Err(fail("the list is empty".into()));
    }
    let k = labels.num_classes;
    let mut map: Vec<Option<u32>> = vec![None; k as usize];
    for (new, &old) in classes.iter().enumerate() {
        if old >= k {
            return Err(fail(format!(
                "class {old} does not exist (the dataset has classes 0..{})",
                k - 1
            )));
        }
        if map[old as usize].is_some() {
            return Err(fail(format!("class {old} is listed twice")));
        }
        map[old as usize] = Some(new as u32);
    }
    let mut rows = Vec::new();
    let mut indices = Vec::new();
    for (i, &c) in labels.indices.iter().enumerate() {
        if let Some(new) = map[c as usize] {
            rows.push(i);
            indices.push(new);
        }
    }
    if rows.is_empty() {
        return Err(fail("no sample has any of these classes".into()));
    }
    let source_classes = classes
        .iter()
        .map(|&c| labels.source_classes.get(c as usize).copied().unwrap_or(c))
        .collect();
    let kept = data.select(&rows);
    let (features, shape, _) = kept.into_parts();
    let mut new_labels = ClassLabels::new(indices, classes.len() as u32)?;
    new_labels.source_classes = source_classes;
    Dataset::new(features, shape, Labels::Classes(new_labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn data() -> Dataset {
        let f = Array2::from_shape_fn((6, 1), |(i, _)| i as f32);
        let l = ClassLabels::new(vec![0, 1, 2, 3, 2, 1], 4).unwrap();
        Dataset::new(f, vec![1], Labels::Classes(l)).unwrap()
    }

    #[test]
    fn keeps_and_renumbers_in_list_order() {
        let d = filter_classes(&data(), &[2, 1]).unwrap();
        assert_eq!(d.features_slice(), &[1., 2., 4., 5.]);
        let c = d.labels().as_classes().unwrap();
        assert_eq!(c.indices, vec![1, 0, 0, 1]);
        assert_eq!(c.num_classes, 2);
        assert_eq!(c.source_classes, vec![2, 1]);
        // Filtering twice composes the source classes.
        let d2 = filter_classes(&d, &[1]).unwrap();
        assert_eq!(d2.labels().as_classes().unwrap().source_classes, vec![1]);
    }

    #[test]
    fn rejects_bad_lists() {
        for bad in [&[][..], &[4], &[1, 1]] {
            let e = filter_classes(&data(), bad).unwrap_err();
            assert_eq!(e.code_str(), "amm::data::class_filter");
        }
        let t = Dataset::new(
            Array2::zeros((2, 1)),
            vec![1],
            Labels::Targets(Array2::zeros((2, 1))),
        )
        .unwrap();
        assert!(filter_classes(&t, &[0]).is_err());
    }
}
