//! The audit trail: `$PINCER_HOME/audit/log.jsonl`, append-only, one JSON record per
//! line, each carrying an HMAC-SHA256 chained over the record before it.
//!
//! A record's `mac` is HMAC-SHA256, under `keys/audit.key` (0600), of the previous
//! record's `mac` (64 zeros for the first), a newline, and the record's canonical JSON
//! without its `mac`. Editing, deleting, reordering or inserting a record breaks the
//! chain at that record. Cutting records off the end leaves a valid chain, so the
//! sequence number and MAC of the last record are also kept outside the log, in
//! `audit/head.json`, written after every append: a log shorter than its head was
//! truncated.
//!
//! A missing or damaged head beside a non-empty log is never healed silently: the
//! next append first writes a `repair` record that names the gap (the chain continues
//! after the last record that verifies, and records after it may have been cut), and
//! [`Audit::verify`] fails on it until an admin acknowledges it
//! ([`Audit::acknowledge`]), an audited record that `verify` reports from then on.
//! What stays undetectable without a copy of the head kept elsewhere (the whole log
//! and head deleted, or cut back together with a head saved earlier) is caught by
//! checking against such a copy ([`Audit::head`], [`Audit::verify_against`]).
//!
//! This module owns the log's format, appending (under a lock shared by every Pincer
//! process on the home), verification and reading. It never records a secret's value.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cap_std::fs::{OpenOptions, OpenOptionsExt};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::{Home, HomeError};

const LOG: &str = "audit/log.jsonl";
const HEAD: &str = "audit/head.json";
const LOCK: &str = "audit/lock";
const KEY: &str = "keys/audit.key";
/// How long the background writer gathers records before writing them.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(20);
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `text` cut to `max` characters, with `…` where it was cut: an audit record keeps a
/// plugin-controlled text to a bounded size.
pub fn clipped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The time now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Who did something: `admin:<user>` for the command line, `host` for the runtime.
pub fn cli_actor() -> String {
    use std::os::unix::fs::MetadataExt as _;
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid{}", m.uid()))
        })
        .unwrap_or_else(|| "unknown".into());
    format!("admin:{user}")
}

/// Errors of the audit trail itself.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The chain head is damaged or forged.
    #[error("the audit chain head {} is damaged or forged (its seal does not verify under this home's audit key)", .0.display())]
    HeadInvalid(PathBuf),
    /// `acknowledge` named a record that is no open gap.
    #[error(
        "record {seq} names no gap to acknowledge (open gaps: {open}); `pincer audit verify` names them"
    )]
    NoSuchGap {
        /// The record given.
        seq: u64,
        /// The open gaps.
        open: String,
    },
    /// A file operation on the log failed.
    #[error("audit log {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A publisher key was trusted.
    TrustAdd,
    /// A publisher key was revoked.
    TrustRevoke,
    /// A plugin was installed, or updated within its approved grants.
    Install,
    /// An update that asks for more than was approved is waiting for an admin.
    Pending,
    /// An admin approved grants.
    Approve,
    /// An install or approval was refused, with the reason.
    Refuse,
    /// A plugin was removed (and whether its data was kept).
    Remove,
    /// An install went ahead with a signer other than the one the plugin id belonged
    /// to, because an admin accepted it.
    SignerChange,
    /// An installed plugin was refused at load time.
    LoadRefused,
    /// A plugin faulted (trap, timeout, memory).
    Fault,
    /// A torn record left by a crash was cut off the end of the log, or the chain head
    /// was missing or damaged (a gap that `verify` reports until acknowledged).
    Repair,
    /// An admin acknowledged a gap that a `repair` record named.
    AuditAcknowledge,
    /// Records of one kind from one plugin past [`LIMITED_PER_WINDOW`] in a window,
    /// counted instead of written.
    AuditSuppressed,
    /// A plugin read a secret (its name only).
    SecretRead,
    /// An admin set a secret (its name only).
    SecretSet,
    /// An admin removed a secret.
    SecretRemove,
    /// An admin changed a plugin's config.
    ConfigSet,
    /// An admin changed the prefix an `mcp-server` plugin's tools are served under.
    AliasSet,
    /// An admin bound a named root to a directory (and what it was bound to before).
    RootBind,
    /// An admin unbound a named root.
    RootUnbind,
    /// A plugin asked for a person's approval.
    ApprovalRequest,
    /// The answer to an approval request.
    ApprovalAnswer,
    /// A plugin's outbound HTTP request (method, origin, path without query, status,
    /// bytes, time).
    HttpRequest,
    /// An outbound HTTP request that was refused, with the reason.
    HttpDenied,
    /// A tool whose definition differs from the one an admin approved (or that no
    /// admin approved yet) was withheld from clients: which tool, and what changed.
    ToolWithheld,
    /// An admin approved a plugin's tool definitions as they are now (the pins).
    ToolsApprove,
    /// A secret's value was found in a plugin's output and replaced by
    /// `[redacted:NAME]` before it left the host (the name and where, never the value).
    SecretRedacted,
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1, 2, 3...: no gaps.
    pub seq: u64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What.
    pub event: Event,
    /// Which plugin, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The event's particulars (a JSON object).
    pub details: serde_json::Value,
    /// HMAC-SHA256 chained over the previous record, hex.
    pub mac: String,
}

