//! Import repository (`/import/github`): pick repositories of the connected GitHub account (or
//! name a public one), start their imports, and watch each one live until it is done or failed.

use crate::components::{ActionError, ErrorBox, ProgressLine};
use crate::format::date_time;
use crate::import_api::{ImportAction, StartImport, StartImports, list_import_candidates, list_imports};
use crate::live_client::LinkState;
#[cfg(feature = "hydrate")]
use crate::model::LiveFrame;
use crate::model::{ImportCandidate, ImportChoice, ImportStarted, ImportView, PULL_INTERVALS};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn ImportPage() -> impl IntoView {
    let picked = ServerAction::<StartImports>::new();
    let single = ServerAction::<StartImport>::new();
    let act = ServerAction::<ImportAction>::new();
    let imports = Resource::new(move || (picked.version().get(), single.version().get(), act.version().get()), |_| list_imports());
    view! {
        <h1>"Import from GitHub"</h1>
        <p>
            "Brings a GitHub repository's branches and tags into a new GitBlixt repository, and can keep it in sync afterwards. "
            <a href="/help/importing-from-github" rel="external">"How importing works"</a>
        </p>
        <section class="card" id="github-repositories">
            <h2>"Your GitHub repositories"</h2>
            <Picker picked />
        </section>
        <section class="card" id="import-by-name">
            <h2>"Import by name or URL"</h2>
            <p class="muted">"Public repositories can be imported without a connected GitHub account."</p>
            <ActionForm action=single attr:class="form">
                <label>"GitHub repository" <input type="text" name="remote" required maxlength="200" placeholder="owner/repo or https://github.com/owner/repo" /></label>
                <label>"GitBlixt name" <input type="text" name="name" maxlength="100" placeholder="GitHub's name if empty" /></label>
                <label>
                    "Visibility"
                    <select name="visibility">
                        <option value="">"As on GitHub"</option>
                        <option value="public">"Public"</option>
                        <option value="private">"Private"</option>
                    </select>
                </label>
                <label>
                    "Keep in sync: pull mirror"
                    <select name="interval">
                        <option value="">"Off"</option>
                        {intervals()}
                    </select>
                </label>
                <ActionError value=move || single.value().get() />
                <button type="submit">"Import"</button>
            </ActionForm>
        </section>
        <section class="card" id="imports">
            <h2>"Imports"</h2>
            <ActionError value=move || act.value().get() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match imports.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No imports yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="imports">
                                {list.into_iter().map(|i| view! { <ImportItem import=i act /> }).collect_view()}
                            </ul>
                        }
                        .into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn intervals() -> impl IntoView {
    PULL_INTERVALS.iter().map(|(minutes, label)| view! { <option value=minutes.to_string()>{*label}</option> }).collect_view()
}

/// One listed repository, with what the user chose for it.
#[derive(Clone, Copy)]
struct Row {
    picked: RwSignal<bool>,
    name: RwSignal<String>,
    visibility: RwSignal<String>,
    /// The pull mirror's interval; empty: no Keep in sync.
    interval: RwSignal<String>,
}

/// The account's repositories, a filter, and the choices for each picked one.
#[component]
fn Picker(picked: ServerAction<StartImports>) -> impl IntoView {
    let candidates = Resource::new(|| (), |_| list_import_candidates());
    view! {
        <Suspense fallback=|| view! { <p>"Loading your GitHub repositories…"</p> }>
            {move || Suspend::new(async move {
                match candidates.await {
                    Ok(c) => match c.unavailable {
                        Some(why) => view! { <p class="notice" id="import-unavailable" role="note">{why}</p> }.into_any(),
                        None if c.repositories.is_empty() => view! { <p class="muted">"Your GitHub account has no repositories."</p> }.into_any(),
                        None => view! { <CandidateTable list=c.repositories picked /> }.into_any(),
                    },
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CandidateTable(list: Vec<ImportCandidate>, picked: ServerAction<StartImports>) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let rows: Vec<(ImportCandidate, Row)> = list
        .into_iter()
        .map(|c| {
            let row = Row {
                picked: RwSignal::new(false),
                name: RwSignal::new(c.name.clone()),
                visibility: RwSignal::new(if c.private { "private" } else { "public" }.to_string()),
                interval: RwSignal::new(String::new()),
            };
            (c, row)
        })
        .collect();
    let state = StoredValue::new(rows.iter().map(|(c, r)| (c.full_name.clone(), *r)).collect::<Vec<_>>());
    let chosen = move || {
        state.with_value(|rows| {
            rows.iter()
                .filter(|(_, r)| r.picked.get())
                .map(|(remote, r)| ImportChoice {
                    remote: remote.clone(),
                    name: r.name.get(),
                    visibility: r.visibility.get(),
                    mirror_interval_minutes: r.interval.get().parse().ok(),
                })
                .collect::<Vec<_>>()
        })
    };
    let count = Memo::new(move |_| state.with_value(|rows| rows.iter().filter(|(_, r)| r.picked.get()).count()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        picked.dispatch(StartImports { choices: chosen() });
    };
    let total = rows.len();
    view! {
        <form class="form" on:submit=submit>
            <label>
                {format!("Filter ({total} repositories)")}
                <input type="search" placeholder="owner/name" prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev)) />
            </label>
            <ul class="candidates">
                {rows.into_iter().map(|(c, row)| view! { <CandidateItem c row filter /> }).collect_view()}
            </ul>
            <button type="submit" disabled=move || count.get() == 0 || picked.pending().get()>
                {move || match count.get() {
                    0 => "Pick repositories to import".to_string(),
                    1 => "Import 1 repository".to_string(),
                    n => format!("Import {n} repositories"),
                }}
            </button>
            {move || picked.value().get().map(|r| match r {
                Ok(started) => view! { <StartedList started /> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </form>
    }
}

#[component]
fn CandidateItem(c: ImportCandidate, row: Row, filter: RwSignal<String>) -> impl IntoView {
    let key = c.full_name.to_ascii_lowercase();
    let hidden = move || {
        let f = filter.get().trim().to_ascii_lowercase();
        !f.is_empty() && !key.contains(&f)
    };
    let imported = c.imported_to.clone().map(|to| {
        view! { <span class="badge">"imported"</span> " to " <a href=format!("/{to}")>{to.clone()}</a> }
    });
    view! {
        <li class="candidate" data-repo=c.full_name.clone() style:display=move || if hidden() { "none" } else { "" }>
            <label class="check">
                <input type="checkbox" prop:checked=move || row.picked.get() on:change=move |ev| row.picked.set(event_target_checked(&ev)) />
                " " <strong>{c.full_name.clone()}</strong>
            </label>
            {c.private.then(|| view! { <span class="badge">"Private"</span> })}
            " " {imported}
            <span class="muted">{format!(" {}", c.description)}</span>
            <Show when=move || row.picked.get()>
                <div class="inline-form choices">
                    <label>
                        "GitBlixt name"
                        <input type="text" maxlength="100" prop:value=move || row.name.get() on:input=move |ev| row.name.set(event_target_value(&ev)) />
                    </label>
                    <label>
                        "Visibility"
                        <select prop:value=move || row.visibility.get() on:change=move |ev| row.visibility.set(event_target_value(&ev))>
                            <option value="private">"Private"</option>
                            <option value="public">"Public"</option>
                        </select>
                    </label>
                    <label>
                        "Keep in sync: pull mirror"
                        <select prop:value=move || row.interval.get() on:change=move |ev| row.interval.set(event_target_value(&ev))>
                            <option value="">"Off"</option>
                            {intervals()}
                        </select>
                    </label>
                </div>
            </Show>
        </li>
    }
}

/// What became of each picked repository right after Import.
#[component]
fn StartedList(started: Vec<ImportStarted>) -> impl IntoView {
    view! {
        <ul class="started" role="status">
            {started
                .into_iter()
                .map(|s| match (s.import, s.error) {
                    (_, Some(e)) => view! { <li class="error">{format!("{}: {e}", s.remote)}</li> }.into_any(),
                    (Some(i), None) => view! { <li>{format!("{}: importing into {} (below).", s.remote, i.repository)}</li> }.into_any(),
                    (None, None) => ().into_any(),
                })
                .collect_view()}
        </ul>
    }
}

/// One import, following its repository's live socket while it runs.
#[component]
fn ImportItem(import: ImportView, act: ServerAction<ImportAction>) -> impl IntoView {
    let running = matches!(import.state.as_str(), "queued" | "importing");
    let repository = import.repository.clone();
    let live = RwSignal::new(import);
    let link = RwSignal::new(LinkState::Idle);
    #[cfg(feature = "hydrate")]
    if running {
        crate::live_client::subscribe(&format!("/ws/mirrors/{repository}"), link, move |frame| match frame {
            LiveFrame::Snapshot { mirrors } => {
                if let Some(i) = mirrors.import {
                    live.set(i);
                }
            }
            LiveFrame::Progress { mirror, progress } => live.update(|i| {
                if i.mirror_id == Some(mirror) && i.state != "done" && i.state != "failed" {
                    i.state = "importing".to_string();
                    i.progress = Some(progress);
                }
            }),
        });
    }
    let _ = (running, link);
    let id = live.with_untracked(|i| i.id);
    let button = move |action: &'static str, label: &'static str| {
        view! {
            <ActionForm action=act attr:class="inline">
                <input type="hidden" name="id" value=id.to_string() />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=if action == "delete" { "danger" } else { "" }>{label}</button>
            </ActionForm>
        }
    };
    view! {
        <li class="import" data-import=id.to_string() data-state=move || live.with(|i| i.state.clone())>
            <strong>{live.with_untracked(|i| i.remote.clone())}</strong>
            " → "
            <a href=format!("/{repository}")>{repository.clone()}</a>
            " "
            {move || {
                let i = live.get();
                match i.state.as_str() {
                    "queued" => view! { <span class="status">"Queued"</span> }.into_any(),
                    "importing" => {
                        let progress = i.progress.map(|progress| view! { <ProgressLine progress /> });
                        view! { <span class="status status-syncing">"Importing"</span> " " {progress} }.into_any()
                    }
                    "done" => view! {
                        <span class="status status-active">{format!("Done {}", i.finished_at.map(date_time).unwrap_or_default())}</span>
                        " "
                        <a class="button" href=format!("/{}", i.repository)>"Open repository"</a>
                        {i.mirror_interval_minutes.map(|m| view! { <span class="muted">{format!(" Kept in sync every {m} minutes.")}</span> })}
                    }
                    .into_any(),
                    _ => view! {
                        <span class="status status-error">"Failed"</span>
                        <p class="error" role="alert">{i.error.unwrap_or_default()}</p>
                        {button("retry", "Retry")}
                        {button("delete", "Delete")}
                    }
                    .into_any(),
                }
            }}
        </li>
    }
}
