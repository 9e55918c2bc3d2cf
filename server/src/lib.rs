//! The `gitblixt` server: configuration, the axum router (pages, server functions, git smart
//! HTTP), operator commands, and start-up/shut-down.

pub mod admin;
pub mod advertise;
pub mod assets;
pub mod config;
pub mod git_auth;
pub mod git_http;
pub mod git_service;
pub mod housekeeping;
pub mod live;
pub mod mail;
pub mod metrics;
pub mod mirror;
pub mod oauth_routes;
pub mod origin_check;
pub mod peers;
pub mod rest_api;
pub mod security;
pub mod ssh;
pub mod sync;

use app::ssr::db::{Db, DbError, DbLocation};
use app::ssr::events::Events;
use app::ssr::store::RepoStore;
use app::ssr::crypto::Cipher;
use app::ssr::github::{GithubEndpoints, GithubSettings, OAuthApp};
use app::ssr::{AppState, Settings};
use axum::Router;
use axum::serve::ListenerExt;
use config::Config;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("could not prepare the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Secrets(#[from] app::ssr::crypto::CryptoError),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    HostKey(#[from] ssh::host_key::HostKeyError),
    #[error("could not listen for SSH on {addr} (GITBLIXT_SSH_ADDR; set it empty to serve no SSH): {source}")]
    BindSsh { addr: SocketAddr, source: std::io::Error },
}

/// Opens the data directory and database (running migrations).
pub async fn open_state(config: &Config, public_url: String) -> Result<AppState, StartError> {
    let ssh = match &config.ssh {
        Some(ssh) => Some(ssh_settings(ssh, &ssh_host_key(config, ssh)?, ssh.addr, &public_url)),
        None => None,
    };
    open_state_with(config, public_url, ssh).await
}

/// What the pages say about SSH: the clone URLs' start (from `GITBLIXT_SSH_PUBLIC`, else the
/// public URL's host and the port SSH listens on) and the host key's fingerprints.
fn ssh_settings(ssh: &config::SshConfig, key: &russh::keys::PrivateKey, bound: SocketAddr, public_url: &str) -> app::ssr::SshSettings {
    let public = ssh.public.clone().unwrap_or_else(|| {
        let host = url_host(public_url).unwrap_or_else(|| bound.ip().to_string());
        config::SshPublic { user: "git".into(), host, port: bound.port() }
    });
    app::ssr::SshSettings { clone_prefix: public.clone_prefix(), host_key_fingerprints: vec![ssh::host_key::fingerprint(key)] }
}

/// The SSH host key (generated in the data directory at first start unless one is configured).
fn ssh_host_key(config: &Config, ssh: &config::SshConfig) -> Result<russh::keys::PrivateKey, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir { path: config.data_dir.display().to_string(), source })?;
    Ok(ssh::host_key::load(ssh.host_key.as_deref(), &config.data_dir)?)
}

/// The host of an `http(s)://host[:port]` URL (`[::1]` kept in brackets).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = match rest.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next()?),
        None => rest.split([':', '/']).next()?.to_string(),
    };
    (!host.is_empty()).then_some(host)
}

async fn open_state_with(config: &Config, public_url: String, ssh: Option<app::ssr::SshSettings>) -> Result<AppState, StartError> {
    let data_err = |source| StartError::DataDir { path: config.data_dir.display().to_string(), source };
    std::fs::create_dir_all(&config.data_dir).map_err(data_err)?;
    let store = RepoStore::open(&config.data_dir).map_err(data_err)?;
    let location = DbLocation::parse(&config.database_url)?;
    let db = Db::connect(&location, config.db_pool).await?;
    let secure_cookies = public_url.starts_with("https://");
    let allowed_origins = origin_check::allowed_origins(&public_url, config.public_url.is_some(), &config.allowed_origins);
    let cipher = Cipher::load(config.secret_key.as_ref(), &config.data_dir)?;
    let github = GithubSettings {
        endpoints: GithubEndpoints { web_url: config.github.web_url.clone(), api_url: config.github.api_url.clone() },
        oauth: config.github.oauth_app.as_ref().map(|(client_id, client_secret)| OAuthApp {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            callback_url: format!("{public_url}{}", app::ssr::github::CALLBACK_PATH),
        }),
    };
    Ok(AppState {
        db,
        store,
        events: Events::new(),
        settings: Arc::new(Settings {
            public_url,
            secure_cookies,
            allowed_origins,
            mail: config.mail.is_some(),
            quotas: config.limits.quotas.clone(),
            registration_open: config.registration_open,
            ssh,
        }),
        cipher,
        github: Arc::new(github),
        sync_wake: app::ssr::wake::SyncWake::default(),
        engine: Arc::new(mirror::preview::GixEngine),
        guard: Arc::new(app::ssr::guard::AuthGuard::new(config.limits.auth_failures_per_minute, config.limits.password_hashes)),
    })
}