#[derive(Serialize)]
struct Unsigned<'a> {
    seq: u64,
    time: &'a str,
    actor: &'a str,
    event: Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a str>,
    details: &'a serde_json::Value,
}

/// The chain head: the last record's sequence number and MAC, sealed with the audit
/// key so it cannot be set back to an earlier record without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last record's sequence number.
    pub seq: u64,
    /// Its MAC.
    pub mac: String,
    /// HMAC of both under the audit key.
    #[serde(default)]
    pub seal: String,
}

/// What `audit/head.json` holds.
enum HeadState {
    Missing,
    Valid(Head),
    Invalid,
}

/// The audit trail of one home directory.
pub struct Audit {
    home: Home,
    key: [u8; 32],
    queue: std::sync::Mutex<Option<Queue>>,
    /// The windows of [`Audit::enqueue_limited`], by plugin and event.
    limits: std::sync::Mutex<std::collections::HashMap<(Option<String>, Event), Window>>,
}

/// At most this many records of one kind that a plugin or a remote server can cause
/// at will (`http-denied`, `tool-withheld`) are written per plugin in a
/// [`LIMIT_WINDOW`]; the rest are counted into one `audit-suppressed` record.
pub const LIMITED_PER_WINDOW: u32 = 30;

/// The window of [`LIMITED_PER_WINDOW`].
pub const LIMIT_WINDOW: Duration = Duration::from_secs(60);

/// One plugin's records of one kind in the current window.
struct Window {
    started: std::time::Instant,
    written: u32,
    suppressed: u64,
    /// When the first suppressed one happened.
    since: Option<String>,
}

/// The background writer of [`Audit::enqueue`].
struct Queue {
    shared: Arc<Pending>,
    thread: std::thread::JoinHandle<()>,
}

/// Records waiting for the writer. The writer wakes on its own every
/// [`BATCH_WINDOW`]; an enqueue never wakes it, so a hot path pays no cross-CPU wake-up.
#[derive(Default)]
struct Pending {
    records: std::sync::Mutex<Vec<Queued>>,
    stop: std::sync::Condvar,
    stopping: std::sync::atomic::AtomicBool,
}

struct Queued {
    /// When it happened (not when it was written).
    time: String,
    actor: String,
    event: Event,
    plugin: Option<String>,
    details: serde_json::Value,
}

/// The most records kept waiting when the disk refuses them; older ones are dropped
/// (and the drop is logged) rather than growing without bound.
const MAX_PENDING: usize = 100_000;

impl Drop for Audit {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Audit {
    /// Open the audit trail of `home`, creating its key on first use.
    pub fn open(home: &Home) -> Result<Self, AuditError> {
        let key = home.secret_key::<32>(KEY)?;
        home.create_dir_all("audit")?;
        Ok(Audit {
            home: Home::open_at(home.path())?,
            key,
            queue: std::sync::Mutex::new(None),
            limits: Default::default(),
        })
    }

    /// [`enqueue`](Self::enqueue) a record of a kind that a plugin or a remote server
    /// can cause at will, at most [`LIMITED_PER_WINDOW`] of one kind per plugin in a
    /// [`LIMIT_WINDOW`]. The rest are counted, and the count is written as one
    /// `audit-suppressed` record (event, plugin, how many, since when) when the window
    /// closes, or at [`flush`](Self::flush) at the latest.
    pub fn enqueue_limited(
        &self,
        actor: &str,
        event: Event,
        plugin: Option<&str>,
        details: serde_json::Value,
    ) {
        if self.admit(event, plugin) {
            self.enqueue(actor, event, plugin, details);
        }
    }

