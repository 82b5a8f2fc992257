//! The leader's assignment, incremental and cooperative as Connect's: work stays where it runs;
//! work nobody runs goes back to the member the leader remembers giving it to (a restarted static
//! member, or one that stopped its work when it lost its session), if that member is under its
//! share; the rest of the new or orphaned connectors and tasks go to the least loaded members
//! (ties by member id, so every leader computes the same thing); a member holding more than its
//! share gives the excess up ("revoked") and the next round places it, so no connector or task
//! ever has two owners. Pure: no I/O.

use super::protocol::{Allocation, CONNECTOR_TASK};
use std::collections::{BTreeMap, BTreeSet};

/// One unit of work: a connector instance (`-1`) or one of its tasks.
pub type Unit = (String, i32);

/// Each member's new assignment and what it must stop first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub assigned: BTreeMap<String, Allocation>,
    pub revoked: BTreeMap<String, Allocation>,
}

/// Every unit of work: each connector instance and its committed tasks.
pub fn units(task_counts: &BTreeMap<String, usize>) -> BTreeSet<Unit> {
    task_counts
        .iter()
        .flat_map(|(c, n)| {
            std::iter::once((c.clone(), CONNECTOR_TASK))
                .chain((0..*n as i32).map(|t| (c.clone(), t)))
        })
        .collect()
}

fn insert(a: &mut Allocation, (c, t): &Unit) {
    a.entry(c.clone()).or_default().insert(*t);
}

