//! The key-value capability: a persistent store private to each plugin.
//!
//! This module owns the `[capabilities.kv]` manifest section, the store, and the host
//! side of `pincer:plugin/kv`. Each plugin has its own SQLite database,
//! `$PINCER_HOME/kv/<plugin-id>.sqlite`, outside every directory a plugin can mount. SQLite
//! (through `rusqlite`, with its bundled library) rather than redb because several
//! Pincer processes (an MCP server, the gateway, the command line) may open the same
//! store at once, which SQLite's locking and write-ahead log allow and redb's single
//! process lock does not; every write is one transaction, durable when it returns
//! (`synchronous = FULL`), so a crash keeps the last committed value.
//!
//! The quota counts the bytes of keys and values; a write that would pass it is refused
//! with `quota-exceeded`, a value the plugin can handle, and changes nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use wasmtime::component::{HasData, Linker};

use super::bindings::pincer::plugin::kv::{self as wit, Error, Host};
use super::{CapsView, LoadContext, View};
use crate::manifest::Invalid;
use crate::policy::grants::GrantSet;

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The `[capabilities.kv]` section: a store with a quota. By default (no section) none.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    /// The most bytes of keys and values the plugin may keep.
    pub quota_bytes: u64,
}

impl KvGrant {
    /// Check the section on its own: a quota of at least one byte.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.quota_bytes == 0 {
            return Err(Invalid::section(
                "[capabilities.kv] quota_bytes must be at least 1",
            ));
        }
        Ok(())
    }
}

/// One plugin's store, opened on first use and shared by its instances.
pub struct KvStore {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl KvStore {
    /// The store in file `path` (not opened yet).
    pub fn new(path: PathBuf) -> Self {
        KvStore {
            path,
            conn: Mutex::new(None),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(open(&self.path).map_err(storage)?);
        }
        f(guard.as_mut().expect("opened above")).map_err(storage)
    }
}

// A database failure is a value, not a trap: the WIT's `storage` error says the store
// is unchanged, and the plugin can report it and go on.
fn storage(e: rusqlite::Error) -> Error {
    Error::Storage(format!("the key-value store failed: {e}"))
}

/// Open (creating) a store with the settings every store uses.
pub fn open(path: &std::path::Path) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent() {
        use std::os::unix::fs::DirBuilderExt as _;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent);
    }
    // Only the host's user may read a plugin's data.
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path);
    }
    let conn = Connection::open(path)?;
    // Another Pincer process writing: wait a little, never long (calls have deadlines).
    conn.busy_timeout(std::time::Duration::from_secs(1))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)",
    )?;
    Ok(conn)
}

/// What one instance may do: its plugin's store, within the quota.
#[derive(Clone, Default)]
pub struct KvState {
    quota: u64,
    store: Option<Arc<KvStore>>,
}

impl KvState {
    /// The state of the plugin in `load`: its store
    /// (`$PINCER_HOME/kv/<plugin-id>.sqlite`) with the quota of its `grants`, cut to
    /// the policy's cap; without a grant, no store, and every call is denied.
    pub fn new(grants: &GrantSet, load: &LoadContext<'_>) -> Self {
        match grants.kv_quota_bytes {
            Some(asked) => KvState {
                quota: load.capped("quota_bytes", asked, load.policy.limits.max_kv_quota_bytes),
                store: Some(Arc::new(KvStore::new(
                    load.home.join(format!("kv/{}.sqlite", load.plugin)),
                ))),
            },
            None => KvState::default(),
        }
    }
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = View<'a, KvState>;
}

/// Link `pincer:plugin/kv`.
pub fn add_to_linker<T: CapsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasKv>(linker, |t| {
        let caps = t.caps().caps;
        View {
            call: &caps.call,
            state: &mut caps.kv,
        }
    })
}

impl View<'_, KvState> {
    fn store(&self) -> Result<&KvStore, Error> {
        self.state.store.as_deref().ok_or_else(|| {
            Error::Denied(self.call.denials.note("no key-value store is granted; add [capabilities.kv] quota_bytes = N to the manifest".into()))
        })
    }
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.contains('\0') {
        return Err(Error::InvalidKey(format!(
            "a key is 1 to {MAX_KEY_BYTES} bytes without NUL; got {} bytes",
            key.len()
        )));
    }
    Ok(())
}

