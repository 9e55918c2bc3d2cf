//! The ref advertisement of `git receive-pack`, the answer to `GET
//! info/refs?service=git-receive-pack` that starts every push over HTTP, written in-process.
//!
//! A push used to start one `git receive-pack --advertise-refs` for it: with many pushes at
//! once, process start-up is what the machine spends its time on. The answer is a list of refs
//! and one capability line, so GitBlixt writes it itself, byte for byte what git writes:
//! - the capability line is git's own, taken once from `git receive-pack --advertise-refs` on an
//!   empty repository with the same configuration ([`Capabilities`]);
//! - the refs are every ref git would list, in its order: sorted by name, symbolic refs as the
//!   commit they point to (dangling ones left out), and refs hidden by
//!   `receive.hideRefs` (GitBlixt's `refs/gitblixt/`) never shown, with git's matching rules.
//!
//! A repository whose own configuration changes what git advertises (another object format,
//! `transfer.hideRefs`, a capability switched on or off) is answered by git itself.

use crate::git_service::{GitState, Mode, Service, git_command};
use gix::bstr::ByteSlice;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AdvertiseError {
    #[error("opening the repository: {0}")]
    Open(String),
    #[error("reading the repository's refs: {0}")]
    Refs(String),
    #[error("running git for its capabilities: {0}")]
    Git(String),
}

/// Configuration that changes `git receive-pack`'s advertisement beyond what [`Capabilities`]
/// and `receive.hideRefs` cover: a repository setting any of them is answered by git.
const CHANGES_THE_ADVERTISEMENT: [&str; 5] = [
    "transfer.hideRefs",
    "receive.advertiseAtomic",
    "receive.advertisePushOptions",
    "receive.certNonceSeed",
    "transfer.advertiseSID",
];

/// git's capability line for receive-pack, taken from git once and kept.
#[derive(Clone, Default)]
pub struct Capabilities(Arc<tokio::sync::OnceCell<String>>);

impl Capabilities {
    /// The capability line, asking git the first time. A failure is not kept: the next push asks
    /// again.
    pub async fn get(&self, state: &GitState) -> Result<&str, AdvertiseError> {
        self.0.get_or_try_init(|| capture(state)).await.map(String::as_str)
    }
}

