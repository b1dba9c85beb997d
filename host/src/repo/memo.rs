//! Small per-process memos of what is a function of Git objects alone (a blob's size, a
//! commit's check by its id, the trust rules by the blobs they are read from; and, keyed by
//! its text, a parsed configuration: `Config::parse`), for long-lived
//! processes (`serve`, `plan-batch`) that read the same objects for every request. Objects never
//! change under their id, so a new commit is always read afresh; each key also names the
//! repository, so one repository's answers are never served for another's (which may lack
//! some of the objects).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// The last `capacity` answers; the oldest is forgotten when a new one comes.
pub(crate) struct Memo<K, V> {
    entries: Mutex<Option<Remembered<K, V>>>,
    capacity: usize,
}

/// The answers, and their keys oldest first.
struct Remembered<K, V> {
    answers: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V: Clone> Memo<K, V> {
    /// An empty memo of at most `capacity` answers.
    pub(crate) const fn new(capacity: usize) -> Self {
        Memo { entries: Mutex::new(None), capacity }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Remembered<K, V>>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer remembered for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.lock().as_ref().and_then(|remembered| remembered.answers.get(key).cloned())
    }

    /// Remember `value` for `key`.
    pub(crate) fn put(&self, key: K, value: V) {
        let mut entries = self.lock();
        let remembered = entries.get_or_insert_with(|| Remembered { answers: HashMap::new(), order: VecDeque::new() });
        if remembered.answers.contains_key(&key) {
            return;
        }
        if remembered.order.len() == self.capacity
            && let Some(oldest) = remembered.order.pop_front()
        {
            remembered.answers.remove(&oldest);
        }
        remembered.order.push_back(key.clone());
        remembered.answers.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_forgets_its_oldest_answer_past_its_capacity() {
        let memo: Memo<u32, &str> = Memo::new(2);
        memo.put(1, "one");
        memo.put(2, "two");
        memo.put(3, "three");
        assert_eq!((memo.get(&1), memo.get(&2), memo.get(&3)), (None, Some("two"), Some("three")));
    }
}