impl Host for View<'_, KvState> {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        let store = self.store()?;
        check_key(&key)?;
        store.with(|c| {
            c.query_row("SELECT value FROM kv WHERE key = ?1", [&key], |r| r.get(0))
                .optional()
        })
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        let store = self.store()?;
        check_key(&key)?;
        let quota = self.state.quota;
        let size = (key.len() + value.len()) as u64;
        if size > quota {
            return Err(Error::QuotaExceeded(format!(
                "`{key}` takes {size} bytes, more than the whole quota of {quota}"
            )));
        }
        let mut over = None;
        store.with(|c| {
            // Take the write lock at once: a deferred transaction that upgrades later
            // fails with SQLITE_BUSY_SNAPSHOT instead of waiting when another process
            // wrote in between.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let used: i64 = tx.query_row(
                "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0) FROM kv WHERE key != ?1",
                [&key],
                |r| r.get(0),
            )?;
            if used as u64 + size > quota {
                over = Some(used as u64);
                return Ok(());
            }
            tx.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            tx.commit()
        })?;
        match over {
            // Over quota is a value the plugin can handle, and nothing was written.
            Some(used) => Err(Error::QuotaExceeded(format!(
                "writing `{key}` ({size} bytes) would use {} of {quota} bytes; delete keys or ask for a larger [capabilities.kv] quota_bytes",
                used + size
            ))),
            None => Ok(()),
        }
    }

    fn delete(&mut self, key: String) -> Result<(), Error> {
        let store = self.store()?;
        check_key(&key)?;
        store.with(|c| {
            c.execute("DELETE FROM kv WHERE key = ?1", [&key])
                .map(|_| ())
        })
    }

    fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, Error> {
        let store = self.store()?;
        store.with(|c| {
            let mut stmt =
                c.prepare("SELECT key FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")?;
            stmt.query_map([&prefix], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::InstanceCaps;
    use crate::caps::testing::Fixture;

    const GRANT: &str = "[capabilities.kv]\nquota_bytes = 64\n";

    fn kv(caps: &mut InstanceCaps) -> View<'_, KvState> {
        View {
            call: &caps.call,
            state: &mut caps.kv,
        }
    }

    #[test]
    fn a_granted_store_keeps_values_across_instances_and_lists_by_prefix() {
        let f = Fixture::new();
        let mut caps = f.instance(GRANT);
        let mut store = kv(&mut caps);
        store.set("note/1".into(), b"one".to_vec()).unwrap();
        store.set("note/2".into(), b"two".to_vec()).unwrap();
        store.set("other".into(), b"x".to_vec()).unwrap();
        store.delete("note/2".into()).unwrap();
        // Another instance of the same plugin sees what this one wrote.
        let mut later = f.instance(GRANT);
        let mut store = kv(&mut later);
        assert_eq!(store.get("note/1".into()).unwrap(), Some(b"one".to_vec()));
        assert_eq!(store.get("note/2".into()).unwrap(), None);
        assert_eq!(store.list_keys("note/".into()).unwrap(), vec!["note/1"]);
    }

    #[test]
    fn without_a_grant_every_operation_is_denied_naming_the_manifest_line() {
        let f = Fixture::new();
        let mut caps = f.instance("");
        let mut store = kv(&mut caps);
        for result in [
            store.get("k".into()).map(|_| ()),
            store.set("k".into(), b"v".to_vec()),
            store.delete("k".into()),
            store.list_keys(String::new()).map(|_| ()),
        ] {
            match result {
                Err(Error::Denied(why)) => {
                    assert!(why.contains("[capabilities.kv] quota_bytes"), "{why}")
                }
                other => panic!("expected a denial, got {other:?}"),
            }
        }
        assert!(
            !f.home
                .join("kv")
                .join(format!("{}.sqlite", crate::caps::testing::PLUGIN))
                .exists()
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let f = Fixture::new();
        let mut caps = f.instance(GRANT);
        let mut store = kv(&mut caps);
        for key in [String::new(), "a\0b".into(), "k".repeat(MAX_KEY_BYTES + 1)] {
            assert!(
                matches!(
                    store.set(key.clone(), b"v".to_vec()),
                    Err(Error::InvalidKey(_))
                ),
                "{key:?}"
            );
            assert!(matches!(store.get(key), Err(Error::InvalidKey(_))));
        }
    }

    #[test]
    fn a_write_over_the_quota_changes_nothing_and_a_replacement_counts_once() {
        let f = Fixture::new();
        let mut caps = f.instance(GRANT);
        let mut store = kv(&mut caps);
        store.set("a".into(), vec![1; 40]).unwrap();
        assert!(matches!(
            store.set("b".into(), vec![2; 40]),
            Err(Error::QuotaExceeded(_))
        ));
        assert_eq!(store.get("b".into()).unwrap(), None);
        // Replacing `a` frees its old value first.
        store.set("a".into(), vec![3; 60]).unwrap();
        assert!(matches!(
            store.set("big".into(), vec![0; 100]),
            Err(Error::QuotaExceeded(_))
        ));
    }

    #[test]
    fn the_policy_caps_a_quota_above_its_maximum() {
        let f = Fixture::with_policy("[limits]\nmax_kv_quota_bytes = 16\n");
        let mut caps = f.instance("[capabilities.kv]\nquota_bytes = 1000000\n");
        let mut store = kv(&mut caps);
        store.set("k".into(), vec![0; 15]).unwrap();
        assert!(matches!(
            store.set("k".into(), vec![0; 16]),
            Err(Error::QuotaExceeded(_))
        ));
    }
}