/// Runs `git receive-pack --advertise-refs` as a push would, on an empty repository, and takes
/// the capabilities after the first line's NUL.
async fn capture(state: &GitState) -> Result<String, AdvertiseError> {
    let scratch = state.app.store.init_scratch().await.map_err(|e| AdvertiseError::Git(e.to_string()))?;
    let mut cmd = git_command(state, Service::ReceivePack, Mode::StatelessRpc);
    cmd.arg("--advertise-refs").arg(scratch.path());
    let output = cmd.stdin(Stdio::null()).output().await.map_err(|e| AdvertiseError::Git(e.to_string()))?;
    if !output.status.success() {
        return Err(AdvertiseError::Git(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    capabilities_of(&output.stdout).ok_or_else(|| AdvertiseError::Git("no capabilities in git's advertisement".into()))
}

/// The capabilities of an advertisement: what follows the NUL of its first ref line.
pub fn capabilities_of(advertisement: &[u8]) -> Option<String> {
    let (_, capabilities) = advertisement.lines().find_map(|line| line.split_once_str(b"\0"))?;
    String::from_utf8(capabilities.to_vec()).ok()
}

/// The advertisement for the repository at `path` with `capabilities`, for a client asking for
/// `protocol` (its `GIT_PROTOCOL`); `None` when the repository's configuration needs git's own.
pub fn advertise(path: &Path, capabilities: &str, protocol: Option<&str>) -> Result<Option<Vec<u8>>, AdvertiseError> {
    let repo = app::ssr::store::open_hosted(path).map_err(|e| AdvertiseError::Open(e.to_string()))?;
    let config = repo.config_snapshot();
    if repo.object_hash() != gix::hash::Kind::Sha1 || CHANGES_THE_ADVERTISEMENT.iter().any(|key| config.string(*key).is_some()) {
        return Ok(None);
    }
    let hidden = HiddenRefs::new(config.plumbing().strings("receive.hideRefs").unwrap_or_default());
    let refs = shown_refs(&repo, &hidden)?;
    Ok(Some(write_advertisement(&refs, capabilities, wants_version_1(protocol))))
}

/// Every ref git lists, sorted by name, each with the object it points to.
fn shown_refs(repo: &gix::Repository, hidden: &HiddenRefs) -> Result<Vec<(gix::bstr::BString, gix::ObjectId)>, AdvertiseError> {
    let platform = repo.references().map_err(|e| AdvertiseError::Refs(e.to_string()))?;
    let mut refs = Vec::new();
    for reference in platform.all().map_err(|e| AdvertiseError::Refs(e.to_string()))? {
        let mut reference = reference.map_err(|e| AdvertiseError::Refs(e.to_string()))?;
        let name = reference.name().as_bstr().to_owned();
        if !name.starts_with(b"refs/") || hidden.hides(&name) {
            continue;
        }
        // A symbolic ref shows the object it ends at; git leaves a dangling one out (but shows a
        // ref whose object is missing, as it is).
        let Ok(id) = reference.follow_to_object() else { continue };
        refs.push((name, id.detach()));
    }
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(refs)
}

/// Whether `GIT_PROTOCOL` asks for version 1: git takes the highest version it knows among the
/// `version=` entries, and for a push answers version 2 as version 0.
fn wants_version_1(protocol: Option<&str>) -> bool {
    let highest = protocol
        .into_iter()
        .flat_map(|p| p.split(':'))
        .filter_map(|entry| entry.strip_prefix("version="))
        .filter_map(|v| match v {
            "0" => Some(0),
            "1" => Some(1),
            "2" => Some(2),
            _ => None,
        })
        .max();
    highest == Some(1)
}

/// The pkt-lines: the version line if asked for, the refs (capabilities on the first, or on the
/// `capabilities^{}` line of a repository showing none), a flush.
fn write_advertisement(refs: &[(gix::bstr::BString, gix::ObjectId)], capabilities: &str, version_1: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * (refs.len() + 2) + capabilities.len());
    if version_1 {
        pkt_line(&mut out, b"version 1\n");
    }
    let none = [(gix::bstr::BString::from("capabilities^{}"), gix::ObjectId::null(gix::hash::Kind::Sha1))];
    let lines = if refs.is_empty() { &none[..] } else { refs };
    for (n, (name, id)) in lines.iter().enumerate() {
        let mut line = format!("{id} ").into_bytes();
        line.extend_from_slice(name);
        if n == 0 {
            line.push(0);
            line.extend_from_slice(capabilities.as_bytes());
        }
        line.push(b'\n');
        pkt_line(&mut out, &line);
    }
    out.extend_from_slice(b"0000");
    out
}

/// Appends `data` as one pkt-line (its length, with the four length bytes, in hex first).
pub fn pkt_line(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:04x}", data.len() + 4).as_bytes());
    out.extend_from_slice(data);
}

/// `receive.hideRefs` with git's rules: the last entry that matches decides; `!` before an entry
/// shows what it matches; an entry matches a ref it is a whole-segment prefix of; `^` (match the
/// name outside any namespace) is the same here, GitBlixt using no namespaces.
struct HiddenRefs(Vec<(bool, Vec<u8>)>);

impl HiddenRefs {
    fn new(entries: Vec<gix::bstr::BString>) -> Self {
        HiddenRefs(
            entries
                .into_iter()
                .map(|entry| {
                    let mut entry = entry.to_vec();
                    while entry.last() == Some(&b'/') {
                        entry.pop();
                    }
                    let shown = entry.first() == Some(&b'!');
                    let entry = entry[usize::from(shown)..].to_vec();
                    let entry = entry.strip_prefix(b"^").map(<[u8]>::to_vec).unwrap_or(entry);
                    (!shown, entry)
                })
                .collect(),
        )
    }

    fn hides(&self, name: &[u8]) -> bool {
        self.0
            .iter()
            .rev()
            .find(|(_, prefix)| name.strip_prefix(prefix.as_slice()).is_some_and(|rest| rest.is_empty() || rest[0] == b'/'))
            .is_some_and(|(hide, _)| *hide)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_refs_follow_gits_rules() {
        let hidden = HiddenRefs::new(vec!["refs/gitblixt/".into(), "refs/pull".into(), "!refs/pull/1".into()]);
        assert!(hidden.hides(b"refs/gitblixt/kept/x"));
        assert!(hidden.hides(b"refs/pull/2/head"));
        assert!(!hidden.hides(b"refs/pull/1/head"), "a later ! entry shows what it matches");
        assert!(!hidden.hides(b"refs/pulls"), "only whole segments match");
        assert!(!hidden.hides(b"refs/heads/main"));
    }

    #[test]
    fn version_1_only_when_it_is_the_highest_known() {
        assert!(!wants_version_1(None));
        assert!(wants_version_1(Some("version=1")));
        assert!(!wants_version_1(Some("version=2")));
        assert!(!wants_version_1(Some("version=1:version=2")));
        assert!(wants_version_1(Some("version=1:version=9")));
        assert!(!wants_version_1(Some("object-format=sha1")));
    }
}
