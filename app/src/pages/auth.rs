//! Sign up and sign in.

use crate::Session;
use crate::components::ActionError;
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn SignUpPage() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <h1>"Create your account"</h1>
        <ActionForm action=session.sign_up attr:class="card form">
            <label>
                "Username" <input type="text" name="username" required autocomplete="username" maxlength="39" />
            </label>
            <label>
                "Password"
                <input type="password" name="password" required autocomplete="new-password" minlength="8" />
            </label>
            <ActionError value=move || session.sign_up.value().get() />
            <button type="submit">"Sign up"</button>
        </ActionForm>
        <p>"Already have an account? " <a href="/login">"Sign in"</a></p>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <h1>"Sign in to GitBlixt"</h1>
        <ActionForm action=session.sign_in attr:class="card form">
            <label>
                "Username" <input type="text" name="username" required autocomplete="username" />
            </label>
            <label>
                "Password" <input type="password" name="password" required autocomplete="current-password" />
            </label>
            <ActionError value=move || session.sign_in.value().get() />
            <button type="submit">"Sign in"</button>
        </ActionForm>
        <p>"New here? " <a href="/signup">"Sign up"</a></p>
    }
}
