//! Reference models shared by the property tests.

#![allow(dead_code)]

use bytes::Bytes;
use meridian_core::list::ElemId;
use meridian_core::op::ListOp;
use meridian_core::{Op, OpBody};
use std::collections::{BTreeMap, BTreeSet};

/// The field-level ops of `op` for `kind` (unwrapping an expiry wrapper).
pub fn body(op: &Op) -> &OpBody {
    match &op.body {
        OpBody::Expired { then: Some(t), .. } => t,
        b => b,
    }
}

/// The RGA order of the history's list ops, built as a tree.
pub fn reference_list(ops: &[&Op]) -> Vec<Bytes> {
    // Each element: its parent (None: the head), its value and who wrote it.
    let mut parent: BTreeMap<ElemId, Option<ElemId>> = BTreeMap::new();
    let mut value: BTreeMap<ElemId, ((meridian_core::Hlc, meridian_core::RegionId), Bytes)> =
        BTreeMap::new();
    let mut removed: BTreeSet<ElemId> = BTreeSet::new();
    let mut dots = BTreeMap::new();
    for o in ops {
        if let OpBody::List(ListOp::Insert { after, values }) = body(o) {
            let mut prev = *after;
            for (i, v) in values.iter().enumerate() {
                let id = ElemId {
                    hlc: o.hlc,
                    region: o.dot.region,
                    idx: i as u32,
                };
                parent.insert(id, prev);
                value.insert(id, ((o.hlc, o.dot.region), v.clone()));
                dots.insert(id, o.dot);
                prev = Some(id);
            }
        }
    }
    for o in ops {
        match body(o) {
            OpBody::List(ListOp::Remove { ids }) => removed.extend(ids.iter().copied()),
            OpBody::List(ListOp::Set { id, value: v }) => {
                let e = value.get_mut(id).expect("set of a known element");
                if e.0 < (o.hlc, o.dot.region) {
                    *e = ((o.hlc, o.dot.region), v.clone());
                }
            }
            OpBody::Del { .. } | OpBody::Set { .. } => {
                for (id, d) in &dots {
                    if o.deps.covers(*d) {
                        removed.insert(*id);
                    }
                }
            }
            _ => {}
        }
    }
    let mut children: BTreeMap<Option<ElemId>, Vec<ElemId>> = BTreeMap::new();
    for (id, p) in &parent {
        children.entry(*p).or_default().push(*id);
    }
    let mut out = Vec::new();
    fn walk(
        at: Option<ElemId>,
        children: &BTreeMap<Option<ElemId>, Vec<ElemId>>,
        visit: &mut dyn FnMut(ElemId),
    ) {
        let mut kids = children.get(&at).cloned().unwrap_or_default();
        kids.sort_by(|a, b| b.cmp(a));
        for k in kids {
            visit(k);
            walk(Some(k), children, visit);
        }
    }
    walk(None, &children, &mut |id| {
        if !removed.contains(&id) {
            out.push(value[&id].1.clone());
        }
    });
    out
}
