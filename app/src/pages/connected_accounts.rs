//! Settings → Connected Accounts: connect, reconnect and disconnect the GitHub account mirrors use.

use crate::api::{DisconnectGithub, get_github_account};
use crate::components::{ActionError, ErrorBox};
use crate::format::date;
use crate::model::{GithubAccount, OAuthFailure};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Where the "Connect GitHub" form posts (a server route, not a server function: it redirects to GitHub).
const CONNECT_ACTION: &str = "/oauth/github/connect";

#[component]
pub fn ConnectedAccountsPage() -> impl IntoView {
    let disconnect = ServerAction::<DisconnectGithub>::new();
    let account = Resource::new(move || disconnect.version().get(), |_| get_github_account());
    let query = use_query_map();
    let outcome = move || {
        let q = query.read();
        if let Some(code) = q.get("error") {
            let message = OAuthFailure::from_code(&code).unwrap_or(OAuthFailure::Refused).message();
            return Some(view! { <p class="error" role="alert">{message}</p> }.into_any());
        }
        (q.get("connected").as_deref() == Some("github") && disconnect.version().get() == 0)
            .then(|| view! { <p class="notice" role="status">"Your GitHub account is connected."</p> }.into_any())
    };
    view! {
        <h1>"Connected Accounts"</h1>
        <p>
            "Mirrors act on GitHub with your connected account: push mirrors push with it, pull mirrors, imports and fetches of private repositories read with it. See "
            <a href="/help/mirroring" rel="external">"Repository mirroring"</a> " and " <a href="/help/importing-from-github" rel="external">"Importing from GitHub"</a> "."
        </p>
        {outcome}
        <section class="card github-account">
            <h2>"GitHub"</h2>
            <ActionError value=move || disconnect.value().get() />
            {move || {
                disconnect
                    .value()
                    .get()
                    .and_then(Result::ok)
                    .flatten()
                    .map(|warning| view! { <p class="error not-revoked" role="alert">{warning}</p> })
            }}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(a) => view! { <GithubAccountView account=a disconnect /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn GithubAccountView(account: GithubAccount, disconnect: ServerAction<DisconnectGithub>) -> impl IntoView {
    match account {
        GithubAccount::NotConfigured => view! {
            <p class="notice">
                "GitHub is not configured on this instance. The instance administrator must register a GitHub OAuth App "
                "(GitHub → Settings → Developer settings → OAuth Apps) with the Authorization callback URL "
                <code>"https://<this host>/oauth/github/callback"</code>
                " and start GitBlixt with " <code>"GITHUB_CLIENT_ID"</code> " and " <code>"GITHUB_CLIENT_SECRET"</code>
                " set: see " <a href="/help/importing-from-github#oauth-app" rel="external">"Importing from GitHub"</a>
                " for the steps, with this instance's URLs."
            </p>
        }
        .into_any(),
        GithubAccount::NotConnected => view! {
            <p>"No GitHub account is connected."</p>
            <form method="post" action=CONNECT_ACTION>
                <button type="submit">"Connect GitHub"</button>
            </form>
        }
        .into_any(),
        GithubAccount::Connected { login, connected_at, scopes, expired } => view! {
            <p class="connected">
                "Connected as " <strong class="github-login">{login}</strong> " since " {date(connected_at)} "."
            </p>
            <p class="muted">"Scopes: " {if scopes.is_empty() { "none".to_string() } else { scopes.join(", ") }}</p>
            {expired.then(|| view! {
                <p class="error" role="alert">"OAuth token has expired — reconnect your GitHub account to refresh the token."</p>
            })}
            <div class="actions">
                <form method="post" action=CONNECT_ACTION class="inline">
                    <button type="submit">"Reconnect"</button>
                </form>
                <ActionForm action=disconnect attr:class="inline">
                    <button type="submit" class="danger">"Disconnect"</button>
                </ActionForm>
            </div>
        }
        .into_any(),
    }
}
