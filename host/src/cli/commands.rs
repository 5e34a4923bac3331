//! One `cmd_*` function per subcommand; each calls the library and prints.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::{Cli, Command, DevSource, RootCommand, admin, author, settings};
use crate::exit::{Exit, ExitClass};
use crate::kinds::mcp::ContentItem;
use crate::policy::{Policy, PolicyError};
use crate::runtime::imports::ImportClass;
use crate::runtime::{CallError, LoadError, Plugin, Runtime};
use crate::store::Home;

/// A command's failure: its class (the exit code) and the message (which says how to
/// fix it).
pub(super) struct Failure {
    pub(super) exit: Exit,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }

    /// The failure of a library error: its class and its message.
    fn of(e: &(impl ExitClass + std::fmt::Display)) -> Self {
        Failure::new(e.exit(), e.to_string())
    }
}

/// Every library error becomes a failure of its own class ([`ExitClass`]).
macro_rules! failure_from {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for Failure {
            fn from(e: $error) -> Self {
                Failure::of(&e)
            }
        })*
    };
}

failure_from!(
    crate::admin::AdminError,
    crate::install::tools::GateError,
    LoadError,
    CallError,
    crate::trust::TrustError,
    crate::install::InstallError,
    crate::store::plugins::StoreError,
    crate::vault::VaultError,
    crate::caps::config::ConfigError,
    crate::audit::AuditError,
    PolicyError,
    crate::store::HomeError,
);

/// Send the host's log to stderr: warnings by default, plugin logs with `-v`, debug
/// with `-vv`; `PINCER_LOG` (an env-filter) overrides.
pub(super) fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,plugin=info,pincer=info",
        _ => "debug,cranelift_codegen=info,wasmtime_cranelift=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PINCER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or a test's capture gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

