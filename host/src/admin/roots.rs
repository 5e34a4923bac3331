//! The named roots an admin binds to host directories (`pincer root bind|unbind`): a
//! plugin that mounts root `workspace` sees the directory bound to it. Binding widens
//! what every plugin mounting the root can reach, so each change is audited, and two
//! admins changing the policy at once never lose one change.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::AdminError;
use crate::audit::{Audit, Event};
use crate::policy::Policy;
use crate::store::Home;

/// The lock that every change of `policy.toml` through Pincer holds.
const LOCK: &str = "policy.lock";

/// Bind root `name` to `dir` (resolved to its real path once, here; see
/// [`Policy::bind_root`]), audited as done by `actor`. The resolved directory. The
/// policy is saved before the record is written, as every admin change is: if the
/// audit trail fails, the binding stands and the error says why it is not recorded.
pub fn bind(home: &Home, actor: &str, name: &str, dir: &Path) -> Result<PathBuf, AdminError> {
    let _lock = home.lock(LOCK, true)?;
    let mut policy = Policy::load(home)?;
    let before = policy.roots.get(name).cloned();
    let resolved = policy.bind_root(name, dir, home)?;
    policy.save(home)?;
    Audit::open(home)?.record(
        actor,
        Event::RootBind,
        None,
        json!({ "root": name, "dir": resolved, "was": before }),
    )?;
    Ok(resolved)
}

/// Unbind root `name`, audited as done by `actor`: plugins that mount it are refused
/// at load until it is bound again.
pub fn unbind(home: &Home, actor: &str, name: &str) -> Result<PathBuf, AdminError> {
    let _lock = home.lock(LOCK, true)?;
    let mut policy = Policy::load(home)?;
    let Some(was) = policy.roots.remove(name) else {
        return Err(AdminError::NotBound {
            name: name.to_owned(),
        });
    };
    policy.save(home)?;
    Audit::open(home)?.record(
        actor,
        Event::RootUnbind,
        None,
        json!({ "root": name, "was": was }),
    )?;
    Ok(was)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Exit, ExitClass as _};

    #[test]
    fn binding_and_unbinding_are_audited_and_kept_in_the_policy() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(&tmp.path().join("home")).unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let bound = bind(&home, "ada", "workspace", &work).unwrap();
        assert_eq!(bound, work.canonicalize().unwrap());
        assert_eq!(Policy::load(&home).unwrap().roots["workspace"], bound);
        assert_eq!(unbind(&home, "ada", "workspace").unwrap(), bound);
        assert!(Policy::load(&home).unwrap().roots.is_empty());
        let log = std::fs::read_to_string(home.join("audit/log.jsonl")).unwrap();
        assert!(
            log.contains("\"root-bind\"") && log.contains("\"root-unbind\""),
            "{log}"
        );
        let e = unbind(&home, "ada", "workspace").unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        assert!(e.to_string().contains("pincer root list"), "{e}");
    }

    #[test]
    fn a_refused_binding_changes_nothing_and_is_not_audited() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(&tmp.path().join("home")).unwrap();
        let e = bind(&home, "ada", "workspace", home.path()).unwrap_err();
        assert_eq!(e.exit(), Exit::Usage, "{e}");
        assert!(Policy::load(&home).unwrap().roots.is_empty());
        let log = std::fs::read_to_string(home.join("audit/log.jsonl")).unwrap_or_default();
        assert!(!log.contains("root-bind"), "{log}");
    }
}
