//! The product's help pages: `/help/importing-from-github` (importing, and for administrators
//! the GitHub OAuth App, with this instance's URLs) and `/help/mirroring` (push and pull mirrors
//! and one-time fetches, in GitBlixt's words, with the error messages a mirror can show).

use crate::import_api::get_help_facts;
use crate::model::HelpFacts;
use leptos::prelude::*;

/// This instance's URLs for the OAuth App, once loaded.
fn with_facts<V: IntoView + 'static>(render: impl Fn(HelpFacts) -> V + Send + Sync + Clone + 'static) -> impl IntoView {
    let facts = Resource::new(|| (), |_| get_help_facts());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let render = render.clone();
                facts.get().map(move |r| match r {
                    Ok(f) => render(f).into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })
            }}
        </Suspense>
    }
}

#[component]
pub fn ImportingHelpPage() -> impl IntoView {
    view! {
        <article class="help">
            <h1>"Importing from GitHub"</h1>
            <p>
                "An import makes a GitBlixt repository from a GitHub repository: every branch and every tag (lightweight and annotated), with the default branch set to GitHub's. Pull requests, issues, wikis and releases stay on GitHub; so do GitHub's "
                <code>"refs/pull/*"</code> " refs."
            </p>
            <h2 id="import">"Importing a repository"</h2>
            <ol>
                <li>"On the dashboard, click " <a href="/import/github" rel="external">"Import repository"</a> "."</li>
                <li>
                    "With your GitHub account connected (Settings → Connected Accounts), the page lists the repositories you own, collaborate on or reach through an organisation, private ones marked. Type in the filter box to narrow the list; repositories you already imported are marked."
                </li>
                <li>
                    "Pick one or several. For each, choose the GitBlixt name (GitHub's by default), the visibility (private if the GitHub repository is private) and, if you want GitBlixt to follow GitHub from now on, "
                    <strong>"Keep in sync"</strong> " with a pull mirror interval. The description is copied."
                </li>
                <li>
                    "Click " <strong>"Import"</strong>
                    ". Each import shows its progress live: Queued, Importing (objects, bytes, percent), then Done with a link to the repository, or Failed with the reason and "
                    <strong>"Retry"</strong> " or " <strong>"Delete"</strong> "."
                </li>
            </ol>
            <p>
                "Without a connected account, a public repository can still be imported by " <code>"owner/repo"</code>
                " or by its URL. Private repositories need the connection."
            </p>
            <p>
                "While an import runs, its repository's page says so and pushes to it wait; a failed import is shown as failed on the repository's page, never as a finished repository. Importing the same GitHub repository twice at once makes one repository."
            </p>
            <h2 id="after">"After the import"</h2>
            <p>
                "With Keep in sync, the repository has a pull mirror from the moment the import is done; its first sync runs one interval later. Without it, use "
                <strong>"Fetch from remote"</strong>
                " in the repository's Settings (the GitHub repository is filled in) to catch up on what changed on GitHub since the import. See "
                <a href="/help/mirroring" rel="external">"Repository mirroring"</a> "."
            </p>
            <p>
                "The REST API does the same: " <code>"POST /api/v4/import/github"</code> " with "
                <code>"{\"remote\": \"owner/repo\"}"</code> " (and optionally " <code>"name"</code> ", " <code>"visibility"</code>
                ", " <code>"description"</code> ", " <code>"mirror_interval_minutes"</code> ") answers 202 with the import; "
                <code>"GET /api/v4/imports/{id}"</code> " tells its state and progress."
            </p>
            <h2 id="oauth-app">"For administrators: the GitHub OAuth App"</h2>
            {with_facts(|f| view! { <OAuthAppSetup facts=f /> })}
        </article>
    }
}

