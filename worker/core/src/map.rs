//! [`Map`]: the maps of a tab, kept as short lists.
//!
//! A tab's maps hold a few entries each (its scopes, instances and sockets, a
//! scope's peer tabs), where a linear search is as quick as hashing. Without
//! a hash map, the worker's WASM sheds hashbrown's tables (one per key and
//! value type) and SipHash: 16 KB; and a list visits its entries in the
//! order they came, the same every run.

use std::borrow::Borrow;

/// A map as a list of entries, in the order they were inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Map {
            entries: Vec::new(),
        }
    }
}

impl<K: Eq, V> Map<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn position<Q: Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.entries.iter().position(|(k, _)| k.borrow() == key)
    }

    /// The value of `key`.
    pub fn get<Q: Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.position(key).map(|at| &self.entries[at].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut<Q: Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.position(key).map(|at| &mut self.entries[at].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q: Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.position(key).is_some()
    }

    /// Sets the value of `key`; gives the one it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Some(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of `key`, inserted from `value` first if it has none.
    pub fn get_or_insert_with(&mut self, key: K, value: impl FnOnce() -> V) -> &mut V {
        let at = match self.position(&key) {
            Some(at) => at,
            None => {
                self.entries.push((key, value()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    /// Takes the value of `key` out.
    pub fn remove<Q: Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.position(key).map(|at| self.entries.remove(at).1)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl<K, V> IntoIterator for Map<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::Map;

    #[test]
    fn a_map_keeps_one_value_per_key_in_insertion_order() {
        let mut map = Map::new();
        assert_eq!(map.insert("b".to_owned(), 1), None);
        assert_eq!(map.insert("a".to_owned(), 2), None);
        assert_eq!(map.insert("b".to_owned(), 3), Some(1));
        assert_eq!(map.get("b"), Some(&3));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a"]);
        *map.get_or_insert_with("c".to_owned(), || 0) += 5;
        *map.get_or_insert_with("a".to_owned(), || 0) += 5;
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [3, 7, 5]);
        assert_eq!(map.remove("a"), Some(7));
        assert!(!map.contains_key("a"));
        map.retain(|_, value| *value > 4);
        assert_eq!(map.into_iter().collect::<Vec<_>>(), [("c".to_owned(), 5)]);
    }
}
