//! `make bench`, git over SSH: the 1,000-commit repository pushed to an empty repository and
//! cloned, with the real `git` client, over GitBlixt's SSH, over GitBlixt's HTTP, and over a plain
//! OpenSSH `sshd` started on loopback for the purpose (the same `git` behind it, no GitBlixt); when
//! this machine has no `sshd`, over `git daemon` instead (no encryption: a lower bound).
//!
//! The SSH push → GitHub latency is in the push mirror section (`push_mirror.rs`), beside HTTP's.

use app::names::{RepoName, UserName};
use app::ssr::{accounts, repos, ssh_keys};
use github_double::gitcli::run as git;
use github_double::sshcli::{keygen, pin_host, ssh_command};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 5;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The plain server the SSH figures are compared with.
enum Reference {
    /// OpenSSH's sshd on loopback, logging in as this user; repositories by absolute path.
    Sshd { child: Child, port: u16, user: String },
    /// `git daemon` (git://, no encryption, no authentication).
    Daemon { child: Child, port: u16 },
}

impl Reference {
    fn name(&self) -> &'static str {
        match self {
            Reference::Sshd { .. } => "git over plain sshd",
            Reference::Daemon { .. } => "git daemon (git://, unencrypted)",
        }
    }
    fn url(&self, repo: &Path) -> String {
        match self {
            Reference::Sshd { port, user, .. } => format!("ssh://{user}@127.0.0.1:{port}{}", repo.display()),
            Reference::Daemon { port, .. } => format!("git://127.0.0.1:{port}{}", repo.display()),
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let child = match self {
            Reference::Sshd { child, .. } | Reference::Daemon { child, .. } => child,
        };
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// sshd on loopback with its own host key and config, accepting `public` for this user.
fn start_sshd(root: &Path, public: &str, known_hosts: &Path) -> Result<Reference, String> {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        return Err("no /usr/sbin/sshd".into());
    }
    let dir = root.join("sshd");
    std::fs::create_dir_all(&dir).map_err(err)?;
    let host_key = dir.join("host_key");
    keygen(&host_key, "sshd host")?;
    std::fs::write(dir.join("authorized_keys"), format!("{public}\n")).map_err(err)?;
    let port = github_double::free_port()?;
    let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().map_err(err)?.stdout).trim().to_string();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPidFile {}\n",
        host_key.display(),
        dir.join("authorized_keys").display(),
        dir.join("sshd.pid").display()
    );
    std::fs::write(dir.join("sshd_config"), config).map_err(err)?;
    // Run as root, sshd wants its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(err)?;
    let reference = Reference::Sshd { child, port, user };
    pin_host(port, known_hosts)?;
    Ok(reference)
}

fn start_daemon(root: &Path) -> Result<Reference, String> {
    let port = github_double::free_port()?;
    let child = Command::new("git")
        .args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("git daemon did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Reference::Daemon { child, port })
}

fn timed(f: impl FnOnce() -> Result<String, String>) -> Result<Duration, String> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub async fn run(scratch: &Path, history: &Path) -> Result<(), String> {
    let root = scratch.join("ssh");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    let key = root.join("id");
    let public = keygen(&key, "bench")?;
    let known_hosts = root.join("known_hosts");

    let mut config = gitblixt::config::Config::for_data_dir(root.join("gitblixt-data"));
    config.ssh = Some(gitblixt::config::SshConfig::on("127.0.0.1:0".parse().map_err(err)?));
    let server = gitblixt::start(config).await.map_err(err)?;
    let st = server.state.clone();
    let ssh_port = server.ssh_addr.ok_or("no SSH")?.port();
    let user = accounts::create_user(&st.db, &UserName::parse("bench").map_err(err)?, "bench-password", false).await.map_err(err)?;
    let token = accounts::create_token(&st.db, user.id, "bench", &["write_repository".into()], 1).await.map_err(err)?.token;
    ssh_keys::add(&st.db, &user, "bench", &public).await.map_err(err)?;
    pin_host(ssh_port, &known_hosts)?;
    let refs_root = root.join("reference");
    std::fs::create_dir_all(&refs_root).map_err(err)?;
    let reference = match start_sshd(&root, &public, &known_hosts) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("(no plain sshd to compare with: {why}; comparing with git daemon)");
            start_daemon(&refs_root)?
        }
    };
    let ssh = format!("core.sshCommand={}", ssh_command(&key, &known_hosts));
    let source = history.to_str().ok_or("path")?;
    let objects = git(history, &["rev-list", "--objects", "--all"])?.lines().count();

    // Per trial: three empty repositories, one push each (order rotated), then one clone each.
    let (mut push, mut clone): (Vec<[Duration; 3]>, Vec<[Duration; 3]>) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let mut urls: Vec<String> = Vec::new();
        for transport in ["ssh", "http"] {
            let name = format!("{transport}-{trial}");
            repos::create(&st.db, &st.store, &user, &RepoName::parse(&name).map_err(err)?, "", false).await.map_err(err)?;
            urls.push(match transport {
                "ssh" => format!("ssh://git@127.0.0.1:{ssh_port}/bench/{name}.git"),
                _ => format!("http://oauth2:{token}@{}/bench/{name}.git", server.addr),
            });
        }
        let bare = refs_root.join(format!("ref-{trial}.git"));
        git(&refs_root, &["init", "-q", "--bare", bare.to_str().ok_or("path")?])?;
        urls.push(reference.url(&bare));
        let (pushes, clones) = tokio::task::block_in_place(|| -> Result<([Duration; 3], [Duration; 3]), String> {
            let mut pushes = [Duration::ZERO; 3];
            let mut clones = [Duration::ZERO; 3];
            for i in (0..3).map(|i| (i + trial) % 3) {
                pushes[i] = timed(|| git(history, &["-c", &ssh, "push", "-q", &urls[i], "main", "--tags"]))?;
            }
            for i in (0..3).map(|i| (i + trial) % 3) {
                let dest = root.join(format!("clone-{trial}-{i}"));
                clones[i] = timed(|| git(&root, &["-c", &ssh, "clone", "-q", "--bare", &urls[i], dest.to_str().unwrap_or("x")]))?;
                let _ = std::fs::remove_dir_all(&dest);
            }
            Ok((pushes, clones))
        })?;
        push.push(pushes);
        clone.push(clones);
    }
    let column = |rows: &[[Duration; 3]], i: usize| median(rows.iter().map(|r| r[i]).collect());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    println!("Git over SSH: {source} ({objects} objects), real git client, median of {TRIALS}");
    println!();
    println!("| scenario | GitBlixt SSH | GitBlixt HTTP | {} | SSH / {} | SSH / HTTP |", reference.name(), match reference {
        Reference::Sshd { .. } => "sshd",
        Reference::Daemon { .. } => "daemon",
    });
    println!("|---|---|---|---|---|---|");
    for (label, rows) in [("push to an empty repository", &push), ("clone (bare)", &clone)] {
        let (s, h, r) = (column(rows, 0), column(rows, 1), column(rows, 2));
        println!(
            "| {label} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {:.2} |",
            ms(s),
            ms(h),
            ms(r),
            s.as_secs_f64() / r.as_secs_f64(),
            s.as_secs_f64() / h.as_secs_f64()
        );
    }
    println!();
    drop(reference);
    server.stop().await.map_err(err)?;
    Ok(())
}
