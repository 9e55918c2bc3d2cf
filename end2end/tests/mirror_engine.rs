//! The mirror engine (gix) against a real `git http-backend`, both directions, compared with the
//! real `git`: `git for-each-ref` of both sides identical and `git fsck --strict` clean after every
//! scenario, and every error class.

use github_double::gitcli::{git, ok};
use github_double::http_backend::{Auth, Fault, HttpBackend};
use gitblixt::mirror::{self, FetchMode, MirrorError, RefOutcome, Safety, TransferOptions, TransferReport};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

const TOKEN: &str = "ghs_test_token_3f9a1c";

fn refs(dir: &Path) -> String {
    ok(dir, &["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"])
}

fn fsck(dir: &Path) {
    ok(dir, &["fsck", "--strict", "--no-dangling"]);
}

fn commit(dir: &Path, file: &str, content: &str) -> String {
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(file), content).unwrap();
    ok(dir, &["add", "-A"]);
    ok(dir, &["commit", "-q", "-m", &format!("change {file}")]);
    ok(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A work tree plus a bare copy of it (the "local" GitBlixt repository).
struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    local: PathBuf,
    backend: HttpBackend,
}

impl Fixture {
    async fn new(auth: Auth) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        ok(&work, &["init", "-q", "-b", "main"]);
        commit(&work, "README", "hello\n");
        commit(&work, "src/a.rs", "fn a() {}\n");
        ok(&work, &["checkout", "-q", "-b", "topic"]);
        commit(&work, "src/b.rs", "fn b() {}\n");
        ok(&work, &["checkout", "-q", "main"]);
        commit(&work, "src/c.rs", "fn c() {}\n");
        ok(&work, &["merge", "-q", "--no-ff", "-m", "merge topic", "topic"]);
        ok(&work, &["tag", "light", "main~1"]);
        ok(&work, &["tag", "-a", "v1", "-m", "v1"]);
        let tree = ok(&work, &["rev-parse", "main^{tree}"]).trim().to_string();
        ok(&work, &["tag", "-a", "tree-tag", "-m", "tree", &tree]);
        let remote_root = tmp.path().join("remote");
        std::fs::create_dir(&remote_root).unwrap();
        ok(&remote_root, &["init", "-q", "--bare", "r.git"]);
        ok(&remote_root.join("r.git"), &["config", "receive.fsckObjects", "true"]);
        let local = tmp.path().join("local.git");
        ok(tmp.path(), &["clone", "-q", "--mirror", work.to_str().unwrap(), "local.git"]);
        let backend = HttpBackend::start(remote_root, auth).await.unwrap();
        Self { _tmp: tmp, work, local, backend }
    }

    fn remote(&self) -> PathBuf {
        self.backend.root.join("r.git")
    }

    fn url(&self) -> String {
        self.backend.url("r.git")
    }

    /// Fills the remote with the work tree's refs, with git itself.
    fn fill_remote(&self) {
        ok(&self.work, &["push", "-q", "--mirror", self.remote().to_str().unwrap()]);
    }

    /// A new, empty bare repository `name` beside the fixture's others.
    fn empty_repository(&self, name: &str) -> PathBuf {
        ok(self._tmp.path(), &["init", "-q", "--bare", name]);
        self._tmp.path().join(name)
    }

    /// A pull mirror (memory `1`) of the remote filled with the work tree's refs, synced once.
    async fn synced_pull_mirror(&self) -> PathBuf {
        self.fill_remote();
        let m = self.empty_repository("mirror.git");
        mirror::fetch(&self.url(), &m, FetchMode::Mirror, &pull("1", "1", false)).await.unwrap();
        assert_eq!(refs(&m), refs(&self.remote()));
        m
    }

    /// Makes `local` equal to the work tree's heads and tags.
    fn sync_local(&self) {
        ok(&self.local, &["fetch", "-q", "--prune", "--prune-tags", self.work.to_str().unwrap(), "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    }
}

fn opts() -> TransferOptions {
    TransferOptions { token: Some(TOKEN.to_string().into()), ..TransferOptions::default() }
}

/// Pull mirror `1`'s view of the remote (its staging refs), as `refs` shows refs.
fn staged(m: &Path) -> String {
    ok(m, &["for-each-ref", "--format=%(objectname) %(refname)", "refs/gitblixt/remote/1/"]).replace("refs/gitblixt/remote/1/", "")
}

fn outcome(report: &TransferReport, name: &str) -> RefOutcome {
    report.refs.iter().find(|r| r.name == name).map(|r| r.outcome.clone()).unwrap_or_else(|| panic!("{name} in {report:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mirror_initial_incremental_force_delete_and_noop() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;

    let phases = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = phases.clone();
    let with_progress = TransferOptions {
        progress: Some(std::sync::Arc::new(move |p: mirror::Progress| seen.lock().unwrap().push(p.phase))),
        ..opts()
    };
    let r = mirror::push(&f.local, &f.url(), &with_progress).await.unwrap();
    assert_eq!(refs(&f.remote()), refs(&f.local));
    fsck(&f.remote());
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::Created);
    let phases = phases.lock().unwrap().clone();
    assert!(phases.contains(&mirror::Phase::Counting) && phases.contains(&mirror::Phase::Sending), "{phases:?}");
    assert_eq!(outcome(&r, "refs/tags/tree-tag"), RefOutcome::Created);
    let all_objects = ok(&f.local, &["rev-list", "--objects", "--all"]).lines().count() as u64;
    assert_eq!(r.objects, all_objects);

    // Incremental: one commit changing one file sends commit + tree + blob.
    commit(&f.work, "README", "hello again\n");
    f.sync_local();
    let r = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::Updated);
    assert_eq!(r.objects, 3, "{r:?}");
    assert_eq!(refs(&f.remote()), refs(&f.local));

    // New branch at an existing commit: an empty pack.
    ok(&f.work, &["branch", "same-as-main"]);
    f.sync_local();
    let r = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/same-as-main"), RefOutcome::Created);
    assert_eq!(r.objects, 0);

    // Force push (rewritten history), branch and tag deletion.
    let before = ok(&f.remote(), &["rev-parse", "main"]).trim().to_string();
    ok(&f.work, &["commit", "-q", "--amend", "-m", "rewritten"]);
    ok(&f.work, &["branch", "-D", "topic"]);
    ok(&f.work, &["tag", "-d", "light"]);
    f.sync_local();
    let r = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    let main = r.refs.iter().find(|x| x.name == "refs/heads/main").unwrap();
    assert_eq!(main.outcome, RefOutcome::ForceUpdated);
    assert_eq!(main.old.as_deref(), Some(before.as_str()));
    assert_eq!(outcome(&r, "refs/heads/topic"), RefOutcome::Deleted);
    assert_eq!(outcome(&r, "refs/tags/light"), RefOutcome::Deleted);
    assert_eq!(refs(&f.remote()), refs(&f.local));
    fsck(&f.remote());

    // No-op: nothing changes and no pack is sent.
    let posts = f.backend.seen.receive_pack_posts.load(Ordering::SeqCst);
    let r = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert!(r.refs.iter().all(|x| x.outcome == RefOutcome::Unchanged), "{r:?}");
    assert_eq!(f.backend.seen.receive_pack_posts.load(Ordering::SeqCst), posts);

    // Other namespaces are neither sent nor deleted.
    ok(&f.remote(), &["update-ref", "refs/pull/1/head", &before]);
    ok(&f.local, &["update-ref", "refs/notes/commits", &before]);
    mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert!(git(&f.remote(), &["rev-parse", "--verify", "refs/pull/1/head"]).status.success());
    assert!(!git(&f.remote(), &["rev-parse", "--verify", "refs/notes/commits"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reports_a_hook_rejection_per_ref_and_overwrites_unrelated_history() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    // The remote has unrelated history on main.
    let other = f.backend.root.join("other");
    std::fs::create_dir(&other).unwrap();
    ok(&other, &["init", "-q", "-b", "main"]);
    commit(&other, "unrelated", "x");
    ok(&other, &["push", "-q", f.remote().to_str().unwrap(), "main"]);
    // And a hook that refuses the topic branch.
    let hook = f.remote().join("hooks/update");
    std::fs::write(&hook, "#!/bin/sh\nif [ \"$1\" = refs/heads/topic ]; then echo 'topic is protected' >&2; exit 1; fi\nexit 0\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&hook).status().unwrap();

    let r = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::ForceUpdated);
    assert!(matches!(outcome(&r, "refs/heads/topic"), RefOutcome::Rejected(reason) if reason.contains("hook declined")));
    assert_eq!(ok(&f.remote(), &["rev-parse", "main"]), ok(&f.local, &["rev-parse", "main"]));
    assert!(!git(&f.remote(), &["rev-parse", "--verify", "refs/heads/topic"]).status.success());
    fsck(&f.remote());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_fetch_loose_and_packed_repositories() {
    for packed in [false, true] {
        let f = Fixture::new(Auth::Password(TOKEN.into())).await;
        if packed {
            // With a reachability bitmap, the initial push sends the stored pack as it is.
            ok(&f.local, &["repack", "-adbq"]);
            ok(&f.local, &["pack-refs", "--all"]);
        } else {
            // Explode into loose objects.
            let packs: Vec<_> = std::fs::read_dir(f.local.join("objects/pack")).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "pack")).collect();
            for pack in packs {
                let moved = f.local.join("tmp.pack");
                std::fs::rename(&pack, &moved).unwrap();
                std::fs::remove_file(pack.with_extension("idx")).unwrap();
                let out = Command::new("git").arg("--git-dir").arg(&f.local).arg("unpack-objects").arg("-q").stdin(std::fs::File::open(&moved).unwrap()).output().unwrap();
                assert!(out.status.success());
                std::fs::remove_file(moved).unwrap();
            }
        }
        mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
        assert_eq!(refs(&f.remote()), refs(&f.local), "packed={packed}");
        fsck(&f.remote());
        let back = f._tmp.path().join("back.git");
        ok(f._tmp.path(), &["init", "-q", "--bare", "back.git"]);
        mirror::fetch(&f.url(), &back, FetchMode::Mirror, &opts()).await.unwrap();
        assert_eq!(refs(&back), refs(&f.local), "packed={packed}");
        fsck(&back);
    }
}

/// An initial push sends every reachable object exactly once wherever it is stored — a pack with
/// a reachability bitmap (which the counting uses), a second pack and loose objects at once — and
/// leaves out a submodule's commit (it lives in another repository).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_push_counts_objects_across_packs_and_loose_and_skips_submodule_commits() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    ok(&f.local, &["repack", "-adbq"]);
    ok(&f.work, &["update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,vendor/lib"]);
    std::fs::write(f.work.join(".gitmodules"), "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n").unwrap();
    ok(&f.work, &["add", ".gitmodules"]);
    ok(&f.work, &["commit", "-q", "-m", "add a submodule"]);
    ok(&f.work, &["tag", "with-submodule"]);
    commit(&f.work, "docs/guide.md", "guide\n");
    f.sync_local();
    // The fetched objects arrived loose: pack them into a second pack, then add more loose ones.
    ok(&f.local, &["repack", "-dq"]);
    commit(&f.work, "docs/more.md", "more\n");
    ok(&f.work, &["tag", "-a", "v2", "-m", "v2"]);
    f.sync_local();
    let stored = ok(&f.local, &["count-objects", "-v"]);
    assert!(stored.contains("packs: 2") && !stored.contains("\ncount: 0"), "two packs and loose objects: {stored}");

    let r = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    let reachable = ok(&f.local, &["rev-list", "--objects", "--all"]).lines().count();
    assert_eq!(r.objects, reachable as u64, "{r:?}");
    assert_eq!(refs(&f.remote()), refs(&f.local));
    fsck(&f.remote());
    let tree = ok(&f.remote(), &["ls-tree", "with-submodule", "vendor/lib"]);
    assert!(tree.starts_with("160000 commit 1111111111111111111111111111111111111111"), "{tree}");
}

/// A pull mirror's options: memory `mirror`, what it replaces kept under run `run`.
fn pull(mirror: &str, run: &str, overwrite_diverged: bool) -> TransferOptions {
    TransferOptions { safety: Safety { keep_key: run.into(), memory: Some(mirror.into()), overwrite_diverged }, ..opts() }
}

fn rev(dir: &Path, name: &str) -> String {
    ok(dir, &["rev-parse", name]).trim().to_string()
}

fn exists(dir: &Path, name: &str) -> bool {
    git(dir, &["rev-parse", "--verify", "-q", name]).status.success()
}

fn result<'a>(report: &'a TransferReport, name: &str) -> &'a mirror::RefResult {
    report.refs.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{name} in {report:?}"))
}

/// Commits to `branch` of the bare repository `bare` through a clone, as a user's push would.
fn push_commit(bare: &Path, branch: &str, file: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("c");
    ok(tmp.path(), &["clone", "-q", bare.to_str().unwrap(), "c"]);
    ok(&clone, &["checkout", "-q", "-B", branch, &format!("origin/{branch}")]);
    let id = commit(&clone, file, file);
    ok(&clone, &["push", "-q", "origin", branch]);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_mirror_follows_upstream_rewrites_keeps_replaced_tips_and_leaves_local_work() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    // The remote is the source here: fill it with git itself, plus refs that must not arrive.
    f.fill_remote();
    let main = rev(&f.work, "main");
    ok(&f.remote(), &["update-ref", "refs/pull/7/head", &main]);
    ok(&f.remote(), &["update-ref", "refs/notes/x", &main]);

    let m = f.empty_repository("mirror.git");
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "10", false)).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::Created);
    assert_eq!(refs(&m), refs(&f.work));
    assert!(!exists(&m, "refs/pull/7/head") && !exists(&m, "refs/notes/x"));
    assert_eq!(rev(&m, "refs/gitblixt/synced/1/refs/heads/main"), main, "the mirror remembers what it wrote");
    fsck(&m);

    // No-op: one ref listing (protocol v2's ls-refs) and no fetch request — no negotiation — and
    // nothing received or written.
    let posts = f.backend.seen.upload_pack_posts.load(Ordering::SeqCst);
    let packed_refs = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(m.join("packed-refs")).unwrap());
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "11", false)).await.unwrap();
    assert!(r.refs.iter().all(|x| x.outcome == RefOutcome::Unchanged), "{r:?}");
    assert_eq!(r.objects, 0);
    assert_eq!(f.backend.seen.upload_pack_posts.load(Ordering::SeqCst) - posts, 1, "one ref listing, no negotiation");
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(m.join("packed-refs")).unwrap()), packed_refs, "no ref rewritten");

    // In GitBlixt: a user pushes a commit to main and creates a branch of their own.
    let local_work = push_commit(&m, "main", "local-work");
    ok(&m, &["branch", "mine", &main]);
    // On GitHub: topic is force-pushed, the tag `light` deleted, main gets a commit of its own.
    let (topic, light) = (rev(&f.work, "topic"), rev(&f.work, "light"));
    ok(&f.work, &["checkout", "-q", "topic"]);
    ok(&f.work, &["commit", "-q", "--amend", "-m", "rewritten upstream"]);
    ok(&f.work, &["checkout", "-q", "main"]);
    let upstream_main = commit(&f.work, "upstream", "u");
    ok(&f.work, &["push", "-q", "--force", f.remote().to_str().unwrap(), "main", "topic", ":refs/tags/light"]);

    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "12", false)).await.unwrap();
    // main diverged: left as it is, reported.
    let main_result = result(&r, "refs/heads/main");
    assert_eq!(main_result.outcome, RefOutcome::Diverged);
    assert!(main_result.note.as_deref().unwrap().contains("main has diverged"), "{main_result:?}");
    assert_eq!(rev(&m, "main"), local_work);
    // topic was the mirror's: the upstream force push is applied, the old tip kept.
    assert_eq!(outcome(&r, "refs/heads/topic"), RefOutcome::ForceUpdated);
    assert_eq!(rev(&m, "topic"), rev(&f.work, "topic"));
    assert_eq!(rev(&m, "refs/gitblixt/kept/12/refs/heads/topic"), topic);
    assert_eq!(result(&r, "refs/heads/topic").kept.as_deref(), Some("refs/gitblixt/kept/12/refs/heads/topic"));
    // light was pruned, and kept; `mine` (created in GitBlixt) is never pruned.
    assert_eq!(outcome(&r, "refs/tags/light"), RefOutcome::Deleted);
    assert!(!exists(&m, "refs/tags/light"));
    assert_eq!(rev(&m, "refs/gitblixt/kept/12/refs/tags/light"), light);
    assert_eq!(rev(&m, "mine"), main);
    fsck(&m);

    // Told to overwrite diverged branches: main becomes GitHub's, GitBlixt's tip is kept.
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "13", true)).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::ForceUpdated);
    assert_eq!(rev(&m, "main"), upstream_main);
    assert_eq!(rev(&m, "refs/gitblixt/kept/13/refs/heads/main"), local_work);
    assert_eq!(rev(&m, "mine"), main);
    // Every head and tag but `mine` is GitHub's.
    ok(&m, &["branch", "-D", "mine"]);
    assert_eq!(refs(&m), refs(&f.remote()));
    // Kept tips survive the most aggressive gc.
    ok(&m, &["gc", "-q", "--prune=now"]);
    assert_eq!(ok(&m, &["cat-file", "-t", &local_work]).trim(), "commit");
    assert_eq!(ok(&m, &["cat-file", "-t", &topic]).trim(), "commit");
    fsck(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_once_creates_and_fast_forwards_but_never_overwrites_unless_asked() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    f.fill_remote();
    let o = f.empty_repository("once.git");
    // Public: fetched without any credentials.
    let r = mirror::fetch(&f.url(), &o, FetchMode::Once, &TransferOptions::default()).await.unwrap();
    assert!(r.refs.iter().all(|x| x.outcome == RefOutcome::Created));

    // GitBlixt has its own main now; GitHub rewrites topic, moves main on, and retags v1.
    let mine = push_commit(&o, "main", "mine");
    let (topic, v1) = (rev(&o, "topic"), rev(&o, "v1"));
    ok(&f.work, &["checkout", "-q", "topic"]);
    ok(&f.work, &["commit", "-q", "--amend", "-m", "rewritten"]);
    ok(&f.work, &["checkout", "-q", "main"]);
    commit(&f.work, "more", "more");
    ok(&f.work, &["tag", "-f", "-a", "v1", "-m", "moved"]);
    ok(&f.work, &["branch", "new-upstream"]);
    ok(&f.work, &["push", "-q", "--force", "--mirror", f.remote().to_str().unwrap()]);
    let r = mirror::fetch(&f.url(), &o, FetchMode::Once, &TransferOptions { safety: Safety { keep_key: "20".into(), ..Safety::default() }, ..opts() }).await.unwrap();
    for name in ["refs/heads/main", "refs/heads/topic", "refs/tags/v1"] {
        let x = result(&r, name);
        assert_eq!((x.outcome.clone(), x.note.as_deref()), (RefOutcome::Diverged, Some("kept GitBlixt's (diverged)")), "{name}");
    }
    assert_eq!(outcome(&r, "refs/heads/new-upstream"), RefOutcome::Created);
    assert_eq!((rev(&o, "main"), rev(&o, "topic"), rev(&o, "v1")), (mine.clone(), topic.clone(), v1.clone()));
    assert!(!exists(&o, "refs/gitblixt/kept/20/refs/heads/main"), "nothing replaced, nothing kept");

    // With Overwrite diverged branches: GitHub's, each GitBlixt tip kept.
    let r = mirror::fetch(&f.url(), &o, FetchMode::Once, &TransferOptions { safety: Safety { keep_key: "21".into(), overwrite_diverged: true, ..Safety::default() }, ..opts() }).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::ForceUpdated);
    assert_eq!((rev(&o, "refs/gitblixt/kept/21/refs/heads/main"), rev(&o, "refs/gitblixt/kept/21/refs/heads/topic"), rev(&o, "refs/gitblixt/kept/21/refs/tags/v1")), (mine, topic, v1));
    assert_eq!(refs(&o), refs(&f.remote()));
    fsck(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_keeps_what_it_replaces_that_it_did_not_push_itself() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    let push_opts = |run: &str| TransferOptions { safety: Safety { keep_key: run.into(), memory: Some("5".into()), overwrite_diverged: false }, ..opts() };
    mirror::push(&f.local, &f.url(), &push_opts("30")).await.unwrap();
    assert_eq!(refs(&f.remote()), refs(&f.local));
    assert_eq!(rev(&f.local, "refs/gitblixt/synced/5/refs/heads/main"), rev(&f.local, "main"));

    // GitBlixt rewrites main itself (the mirror's own last push is replaced: the local reflog
    // has it, nothing is kept).
    ok(&f.work, &["commit", "-q", "--amend", "-m", "rewritten here"]);
    f.sync_local();
    let r = mirror::push(&f.local, &f.url(), &push_opts("31")).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::ForceUpdated);
    assert!(result(&r, "refs/heads/main").kept.is_none());
    assert!(!exists(&f.local, "refs/gitblixt/kept/31/refs/heads/main"));

    // Someone pushes two commits to GitHub's main directly, and a branch only GitHub has.
    let direct = tempfile::tempdir().unwrap();
    ok(direct.path(), &["clone", "-q", f.remote().to_str().unwrap(), "d"]);
    let d = direct.path().join("d");
    ok(&d, &["checkout", "-q", "-B", "main", "origin/main"]);
    commit(&d, "direct-1", "1");
    let direct_tip = commit(&d, "direct-2", "2");
    ok(&d, &["push", "-q", "origin", "main", "main:refs/heads/github-only"]);
    // GitBlixt moves main on too: the next push overwrites GitHub's main and deletes github-only.
    commit(&f.work, "here", "here");
    f.sync_local();
    assert!(!git(&f.local, &["cat-file", "-e", &direct_tip]).status.success(), "GitBlixt does not have GitHub's commits");
    let r = mirror::push(&f.local, &f.url(), &push_opts("32")).await.unwrap();
    let main = result(&r, "refs/heads/main");
    assert_eq!(main.outcome, RefOutcome::ForceUpdated);
    assert_eq!(main.note.as_deref(), Some("overwrote 2 commits pushed directly to GitHub on main; kept, restore from this run"));
    assert_eq!(rev(&f.local, "refs/gitblixt/kept/32/refs/heads/main"), direct_tip, "fetched from GitHub and kept");
    assert_eq!(outcome(&r, "refs/heads/github-only"), RefOutcome::Deleted);
    assert_eq!(rev(&f.local, "refs/gitblixt/kept/32/refs/heads/github-only"), direct_tip);
    assert_eq!(refs(&f.remote()), refs(&f.local), "mirror semantics: GitHub equals GitBlixt");
    // Kept refs are never pushed.
    assert!(!exists(&f.remote(), "refs/gitblixt/kept/32/refs/heads/main"));
    fsck(&f.local);
    fsck(&f.remote());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_lists_what_a_first_push_would_replace() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    // An empty remote: nothing to replace.
    assert!(mirror::preview_push(&f.local, &f.url(), &opts()).await.unwrap().is_empty());
    // GitHub has main behind GitBlixt's (an ancestor: no loss), a branch and a tag of its own,
    // and a topic with a commit GitBlixt lacks.
    let main_parent = rev(&f.work, "main~1");
    ok(&f.work, &["push", "-q", f.remote().to_str().unwrap(), &format!("{main_parent}:refs/heads/main")]);
    let other = f._tmp.path().join("other");
    ok(f._tmp.path(), &["clone", "-q", f.work.to_str().unwrap(), "other"]);
    ok(&other, &["checkout", "-q", "topic"]);
    commit(&other, "only-on-github", "x");
    ok(&other, &["push", "-q", f.remote().to_str().unwrap(), "topic", "topic:refs/heads/feature", "main~1:refs/tags/gh-tag"]);
    let r = mirror::preview_push(&f.local, &f.url(), &opts()).await.unwrap();
    let names: Vec<(&str, Option<&str>, u64)> = r.iter().map(|x| (x.name.as_str(), x.gitblixt.as_deref(), x.commits_only_on_github)).collect();
    let topic_here = rev(&f.local, "topic");
    assert_eq!(
        names,
        vec![("refs/heads/feature", None, 1), ("refs/heads/topic", Some(topic_here.as_str()), 1), ("refs/tags/gh-tag", None, 0)]
    );
    // Nothing changed in GitBlixt.
    assert!(!exists(&f.local, "refs/heads/feature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_into_an_empty_repository_takes_the_remotes_default_branch() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    f.fill_remote();
    // GitHub's default branch is not `main`.
    ok(&f.remote(), &["symbolic-ref", "HEAD", "refs/heads/topic"]);
    let tmp = tempfile::tempdir().unwrap();
    for (name, mode) in [("mirror.git", FetchMode::Mirror), ("once.git", FetchMode::Once)] {
        ok(tmp.path(), &["init", "-q", "--bare", "-b", "trunk", name]);
        let local = tmp.path().join(name);
        let r = mirror::fetch(&f.url(), &local, mode, &opts()).await.unwrap();
        assert!(r.refs.iter().all(|x| x.name != "HEAD"), "HEAD is not reported as a ref: {r:?}");
        assert_eq!(ok(&local, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/topic", "{name}");
        // A clone gets the default branch checked out, without "remote HEAD refers to nonexistent ref".
        let clone = tmp.path().join(format!("clone-{name}"));
        let out = git(tmp.path(), &["clone", local.to_str().unwrap(), clone.to_str().unwrap()]);
        assert!(out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("nonexistent ref"), "{out:?}");
        assert_eq!(ok(&clone, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "topic");
    }
    // A HEAD that names an existing branch is the owner's choice: a later fetch keeps it.
    let local = tmp.path().join("mirror.git");
    ok(&local, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    mirror::fetch(&f.url(), &local, FetchMode::Mirror, &opts()).await.unwrap();
    assert_eq!(ok(&local, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class_is_reported_without_the_token() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    f.fill_remote();
    let into = f.empty_repository("into.git");
    let check = |e: &MirrorError| {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    };

    // 401: a wrong token, for both directions.
    let wrong = TransferOptions { token: Some("wrong-token".to_string().into()), ..TransferOptions::default() };
    let e = mirror::push(&f.local, &f.url(), &wrong).await.unwrap_err();
    assert_eq!(e, MirrorError::Authentication, "{e:?}");
    f.backend.set_auth(Auth::Private(TOKEN.into()));
    let e = mirror::fetch(&f.url(), &into, FetchMode::Mirror, &wrong).await.unwrap_err();
    assert_eq!(e, MirrorError::Authentication, "{e:?}");
    let e = mirror::fetch(&f.url(), &into, FetchMode::Mirror, &TransferOptions::default()).await.unwrap_err();
    assert_eq!(e, MirrorError::Authentication, "anonymous on a private repository: {e:?}");
    // 404: no such repository.
    let missing = f.backend.url("missing.git");
    let e = mirror::fetch(&missing, &into, FetchMode::Mirror, &opts()).await.unwrap_err();
    assert_eq!(e, MirrorError::NotFound, "{e:?}");
    check(&e);
    let e = mirror::push(&f.local, &missing, &opts()).await.unwrap_err();
    assert_eq!(e, MirrorError::NotFound, "{e:?}");
    // 403 and 5xx.
    f.backend.set_fault(Fault::Status(403));
    let e = mirror::push(&f.local, &f.url(), &opts()).await.unwrap_err();
    assert_eq!(e, MirrorError::Permission, "{e:?}");
    f.backend.set_fault(Fault::Status(500));
    let e = mirror::fetch(&f.url(), &into, FetchMode::Mirror, &opts()).await.unwrap_err();
    assert_eq!(e, MirrorError::Server { status: 500 }, "{e:?}");
    assert!(e.is_retryable());
    let e = mirror::push(&f.local, &f.url(), &opts()).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    check(&e);
    // A dropped connection mid-transfer.
    f.backend.set_fault(Fault::DropTransfer);
    let e = mirror::fetch(&f.url(), &into, FetchMode::Mirror, &opts()).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    check(&e);
    // A stall: no bytes for longer than the stall timeout.
    f.backend.set_fault(Fault::StallTransfer);
    let quick = TransferOptions { stall_timeout: Duration::from_secs(2), ..opts() };
    let e = mirror::fetch(&f.url(), &into, FetchMode::Mirror, &quick).await.unwrap_err();
    assert!(matches!(e, MirrorError::Timeout { .. }), "{e:?}");
    check(&e);
    // Nothing was written by the failed runs.
    assert_eq!(refs(&into), "");
    f.backend.set_fault(Fault::None);
    // Cancellation.
    let cancelled = opts();
    cancelled.interrupt.store(true, Ordering::SeqCst);
    let e = mirror::fetch(&f.url(), &into, FetchMode::Mirror, &cancelled).await.unwrap_err();
    assert_eq!(e, MirrorError::Interrupted);
    // A token is never sent over plain http to another machine, and never taken from the URL.
    let e = mirror::push(&f.local, "http://example.com/o/r.git", &opts()).await.unwrap_err();
    assert!(matches!(e, MirrorError::InvalidUrl { .. }));
    let e = mirror::push(&f.local, &format!("http://u:{TOKEN}@{}/r.git", f.backend.addr), &opts()).await.unwrap_err();
    assert!(matches!(e, MirrorError::InvalidUrl { .. }));
    check(&e);
}

/// GitHub answers a renamed repository's old URL with a 301 to its new one. git follows it on the
/// first request of a conversation and sends the rest to the new URL; so do a first fetch, a later
/// pull (the conversation of its own in `fetch::changed`) and a push, all given the old URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_pull_and_push_follow_a_renamed_repositorys_redirect() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    f.fill_remote();
    f.backend.set_fault(Fault::Moved { from: "old-name.git".into(), to: "r.git".into() });
    let old = f.backend.url("old-name.git");
    // The redirect is one the real git follows.
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["clone", "-q", "--mirror", &old, "by-git.git"]);
    assert_eq!(refs(&tmp.path().join("by-git.git")), refs(&f.remote()));

    let m = f.empty_repository("mirror.git");
    mirror::fetch(&old, &m, FetchMode::Mirror, &pull("1", "1", false)).await.unwrap();
    assert_eq!(refs(&m), refs(&f.remote()));
    push_commit(&f.remote(), "main", "upstream.txt");
    let posts = f.backend.seen.upload_pack_posts.load(Ordering::SeqCst);
    mirror::fetch(&old, &m, FetchMode::Mirror, &pull("1", "2", false)).await.unwrap();
    assert_eq!(refs(&m), refs(&f.remote()));
    assert!(f.backend.seen.upload_pack_posts.load(Ordering::SeqCst) > posts, "the later pull's POSTs reached the renamed repository");
    fsck(&m);

    commit(&f.work, "src/d.rs", "fn d() {}\n");
    f.sync_local();
    let r = mirror::push(&f.local, &old, &opts()).await.unwrap();
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::ForceUpdated, "{r:?}");
    assert_eq!(refs(&f.remote()), refs(&f.local));
    fsck(&f.remote());
}

/// A remote that stops taking a push's pack (it answered, and reads no more of the request) is
/// found out by the stall timeout: the push ends with a timeout a moment later, instead of waiting
/// for the system to give up on the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_pack_the_remote_stops_taking_ends_with_a_timeout() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    // 48 MiB that do not compress (xorshift): more than the connection's buffers hold.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..(48usize << 20) / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    std::fs::write(f.work.join("noise.bin"), noise).unwrap();
    ok(&f.work, &["add", "noise.bin"]);
    ok(&f.work, &["commit", "-q", "-m", "noise"]);
    f.sync_local();
    f.backend.set_fault(Fault::StallTransfer);
    let quick = TransferOptions { stall_timeout: Duration::from_secs(2), ..opts() };
    let started = std::time::Instant::now();
    let e = mirror::push(&f.local, &f.url(), &quick).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, MirrorError::Timeout { .. }), "{e:?}");
    // The stall timeout ended it, not the system's own TCP timeout (half a minute and more here).
    assert!(took < Duration::from_secs(15), "the push took {took:?} to end");
    assert_eq!(refs(&f.remote()), "", "nothing reached the remote");
}

/// A large text file whose every version differs a little, so `git repack` stores versions as deltas.
fn big_text(version: usize) -> String {
    (0..4000).map(|i| if i == 2000 { format!("line {i} changed in version {version}\n") } else { format!("line {i} of a long file that compresses poorly {}\n", i * 7919 % 10007) }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_push_sends_deltas_against_what_the_remote_has_and_only_that() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    commit(&f.work, "big.txt", &big_text(0));
    f.sync_local();
    mirror::push(&f.local, &f.url(), &opts()).await.unwrap();

    // 1. The new version of big.txt is stored as a delta against the version the remote has: the
    //    push sends that delta (a thin pack the remote completes), not the ~200 KB file.
    commit(&f.work, "big.txt", &big_text(1));
    f.sync_local();
    ok(&f.local, &["repack", "-adq", "-f", "--window=50"]);
    let report = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert_eq!(outcome(&report, "refs/heads/main"), RefOutcome::Updated);
    assert!(report.bytes < 20_000, "a one-line change sent {} bytes", report.bytes);
    assert_eq!(refs(&f.remote()), refs(&f.local));
    fsck(&f.remote());

    // 2. A version whose delta base exists locally only under a ref that is not mirrored (so the
    //    remote never got it): it must go whole, or the remote could not complete the pack.
    ok(&f.work, &["checkout", "-q", "--orphan", "elsewhere"]);
    ok(&f.work, &["rm", "-rfq", "."]);
    // git makes the larger of two similar blobs the delta base: the hidden one is larger.
    commit(&f.work, "shared.txt", &(big_text(7) + &"a longer tail\n".repeat(500)));
    f.sync_local();
    let hidden = ok(&f.work, &["rev-parse", "elsewhere"]).trim().to_string();
    ok(&f.local, &["update-ref", "refs/keep/elsewhere", &hidden]);
    ok(&f.local, &["update-ref", "-d", "refs/heads/elsewhere"]);
    ok(&f.work, &["checkout", "-q", "main"]);
    ok(&f.work, &["branch", "-D", "elsewhere"]);
    commit(&f.work, "shared.txt", &big_text(7));
    f.sync_local();
    ok(&f.local, &["repack", "-adq", "-f", "--window=50"]);
    let shared = ok(&f.local, &["rev-parse", "main:shared.txt"]).trim().to_string();
    let hidden_blob = ok(&f.local, &["rev-parse", "refs/keep/elsewhere:shared.txt"]).trim().to_string();
    let pack = std::fs::read_dir(f.local.join("objects/pack")).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "idx")).unwrap();
    let verify = ok(&f.local, &["verify-pack", "-v", pack.to_str().unwrap()]);
    assert!(verify.lines().any(|l| l.starts_with(&shared) && l.ends_with(&hidden_blob)), "the fixture stores main's blob as a delta against the hidden one:\n{verify}");
    let report = mirror::push(&f.local, &f.url(), &opts()).await.unwrap();
    assert_eq!(outcome(&report, "refs/heads/main"), RefOutcome::Updated, "{report:?}");
    assert_eq!(refs(&f.remote()), refs(&f.local));
    assert!(!git(&f.remote(), &["cat-file", "-e", &hidden]).status.success(), "refs outside heads and tags are never sent");
    fsck(&f.remote());
}