/// How to register the OAuth App, with this instance's URLs.
#[component]
fn OAuthAppSetup(facts: HelpFacts) -> impl IntoView {
    let HelpFacts { public_url, callback_url, oauth_configured, github_url } = facts;
    view! {
        <p id="oauth-status" role="note">
            {if oauth_configured {
                "This instance has a GitHub OAuth App configured: users can connect GitHub under Settings → Connected Accounts."
            } else {
                "This instance has no GitHub OAuth App yet: until an administrator registers one, nobody can connect GitHub, and only public repositories can be imported or fetched."
            }}
        </p>
        <p>"GitBlixt acts on GitHub with each user's own connected account, through one OAuth App registered for the instance."</p>
        <ol>
            <li>
                "On GitHub, open " <a href=format!("{github_url}/settings/applications/new")>"Settings → Developer settings → OAuth Apps → New OAuth App"</a>
                " (under an organisation's settings to own it as the organisation)."
            </li>
            <li>"Application name: anything your users will recognise, e.g. " <em>"GitBlixt"</em> "."</li>
            <li>"Homepage URL: " <code id="homepage-url">{public_url}</code></li>
            <li>"Authorization callback URL: " <code id="callback-url">{callback_url}</code></li>
            <li>"Register the application, then generate a client secret."</li>
            <li>
                "Start GitBlixt with " <code>"GITHUB_CLIENT_ID"</code> " set to the App's client ID and " <code>"GITHUB_CLIENT_SECRET"</code>
                " to the secret (both or neither). For GitHub Enterprise also set " <code>"GITHUB_URL"</code> " and " <code>"GITHUB_API_URL"</code> "."
            </li>
        </ol>
        <p>
            "These URLs come from " <code>"GITBLIXT_PUBLIC_URL"</code>
            ", the address users reach GitBlixt at; set it before registering the App if it is not the address above. GitBlixt asks users for the "
            <code>"repo"</code>
            " scope: read and write access to their public and private repositories, which import, pull mirrors (private repositories) and push mirrors need. Tokens are stored encrypted and refreshed before they expire."
        </p>
    }
}

