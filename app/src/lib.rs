//! GitBlixt's web application: pages, components and server functions (shared by the server and
//! the browser), plus the server-only code behind the `ssr` feature.
// Leptos view types nest deeply; release builds of the hydrate wasm need more than the default 128.
#![recursion_limit = "256"]

pub mod account_api;
pub mod api;
pub mod bundles;
pub mod components;
pub mod error;
pub mod format;
pub mod github_repo;
pub mod import_api;
pub mod live_client;
pub mod mirror_api;
pub mod model;
pub mod names;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use api::SignOut;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// The HTML document around the app (server side). Only the interactive pages load the wasm
/// ([`bundles::is_interactive_path`]); the others are plain HTML, marked `data-static` on the body
/// (as a hydrated page is marked `data-hydrated`: the page is ready).
/// The bundle is `options.output_name` (`pkg/<name>.js`, `pkg/<name>_bg.wasm`, `<name>.css`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let interactive = is_interactive_request();
    let css = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <link rel="stylesheet" href=css />
                {interactive.then(|| view! { <HydrationScripts options /> })}
                <MetaTags />
            </head>
            <body data-static=(!interactive).then_some("true")>
                <App />
            </body>
        </html>
    }
}

/// Whether the page being rendered loads the bundle.
fn is_interactive_request() -> bool {
    #[cfg(feature = "ssr")]
    if let Some(parts) = use_context::<http::request::Parts>() {
        return bundles::is_interactive_path(parts.uri.path());
    }
    true
}

use pages::{
    connected_accounts::ConnectedAccountsPage, help::ImportingHelpPage, help::MirroringHelpPage, import::ImportPage,
    notifications::NotificationsPage, repo_settings::RepoSettingsPage, sessions::SessionsPage, ssh_keys::SshKeysPage,
    tokens::TokensPage,
};

/// The signed-in user and signing out, shared by every page. (Signing in and up happen on plain
/// pages, which the browser loads afresh: their actions live there.)
#[derive(Clone, Copy)]
pub struct Session {
    pub user: Resource<Result<Option<model::CurrentUser>, error::AppError>>,
    pub sign_out: ServerAction<SignOut>,
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let sign_out = ServerAction::<SignOut>::new();
    let user = Resource::new(move || sign_out.version().get(), |_| api::get_current_user());
    provide_context(Session { user, sign_out });

    view! {
        <Title text="GitBlixt" />
        <Router>
            <components::Header />
            <main class="container">
                <Routes fallback=|| view! { <pages::NotFound /> }>
                    // Plain pages (see `bundles`) are rendered whole on the server.
                    <Route path=path!("") view=pages::home::HomePage ssr=SsrMode::Async />
                    <Route path=path!("/signup") view=pages::auth::SignUpPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=pages::auth::SignInPage ssr=SsrMode::Async />
                    <Route path=path!("/new") view=pages::repo::NewRepoPage ssr=SsrMode::Async />
                    <Route path=path!("/settings/tokens") view=TokensPage />
                    <Route path=path!("/settings/connected-accounts") view=ConnectedAccountsPage />
                    <Route path=path!("/settings/notifications") view=NotificationsPage />
                    <Route path=path!("/settings/sessions") view=SessionsPage />
                    <Route path=path!("/settings/ssh-keys") view=SshKeysPage />
                    <Route path=path!("/import/github") view=ImportPage />
                    <Route
                        path=path!("/help/importing-from-github")
                        view=ImportingHelpPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/help/mirroring") view=MirroringHelpPage ssr=SsrMode::Async />
                    <Route path=path!("/:owner/:repo") view=pages::repo::RepoPage ssr=SsrMode::Async />
                    <Route
                        path=path!("/:owner/:repo/settings")
                        view=RepoSettingsPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
