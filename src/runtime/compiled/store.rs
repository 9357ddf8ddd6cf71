//! Borrowing several plan buffers at once: compiled kernels read some buffers and write
//! others in one call, so the executor hands out disjoint slices of its storage, checked
//! here (never two mutable borrows of one storage, never a read of a written one).

use crate::lower::{BufferId, Plan};

use super::ExecError;

/// One buffer a kernel call needs, with the number of leading elements it uses (a short
/// batch uses only the first rows of a batched buffer).
#[derive(Clone, Copy, Debug)]
pub struct Use {
    /// The buffer.
    pub id: BufferId,
    /// Elements from the start of its storage.
    pub len: usize,
}

/// Slices of the requested buffers, in request order.
pub struct Views<'a> {
    /// Read-only buffers.
    pub reads: Vec<&'a [f32]>,
    /// Written buffers.
    pub writes: Vec<&'a mut [f32]>,
}

/// Borrows `reads` immutably and `writes` mutably from `store` (indexed by storage id).
pub fn borrow<'a>(
    store: &'a mut [Vec<f32>],
    plan: &Plan,
    reads: &[Use],
    writes: &[Use],
) -> Result<Views<'a>, ExecError> {
    let rs: Vec<usize> = reads
        .iter()
        .map(|u| plan.storage(u.id).0 as usize)
        .collect();
    let ws: Vec<usize> = writes
        .iter()
        .map(|u| plan.storage(u.id).0 as usize)
        .collect();
    let mut read_slots: Vec<Option<&'a [f32]>> = vec![None; reads.len()];
    let mut write_slots: Vec<Option<&'a mut [f32]>> = (0..writes.len()).map(|_| None).collect();
    let name = |id: BufferId| plan.buffer(id).name.clone();
    for (i, v) in store.iter_mut().enumerate() {
        let w: Vec<usize> = (0..ws.len()).filter(|&j| ws[j] == i).collect();
        let r: Vec<usize> = (0..rs.len()).filter(|&j| rs[j] == i).collect();
        if w.is_empty() && r.is_empty() {
            continue;
        }
        if w.len() > 1 || (w.len() == 1 && !r.is_empty()) {
            let id = writes[w[0]].id;
            return Err(ExecError::Aliasing { buffer: name(id) });
        }
        if let Some(&j) = w.first() {
            let len = writes[j].len;
            if len > v.len() {
                return Err(ExecError::Size {
                    buffer: name(writes[j].id),
                    want: len,
                    have: v.len(),
                });
            }
            write_slots[j] = Some(&mut v[..len]);
        } else {
            let shared: &'a Vec<f32> = v;
            for j in r {
                let len = reads[j].len;
                if len > shared.len() {
                    return Err(ExecError::Size {
                        buffer: name(reads[j].id),
                        want: len,
                        have: shared.len(),
                    });
                }
                read_slots[j] = Some(&shared[..len]);
            }
        }
    }
    let missing = |id: BufferId| ExecError::Size {
        buffer: name(id),
        want: 1,
        have: 0,
    };
    let reads_out = read_slots
        .into_iter()
        .zip(reads)
        .map(|(s, u)| s.ok_or_else(|| missing(u.id)))
        .collect::<Result<Vec<_>, _>>()?;
    let writes_out = write_slots
        .into_iter()
        .zip(writes)
        .map(|(s, u)| s.ok_or_else(|| missing(u.id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Views {
        reads: reads_out,
        writes: writes_out,
    })
}
