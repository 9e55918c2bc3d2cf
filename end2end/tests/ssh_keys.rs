//! SSH keys: added, checked, listed and removed through the page's server functions, the REST API
//! (`/api/v4/user/keys`) and `gitblixt admin add-ssh-key`, with keys made by the real ssh-keygen.

mod support;

use std::path::Path;
use std::process::Command;
use support::{Browser, Setup};

/// A new key pair made by ssh-keygen; the public key line and its fingerprint as ssh-keygen prints it.
fn keygen(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen").args(args).args(["-q", "-N", "", "-C", &format!("{name}@test"), "-f"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_string();
    let listed = Command::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(path.with_extension("pub")).output().unwrap();
    let fingerprint = String::from_utf8_lossy(&listed.stdout).split_whitespace().nth(1).unwrap().to_string();
    (public, fingerprint)
}

async fn add(b: &Browser, title: &str, key: &str) -> (u16, String) {
    let res = b.post("/api/add_ssh_key", &[("title", title), ("key", key)]).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_added_listed_and_removed() {
    let (s, _) = Setup::start().await;
    let base = s.server.url();
    let dir = tempfile::tempdir().unwrap();
    let alice = Browser::sign_in(&base, "alice", support::PASSWORD).await;
    let bob = Browser::sign_up(&base, "bob").await;

    let (ed, ed_fp) = keygen(dir.path(), "ed", &["-t", "ed25519"]);
    let (ecdsa, _) = keygen(dir.path(), "ec", &["-t", "ecdsa", "-b", "256"]);
    let (rsa, _) = keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "3072"]);
    let (weak, _) = keygen(dir.path(), "weak", &["-t", "rsa", "-b", "1024"]);
    let (dsa, _) = keygen(dir.path(), "dsa", &["-t", "dsa"]);

    // Good keys: the fingerprint is the one ssh-keygen prints; the comment is the default title.
    let (status, body) = add(&alice, "", &ed).await;
    assert_eq!(status, 200, "{body}");
    let added: app::model::SshKeyInfo = serde_json::from_str(&body).unwrap();
    assert_eq!((added.title.as_str(), added.fingerprint.as_str(), added.algorithm.as_str()), ("ed@test", ed_fp.as_str(), "ssh-ed25519"));
    assert_eq!(add(&alice, "work laptop", &ecdsa).await.0, 200);
    assert_eq!(add(&alice, "old server", &rsa).await.0, 200);

    // Bad ones, each with its reason; nothing stored.
    for (key, says) in [
        (weak.as_str(), "RSA keys must have at least 2048 bits (this one has 1024)"),
        ("ssh-ed25519 AAAA!!!not-base64", "not a valid OpenSSH public key"),
        (dsa.as_str(), "DSA keys are not accepted (they are insecure)."),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "That is a private key"),
        ("", "Paste a public key"),
    ] {
        let (status, body) = add(&alice, "x", key).await;
        assert_eq!(status, 400, "{key}: {body}");
        assert!(body.contains(says), "{key}: {body}");
    }
    // A key another account holds is refused without saying whose.
    let (status, body) = add(&bob, "mine", &ed).await;
    assert_eq!(status, 400);
    assert!(body.contains("This key is already in use. Each SSH key can belong to one account only.") && !body.contains("alice"), "{body}");

    let list: Vec<app::model::SshKeyInfo> = serde_json::from_str(&alice.post("/api/list_ssh_keys", &[]).await.text().await.unwrap()).unwrap();
    assert_eq!(list.iter().map(|k| k.title.as_str()).collect::<Vec<_>>(), ["old server", "work laptop", "ed@test"]);
    assert!(list.iter().all(|k| k.last_used_at.is_none()));
    // bob cannot remove alice's key; alice can.
    let id = list[0].id.to_string();
    assert_eq!(bob.post("/api/remove_ssh_key", &[("id", &id)]).await.status(), 404);
    assert!(alice.post("/api/remove_ssh_key", &[("id", &id)]).await.status().is_success());
    let list: Vec<app::model::SshKeyInfo> = serde_json::from_str(&alice.post("/api/list_ssh_keys", &[]).await.text().await.unwrap()).unwrap();
    assert_eq!(list.len(), 2);
    // Removed, the key may go to another account.
    assert_eq!(add(&bob, "now mine", &rsa).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_manages_the_token_owners_keys() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    let alice = app::ssr::accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let token = app::ssr::accounts::create_token(&st.db, alice.id, "keys", &["api".to_string()], 30).await.unwrap().token;
    let read_only = app::ssr::accounts::create_token(&st.db, alice.id, "ro", &["read_api".to_string()], 30).await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let (ed, fp) = keygen(dir.path(), "ed", &["-t", "ed25519"]);
    let api = format!("{}/api/v4/user/keys", s.server.url());
    let http = reqwest::Client::new();

    let created = http.post(&api).bearer_auth(&token).json(&serde_json::json!({"title": "ci", "key": ed})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let key: serde_json::Value = created.json().await.unwrap();
    assert_eq!((key["title"].as_str(), key["fingerprint"].as_str()), (Some("ci"), Some(fp.as_str())));
    let listed: serde_json::Value = http.get(&api).bearer_auth(&read_only).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Writing needs the api scope; bad input says why.
    let denied = http.post(&api).bearer_auth(&read_only).json(&serde_json::json!({"key": ed})).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let bad = http.post(&api).bearer_auth(&token).json(&serde_json::json!({"title": "x", "key": "ssh-rsa AAAA"})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.json::<serde_json::Value>().await.unwrap()["message"].as_str().unwrap().contains("not a valid OpenSSH public key"));
    let id = key["id"].as_i64().unwrap();
    assert_eq!(http.delete(format!("{api}/{id}")).bearer_auth(&token).send().await.unwrap().status(), 204);
    assert_eq!(http.delete(format!("{api}/{id}")).bearer_auth(&token).send().await.unwrap().status(), 404);
    assert_eq!(http.get(&api).send().await.unwrap().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_key_from_the_command_line() {
    use std::io::Write;
    let double = github_double::github::GithubDouble::start().await.unwrap();
    let prepared = support::prepare_for_binary(&double).await;
    let dir = tempfile::tempdir().unwrap();
    let (ed, fp) = keygen(dir.path(), "ed", &["-t", "ed25519"]);
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(support::gitblixt_bin())
            .args(args)
            .env("GITBLIXT_DATA", prepared.data.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&["admin", "add-ssh-key", "alice", "--title", "deploy"], &format!("{ed}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("added SSH key \"deploy\" ({fp}) to alice"));
    let again = run(&["admin", "add-ssh-key", "alice"], &format!("{ed}\n"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("This key is already in use."));
    let nobody = run(&["admin", "add-ssh-key", "nobody"], &format!("{ed}\n"));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("No such user: 'nobody'."));
    let keys = app::ssr::ssh_keys::list(&prepared.st.db, prepared.alice.id).await.unwrap();
    assert_eq!(keys.len(), 1);
}
