//! The `pincer` command line: clap types only. Each subcommand's doc comment is its
//! `--help`; the work happens in [`commands`].
//!
//! Exit codes: 0 success; 1 an error of the host or its environment; 2 bad usage or
//! input; 3 a plugin was refused (manifest, digest, imports, mounts); 4 a plugin
//! faulted (trap, timeout, memory) or stayed busy; 5 a tool reported an error.

mod commands;
mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A capability-secure host for WebAssembly component plugins.
///
/// Pincer runs each plugin with exactly the capabilities its manifest grants:
/// nothing else is linked. State lives in $PINCER_HOME (default ~/.pincer).
#[derive(Debug, Parser)]
#[command(name = "pincer", version, propagate_version = true)]
pub struct Cli {
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
pub enum Command {
    /// Show a component's imports (and how Pincer treats each), exports and world
    Inspect {
        /// The component file (.wasm)
        path: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Call a tool of an mcp-server plugin, in a fresh sandboxed instance
    ///
    /// Development mode: the manifest is not signed and no admin approved it.
    Call {
        /// The plugin's manifest.toml
        #[arg(long, value_name = "PATH")]
        manifest: PathBuf,
        /// Use this component file instead of the manifest's [component] file
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
        /// The tool's name
        tool: String,
        /// The tool's arguments, a JSON object
        #[arg(long, value_name = "JSON", default_value = "{}")]
        args: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the tools of an mcp-server plugin
    ///
    /// Development mode: the manifest is not signed and no admin approved it.
    Tools {
        /// The plugin's manifest.toml
        #[arg(long, value_name = "PATH")]
        manifest: PathBuf,
        /// Use this component file instead of the manifest's [component] file
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
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

/// `pincer root ...`
#[derive(Debug, Subcommand)]
pub enum RootCommand {
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

/// Run the command line; returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logging(cli.verbose);
    commands::run(cli)
}
