//! Assigning a subscription's licences and withdrawing them, for a school's manager: the
//! checks of `domain::assign`, the licence count over the people reached, the versioned write
//! (`add_assignment_if`, read again on a conflict) and the trace of each change. The
//! assignment page (`http::affectations`) and the demo's seeding call these.

use chrono::{DateTime, Utc};

use super::Deps;
use crate::domain::assign::{self, AssignRefusal};
use crate::domain::licence_count::{count, AudienceCounts};
use crate::domain::{Assignment, AssignmentTarget, Person, Subscription};
use crate::store::{Conditional, StoreError};
use crate::trace::TraceEvent;

/// Withdraws `a`, traced as `manager`'s when there was one. The caller checked that `manager`
/// manages the school.
pub async fn withdraw(d: &Deps<'_>, manager: &Person, a: &Assignment) -> Result<(), StoreError> {
    if d.store.remove_assignment(a).await? {
        traced(d, manager, a, "withdraw");
    }
    Ok(())
}

/// The people `s` reaches now, and with `extra` added: summed over its schools.
pub async fn reached(
    d: &Deps<'_>,
    s: &Subscription,
    extra: Option<&Assignment>,
) -> Result<(AudienceCounts, AudienceCounts), StoreError> {
    let (mut now, mut with) = (Vec::new(), Vec::new());
    for u in &s.uais {
        let persons = d.store.school_persons(u).await?;
        let mut assignments = d.store.assignments(&s.id, u).await?;
        let here = count(s, u, &persons, &assignments);
        now.push(here);
        with.push(match extra.filter(|a| &a.uai == u) {
            Some(a) => {
                assignments.push(a.clone());
                count(s, u, &persons, &assignments)
            }
            None => here,
        });
    }
    Ok((assign::sum(&now), assign::sum(&with)))
}

fn traced(d: &Deps<'_>, manager: &Person, a: &Assignment, action: &'static str) {
    let target = match &a.target {
        AssignmentTarget::Person { ent, id } => {
            format!("person:{}", d.subject(ent, id))
        }
        AssignmentTarget::Group { code } => format!("group:{code}"),
    };
    d.tracer.record(TraceEvent::AssignmentChanged {
        manager: d.subject(&manager.ent, &manager.id),
        action,
        subscription: a.subscription_id.clone(),
        uai: a.uai.clone(),
        target,
    });
}

/// What an accepted assignment came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigned {
    /// Written (and traced).
    Done,
    /// The same assignment was already there.
    AlreadyThere,
}

/// The assignment rule, protocol-free: `manager` assigns `subscription` to `a.target` in
/// `a.uai`. Checks the manager, the subscription and the target (`domain::assign::check`),
/// then counts the people reached at a version of the assignments, checks the licences and
/// writes only if the version is still current (`add_assignment_if`), reading again on a
/// conflict. A write is traced as the manager's `assignment_changed`.
pub async fn assign(
    d: &Deps<'_>,
    manager: &Person,
    subscription: &Subscription,
    a: &Assignment,
    now: DateTime<Utc>,
) -> Result<Result<Assigned, AssignRefusal>, StoreError> {
    let persons = d.store.school_persons(&a.uai).await?;
    let groups = d.store.school_groups(&a.uai).await?;
    if let Err(r) = assign::check(
        manager,
        subscription,
        &a.uai,
        &a.target,
        &persons,
        &groups,
        now,
    ) {
        return Ok(Err(r));
    }
    // Read the version, count, check, write if nobody wrote meanwhile; else again.
    for _ in 0..20 {
        let version = d.store.assignments_version(&a.subscription_id).await?;
        let (before, after) = reached(d, subscription, Some(a)).await?;
        if let Err(r) = assign::within_licences(subscription, &before, &after) {
            return Ok(Err(r));
        }
        match d.store.add_assignment_if(a, version).await? {
            Conditional::Done => {
                traced(d, manager, a, "assign");
                return Ok(Ok(Assigned::Done));
            }
            Conditional::Unchanged => return Ok(Ok(Assigned::AlreadyThere)),
            Conditional::Conflict => continue,
        }
    }
    Err(StoreError::Unavailable(
        "affectations: the subscription kept changing; try again".into(),
    ))
}
