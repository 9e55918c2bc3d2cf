//! Sign up and sign in: plain pages (see `crate::bundles`) whose forms post to the server
//! functions; on success the server redirects to the home page, on an error back here with it.

use crate::api::{SignIn, SignUp};
use crate::components::{ActionError, kept_field};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn SignUpPage() -> impl IntoView {
    let sign_up = ServerAction::<SignUp>::new();
    view! {
        <h1>"Create your account"</h1>
        <ActionForm action=sign_up attr:class="card form">
            <label>
                "Username"
                <input
                    type="text"
                    name="username"
                    required
                    autocomplete="username"
                    maxlength="39"
                    value=kept_field("username")
                />
            </label>
            <label>
                "Password"
                <input type="password" name="password" required autocomplete="new-password" minlength="8" />
            </label>
            <ActionError value=move || sign_up.value().get() />
            <button type="submit">"Sign up"</button>
        </ActionForm>
        <p>"Already have an account? " <a href="/login">"Sign in"</a></p>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    view! {
        <h1>"Sign in to GitBlixt"</h1>
        <ActionForm action=sign_in attr:class="card form">
            <label>
                "Username"
                <input type="text" name="username" required autocomplete="username" value=kept_field("username") />
            </label>
            <label>
                "Password" <input type="password" name="password" required autocomplete="current-password" />
            </label>
            <ActionError value=move || sign_in.value().get() />
            <button type="submit">"Sign in"</button>
        </ActionForm>
        <p>"New here? " <a href="/signup">"Sign up"</a></p>
    }
}
