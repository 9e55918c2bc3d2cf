//! Thin packs for pushes: objects sent as deltas against objects the remote certainly has, as
//! `git push` does, never against a base the remote may lack.
//!
//! The remote has every object of the *boundary commits* (commits it has whose children we send).
//! Comparing the trees of the commits we send with the boundary trees, path by path, pairs each
//! changed blob or tree with its previous version. A pack entry then goes out as
//! - a stored delta copied as is, if its base is such a previous version;
//! - else a delta we compute against its previous version ([`super::delta`]), if that is smaller;
//! - else the whole object.

use std::collections::{HashMap, HashSet};

use gix::{
    bstr::BString,
    objs::tree::EntryMode,
    odb::pack::data::output::{self, entry::Kind},
    ObjectId,
};

use super::delta;

/// At most this many boundary trees are compared (git's default `pack.window`, which is also how
/// many preferred bases `git pack-objects --thin` keeps).
pub(super) const MAX_BOUNDARY_TREES: usize = 10;
/// At most the trees of this many sent commits (the newest) are compared with the boundary.
pub(super) const MAX_SENT_TREES: usize = 256;
/// Objects larger than this are not delta-compressed by us (git's `core.bigFileThreshold`).
const BIG_FILE: usize = 512 * 1024 * 1024;

pub(super) type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

pub(super) struct ThinPack {
    boundary_trees: Vec<ObjectId>,
    sent_trees: Vec<ObjectId>,
    pairs: Option<Pairs>,
}

#[derive(Default)]
struct Pairs {
    /// A sent object → its previous version at the same path in a boundary tree.
    previous: HashMap<ObjectId, ObjectId>,
    /// All those previous versions: objects on the remote.
    on_remote: HashSet<ObjectId>,
}

impl ThinPack {
    pub(super) fn new(boundary_trees: Vec<ObjectId>, sent_trees: Vec<ObjectId>) -> Self {
        ThinPack { boundary_trees, sent_trees, pairs: None }
    }

    fn pairs(&mut self, repo: &gix::Repository) -> Result<&Pairs, Error> {
        if self.pairs.is_none() {
            let mut pairs = Pairs::default();
            let mut compared = HashSet::new();
            for old in &self.boundary_trees {
                for new in &self.sent_trees {
                    compare_trees(repo, *new, *old, &mut pairs, &mut compared)?;
                }
            }
            self.pairs = Some(pairs);
        }
        Ok(self.pairs.get_or_insert_with(Pairs::default))
    }

    /// Rewrite `entry` into the smallest form the remote can certainly resolve.
    pub(super) fn prepare(
        &mut self,
        repo: &gix::Repository,
        entry: &mut output::Entry,
        compression: gix::zlib::Compression,
    ) -> Result<(), Error> {
        match entry.kind {
            Kind::DeltaOid { id: base } => {
                if self.pairs(repo)?.on_remote.contains(&base) {
                    return Ok(());
                }
                *entry = whole_entry(repo, entry.id, compression)?;
            }
            Kind::Base(gix::object::Kind::Blob | gix::object::Kind::Tree) => {}
            Kind::Base(_) | Kind::DeltaRef { .. } => return Ok(()),
        }
        let Some(base) = self.pairs(repo)?.previous.get(&entry.id).copied() else {
            return Ok(());
        };
        if entry.decompressed_size > BIG_FILE {
            return Ok(());
        }
        let target = repo.find_object(entry.id)?.detach();
        let base_data = repo.find_object(base)?.detach();
        let Some(delta) = delta::encode(&base_data.data, &target.data, target.data.len() / 2) else {
            return Ok(());
        };
        let compressed = deflate(&delta, compression)?;
        if compressed.len() < entry.compressed_data.len() {
            *entry = output::Entry {
                id: entry.id,
                kind: Kind::DeltaOid { id: base },
                decompressed_size: delta.len(),
                compressed_data: compressed,
            };
        }
        Ok(())
    }
}

/// Walk `new` and `old` (trees at the same path) together, descending only where they differ.
fn compare_trees(
    repo: &gix::Repository,
    new: ObjectId,
    old: ObjectId,
    pairs: &mut Pairs,
    compared: &mut HashSet<(ObjectId, ObjectId)>,
) -> Result<(), Error> {
    let mut stack = vec![(new, old)];
    while let Some((new, old)) = stack.pop() {
        if new == old || !compared.insert((new, old)) {
            continue;
        }
        pairs.previous.entry(new).or_insert(old);
        pairs.on_remote.insert(old);
        let old_entries: HashMap<BString, (EntryMode, ObjectId)> =
            entries(repo, old)?.into_iter().map(|(name, mode, id)| (name, (mode, id))).collect();
        for (name, mode, id) in entries(repo, new)? {
            let Some(&(old_mode, old_id)) = old_entries.get(&name) else {
                continue;
            };
            if id == old_id {
                continue;
            }
            if mode.is_tree() && old_mode.is_tree() {
                stack.push((id, old_id));
            } else if mode.is_blob_or_symlink() && old_mode.is_blob_or_symlink() {
                pairs.previous.entry(id).or_insert(old_id);
                pairs.on_remote.insert(old_id);
            }
        }
    }
    Ok(())
}

fn entries(repo: &gix::Repository, tree: ObjectId) -> Result<Vec<(BString, EntryMode, ObjectId)>, Error> {
    let tree = repo.find_tree(tree)?;
    let decoded = tree.decode()?;
    Ok(decoded.entries.iter().map(|e| (e.filename.to_owned(), e.mode, e.oid.to_owned())).collect())
}

/// The object `id` as a whole (non-delta) pack entry.
fn whole_entry(
    repo: &gix::Repository,
    id: ObjectId,
    compression: gix::zlib::Compression,
) -> Result<output::Entry, Error> {
    let object = repo.find_object(id)?;
    let data = gix::objs::Data::new(&object.data, object.kind, repo.object_hash());
    Ok(output::Entry::from_data(&output::Count::from_data(id, None), &data, compression)?)
}

fn deflate(data: &[u8], compression: gix::zlib::Compression) -> Result<Vec<u8>, Error> {
    use std::io::Write;
    let mut out = gix::zlib::stream::deflate::Write::new(Vec::new(), compression);
    out.write_all(data)?;
    out.flush()?;
    Ok(out.into_inner())
}
