//! The `map` node: its action once per item of a list, at most `concurrency` at a time,
//! the results kept in the list's order. The first item to fail stops the rest through
//! their cancel signal (calls in flight are withdrawn at their upstreams and audited, never
//! dropped), items not started are not started, and the node fails naming the item.
//!
//! Each item's result is recorded as it finishes (a pending write of the step, keyed
//! `{node}[{index}]`), so a map resumed after a crash, or retried, runs only the items that
//! had not finished; an item is at least once, as every node whose step did not commit.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use app::api::workflow::compile::{MAX_MAP_ITEMS, MapAction};
use app::api::workflow::definition::FailureKind;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::nodes::{Context, Failure, act};

/// The results in order, and the trace (each item's own trace).
pub(super) async fn run(
    cx: &Context<'_>,
    name: &str,
    map: &MapAction,
    state: &Value,
    stop: &CancellationToken,
) -> Result<(Vec<Value>, Value), Failure> {
    let vars: [(&str, &Value); 1] = [("state", state)];
    let items = match map.over.eval(&vars[..]) {
        Ok(Value::Array(items)) if items.len() <= MAX_MAP_ITEMS => items,
        Ok(Value::Array(items)) => {
            return Err(Failure::new(
                FailureKind::Expression,
                format!(
                    "`{}` gave {} items; a map takes at most {MAX_MAP_ITEMS}",
                    map.over.source(),
                    items.len()
                ),
            ));
        }
        Ok(other) => {
            return Err(Failure::new(
                FailureKind::Expression,
                format!("`{}` gave {other}, not a list", map.over.source()),
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                FailureKind::Expression,
                format!("`{}`: {}", map.over.source(), e.message),
            ));
        }
    };
    let step = cx.step.load(Ordering::Relaxed);
    let prefix = format!("{name}[");
    let done: HashMap<usize, (Value, Value)> = cx
        .engine
        .0
        .store
        .step_writes(cx.scope, cx.run, step)
        .await
        .map_err(|e| Failure::new(FailureKind::Upstream, e.to_string()))?
        .into_iter()
        .filter_map(|(key, recorded)| {
            let index = key.strip_prefix(&prefix)?.strip_suffix(']')?.parse().ok()?;
            Some((
                index,
                (recorded["value"].clone(), recorded["trace"].clone()),
            ))
        })
        .collect();
    // Fired by the first failure, or with the run's own stop.
    let halt = stop.child_token();
    let first = OnceLock::new();
    let concurrency = usize::try_from(map.concurrency).unwrap_or(1).max(1);
    // In order, at most `concurrency` in flight; a slot freed starts the next item.
    let mut pending = FuturesOrdered::new();
    let mut next = items.iter().enumerate();
    let mut outcomes = Vec::with_capacity(items.len());
    loop {
        while pending.len() < concurrency {
            let Some((index, item)) = next.next() else {
                break;
            };
            let recorded = done.get(&index).cloned();
            pending.push_back(one(
                cx,
                name,
                map,
                state,
                (item, index),
                recorded,
                &halt,
                &first,
            ));
        }
        match pending.next().await {
            Some(outcome) => outcomes.push(outcome),
            None => break,
        }
    }
    // The failure that stopped the map, not the items it stopped after it.
    let first_failure = first
        .get()
        .and_then(|&i| outcomes[i].as_ref().err().map(|f| (i, f)))
        .or_else(|| {
            outcomes
                .iter()
                .enumerate()
                .find_map(|(i, o)| o.as_ref().err().map(|f| (i, f)))
        });
    if let Some((index, failure)) = first_failure {
        let mut failure = failure.clone();
        failure.message = format!("item {index}: {}", failure.message);
        return Err(failure);
    }
    let (values, traces): (Vec<Value>, Vec<Value>) =
        outcomes.into_iter().filter_map(Result::ok).unzip();
    Ok((values, json!({ "items": traces.len(), "outputs": traces })))
}

/// One item. Boxed, with its lifetime named: held unboxed in the ordered set, its future
/// trips the compiler's check that the executor's future is `Send` for every lifetime.
#[allow(clippy::too_many_arguments)]
fn one<'a>(
    cx: &'a Context<'a>,
    name: &'a str,
    map: &'a MapAction,
    state: &'a Value,
    (item, index): (&'a Value, usize),
    recorded: Option<(Value, Value)>,
    halt: &'a CancellationToken,
    first: &'a OnceLock<usize>,
) -> BoxFuture<'a, Result<(Value, Value), Failure>> {
    Box::pin(async move {
        // Finished before a crash or in an earlier attempt.
        if let Some(recorded) = recorded {
            return Ok(recorded);
        }
        if halt.is_cancelled() {
            return Err(Failure::new(FailureKind::Refused, "not started"));
        }
        let index_value = Value::from(index);
        let vars: [(&str, &Value); 3] = [("state", state), ("item", item), ("index", &index_value)];
        // Audited as `workflow-run:{run}:{node}[{index}]`.
        let label = format!("{name}[{index}]");
        let outcome = act(cx, &label, &map.each, &vars, halt).await;
        match &outcome {
            Ok((value, trace)) => {
                let step = cx.step.load(Ordering::Relaxed);
                let recorded = json!({ "value": value, "trace": trace });
                let store = &cx.engine.0.store;
                if let Err(e) = store
                    .record_write(cx.scope, cx.run, step, &label, &recorded, &[])
                    .await
                {
                    // Not recorded: after a crash the item runs again, as before this record.
                    tracing::warn!(error = %e, run = %cx.run, item = %label, "a map item's result was not recorded");
                }
            }
            Err(_) if !halt.is_cancelled() => {
                let _ = first.set(index);
                halt.cancel();
            }
            Err(_) => {}
        }
        outcome
    })
}
