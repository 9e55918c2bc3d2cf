//! The product's help pages: `/help/importing-from-github` (importing, and for administrators
//! the GitHub OAuth App, with this instance's URLs) and `/help/mirroring` (push and pull mirrors
//! and one-time fetches, in GitBlixt's words, with the error messages a mirror can show). Their
//! text is HTML next to this file; only the instance's facts are rendered by code.

use crate::import_api::get_help_facts;
use crate::model::HelpFacts;
use leptos::prelude::*;

/// This instance's URLs for the OAuth App, once loaded.
fn with_facts<V: IntoView + 'static>(render: impl Fn(HelpFacts) -> V + Send + Sync + Clone + 'static) -> impl IntoView {
    let facts = Resource::new(|| (), |_| get_help_facts());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let render = render.clone();
                facts.get().map(move |r| match r {
                    Ok(f) => render(f).into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// The pages' text, written as HTML: a static page needs no view code in the browser bundle.
const IMPORTING: &str = include_str!("importing.html");
const MIRRORING: &str = include_str!("mirroring.html");

#[component]
pub fn ImportingHelpPage() -> impl IntoView {
    view! {
        <article class="help">
            <div inner_html=IMPORTING></div>
            {with_facts(|f| view! { <OAuthAppSetup facts=f /> })}
        </article>
    }
}

/// How to register the OAuth App, with this instance's URLs.
#[component]
fn OAuthAppSetup(facts: HelpFacts) -> impl IntoView {
    let HelpFacts { public_url, callback_url, oauth_configured, github_url } = facts;
    view! {
        <p id="oauth-status" role="note">
            {if oauth_configured {
                "This instance has a GitHub OAuth App configured: users can connect GitHub under Settings → Connected Accounts."
            } else {
                "This instance has no GitHub OAuth App yet: until an administrator registers one, nobody can connect GitHub, and only public repositories can be imported or fetched."
            }}
        </p>
        <p>"GitBlixt acts on GitHub with each user's own connected account, through one OAuth App registered for the instance."</p>
        <ol>
            <li>
                "On GitHub, open " <a href=format!("{github_url}/settings/applications/new")>"Settings → Developer settings → OAuth Apps → New OAuth App"</a>
                " (under an organisation's settings to own it as the organisation)."
            </li>
            <li>"Application name: anything your users will recognise, e.g. " <em>"GitBlixt"</em> "."</li>
            <li>"Homepage URL: " <code id="homepage-url">{public_url}</code></li>
            <li>"Authorization callback URL: " <code id="callback-url">{callback_url}</code></li>
            <li>"Register the application, then generate a client secret."</li>
            <li>
                "Start GitBlixt with " <code>"GITHUB_CLIENT_ID"</code> " set to the App's client ID and " <code>"GITHUB_CLIENT_SECRET"</code>
                " to the secret (both or neither). For GitHub Enterprise also set " <code>"GITHUB_URL"</code> " and " <code>"GITHUB_API_URL"</code> "."
            </li>
        </ol>
        <p>
            "These URLs come from " <code>"GITBLIXT_PUBLIC_URL"</code>
            ", the address users reach GitBlixt at; set it before registering the App if it is not the address above. GitBlixt asks users for the "
            <code>"repo"</code>
            " scope: read and write access to their public and private repositories, which import, pull mirrors (private repositories) and push mirrors need. Tokens are stored encrypted and refreshed before they expire."
        </p>
    }
}

#[component]
pub fn MirroringHelpPage() -> impl IntoView {
    view! { <article class="help" inner_html=MIRRORING></article> }
}
