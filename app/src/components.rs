//! Components shared by several pages.

use crate::Session;
use crate::error::AppError;
use leptos::either::Either;
use leptos::prelude::*;
use leptos::form::ActionForm;

#[component]
pub fn Header() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                "GitBlixt"
            </a>
            <nav>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.user.await {
                            Ok(Some(user)) => {
                                let (bell, bell_class) = if user.unread > 0 {
                                    (format!("Notifications ({})", user.unread), "bell unread")
                                } else {
                                    ("Notifications".to_string(), "bell")
                                };
                                Either::Left(view! {
                                    <a href="/settings/notifications" rel="external" class=bell_class>{bell}</a>
                                    <a href="/new">"New repository"</a>
                                    <a href="/settings/tokens" rel="external">"Access Tokens"</a>
                                    <a href="/settings/connected-accounts" rel="external">"Connected Accounts"</a>
                                    <a class="who" href="/settings/sessions" rel="external" title="Sessions and password">{user.name}</a>
                                    <ActionForm action=session.sign_out attr:class="inline">
                                        <button type="submit">"Sign out"</button>
                                    </ActionForm>
                                })
                            }
                            _ => {
                                Either::Right(view! {
                                    // Loaded afresh, so the whole page knows who signed in.
                                    <a href="/login" rel="external">"Sign in"</a>
                                    <a href="/signup" rel="external">"Sign up"</a>
                                })
                            }
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

/// A person's message for an error.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! {
        <div class="error" role="alert">
            {error.to_string()}
        </div>
    }
}

/// The value of `field` a plain form (see `crate::bundles`) came back with after an error, from
/// the page's query (`crate::ssr::web::back_to_form`); empty otherwise.
pub fn kept_field(field: &str) -> String {
    leptos_router::hooks::use_query_map().read_untracked().get(field).unwrap_or_default()
}

/// Shows the error of the last submission of an action, if any.
#[component]
pub fn ActionError<T, F>(value: F) -> impl IntoView
where
    T: Send + Sync + 'static,
    F: Fn() -> Option<Result<T, AppError>> + Send + Sync + 'static,
{
    move || match value() {
        Some(Err(e)) => Some(view! { <ErrorBox error=e /> }),
        _ => None,
    }
}

/// A list loaded by `list`: "Loading…" first, then `empty` when there is nothing, the list drawn
/// by `table`, or the error.
#[component]
pub fn ListOf<T, V, F>(list: Resource<Result<Vec<T>, AppError>>, empty: &'static str, table: F) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(Vec<T>) -> V + Clone + Send + Sync + 'static,
{
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let table = table.clone();
                Suspend::new(async move {
                    match list.await {
                        Ok(items) if items.is_empty() => view! { <p class="muted">{empty}</p> }.into_any(),
                        Ok(items) => table(items).into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// How far a running transfer is: a bar when the total is known, and its objects and bytes.
#[component]
pub fn ProgressLine(progress: crate::model::SyncProgress) -> impl IntoView {
    let percent = progress.percent();
    view! {
        <span class="progress-line">
            {percent.map(|v| view! { <progress max="100" value=v.to_string()></progress> })}
            " " {progress.describe()}
        </span>
    }
}
