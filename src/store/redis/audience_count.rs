//! The Redis store's counting, in two steps per partition (each partition one slot, so that a
//! cluster's nodes count theirs): `decide_events.lua` decides a batch and keeps the decisions
//! under the batch's token; this module adds what they count to the counter's window
//! ([`PartWindow`]); `apply_counts.lua` applies a window's summed counts at once, unless a
//! batch of it was taken over (its counter took longer than `claim_idle` and another claimed
//! its events).

use std::sync::LazyLock;
use std::time::Duration;

use rand::RngCore;
use redis::{Cmd, ErrorKind, FromRedisValue, Script};

use super::{unavailable, RedisStore};
use crate::domain::count_window::{Deltas, VIEWS};
use crate::domain::counting::{
    click_record, dims_of, fnv, parse_click_record, DOUBLE_CLICK_MS, PARTS, VISITOR_DAY_SECONDS,
};
use crate::domain::{AudienceEvent, Counted, Decided, PartWindow};
use crate::store::StoreResult;

static DECIDE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("decide_events.lua")));
static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("apply_counts.lua")));

/// An event's cells, as (view, scope value, value), with their tokens appended to `tokens` (8
/// bytes each, FNV-1a of `<scope>:<by>=<value>`, as
/// [`crate::domain::counting::cell_token`]) when asked.
fn cells<'a>(
    dims: &[&'a str; 7],
    mut tokens: Option<&mut Vec<u8>>,
) -> Vec<(usize, &'a str, &'a str)> {
    VIEWS
        .iter()
        .enumerate()
        .map(|(n, (scope_dim, sp, by, bp))| {
            let scope = sp.map_or("", |i| dims[i]);
            let value = bp.map_or("*", |i| dims[i]);
            if let Some(tokens) = tokens.as_deref_mut() {
                let t = match sp {
                    Some(_) => fnv(&[
                        scope_dim.as_bytes(),
                        b"=",
                        scope.as_bytes(),
                        b":",
                        by.as_bytes(),
                        b"=",
                        value.as_bytes(),
                    ]),
                    None => fnv(&[b"all:", by.as_bytes(), b"=", value.as_bytes()]),
                };
                tokens.extend_from_slice(&t);
            }
            (n, scope, value)
        })
        .collect()
}

/// `EVALSHA` of a script with one key (its partition's, for routing), arguments to follow.
fn evalsha(script: &Script, key: &str) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(1).arg(key);
    cmd
}

