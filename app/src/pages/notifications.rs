//! Settings → Notifications: what GitBlixt told the user (mirrors failing, recovering, paused),
//! newest first, with links to the mirror; *Mark all as read* clears the bell's count.

use crate::components::{ActionError, ErrorBox};
use crate::error::AppError;
use crate::format::date_time;
use crate::model::NotificationView;
use leptos::form::ActionForm;
use leptos::prelude::*;

/// Notifications listed.
pub const SHOWN: i64 = 100;

#[server(endpoint = "get_notifications")]
pub async fn get_notifications() -> Result<Vec<NotificationView>, AppError> {
    use crate::ssr::{notifications, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        Ok(notifications::list(&state.db, user.id, SHOWN).await?)
    }
    .await)
}

#[server(endpoint = "mark_notifications_read")]
pub async fn mark_notifications_read() -> Result<(), AppError> {
    use crate::ssr::{notifications, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        notifications::mark_all_read(&state.db, user.id).await?;
        Ok(())
    }
    .await)
}

/// Where notifications are e-mailed, and whether the instance sends e-mail at all.
#[server(endpoint = "get_notification_email")]
pub async fn get_notification_email() -> Result<(Option<String>, bool), AppError> {
    use crate::ssr::{notifications, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        Ok((notifications::email_of(&state.db, user.id).await?, state.settings.mail))
    }
    .await)
}

/// Sets the address notifications are e-mailed to; an empty one stops the e-mail.
#[server(endpoint = "set_notification_email")]
pub async fn set_notification_email(email: String) -> Result<(), AppError> {
    use crate::ssr::{notifications, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let email = if email.trim().is_empty() { None } else { Some(notifications::check_email(&email)?) };
        notifications::set_email(&state.db, user.id, email.as_deref()).await?;
        Ok(())
    }
    .await)
}

#[component]
fn EmailSetting() -> impl IntoView {
    let save = ServerAction::<SetNotificationEmail>::new();
    let current = Resource::new(move || save.version().get(), |_| get_notification_email());
    view! {
        <section class="card" id="notification-email">
            <h2>"E-mail"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok((email, mail)) => view! {
                            {(!mail).then(|| view! { <p class="muted">"This instance does not send e-mail (its administrator has not set GITBLIXT_SMTP_URL); notifications appear here only."</p> })}
                            <ActionForm action=save attr:class="form inline-form">
                                <label>"Send my notifications to" <input type="email" name="email" value=email.unwrap_or_default() maxlength="254" placeholder="you@example.com" /></label>
                                <button type="submit">"Save"</button>
                            </ActionForm>
                        }
                        .into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
            <ActionError value=move || save.value().get() />
            {move || matches!(save.value().get(), Some(Ok(()))).then(|| view! { <p class="ok">"Saved."</p> })}
        </section>
    }
}

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let mark = ServerAction::<MarkNotificationsRead>::new();
    let list = Resource::new(move || mark.version().get(), |_| get_notifications());
    view! {
        <h1>"Notifications"</h1>
        <p class="muted">"GitBlixt tells you here when one of your mirrors starts failing, works again, or is paused because its GitHub side is gone."</p>
        <EmailSetting />
        <ActionForm action=mark attr:class="inline">
            <button type="submit">"Mark all as read"</button>
        </ActionForm>
        <ActionError value=move || mark.value().get() />
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(items) if items.is_empty() => view! { <p>"Nothing yet."</p> }.into_any(),
                    Ok(items) => view! {
                        <ul class="notifications">
                            {items
                                .into_iter()
                                .map(|n| {
                                    let class = if n.read { "notification" } else { "notification unread" };
                                    view! {
                                        <li class=class data-kind=n.kind>
                                            <p><strong>{n.title}</strong> " " <span class="muted">{date_time(n.created_at)}</span></p>
                                            <p>{n.body}</p>
                                            <a href=n.link rel="external">"Open the mirror's settings"</a>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
