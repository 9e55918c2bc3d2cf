//! The repository Settings page (owner and admins only): general settings and mirroring.

use super::repo::repo_params;
use crate::api::{UpdateRepository, get_repository_settings};
use crate::components::{ActionError, ErrorBox};
use crate::model::RepoSummary;
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn RepoSettingsPage() -> impl IntoView {
    let params = repo_params();
    let update = ServerAction::<UpdateRepository>::new();
    let data = Resource::new(
        move || (params.get(), update.version().get()),
        |((owner, repo), _)| get_repository_settings(owner, repo),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(summary) => view! { <SettingsBody summary update /> }.into_any(),
                    Err(e) => view! { <h1>"Settings"</h1> <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SettingsBody(summary: RepoSummary, update: ServerAction<UpdateRepository>) -> impl IntoView {
    let repo_href = format!("/{}/{}", summary.owner, summary.name);
    let saved = move || matches!(update.value().get(), Some(Ok(())));
    let (mirror_owner, mirror_repo) = (summary.owner.clone(), summary.name.clone());
    view! {
        <h1>
            "Settings · " <a href=repo_href>{format!("{} / {}", summary.owner, summary.name)}</a>
        </h1>
        <section class="card">
            <h2>"General"</h2>
            <ActionForm action=update attr:class="form">
                <input type="hidden" name="owner" value=summary.owner.clone() />
                <input type="hidden" name="repo" value=summary.name.clone() />
                <label>
                    "Description"
                    <input type="text" name="description" maxlength="500" value=summary.description.clone() />
                </label>
                <fieldset>
                    <legend>"Visibility"</legend>
                    <label class="choice">
                        <input type="radio" name="visibility" value="public" checked=!summary.is_private />
                        "Public"
                    </label>
                    <label class="choice">
                        <input type="radio" name="visibility" value="private" checked=summary.is_private />
                        "Private"
                    </label>
                </fieldset>
                <ActionError value=move || update.value().get() />
                {move || saved().then(|| view! { <p class="ok">"Saved."</p> })}
                <button type="submit">"Save changes"</button>
            </ActionForm>
        </section>
        <super::mirroring::MirroringSections owner=mirror_owner.clone() repo=mirror_repo.clone() />
        <super::webhooks::WebhooksSection owner=mirror_owner repo=mirror_repo />
    }
}