    /// [`record`](Self::record) under the limit of [`enqueue_limited`](Self::enqueue_limited);
    /// `None` when the record was counted instead of written.
    pub fn record_limited(
        &self,
        actor: &str,
        event: Event,
        plugin: Option<&str>,
        details: serde_json::Value,
    ) -> Result<Option<u64>, AuditError> {
        if self.admit(event, plugin) {
            self.record(actor, event, plugin, details).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Whether one more `event` of `plugin` fits its window; a window that closed with
    /// records suppressed has its count enqueued first.
    fn admit(&self, event: Event, plugin: Option<&str>) -> bool {
        let (admit, summary) = {
            let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            let key = (plugin.map(str::to_owned), event);
            let now = std::time::Instant::now();
            let window = limits.entry(key).or_insert_with(|| Window {
                started: now,
                written: 0,
                suppressed: 0,
                since: None,
            });
            let mut summary = None;
            if now.duration_since(window.started) >= LIMIT_WINDOW {
                summary = suppressed_details(event, window);
                *window = Window {
                    started: now,
                    written: 0,
                    suppressed: 0,
                    since: None,
                };
            }
            let admit = window.written < LIMITED_PER_WINDOW;
            if admit {
                window.written += 1;
            } else {
                window.suppressed += 1;
                window.since.get_or_insert_with(now_rfc3339);
            }
            (admit, summary)
        };
        if let Some(summary) = summary {
            self.enqueue("host", Event::AuditSuppressed, plugin, summary);
        }
        admit
    }

    /// Append a record from a background writer, so a hot path (an outbound request)
    /// does not wait for the disk. Records keep their order; [`flush`](Self::flush)
    /// (also run on drop, and before reading) waits until they are written.
    pub fn enqueue(
        &self,
        actor: &str,
        event: Event,
        plugin: Option<&str>,
        details: serde_json::Value,
    ) {
        let q = Queued {
            time: now_rfc3339(),
            actor: actor.to_owned(),
            event,
            plugin: plugin.map(str::to_owned),
            details,
        };
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        // A writer that ended (it could not open the home, or panicked) is replaced,
        // and what it left waiting moves to the new one.
        if queue.as_ref().is_some_and(|q| q.thread.is_finished())
            && let Some(dead) = queue.take()
        {
            let _ = dead.thread.join();
            let left = std::mem::take(
                &mut *dead
                    .shared
                    .records
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
            let fresh = self.start_writer();
            fresh
                .shared
                .records
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(left);
            *queue = Some(fresh);
        }
        let queue = queue.get_or_insert_with(|| self.start_writer());
        let mut records = queue
            .shared
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if records.len() >= MAX_PENDING {
            records.remove(0);
            tracing::error!("the audit trail cannot keep up; dropped its oldest waiting record");
        }
        records.push(q);
    }

    fn start_writer(&self) -> Queue {
        let shared = Arc::new(Pending::default());
        let writer = Home::open_at(self.home.path()).map(|home| Audit {
            home,
            key: self.key,
            queue: std::sync::Mutex::new(None),
            limits: Default::default(),
        });
        let pending = shared.clone();
        let thread = std::thread::spawn(move || {
            let writer = match writer {
                Ok(w) => w,
                Err(e) => return tracing::error!("cannot write the audit trail: {e}"),
            };
            loop {
                let (batch, stopping) = {
                    let guard = pending.records.lock().unwrap_or_else(|p| p.into_inner());
                    let (mut guard, _) = pending
                        .stop
                        .wait_timeout_while(guard, BATCH_WINDOW, |_| {
                            !pending.stopping.load(std::sync::atomic::Ordering::SeqCst)
                        })
                        .unwrap_or_else(|p| p.into_inner());
                    (
                        std::mem::take(&mut *guard),
                        pending.stopping.load(std::sync::atomic::Ordering::SeqCst),
                    )
                };
                // One write, one flush to disk, one head update per batch.
                if !batch.is_empty()
                    && let Err(e) = writer.write(&batch)
                {
                    // Keep them for the next round, ahead of what came since.
                    tracing::error!("cannot write audit records yet: {e}");
                    let mut waiting = pending.records.lock().unwrap_or_else(|p| p.into_inner());
                    let later = std::mem::replace(&mut *waiting, batch);
                    waiting.extend(later);
                    if stopping {
                        tracing::error!("{} audit records could not be written", waiting.len());
                    }
                }
                if stopping {
                    return;
                }
            }
        });
        Queue { shared, thread }
    }

    /// Wait until every enqueued record is written, the counts of suppressed ones too.
    pub fn flush(&self) {
        let summaries: Vec<(Option<String>, serde_json::Value)> = {
            let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            limits
                .iter_mut()
                .filter_map(|((plugin, event), window)| {
                    let summary = suppressed_details(*event, window)?;
                    window.suppressed = 0;
                    window.since = None;
                    Some((plugin.clone(), summary))
                })
                .collect()
        };
        for (plugin, summary) in summaries {
            self.enqueue("host", Event::AuditSuppressed, plugin.as_deref(), summary);
        }
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(Queue { shared, thread }) = queue {
            shared
                .stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
            shared.stop.notify_all();
            let _ = thread.join();
        }
    }

    fn mac(&self, prev: &str, record: &Record) -> String {
        let unsigned = Unsigned {
            seq: record.seq,
            time: &record.time,
            actor: &record.actor,
            event: record.event,
            plugin: record.plugin.as_deref(),
            details: &record.details,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(prev.as_bytes());
        mac.update(b"\n");
        mac.update(
            serde_json::to_string(&unsigned)
                .expect("records serialise")
                .as_bytes(),
        );
        hex::encode(mac.finalize().into_bytes())
    }

    fn io(&self, rel: &str) -> impl FnOnce(std::io::Error) -> AuditError {
        let path = self.home.join(rel);
        move |source| AuditError::Io { path, source }
    }

    /// Append a record; returns its sequence number. `details` should be a JSON object
    /// and must never hold a secret's value.
    pub fn record(
        &self,
        actor: &str,
        event: Event,
        plugin: Option<&str>,
        details: serde_json::Value,
    ) -> Result<u64, AuditError> {
        // Records queued earlier go first, so the log keeps the order things happened.
        self.flush();
        self.write(&[Queued {
            time: now_rfc3339(),
            actor: actor.to_owned(),
            event,
            plugin: plugin.map(str::to_owned),
            details,
        }])
    }

    /// Append `records` in order, with one flush to disk and one head update for all;
    /// returns the last sequence number.
    fn write(&self, records: &[Queued]) -> Result<u64, AuditError> {
        let _lock = self.home.lock(LOCK, true)?;
        let mut file = self.home.open_file(
            LOG,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600),
        )?;
        let (mut prev, repairs) = self.tail(&mut file)?;
        let repairs: Vec<Queued> = repairs
            .into_iter()
            .map(|details| Queued {
                time: now_rfc3339(),
                actor: "host".into(),
                event: Event::Repair,
                plugin: None,
                details,
            })
            .collect();
        let mut lines = String::new();
        for q in repairs.iter().chain(records) {
            let mut record = Record {
                seq: prev.seq + 1,
                time: q.time.clone(),
                actor: q.actor.clone(),
                event: q.event,
                plugin: q.plugin.clone(),
                details: q.details.clone(),
                mac: String::new(),
            };
            record.mac = self.mac(&prev.mac, &record);
            lines.push_str(&serde_json::to_string(&record).expect("records serialise"));
            lines.push('\n');
            prev = self.sealed(record.seq, record.mac);
        }
        file.seek(SeekFrom::End(0)).map_err(self.io(LOG))?;
        file.write_all(lines.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(self.io(LOG))?;
        self.home.write_atomic(
            HEAD,
            &serde_json::to_vec(&prev).expect("heads serialise"),
            0o600,
        )?;
        Ok(prev.seq)
    }

    fn sealed(&self, seq: u64, mac: String) -> Head {
        let mut h = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        h.update(format!("pincer-audit-head\n{seq}\n{mac}").as_bytes());
        Head {
            seq,
            mac,
            seal: hex::encode(h.finalize().into_bytes()),
        }
    }

    fn read_head(&self) -> Result<HeadState, AuditError> {
        let Some(bytes) = self.home.read_optional(HEAD)? else {
            return Ok(HeadState::Missing);
        };
        Ok(match serde_json::from_slice::<Head>(&bytes) {
            Ok(h) if self.sealed(h.seq, h.mac.clone()) == h => HeadState::Valid(h),
            _ => HeadState::Invalid,
        })
    }

    /// The last record of the longest valid chain from the start of `bytes`.
    fn chain_end(&self, bytes: &[u8]) -> Head {
        let mut end = Head {
            seq: 0,
            mac: GENESIS.into(),
            seal: String::new(),
        };
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Record>(line) {
                Ok(r) if r.seq == end.seq + 1 && self.mac(&end.mac, &r) == r.mac => {
                    end = Head {
                        seq: r.seq,
                        mac: r.mac,
                        seal: String::new(),
                    };
                }
                _ => break,
            }
        }
        end
    }

    /// Where to chain the next record from, and the repairs to record first: the head,
    /// or the log's last record if a crash came between writing it and writing the
    /// head. Cuts a torn last line (a crash mid-write; the head never covered it). A
    /// missing or damaged head is not papered over: the chain continues from the last
    /// record that verifies, and a `repair` record says so.
    fn tail(&self, file: &mut std::fs::File) -> Result<(Head, Vec<serde_json::Value>), AuditError> {
        let mut repairs = Vec::new();
        let len = file.metadata().map_err(self.io(LOG))?.len();
        let mut start = len.saturating_sub(64 << 10);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_to_end(&mut buf))
                .map_err(self.io(LOG))?;
            // A window that starts mid-record must hold a newline to cut at.
            if start == 0 || buf.contains(&b'\n') {
                break;
            }
            start = 0;
        }
        if !buf.is_empty() && !buf.ends_with(b"\n") {
            let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let dropped = (buf.len() - keep) as u64;
            file.set_len(start + keep as u64).map_err(self.io(LOG))?;
            buf.truncate(keep);
            repairs.push(serde_json::json!({
                "dropped_bytes": dropped,
                "reason": "a torn record from a crash",
            }));
        }
        let head = match self.read_head()? {
            HeadState::Valid(h) => h,
            state if len == 0 => {
                if matches!(state, HeadState::Invalid) {
                    repairs.push(serde_json::json!({
                        "reason": "the chain head was damaged and the log empty",
                        "gap": "head-damaged",
                        "after": 0,
                    }));
                }
                Head {
                    seq: 0,
                    mac: GENESIS.into(),
                    seal: String::new(),
                }
            }
            state => {
                let bytes = self.home.read_optional(LOG)?.unwrap_or_default();
                let end = self.chain_end(&bytes);
                let what = match state {
                    HeadState::Missing => "missing",
                    _ => "damaged or forged",
                };
                repairs.push(serde_json::json!({
                    "reason": format!("the chain head was {what}; the chain continues after record {}, the last one that verifies", end.seq),
                    "gap": format!("head-{}", if what == "missing" { "missing" } else { "damaged" }),
                    "after": end.seq,
                }));
                return Ok((end, repairs));
            }
        };
        // Records written after the head (a crash before its update) chain on from it.
        // Walk back only over those: usually the last line is the head's own record.
        let lines: Vec<&[u8]> = buf
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut first_after = lines.len();
        for (i, line) in lines.iter().enumerate().rev() {
            match serde_json::from_slice::<Record>(line) {
                Ok(r) if r.seq > head.seq => first_after = i,
                _ => break,
            }
        }
        let mut end = head;
        for line in &lines[first_after..] {
            if let Ok(r) = serde_json::from_slice::<Record>(line)
                && r.seq == end.seq + 1
                && self.mac(&end.mac, &r) == r.mac
            {
                end = self.sealed(r.seq, r.mac);
            }
        }
        Ok((end, repairs))
    }

    /// Read every readable record, and say whether the last line is torn.
    pub fn read(&self) -> Result<(Vec<Record>, Option<Torn>), AuditError> {
        self.flush();
        let bytes = self.home.read_optional(LOG)?.unwrap_or_default();
        let mut records = Vec::new();
        let mut torn = None;
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let count = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == count => {
                    torn = Some(Torn {
                        line: i + 1,
                        bytes: line.len(),
                    })
                }
                // A damaged line in the middle: `verify` reports it.
                Err(_) => {}
            }
        }
        Ok((records, torn))
    }

