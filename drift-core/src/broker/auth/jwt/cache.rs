//! Verified tokens, so that a publisher's every request costs a map lookup
//! rather than a signature check. Bounded; an entry is good until its
//! grant's expiry, and nothing refused is kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::super::Grant;

/// Tokens kept at most. Past it, expired entries go; if none had, all do
/// (the next requests verify again: slower for a moment, never wrong).
pub(super) const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct TokenCache {
    grants: RwLock<HashMap<Box<str>, Arc<Grant>>>,
}

impl TokenCache {
    /// The grant a token was verified to have, if it is held.
    pub(super) fn get(&self, token: &str) -> Option<Arc<Grant>> {
        let grants = self.grants.read().unwrap_or_else(|e| e.into_inner());
        grants.get(token).cloned()
    }

    /// Holds a token's verified grant.
    pub(super) fn put(&self, token: &str, grant: Arc<Grant>) {
        let mut grants = self.grants.write().unwrap_or_else(|e| e.into_inner());
        if grants.len() >= CAPACITY {
            let now = SystemTime::now();
            grants.retain(|_, g| !g.expired_at(now));
            if grants.len() >= CAPACITY {
                grants.clear();
            }
        }
        grants.insert(token.into(), grant);
    }

    pub(super) fn len(&self) -> usize {
        self.grants.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}
