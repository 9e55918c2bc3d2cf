//! The Push mirroring, Pull mirroring and Fetch from remote sections of a repository's Settings
//! page. Rendered on the server from `get_mirrors`; in the browser a live socket then replaces
//! the data with every snapshot and progress report the server sends.

use crate::components::{ActionError, ErrorBox, ProgressLine};
use crate::format::{date_time, short_id};
#[cfg(feature = "hydrate")]
use crate::model::LiveFrame;
use crate::api::get_github_account;
use crate::mirror_api::{EnableMirror, FetchFromRemote, KeptRefAction, MirrorAction, SetMirrorInterval, SetOverwriteDiverged, get_mirrors};
use crate::model::{EnableAnswer, GithubAccount, KeptRef, MirrorState, MirrorView, MirrorsView, PULL_INTERVALS, RemovedMirror, Replacement, RunView, short_ref};
use leptos::form::ActionForm;
use leptos::prelude::*;
use crate::live_client::LinkState;

#[component]
pub fn MirroringSections(owner: String, repo: String) -> impl IntoView {
    let enable_push = ServerAction::<EnableMirror>::new();
    let enable_pull = ServerAction::<EnableMirror>::new();
    let fetch = ServerAction::<FetchFromRemote>::new();
    let act = ServerAction::<MirrorAction>::new();
    let interval = ServerAction::<SetMirrorInterval>::new();
    let overwrite = ServerAction::<SetOverwriteDiverged>::new();
    let kept = ServerAction::<KeptRefAction>::new();
    let key = (owner.clone(), repo.clone());
    let versions = move || {
        (
            (enable_push.version().get(), enable_pull.version().get(), fetch.version().get()),
            (act.version().get(), interval.version().get(), overwrite.version().get(), kept.version().get()),
        )
    };
    let data = Resource::new(move || (key.clone(), versions()), |((owner, repo), _)| get_mirrors(owner, repo));
    // The live socket's latest snapshot; it takes precedence over `data` once it arrives.
    let live = RwSignal::new(None::<MirrorsView>);
    let link = RwSignal::new(LinkState::Idle);
    // After an action the page shows the refetched data until the socket's next snapshot.
    Effect::watch(versions, move |_, _, _| live.set(None), false);
    #[cfg(feature = "hydrate")]
    crate::live_client::subscribe(&format!("/ws/mirrors/{owner}/{repo}"), link, move |frame| match frame {
        LiveFrame::Snapshot { mirrors } => live.set(Some(mirrors)),
        LiveFrame::Progress { mirror, progress } => live.update(|v| {
            if let Some(m) = v.iter_mut().flat_map(|v| v.push.iter_mut().chain(v.pull.iter_mut()).chain(v.fetches.iter_mut())).find(|m| m.id == mirror) {
                m.state = MirrorState::Syncing;
                m.progress = Some(progress);
            }
        }),
    });
    let ctx = Ctx { owner: owner.clone(), repo: repo.clone(), act, interval, overwrite, kept };
    let list = move |kind: Kind, ctx: Ctx| {
        view! {
            <Transition fallback=|| view! { <p>"Loading mirrors…"</p> }>
                {move || {
                    let ctx = ctx.clone();
                    Suspend::new(async move {
                        let fetched = data.await;
                        let ctx = ctx.clone();
                        move || match live.get().map(Ok).unwrap_or_else(|| fetched.clone()) {
                            Ok(v) => {
                                let warning = (kind == Kind::Push).then_some(v.warning).flatten();
                                let mirrors = match kind {
                                    Kind::Push => v.push,
                                    Kind::Pull => v.pull,
                                    Kind::Fetch => v.fetches,
                                    Kind::Removed => return view! { <RemovedMirrors removed=v.removed ctx=ctx.clone() /> }.into_any(),
                                };
                                view! {
                                    {warning.map(|w| view! { <p class="warning" role="note">{w}</p> })}
                                    <MirrorList mirrors kind ctx=ctx.clone() />
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
    let confirm_names = (owner.clone(), repo.clone());
    let hidden = move || {
        view! {
            <input type="hidden" name="owner" value=owner.clone() />
            <input type="hidden" name="repo" value=repo.clone() />
        }
    };
    let (hidden_push, hidden_pull, hidden_fetch) = (hidden(), hidden(), hidden());
    let confirm = {
        let (owner, repo) = confirm_names;
        move || match enable_push.value().get() {
            Some(Ok(EnableAnswer::ConfirmReplace { remote, replacements })) => {
                Some(view! { <ConfirmReplace owner=owner.clone() repo=repo.clone() remote replacements action=enable_push /> })
            }
            _ => None,
        }
    };
    // Each section is type-erased: one nested view type for the whole page overflowed rustc's
    // query depth in release builds and inflated the wasm.
    let push_section = view! {
        <section class="card mirroring" id="push-mirroring">
            <h2>"Push mirroring"</h2>
            <p class="muted">
                "Every push to this repository is pushed to GitHub right away: all branches (created, updated and deleted), all tags, force pushes included. The GitHub repository must already exist."
            </p>
            <ActionForm action=enable_push attr:class="form inline-form">
                {hidden_push}
                <input type="hidden" name="direction" value="push" />
                <label>
                    "GitHub repository (push)"
                    <input type="text" name="remote" placeholder="owner/repo" required maxlength="200" />
                </label>
                <ActionError value=move || enable_push.value().get() />
                <button type="submit">"Enable mirror"</button>
            </ActionForm>
            {confirm}
            {list(Kind::Push, ctx.clone())}
        </section>
    }
    .into_any();
    let pull_section = view! {
        <section class="card mirroring" id="pull-mirroring">
            <h2>"Pull mirroring"</h2>
            <p class="muted">
                "GitBlixt fetches all branches and tags from GitHub at the interval you choose. A branch that has commits pushed to GitBlixt which GitHub doesn't have has diverged: it is left as it is and the mirror shows an error, unless you turn on Overwrite diverged branches. Whatever a sync overwrites or deletes is kept and can be restored from its run."
            </p>
            <ActionForm action=enable_pull attr:class="form inline-form">
                {hidden_pull}
                <input type="hidden" name="direction" value="pull" />
                <label>
                    "GitHub repository (pull)"
                    <input type="text" name="remote" placeholder="owner/repo" required maxlength="200" />
                </label>
                <label>
                    "Sync interval" <IntervalSelect name="interval" selected=15 />
                </label>
                <label class="check">
                    <input type="checkbox" name="overwrite_diverged" />
                    " Overwrite diverged branches"
                </label>
                <ActionError value=move || enable_pull.value().get() />
                <button type="submit">"Enable mirror"</button>
            </ActionForm>
            {list(Kind::Pull, ctx.clone())}
        </section>
    }
    .into_any();
    let fetch_section = view! {
        <section class="card mirroring" id="fetch-from-remote">
            <h2>"Fetch from remote"</h2>
            <p class="muted">
                "Fetches all branches and tags from a GitHub repository once, for example to catch up after an import. Private repositories use your connected GitHub account; public ones are fetched without authentication. New branches and tags are created and existing branches fast-forwarded; nothing is deleted, and a branch that has diverged keeps GitBlixt's commits unless you choose to overwrite it (its tip is then kept and can be restored)."
            </p>
            <ActionForm action=fetch attr:class="form inline-form">
                {hidden_fetch}
                <label>
                    "GitHub repository (fetch)"
                    // Prefilled with the repository's import source, else the last repository fetched.
                    <Transition fallback=|| view! { <input type="text" name="remote" placeholder="owner/repo" required maxlength="200" /> }>
                        {move || Suspend::new(async move {
                            let source = data.await.ok().and_then(|v| v.import.map(|i| i.remote).or_else(|| v.fetches.first().map(|f| f.remote.clone())));
                            view! { <input type="text" name="remote" placeholder="owner/repo" required maxlength="200" value=source.unwrap_or_default() /> }
                        })}
                    </Transition>
                </label>
                <label class="check">
                    <input type="checkbox" name="overwrite_diverged" />
                    " Overwrite diverged branches"
                </label>
                <ActionError value=move || fetch.value().get() />
                <button type="submit">"Fetch"</button>
            </ActionForm>
            {list(Kind::Fetch, ctx.clone())}
        </section>
    }
    .into_any();
    let removed_section = view! { <div id="removed-mirrors">{list(Kind::Removed, ctx.clone())}</div> }.into_any();
    view! {
        <p class="live-status" aria-live="polite">
            {move || match link.get() {
                LinkState::Idle => "",
                LinkState::Connecting => "Connecting to live status…",
                LinkState::Live => "● Live: status updates as it happens",
                LinkState::Reconnecting => "Live status lost; reconnecting…",
            }}
        </p>
        <GithubReadiness />
        <p class="muted help-link">"How mirrors work, and what their errors mean: " <a href="/help/mirroring" rel="external">"Repository mirroring"</a></p>
        <ActionError value=move || act.value().get() />
        <ActionError value=move || interval.value().get() />
        <ActionError value=move || overwrite.value().get() />
        <ActionError value=move || kept.value().get() />
        {move || {
            let said = match kept.value().get() {
                Some(Ok(Some(restored))) => format!("Restored as {}.", short_ref(&restored)),
                Some(Ok(None)) => "Discarded.".to_string(),
                _ => return None,
            };
            Some(view! { <p class="notice" role="status" id="restored">{said}</p> })
        }}
        {push_section}
        {pull_section}
        {fetch_section}
        {removed_section}
    }
}

/// Enabling a push mirror onto a GitHub repository with content: what the first sync would
/// replace, and the explicit confirmation.
#[component]
fn ConfirmReplace(owner: String, repo: String, remote: String, replacements: Vec<Replacement>, action: ServerAction<EnableMirror>) -> impl IntoView {
    let deleted = replacements.iter().filter(|r| r.gitblixt.is_none()).count();
    let overwritten = replacements.len() - deleted;
    let only_github = replacements.iter().filter(|r| r.commits_only_on_github > 0).count();
    let summary = format!(
        "{remote} on GitHub is not empty: the first sync would overwrite {} and delete {} there{}. Their tips will be kept in GitBlixt, where each can be restored from the sync's run.",
        crate::format::count(overwritten, "branch or tag", "branches and tags"),
        crate::format::count(deleted, "branch or tag", "branches and tags"),
        if only_github > 0 { format!(" ({} with commits only on GitHub)", crate::format::count(only_github, "ref", "refs")) } else { String::new() },
    );
    view! {
        <div class="confirm-replace" id="confirm-replace" role="alertdialog">
            <p class="warning">{summary}</p>
            <ul class="refs">
                {replacements
                    .into_iter()
                    .map(|r| {
                        let what = if r.gitblixt.is_some() { "overwritten" } else { "deleted" };
                        let only = match r.commits_only_on_github {
                            0 => String::new(),
                            1 => " — 1 commit only on GitHub".to_string(),
                            n => format!(" — {n} commits only on GitHub"),
                        };
                        view! { <li><code>{what}</code> " " {r.name} " " <code>{short_id(&r.github).to_string()}</code> {only}</li> }
                    })
                    .collect_view()}
            </ul>
            <ActionForm action attr:class="inline">
                <input type="hidden" name="owner" value=owner />
                <input type="hidden" name="repo" value=repo />
                <input type="hidden" name="direction" value="push" />
                <input type="hidden" name="remote" value=remote />
                <input type="hidden" name="confirm_replace" value="on" />
                <button type="submit" class="danger">"Replace GitHub's branches and tags"</button>
            </ActionForm>
        </div>
    }
    .into_any()
}

/// Runs of mirrors that were removed, with what they kept.
#[component]
fn RemovedMirrors(removed: Vec<RemovedMirror>, ctx: Ctx) -> impl IntoView {
    (!removed.is_empty()).then(|| {
        view! {
            <section class="card mirroring">
                <h2>"Removed mirrors"</h2>
                <p class="muted">"The history of mirrors that were removed, and the branches and tags their syncs kept."</p>
                <ul class="mirrors">
                    {removed
                        .into_iter()
                        .map(|m| {
                            let remote = m.remote.clone();
                            view! {
                                <li class="mirror removed" data-remote=remote>
                                    <p><strong class="remote">{m.remote}</strong> " " <span class="muted">{format!("({} mirror, removed)", m.direction)}</span></p>
                                    <Runs runs=m.runs ctx=ctx.clone() open=true with_kept=true />
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
        }
        .into_any()
    })
}

/// Says, before anything is typed, whether push and pull mirrors can work for this user: the
/// instance needs a GitHub OAuth App and the user a connected (unexpired) GitHub account.
#[component]
fn GithubReadiness() -> impl IntoView {
    let account = Resource::new(|| (), |_| get_github_account());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(GithubAccount::NotConfigured) => view! {
                        <p class="notice" id="github-readiness" role="note">
                            "GitHub is not configured on this instance, so push and pull mirrors cannot be enabled yet: the administrator must register a GitHub OAuth App and set "
                            <code>"GITHUB_CLIENT_ID"</code> " and " <code>"GITHUB_CLIENT_SECRET"</code>
                            " (see " <a href="/help/importing-from-github#oauth-app" rel="external">"Importing from GitHub"</a>
                            "). Fetch from remote works for public repositories without it."
                        </p>
                    }
                    .into_any(),
                    Ok(GithubAccount::NotConnected) => view! {
                        <p class="notice" id="github-readiness" role="note">
                            "Push and pull mirrors act with your GitHub account, and none is connected: "
                            <a href="/settings/connected-accounts">"connect GitHub under Settings → Connected Accounts"</a>
                            " first. Fetch from remote works for public repositories without it."
                        </p>
                    }
                    .into_any(),
                    Ok(GithubAccount::Connected { expired: true, .. }) => view! {
                        <p class="error" id="github-readiness" role="alert">
                            "OAuth token has expired — reconnect your GitHub account to refresh the token: "
                            <a href="/settings/connected-accounts">"Settings → Connected Accounts"</a> "."
                        </p>
                    }
                    .into_any(),
                    Ok(GithubAccount::Connected { login, .. }) => view! {
                        <p class="muted" id="github-readiness">"Mirrors you enable act as GitHub user " <strong>{login}</strong> "."</p>
                    }
                    .into_any(),
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
    }
}

/// Which section a mirror is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Push,
    Pull,
    Fetch,
    Removed,
}

#[derive(Clone)]
struct Ctx {
    owner: String,
    repo: String,
    act: ServerAction<MirrorAction>,
    interval: ServerAction<SetMirrorInterval>,
    overwrite: ServerAction<SetOverwriteDiverged>,
    kept: ServerAction<KeptRefAction>,
}

#[component]
fn MirrorList(mirrors: Vec<MirrorView>, kind: Kind, ctx: Ctx) -> impl IntoView {
    (!mirrors.is_empty()).then(|| {
        view! {
            <ul class="mirrors">
                {mirrors.into_iter().map(|m| view! { <MirrorItem m kind ctx=ctx.clone() /> }).collect_view()}
            </ul>
        }
    })
}

#[component]
fn IntervalSelect(name: &'static str, selected: i64, #[prop(optional)] submit_on_change: bool) -> impl IntoView {
    // A mirror's interval applies as soon as it is picked (the button remains for pages without
    // JavaScript): a live update re-rendering the list cannot undo a choice not yet submitted.
    // A hydrated handler, not an inline `onchange`: the Content-Security-Policy allows no inline
    // script.
    let on_change = move |ev: leptos::ev::Event| {
        if submit_on_change {
            submit_form_of(&ev);
        }
    };
    view! {
        <select name=name on:change=on_change>
            {PULL_INTERVALS
                .iter()
                .map(|(minutes, label)| view! { <option value=minutes.to_string() selected=*minutes == selected>{*label}</option> })
                .collect_view()}
        </select>
    }
}

/// Submits the form the event's target belongs to, as its submit button would.
fn submit_form_of(ev: &leptos::ev::Event) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let form = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::HtmlSelectElement>().ok()).and_then(|s| s.form());
        if let Some(form) = form {
            let _ = form.request_submit();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
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
fn MirrorItem(m: MirrorView, kind: Kind, ctx: Ctx) -> impl IntoView {
    let when = |t: Option<i64>| t.map(date_time).unwrap_or_default();
    let status = match (kind, m.state) {
        (Kind::Fetch, MirrorState::Active) => format!("Fetched {}", when(m.last_sync_at)),
        (Kind::Fetch, MirrorState::Syncing) => "Fetching".to_string(),
        (_, MirrorState::Active) => format!("Active — last sync {}", when(m.last_sync_at)),
        (_, other) => other.label().to_string(),
    };
    let status_class = format!("status status-{}", m.state.label().to_ascii_lowercase());
    let progress = (m.state == MirrorState::Syncing).then_some(m.progress.clone()).flatten().map(|progress| view! { <ProgressLine progress /> });
    let button = |action: &'static str, label: &'static str| {
        let ctx = ctx.clone();
        view! {
            <ActionForm action=ctx.act attr:class="inline">
                <MirrorFields ctx=ctx.clone() id=m.id />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=if action == "remove" { "danger" } else { "" }>{label}</button>
            </ActionForm>
        }
        .into_any()
    };
    let pause = (kind != Kind::Fetch).then(|| if m.paused { button("resume", "Resume") } else { button("pause", "Pause") });
    let interval_form = m.interval_minutes.map(|minutes| {
        let ctx = ctx.clone();
        view! {
            <ActionForm action=ctx.interval attr:class="inline">
                <MirrorFields ctx=ctx.clone() id=m.id />
                <label>"Interval " <IntervalSelect name="interval" selected=minutes submit_on_change=true /></label>
                <button type="submit">"Change interval"</button>
            </ActionForm>
        }
    });
    let overwrite_form = (kind == Kind::Pull).then(|| {
        let ctx = ctx.clone();
        let (label, on) = if m.overwrite_diverged {
            ("Overwrite diverged branches: on. Turn off", "false")
        } else {
            ("Overwrite diverged branches: off. Turn on", "true")
        };
        view! {
            <ActionForm action=ctx.overwrite attr:class="inline overwrite-diverged">
                <MirrorFields ctx=ctx.clone() id=m.id />
                <input type="hidden" name="on" value=on />
                <button type="submit">{label}</button>
            </ActionForm>
        }
    });
    let in_sync = (kind == Kind::Push)
        .then(|| m.in_sync_at.map(|t| view! { <p class="muted in-sync">"In sync with GitHub as of " {date_time(t)}</p> }))
        .flatten();
    let next = (kind == Kind::Pull && !m.paused)
        .then(|| m.next_sync_at.map(|n| view! { <p class="muted">"Next scheduled sync: " {date_time(n)}</p> }))
        .flatten();
    // A fetch shows what its last run brought right away; mirrors keep their runs folded.
    let (result, runs) = match kind {
        Kind::Fetch if m.state != MirrorState::Syncing => {
            let mut runs = m.runs.clone();
            let latest = (!runs.is_empty()).then(|| runs.remove(0));
            (latest.map(|r| view! { <FetchResult run=r /> }), runs)
        }
        _ => (None, m.runs.clone()),
    };
    view! {
        <li class="mirror" data-remote=m.remote.clone()>
            <p>
                <strong class="remote">{m.remote.clone()}</strong>
                " "
                <span class=status_class>{status}</span>
                " "
                {progress}
            </p>
            {m.error.clone().map(|e| view! { <p class="error mirror-error" role="alert">{e}</p> })}
            {in_sync}
            {next}
            {result}
            {(!m.kept.is_empty()).then(|| view! {
                <div class="kept-tips">
                    <p>"Kept by this mirror's syncs — what they replaced, restorable:"</p>
                    <KeptList kept=m.kept.clone() ctx=ctx.clone() />
                </div>
            })}
            <div class="actions">
                {button("sync", if kind == Kind::Fetch { "Fetch again" } else { "Sync now" })}
                {pause}
                {button("remove", "Remove")}
                {interval_form}
                {overwrite_form}
            </div>
            <Runs runs ctx=ctx.clone() open=m.error.is_some() with_kept=false />
        </li>
    }
    .into_any()
}

/// What the latest one-time fetch changed.
#[component]
fn FetchResult(run: RunView) -> impl IntoView {
    let count = |what: &str| run.refs.iter().filter(|c| c.outcome == what).count();
    let summary = if run.outcome != "success" {
        None
    } else if run.refs.is_empty() {
        Some("Already up to date: nothing new on GitHub.".to_string())
    } else {
        let diverged = count("diverged");
        Some(format!(
            "{} created, {} updated, {} force-updated{}.",
            refs_count(count("created")),
            refs_count(count("updated")),
            refs_count(count("force-updated")),
            if diverged > 0 { format!(", {} kept GitBlixt's (diverged)", refs_count(diverged)) } else { String::new() }
        ))
    };
    view! {
        <div class="fetch-result">
            {summary.map(|s| view! { <p>{s}</p> })}
            <RefList refs=run.refs />
        </div>
    }
    .into_any()
}

fn refs_count(n: usize) -> String {
    if n == 1 { "1 ref".to_string() } else { format!("{n} refs") }
}

/// The tips a run kept, each with Restore and Discard.
#[component]
fn KeptList(kept: Vec<KeptRef>, ctx: Ctx) -> impl IntoView {
    (!kept.is_empty()).then(|| {
        view! {
            <ul class="kept">
                {kept
                    .into_iter()
                    .map(|k| {
                        let form = |action: &'static str, label: &'static str| {
                            let (ctx, k) = (ctx.clone(), k.clone());
                            view! {
                                <ActionForm action=ctx.kept attr:class="inline">
                                    <input type="hidden" name="owner" value=ctx.owner.clone() />
                                    <input type="hidden" name="repo" value=ctx.repo.clone() />
                                    <input type="hidden" name="run" value=k.run_id.to_string() />
                                    <input type="hidden" name="name" value=k.name.clone() />
                                    <input type="hidden" name="action" value=action />
                                    <button type="submit" class=if action == "discard" { "danger" } else { "" }>{label}</button>
                                </ActionForm>
                            }
                        };
                        view! {
                            <li class="kept-ref" data-ref=k.name.clone()>
                                "Kept " {short_ref(&k.name).to_string()} " at " <code>{short_id(&k.id).to_string()}</code> " "
                                {form("restore", "Restore")} {form("discard", "Discard")}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    })
}

#[component]
fn Runs(runs: Vec<RunView>, ctx: Ctx, #[prop(optional)] open: bool, with_kept: bool) -> impl IntoView {
    (!runs.is_empty()).then(|| {
        view! {
            <details class="runs" open=open>
                <summary>"Recent syncs"</summary>
                <ul>
                    {runs
                        .into_iter()
                        .map(|r| {
                            view! {
                                <li>
                                    {format!("{} · {} · {}", date_time(r.started_at), r.trigger, r.outcome)}
                                    {r.error.map(|e| view! { <span class="error">{format!(" — {e}")}</span> })}
                                    <RefList refs=r.refs />
                                    {with_kept.then(|| view! { <KeptList kept=r.kept ctx=ctx.clone() /> })}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </details>
        }
        .into_any()
    })
}

/// Per-ref results: outcome, name, old..new (the old id of every overwritten or deleted ref).
#[component]
fn RefList(refs: Vec<crate::model::RefChange>) -> impl IntoView {
    view! {
        <ul class="refs">
            {refs
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
                            {c.note.map(|n| view! { <span class="note">{format!(" — {n}")}</span> })}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
