//! The command an SSH client asks to run. Only git's two services run, on a path that names a
//! repository (`'/owner/repo.git'` as git sends it, or `owner/repo`); anything else — another
//! program, options, `..`, more than one argument, shell syntax — is refused before any lookup.

use crate::git_service::Service;
use app::names::{RepoName, UserName};

/// A git service on a repository, as an SSH client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRequest {
    pub service: Service,
    pub owner: String,
    /// Without `.git`.
    pub repo: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("GitBlixt: only git clone, fetch, pull and push are served over SSH")]
    NotAllowed,
    #[error("GitBlixt: not a repository path; use <owner>/<repository>.git")]
    BadPath,
}

/// The longest command line taken.
const MAX_COMMAND: usize = 1024;

/// Parses `git-upload-pack '/alice/project.git'` (also `git upload-pack …`, and an unquoted path).
pub fn parse(raw: &[u8]) -> Result<GitRequest, CommandError> {
    let text = std::str::from_utf8(raw).map_err(|_| CommandError::NotAllowed)?;
    if text.len() > MAX_COMMAND || text.chars().any(char::is_control) {
        return Err(CommandError::NotAllowed);
    }
    let (program, argument) = split_program(text.trim()).ok_or(CommandError::NotAllowed)?;
    let service = Service::parse(program).ok_or(CommandError::NotAllowed)?;
    let path = unquote(argument).ok_or(CommandError::BadPath)?;
    let (owner, repo) = repository_path(&path).ok_or(CommandError::BadPath)?;
    Ok(GitRequest { service, owner, repo })
}

/// `git-upload-pack ARG` or `git upload-pack ARG` → (`git-upload-pack`, `ARG`).
fn split_program(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix("git ") {
        let (sub, argument) = rest.split_once(' ')?;
        let program = match sub {
            "upload-pack" => "git-upload-pack",
            "receive-pack" => "git-receive-pack",
            _ => return None,
        };
        return Some((program, argument));
    }
    text.split_once(' ')
}

/// One shell word: `'…'` (with `'\''` for a quote, as git writes it) or plain characters that
/// need no quoting. Anything a shell would treat specially outside quotes is refused.
fn unquote(word: &str) -> Option<String> {
    if !word.starts_with('\'') {
        let plain = word.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-~".contains(&b));
        return plain.then(|| word.to_string());
    }
    let mut out = String::new();
    let mut rest = word;
    loop {
        let inner = rest.strip_prefix('\'')?;
        let end = inner.find('\'')?;
        out.push_str(&inner[..end]);
        rest = &inner[end + 1..];
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix("\\'")?;
        out.push('\'');
        if rest.is_empty() {
            return Some(out);
        }
    }
}

/// `/owner/repo.git`, `owner/repo`, `~/owner/repo` … → (owner, repo) when both are valid names.
fn repository_path(path: &str) -> Option<(String, String)> {
    let path = path.strip_prefix("~/").unwrap_or(path);
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let (owner, repo) = path.split_once('/')?;
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let owner = UserName::parse(owner).ok()?;
    let repo = RepoName::parse(repo).ok()?;
    Some((owner.as_str().to_string(), repo.as_str().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (Service, String, String) {
        let r = parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
        (r.service, r.owner, r.repo)
    }

    #[test]
    fn git_commands_are_understood() {
        let want = (Service::UploadPack, "alice".to_string(), "project".to_string());
        assert_eq!(ok("git-upload-pack '/alice/project.git'"), want);
        assert_eq!(ok("git-upload-pack 'alice/project.git'"), want);
        assert_eq!(ok("git-upload-pack '/alice/project'"), want);
        assert_eq!(ok("git-upload-pack alice/project.git"), want);
        assert_eq!(ok("git upload-pack '/alice/project.git'"), want);
        assert_eq!(ok("git-upload-pack '~/alice/project.git'"), want);
        assert_eq!(ok("git-receive-pack '/alice/project.git'").0, Service::ReceivePack);
    }

    #[test]
    fn other_programs_are_refused() {
        for raw in ["ls", "sh -c id", "git-upload-archive '/alice/project.git'", "git-shell -c x", "git config --list", "git-upload-pack", "", "scp -t /tmp", "git-upload-pack\n'/a/b.git'"] {
            assert_eq!(parse(raw.as_bytes()), Err(CommandError::NotAllowed), "{raw:?}");
        }
        assert_eq!(parse(b"git-upload-pack '\xff'"), Err(CommandError::NotAllowed));
    }

    #[test]
    fn paths_that_are_not_repositories_are_refused() {
        for raw in [
            "git-upload-pack '--upload-pack=touch /tmp/x'",
            "git-upload-pack --upload-pack=x",
            "git-upload-pack '/alice/../bob/project.git'",
            "git-upload-pack '../../etc/passwd'",
            "git-upload-pack '/alice/project.git' extra",
            "git-upload-pack '/alice/project.git';id",
            "git-upload-pack '/alice/project.git'\\''x'",
            "git-upload-pack $(id)",
            "git-upload-pack '/alice'",
            "git-upload-pack '/alice/sub/project.git'",
            "git-upload-pack '/-alice/project.git'",
            "git-upload-pack '/alice/-x.git'",
            "git-upload-pack 'unterminated",
        ] {
            assert_eq!(parse(raw.as_bytes()), Err(CommandError::BadPath), "{raw:?}");
        }
    }
}
