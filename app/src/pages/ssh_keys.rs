//! Settings → SSH Keys: add a public key (its SHA256 fingerprint shown), see when each was added
//! and last used, remove one.

use crate::account_api::{AddSshKey, RemoveSshKey, list_ssh_keys, ssh_server_info};
use crate::components::{ActionError, ListOf};
use crate::format::{date, date_time};
use crate::model::{SshKeyInfo, SshServerInfo};
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
        <ServerInfo />
    }
}

/// How to reach the SSH server, and the host key fingerprints to compare on first connection.
#[component]
fn ServerInfo() -> impl IntoView {
    let info = Resource::new(|| (), |_| ssh_server_info());
    view! {
        <section class="card" id="ssh-server">
            <h2>"This server"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || info.get().map(|r| match r {
                    Ok(Some(info)) => view! { <ServerDetails info /> }.into_any(),
                    Ok(None) => view! { <p>"This instance does not serve git over SSH; clone and push over HTTPS."</p> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ServerDetails(info: SshServerInfo) -> impl IntoView {
    view! {
        <p>"Clone and push with URLs like " <code>{info.example_clone_url}</code> "."</p>
        <p>"The first time you connect, ssh shows the server's key fingerprint. Continue only if it is one of these:"</p>
        <ul class="host-keys">
            {info.host_key_fingerprints.into_iter().map(|(kind, fp)| view! { <li><code>{fp}</code> " (" {kind} ")"</li> }).collect_view()}
        </ul>
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
