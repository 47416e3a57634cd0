//! `passerelle directory move-school`: the only way a school changes ENT. An import never
//! takes a school bound to another ENT (`domain::school_scope`); an operator moves it, and
//! the move is recorded in the audit log (chain `operator`) and the trace.

use std::path::Path;
use std::sync::Arc;

use crate::config::{self, StoreConfig};
use crate::domain::{IdEnt, Uai};
use crate::trace::{JsonLinesSink, TraceEvent, TraceSink};

/// The audit chain of operators' commands, beside the nodes' own chains.
pub const OPERATOR_CHAIN: &str = "operator";

/// Binds `uai` to ENT `to`; `by` names who decided it. Exit status: 0 when moved.
pub async fn move_school(config: &Path, uai: &str, to: &str, by: &str) -> anyhow::Result<i32> {
    let cfg = match config::load(config, super::env_vars()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", config.display());
            return Ok(1);
        }
    };
    let uai: Uai = uai.parse().map_err(|e| anyhow::anyhow!("--uai: {e}"))?;
    let to: IdEnt = to.parse().map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let Some(ent) = cfg.ents.get(&to) else {
        eprintln!(
            "--to {to}: not an ENT of {} (configure [ents.{to}])",
            config.display()
        );
        return Ok(1);
    };
    if ent.schools.as_ref().is_some_and(|d| !d.contains(&uai)) {
        eprintln!("{uai} is outside the schools ents.{to} declares: add it to ents.{to}.uais (or its département, its académie) first");
        return Ok(1);
    }
    if by.trim().is_empty() {
        eprintln!("--by: say who decided the move (a name, a ticket)");
        return Ok(1);
    }
    if cfg.store == StoreConfig::Memory {
        eprintln!("the configuration has no store.redis_url: a move in an in-memory store would be lost when this command ends");
        return Ok(1);
    }
    let mut sinks: Vec<Arc<dyn TraceSink>> = vec![Arc::new(
        JsonLinesSink::open(&cfg.trace_path, OPERATOR_CHAIN)
            .map_err(|e| anyhow::anyhow!("cannot open trace.path {}: {e}", cfg.trace_path))?,
    )];
    if let Some(a) = &cfg.audit {
        sinks.push(Arc::new(
            crate::audit::AuditLog::open(
                a.clone(),
                OPERATOR_CHAIN,
                cfg.signing_key.get().key.clone(),
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the audit log in {} (audit.dir): {e}",
                    a.dir.display()
                )
            })?,
        ));
    }
    let store = super::open_store(&cfg).await?;
    let from = store.bind_school(&uai, &to).await?;
    let event = TraceEvent::SchoolMoved {
        uai: uai.clone(),
        from: from.clone(),
        ent: to.clone(),
        by: by.trim().to_string(),
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    crate::trace::FanOut(sinks).record(now, event);
    match from {
        Some(from) if from == to => println!("{uai} was already bound to {to}"),
        Some(from) => println!("{uai} moved from {from} to {to}: {from}'s imports may no longer name it, {to}'s next import serves it"),
        None => println!("{uai} bound to {to}: {to}'s next import serves it"),
    }
    Ok(0)
}