/// Computes the assignment for `members` (member id -> what it runs now). `remembered` (member
/// id -> what the last assignment gave it) only places work that no member runs.
pub fn assign(
    members: &BTreeMap<String, Allocation>,
    remembered: &BTreeMap<String, Allocation>,
    work: &BTreeSet<Unit>,
) -> Plan {
    let mut plan = Plan::default();
    if members.is_empty() {
        return plan;
    }
    // Work two members report running (one kept it past a lost session) is revoked from both;
    // the next round places it once.
    let mut reporters: BTreeMap<Unit, usize> = BTreeMap::new();
    for owned in members.values() {
        for (c, tasks) in owned {
            for t in tasks {
                *reporters.entry((c.clone(), *t)).or_default() += 1;
            }
        }
    }
    let mut taken: BTreeSet<Unit> = BTreeSet::new();
    let mut kept: BTreeMap<&str, Vec<Unit>> = BTreeMap::new();
    for (m, owned) in members {
        let mine = kept.entry(m.as_str()).or_default();
        for (c, tasks) in owned {
            for t in tasks {
                let u = (c.clone(), *t);
                if reporters.get(&u).copied().unwrap_or(0) > 1 {
                    insert(plan.revoked.entry(m.to_string()).or_default(), &u);
                    taken.insert(u);
                } else if work.contains(&u) && taken.insert(u.clone()) {
                    mine.push(u);
                }
            }
        }
    }
    let cap = work.len().div_ceil(members.len());
    for (m, units) in kept.iter_mut() {
        while units.len() > cap {
            if let Some(u) = units.pop() {
                insert(plan.revoked.entry(m.to_string()).or_default(), &u);
            }
        }
    }
    let revoked: BTreeSet<Unit> = plan
        .revoked
        .values()
        .flat_map(|a| {
            a.iter()
                .flat_map(|(c, ts)| ts.iter().map(|t| (c.clone(), *t)))
        })
        .collect();
    for (m, owned) in remembered {
        let Some(mine) = kept.get_mut(m.as_str()) else {
            continue;
        };
        for (c, tasks) in owned {
            for t in tasks {
                let u = (c.clone(), *t);
                if mine.len() < cap && work.contains(&u) && taken.insert(u.clone()) {
                    mine.push(u);
                }
            }
        }
    }
    for u in work {
        if taken.contains(u) || revoked.contains(u) {
            continue;
        }
        let target = kept
            .iter()
            .min_by_key(|(m, units)| (units.len(), *m))
            .map(|(m, _)| *m);
        if let Some(m) = target {
            kept.entry(m).or_default().push(u.clone());
        }
    }
    for (m, units) in kept {
        let a = plan.assigned.entry(m.to_string()).or_default();
        for u in &units {
            insert(a, u);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(units: &[(&str, i32)]) -> Allocation {
        let mut a = Allocation::new();
        for (c, t) in units {
            insert(&mut a, &(c.to_string(), *t));
        }
        a
    }

    fn count(a: Option<&Allocation>) -> usize {
        a.map_or(0, |a| a.values().map(BTreeSet::len).sum())
    }

    #[test]
    fn new_work_is_spread_over_members() {
        let work = units(&[("a".to_string(), 2), ("b".to_string(), 1)].into());
        let members = [
            ("m1".to_string(), Allocation::new()),
            ("m2".to_string(), Allocation::new()),
        ]
        .into();
        let plan = assign(&members, &BTreeMap::new(), &work);
        assert_eq!(count(plan.assigned.get("m1")), 3);
        assert_eq!(count(plan.assigned.get("m2")), 2);
        assert!(plan.revoked.is_empty());
    }

    #[test]
    fn work_stays_put_and_a_departed_members_work_moves() {
        let work = units(&[("a".to_string(), 3)].into());
        let m1 = alloc(&[("a", -1), ("a", 0)]);
        let members = [
            ("m1".to_string(), m1.clone()),
            ("m3".to_string(), Allocation::new()),
        ]
        .into();
        let plan = assign(&members, &BTreeMap::new(), &work);
        // m1 keeps its two; the two that m2 (gone) had go to m3.
        assert_eq!(plan.assigned["m1"], m1);
        assert_eq!(count(plan.assigned.get("m3")), 2);
    }

    #[test]
    fn an_overloaded_member_revokes_before_others_take_over() {
        let work = units(&[("a".to_string(), 3)].into());
        let all = alloc(&[("a", -1), ("a", 0), ("a", 1), ("a", 2)]);
        let members = [
            ("m1".to_string(), all),
            ("m2".to_string(), Allocation::new()),
        ]
        .into();
        let plan = assign(&members, &BTreeMap::new(), &work);
        assert_eq!(count(plan.assigned.get("m1")), 2);
        assert_eq!(count(plan.revoked.get("m1")), 2);
        // Not given to m2 in the same round: never two owners.
        assert_eq!(count(plan.assigned.get("m2")), 0);
        // Next round, after m1 stopped them.
        let members = [
            ("m1".to_string(), plan.assigned["m1"].clone()),
            ("m2".to_string(), Allocation::new()),
        ]
        .into();
        let next = assign(&members, &BTreeMap::new(), &work);
        assert_eq!(count(next.assigned.get("m2")), 2);
        assert!(next.revoked.is_empty());
    }

    #[test]
    fn a_member_that_runs_nothing_gets_its_remembered_work_back() {
        let work = units(&[("a".to_string(), 3)].into());
        let m1 = alloc(&[("a", -1), ("a", 0)]);
        let m2 = alloc(&[("a", 1), ("a", 2)]);
        // m2 restarted (same instance) and runs nothing; m3 is new and just as empty.
        let members = [
            ("m1".to_string(), m1.clone()),
            ("m2".to_string(), Allocation::new()),
            ("m3".to_string(), Allocation::new()),
        ]
        .into();
        let remembered = [
            ("m1".to_string(), m1.clone()),
            ("m2".to_string(), m2.clone()),
        ]
        .into();
        let plan = assign(&members, &remembered, &work);
        assert_eq!(plan.assigned["m2"], m2);
        assert_eq!(plan.assigned["m1"], m1);
        assert_eq!(count(plan.assigned.get("m3")), 0);
        assert!(plan.revoked.is_empty());
    }

    #[test]
    fn work_two_members_run_is_revoked_from_both_and_placed_later() {
        let work = units(&[("a".to_string(), 2)].into());
        let members = [
            ("m1".to_string(), alloc(&[("a", -1), ("a", 0)])),
            ("m2".to_string(), alloc(&[("a", 0), ("a", 1)])),
        ]
        .into();
        let plan = assign(&members, &BTreeMap::new(), &work);
        assert_eq!(plan.revoked["m1"], alloc(&[("a", 0)]));
        assert_eq!(plan.revoked["m2"], alloc(&[("a", 0)]));
        assert_eq!(plan.assigned["m1"], alloc(&[("a", -1)]));
        assert_eq!(plan.assigned["m2"], alloc(&[("a", 1)]));
        let members = [
            ("m1".to_string(), plan.assigned["m1"].clone()),
            ("m2".to_string(), plan.assigned["m2"].clone()),
        ]
        .into();
        let next = assign(&members, &BTreeMap::new(), &work);
        assert_eq!(
            count(next.assigned.get("m1")) + count(next.assigned.get("m2")),
            3
        );
        assert!(next.revoked.is_empty());
    }

    #[test]
    fn running_work_wins_over_remembered_work() {
        let work = units(&[("a".to_string(), 1)].into());
        // m2 was given task 0 once, but m1 runs it now: it stays on m1 and is not doubled.
        let members = [
            ("m1".to_string(), alloc(&[("a", 0)])),
            ("m2".to_string(), Allocation::new()),
        ]
        .into();
        let remembered = [("m2".to_string(), alloc(&[("a", -1), ("a", 0)]))].into();
        let plan = assign(&members, &remembered, &work);
        assert_eq!(plan.assigned["m1"], alloc(&[("a", 0)]));
        assert_eq!(plan.assigned["m2"], alloc(&[("a", -1)]));
    }

    #[test]
    fn remembered_work_beyond_a_share_goes_to_others_at_once() {
        let work = units(&[("a".to_string(), 3)].into());
        let members = [
            ("m1".to_string(), Allocation::new()),
            ("m2".to_string(), Allocation::new()),
        ]
        .into();
        let remembered = [(
            "m1".to_string(),
            alloc(&[("a", -1), ("a", 0), ("a", 1), ("a", 2)]),
        )]
        .into();
        let plan = assign(&members, &remembered, &work);
        assert_eq!(count(plan.assigned.get("m1")), 2);
        assert_eq!(count(plan.assigned.get("m2")), 2);
        assert!(plan.revoked.is_empty());
    }
}