/// A later pull that finds a few refs changed among unchanged ones (a branch moved on, one
/// created, one moved back to a commit the mirror has, an annotated tag added, one deleted)
/// fetches only those: one ref listing and one fetch, the new objects only, and the mirror's refs
/// and its view of the remote (staging) are then exactly GitHub's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_pull_fetches_only_the_refs_that_changed() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    let m = f.synced_pull_mirror().await;

    let old_main = rev(&f.work, "main");
    let new_main = commit(&f.work, "src/d.rs", "fn d() {}\n");
    ok(&f.work, &["branch", "fresh", "main~1"]);
    ok(&f.work, &["update-ref", "refs/heads/topic", &old_main]);
    ok(&f.work, &["tag", "-a", "v2", "-m", "v2"]);
    ok(&f.work, &["tag", "-d", "light"]);
    f.fill_remote();
    let posts = f.backend.seen.upload_pack_posts.load(Ordering::SeqCst);
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "2", false)).await.unwrap();
    assert_eq!(f.backend.seen.upload_pack_posts.load(Ordering::SeqCst) - posts, 2, "one ref listing, one fetch");
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::Updated);
    assert_eq!(outcome(&r, "refs/heads/fresh"), RefOutcome::Created);
    assert_eq!(outcome(&r, "refs/heads/topic"), RefOutcome::Updated, "a fast-forward to a commit the mirror had");
    assert_eq!(outcome(&r, "refs/tags/v2"), RefOutcome::Created);
    assert_eq!(outcome(&r, "refs/tags/light"), RefOutcome::Deleted);
    assert_eq!((outcome(&r, "refs/tags/v1"), outcome(&r, "refs/tags/tree-tag")), (RefOutcome::Unchanged, RefOutcome::Unchanged));
    // The new commit, its two trees and blob, the new tag object (and at most a delta base the
    // thin pack left out, completed from the mirror's own objects); not the history it had.
    assert!((5..=6).contains(&r.objects), "{r:?}");
    assert_eq!(rev(&m, "refs/heads/main"), new_main);
    assert_eq!(refs(&m), refs(&f.remote()));
    assert_eq!(staged(&m), refs(&f.remote()), "the staging is the remote's view");
    assert_eq!(std::fs::read_dir(m.join("objects/pack")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "keep")).count(), 0, "no .keep left");
    fsck(&m);

    // And a pull that finds nothing new lists the refs only.
    let posts = f.backend.seen.upload_pack_posts.load(Ordering::SeqCst);
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "3", false)).await.unwrap();
    assert_eq!(f.backend.seen.upload_pack_posts.load(Ordering::SeqCst) - posts, 1, "the ref listing only");
    assert_eq!(r.objects, 0);
    assert_eq!(refs(&m), refs(&f.remote()));
}

