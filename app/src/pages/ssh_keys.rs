//! Settings → SSH Keys: add a public key (its SHA256 fingerprint shown), see when each was added
//! and last used, remove one.

use crate::account_api::{AddSshKey, RemoveSshKey, list_ssh_keys};
use crate::components::{ActionError, ListOf};
use crate::format::{date, date_time};
use crate::model::SshKeyInfo;
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn SshKeysPage() -> impl IntoView {
    let add = ServerAction::<AddSshKey>::new();
    let remove = ServerAction::<RemoveSshKey>::new();
    let keys = Resource::new(move || (add.version().get(), remove.version().get()), |_| list_ssh_keys());
    view! {
        <h1>"SSH Keys"</h1>
        <p>"The public keys of the computers you use git from, for git over SSH."</p>
        <section class="card">
            <h2>"Add a key"</h2>
            <ActionForm action=add attr:class="form">
                <label>
                    "Key"
                    <textarea name="key" required rows="3" placeholder="ssh-ed25519 AAAA… you@computer"></textarea>
                </label>
                <label>"Title" <input type="text" name="title" maxlength="100" placeholder="the key's comment if empty" /></label>
                <ActionError value=move || add.value().get() />
                {move || {
                    add.value()
                        .get()
                        .and_then(Result::ok)
                        .map(|k| view! { <p role="status">{format!("Added “{}” ({}).", k.title, k.fingerprint)}</p> })
                }}
                <button type="submit">"Add key"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Your keys"</h2>
            <ActionError value=move || remove.value().get() />
            <ListOf list=keys empty="No SSH keys yet." table=move |list| view! { <KeyTable list remove /> } />
        </section>
    }
}

#[component]
fn KeyTable(list: Vec<SshKeyInfo>, remove: ServerAction<RemoveSshKey>) -> impl IntoView {
    view! {
        <table class="ssh-keys">
            <thead>
                <tr>
                    <th>"Title"</th>
                    <th>"Fingerprint"</th>
                    <th>"Added"</th>
                    <th>"Last used"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|k| {
                        view! {
                            <tr>
                                <td>{k.title}</td>
                                <td><code>{k.fingerprint}</code> " " <span class="muted">{k.algorithm}</span></td>
                                <td>{date(k.created_at)}</td>
                                <td>{k.last_used_at.map(date_time).unwrap_or_else(|| "Never".into())}</td>
                                <td>
                                    <ActionForm action=remove attr:class="inline">
                                        <input type="hidden" name="id" value=k.id.to_string() />
                                        <button type="submit" class="danger">"Remove"</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
