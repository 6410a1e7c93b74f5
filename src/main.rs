//! The `gatehouse` command: parses arguments, sets up logging, binds the
//! listeners, turns signals into a shutdown future, and hands over to the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use gatehouse::config::{self, Config};

/// mimalloc instead of the system allocator: every request allocates and
/// frees many small buffers, which glibc malloc does markedly slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A TLS-terminating reverse proxy that makes users log in before they
/// reach your application.
#[derive(Parser)]
#[command(name = "gatehouse", version, about)]
struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = "proxy.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the config, the users file and the certificates.
    Check,
    /// Read a password from stdin and print its argon2id hash for users.toml.
    HashPassword,
    /// Inspect or end sessions in the configured shared store (Redis).
    #[command(subcommand)]
    Sessions(SessionsCommand),
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// List sessions: user, created, last seen, client address, user agent.
    List {
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// End sessions.
    Revoke {
        /// End every session of this user.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        user: Option<String>,
        /// End every session.
        #[arg(long)]
        all: bool,
    },
}

/// Exit code for usage and config errors (clap uses it for usage errors too).
const EXIT_CONFIG: u8 = 2;
/// Exit code for failures at run time.
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check) => check(&cli.config),
        Some(Command::HashPassword) => hash_password(),
        Some(Command::Sessions(command)) => sessions(&cli.config, command),
        None => serve(&cli.config),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match gatehouse::check(path) {
        Ok(config) => {
            println!(
                "{}: ok ({} route{})",
                path.display(),
                config.routes.len(),
                if config.routes.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn sessions(path: &std::path::Path, command: SessionsCommand) -> ExitCode {
    use gatehouse::session_admin::{self, Action};
    let config = match config::load(path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let action = match &command {
        SessionsCommand::List { user } => Action::List {
            user: user.as_deref(),
        },
        SessionsCommand::Revoke {
            user: Some(user), ..
        } => Action::RevokeUser(user),
        SessionsCommand::Revoke { .. } => Action::RevokeAll,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(session_admin::run(&config, action)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e @ session_admin::AdminError::EmbeddedStore(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn hash_password() -> ExitCode {
    let password = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password("Password: ")
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| {
            let trimmed = line.strip_suffix('\n').unwrap_or(&line);
            trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned()
        })
    };
    match password {
        Ok(password) if !password.is_empty() => {
            println!("{}", gatehouse::users::hash_password(&password));
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!("error: the password is empty");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("error: cannot read the password: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn serve(path: &std::path::Path) -> ExitCode {
    init_logging();
    let config = match config::load(path) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // One worker: a single-threaded scheduler, which runs ready tasks in
    // order instead of jumping to the one just woken (the multi-threaded
    // scheduler's LIFO slot), so that the session lookups of many ready
    // connections reach Redis in one write rather than one write each.
    let runtime = match config.server.workers {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    runtime.block_on(async move {
        // Handlers first: a signal that arrives once the port accepts must
        // never meet the default action (death without a drain).
        let (shutdown, reloads) = match (shutdown_signal(), reload_signal()) {
            (Ok(shutdown), Ok(reloads)) => (shutdown, reloads),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("cannot install signal handlers: {e}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        let listeners = match bind(&config).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        match gatehouse::run(config, listeners, shutdown, reloads).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e @ gatehouse::RunError::Config(_)) => {
                tracing::error!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        }
    })
}

async fn bind(config: &Config) -> Result<gatehouse::Listeners, String> {
    async fn one(addr: std::net::SocketAddr, key: &str) -> Result<TcpListener, String> {
        TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} (listen.{key}): {e}"))
    }
    let l = &config.listen;
    Ok(gatehouse::Listeners {
        https: one(l.https, "https").await?,
        http: match l.http {
            Some(addr) => Some(one(addr, "http").await?),
            None => None,
        },
        admin: match l.admin {
            Some(addr) => Some(one(addr, "admin").await?),
            None => None,
        },
    })
}

/// Resolves on SIGTERM or SIGINT; both handlers are installed before it returns.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// A message for every SIGHUP: reload the config, users and certificates.
fn reload_signal() -> std::io::Result<tokio::sync::mpsc::Receiver<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            // A reload already queued covers this one too.
            let _ = tx.try_send(());
        }
    });
    Ok(rx)
}

/// Human-readable lines by default; JSON lines with `GATEHOUSE_LOG_FORMAT=json`.
/// `RUST_LOG` filters (default `info`). Colours only on a terminal: escape
/// codes in a log file or journal make it unreadable and ungreppable.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("GATEHOUSE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