/// A pull mirror whose GitHub repository only deleted refs since the last sync: the ref listing is
/// the whole transfer (nothing to receive, no negotiation), and the deletions are applied — the
/// mirror's own refs pruned and kept, its staging of the remote dropped with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_finds_only_deletions_receives_nothing_and_applies_them() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    let m = f.synced_pull_mirror().await;

    let topic = rev(&f.remote(), "topic");
    ok(&f.remote(), &["update-ref", "-d", "refs/heads/topic"]);
    ok(&f.remote(), &["update-ref", "-d", "refs/tags/light"]);
    let posts = f.backend.seen.upload_pack_posts.load(Ordering::SeqCst);
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "2", false)).await.unwrap();
    assert_eq!(f.backend.seen.upload_pack_posts.load(Ordering::SeqCst) - posts, 1, "the ref listing only: no negotiation");
    assert_eq!((outcome(&r, "refs/heads/topic"), outcome(&r, "refs/tags/light")), (RefOutcome::Deleted, RefOutcome::Deleted));
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::Unchanged);
    assert_eq!(r.objects, 0);
    assert_eq!(refs(&m), refs(&f.remote()));
    assert_eq!(staged(&m), refs(&f.remote()), "the staging is the remote's view");
    assert_eq!(rev(&m, "refs/gitblixt/kept/2/refs/heads/topic"), topic);
    fsck(&m);
}

