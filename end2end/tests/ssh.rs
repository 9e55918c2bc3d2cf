//! Git over SSH with the real OpenSSH client and the real git: clone, push, force push, delete
//! and tags; the push mirror replays an SSH push to the GitHub double; the greeting of `ssh -T`;
//! every refusal with its message; the limits on connections.

mod support;

use app::names::{RepoName, UserName};
use app::ssr::{accounts, repos, ssh_keys};
use gitblixt::config::SshConfig;
use github_double::gitcli::ok;
use github_double::sshcli;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{Browser, Setup};

/// A key pair made by ssh-keygen: (private key path, public key line).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let public = sshcli::keygen(&path, name).unwrap();
    (path, public)
}

/// `git args…` in `dir` over SSH with `key`.
fn git_ssh(dir: &Path, key: &Path, known_hosts: &Path, args: &[&str]) -> Output {
    Command::new("git").args(args).current_dir(dir).env("GIT_SSH_COMMAND", sshcli::ssh_command(key, known_hosts)).output().unwrap()
}

fn git_ssh_ok(dir: &Path, key: &Path, known_hosts: &Path, args: &[&str]) -> String {
    let out = git_ssh(dir, key, known_hosts, args);
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ssh -T -p <port> <login>@127.0.0.1 [command]`.
fn ssh(addr: SocketAddr, key: &Path, known_hosts: &Path, login: &str, command: Option<&str>) -> Output {
    let mut cmd = Command::new("sh");
    let remote = command.map(|c| format!(" \"{}\"", c.replace('"', "\\\""))).unwrap_or_default();
    cmd.arg("-c").arg(format!("{} -T -p {} {login}@127.0.0.1{remote}", sshcli::ssh_command(key, known_hosts), addr.port()));
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// GitBlixt with SSH on a free port (the usual Setup: alice, `alice/project` with a push mirror).
async fn start(adjust: impl FnOnce(&mut SshConfig)) -> (Setup, i64, SocketAddr) {
    let (setup, mirror) = Setup::start_with(|config| {
        let mut ssh = SshConfig::on("127.0.0.1:0".parse().unwrap());
        adjust(&mut ssh);
        config.ssh = Some(ssh);
    })
    .await;
    let addr = setup.server.ssh_addr.expect("SSH is served");
    (setup, mirror, addr)
}

/// Pins the server's host key in a known_hosts file after checking that its fingerprint is the
/// one Settings → SSH Keys shows (as a careful user does on first connection).
async fn pin_host_key(setup: &Setup, addr: SocketAddr, dir: &Path) -> PathBuf {
    let alice = Browser::sign_in(&setup.server.url(), "alice", support::PASSWORD).await;
    let res = alice.post("/api/ssh_server_info", &[]).await;
    assert_eq!(res.status(), 200);
    let info: Option<app::model::SshServerInfo> = res.json().await.unwrap();
    let info = info.expect("the page shows the SSH server");
    assert_eq!(info.example_clone_url, format!("ssh://git@127.0.0.1:{}/alice/<repository>.git", addr.port()));
    let line = sshcli::keyscan(addr.port()).expect("ssh-keyscan got the host key");
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, format!("{line}\n")).unwrap();
    let listed = Command::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(&known_hosts).output().unwrap();
    let fingerprint = String::from_utf8_lossy(&listed.stdout).split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(info.host_key_fingerprints, vec![("ED25519".to_string(), fingerprint)], "the page shows the key the server presents");
    known_hosts
}

fn bare(setup: &Setup, repo: &str) -> PathBuf {
    setup.server.state.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse(repo).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_push_force_delete_and_tags_over_ssh_and_the_push_mirror_follows() {
    let (setup, mirror, addr) = start(|_| {}).await;
    setup.wait_settled(mirror, "active").await;
    let st = &setup.server.state;
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "alice-laptop");
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let added = ssh_keys::add(&st.db, &alice, "laptop", &public).await.unwrap();
    let known_hosts = pin_host_key(&setup, addr, dir.path()).await;
    let url = format!("ssh://git@127.0.0.1:{}/alice/project.git", addr.port());

    // `ssh -T`: the greeting, exit status 1, as GitHub's.
    let hello = ssh(addr, &key, &known_hosts, "git", None);
    assert_eq!(hello.status.code(), Some(1), "{}", stderr(&hello));
    assert!(stderr(&hello).contains("Hi alice! You've successfully authenticated, but GitBlixt does not provide shell access."), "{}", stderr(&hello));

    // Clone: what was pushed over HTTP comes back over SSH; the key's use is recorded.
    git_ssh_ok(dir.path(), &key, &known_hosts, &["clone", "-q", &url, "clone"]);
    let work = dir.path().join("clone");
    assert_eq!(ok(&work, &["rev-parse", "HEAD"]).trim(), ok(setup.work(), &["rev-parse", "HEAD"]).trim());
    let keys = ssh_keys::list(&st.db, alice.id).await.unwrap();
    assert!(keys.iter().find(|k| k.id == added.id).unwrap().last_used_at.is_some(), "last used is recorded");

    // Push a branch and tags over SSH: the pusher is recorded, GitHub follows.
    let mut events = st.events.subscribe_refs_updated();
    let commit = |file: &str| {
        std::fs::write(work.join(file), file).unwrap();
        ok(&work, &["add", "-A"]);
        ok(&work, &["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", file]);
    };
    commit("one");
    ok(&work, &["branch", "feature"]);
    ok(&work, &["tag", "v1"]);
    ok(&work, &["-c", "user.name=A", "-c", "user.email=a@example.com", "tag", "-a", "v1-annotated", "-m", "release"]);
    let pushed_at = Instant::now();
    git_ssh_ok(&work, &key, &known_hosts, &["push", "-q", "origin", "main", "feature", "--tags"]);
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap().unwrap();
    assert_eq!(event.pusher, "alice");
    assert_eq!(event.updates.len(), 4, "{:?}", event.updates);
    setup.wait_in_sync().await;
    eprintln!("SSH push → GitHub has it: {} ms", pushed_at.elapsed().as_millis());

    // Force push (history rewritten) and delete, over SSH; GitHub follows again.
    ok(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit("two");
    git_ssh_ok(&work, &key, &known_hosts, &["push", "-q", "--force", "origin", "main"]);
    git_ssh_ok(&work, &key, &known_hosts, &["push", "-q", "origin", "--delete", "feature", "v1"]);
    setup.wait_in_sync().await;
    let ours = setup.gitblixt_refs();
    assert_eq!(ours.get("refs/heads/main").map(String::as_str), Some(ok(&work, &["rev-parse", "HEAD"]).trim()));
    assert!(!ours.contains_key("refs/heads/feature") && !ours.contains_key("refs/tags/v1"), "{ours:?}");
    assert_eq!(ours.get("refs/tags/v1-annotated").map(String::as_str), Some(ok(&work, &["rev-parse", "v1-annotated"]).trim()));
    ok(&bare(&setup, "project"), &["fsck", "--strict", "--no-progress"]);

    // Protocol v2 is what a fetch speaks (GIT_PROTOCOL passed through SSH's environment).
    let traced = Command::new("git")
        .args(["-c", "protocol.version=2", "ls-remote", &url])
        .current_dir(&work)
        .env("GIT_SSH_COMMAND", sshcli::ssh_command(&key, &known_hosts))
        .env("GIT_TRACE_PACKET", "1")
        .output()
        .unwrap();
    assert!(traced.status.success(), "{}", stderr(&traced));
    assert!(stderr(&traced).contains("< version 2"), "the server answered in protocol v2");
    git_ssh_ok(&work, &key, &known_hosts, &["-c", "protocol.version=2", "fetch", "-q", "origin"]);

    // Eight clones at once over separate connections: each gets the same history (nothing hangs
    // or mixes up channels).
    let head = ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let clones: Vec<_> = (0..8)
        .map(|n| {
            let (dir, key, known_hosts, url) = (dir.path().to_path_buf(), key.clone(), known_hosts.clone(), url.clone());
            std::thread::spawn(move || {
                let name = format!("parallel-{n}");
                git_ssh_ok(&dir, &key, &known_hosts, &["clone", "-q", "--bare", &url, &name]);
                ok(&dir.join(&name), &["rev-parse", "main"]).trim().to_string()
            })
        })
        .collect();
    for clone in clones {
        assert_eq!(clone.join().unwrap(), head);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_user_may_not_do_over_ssh_is_refused_with_a_message() {
    let (setup, _mirror, addr) = start(|_| {}).await;
    let st = &setup.server.state;
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = pin_host_key(&setup, addr, dir.path()).await;
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let bob = accounts::create_user(&st.db, &UserName::parse("bob").unwrap(), "bob-password-1", false).await.unwrap();
    let (alice_key, alice_public) = keygen(dir.path(), "alice");
    let (bob_key, bob_public) = keygen(dir.path(), "bob");
    let (stranger_key, _) = keygen(dir.path(), "stranger");
    let alice_added = ssh_keys::add(&st.db, &alice, "", &alice_public).await.unwrap();
    ssh_keys::add(&st.db, &bob, "", &bob_public).await.unwrap();
    repos::create(&st.db, &st.store, &alice, &RepoName::parse("secret").unwrap(), "", true).await.unwrap();
    let port = addr.port();
    let url = |path: &str| format!("ssh://git@127.0.0.1:{port}/{path}");

    // An unknown key, and a known key under another login name.
    for (key, login) in [(&stranger_key, "git"), (&alice_key, "alice")] {
        let out = ssh(addr, key, &known_hosts, login, None);
        assert_eq!(out.status.code(), Some(255));
        assert!(stderr(&out).contains("Permission denied (publickey)"), "{}", stderr(&out));
    }

    // bob reads alice's public repository but may not push to it; her private one and a
    // missing one look the same to him.
    git_ssh_ok(dir.path(), &bob_key, &known_hosts, &["clone", "-q", &url("alice/project.git"), "bobs"]);
    let bobs = dir.path().join("bobs");
    ok(&bobs, &["-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "--allow-empty", "-m", "bob"]);
    let before = setup.gitblixt_refs();
    let push = git_ssh(&bobs, &bob_key, &known_hosts, &["push", "origin", "main"]);
    assert!(!push.status.success());
    assert!(stderr(&push).contains("GitBlixt: you are not allowed to push to this repository"), "{}", stderr(&push));
    assert_eq!(setup.gitblixt_refs(), before, "nothing changed");
    for path in ["alice/secret.git", "alice/missing.git"] {
        let out = git_ssh(dir.path(), &bob_key, &known_hosts, &["ls-remote", &url(path)]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("GitBlixt: repository not found"), "{path}: {}", stderr(&out));
    }
    // alice sees her private repository.
    git_ssh_ok(dir.path(), &alice_key, &known_hosts, &["ls-remote", &url("alice/secret.git")]);

    // Commands other than git's, options and traversal in the path.
    let canary = dir.path().join("canary");
    for (command, says) in [
        ("ls -la", "GitBlixt: only git clone, fetch, pull and push are served over SSH"),
        ("git-upload-archive '/alice/project.git'", "GitBlixt: only git clone, fetch, pull and push are served over SSH"),
        ("sh -c 'id'", "GitBlixt: only git clone, fetch, pull and push are served over SSH"),
        (&format!("git-upload-pack '--upload-pack=touch {}'", canary.display()), "GitBlixt: not a repository path"),
        ("git-upload-pack '/alice/../bob/project.git'", "GitBlixt: not a repository path"),
        ("git-receive-pack '../../etc/passwd'", "GitBlixt: not a repository path"),
        ("git-upload-pack '/alice/project.git'; touch /tmp/gitblixt-ssh-canary", "GitBlixt: not a repository path"),
    ] {
        let out = ssh(addr, &alice_key, &known_hosts, "git", Some(command));
        assert_eq!(out.status.code(), Some(1), "{command}");
        assert!(stderr(&out).contains(says), "{command}: {}", stderr(&out));
    }
    assert!(!canary.exists(), "no option reached git");
    let out = git_ssh(dir.path(), &alice_key, &known_hosts, &["clone", &url("alice/../alice/project.git"), "x"]);
    assert!(!out.status.success() && stderr(&out).contains("GitBlixt: not a repository path"), "{}", stderr(&out));

    // A removed key no longer gets in.
    assert!(ssh_keys::remove(&st.db, alice.id, alice_added.id).await.unwrap());
    let out = ssh(addr, &alice_key, &known_hosts, "git", None);
    assert!(stderr(&out).contains("Permission denied (publickey)"), "{}", stderr(&out));
}

/// Reads until the server closes the connection (bounded); the bytes it sent.
fn read_until_closed(stream: &mut std::net::TcpStream, within: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the server did not close the connection within {within:?} ({e}); got {:?}", String::from_utf8_lossy(&seen)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited_in_number_time_and_failed_sign_ins() {
    let (setup, _mirror, addr) = start(|ssh| {
        ssh.max_connections = 4;
        ssh.login_grace = Duration::from_secs(2);
    })
    .await;
    let st = &setup.server.state;
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = pin_host_key(&setup, addr, dir.path()).await;
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let (key, public) = keygen(dir.path(), "alice");
    ssh_keys::add(&st.db, &alice, "", &public).await.unwrap();

    // Four silent connections hold every slot: a fifth is closed at once, without a banner.
    let mut held: Vec<std::net::TcpStream> = (0..4).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    for stream in &mut held {
        let mut banner = [0u8; 8];
        stream.read_exact(&mut banner).unwrap();
        assert_eq!(&banner, b"SSH-2.0-");
    }
    let mut fifth = std::net::TcpStream::connect(addr).unwrap();
    assert!(read_until_closed(&mut fifth, Duration::from_secs(5)).is_empty(), "refused without a banner");
    // A client that never authenticates is disconnected when the login grace time is over,
    // which frees the slots.
    let started = Instant::now();
    for stream in &mut held {
        read_until_closed(stream, Duration::from_secs(10));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "closed after the 2 s grace time");
    let hello = ssh(addr, &key, &known_hosts, "git", None);
    assert!(stderr(&hello).contains("Hi alice!"), "the server serves again: {}", stderr(&hello));

    // Failed sign-ins from one address: more than GITBLIXT_AUTH_FAILURES_PER_MINUTE (10) failed
    // connections lock the address, and then even a good key is refused for a while. (A
    // failure is counted when its connection has ended on the server's side, a moment after
    // the client gave up.)
    let (stranger, _) = keygen(dir.path(), "stranger");
    for _ in 0..11 {
        let out = ssh(addr, &stranger, &known_hosts, "git", None);
        assert!(stderr(&out).contains("Permission denied (publickey)"));
    }
    support::until("the address is locked", || async {
        stderr(&ssh(addr, &key, &known_hosts, "git", None)).contains("Permission denied (publickey)")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_its_time_limit() {
    let (_setup, _mirror, addr) = start(|ssh| {
        ssh.session_timeout = Duration::from_secs(1);
        ssh.login_grace = Duration::from_secs(60);
    })
    .await;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let seen = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(seen.starts_with(b"SSH-2.0-GitBlixt"), "{:?}", String::from_utf8_lossy(&seen));
    assert!(started.elapsed() < Duration::from_secs(5), "closed after 1 s, not the 60 s grace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let (setup, _mirror) = Setup::start_with(|config| {
        config.limits.git_idle = Duration::from_secs(1);
        let mut ssh = SshConfig::on("127.0.0.1:0".parse().unwrap());
        ssh.login_grace = Duration::from_secs(60);
        config.ssh = Some(ssh);
    })
    .await;
    let addr = setup.server.ssh_addr.unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut stream, b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
    let started = Instant::now();
    read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(5), "closed after 1 s of silence, not the 60 s grace");
}
