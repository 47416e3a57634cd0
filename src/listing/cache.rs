//! What a node keeps of each school's listing inputs between requests: the school's
//! subscriptions, their assignments, the resources they are for and each resource's entry as
//! the protocol layer renders it, keyed by ENT and school.
//!
//! A view is valid while the store's [`ListingStamp`] of the school holds; every request reads
//! the stamp fresh, so a subscription or an assignment written on any node shows on every
//! node at the next request. A zero stamp (never written, or a store that lost its data) is
//! never cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::{Assignment, IdEnt, Resource, Subscription, Uai};
use crate::store::ListingStamp;

/// One resource a subscription at the school is for.
pub struct ViewEntry {
    pub resource: Resource,
    /// Every subscription (deleted ones included) for the resource covering the school.
    pub(super) subscriptions: Vec<Subscription>,
    /// The resource's listing entry, rendered once by the protocol layer.
    pub rendered: Box<[u8]>,
}

/// A school's listing inputs as read at one stamp.
pub struct SchoolView {
    pub(super) stamp: ListingStamp,
    /// In catalogue order.
    pub(super) entries: Vec<ViewEntry>,
    /// The assignments in the school of its live individual subscriptions.
    pub(super) assignments: Vec<Assignment>,
}

/// The views of up to `capacity` schools.
pub struct ListingCache {
    capacity: usize,
    views: Mutex<HashMap<(IdEnt, Uai), Arc<SchoolView>>>,
    /// Requests served from a view built earlier.
    pub hits: AtomicU64,
    /// Requests that read the school's inputs from the store.
    pub misses: AtomicU64,
}

impl ListingCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            views: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn views(&self) -> std::sync::MutexGuard<'_, HashMap<(IdEnt, Uai), Arc<SchoolView>>> {
        // Entries are replaced whole: a panic elsewhere cannot leave one half-written.
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The view of the school built at exactly `stamp`, if this node has one.
    pub(super) fn get(
        &self,
        ent: &IdEnt,
        uai: &Uai,
        stamp: ListingStamp,
    ) -> Option<Arc<SchoolView>> {
        let found = self
            .views()
            .get(&(ent.clone(), uai.clone()))
            .filter(|v| v.stamp == stamp)
            .cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `view` unless its stamp is zero or caching is off; when full, an arbitrary other
    /// school's view makes room.
    pub(super) fn put(&self, ent: &IdEnt, uai: &Uai, view: Arc<SchoolView>) {
        if self.capacity == 0 || view.stamp.school == 0 || view.stamp.catalogue == 0 {
            return;
        }
        let key = (ent.clone(), uai.clone());
        let mut views = self.views();
        if views.len() >= self.capacity && !views.contains_key(&key) {
            if let Some(evicted) = views.keys().next().cloned() {
                views.remove(&evicted);
            }
        }
        views.insert(key, view);
    }

    /// How many schools' views are kept.
    pub fn len(&self) -> usize {
        self.views().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
