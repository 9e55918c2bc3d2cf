//! The pages, one module each.

pub mod auth;
pub mod connected_accounts;
pub mod help;
pub mod home;
pub mod import;
pub mod mirroring;
pub mod notifications;
pub mod sessions;
pub mod ssh_keys;
pub mod repo;
pub mod repo_settings;
pub mod tokens;
pub mod webhooks;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::ssr::web::set_status(404);
    view! {
        <h1>"Page not found"</h1>
        <p>"There is nothing at this address, or you don't have access to it."</p>
    }
}