    /// Check the whole chain and its head; report the first problem.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.flush();
        let bytes = self.home.read_optional(LOG)?.unwrap_or_default();
        let head = self.read_head()?;
        let mut lines: Vec<(usize, &[u8])> = bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .collect();
        // The split leaves one empty piece after the final newline.
        if lines.last().is_some_and(|(_, l)| l.is_empty()) {
            lines.pop();
        }
        let mut torn = None;
        if !bytes.is_empty()
            && !bytes.ends_with(b"\n")
            && let Some((line, last)) = lines.pop()
        {
            torn = Some(Torn {
                line,
                bytes: last.len(),
            });
        }
        let parsed: Vec<(usize, Option<Record>)> = lines
            .iter()
            .map(|(n, l)| (*n, serde_json::from_slice::<Record>(l).ok()))
            .collect();
        let mut problem = None;
        let mut prev = GENESIS.to_owned();
        let mut expected = 1u64;
        let mut last: Option<Head> = None;
        // Does the record after `idx` chain from `prev` as record `expected`?
        let chains_after = |idx: usize, expected: u64, prev: &str| {
            parsed
                .get(idx + 1)
                .and_then(|(_, r)| r.as_ref())
                .is_some_and(|next| next.seq == expected && self.mac(prev, next) == next.mac)
        };
        for idx in 0..parsed.len() {
            let (line, record) = (parsed[idx].0, parsed[idx].1.clone());
            let Some(record) = record else {
                problem = Some(Problem::at(
                    ProblemKind::Damaged,
                    expected,
                    line,
                    format!("line {line} is not an audit record (damaged or inserted by hand)"),
                ));
                break;
            };
            if record.seq == expected {
                if self.mac(&prev, &record) == record.mac {
                    prev = record.mac.clone();
                    expected += 1;
                    last = Some(Head {
                        seq: record.seq,
                        mac: record.mac,
                        seal: String::new(),
                    });
                    continue;
                }
                // An inserted record leaves the next one chaining from `prev`.
                let next_chains = chains_after(idx, expected, &prev);
                problem = Some(if next_chains {
                    Problem::at(
                        ProblemKind::Inserted,
                        record.seq,
                        line,
                        format!(
                            "record {} at line {line} was inserted: the records around it chain without it",
                            record.seq
                        ),
                    )
                } else {
                    Problem::at(
                        ProblemKind::Edited,
                        record.seq,
                        line,
                        format!(
                            "record {} at line {line} was edited: its MAC does not match its content",
                            record.seq
                        ),
                    )
                });
                break;
            }
            // A genuine record out of place chains from its true predecessor.
            let true_prev = if record.seq == 1 {
                Some(GENESIS.to_owned())
            } else {
                parsed
                    .iter()
                    .filter_map(|(_, r)| r.as_ref())
                    .find(|r| r.seq + 1 == record.seq)
                    .map(|r| r.mac.clone())
            };
            let genuine = true_prev.is_some_and(|p| self.mac(&p, &record) == record.mac);
            if !genuine {
                // An inserted record leaves the next one chaining from `prev`.
                let next_chains = chains_after(idx, expected, &prev);
                if next_chains {
                    problem = Some(Problem::at(
                        ProblemKind::Inserted,
                        record.seq,
                        line,
                        format!(
                            "the record at line {line} (numbered {}) was inserted: the records around it chain without it",
                            record.seq
                        ),
                    ));
                    break;
                }
                // A record chained in under the expected number whose `seq` was changed.
                let mut renumbered = record.clone();
                renumbered.seq = expected;
                if self.mac(&prev, &renumbered) == record.mac {
                    problem = Some(Problem::at(
                        ProblemKind::Edited,
                        expected,
                        line,
                        format!(
                            "record {expected} at line {line} was edited: its sequence number was changed to {}",
                            record.seq
                        ),
                    ));
                    break;
                }
            }
            let later = parsed[idx + 1..]
                .iter()
                .find(|(_, r)| r.as_ref().is_some_and(|r| r.seq == expected))
                .map(|(l, _)| *l);
            problem = Some(if record.seq < expected {
                Problem::at(
                    ProblemKind::Reordered,
                    record.seq,
                    line,
                    format!(
                        "record {} at line {line} is out of order (expected record {expected}): records were reordered or one was inserted",
                        record.seq
                    ),
                )
            } else if let Some(later) = later {
                Problem::at(
                    ProblemKind::Reordered,
                    expected,
                    line,
                    format!(
                        "record {expected} comes after record {} (at line {later} instead of line {line}): records were reordered",
                        record.seq
                    ),
                )
            } else {
                Problem::at(
                    ProblemKind::Deleted,
                    expected,
                    line,
                    format!(
                        "records {expected} to {} are missing before line {line}: they were deleted",
                        record.seq - 1
                    ),
                )
            });
            break;
        }
        let count = last.as_ref().map_or(0, |h| h.seq);
        if problem.is_none() {
            let head = match head {
                HeadState::Invalid => {
                    return Ok(VerifyReport {
                        ok: false,
                        records: count,
                        problem: Some(Problem::at(
                            ProblemKind::HeadMissing,
                            count,
                            0,
                            format!(
                                "the chain head {HEAD} is damaged or forged (its seal does not verify)"
                            ),
                        )),
                        torn,
                        gaps: Vec::new(),
                    });
                }
                HeadState::Missing => None,
                HeadState::Valid(h) => Some(h),
            };
            problem = match (&head, &last) {
                (None, None) => None,
                (None, Some(_)) => Some(Problem::at(
                    ProblemKind::HeadMissing,
                    count,
                    0,
                    format!(
                        "the chain head {HEAD} is missing: cannot tell whether records were cut off the end"
                    ),
                )),
                (Some(h), last) => {
                    let last_seq = last.as_ref().map_or(0, |l| l.seq);
                    if h.seq > last_seq {
                        Some(Problem::at(
                            ProblemKind::Truncated,
                            last_seq + 1,
                            0,
                            format!(
                                "the log ends at record {last_seq} but its head says {}: records {} to {} were cut off the end",
                                h.seq,
                                last_seq + 1,
                                h.seq
                            ),
                        ))
                    } else if h.seq == last_seq && last.as_ref().is_some_and(|l| l.mac != h.mac) {
                        Some(Problem::at(
                            ProblemKind::Edited,
                            h.seq,
                            0,
                            format!(
                                "record {} does not match the chain head: the end of the log was replaced",
                                h.seq
                            ),
                        ))
                    // Records past the head chain correctly (checked above): a crash
                    // came before the head's update; they are authentic.
                    } else {
                        None
                    }
                }
            };
        }
        // Gaps the log itself names: each fails verification until acknowledged.
        let records: Vec<&Record> = parsed.iter().filter_map(|(_, r)| r.as_ref()).collect();
        let gaps = gaps(&records);
        if problem.is_none()
            && let Some(gap) = gaps.iter().find(|g| g.acknowledged_by.is_none())
        {
            problem = Some(Problem::at(
                ProblemKind::Gap,
                gap.repair,
                0,
                format!(
                    "record {} says the chain head was {} when it was written: records after {} may have been cut off, and the log alone cannot tell. Check it against a copy of the head kept elsewhere (`pincer audit verify --head FILE`), then acknowledge it with `pincer audit acknowledge {} --reason TEXT`",
                    gap.repair,
                    gap.kind.trim_start_matches("head-"),
                    gap.after,
                    gap.repair
                ),
            ));
        }
        Ok(VerifyReport {
            ok: problem.is_none(),
            records: count,
            problem,
            torn,
            gaps,
        })
    }

    /// The chain head as it stands (after writing what is queued): for an admin to keep
    /// a copy elsewhere and check the log against later ([`Audit::verify_against`]).
    pub fn head(&self) -> Result<Option<Head>, AuditError> {
        self.flush();
        match self.read_head()? {
            HeadState::Valid(h) => Ok(Some(h)),
            HeadState::Missing => Ok(None),
            HeadState::Invalid => Err(AuditError::HeadInvalid(self.home.join(HEAD))),
        }
    }

    /// [`verify`](Self::verify), and check that the log still holds the record that
    /// `kept` (a head saved earlier, [`Audit::head`]) names: not cut below it, not
    /// replaced. A copy whose seal does not verify under this home's audit key is
    /// refused.
    pub fn verify_against(&self, kept: &Head) -> Result<VerifyReport, AuditError> {
        if self.sealed(kept.seq, kept.mac.clone()) != *kept {
            return Err(AuditError::HeadInvalid(PathBuf::from("the head given")));
        }
        let mut report = self.verify()?;
        // An unacknowledged gap is what a kept head is for: check against it anyway.
        let gap = match &report.problem {
            Some(p) if p.kind == ProblemKind::Gap => report.problem.take(),
            Some(_) => return Ok(report),
            None => None,
        };
        let (records, _) = self.read()?;
        let problem = match records.iter().find(|r| r.seq == kept.seq) {
            Some(r) if r.mac == kept.mac => None,
            Some(_) => Some(Problem::at(
                ProblemKind::Edited,
                kept.seq,
                0,
                format!(
                    "record {} is not the one the kept head names: the log was replaced from there on",
                    kept.seq
                ),
            )),
            None => Some(Problem::at(
                ProblemKind::Truncated,
                report.records + 1,
                0,
                format!(
                    "the log ends at record {} but the kept head names record {}: records {} to {} were cut off the end",
                    report.records,
                    kept.seq,
                    report.records + 1,
                    kept.seq
                ),
            )),
        };
        let problem = match (problem, gap) {
            (Some(p), _) => Some(p),
            (None, Some(mut gap)) => {
                gap.message = format!(
                    "{} (the kept head's record {} is in the log, unchanged: nothing up to it was cut)",
                    gap.message, kept.seq
                );
                Some(gap)
            }
            (None, None) => None,
        };
        report.ok = problem.is_none();
        report.problem = problem;
        Ok(report)
    }

    /// Acknowledge the gap that `repair` (a `repair` record's sequence number) names,
    /// for `reason`: an audited record, after which `verify` reports the gap as
    /// acknowledged instead of failing on it.
    pub fn acknowledge(&self, actor: &str, repair: u64, reason: &str) -> Result<u64, AuditError> {
        let (records, _) = self.read()?;
        let refs: Vec<&Record> = records.iter().collect();
        let gaps = gaps(&refs);
        let Some(gap) = gaps.iter().find(|g| g.repair == repair) else {
            let open: Vec<String> = gaps
                .iter()
                .filter(|g| g.acknowledged_by.is_none())
                .map(|g| g.repair.to_string())
                .collect();
            return Err(AuditError::NoSuchGap {
                seq: repair,
                open: if open.is_empty() {
                    "none".into()
                } else {
                    open.join(", ")
                },
            });
        };
        if let Some(by) = gap.acknowledged_by {
            return Err(AuditError::NoSuchGap {
                seq: repair,
                open: format!("none: record {by} acknowledged it already"),
            });
        }
        self.record(
            actor,
            Event::AuditAcknowledge,
            None,
            serde_json::json!({ "repair": repair, "gap": gap.kind, "after": gap.after, "reason": reason }),
        )
    }
}