/// The site's layout as the pages reference it: the compiled site is served from [`assets`]
/// (embedded in release builds), so nothing here depends on the working directory. The pages
/// [`app::bundles`] calls interactive load the bundle named in `output_name`.
fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder().output_name(site_bundle_name()).site_pkg_dir(assets::PKG_DIR).site_addr(addr).build()
}

/// What every page render gets in its context: the state. The page's
/// Content-Security-Policy names the nonce leptos_axum gave this render's inline scripts.
fn page_context(state: AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
            let policy = security::page_policy(&nonce, &state.github.endpoints.web_url);
            if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
                response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
            }
        }
        provide_context(state.clone());
    }
}

/// The compiled site's bundle name, or a placeholder when it was not built.
fn site_bundle_name() -> String {
    assets::bundle_name().unwrap_or_else(|| {
        tracing::warn!("the compiled site is missing (build it with `make site`): pages will not be interactive");
        "gitblixt".into()
    })
}

/// A file of the compiled site, for `/pkg/...`.
async fn pkg_file(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    assets::response(uri.path(), &headers).unwrap_or_else(|| axum::http::StatusCode::NOT_FOUND.into_response())
}

/// Anything no route took: a public file of the site (favicon.ico, …), else the app's 404 page,
/// rendered with the state so the header still shows who is signed in.
async fn fallback(
    axum::extract::State(options): axum::extract::State<LeptosOptions>,
    axum::Extension(state): axum::Extension<AppState>,
    request: axum::http::Request<axum::body::Body>,
) -> axum::response::Response {
    if let Some(file) = assets::response(request.uri().path(), request.headers()) {
        return file;
    }
    // Rendered whole: the 404 page is a plain page (see `app::bundles`).
    let render = leptos_axum::render_app_async_with_context(page_context(state), move || app::shell(options.clone()));
    let mut response = render(request).await;
    if response.status() == axum::http::StatusCode::OK {
        *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
    }
    response
}

/// The app's routes, generated once per process. Generating them runs the app with resource
/// loading suppressed process-wide (leptos-rs/leptos#4773): a page of another server in the same
/// process (the test harness starts many) whose resource first polls inside that window never
/// finishes rendering.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The whole HTTP application.
pub fn router(
    state: AppState,
    git: git_service::GitState,
    addr: SocketAddr,
    stopping: tokio::sync::watch::Receiver<bool>,
    metrics_token: Option<secrecy::SecretString>,
    limits: &config::Limits,
) -> Router {
    let routes = route_list();
    let options = leptos_options(addr);
    // The compiled site (wasm, js, css) is served before the pages: `/pkg/x` would otherwise be
    // taken for the repository page of a user named `pkg` (a reserved name).
    let pkg_route = format!("/{}/{{*file}}", assets::PKG_DIR);
    let git = git_http::routes(git);
    let pages = Router::new()
        .route(&pkg_route, axum::routing::get(pkg_file))
        .leptos_routes_with_context(
            &options,
            routes,
            page_context(state.clone()),
            {
                let options = options.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(fallback)
        .layer(axum::Extension(state.clone()))
        .with_state(options);
    let app = git
        .merge(oauth_routes::routes(state.clone()))
        .merge(live::routes(state.clone(), stopping))
        .merge(rest_api::routes(state.clone()))
        .merge(metrics::routes(state.clone(), metrics_token))
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(state.settings.clone(), origin_check::check_origin))
        .layer(axum::middleware::from_fn_with_state(state.settings.clone(), security::refuse_duplicate_session))
        .layer(axum::middleware::from_fn_with_state(Arc::new(limits.trusted_proxies.clone()), security::client_ip));
    security::header_layers(app).layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
}

/// The span of a request: method and path only. Query strings are never logged: OAuth callbacks
/// carry the authorization code and state there.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    /// Where git over SSH listens, when it is served.
    pub ssh_addr: Option<SocketAddr>,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets running requests finish, and waits.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.map_err(|e| StartError::Serve(std::io::Error::other(e)))?
    }
}

