//! Creating a repository and the repository page.

use crate::api::{CreateRepository, get_repository};
use crate::components::{ActionError, ErrorBox, kept_field};
use crate::format::{date_time, short_id};
use crate::model::RepoView;
use leptos::form::ActionForm;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn NewRepoPage() -> impl IntoView {
    let create = ServerAction::<CreateRepository>::new();
    let private = kept_field("visibility") == "private";
    view! {
        <h1>"New repository"</h1>
        <ActionForm action=create attr:class="card form">
            <label>
                "Repository name" <input type="text" name="name" required maxlength="100" value=kept_field("name") />
            </label>
            <label>
                "Description" <input type="text" name="description" maxlength="500" value=kept_field("description") />
            </label>
            <fieldset>
                <legend>"Visibility"</legend>
                <label class="choice">
                    <input type="radio" name="visibility" value="public" checked=!private />
                    "Public — anyone can clone it"
                </label>
                <label class="choice">
                    <input type="radio" name="visibility" value="private" checked=private />
                    "Private — only you (and instance admins)"
                </label>
            </fieldset>
            <ActionError value=move || create.value().get() />
            <button type="submit">"Create repository"</button>
        </ActionForm>
    }
}

/// Reads `:owner` and `:repo` from the URL.
pub fn repo_params() -> Memo<(String, String)> {
    let params = use_params_map();
    Memo::new(move |_| {
        let p = params.read();
        let repo = p.get("repo").unwrap_or_default();
        // The clone URL opened in a browser shows the repository.
        let repo = repo.strip_suffix(".git").map(str::to_string).unwrap_or(repo);
        (p.get("owner").unwrap_or_default(), repo)
    })
}

#[component]
pub fn RepoPage() -> impl IntoView {
    let params = repo_params();
    let data = Resource::new(move || params.get(), |(owner, repo)| get_repository(owner, repo));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => Either::Left(view! { <RepoBody view /> }),
                    Err(e) => Either::Right(view! { <ErrorBox error=e /> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RepoBody(view: RepoView) -> impl IntoView {
    let RepoView { summary, clone_url, ssh_clone_url, default_branch, branches, tags, commits, can_admin, import_notice } = view;
    let settings_href = format!("/{}/{}/settings", summary.owner, summary.name);
    let empty = branches.is_empty();
    let importing = import_notice.is_some();
    view! {
        <div class="row">
            <h1>
                <a href=format!("/{}/{}", summary.owner, summary.name)>
                    {format!("{} / {}", summary.owner, summary.name)}
                </a>
                {summary.is_private.then(|| view! { <span class="badge">"Private"</span> })}
            </h1>
            {can_admin.then(|| view! { <a class="button" href=settings_href rel="external">"Settings"</a> })}
        </div>
        <p class="muted">{summary.description}</p>
        {import_notice.map(|n| view! { <p class="notice" id="import-notice" role="status">{n} " " <a href="/import/github" rel="external">"Your imports"</a></p> })}
        <section class="card">
            <h2>"Clone"</h2>
            <input class="clone-url" type="text" readonly value=clone_url.clone() aria-label="Clone URL" />
            {ssh_clone_url.map(|url| view! { <input class="clone-url" type="text" readonly value=url aria-label="SSH clone URL" /> })}
            {(empty && !importing)
                .then(|| {
                    view! {
                        <p>"This repository is empty. Push an existing repository:"</p>
                        <pre>
                            {format!("git remote add origin {clone_url}\ngit push -u origin --all\ngit push origin --tags")}
                        </pre>
                    }
                })}
        </section>
        {(!empty)
            .then(|| {
                view! {
                    <section class="card">
                        <h2>{format!("Latest commits on {default_branch}")}</h2>
                        <ul class="commits">
                            {commits
                                .into_iter()
                                .map(|c| {
                                    view! {
                                        <li>
                                            <code>{short_id(&c.id).to_string()}</code>
                                            " "
                                            <span class="summary">{c.summary}</span>
                                            <span class="muted">{format!(" — {} · {}", c.author, date_time(c.time))}</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </section>
                    <section class="card">
                        <h2>{format!("Branches ({})", branches.len())}</h2>
                        <ul class="refs">
                            {branches
                                .into_iter()
                                .map(|b| {
                                    view! {
                                        <li>
                                            <span class="ref-name">{b.name}</span>
                                            {b.is_default.then(|| view! { <span class="badge">"default"</span> })}
                                            " "
                                            <code>{short_id(&b.commit).to_string()}</code>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </section>
                    <section class="card">
                        <h2>{format!("Tags ({})", tags.len())}</h2>
                        <ul class="refs">
                            {tags
                                .into_iter()
                                .map(|t| {
                                    view! {
                                        <li>
                                            <span class="ref-name">{t.name}</span>
                                            {t.annotated.then(|| view! { <span class="badge">"annotated"</span> })}
                                            " "
                                            <code>{short_id(&t.target).to_string()}</code>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </section>
                }
            })}
    }
}