/// The details of an `audit-suppressed` record for `window`, if it suppressed any.
fn suppressed_details(event: Event, window: &Window) -> Option<serde_json::Value> {
    (window.suppressed > 0).then(|| {
        serde_json::json!({
            "event": event,
            "suppressed": window.suppressed,
            "since": window.since,
            "limit": format!("{LIMITED_PER_WINDOW} per {} s", LIMIT_WINDOW.as_secs()),
        })
    })
}

/// A gap in the chain that a `repair` record names (a head found missing or damaged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The `repair` record.
    pub repair: u64,
    /// `head-missing` or `head-damaged`.
    pub kind: String,
    /// The last record that verified then; records after it may have been cut.
    pub after: u64,
    /// The `audit-acknowledge` record, once an admin acknowledged it.
    pub acknowledged_by: Option<u64>,
    /// The admin's reason.
    pub reason: Option<String>,
}

/// The gaps that `records` name, with their acknowledgements.
fn gaps(records: &[&Record]) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = records
        .iter()
        .filter(|r| r.event == Event::Repair)
        .filter_map(|r| {
            Some(Gap {
                repair: r.seq,
                kind: r.details.get("gap")?.as_str()?.to_owned(),
                after: r.details.get("after")?.as_u64()?,
                acknowledged_by: None,
                reason: None,
            })
        })
        .collect();
    for ack in records
        .iter()
        .filter(|r| r.event == Event::AuditAcknowledge)
    {
        let repair = ack.details.get("repair").and_then(|v| v.as_u64());
        if let Some(gap) = gaps
            .iter_mut()
            .find(|g| Some(g.repair) == repair && g.acknowledged_by.is_none() && ack.seq > g.repair)
        {
            gap.acknowledged_by = Some(ack.seq);
            gap.reason = ack
                .details
                .get("reason")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
        }
    }
    gaps
}

