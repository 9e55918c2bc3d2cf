//! `gitblixt`: the GitBlixt server and its operator commands.

use clap::{Parser, Subcommand};
use gitblixt::config::Config;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "gitblixt", version, about = "GitBlixt: a self-hosted git platform that mirrors to GitHub")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Operator commands.
    #[command(subcommand)]
    Admin(Admin),
    /// Run one mirror transfer against any remote (the token comes from GITBLIXT_REMOTE_TOKEN).
    #[command(subcommand)]
    Mirror(MirrorCmd),
}

#[derive(clap::Args)]
struct TransferArgs {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Fail when the whole run takes longer than this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// Fail when no data moves for this many seconds.
    #[arg(long, default_value_t = 120)]
    stall_timeout: u64,
}

#[derive(Subcommand)]
enum MirrorCmd {
    /// Make the remote's branches and tags equal to the local bare repository's.
    Push {
        local: std::path::PathBuf,
        remote_url: String,
        #[command(flatten)]
        args: TransferArgs,
    },
    /// Fetch the remote's branches and tags into the local bare repository.
    Fetch {
        remote_url: String,
        local: std::path::PathBuf,
        /// Delete local branches and tags that are gone from the remote (pull mirror).
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        args: TransferArgs,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Create a user; the password is read from standard input.
    CreateUser {
        name: String,
        /// Make the user an instance administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Create a repository `<owner>/<name>`.
    CreateRepo {
        path: String,
        #[arg(long)]
        private: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Create a personal access token and print it (once).
    CreateToken {
        user: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: api, read_api, read_repository, write_repository.
        #[arg(long)]
        scopes: String,
        #[arg(long)]
        expires_days: i64,
    },
    /// Add an SSH public key to a user's account; the key (one line) is read from standard input.
    AddSshKey {
        user: String,
        /// The key's title (default: the key's comment).
        #[arg(long, default_value = "")]
        title: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Installs the SIGINT and SIGTERM handlers now, so a signal that arrives right after the
/// "running" announcement stops the server cleanly instead of killing it; the returned future
/// resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for a shutdown signal");
                    std::future::pending::<()>().await
                }
            }
        };
        tokio::select! {
            _ = wait(interrupt) => {},
            _ = wait(terminate) => {},
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Some(Command::Mirror(cmd)) = cli.command {
        return gitblixt::mirror::cli::run(match cmd {
            MirrorCmd::Push { local, remote_url, args } => gitblixt::mirror::cli::Request {
                direction: gitblixt::mirror::cli::Direction::Push,
                local,
                remote_url,
                json: args.json,
                timeout: args.timeout,
                stall_timeout: args.stall_timeout,
            },
            MirrorCmd::Fetch { remote_url, local, prune, args } => gitblixt::mirror::cli::Request {
                direction: gitblixt::mirror::cli::Direction::Fetch { prune },
                local,
                remote_url,
                json: args.json,
                timeout: args.timeout,
                stall_timeout: args.stall_timeout,
            },
        })
        .await;
    }
    let config = Config::from_env().map_err(|e| e.to_string())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let running = gitblixt::start(config).await.map_err(|e| e.to_string())?;
            let stop = shutdown_signal();
            if let Some(ssh) = running.ssh_addr {
                eprintln!("GitBlixt serves git over SSH at {ssh}");
            }
            eprintln!("GitBlixt is running at {}", running.url());
            stop.await;
            tracing::info!("shutting down");
            running.stop().await.map_err(|e| e.to_string())
        }
        Command::Migrate => {
            gitblixt::open_state(&config, String::new()).await.map_err(|e| e.to_string())?;
            println!("migrations are up to date");
            Ok(())
        }
        Command::Admin(cmd) => {
            let state = gitblixt::open_state(&config, String::new()).await.map_err(|e| e.to_string())?;
            let out = match cmd {
                Admin::CreateUser { name, admin } => {
                    let password = gitblixt::admin::read_password_line(&mut std::io::stdin().lock())
                        .map_err(|e| e.to_string())?;
                    gitblixt::admin::create_user(&state, &name, admin, &password).await
                }
                Admin::CreateRepo { path, private, description } => {
                    gitblixt::admin::create_repo(&state, &path, private, &description).await
                }
                Admin::CreateToken { user, name, scopes, expires_days } => {
                    gitblixt::admin::create_token(&state, &user, &name, &scopes, expires_days).await
                }
                Admin::AddSshKey { user, title } => {
                    let key = gitblixt::admin::read_password_line(&mut std::io::stdin().lock()).map_err(|_| "No key given: write the public key on standard input.".to_string())?;
                    gitblixt::admin::add_ssh_key(&state, &user, &title, &key).await
                }
            };
            println!("{}", out.map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Mirror(_) => Ok(()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
