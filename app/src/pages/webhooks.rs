//! Settings → Webhooks of a repository: POSTs of mirror events (`mirror.failed`,
//! `mirror.recovered`, `mirror.synced`) to a URL, signed with a secret
//! (`X-GitBlixt-Signature-256: sha256=<HMAC-SHA256 of the body>`), with each webhook's recent
//! deliveries and their answers.

use crate::components::{ActionError, ErrorBox};
use crate::error::AppError;
use crate::format::date_time;
use crate::model::{WEBHOOK_EVENTS, WebhookView};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[server(endpoint = "get_webhooks")]
pub async fn get_webhooks(owner: String, repo: String) -> Result<Vec<WebhookView>, AppError> {
    use crate::ssr::{web, webhooks};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        Ok(webhooks::list(&state.db, found.repo.id).await?)
    }
    .await)
}

/// Adds a webhook; each event is a checkbox (`"on"` when ticked).
#[server(endpoint = "add_webhook")]
pub async fn add_webhook(
    owner: String,
    repo: String,
    url: String,
    secret: String,
    failed: Option<String>,
    recovered: Option<String>,
    synced: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::{web, webhooks};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let events: Vec<String> = [(failed, "mirror.failed"), (recovered, "mirror.recovered"), (synced, "mirror.synced")]
            .into_iter()
            .filter(|(ticked, _)| ticked.as_deref().is_some_and(|v| v == "on" || v == "true"))
            .map(|(_, name)| name.to_string())
            .collect();
        let id = webhooks::create(&state.db, &state.cipher, found.repo.id, &url, &secret, &events).await?;
        tracing::info!(repository = %found.full_name(), webhook = id, "webhook added");
        Ok(())
    }
    .await)
}

#[server(endpoint = "remove_webhook")]
pub async fn remove_webhook(owner: String, repo: String, id: i64) -> Result<(), AppError> {
    use crate::ssr::{web, webhooks};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        if !webhooks::delete(&state.db, found.repo.id, id).await? {
            return Err(AppError::NotFound);
        }
        Ok(())
    }
    .await)
}

#[component]
pub fn WebhooksSection(owner: String, repo: String) -> impl IntoView {
    let add = ServerAction::<AddWebhook>::new();
    let remove = ServerAction::<RemoveWebhook>::new();
    let key = (owner.clone(), repo.clone());
    let hooks = Resource::new(move || (key.clone(), add.version().get(), remove.version().get()), |((o, r), _, _)| get_webhooks(o, r));
    let (o2, r2) = (owner.clone(), repo.clone());
    view! {
        <section class="card" id="webhooks">
            <h2>"Webhooks"</h2>
            <p class="muted">
                "GitBlixt POSTs a JSON body (the mirror, the run and its per-ref results) to each URL when the chosen events happen, signed with the secret: "
                <code>"X-GitBlixt-Signature-256: sha256=<HMAC-SHA256 of the body>"</code>
                ". Failed deliveries are retried with backoff."
            </p>
            <ActionForm action=add attr:class="form">
                <input type="hidden" name="owner" value=owner.clone() />
                <input type="hidden" name="repo" value=repo.clone() />
                <label>"Payload URL" <input type="url" name="url" placeholder="https://example.com/hooks/gitblixt" required maxlength="2000" /></label>
                <label>"Secret" <input type="password" name="secret" required minlength="8" maxlength="200" autocomplete="new-password" /></label>
                <fieldset>
                    <legend>"Events"</legend>
                    {WEBHOOK_EVENTS
                        .iter()
                        .map(|(name, label)| {
                            let field = name.trim_start_matches("mirror.");
                            view! {
                                <label class="choice">
                                    <input type="checkbox" name=field checked=*name != "mirror.synced" />
                                    " " <code>{*name}</code> " — " {*label}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <ActionError value=move || add.value().get() />
                <button type="submit">"Add webhook"</button>
            </ActionForm>
            <ActionError value=move || remove.value().get() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let (owner, repo) = (o2.clone(), r2.clone());
                    Suspend::new(async move {
                        match hooks.await {
                            Ok(list) => view! { <WebhookList list owner repo remove /> }.into_any(),
                            Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn WebhookList(list: Vec<WebhookView>, owner: String, repo: String, remove: ServerAction<RemoveWebhook>) -> impl IntoView {
    view! {
        <ul class="webhooks">
            {list
                .into_iter()
                .map(|h| {
                    let (owner, repo) = (owner.clone(), repo.clone());
                    view! {
                        <li class="webhook" data-url=h.url.clone()>
                            <p><code>{h.url.clone()}</code> " · " {h.events.join(", ")}</p>
                            <ActionForm action=remove attr:class="inline">
                                <input type="hidden" name="owner" value=owner />
                                <input type="hidden" name="repo" value=repo />
                                <input type="hidden" name="id" value=h.id.to_string() />
                                <button type="submit" class="danger">"Remove"</button>
                            </ActionForm>
                            <ul class="deliveries">
                                {h.deliveries
                                    .into_iter()
                                    .map(|d| {
                                        let answer = match (d.response_code, d.error) {
                                            (Some(code), _) => format!("HTTP {code}"),
                                            (None, Some(e)) => e,
                                            (None, None) => "not yet sent".to_string(),
                                        };
                                        view! {
                                            <li class="delivery" data-status=d.status.clone()>
                                                {format!("{} · {} · {} · {} attempt(s) · {}", date_time(d.created_at), d.event, d.status, d.attempts, answer)}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
