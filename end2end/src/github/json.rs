//! The REST API's JSON for users and repositories, shaped like docs.github.com's schemas
//! (`simple-user`, `private-user`, `full-repository`), with URLs on the double's origins.

use super::Shared;
use super::state::{Caller, Repo, State, User};
use base64::Engine;
use serde_json::{Value, json};
use std::time::SystemTime;

/// `2011-01-26T19:01:12Z`.
pub fn timestamp(t: SystemTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t).format(&format).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// GitHub's legacy global node id: base64 of `0{len}:{Type}{id}`.
fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// The `simple-user` object (repository owners).
pub fn simple_user(shared: &Shared, user: &User) -> Value {
    let (api, web, login) = (&shared.api_url, &shared.web_url, &user.login);
    json!({
        "login": login,
        "id": user.id,
        "node_id": node_id("User", user.id),
        "avatar_url": format!("{web}/avatars/u/{}?v=4", user.id),
        "gravatar_id": "",
        "url": format!("{api}/users/{login}"),
        "html_url": format!("{web}/{login}"),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// The `private-user` object (`GET /user`): the simple user plus the profile and plan. The display
/// name and the public email are `null`, as for a GitHub user who never set them.
pub fn private_user(shared: &Shared, state: &State, user: &User) -> Value {
    let owned: Vec<&Repo> = state.repos().filter(|r| r.owner.eq_ignore_ascii_case(&user.login)).collect();
    let private = owned.iter().filter(|r| r.private).count();
    let mut value = simple_user(shared, user);
    let extra = json!({
        "name": null,
        "company": null,
        "blog": "",
        "location": null,
        "email": null,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "notification_email": null,
        "public_repos": owned.len() - private,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.created_at),
        "private_gists": 0,
        "total_private_repos": private,
        "owned_private_repos": private,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": true,
        "plan": { "name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000 },
    });
    if let (Value::Object(map), Value::Object(extra)) = (&mut value, extra) {
        map.extend(extra);
    }
    value
}

/// The repository's API URLs (templates as GitHub writes them), below `{api}/repos/{owner}/{name}`.
const REPO_URLS: &[(&str, &str)] = &[
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
];

/// The `full-repository` object; `permissions` only for an authenticated caller.
pub fn repository(shared: &Shared, state: &State, repo: &Repo, caller: Option<&Caller>) -> Value {
    let (api, web) = (&shared.api_url, &shared.web_url);
    let full = repo.full_name();
    let base = format!("{api}/repos/{full}");
    let owner = state.user(&repo.owner).map(|u| simple_user(shared, u)).unwrap_or(Value::Null);
    let path = shared.repo_path(&repo.owner, &repo.name);
    let default_branch = super::git::default_branch(&path);
    let host = web.trim_start_matches("http://").trim_start_matches("https://");
    let mut value = json!({
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": repo.private,
        "owner": owner,
        "html_url": format!("{web}/{full}"),
        "description": repo.description,
        "fork": false,
        "url": base,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.pushed_at),
        "pushed_at": timestamp(repo.pushed_at),
        "git_url": format!("git://{host}/{full}.git"),
        "ssh_url": format!("git@{host}:{full}.git"),
        "clone_url": format!("{web}/{full}.git"),
        "svn_url": format!("{web}/{full}"),
    });
    // Counters and settings of a fresh repository.
    let settings = json!({
        "homepage": null,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": null,
        "has_issues": true,
        "has_projects": true,
        "has_downloads": true,
        "has_wiki": true,
        "has_pages": false,
        "has_discussions": false,
        "forks_count": 0,
        "mirror_url": null,
        "archived": false,
        "disabled": false,
        "open_issues_count": 0,
        "license": null,
        "allow_forking": true,
        "is_template": false,
        "web_commit_signoff_required": false,
        "topics": [],
        "visibility": if repo.private { "private" } else { "public" },
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": default_branch,
        "network_count": 0,
        "subscribers_count": 0,
    });
    if let (Value::Object(map), Value::Object(settings)) = (&mut value, settings) {
        map.extend(settings);
        for (key, suffix) in REPO_URLS {
            map.insert(key.to_string(), Value::from(format!("{base}{suffix}")));
        }
    }
    if let (Some(caller), Value::Object(map)) = (caller, &mut value) {
        let access = State::access(repo, &caller.login);
        map.insert(
            "permissions".into(),
            json!({ "admin": access.admin, "maintain": access.maintain, "push": access.push, "triage": access.triage, "pull": access.pull }),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_ids_are_githubs_legacy_ones() {
        assert_eq!(super::node_id("User", 1), "MDQ6VXNlcjE=");
        assert_eq!(super::node_id("Repository", 1296269), "MDEwOlJlcG9zaXRvcnkxMjk2MjY5");
    }
}
