//! The home page: a welcome for visitors, the dashboard for signed-in users.

use crate::Session;
use crate::api::get_dashboard;
use crate::components::ErrorBox;
use crate::model::RepoSummary;
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match session.user.await {
                    Ok(Some(_)) => EitherOf3::A(view! { <Dashboard /> }),
                    Ok(None) => EitherOf3::B(view! { <Welcome /> }),
                    Err(e) => EitherOf3::C(view! { <ErrorBox error=e /> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Welcome() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"GitBlixt"</h1>
            <p>"A self-hosted git platform that keeps your repositories in sync with GitHub."</p>
            <p>
                <a class="button" href="/signup">"Sign up"</a>
                " or "
                <a href="/login">"Sign in"</a>
            </p>
        </section>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_dashboard());
    view! {
        <div class="row">
            <h1>"Repositories"</h1>
            <span class="actions">
                <a class="button" href="/import/github" rel="external">"Import repository"</a>
                " "
                <a class="button" href="/new">"New repository"</a>
            </span>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => Either::Left(view! {
                        <RepoList repos=d.mine empty="You have no repositories yet." />
                        <h2>"Other public repositories"</h2>
                        <RepoList repos=d.others empty="None yet." />
                    }),
                    Err(e) => Either::Right(view! { <ErrorBox error=e /> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RepoList(repos: Vec<RepoSummary>, empty: &'static str) -> impl IntoView {
    if repos.is_empty() {
        return Either::Left(view! { <p class="muted">{empty}</p> });
    }
    Either::Right(view! {
        <ul class="repo-list">
            {repos
                .into_iter()
                .map(|r| {
                    let href = format!("/{}/{}", r.owner, r.name);
                    view! {
                        <li>
                            <a href=href>{format!("{} / {}", r.owner, r.name)}</a>
                            {r.is_private.then(|| view! { <span class="badge">"Private"</span> })}
                            <p class="muted">{r.description}</p>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    })
}