/// Every accepted connection sends what it is given at once (`TCP_NODELAY`). Without it a
/// response written in pieces — git's streamed output, then the end of the body once the push's
/// mirror requests are recorded — waits out the client's delayed acknowledgement (40 ms on Linux)
/// before each small piece; nginx and Apache set it for the same reason.
fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
    }
}

/// The web listener as served: each accepted connection with [`no_delay`].
fn http_listener(listener: tokio::net::TcpListener) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream))
}

/// Binds, opens everything, and serves in a background task.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let ssh_listener = match &config.ssh {
        Some(ssh) => Some(
            tokio::net::TcpListener::bind(ssh.addr).await.map_err(|source| StartError::BindSsh { addr: ssh.addr, source })?,
        ),
        None => None,
    };
    let ssh_key = match &config.ssh {
        Some(ssh) => Some(ssh_host_key(&config, ssh)?),
        None => None,
    };
    let ssh_settings = match (&config.ssh, &ssh_listener, &ssh_key) {
        (Some(ssh), Some(listener), Some(key)) => {
            let bound = listener.local_addr().map_err(|source| StartError::BindSsh { addr: ssh.addr, source })?;
            Some(ssh_settings(ssh, key, bound, &public_url))
        }
        _ => None,
    };
    let state = open_state_with(&config, public_url, ssh_settings).await?;
    let hooks_dir = git_service::install_hooks(&config.data_dir)
        .map_err(|source| StartError::DataDir { path: config.data_dir.display().to_string(), source })?;
    let limits = &config.limits;
    let git = git_service::GitState {
        app: state.clone(),
        hooks_dir,
        limits: git_service::GitLimits::new(limits.git_processes, limits.git_idle, limits.max_push_bytes),
        receive_capabilities: Default::default(),
    };
    let ssh_server = match (&config.ssh, ssh_listener, ssh_key) {
        (Some(ssh), Some(listener), Some(key)) => {
            Some(ssh::start(listener, git.clone(), ssh, key).map_err(|source| StartError::BindSsh { addr: ssh.addr, source })?)
        }
        _ => None,
    };
    let ssh_addr = ssh_server.as_ref().map(|s| s.addr);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let app = router(state.clone(), git, addr, stopping, config.metrics_token.clone(), &config.limits);
    let mailer = match &config.mail {
        Some(mail) => Some(mail::Mailer::new(mail)?.with_public_url(&state.settings.public_url)),
        None => None,
    };
    let refresher = tokio::spawn(oauth_routes::refresh_tokens_in_background(state.clone(), mailer.clone()));
    match state.store.upgrade_all().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(repositories = n, "repository configuration brought up to date"),
        Err(e) => tracing::warn!(error = %e, "could not bring every repository's configuration up to date"),
    }
    // With SQLite only this process uses the database: leases still held were a killed process's.
    if state.db.backend_name() == "sqlite" {
        match app::ssr::mirrors::release_all_leases(&state.db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(mirrors = n, "leases left by a stopped process released"),
            Err(e) => tracing::warn!(error = %e, "could not release leases left by a stopped process"),
        }
    }
    match app::ssr::mirrors::interrupt_orphaned_runs(&state.db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(runs = n, "runs cut off by the last stop are marked interrupted"),
        Err(e) => tracing::warn!(error = %e, "could not mark runs cut off by the last stop"),
    }
    let sync = sync::SyncService::start(state.clone(), config.sync.clone(), mailer);
    let peers = peers::start(&state, &config.database_url);
    let housekeeping = housekeeping::start(state.clone(), config.housekeeping_delay);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(http_listener(listener), app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = rx.await;
                // Close the live sockets, which would otherwise hold the shutdown up forever.
                let _ = stopping_tx.send(true);
            })
            .await
            .map_err(StartError::Serve);
        refresher.abort();
        if let Some(ssh) = ssh_server {
            ssh.stop().await;
        }
        // Running syncs are interrupted and recorded, their leases released with the request
        // kept, so the next start resumes them at once.
        sync.stop(std::time::Duration::from_secs(20)).await;
        drop(peers);
        drop(housekeeping);
        served
    });
    tracing::info!(%addr, database = state.db.backend_name(), "GitBlixt listening");
    Ok(Running { addr, ssh_addr, state, shutdown: Some(tx), task })
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn the_web_listener_accepts_connections_without_nagle_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::http_listener(listener);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, peer) = listener.accept().await;
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(accepted.nodelay().unwrap(), "an accepted connection still batches small writes (Nagle)");
    }
}
