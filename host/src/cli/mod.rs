//! The `pincer` command line: clap types only. Each subcommand's doc comment is its
//! `--help`; the work happens in [`commands`].
//!
//! Exit codes: 0 success; 1 an error of the host or its environment; 2 bad usage or
//! input; 3 refused (a signature, digest, manifest, import, mount or approval check
//! failed, the admin declined, or the audit trail does not verify); 4 a plugin faulted
//! (trap, timeout, memory) or stayed busy; 5 a tool reported an error.

mod admin;
mod author;
mod commands;
mod demo;
mod dev;
mod inventory;
mod pins;
mod recordings;
mod scaffold;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A capability-secure host for WebAssembly component plugins.
///
/// Pincer runs each plugin with exactly the capabilities its manifest grants:
/// nothing else is linked. State lives in $PINCER_HOME (default ~/.pincer).
#[derive(Debug, Parser)]
#[command(name = "pincer", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Home directory for policy, keys, cache and plugin data [env: PINCER_HOME]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Show more of the host's log on stderr (-v: plugin logs, -vv: debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show a component's imports (and how Pincer treats each), exports and world
    Inspect {
        /// The component file (.wasm)
        path: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Call a tool of an installed mcp-server plugin, in a fresh sandboxed instance
    ///
    /// `pincer call ID TOOL` runs the installed, approved plugin ID (verified again
    /// first). `pincer call --dev --manifest PATH TOOL` runs an unsigned plugin from its
    /// manifest, for development, and then lists on stderr what its capabilities
    /// denied, with the manifest line that would allow each (`pincer dev` also builds).
    Call {
        /// ID TOOL for an installed plugin; TOOL alone with --dev --manifest
        #[arg(value_name = "ID TOOL", num_args = 1..=2, required = true)]
        target: Vec<String>,
        #[command(flatten)]
        dev: DevSource,
        /// The tool's arguments, a JSON object
        #[arg(long, value_name = "JSON", default_value = "{}")]
        args: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Build a plugin project and call one of its tools, unsigned (development mode)
    ///
    /// In DIR (default: the current directory) it runs `cargo build --release --target
    /// wasm32-wasip2`, showing cargo's output, and takes the component that cargo
    /// reports building. It loads that with the manifest (default: DIR/manifest.toml)
    /// as `pincer call --dev` does, unsigned and unapproved, calls TOOL with ARGS_JSON
    /// (a JSON object, default {}) and prints the result. After it, on stderr, comes
    /// every capability call that was denied, with the manifest line that would allow
    /// it, even when the plugin swallowed the error. For mcp-server plugins.
    ///
    /// With --watch it then waits: a change to a file in src/ or wit/, to Cargo.toml or
    /// to the manifest rebuilds and calls again (it checks every 300 ms), and so does
    /// Enter. A failed build or call is shown and waited out. Ctrl-C or the end of
    /// standard input stops it. Standard input is for Enter, so in --watch mode an
    /// approval that needs a person is rejected.
    ///
    /// Exit codes as for `pincer call`; a failed build exits with 2.
    #[command(override_usage = "pincer dev [OPTIONS] [DIR] [--] TOOL [ARGS_JSON]")]
    Dev {
        /// The project directory (default: .), the tool, and its arguments as a JSON
        /// object (default: {})
        #[arg(value_name = "[DIR] TOOL [ARGS_JSON]", num_args = 1..=3, required = true)]
        target: Vec<String>,
        /// The plugin's manifest (default: DIR/manifest.toml)
        #[arg(long, value_name = "PATH")]
        manifest: Option<PathBuf>,
        /// Rebuild and call again on every change to the project, and on Enter
        #[arg(long)]
        watch: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        /// With --watch, stop after this many runs (for tests)
        #[arg(long, value_name = "N", hide = true)]
        max_runs: Option<u32>,
    },
    /// Chat with an installed chat plugin: send one message, print the reply
    ///
    /// The plugin calls its provider through the HTTP origins its manifest was
    /// granted, with the key set by `pincer secrets set ID api_key`.
    Chat {
        /// The chat plugin's id
        id: String,
        /// The message to send
        message: String,
        /// A system message that sets up the conversation
        #[arg(long, value_name = "TEXT")]
        system: Option<String>,
        /// A model that overrides the plugin's configured one
        #[arg(long)]
        model: Option<String>,
        /// Print the whole reply (model, finish reason, token counts) as JSON
        #[arg(long)]
        json: bool,
    },
    /// Make a new plugin project: source with a working example, manifest, WIT, SDK
    ///
    /// The project builds as generated with `cargo build --release --target
    /// wasm32-wasip2` and needs nothing but crates.io; its README.md lists the
    /// commands from there to an installed plugin.
    New {
        /// The plugin kind: mcp-server, chat, recorder or viewer
        #[arg(long)]
        kind: String,
        /// The plugin's name (a-z, 0-9, -): the project's directory and crate
        name: String,
        /// Where to create the project (default: ./NAME); it must not exist
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
        /// The plugin id (default: com.example.NAME)
        #[arg(long)]
        id: Option<String>,
    },
    /// Work with recordings made through the gateway's recorder
    Recordings {
        #[command(subcommand)]
        command: RecordingsCommand,
    },
    /// List the tools of an installed mcp-server plugin (or, with --dev, of a manifest)
    Tools {
        /// The installed plugin's id (omit with --dev --manifest)
        id: Option<String>,
        #[command(flatten)]
        dev: DevSource,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Make a signing key pair in minisign's format: PREFIX.key and PREFIX.pub
    ///
    /// The secret key is encrypted with a password (asked on the terminal, or read
    /// from --password-file) unless --unencrypted. Give PREFIX.pub to admins.
    Keygen {
        /// Path prefix of the key files
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Do not encrypt the secret key (for automation; keep the file safe)
        #[arg(long)]
        unencrypted: bool,
        /// Read the password from the first line of this file
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Pack a plugin into a signed bundle directory
    ///
    /// Writes the component's SHA-256 into the manifest and signs the manifest
    /// (minisign, prehashed; the trusted comment binds the plugin id and version).
    /// The bundle holds manifest.toml, manifest.toml.minisig and the component.
    Pack {
        /// The plugin's manifest.toml
        manifest: PathBuf,
        /// Use this component file instead of the manifest's [component] file
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
        #[command(flatten)]
        key: KeyArgs,
        /// The bundle directory to write
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Sign an existing manifest (which must pin its component's sha256), writing
    /// MANIFEST.minisig beside it
    Sign {
        /// The manifest to sign
        manifest: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Check a bundle's signature, trusted comment and digest
    ///
    /// Against the trust store, or against one public key with --pubkey.
    Verify {
        /// The bundle directory
        bundle: PathBuf,
        /// A public key (.pub file or its base64 line) to check against instead
        #[arg(long, value_name = "PUBKEY")]
        pubkey: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Manage the publisher keys this host trusts
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Show what a bundle is, who signed it, what it asks for and at what risk, and
    /// what would change from the installed version
    ///
    /// Exits with 3 when `pincer install` would refuse the bundle.
    ///
    /// With an installed plugin's id instead of a bundle, and --tools: its tools as
    /// they are listed now against the definitions an admin approved (the pins), each
    /// change shown word by word, with the poisoning review of each. With --all: every
    /// installed plugin's grants, tools and risk on one screen.
    Review {
        /// The bundle directory, or (with --tools) an installed plugin's id
        #[arg(required_unless_present = "all")]
        target: Option<String>,
        /// Review an installed plugin's tools against their approved definitions
        #[arg(long, conflicts_with = "all")]
        tools: bool,
        /// Summarise every installed plugin: grants, egress, tools and risk
        #[arg(long, conflicts_with = "allow_downgrade")]
        all: bool,
        /// Review as if installing with --allow-downgrade
        #[arg(long)]
        allow_downgrade: bool,
        /// Print JSON instead of text (documented in docs/admin-guide.md)
        #[arg(long)]
        json: bool,
    },
    /// Verify, review and install a signed bundle, after the admin approves it
    ///
    /// Asks on the terminal; --yes approves without asking (for scripts). An update
    /// that asks for more than the installed version was approved for stays pending
    /// until `pincer approve ID`; the installed version keeps running.
    Install {
        /// The bundle directory
        bundle: PathBuf,
        /// Approve without asking
        #[arg(long)]
        yes: bool,
        /// Allow installing a lower version than the installed one
        #[arg(long)]
        allow_downgrade: bool,
        /// For an mcp-server plugin: the prefix of its tool names (ALIAS__TOOL) instead
        /// of the last segment of its id; needed when another plugin has that prefix
        #[arg(long, value_name = "ALIAS")]
        alias: Option<String>,
        /// Accept KEYID as the plugin's new signer: an installed plugin belongs to the
        /// key that signed its approved version (and kept data to the key that signed
        /// it), so a bundle signed by another key is refused without this
        #[arg(long, value_name = "KEYID")]
        accept_signer: Option<crate::trust::KeyId>,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// Change the prefix an mcp-server plugin's tools are served under (ALIAS__TOOL)
    Alias {
        /// The plugin id
        id: String,
        /// The new prefix: 1 to 32 of a-z, 0-9 and `-`
        #[arg(required_unless_present_any = ["reset", "none"])]
        alias: Option<String>,
        /// Go back to the default prefix, the last segment of the id
        #[arg(long, conflicts_with_all = ["alias", "none"])]
        reset: bool,
        /// Serve the tools under their own names, without a prefix (one plugin at most)
        #[arg(long, conflicts_with = "alias")]
        none: bool,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending update's wider grants, and an mcp-server plugin's changed or
    /// new tools, after showing the difference
    ///
    /// Tools are approved as they are listed when the command runs (each change shown
    /// word by word first, as `pincer review ID --tools` does); from then on a tool
    /// whose name, title, description or schema differs is withheld again.
    Approve {
        /// The plugin id
        id: String,
        /// Approve without asking
        #[arg(long)]
        yes: bool,
    },
    /// List every origin any installed plugin may reach, for a firewall allowlist
    ///
    /// One row per plugin and origin: the methods it may use there, and whether an
    /// admin lets it reach private networks. Pending updates are listed too, marked.
    Egress {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// List installed plugins
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Show an installed plugin: versions, signer, grants, approval
    Info {
        /// The plugin id
        id: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed plugin with its secrets, config, key-value store and data
    ///
    /// With --keep-data its secrets, config, key-value store, data and temp
    /// directories stay, bound to the key that signed it: a later install of the same
    /// id gets them only when signed by that key, or with --accept-signer. `pincer
    /// remove ID` on an id that is no longer installed deletes what was kept.
    Remove {
        /// The plugin id
        id: String,
        /// Keep its secrets, config, key-value store and data
        #[arg(long)]
        keep_data: bool,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// Serve the tools of every installed, approved mcp-server plugin over MCP
    ///
    /// On stdio by default: add it to an MCP client as a stdio server, command
    /// `pincer`, arguments `mcp`; it runs until the client closes its standard input.
    /// With --http 127.0.0.1:PORT it serves Streamable HTTP at /mcp, loopback only,
    /// behind a bearer token that is printed once and written to
    /// $PINCER_HOME/run/mcp-http.json (mode 0600); Ctrl-C stops it.
    ///
    /// Tools are named ALIAS__TOOL, ALIAS being the last segment of the plugin id
    /// unless an admin chose another (`pincer alias`). Installing, updating or
    /// removing a plugin while the server runs updates its tools and tells clients
    /// (notifications/tools/list_changed).
    Mcp {
        /// Serve Streamable HTTP on this loopback address instead of stdio
        #[arg(long, value_name = "127.0.0.1:PORT")]
        http: Option<std::net::SocketAddr>,
        /// A browser origin allowed to call the HTTP endpoint (repeatable); requests
        /// carrying any other Origin header are refused with 403
        #[arg(long, value_name = "ORIGIN", requires = "http")]
        allow_origin: Vec<String>,
        /// Serve only these plugins (repeatable); default: every installed mcp-server plugin
        #[arg(long = "plugin", value_name = "ID")]
        plugins: Vec<String>,
        /// On stdio, after answering, watch standard input this long (busy-polling one
        /// CPU) before sleeping, so that a client's next call is read without a
        /// wake-up. 0 turns it off
        #[arg(long, value_name = "MICROSECONDS", default_value_t = crate::mcp::DEFAULT_BUSY_POLL_US, conflicts_with = "http")]
        busy_poll_us: u64,
        /// List every plugin's tools again this often (they are also listed again
        /// whenever a client asks for the list); a tool whose definition no longer
        /// matches the approved one is withheld from then on
        #[arg(long, value_name = "SECONDS", default_value_t = crate::mcp::DEFAULT_TOOLS_REFRESH.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
        tools_refresh: u64,
    },
    /// Run the localhost gateway: the desktop app's HTTP API under /v1, and MCP at /mcp
    ///
    /// Listens on 127.0.0.1 only. At start it makes a session token, prints it once and
    /// writes it with the port to $PINCER_HOME/run/gateway.json (mode 0600); every
    /// request needs `Authorization: Bearer TOKEN`. Requests with a Host header other
    /// than this server's, or an Origin not allowed with --allow-origin, get 403.
    /// Ctrl-C stops it after the requests in flight finish. The API is in
    /// docs/gateway.md and at /v1/openapi.json.
    Serve {
        /// The port (0: any free port; the chosen one is in run/gateway.json)
        #[arg(long, default_value_t = 7878)]
        port: u16,
        /// The loopback address to bind; anything else is refused
        #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
        bind: std::net::IpAddr,
        /// A browser origin allowed to call the gateway (repeatable); requests carrying
        /// any other Origin header are refused with 403
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
    },
    /// Set, list and remove the secrets plugins read (values are encrypted, never shown)
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Set and list the non-secret settings plugins read
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read and verify the audit trail
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Bind named roots (such as `workspace`) to directories, for plugins to mount
    Root {
        #[command(subcommand)]
        command: RootCommand,
    },
    /// Build the reference plugins and run one in a sandbox on a temporary home,
    /// printing each step
    Demo {
        /// Keep the temporary home and print its path
        #[arg(long)]
        keep: bool,
    },
}

/// Where a development-mode plugin comes from.
#[derive(Debug, clap::Args)]
pub(crate) struct DevSource {
    /// Run an unsigned plugin from its manifest, without approval (development only)
    #[arg(long, requires = "manifest")]
    pub dev: bool,
    /// The plugin's manifest.toml (with --dev)
    #[arg(long, value_name = "PATH", requires = "dev")]
    pub manifest: Option<PathBuf>,
    /// Use this component file instead of the manifest's [component] file (with --dev)
    #[arg(long, value_name = "PATH", requires = "dev")]
    pub component: Option<PathBuf>,
}

/// The signing key.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// The secret key file (from `pincer keygen` or `minisign -G`)
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Read the key's password from the first line of this file
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `pincer trust ...`
/// `pincer recordings ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RecordingsCommand {
    /// Write a recording as one self-contained HTML page (timeline beside frames),
    /// read through the viewer plugin
    Export {
        /// The recording's id (as `POST /v1/recordings/start` returned it)
        id: String,
        /// Where to write the page
        #[arg(long, value_name = "OUT")]
        html: std::path::PathBuf,
        /// The viewer plugin to read it with; default: the only one installed
        #[arg(long, value_name = "ID")]
        viewer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// Trust a publisher's public key
    Add {
        /// The key: a minisign .pub file, or its base64 line
        pubkey: String,
        /// A name for the publisher, shown in reviews
        #[arg(long)]
        name: String,
    },
    /// List trusted and revoked keys
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: bundles it signed are refused, installed ones included
    Revoke {
        /// The key id (16 hex digits, as `trust list` shows)
        key_id: String,
    },
}

/// `pincer secrets ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Set secret NAME of plugin ID; the value is read from standard input (never from
    /// the command line), without echo on a terminal
    Set {
        /// The plugin id
        id: String,
        /// The secret's name, as the plugin's manifest declares it
        name: String,
    },
    /// List the names of the secrets set (never their values)
    List {
        /// Only this plugin's
        id: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove secret NAME of plugin ID
    Rm {
        /// The plugin id
        id: String,
        /// The secret's name
        name: String,
    },
}

/// `pincer config ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Set KEY of installed plugin ID to VALUE; the key must be one its manifest declares
    Set {
        /// The plugin id
        id: String,
        /// The key
        key: String,
        /// The value
        value: String,
    },
    /// Remove KEY of plugin ID
    Unset {
        /// The plugin id
        id: String,
        /// The key
        key: String,
    },
    /// List plugin ID's settings
    List {
        /// The plugin id
        id: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// `pincer audit ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the HMAC chain; report the first record edited, deleted, reordered or
    /// inserted, records cut off the end, and gaps nobody acknowledged
    ///
    /// With --head FILE (a copy of `pincer audit head` kept elsewhere), also check
    /// that the log still holds the record that copy names: the one check that sees
    /// a log and head cut back together, or deleted.
    Verify {
        /// A chain head saved earlier with `pincer audit head`
        #[arg(long, value_name = "FILE")]
        head: Option<PathBuf>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print the chain head (JSON), to keep a copy outside this machine's reach and
    /// check against later with `pincer audit verify --head FILE`
    Head,
    /// Acknowledge a gap that `audit verify` reports (a chain head found missing or
    /// damaged): an audited record, after which verify reports it as acknowledged
    Acknowledge {
        /// The `repair` record that names the gap, as `audit verify` shows it
        seq: u64,
        /// Why it is acknowledged (what was checked), kept in the record
        #[arg(long)]
        reason: String,
    },
    /// Show audit records
    Show {
        /// Only records about this plugin
        #[arg(long, value_name = "ID")]
        plugin: Option<String>,
        /// Only records since TIME (RFC 3339, or a duration ago such as 2h or 7d)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Print JSON lines instead of text
        #[arg(long)]
        json: bool,
    },
}

/// `pincer root ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RootCommand {
    /// Bind NAME to the directory DIR (plugins that mount NAME see DIR)
    Bind {
        /// The root's name, such as `workspace`
        name: String,
        /// An existing directory
        dir: PathBuf,
    },
    /// Remove the binding of NAME; plugins that mount it are refused until it is bound
    Unbind {
        /// The root's name
        name: String,
    },
    /// List the bound roots
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// Let the process open as many files as the system allows it (the soft limit up to
/// the hard one): each instance may hold up to [`crate::runtime::MAX_RESOURCES`], and
/// a server runs several at once. Failing to raise it is not fatal.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            ..limit
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
}

/// Run the command line; returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `pincer list --json | head` should end quietly, as other Unix tools do, rather
    // than panic on the closed pipe. The servers keep Rust's default (SIGPIPE
    // ignored): a client that goes away is an error they handle, not their end.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Mcp { .. } | Command::Serve { .. }) {
        // SAFETY: called before any other thread exists; it only resets a signal's
        // disposition to the system default.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    raise_open_file_limit();
    commands::init_logging(cli.verbose);
    commands::run(cli)
}
