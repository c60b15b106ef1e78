//! The embedded backend: indexes and records in the database, and per index a searchable
//! copy in this replica's memory ([`Memory`]), loaded on first use and kept current by this
//! replica's writes. Another replica's write moves the index's revision past the copy's, and
//! the next search here reloads it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::filter::Filter;
use super::hnsw::Visited;
use super::memory::{Memory, Tuning};
use super::metric::Metric;
use crate::store::{Metadata, Removal, Store, StoreError, VectorIndexRow, Written};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;

/// Slots linked into a graph per hold of the index's write lock: searches wait at most this
/// many insertions (a few milliseconds at 100,000 vectors).
const LINK_BATCH: usize = 64;

/// One index's copy in memory.
struct Cached {
    /// Serialises loads, so a burst of first searches reads the table once.
    load: tokio::sync::Mutex<()>,
    state: RwLock<State>,
    /// Whether a task is linking slots into the graph (or compacting).
    linking: AtomicBool,
    /// When a search or write last touched the copy, in ms since [`Embedded::started`].
    used_ms: AtomicU64,
}

struct State {
    /// The revision the copy is of; -1 until loaded.
    revision: i64,
    memory: Memory,
}

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task was cancelled (the runtime is shutting down).
    #[error("the search was stopped")]
    Stopped,
}

/// A match, in the caller's terms.
#[derive(Clone, Debug)]
pub struct Match {
    pub id: String,
    pub score: f32,
    pub metadata: Metadata,
}

/// A nearest-neighbour search.
#[derive(Clone, Debug)]
pub struct Search {
    pub vector: Vec<f32>,
    pub k: usize,
    pub filter: Option<Filter>,
    /// Scan every record instead of walking the graph.
    pub exact: bool,
}

/// What a search answered, and whether it walked the graph or scanned every record.
#[derive(Clone, Debug)]
pub struct Answer {
    pub matches: Vec<Match>,
    pub approximate: bool,
}

/// The backend's state, shared by every tenant's vectors server; cheap to clone.
#[derive(Clone)]
pub struct Embedded {
    store: Store,
    tuning: Tuning,
    cache: Arc<Mutex<HashMap<Uuid, Arc<Cached>>>>,
    /// Copies untouched this long are dropped (the database still has every record).
    idle: Duration,
    started: Instant,
    metrics: Metrics,
}

impl Embedded {
    pub fn new(store: Store, tuning: Tuning, idle: Duration, metrics: Metrics) -> Self {
        Self {
            store,
            tuning,
            cache: Arc::default(),
            idle,
            started: Instant::now(),
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// The index's copy (made empty, to be loaded, if there is none), marked as used; copies
    /// of other indexes idle too long are dropped on the way, so memory follows the indexes
    /// in use rather than every index ever searched.
    fn entry(&self, index: &VectorIndexRow, metric: Metric) -> Arc<Cached> {
        let now = self.now_ms();
        let idle = u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|id, cached| {
            *id == index.id
                || cached.linking.load(Ordering::Acquire)
                || now.saturating_sub(cached.used_ms.load(Ordering::Relaxed)) < idle
        });
        let cached = cache.entry(index.id).or_insert_with(|| {
            Arc::new(Cached {
                load: tokio::sync::Mutex::new(()),
                state: RwLock::new(State {
                    revision: -1,
                    memory: Memory::new(metric, index.dimension as usize, self.tuning),
                }),
                linking: AtomicBool::new(false),
                used_ms: AtomicU64::new(now),
            })
        });
        cached.used_ms.store(now, Ordering::Relaxed);
        let cached = Arc::clone(cached);
        self.metrics.vector_copies(cache.len());
        cached
    }

    /// How many indexes have a copy in memory here.
    pub fn loaded(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets the copy of a deleted index.
    pub fn forget(&self, index: Uuid) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&index);
    }

