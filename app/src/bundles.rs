//! The browser code comes in two bundles, so the first page a visitor opens stays small: the
//! **main** bundle hydrates every page but the settings pages (a repository's Settings with its
//! mirroring sections, Access Tokens, Connected Accounts, …), the import page and the help pages;
//! the **settings** bundle (built with the
//! `settings-pages` feature) hydrates all of them. The server picks the bundle by the request's
//! path. Links to settings pages are `rel="external"` (the browser loads them, not the client-side
//! router); any other client-side navigation to one, in the main bundle, loads the page afresh.

use leptos::prelude::*;

/// Whether `path` is a settings page, hydrated by the settings bundle. Must agree with the routes
/// of [`crate::App`] that [`LoadSettingsPage`] stands in for in the main bundle.
pub fn is_settings_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(segments.as_slice(), ["settings", _] | [_, _, "settings"] | ["import", _] | ["help", _])
}

/// The compiled bundles' names (`pkg/<name>.js`, `pkg/<name>_bg.wasm`); the CSS is `<main>.css`.
/// Provided as context by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteBundles {
    pub main: String,
    pub settings: String,
}

/// In the main bundle, the view of a settings route reached by client-side navigation: the page
/// is loaded afresh from the server (which then sends the settings bundle) — once the router has
/// put the new address in the history, hence the timeout.
#[component]
pub fn LoadSettingsPage() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        set_timeout(
            || {
                if let Some(window) = web_sys::window() {
                    let _ = window.location().reload();
                }
            },
            std::time::Duration::ZERO,
        );
    });
    view! { <p>"Loading…"</p> }
}

#[cfg(test)]
mod tests {
    use super::is_settings_path;

    #[test]
    fn settings_pages_are_recognised() {
        for path in ["/settings/tokens", "/settings/connected-accounts", "/alice/project/settings", "/alice/project/settings/", "/import/github", "/help/mirroring"] {
            assert!(is_settings_path(path), "{path}");
        }
        for path in ["/", "/alice", "/alice/project", "/alice/settings", "/new", "/login", "/settings", "/a/b/c/settings"] {
            assert!(!is_settings_path(path), "{path}");
        }
    }
}
