//! Which pages load the browser code. There is one wasm bundle (every page compiled in), and only
//! the **interactive** pages load it: a repository's Settings with its live mirroring sections,
//! Access Tokens, Connected Accounts, Notifications, Sessions, SSH keys and the import page. Every
//! other page — home, sign in and sign up, New repository, the repository page, the help pages,
//! the 404 page — is complete server-rendered HTML without a script: its forms post to their
//! server functions as plain HTML forms (an error comes back on the same page, through leptos'
//! `__err` redirect), and its links are ordinary page loads. So the first page a visitor opens
//! loads no wasm at all, and a settings page loads the bundle once (then cached for good).
//!
//! Why not a small bundle for the main pages: leptos' router, reactive system and server function
//! client cost 233 KB gzipped before the first page's own code (measured: `cargo build -p frontend`
//! with only the home page routed), and the main pages have nothing that needs them — no live
//! status, no client-side state. Once the bundle has hydrated a settings page, its client-side
//! router also shows the plain pages, rendered in the browser.

/// Whether the page at `path` loads the wasm and is hydrated; every other page is served as
/// plain HTML (see the module's comment). Every route of [`crate::App`] that is not listed here
/// must render completely on the server (`SsrMode::Async`), with no Suspense left to stream.
pub fn is_interactive_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(segments.as_slice(), ["settings", _] | [_, _, "settings"] | ["import", _])
}

#[cfg(test)]
mod tests {
    use super::is_interactive_path;

    #[test]
    fn interactive_pages_are_recognised() {
        for path in ["/settings/tokens", "/settings/connected-accounts", "/alice/project/settings", "/alice/project/settings/", "/import/github"] {
            assert!(is_interactive_path(path), "{path}");
        }
        for path in ["/", "/alice", "/alice/project", "/alice/settings", "/new", "/login", "/signup", "/settings", "/a/b/c/settings", "/help/mirroring"] {
            assert!(!is_interactive_path(path), "{path}");
        }
    }
}