pub(super) fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Errors carry plugin and manifest text (faults, panics, names).
            eprintln!("error: {}", crate::text::printable_lines(&f.message));
            ExitCode::from(f.exit.code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    let home = || Home::open(cli.home.as_deref()).map_err(Failure::from);
    let runtime = || -> Result<Runtime, Failure> { Ok(Runtime::new(home()?)?) };
    match cli.command {
        Command::Inspect { ref path, json } => cmd_inspect(&home()?, path, json),
        Command::Call {
            ref target,
            ref dev,
            ref args,
            json,
        } => {
            let (id, tool) = match (dev.manifest.is_some(), target.as_slice()) {
                (true, [tool]) => (None, tool),
                (false, [id, tool]) => (Some(id.as_str()), tool),
                (true, _) => {
                    return Err(Failure::new(
                        Exit::Usage,
                        "with --dev --manifest, give only the tool: `pincer call --dev --manifest M TOOL`",
                    ));
                }
                (false, _) => {
                    return Err(Failure::new(
                        Exit::Usage,
                        "give the plugin and the tool: `pincer call ID TOOL` (or `--dev --manifest M TOOL` for an unsigned plugin)",
                    ));
                }
            };
            // Approvals that the policy leaves to a person are asked on this terminal.
            let approver = std::sync::Arc::new(crate::caps::approval::TerminalApprover);
            cmd_call(
                &runtime()?.with_approver(approver),
                id,
                dev,
                tool,
                args,
                json,
            )
        }
        Command::Tools {
            ref id,
            ref dev,
            json,
        } => cmd_tools(&runtime()?, id.as_deref(), dev, json),
        Command::Dev {
            ref target,
            ref manifest,
            watch,
            json,
            max_runs,
        } => super::dev::cmd_dev(
            runtime()?,
            target,
            manifest.as_deref(),
            watch,
            json,
            max_runs,
        ),
        Command::Root { ref command } => cmd_root(&home()?, command),
        Command::Demo { keep } => super::demo::cmd_demo(keep),
        Command::Keygen {
            ref out,
            unencrypted,
            ref password_file,
            json,
        } => author::cmd_keygen(out, unencrypted, password_file.as_deref(), json),
        Command::Pack {
            ref manifest,
            ref component,
            ref key,
            ref out,
            json,
        } => author::cmd_pack(manifest, component.as_deref(), key, out, json),
        Command::Sign {
            ref manifest,
            ref key,
        } => author::cmd_sign(manifest, key),
        Command::Verify {
            ref bundle,
            ref pubkey,
            json,
        } => author::cmd_verify(&home()?, bundle, pubkey.as_deref(), json),
        Command::Trust { ref command } => admin::cmd_trust(&home()?, command),
        Command::Review {
            all: true, json, ..
        } => super::inventory::cmd_review_all(&runtime()?, json),
        Command::Review {
            ref target,
            tools: true,
            json,
            ..
        } => {
            super::pins::cmd_review_tools(&runtime()?, target.as_deref().unwrap_or_default(), json)
        }
        Command::Review {
            ref target,
            allow_downgrade,
            json,
            ..
        } => admin::cmd_review(
            &runtime()?,
            std::path::Path::new(target.as_deref().unwrap_or_default()),
            allow_downgrade,
            json,
        ),
        Command::Egress { json } => super::inventory::cmd_egress(&home()?, json),
        Command::Install {
            ref bundle,
            yes,
            allow_downgrade,
            ref alias,
            accept_signer,
            json,
        } => admin::cmd_install(
            &runtime()?,
            bundle,
            yes,
            &crate::install::Options {
                allow_downgrade,
                alias: alias.clone(),
                accept_signer,
            },
            json,
        ),
        Command::Alias {
            ref id,
            ref alias,
            reset: _,
            none,
            json,
        } => admin::cmd_alias(
            &runtime()?,
            id,
            if none { Some("") } else { alias.as_deref() },
            json,
        ),
        Command::Approve { ref id, yes } => admin::cmd_approve(&runtime()?, id, yes),
        Command::List { json } => admin::cmd_list(&home()?, json),
        Command::Info { ref id, json } => admin::cmd_info(&home()?, id, json),
        Command::Remove {
            ref id,
            keep_data,
            json,
        } => admin::cmd_remove(&runtime()?, id, keep_data, json),
        Command::Audit { ref command } => admin::cmd_audit(&home()?, command),
        Command::Secrets { ref command } => settings::cmd_secrets(&home()?, command),
        Command::Mcp {
            http,
            ref allow_origin,
            ref plugins,
            busy_poll_us,
            tools_refresh,
        } => cmd_mcp(
            runtime()?,
            crate::mcp::Serve {
                http,
                allowed_origins: allow_origin.clone(),
                plugins: plugins.clone(),
                busy_poll: std::time::Duration::from_micros(busy_poll_us),
                tools_refresh: std::time::Duration::from_secs(tools_refresh),
            },
        ),
        Command::Config { ref command } => settings::cmd_config(&home()?, command),
        Command::New {
            ref kind,
            ref name,
            ref dir,
            ref id,
        } => super::scaffold::cmd_new(kind, name, dir.as_deref(), id.as_deref()),
        Command::Recordings {
            command:
                super::RecordingsCommand::Export {
                    ref id,
                    ref html,
                    ref viewer,
                },
        } => super::recordings::cmd_export(&runtime()?, id, html, viewer.as_deref()),
        Command::Chat {
            ref id,
            ref message,
            ref system,
            ref model,
            json,
        } => cmd_chat(
            &runtime()?,
            id,
            message,
            system.as_deref(),
            model.clone(),
            json,
        ),
        Command::Serve {
            port,
            bind,
            ref allow_origin,
        } => {
            let options = crate::gateway::Options {
                addr: std::net::SocketAddr::new(bind, port),
                allowed_origins: allow_origin.clone(),
            };
            let approvals = std::sync::Arc::new(crate::gateway::approvals::Approvals::default());
            let runtime = std::sync::Arc::new(runtime()?.with_approver(approvals.clone()));
            block_on(crate::gateway::serve(runtime, approvals, options))
                .map_err(|e| Failure::new(Exit::Host, e))
        }
    }
}

/// A tokio runtime for the async parts of a command.
pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("starting the async runtime")
        .block_on(f)
}

pub(super) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