fn token() -> String {
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl RedisStore {
    /// Runs a script's command, loading the script first if Redis does not know it.
    async fn run<T: FromRedisValue>(&self, script: &Script, cmd: &Cmd) -> redis::RedisResult<T> {
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Err(e) if e.kind() == ErrorKind::NoScriptError => {
                script.prepare_invoke().load_async(&mut conn).await?;
                cmd.query_async(&mut conn).await
            }
            other => other,
        }
    }

    /// Decides one partition's share of a batch in one run of `decide_events.lua`, and adds
    /// what it counts to the partition's window.
    async fn decide_part(
        &self,
        part: u8,
        events: &[(&str, &AudienceEvent)],
        dedup: Duration,
        window: &mut PartWindow,
    ) -> StoreResult<Counted> {
        let at = |rest: &str| self.keys.audience_part(part, rest);
        let token = token();
        let mut cmd = evalsha(&DECIDE, &at("counts"));
        cmd.arg(at(""))
            .arg(&token)
            .arg(dedup.as_secs().max(1))
            .arg(DOUBLE_CLICK_MS)
            .arg(VISITOR_DAY_SECONDS)
            .arg(events.len())
            .arg(VIEWS.len());
        let mut tokens = Vec::with_capacity(8 * VIEWS.len());
        let mut of_event = Vec::with_capacity(events.len());
        for (sid, e) in events {
            let prev = match (&e.visitor_prev, e.day.pred_opt()) {
                (Some(v), Some(d)) => at(&format!("vd:{d}|{v}|{}", e.uai)),
                _ => String::new(),
            };
            tokens.clear();
            of_event.push(cells(&dims_of(e), Some(&mut tokens)));
            cmd.arg(&e.id)
                .arg(*sid)
                .arg(e.t)
                .arg(at(&format!("vd:{}|{}|{}", e.day, e.visitor, e.uai)))
                .arg(prev)
                .arg(&e.resource)
                .arg(click_record(e))
                .arg(&tokens[..]);
        }
        let decisions: Vec<String> = self
            .run(&DECIDE, &cmd)
            .await
            .map_err(unavailable("decide audience events"))?;
        let mut counted = Counted::default();
        let mut key = String::new();
        for ((mine, d), (_, e)) in of_event.iter().zip(&decisions).zip(events) {
            let (bits, back) = d.split_once('|').unwrap_or((d, ""));
            let bits = bits.as_bytes();
            if bits.len() != VIEWS.len() + 1 {
                counted.duplicates += 1;
                continue;
            }
            counted.new += 1;
            let kept = i64::from(bits[0] == b'1');
            let day = e.day.to_string();
            for ((view, scope, value), new) in mine.iter().zip(&bits[1..]) {
                let d: Deltas = [1, kept, i64::from(*new == b'1')];
                window.add(&mut key, &day, *view, scope, value, d);
            }
            // The earlier click the double-click rule replaced: its filtered count back.
            if let Some((day, dims)) = parse_click_record(back) {
                let day = day.to_string();
                let dims = dims.each_ref().map(String::as_str);
                for (view, scope, value) in cells(&dims, None) {
                    window.add(&mut key, &day, view, scope, value, [0, -1, 0]);
                }
            }
        }
        if counted.new > 0 {
            window.tokens.push(token);
        }
        Ok(counted)
    }

    /// Applies one partition's share of a window in one run of `apply_counts.lua`.
    async fn apply_part(&self, part: u8, w: &PartWindow, retention: Duration) -> StoreResult<bool> {
        if w.tokens.is_empty() {
            return Ok(true);
        }
        let at = |rest: &str| self.keys.audience_part(part, rest);
        let writes = w.writes();
        let mut cmd = evalsha(&APPLY, &at("counts"));
        cmd.arg(at(""))
            .arg(retention.as_secs().max(1))
            .arg(w.tokens.len())
            .arg(writes.len());
        for t in &w.tokens {
            cmd.arg(t);
        }
        for (key, fields) in &writes {
            cmd.arg(key).arg(fields.len());
            for (f, [r, fl, u]) in fields {
                cmd.arg(f).arg(*r).arg(*fl).arg(*u);
            }
        }
        let applied: i64 = self
            .run(&APPLY, &cmd)
            .await
            .map_err(unavailable("apply audience counts"))?;
        Ok(applied == 1)
    }

    /// Decides a batch into a window, its partitions at once (on a cluster, by their own
    /// nodes).
    pub(super) async fn decide(
        &self,
        events: &[AudienceEvent],
        stream_ids: &[String],
        dedup: Duration,
        window: &mut Decided,
    ) -> StoreResult<()> {
        let mut parts: Vec<Vec<(&str, &AudienceEvent)>> = vec![Vec::new(); usize::from(PARTS)];
        for (i, e) in events.iter().enumerate() {
            let sid = stream_ids.get(i).map_or("", String::as_str);
            parts[usize::from(e.part % PARTS)].push((sid, e));
        }
        for (part, batch) in parts.iter().enumerate() {
            if !batch.is_empty() {
                window.parts.entry(part as u8).or_default();
            }
        }
        let runs = window
            .parts
            .iter_mut()
            .filter(|(part, _)| !parts[usize::from(**part)].is_empty())
            .map(|(part, w)| self.decide_part(*part, &parts[usize::from(*part)], dedup, w));
        for counted in futures_util::future::try_join_all(runs).await? {
            window.counted += counted;
        }
        Ok(())
    }

    /// Applies a window, its partitions at once.
    pub(super) async fn apply(&self, window: &Decided, retention: Duration) -> StoreResult<bool> {
        let runs = window
            .parts
            .iter()
            .map(|(part, w)| self.apply_part(*part, w, retention));
        Ok(futures_util::future::try_join_all(runs)
            .await?
            .into_iter()
            .all(|applied| applied))
    }
}