#[component]
pub fn MirroringHelpPage() -> impl IntoView {
    view! {
        <article class="help">
            <h1>"Repository mirroring"</h1>
            <p>
                "GitBlixt keeps a repository in step with GitHub three ways: a push mirror copies every push to GitHub, a pull mirror fetches from GitHub on a schedule, and Fetch from remote fetches once. All three are set up in the repository's Settings."
            </p>
            <h2 id="prerequisites">"Before you start"</h2>
            <ul>
                <li>
                    "Connect your GitHub account under " <a href="/settings/connected-accounts" rel="external">"Settings → Connected Accounts"</a>
                    ". For a push mirror it needs push access to the GitHub repository."
                </li>
                <li>
                    "The instance needs a GitHub OAuth App; administrators, see " <a href="/help/importing-from-github#oauth-app" rel="external">"Importing from GitHub"</a>
                    ". Fetch from remote works for public repositories without either."
                </li>
            </ul>
            <h2 id="push">"Push mirrors"</h2>
            <p>
                "Whenever anyone pushes to the repository, over SSH or HTTP, GitBlixt pushes all branches and tags to the GitHub repository a moment later: created, updated and deleted branches, tags, and force pushes. Pull requests, issues, labels, milestones and wikis are not git data and are not mirrored; a merge done in GitBlixt reaches GitHub as the branches it changed, without a pull request."
            </p>
            <ol>
                <li>"Open the repository's Settings and go to " <strong>"Push mirroring"</strong> "."</li>
                <li>"Enter the GitHub repository as " <code>"owner/repo"</code> "; it must already exist on GitHub."</li>
                <li>
                    "Click " <strong>"Enable mirror"</strong>
                    ". The first sync is queued at once. If the GitHub repository already has branches or tags that the first sync would overwrite or delete, GitBlixt lists them and asks you to confirm; what it replaces is kept and can be restored."
                </li>
            </ol>
            <p>"Every push then starts a sync by itself; " <strong>"Sync now"</strong> " starts one at any time."</p>
            <h2 id="pull">"Pull mirrors"</h2>
            <p>"A pull mirror fetches from GitHub on a schedule: use it when GitHub is where development happens."</p>
            <ol>
                <li>"Open the repository's Settings and go to " <strong>"Pull mirroring"</strong> "."</li>
                <li>"Enter the GitHub repository as " <code>"owner/repo"</code> "."</li>
                <li>"Choose the interval: 5 minutes, 10 minutes, 15 minutes (the default), 30 minutes or 1 hour."</li>
                <li>"Click " <strong>"Enable mirror"</strong> "."</li>
            </ol>
            <p>
                "GitBlixt looks for changes at that interval; " <strong>"Sync now"</strong>
                " fetches without waiting. A branch with commits pushed to GitBlixt that GitHub doesn't have has diverged: it is left alone and the mirror shows an error, unless you turn on "
                <strong>"Overwrite diverged branches"</strong> ". Whatever a sync overwrites or deletes is kept and can be restored from its run."
            </p>
            <h2 id="fetch">"Fetch from remote"</h2>
            <p>"To bring in GitHub's changes once, for example after an import, without ongoing mirroring:"</p>
            <ol>
                <li>"Open the repository's Settings and go to " <strong>"Fetch from remote"</strong> "."</li>
                <li>"Enter the GitHub repository as " <code>"owner/repo"</code> "."</li>
                <li>"Click " <strong>"Fetch"</strong> "."</li>
            </ol>
            <p>
                "All branches and tags are fetched in one operation: new ones are created and existing branches fast-forwarded; nothing is deleted. A private repository is fetched with your connected GitHub account; a public one without authentication."
            </p>
            <h2 id="status">"Mirror status"</h2>
            <dl>
                <dt>"Active"</dt>
                <dd>"The mirror works; the time of the last sync is shown."</dd>
                <dt>"Error"</dt>
                <dd>
                    "The last sync failed; the message is shown below the mirror. Expired OAuth tokens, deleted GitHub repositories and missing permissions are the usual causes. A mirror in error tries again at its next sync."
                </dd>
                <dt>"Paused"</dt>
                <dd>"The mirror is set up but does not sync until you resume it."</dd>
            </dl>
            <h2 id="both">"Push and pull on one repository"</h2>
            <p>
                "A repository can have both a push and a pull mirror of the same GitHub repository, but if both sides receive pushes they can overwrite each other: it works best when one side is read-only."
            </p>
            <ul>
                <li><strong>"GitBlixt first"</strong> ": a push mirror; GitHub always has an up-to-date copy."</li>
                <li><strong>"GitHub first"</strong> ": a pull mirror; GitBlixt follows on its schedule."</li>
                <li><strong>"After an import"</strong> ": Fetch from remote catches up on what changed on GitHub since."</li>
            </ul>
            <h2 id="troubleshooting">"Troubleshooting"</h2>
            <h3>"The mirror shows Error"</h3>
            <p>"Read the message below the mirror:"</p>
            <dl id="mirror-errors">
                <dt><q>"No github OAuth token found"</q></dt>
                <dd>"Connect (or reconnect) your GitHub account under Settings → Connected Accounts."</dd>
                <dt><q>"OAuth token has expired"</q></dt>
                <dd>"Reconnect your GitHub account there to refresh the token."</dd>
                <dt><q>"Permission denied (403)"</q></dt>
                <dd>"Make sure your GitHub account has push access to the GitHub repository."</dd>
                <dt><q>"Repository not found (404)"</q></dt>
                <dd>"Check that " <code>"owner/repo"</code> " is right and that the repository exists on GitHub."</dd>
            </dl>
            <h3>"Changes do not show up on the other side"</h3>
            <p>"Click " <strong>"Sync now"</strong> " and watch the run: if it fails, its message says what went wrong."</p>
        </article>
    }
}