fn cmd_inspect(home: &Home, path: &Path, json: bool) -> Result<(), Failure> {
    let wasm = std::fs::read(path)
        .map_err(|e| Failure::new(Exit::Usage, format!("cannot read {}: {e}", path.display())))?;
    let runtime = Runtime::new(Home::open_at(home.path())?)?;
    let (component, _, sha256) = runtime.component(&wasm).map_err(|e| {
        Failure::new(
            Exit::Refused,
            format!(
                "{} is not a valid WebAssembly component: {e:#}",
                path.display()
            ),
        )
    })?;
    let report = crate::runtime::ComponentReport::of(&component, runtime.engine());
    if json {
        print_json(&json!({
            "path": path,
            "sha256": sha256,
            "size": wasm.len(),
            "world": report.world,
            "imports": report.imports,
            "exports": report.exports,
        }));
        return Ok(());
    }
    println!("{}", path.display());
    println!("  sha256  {sha256}");
    println!("  size    {} bytes", wasm.len());
    match report.world {
        Some(kind) => println!("  world   pincer:plugin/{kind}@0.1.0 (a `{kind}` plugin)"),
        None => println!("  world   none of pincer:plugin's worlds (not a Pincer plugin)"),
    }
    println!("imports:");
    for i in &report.imports {
        let how = match &i.class {
            ImportClass::Base => "base set, always linked".to_owned(),
            ImportClass::Log => "log, always granted".to_owned(),
            ImportClass::Gated { section, .. } => format!("needs {section}"),
            ImportClass::Never { reason } => format!("NEVER GRANTED: {reason}"),
        };
        println!("  {:<40} {how}", i.name);
    }
    println!("exports:");
    for e in &report.exports {
        println!("  {e}");
    }
    Ok(())
}

/// Load the installed plugin `id`, or with `--dev` an unsigned plugin from its
/// manifest, saying so loudly on stderr.
fn load_plugin(runtime: &Runtime, id: Option<&str>, dev: &DevSource) -> Result<Plugin, Failure> {
    match (id, &dev.manifest) {
        (Some(id), None) => Ok(runtime.load_installed(id)?),
        (None, Some(manifest)) => {
            eprintln!(
                "WARNING: development mode: {} is NOT signed and NO admin approved it; never use --dev for plugins you did not write",
                manifest.display()
            );
            let plugin = runtime.load_manifest(manifest, dev.component.as_deref())?;
            plugin.denials().keep();
            Ok(plugin)
        }
        (Some(_), Some(_)) => Err(Failure::new(
            Exit::Usage,
            "give either an installed plugin's id or --dev --manifest PATH, not both",
        )),
        (None, None) => Err(Failure::new(
            Exit::Usage,
            "name an installed plugin (see `pincer list`), or pass --dev --manifest PATH for an unsigned one",
        )),
    }
}

fn cmd_chat(
    runtime: &Runtime,
    id: &str,
    message: &str,
    system: Option<&str>,
    model: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    use crate::kinds::chat::{ChatFailure, ChatRequest, Message, Role};
    let plugin = runtime.load_installed(id)?;
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(Message {
            role: Role::System,
            content: system.to_owned(),
        });
    }
    messages.push(Message {
        role: Role::User,
        content: message.to_owned(),
    });
    let request = ChatRequest {
        messages,
        model,
        ..ChatRequest::default()
    };
    match block_on(plugin.complete(&request))? {
        Ok(reply) if json => {
            print_json(&serde_json::to_value(&reply).expect("a reply serialises"));
            Ok(())
        }
        Ok(reply) => {
            println!("{}", crate::text::printable_lines(&reply.message.content));
            Ok(())
        }
        Err(ChatFailure::InvalidRequest(why)) => Err(Failure::new(
            Exit::Usage,
            format!("{id} refused the request: {why}"),
        )),
        Err(failure) => Err(Failure::new(Exit::Tool, format!("{id}: {failure}"))),
    }
}

/// Print on stderr what the plugin's capabilities denied it since it was loaded (only
/// a development-mode plugin keeps its denials), even those the plugin swallowed.
fn print_denials(plugin: &Plugin) {
    for denial in plugin.denials().take() {
        let times = match denial.times {
            1 => String::new(),
            n => format!(" ({n} times)"),
        };
        eprintln!(
            "denied{times}: {}",
            crate::text::printable_lines(&denial.reason)
        );
    }
}

/// Check that `args`, given as the argument `what`, is a JSON object, as a tool's
/// arguments must be.
pub(super) fn check_tool_args(what: &str, args: &str) -> Result<(), Failure> {
    match serde_json::from_str::<serde_json::Value>(args) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(Failure::new(
            Exit::Usage,
            format!("{what} must be a JSON object, such as '{{\"name\":\"Ada\"}}'; got `{args}`"),
        )),
    }
}

