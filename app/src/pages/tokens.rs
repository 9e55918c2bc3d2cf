//! Settings → Access Tokens: create (shown once), list, revoke.

use crate::api::{CreateAccessToken, RevokeAccessToken, list_access_tokens};
use crate::components::{ActionError, ListOf};
use crate::format::date;
use crate::model::{MAX_TOKEN_DAYS, TokenInfo, TokenScope};
use leptos::form::ActionForm;
use leptos::prelude::*;

/// Today's date (UTC) as days since the epoch, on either side.
fn today() -> i64 {
    #[cfg(feature = "ssr")]
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    #[cfg(not(feature = "ssr"))]
    let secs = (js_now_millis() / 1000.0) as i64;
    secs.div_euclid(86_400)
}

#[cfg(not(feature = "ssr"))]
fn js_now_millis() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        leptos::web_sys::js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateAccessToken>::new();
    let revoke = ServerAction::<RevokeAccessToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_access_tokens(),
    );
    let day = today();
    let default_expiry = date((day + 30) * 86_400);
    let min = date((day + 1) * 86_400);
    let max = date((day + MAX_TOKEN_DAYS) * 86_400);
    view! {
        <h1>"Access Tokens"</h1>
        <p>
            "Personal access tokens authenticate git over HTTP wherever a password is accepted, e.g. "
            <code>"git clone http://oauth2:<token>@host/user/repo.git"</code>
        </p>
        {move || {
            create
                .value()
                .get()
                .and_then(Result::ok)
                .map(|t| {
                    view! {
                        <section class="card new-token" role="status">
                            <h2>{format!("Your new token “{}”", t.name)}</h2>
                            <p>"Copy it now — you won't be able to see it again."</p>
                            <input class="token" type="text" readonly value=t.token aria-label="New token" />
                            <p class="muted">{format!("Expires on {}", date(t.expires_at))}</p>
                        </section>
                    }
                })
        }}
        <section class="card">
            <h2>"Add a token"</h2>
            <ActionForm action=create attr:class="form">
                <label>"Token name" <input type="text" name="name" required maxlength="100" /></label>
                <label>
                    "Expiration date"
                    <input type="date" name="expires_on" required value=default_expiry min=min max=max />
                </label>
                <fieldset>
                    <legend>"Scopes"</legend>
                    {TokenScope::ALL
                        .into_iter()
                        .map(|s| {
                            view! {
                                <label class="choice">
                                    <input type="checkbox" name=format!("scope_{}", s.as_str()) />
                                    <code>{s.as_str()}</code>
                                    " — "
                                    {s.description()}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <ActionError value=move || create.value().get() />
                <button type="submit">"Create token"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Your tokens"</h2>
            <ActionError value=move || revoke.value().get() />
            <ListOf list=tokens empty="No tokens yet." table=move |list| view! { <TokenTable list revoke /> } />
        </section>
    }
}

#[component]
fn TokenTable(list: Vec<TokenInfo>, revoke: ServerAction<RevokeAccessToken>) -> impl IntoView {
    view! {
        <table class="tokens">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Scopes"</th>
                    <th>"Created"</th>
                    <th>"Last used"</th>
                    <th>"Expires"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|t| {
                        let state = if t.revoked {
                            Some("Revoked")
                        } else if t.expired {
                            Some("Expired")
                        } else {
                            None
                        };
                        view! {
                            <tr>
                                <td>{t.name}</td>
                                <td>{t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                <td>{date(t.created_at)}</td>
                                <td>{t.last_used_at.map(date).unwrap_or_else(|| "Never".into())}</td>
                                <td>{date(t.expires_at)}</td>
                                <td>
                                    {match state {
                                        Some(s) => view! { <span class="badge">{s}</span> }.into_any(),
                                        None => {
                                            view! {
                                                <ActionForm action=revoke attr:class="inline">
                                                    <input type="hidden" name="id" value=t.id.to_string() />
                                                    <button type="submit" class="danger">"Revoke"</button>
                                                </ActionForm>
                                            }
                                                .into_any()
                                        }
                                    }}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
