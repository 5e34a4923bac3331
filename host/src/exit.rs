//! `pincer`'s exit codes: one per class of failure ([`Exit`]), and the class of every
//! library error ([`ExitClass`]). Each mapping is an exhaustive `match`, so a new error
//! variant does not compile until someone decides its class.

use crate::audit::AuditError;
use crate::caps::config::ConfigError;
use crate::install::InstallError;
use crate::policy::PolicyError;
use crate::runtime::{CallError, LoadError};
use crate::store::HomeError;
use crate::store::plugins::StoreError;
use crate::trust::TrustError;
use crate::vault::VaultError;

/// A class of failure, and the process exit code it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// 1: the host or its environment failed (files, the engine, the audit trail, the
    /// vault).
    Host = 1,
    /// 2: bad usage or input, such as an unknown plugin id.
    Usage = 2,
    /// 3: refused: a signature, digest, manifest, import, mount or approval check
    /// failed, the admin declined, or the audit trail does not verify.
    Refused = 3,
    /// 4: a plugin fault (trap, timeout, memory) or every instance busy.
    Fault = 4,
    /// 5: the tool reported an error (unknown tool, arguments refused).
    Tool = 5,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error's class of failure.
pub trait ExitClass {
    /// Which class this error is.
    fn exit(&self) -> Exit;
}

impl ExitClass for LoadError {
    fn exit(&self) -> Exit {
        match self {
            LoadError::Home(_)
            | LoadError::Engine(_)
            | LoadError::Audit(_)
            | LoadError::Vault(_)
            | LoadError::Config(_) => Exit::Host,
            LoadError::NotInstalled { .. } | LoadError::Policy(_) => Exit::Usage,
            LoadError::Store(e) => match e {
                StoreError::BadId(_) => Exit::Usage,
                StoreError::Home(_) | StoreError::Damaged { .. } => Exit::Refused,
            },
            LoadError::Manifest(_)
            | LoadError::ComponentUnreadable { .. }
            | LoadError::DigestMismatch { .. }
            | LoadError::InvalidComponent { .. }
            | LoadError::WrongKind { .. }
            | LoadError::Imports { .. }
            | LoadError::Mount(_)
            | LoadError::Verify { .. }
            | LoadError::NotApproved { .. }
            | LoadError::Link { .. } => Exit::Refused,
        }
    }
}

impl ExitClass for CallError {
    fn exit(&self) -> Exit {
        match self {
            CallError::Fault { .. } | CallError::Busy { .. } | CallError::HostBusy { .. } => {
                Exit::Fault
            }
            CallError::UnknownTool { .. } | CallError::InvalidArguments { .. } => Exit::Tool,
            CallError::WrongKind { .. } => Exit::Usage,
            CallError::Host { .. } => Exit::Host,
        }
    }
}

impl ExitClass for TrustError {
    fn exit(&self) -> Exit {
        match self {
            TrustError::Io { .. } | TrustError::Home(_) | TrustError::Store { .. } => Exit::Host,
            TrustError::BadPublicKey { .. } | TrustError::Exists { .. } => Exit::Usage,
            TrustError::BadSecretKey { .. }
            | TrustError::Unsigned { .. }
            | TrustError::BadSignatureFile { .. }
            | TrustError::UnknownKey { .. }
            | TrustError::RevokedKey { .. }
            | TrustError::BadSignature { .. }
            | TrustError::WrongPlugin { .. }
            | TrustError::NoDigest { .. }
            | TrustError::DigestMismatch { .. }
            | TrustError::Manifest(_)
            | TrustError::Refused(_) => Exit::Refused,
        }
    }
}

impl ExitClass for InstallError {
    fn exit(&self) -> Exit {
        match self {
            InstallError::Trust(t) => t.exit(),
            InstallError::NotInstalled(_) | InstallError::NothingPending { .. } => Exit::Usage,
            InstallError::Refused { .. } | InstallError::Declined(_) => Exit::Refused,
            InstallError::Store(e) => e.exit(),
            InstallError::Audit(_) | InstallError::Cleanup { .. } | InstallError::Home(_) => {
                Exit::Host
            }
        }
    }
}

impl ExitClass for StoreError {
    fn exit(&self) -> Exit {
        match self {
            StoreError::BadId(_) => Exit::Usage,
            StoreError::Home(_) | StoreError::Damaged { .. } => Exit::Host,
        }
    }
}

impl ExitClass for VaultError {
    fn exit(&self) -> Exit {
        match self {
            VaultError::Home(_) | VaultError::Damaged { .. } | VaultError::Decrypt { .. } => {
                Exit::Host
            }
        }
    }
}

impl ExitClass for ConfigError {
    fn exit(&self) -> Exit {
        match self {
            ConfigError::Home(_) | ConfigError::Damaged { .. } => Exit::Host,
        }
    }
}

impl ExitClass for AuditError {
    fn exit(&self) -> Exit {
        match self {
            AuditError::HeadInvalid(_) => Exit::Refused,
            AuditError::NoSuchGap { .. } => Exit::Usage,
            AuditError::Home(_) | AuditError::Io { .. } => Exit::Host,
        }
    }
}

impl ExitClass for PolicyError {
    fn exit(&self) -> Exit {
        match self {
            PolicyError::BadRoot { .. } => Exit::Usage,
            PolicyError::Parse(_) | PolicyError::Home(_) => Exit::Host,
        }
    }
}

impl ExitClass for HomeError {
    fn exit(&self) -> Exit {
        Exit::Host
    }
}