/// A later pull of a repository with more refs than are all sent as haves: the haves are the
/// changed refs' and the default branch's previous tips, in one fetch request. A fast-forward
/// still brings its new objects only; a branch created off a branch that did not change, and a
/// default branch rewritten onto a history the remote has pruned its old tip from, still bring
/// every object they need — the mirror's refs, its view of the remote and `fsck` agree each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_pull_of_many_refs_sends_few_haves_and_gets_every_object() {
    let f = Fixture::new(Auth::Password(TOKEN.into())).await;
    for i in 0..40 {
        ok(&f.work, &["checkout", "-q", "-b", &format!("b{i:02}"), "main"]);
        commit(&f.work, &format!("branches/b{i:02}.rs"), &format!("fn b{i}() {{}}\n"));
    }
    ok(&f.work, &["checkout", "-q", "main"]);
    let m = f.synced_pull_mirror().await;
    ok(&f.remote(), &["symbolic-ref", "HEAD", "refs/heads/main"]);

    // A fast-forward of main: its commit, the root and src trees, the blob (and at most a delta
    // base the thin pack left out, completed from the mirror's own objects).
    let new_main = commit(&f.work, "src/d.rs", "fn d() {}\n");
    f.fill_remote();
    let posts = f.backend.seen.upload_pack_posts.load(Ordering::SeqCst);
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "2", false)).await.unwrap();
    assert_eq!(f.backend.seen.upload_pack_posts.load(Ordering::SeqCst) - posts, 2, "one ref listing, one fetch");
    assert_eq!(outcome(&r, "refs/heads/main"), RefOutcome::Updated);
    assert!((4..=5).contains(&r.objects), "the new objects only: {} objects", r.objects);
    assert_eq!(rev(&m, "refs/heads/main"), new_main);
    assert_eq!((refs(&m), staged(&m)), (refs(&f.remote()), refs(&f.remote())));
    fsck(&m);

    // A branch off b05 (unchanged, so not a have) and a moved topic.
    ok(&f.work, &["checkout", "-q", "-b", "side", "b05"]);
    commit(&f.work, "side.rs", "fn side() {}\n");
    ok(&f.work, &["checkout", "-q", "topic"]);
    commit(&f.work, "topic.rs", "fn topic() {}\n");
    ok(&f.work, &["checkout", "-q", "main"]);
    f.fill_remote();
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "3", false)).await.unwrap();
    assert_eq!((outcome(&r, "refs/heads/side"), outcome(&r, "refs/heads/topic")), (RefOutcome::Created, RefOutcome::Updated));
    assert_eq!((refs(&m), staged(&m)), (refs(&f.remote()), refs(&f.remote())));
    fsck(&m);

    // main rewritten onto a new root; the remote prunes the old tip, so that have is unknown to it.
    ok(&f.work, &["checkout", "-q", "--orphan", "rewritten"]);
    let rewritten = commit(&f.work, "NEW", "a new history\n");
    ok(&f.work, &["branch", "-f", "main", "rewritten"]);
    ok(&f.work, &["checkout", "-q", "main"]);
    ok(&f.work, &["branch", "-D", "rewritten"]);
    f.fill_remote();
    ok(&f.remote(), &["gc", "-q", "--prune=now"]);
    assert!(!git(&f.remote(), &["cat-file", "-e", &new_main]).status.success(), "the old tip is gone from the remote");
    let r = mirror::fetch(&f.url(), &m, FetchMode::Mirror, &pull("1", "4", true)).await.unwrap();
    assert_eq!(rev(&m, "refs/heads/main"), rewritten, "{r:?}");
    assert_eq!((refs(&m), staged(&m)), (refs(&f.remote()), refs(&f.remote())));
    fsck(&m);
}