    /// How many slots of the index's copy the graph covers (0 if not loaded or small).
    pub fn linked(&self, index: Uuid) -> usize {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&index)
            .map_or(0, |c| read(&c.state).memory.linked())
    }

    /// The index's copy, current as of `index.revision` at least.
    async fn current(
        &self,
        scope: &TenantScope,
        index: &VectorIndexRow,
        metric: Metric,
    ) -> Result<Arc<Cached>, StoreError> {
        let cached = self.entry(index, metric);
        if read(&cached.state).revision >= index.revision {
            return Ok(cached);
        }
        let loading = cached.load.lock().await;
        if read(&cached.state).revision >= index.revision {
            drop(loading);
            return Ok(cached);
        }
        let started = Instant::now();
        let mut memory = Memory::new(metric, index.dimension as usize, self.tuning);
        let revision = self
            .store
            .load_vectors(scope, index.id, |row| {
                let values = decode(&row.embedding);
                if values.len() == index.dimension as usize {
                    memory.upsert(row.id, &values, row.metadata.0);
                }
            })
            .await?;
        self.metrics.vector_load(memory.len(), started.elapsed());
        {
            let mut state = write(&cached.state);
            if revision > state.revision {
                *state = State { revision, memory };
            }
        }
        drop(loading);
        self.maintain(&cached);
        Ok(cached)
    }

    /// Brings the copy (if any) up to a write this replica committed: applied in place when
    /// the copy was at the revision just before, else marked stale for the next search.
    fn apply(&self, index: Uuid, written: Written, change: impl FnOnce(&mut Memory)) {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&index).cloned()
        };
        let Some(cached) = cached else { return };
        {
            let mut state = write(&cached.state);
            if state.revision == written.revision - 1 {
                change(&mut state.memory);
                state.revision = written.revision;
            } else if state.revision < written.revision {
                state.revision = -1;
            }
        }
        self.maintain(&cached);
    }

    /// Compacts and links in the background when the copy needs it, a batch at a time.
    fn maintain(&self, cached: &Arc<Cached>) {
        let needed = {
            let state = read(&cached.state);
            state.memory.needs_linking() || state.memory.needs_compaction()
        };
        if !needed || cached.linking.swap(true, Ordering::AcqRel) {
            return;
        }
        let cached = Arc::clone(cached);
        tokio::task::spawn_blocking(move || {
            let mut visited = Visited::new(0);
            loop {
                let mut state = write(&cached.state);
                if state.memory.needs_compaction() {
                    state.memory.compact();
                }
                if !state.memory.needs_linking()
                    || state.memory.link_some(LINK_BATCH, &mut visited) == 0
                {
                    break;
                }
            }
            cached.linking.store(false, Ordering::Release);
        });
    }

    pub async fn upsert(
        &self,
        scope: &TenantScope,
        index: &VectorIndexRow,
        records: Vec<(String, Vec<f32>, Metadata)>,
    ) -> Result<Written, StoreError> {
        let rows: Vec<(String, Vec<u8>, Metadata)> = records
            .iter()
            .map(|(id, values, metadata)| (id.clone(), encode(values), metadata.clone()))
            .collect();
        let written = self.store.upsert_vectors(scope, index.id, &rows).await?;
        self.apply(index.id, written, |memory| {
            for (id, values, metadata) in records {
                memory.upsert(id, &values, metadata);
            }
        });
        Ok(written)
    }

    pub async fn delete(
        &self,
        scope: &TenantScope,
        index: &VectorIndexRow,
        ids: Option<&[String]>,
    ) -> Result<Written, StoreError> {
        let removal = ids.map_or(Removal::All, Removal::Ids);
        let written = self.store.delete_vectors(scope, index.id, removal).await?;
        self.apply(index.id, written, |memory| match ids {
            Some(ids) => ids.iter().for_each(|id| {
                memory.delete(id);
            }),
            None => memory.clear(),
        });
        Ok(written)
    }

    /// Ids of the records `filter` admits.
    pub async fn matching(
        &self,
        scope: &TenantScope,
        index: &VectorIndexRow,
        metric: Metric,
        filter: Filter,
    ) -> Result<Vec<String>, BackendError> {
        let cached = self.current(scope, index, metric).await?;
        blocking(move || read(&cached.state).memory.matching(&filter)).await
    }

    /// The records nearest the search's vector that its filter admits.
    pub async fn query(
        &self,
        scope: &TenantScope,
        index: &VectorIndexRow,
        metric: Metric,
        search: Search,
    ) -> Result<Answer, BackendError> {
        let started = Instant::now();
        let cached = self.current(scope, index, metric).await?;
        let answer = blocking(move || {
            let state = read(&cached.state);
            let memory = &state.memory;
            let approximate = !search.exact && memory.linked() > 0;
            let hits = memory.search(
                &search.vector,
                search.k,
                search.filter.as_ref(),
                search.exact,
            );
            let matches = hits
                .into_iter()
                .map(|hit| Match {
                    id: memory.id(hit.1).to_string(),
                    score: memory.metric().score(hit.0),
                    metadata: memory.metadata(hit.1).clone(),
                })
                .collect();
            Answer {
                matches,
                approximate,
            }
        })
        .await?;
        let path = if answer.approximate { "graph" } else { "exact" };
        self.metrics
            .vector_query("embedded", path, started.elapsed());
        Ok(answer)
    }
}

/// Runs CPU work off the async workers; a panic there is a bug and propagates.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BackendError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(BackendError::Stopped),
    }
}

fn read(lock: &RwLock<State>) -> std::sync::RwLockReadGuard<'_, State> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write(lock: &RwLock<State>) -> std::sync::RwLockWriteGuard<'_, State> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// A vector as stored: little-endian f32s.
pub fn encode(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
