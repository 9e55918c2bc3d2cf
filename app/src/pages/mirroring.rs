//! The Push mirroring and Pull mirroring sections of a repository's Settings page.

use crate::components::{ActionError, ErrorBox};
use crate::format::{date_time, short_id};
use crate::mirror_api::{EnableMirror, MirrorAction, SetMirrorInterval, get_mirrors};
use crate::model::{MirrorState, MirrorView, PULL_INTERVALS, RunView};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn MirroringSections(owner: String, repo: String) -> impl IntoView {
    let enable_push = ServerAction::<EnableMirror>::new();
    let enable_pull = ServerAction::<EnableMirror>::new();
    let act = ServerAction::<MirrorAction>::new();
    let interval = ServerAction::<SetMirrorInterval>::new();
    let key = (owner.clone(), repo.clone());
    let data = Resource::new(
        move || (key.clone(), enable_push.version().get(), enable_pull.version().get(), act.version().get(), interval.version().get()),
        |((owner, repo), ..)| get_mirrors(owner, repo),
    );
    // While a sync is queued or running, look again every second.
    #[cfg(feature = "hydrate")]
    {
        let busy = move || {
            data.get()
                .and_then(Result::ok)
                .is_some_and(|v| v.push.iter().chain(&v.pull).any(|m| matches!(m.state, MirrorState::Queued | MirrorState::Syncing)))
        };
        let handle = set_interval_with_handle(
            move || {
                if busy() {
                    data.refetch();
                }
            },
            std::time::Duration::from_secs(1),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    let ctx = Ctx { owner: owner.clone(), repo: repo.clone(), act, interval };
    let list = move |direction: &'static str, ctx: Ctx| {
        view! {
            <Transition fallback=|| view! { <p>"Loading mirrors…"</p> }>
                {move || {
                    let ctx = ctx.clone();
                    Suspend::new(async move {
                        match data.await {
                            Ok(v) => {
                                let mirrors = if direction == "push" { v.push } else { v.pull };
                                let warning = (direction == "push").then_some(v.warning).flatten();
                                view! {
                                    {warning.map(|w| view! { <p class="warning" role="note">{w}</p> })}
                                    <MirrorList mirrors ctx />
                                }
                                .into_any()
                            }
                            Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                        }
                    })
                }}
            </Transition>
        }
    };
    let (owner2, repo2) = (owner.clone(), repo.clone());
    view! {
        <ActionError value=move || act.value().get() />
        <ActionError value=move || interval.value().get() />
        <section class="card mirroring" id="push-mirroring">
            <h2>"Push mirroring"</h2>
            <p class="muted">
                "Every push to this repository is pushed to GitHub right away: all branches (created, updated and deleted), all tags, force pushes included. The GitHub repository must already exist."
            </p>
            <ActionForm action=enable_push attr:class="form inline-form">
                <input type="hidden" name="owner" value=owner.clone() />
                <input type="hidden" name="repo" value=repo.clone() />
                <input type="hidden" name="direction" value="push" />
                <label>
                    "GitHub repository (push)"
                    <input type="text" name="remote" placeholder="owner/repo" required maxlength="200" />
                </label>
                <ActionError value=move || enable_push.value().get() />
                <button type="submit">"Enable mirror"</button>
            </ActionForm>
            {list("push", ctx.clone())}
        </section>
        <section class="card mirroring" id="pull-mirroring">
            <h2>"Pull mirroring"</h2>
            <p class="muted">"GitBlixt fetches all branches and tags from GitHub at the interval you choose."</p>
            <ActionForm action=enable_pull attr:class="form inline-form">
                <input type="hidden" name="owner" value=owner2 />
                <input type="hidden" name="repo" value=repo2 />
                <input type="hidden" name="direction" value="pull" />
                <label>
                    "GitHub repository (pull)"
                    <input type="text" name="remote" placeholder="owner/repo" required maxlength="200" />
                </label>
                <label>
                    "Sync interval" <IntervalSelect name="interval" selected=15 />
                </label>
                <ActionError value=move || enable_pull.value().get() />
                <button type="submit">"Enable mirror"</button>
            </ActionForm>
            {list("pull", ctx)}
        </section>
    }
}

#[derive(Clone)]
struct Ctx {
    owner: String,
    repo: String,
    act: ServerAction<MirrorAction>,
    interval: ServerAction<SetMirrorInterval>,
}

#[component]
fn MirrorList(mirrors: Vec<MirrorView>, ctx: Ctx) -> impl IntoView {
    (!mirrors.is_empty()).then(|| {
        view! {
            <ul class="mirrors">
                {mirrors.into_iter().map(|m| view! { <MirrorItem m ctx=ctx.clone() /> }).collect_view()}
            </ul>
        }
    })
}

#[component]
fn IntervalSelect(name: &'static str, selected: i64) -> impl IntoView {
    view! {
        <select name=name>
            {PULL_INTERVALS
                .iter()
                .map(|(minutes, label)| view! { <option value=minutes.to_string() selected=*minutes == selected>{*label}</option> })
                .collect_view()}
        </select>
    }
}

/// The hidden fields naming one mirror in its forms.
#[component]
fn MirrorFields(ctx: Ctx, id: i64) -> impl IntoView {
    view! {
        <input type="hidden" name="owner" value=ctx.owner />
        <input type="hidden" name="repo" value=ctx.repo />
        <input type="hidden" name="id" value=id.to_string() />
    }
}

#[component]
fn MirrorItem(m: MirrorView, ctx: Ctx) -> impl IntoView {
    let status = match m.state {
        MirrorState::Active => format!("Active — last sync {}", m.last_sync_at.map(date_time).unwrap_or_default()),
        other => other.label().to_string(),
    };
    let status_class = format!("status status-{}", m.state.label().to_ascii_lowercase());
    let button = |action: &'static str, label: &'static str| {
        let ctx = ctx.clone();
        view! {
            <ActionForm action=ctx.act attr:class="inline">
                <MirrorFields ctx=ctx.clone() id=m.id />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=if action == "remove" { "danger" } else { "" }>{label}</button>
            </ActionForm>
        }
    };
    let pause = if m.paused { button("resume", "Resume") } else { button("pause", "Pause") };
    let interval_form = m.interval_minutes.map(|minutes| {
        let ctx = ctx.clone();
        view! {
            <ActionForm action=ctx.interval attr:class="inline">
                <MirrorFields ctx=ctx.clone() id=m.id />
                <label>"Interval " <IntervalSelect name="interval" selected=minutes /></label>
                <button type="submit">"Change interval"</button>
            </ActionForm>
        }
    });
    let next = (m.direction == "pull" && !m.paused)
        .then(|| m.next_sync_at.map(|n| view! { <p class="muted">"Next scheduled sync: " {date_time(n)}</p> }))
        .flatten();
    view! {
        <li class="mirror" data-remote=m.remote.clone()>
            <p>
                <strong class="remote">{m.remote.clone()}</strong>
                " "
                <span class=status_class>{status}</span>
            </p>
            {m.error.clone().map(|e| view! { <p class="error mirror-error" role="alert">{e}</p> })}
            {next}
            <div class="actions">
                {button("sync", "Sync now")}
                {pause}
                {button("remove", "Remove")}
                {interval_form}
            </div>
            <Runs runs=m.runs.clone() />
        </li>
    }
}

#[component]
fn Runs(runs: Vec<RunView>) -> impl IntoView {
    (!runs.is_empty()).then(|| {
        view! {
            <details class="runs">
                <summary>"Recent syncs"</summary>
                <ul>
                    {runs
                        .into_iter()
                        .map(|r| {
                            view! {
                                <li>
                                    {format!("{} · {} · {}", date_time(r.started_at), r.trigger, r.outcome)}
                                    {r.error.map(|e| view! { <span class="error">{format!(" — {e}")}</span> })}
                                    <ul class="refs">
                                        {r.refs
                                            .into_iter()
                                            .map(|c| {
                                                let ids = format!(
                                                    "{}..{}",
                                                    c.old.as_deref().map(short_id).unwrap_or("0000000"),
                                                    c.new.as_deref().map(short_id).unwrap_or("0000000"),
                                                );
                                                view! {
                                                    <li>
                                                        <code>{c.outcome}</code> " " {c.name} " " <code>{ids}</code>
                                                        {c.reason.map(|r| format!(" ({r})"))}
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
            </details>
        }
    })
}