/// Call `tool` of the installed plugin `id`, or of the development plugin `dev`, and
/// print the result (then, in development mode, what was denied).
pub(super) fn cmd_call(
    runtime: &Runtime,
    id: Option<&str>,
    dev: &DevSource,
    tool: &str,
    args: &str,
    json: bool,
) -> Result<(), Failure> {
    check_tool_args("--args", args)?;
    let plugin = load_plugin(runtime, id, dev)?;
    // An installed plugin's tool runs only as an admin approved its definition.
    if let Some(id) = id {
        crate::install::tools::check_callable(
            runtime,
            &crate::audit::cli_actor(),
            id,
            &plugin,
            tool,
        )?;
    }
    let printed = block_on(plugin.call_tool(tool, args))
        .map_err(Failure::from)
        .and_then(|output| print_tool_output(tool, &output, json));
    print_denials(&plugin);
    printed
}

fn print_tool_output(
    tool: &str,
    output: &crate::kinds::mcp::ToolOutput,
    json: bool,
) -> Result<(), Failure> {
    if json {
        print_json(&serde_json::to_value(output).expect("tool output serialises"));
    } else {
        for item in &output.content {
            match item {
                ContentItem::Text { text } => println!("{}", crate::text::printable_lines(text)),
                ContentItem::Image {
                    bytes, mime_type, ..
                } => {
                    println!("[image: {mime_type}, {bytes} bytes]")
                }
            }
        }
        if let Some(s) = &output.structured_content {
            let pretty = serde_json::to_string_pretty(s).expect("JSON values serialise");
            println!("{}", crate::text::printable_lines(&pretty));
        }
    }
    if output.is_error {
        return Err(Failure::new(
            Exit::Tool,
            format!("tool `{tool}` reported an error"),
        ));
    }
    Ok(())
}

fn cmd_tools(
    runtime: &Runtime,
    id: Option<&str>,
    dev: &DevSource,
    json: bool,
) -> Result<(), Failure> {
    let plugin = load_plugin(runtime, id, dev)?;
    let listed = match id {
        Some(id) => super::pins::served_tools(runtime, id, &plugin),
        None => block_on(plugin.list_tools()).map_err(Failure::from),
    };
    let listed = listed.map(|tools| {
        if json {
            print_json(&serde_json::to_value(&tools).expect("tools serialise"));
        } else {
            for t in &tools {
                println!(
                    "{:<24} {}",
                    crate::text::printable(&t.name),
                    crate::text::printable_lines(&t.description)
                );
            }
        }
    });
    print_denials(&plugin);
    listed
}

fn cmd_mcp(runtime: Runtime, serve: crate::mcp::Serve) -> Result<(), Failure> {
    let over_http = serve.http.is_some();
    let busy_poll = serve.busy_poll;
    let served = crate::mcp::serve(std::sync::Arc::new(runtime), serve);
    if over_http {
        return block_on(served).map_err(|e| Failure::new(Exit::Host, e));
    }
    // On stdio there is one client: each message is read, handled and answered on
    // one thread, without waking another (a wake-up across CPUs costs tens of
    // microseconds on a virtual machine). Concurrent calls still interleave: plugin
    // code yields at every epoch tick. When the thread has nothing left to do, it
    // watches stdin a little before it sleeps.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(move || crate::mcp::await_stdin(busy_poll))
        .build()
        .expect("starting the async runtime")
        .block_on(served)
        .map_err(|e| Failure::new(Exit::Host, e))
}

fn cmd_root(home: &Home, command: &RootCommand) -> Result<(), Failure> {
    use crate::admin::roots;
    match command {
        RootCommand::Bind { name, dir } => {
            let resolved = roots::bind(home, &crate::audit::cli_actor(), name, dir)?;
            println!("bound root `{name}` to {}", resolved.display());
        }
        RootCommand::Unbind { name } => {
            roots::unbind(home, &crate::audit::cli_actor(), name)?;
            println!("unbound root `{name}`");
        }
        RootCommand::List { json } => {
            let policy = Policy::load(home)?;
            if *json {
                print_json(&json!(policy.roots));
            } else if policy.roots.is_empty() {
                println!("no roots bound; bind one with `pincer root bind NAME DIR`");
            } else {
                for (name, dir) in &policy.roots {
                    println!("{name:<16} {}", dir.display());
                }
            }
        }
    }
    Ok(())
}