/// A last line cut short by a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Torn {
    /// Its line number.
    pub line: usize,
    /// How many bytes it has.
    pub bytes: usize,
}

/// What kind of damage `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A record's content changed.
    Edited,
    /// Records are missing from the middle.
    Deleted,
    /// Records are out of order.
    Reordered,
    /// A record was added that the chain does not include.
    Inserted,
    /// Records are missing from the end.
    Truncated,
    /// A line is not a record.
    Damaged,
    /// The chain head is missing or behind.
    HeadMissing,
    /// A `repair` record names a gap (a head found missing or damaged) that no admin
    /// acknowledged.
    Gap,
}

/// The first problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The first record concerned.
    pub seq: u64,
    /// Its line in the log (0 when it concerns the end of the log).
    pub line: usize,
    /// In words.
    pub message: String,
}

impl Problem {
    fn at(kind: ProblemKind, seq: u64, line: usize, message: String) -> Self {
        Problem {
            kind,
            seq,
            line,
            message,
        }
    }
}

/// The result of `pincer audit verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// No problem (a torn last line alone is not one: a crash can leave it).
    pub ok: bool,
    /// Records verified in the chain.
    pub records: u64,
    /// The first problem.
    pub problem: Option<Problem>,
    /// A torn last line, if any.
    pub torn: Option<Torn>,
    /// Gaps the log names, acknowledged or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
}

/// Parse `--since`: an RFC 3339 time, or a duration before now such as `2h` or `7d`.
pub fn parse_since(text: &str) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t);
    }
    let d: Duration = humantime::parse_duration(text).map_err(|_| {
        format!("`{text}` is neither a time (2026-11-21T10:00:00Z) nor a duration (2h, 7d)")
    })?;
    Ok(SystemTime::now() - d)
}

/// When a record was written.
pub fn record_time(record: &Record) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(&record.time).ok()
}

#[cfg(test)]
mod tests;
