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

use api::{SignIn, SignOut, SignUp};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// The HTML document around the app (server side), loading the bundle this page needs.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let (options, css) = bundle_for_request(options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <link rel="stylesheet" href=css />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// `options` naming the bundle for the page being rendered, and the stylesheet's URL.
fn bundle_for_request(options: LeptosOptions) -> (LeptosOptions, String) {
    let main = options.output_name.to_string();
    #[cfg(feature = "ssr")]
    if let (Some(bundles), Some(parts)) = (use_context::<bundles::SiteBundles>(), use_context::<http::request::Parts>()) {
        let name = if bundles::is_settings_path(parts.uri.path()) { &bundles.settings } else { &bundles.main };
        let mut options = options;
        options.output_name = name.clone().into();
        let css = format!("/{}/{}.css", options.site_pkg_dir, bundles.main);
        return (options, css);
    }
    let css = format!("/{}/{main}.css", options.site_pkg_dir);
    (options, css)
}

// The settings pages: compiled into the server and the settings bundle; the main bundle has a
// stand-in that loads them from the server (see `bundles`).
#[cfg(any(feature = "ssr", feature = "settings-pages"))]
use pages::{
    connected_accounts::ConnectedAccountsPage, help::ImportingHelpPage, help::MirroringHelpPage, import::ImportPage,
    notifications::NotificationsPage, repo_settings::RepoSettingsPage, sessions::SessionsPage, ssh_keys::SshKeysPage,
    tokens::TokensPage,
};
#[cfg(not(any(feature = "ssr", feature = "settings-pages")))]
use bundles::{
    LoadSettingsPage as TokensPage, LoadSettingsPage as ConnectedAccountsPage, LoadSettingsPage as RepoSettingsPage,
    LoadSettingsPage as NotificationsPage, LoadSettingsPage as SessionsPage, LoadSettingsPage as SshKeysPage,
    LoadSettingsPage as ImportPage, LoadSettingsPage as ImportingHelpPage, LoadSettingsPage as MirroringHelpPage,
};

/// The signed-in user and the actions that change it, shared by every page.
#[derive(Clone, Copy)]
pub struct Session {
    pub user: Resource<Result<Option<model::CurrentUser>, error::AppError>>,
    pub sign_in: ServerAction<SignIn>,
    pub sign_up: ServerAction<SignUp>,
    pub sign_out: ServerAction<SignOut>,
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let sign_in = ServerAction::<SignIn>::new();
    let sign_up = ServerAction::<SignUp>::new();
    let sign_out = ServerAction::<SignOut>::new();
    let user = Resource::new(
        move || (sign_in.version().get(), sign_up.version().get(), sign_out.version().get()),
        |_| api::get_current_user(),
    );
    provide_context(Session { user, sign_in, sign_up, sign_out });

    view! {
        <Title text="GitBlixt" />
        <Router>
            <components::Header />
            <main class="container">
                <Routes fallback=|| view! { <pages::NotFound /> }>
                    <Route path=path!("") view=pages::home::HomePage />
                    <Route path=path!("/signup") view=pages::auth::SignUpPage />
                    <Route path=path!("/login") view=pages::auth::SignInPage />
                    <Route path=path!("/new") view=pages::repo::NewRepoPage />
                    <Route path=path!("/settings/tokens") view=TokensPage />
                    <Route path=path!("/settings/connected-accounts") view=ConnectedAccountsPage />
                    <Route path=path!("/settings/notifications") view=NotificationsPage />
                    <Route path=path!("/settings/sessions") view=SessionsPage />
                    <Route path=path!("/settings/ssh-keys") view=SshKeysPage />
                    <Route path=path!("/import/github") view=ImportPage />
                    <Route path=path!("/help/importing-from-github") view=ImportingHelpPage />
                    <Route path=path!("/help/mirroring") view=MirroringHelpPage />
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
