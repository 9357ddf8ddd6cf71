//! Train blocks that take weights from other train blocks (`weights = pretrain`): the
//! producing block's model must have every tensor of the stage with the same shape, and
//! the references must not form a cycle. Checked from the model summaries, so no file
//! needs to exist yet.

use std::collections::HashMap;

use crate::diag::Diag;

use super::{ModelSummary, WeightsSource};

/// Checks every block reference among `summaries`.
pub fn check_block_weights(summaries: &[ModelSummary], diags: &mut Vec<Diag>) {
    let by_name: HashMap<&str, &ModelSummary> =
        summaries.iter().map(|s| (s.train.as_str(), s)).collect();
    for s in summaries {
        for p in &s.pretrained {
            let WeightsSource::Block(b) = &p.source else {
                continue;
            };
            let Some(producer) = by_name.get(b.as_str()) else {
                continue; // the producer failed its own checks
            };
            let prefix = format!("{}.", p.stage);
            // The producer's name for the stage: the same instance, or the backbone's own.
            let stage_there = super::weights::file_prefix(
                &p.stage,
                &p.backbone,
                producer.layers.iter().map(|l| l.name.as_str()),
            );
            for layer in s.layers.iter().filter(|l| l.name.starts_with(&prefix)) {
                let their_name = format!("{stage_there}.{}", &layer.name[prefix.len()..]);
                let theirs = producer.layers.iter().find(|l| l.name == their_name);
                for (suffix, shape) in &layer.tensors {
                    let name = format!("{their_name}.{suffix}");
                    let found = theirs
                        .and_then(|l| l.tensors.iter().find(|(t, _)| t == suffix).map(|(_, s)| s));
                    match (theirs, found) {
                        (_, None) => {
                            diags.push(
                                Diag::new(
                                    "amm::weights::missing",
                                    format!(
                                        "the model of train block `{b}` has no tensor `{name}`"
                                    ),
                                )
                                .primary(p.span, format!("weights of `{}` from `{b}`", p.stage))
                                .secondary(
                                    layer.span,
                                    format!("`{name}` {shape:?} is needed by this layer"),
                                )
                                .help(format!(
                                    "`{b}` must train a model with a `{stage_there}` stage built the same way"
                                )),
                            );
                            break;
                        }
                        (Some(l), Some(theirs)) if theirs != shape => {
                            diags.push(
                                Diag::new(
                                    "amm::shape::weights",
                                    format!("`{name}` has shape {theirs:?} in `{b}`, but this layer needs {shape:?}"),
                                )
                                .primary(layer.span, format!("needs {shape:?}"))
                                .secondary(l.span, format!("trained by `{b}` as {theirs:?} (input {})", producer.input))
                                .secondary(p.span, "weights taken from here")
                                .help("the pretrained stage must be instantiated with the same input shape and arguments in both blocks"),
                            );
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    cycles(summaries, &by_name, diags);
}

/// Reports each cycle of block references once, at the reference that closes it.
fn cycles(
    summaries: &[ModelSummary],
    by_name: &HashMap<&str, &ModelSummary>,
    diags: &mut Vec<Diag>,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark: HashMap<&str, Mark> = summaries
        .iter()
        .map(|s| (s.train.as_str(), Mark::New))
        .collect();
    for root in summaries {
        if mark.get(root.train.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Iterative depth-first search: (block, next reference to follow).
        let mut stack: Vec<(&ModelSummary, usize)> = vec![(root, 0)];
        mark.insert(root.train.as_str(), Mark::Active);
        while let Some((s, i)) = stack.pop() {
            let Some(p) = s.pretrained.get(i) else {
                mark.insert(s.train.as_str(), Mark::Done);
                continue;
            };
            stack.push((s, i + 1));
            let WeightsSource::Block(b) = &p.source else {
                continue;
            };
            match (mark.get(b.as_str()).copied(), by_name.get(b.as_str())) {
                (Some(Mark::Active), _) => {
                    let path: Vec<&str> = stack
                        .iter()
                        .map(|(s, _)| s.train.as_str())
                        .skip_while(|n| n != b)
                        .collect();
                    diags.push(
                        Diag::new(
                            "amm::train::cycle",
                            format!(
                                "train blocks take weights from each other in a cycle: {} -> {b}",
                                path.join(" -> ")
                            ),
                        )
                        .primary(p.span, format!("`{}` needs `{b}` to be trained first", s.train))
                        .help("one block of the cycle must start from its own initial weights or from a file"),
                    );
                }
                (Some(Mark::New), Some(next)) => {
                    mark.insert(b.as_str(), Mark::Active);
                    stack.push((next, 0));
                }
                _ => {}
            }
        }
    }
}
