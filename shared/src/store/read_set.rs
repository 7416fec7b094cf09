//! What one call read up front, and the few facts a process may remember across calls.
//!
//! A call that knows its keys before it starts (the caller's user, the resource in the path,
//! that resource's app, the settings) reads them all in one `BatchGetItem`
//! ([`super::Store::prefetch`]); the [`ReadSet`] answers the call's later reads of those keys.
//!
//! [`Facts`] are what never changes once written, so remembering them in a warm process is
//! never stale: the user an e-mail address is claimed by (addresses are never moved or
//! released), the app a resource belongs to (a resource never changes app) and the resource
//! a request is for. Nothing that decides what a caller may do is remembered: memberships,
//! admin groups and records are read for every call.

use super::Item;
use crate::domain::{AppId, Email, RequestId, ResourceId, UserId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// The records one call read up front, by primary key; `None` for a key with no record.
#[derive(Debug, Default)]
pub struct ReadSet {
    items: Mutex<HashMap<(String, String), Option<Item>>>,
}

impl ReadSet {
    /// The read set of `keys`, of which `found` are the items that exist.
    pub(super) fn new(keys: impl Iterator<Item = (String, String)>, found: Vec<Item>) -> Self {
        let mut items: HashMap<(String, String), Option<Item>> = keys.map(|k| (k, None)).collect();
        for item in found {
            let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(pk), Some(sk)) = (key(super::keys::PK), key(super::keys::SK)) {
                items.insert((pk, sk), Some(item));
            }
        }
        Self {
            items: Mutex::new(items),
        }
    }

    /// What was read for the key: `Some(None)` if it was read and absent, `None` if it was not
    /// read.
    pub(super) fn get(&self, pk: &str, sk: &str) -> Option<Option<Item>> {
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.get(&(pk.to_owned(), sk.to_owned())).cloned()
    }

    /// Takes in what `other` read and this did not.
    pub(super) fn absorb(&self, other: &ReadSet) {
        let theirs = other.items.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut ours = self.items.lock().unwrap_or_else(|e| e.into_inner());
        for (key, item) in theirs {
            ours.entry(key).or_insert(item);
        }
    }

    /// Forgets one record (the call is about to write it).
    pub(super) fn forget(&self, pk: &str, sk: &str) {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(pk.to_owned(), sk.to_owned()));
    }

    /// Forgets everything (the call is about to write).
    pub(super) fn clear(&self) {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Most entries each memory holds; when full it starts again empty (a miss costs one read).
const MAX_FACTS: usize = 10_000;

/// A bounded map of facts that never change.
#[derive(Debug)]
struct Memory<K, V> {
    entries: Mutex<HashMap<K, V>>,
}

impl<K, V> Default for Memory<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memory<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    fn remember(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_FACTS {
            entries.clear();
        }
        entries.insert(key, value);
    }

    fn forget(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// Facts that never change once recorded, remembered by one process.
#[derive(Debug, Default)]
pub struct Facts {
    users: Memory<Email, UserId>,
    apps: Memory<ResourceId, AppId>,
    resources: Memory<RequestId, ResourceId>,
}

impl Facts {
    /// The user whose e-mail address this is, if this process has seen it.
    pub fn user_of(&self, email: &Email) -> Option<UserId> {
        self.users.get(email)
    }

    /// Remembers that `email` is `user`'s.
    pub fn remember_user(&self, email: &Email, user: &UserId) {
        self.users.remember(email.clone(), user.clone());
    }

    /// Forgets a user id that named no user (a table emptied under a running process).
    pub fn forget_user(&self, email: &Email) {
        self.users.forget(email);
    }

    /// The app a resource belongs to, if this process has seen it.
    pub fn app_of(&self, resource: &ResourceId) -> Option<AppId> {
        self.apps.get(resource)
    }

    /// Remembers that `resource` belongs to `app`.
    pub fn remember_app(&self, resource: &ResourceId, app: &AppId) {
        self.apps.remember(resource.clone(), app.clone());
    }

    /// The resource a request is for, if this process has seen it.
    pub fn resource_of(&self, request: &RequestId) -> Option<ResourceId> {
        self.resources.get(request)
    }

    /// Remembers that `request` is for `resource`.
    pub fn remember_resource(&self, request: &RequestId, resource: &ResourceId) {
        self.resources.remember(request.clone(), resource.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(pk: &str, sk: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    #[test]
    fn a_read_set_answers_found_absent_and_unread_keys_apart_and_forgets_what_is_written() {
        let keys = [("A".to_owned(), "1".to_owned()), ("B".to_owned(), "1".to_owned())];
        let reads = ReadSet::new(keys.into_iter(), vec![item("A", "1")]);
        assert_eq!(reads.get("A", "1"), Some(Some(item("A", "1"))));
        assert_eq!(reads.get("B", "1"), Some(None), "read and absent");
        assert_eq!(reads.get("C", "1"), None, "not read");
        reads.forget("A", "1");
        assert_eq!(reads.get("A", "1"), None, "a record written is read again");
        assert_eq!(reads.get("B", "1"), Some(None), "the others are kept");
        reads.clear();
        assert_eq!(reads.get("B", "1"), None);
    }

    #[test]
    fn facts_are_bounded() {
        let memory: Memory<u32, u32> = Memory::default();
        for n in 0..MAX_FACTS as u32 {
            memory.remember(n, n);
        }
        assert_eq!(memory.get(&7), Some(7));
        memory.remember(u32::MAX, 1);
        assert_eq!(memory.get(&7), None, "a full memory starts again");
        assert_eq!(memory.get(&u32::MAX), Some(1));
    }
}
