//! Settings → Sessions: the password, and every browser signed in to the account (sign out one,
//! or all the others).

use crate::account_api::{ChangePassword, EndOtherSessions, EndSession, list_sessions};
use crate::components::{ActionError, ListOf};
use crate::format::date_time;
use crate::model::SessionInfo;
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn SessionsPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let end_one = ServerAction::<EndSession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let sessions = Resource::new(
        move || (change.version().get(), end_one.version().get(), end_others.version().get()),
        |_| list_sessions(),
    );
    view! {
        <h1>"Sessions"</h1>
        <p class="muted">
            "Your account: " <a href="/settings/tokens" rel="external">"Access Tokens"</a> " · "
            <a href="/settings/ssh-keys" rel="external">"SSH Keys"</a> " · "
            <a href="/settings/notifications" rel="external">"Notifications"</a>
        </p>
        <section class="card">
            <h2>"Password"</h2>
            <p class="muted">"Changing your password signs out every other session."</p>
            <ActionForm action=change attr:class="form">
                <label>"Current password" <input type="password" name="current_password" required autocomplete="current-password" /></label>
                <label>"New password" <input type="password" name="new_password" required minlength="8" autocomplete="new-password" /></label>
                <label>"Confirm new password" <input type="password" name="confirm_password" required minlength="8" autocomplete="new-password" /></label>
                <ActionError value=move || change.value().get() />
                {move || change.value().get().and_then(Result::ok).map(|_| view! { <p role="status">"Password changed. Your other sessions were signed out."</p> })}
                <button type="submit">"Change password"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Signed in"</h2>
            <ActionError value=move || end_one.value().get() />
            <ActionError value=move || end_others.value().get() />
            <ListOf list=sessions empty="No sessions." table=move |list| view! { <SessionTable list end_one end_others /> } />
        </section>
    }
}

#[component]
fn SessionTable(list: Vec<SessionInfo>, end_one: ServerAction<EndSession>, end_others: ServerAction<EndOtherSessions>) -> impl IntoView {
    let others = list.iter().filter(|s| !s.current).count();
    view! {
        <table class="sessions">
            <thead>
                <tr>
                    <th>"Browser"</th>
                    <th>"Address"</th>
                    <th>"Signed in"</th>
                    <th>"Last seen"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|s| view! { <SessionRow session=s end_one /> }).collect_view()}
            </tbody>
        </table>
        {(others > 0)
            .then(|| {
                view! {
                    <ActionForm action=end_others attr:class="inline">
                        <button type="submit" class="danger">"Sign out all other sessions"</button>
                    </ActionForm>
                }
            })}
    }
}

#[component]
fn SessionRow(session: SessionInfo, end_one: ServerAction<EndSession>) -> impl IntoView {
    let browser = if session.user_agent.is_empty() { "Unknown".to_string() } else { session.user_agent.clone() };
    let address = if session.ip.is_empty() { "Unknown".to_string() } else { session.ip.clone() };
    view! {
        <tr>
            <td>{browser}</td>
            <td>{address}</td>
            <td>{date_time(session.created_at)}</td>
            <td>{date_time(session.last_seen_at)}</td>
            <td>
                {if session.current {
                    view! { <span class="badge">"This session"</span> }.into_any()
                } else {
                    view! {
                        <ActionForm action=end_one attr:class="inline">
                            <input type="hidden" name="handle" value=session.handle.clone() />
                            <button type="submit" class="danger">"Sign out"</button>
                        </ActionForm>
                    }
                        .into_any()
                }}
            </td>
        </tr>
    }
}
