//! The scores of recently asked names, so the names a network resolves again and again (most
//! of DNS traffic, and of the events a SIEM enriches) skip the model: a hit costs a hash
//! lookup instead of the LSTM's ~30 µs. Scores do not depend on what else is scored, so an
//! answer from the cache is the answer the model gives.
//!
//! Bounded in names: two generations of at most `capacity / 2` names each. When the young
//! generation is full, the old one is dropped and the young one takes its place; a name found
//! in the old generation moves to the young one, so names still in use stay. Memory stays
//! under `capacity` names (each at most 253 bytes, plus its output row), whatever clients send.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

type Rows = HashMap<Box<str>, Box<[f32]>>;

/// The most names any cache may hold (about 330 MB at worst): a bound for every flag and
/// option that sizes one.
pub const MAX_CAPACITY: usize = 1_000_000;

pub struct ScoreCache {
    generations: Mutex<(Rows, Rows)>,
    /// Names per generation.
    half: usize,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl std::fmt::Debug for ScoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScoreCache({} of {} names)", self.len(), self.half * 2)
    }
}

impl ScoreCache {
    /// A cache of at most `capacity` names; `None` for 0 (no cache).
    pub fn new(capacity: usize) -> Option<ScoreCache> {
        (capacity > 0).then(|| ScoreCache {
            generations: Mutex::new((Rows::new(), Rows::new())),
            half: capacity.div_ceil(2),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The cached output row of each name, `None` where it is not cached.
    pub fn lookup(&self, names: &[String]) -> Vec<Option<Box<[f32]>>> {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let found: Vec<Option<Box<[f32]>>> = names
            .iter()
            .map(|name| {
                let (young, old) = &mut *generations;
                if let Some(row) = young.get(name.as_str()) {
                    return Some(row.clone());
                }
                // Still in use: move it to the young generation.
                let (key, row) = old.remove_entry(name.as_str())?;
                let copy = row.clone();
                Self::insert_into(&mut generations, self.half, key, row);
                Some(copy)
            })
            .collect();
        let hits = found.iter().filter(|row| row.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(names.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    /// Remembers the output rows (`outputs` values per name, in order) of `names`.
    pub fn insert(&self, names: &[String], rows: &[f32], outputs: usize) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        for (name, row) in names.iter().zip(rows.chunks_exact(outputs)) {
            Self::insert_into(
                &mut generations,
                self.half,
                name.as_str().into(),
                row.into(),
            );
        }
    }

    /// Output rows of `names` in order: cached ones from the cache, the rest from `score`
    /// (called once, on the names not cached, only if there are any) and remembered.
    pub fn probabilities(
        &self,
        names: &[String],
        outputs: usize,
        score: impl FnOnce(&[String]) -> Vec<f32>,
    ) -> Vec<f32> {
        let found = self.lookup(names);
        let missing = Self::missing(names, &found);
        let scored = if missing.is_empty() {
            Vec::new()
        } else {
            score(&missing)
        };
        self.insert(&missing, &scored, outputs);
        Self::merge(found, &scored, outputs).expect("one scored row per missing name")
    }

    /// The names `lookup` did not find, in order.
    pub fn missing(names: &[String], found: &[Option<Box<[f32]>>]) -> Vec<String> {
        names
            .iter()
            .zip(found)
            .filter(|(_, row)| row.is_none())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The rows of every name: `found` where the cache had them, else the next row of
    /// `scored` (the missing names' rows, in order). `None` if `scored` is short.
    pub fn merge(
        found: Vec<Option<Box<[f32]>>>,
        scored: &[f32],
        outputs: usize,
    ) -> Option<Vec<f32>> {
        let mut fresh = scored.chunks_exact(outputs);
        let mut rows = Vec::with_capacity(found.len() * outputs);
        for row in found {
            match row {
                Some(row) => rows.extend_from_slice(&row),
                None => rows.extend_from_slice(fresh.next()?),
            }
        }
        Some(rows)
    }

    fn insert_into(generations: &mut (Rows, Rows), half: usize, name: Box<str>, row: Box<[f32]>) {
        let (young, old) = generations;
        if young.len() >= half && !young.contains_key(&name) {
            // The young generation is full: it becomes the old one, the old one goes.
            *old = std::mem::take(young);
        }
        young.insert(name, row);
    }

    /// Names held now (at most the capacity).
    pub fn len(&self) -> usize {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.0.len() + generations.1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("n{i}.com")).collect()
    }

    #[test]
    fn hits_give_back_what_was_stored_and_misses_are_counted() {
        let cache = ScoreCache::new(100).unwrap();
        let stored = names(0..3);
        cache.insert(&stored, &[0.1, 0.2, 0.3], 1);
        let asked = vec!["n1.com".to_string(), "other.com".to_string()];
        let found = cache.lookup(&asked);
        assert_eq!(found[0].as_deref(), Some(&[0.2f32][..]));
        assert!(found[1].is_none());
        assert_eq!(cache.hits.load(Ordering::Relaxed), 1);
        assert_eq!(cache.misses.load(Ordering::Relaxed), 1);
        // Rows of several outputs (a multiclass model) stay whole.
        cache.insert(&names(10..12), &[0.5, 0.25, 0.25, 0.1, 0.2, 0.7], 3);
        let found = cache.lookup(&names(11..12));
        assert_eq!(found[0].as_deref(), Some(&[0.1f32, 0.2, 0.7][..]));
    }

    #[test]
    fn it_never_holds_more_than_its_capacity_and_keeps_names_in_use() {
        let cache = ScoreCache::new(10).unwrap();
        let kept = vec!["kept.com".to_string()];
        cache.insert(&kept, &[0.9], 1);
        for chunk in names(0..1000).chunks(3) {
            cache.insert(chunk, &vec![0.5; chunk.len()], 1);
            assert!(cache.len() <= 10, "{} names held", cache.len());
            // Asked for all along, so it moves to the young generation and stays.
            assert!(cache.lookup(&kept)[0].is_some());
        }
        // Names not asked for again are gone.
        assert!(cache.lookup(&names(0..3)).iter().all(Option::is_none));
        assert!(ScoreCache::new(0).is_none());
    }
}
