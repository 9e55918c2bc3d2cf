//! Counting an initial push with the pack's reachability bitmap (the `.bitmap` that `git repack
//! -b`, and so `git gc` in a bare repository, writes beside the pack; its format is git's
//! gitformat-bitmap(5), its pack order comes from the `.rev` file of gitformat-pack(5)).
//!
//! A bitmap stores, for selected commits, the set of every object reachable from them as one bit
//! per object of the pack, in pack order. The objects of a push that shares no history with the
//! remote are then the union of its tips' bitmaps; tips without one are walked until the walk
//! reaches objects already in the union or commits with a bitmap (as git's `pack-objects
//! --use-bitmap-index` does). Each counted object's pack location and entry length come from the
//! index and the pack order, so no tree is read. Without this, counting read every tree of the
//! history (`count_all.rs`), which is most of an initial push's CPU time against a host's
//! repository, where git itself counts from the bitmap.
//!
//! gix has no reader for pack bitmaps; `gix-bitmap` decodes EWAH but only bit by bit, so the
//! EWAH stream is read here a word at a time into a dense set. A bitmap that does not belong to
//! the current pack, or that is malformed, is not used: the push counts by walking instead.

use super::{PackContents, PushError, count_all, objects_error, whole_pack::WholePack};
use gix::ObjectId;
use gix::odb::pack::{self, Find};
use pack::data::entry::Location;
use pack::data::output::{Count, count::PackLocation};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The bitmap's header flag every usable bitmap has (each object's links are in the same pack).
const FULL_DAG: u16 = 0x1;
/// An entry is XORed against at most this many entries before it (gitformat-bitmap(5)).
const MAX_XOR_OFFSET: usize = 160;

/// Why a bitmap is not used (the push then counts without it).
#[derive(Debug, thiserror::Error)]
pub(super) enum Unusable {
    #[error("reading {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{file}: {what}")]
    Malformed { file: PathBuf, what: &'static str },
    #[error("opening the pack index: {0}")]
    Index(String),
    #[error("the object store does not hold the bitmap's pack as its own")]
    NotTheStoresPack,
}

/// What stops a count with the bitmap: the bitmap (count without it) or the objects (fail).
enum Failure {
    Bitmap(Unusable),
    Push(PushError),
}

impl From<PushError> for Failure {
    fn from(err: PushError) -> Self {
        Failure::Push(err)
    }
}

/// The objects reachable from `commits`, `tags` (tag objects, their targets given in the other
/// lists) and `trees_or_blobs`, counted with the reachability bitmap; `None` when the repository
/// has no bitmap it can use. When they are every object of the bitmap's pack and `whole_pack` is
/// allowed, that pack with the others beside it, else each object with its pack location.
pub(super) fn count(
    repo: &gix::Repository,
    commits: &[ObjectId],
    tags: &[ObjectId],
    trees_or_blobs: &[ObjectId],
    whole_pack: bool,
    should_interrupt: &AtomicBool,
) -> Result<Option<PackContents>, PushError> {
    let handle = super::pack_handle(repo);
    let pack_dir = repo.objects.store_ref().path().join("pack");
    let counted = (|| {
        let Some(bitmap) = PackBitmap::find(&handle, &pack_dir, repo.object_hash()).map_err(Failure::Bitmap)? else {
            return Ok(None);
        };
        let mut reach = Reach::new(&bitmap, handle.clone(), repo.object_hash());
        for id in tags {
            reach.mark(*id);
        }
        reach.commits(commits, should_interrupt)?;
        for id in trees_or_blobs {
            reach.tree_or_blob(*id)?;
        }
        reach.trees(should_interrupt)?;
        if whole_pack && let Some(whole) = reach.whole_pack()? {
            return Ok(Some(PackContents::WholePack(whole)));
        }
        reach.into_counts().map(|counts| Some(PackContents::Counted(counts)))
    })();
    match counted {
        Ok(contents) => Ok(contents),
        Err(Failure::Push(err)) => Err(err),
        Err(Failure::Bitmap(err)) => {
            tracing::warn!(error = %err, "the reachability bitmap is not used; counting by walking the history");
            Ok(None)
        }
    }
}

/// A dense set of pack positions.
struct Bits(Vec<u64>);

impl Bits {
    fn new(objects: usize) -> Self {
        Bits(vec![0; objects.div_ceil(64)])
    }
    fn get(&self, pos: u32) -> bool {
        let pos = pos as usize;
        self.0[pos / 64] & (1 << (pos % 64)) != 0
    }
    /// Sets `pos`; false if it was set already.
    fn insert(&mut self, pos: u32) -> bool {
        let pos = pos as usize;
        let (word, bit) = (&mut self.0[pos / 64], 1u64 << (pos % 64));
        let new = *word & bit == 0;
        *word |= bit;
        new
    }
    /// How many positions are set.
    fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    fn union(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= *b;
        }
    }
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, word)| {
            let mut word = *word;
            std::iter::from_fn(move || {
                (word != 0).then(|| {
                    let bit = word.trailing_zeros() as usize;
                    word &= word - 1;
                    w * 64 + bit
                })
            })
        })
    }
}

/// Big-endian readers over a byte slice that say what was cut short.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// One serialized EWAH bitmap: the byte range of its compressed words.
    fn ewah(&mut self) -> Option<std::ops::Range<usize>> {
        let _bits = self.u32()?;
        let words = self.u32()? as usize;
        let start = self.pos;
        self.take(words.checked_mul(8)?)?;
        let end = self.pos;
        let _last_run_length_word = self.u32()?;
        Some(start..end)
    }
}

/// XORs the EWAH-compressed `words` into `out`: run-length words (bit 0 the repeated bit, bits
/// 1–32 how many whole words of it, bits 33–63 how many literal words follow), then the literals.
fn xor_ewah(out: &mut Bits, words: &[u8]) -> Result<(), &'static str> {
    let mut words = words.chunks_exact(8).map(|w| u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]));
    let mut pos = 0usize;
    while let Some(rlw) = words.next() {
        let run = ((rlw >> 1) & 0xffff_ffff) as usize;
        let literals = (rlw >> 33) as usize;
        let end = pos.checked_add(run).filter(|end| *end <= out.0.len()).ok_or("a run goes past the pack's objects")?;
        if rlw & 1 == 1 {
            for word in &mut out.0[pos..end] {
                *word ^= u64::MAX;
            }
        }
        pos = end;
        for _ in 0..literals {
            let literal = words.next().ok_or("literal words are missing")?;
            *out.0.get_mut(pos).ok_or("literal words go past the pack's objects")? ^= literal;
            pos += 1;
        }
    }
    Ok(())
}

/// One stored bitmap: the commit it is for and how it is compressed.
struct Entry {
    /// The compressed bitmap is XORed with the (resolved) bitmap this many entries before.
    xor_offset: usize,
    ewah: std::ops::Range<usize>,
}

/// A pack's bitmap with what it takes to turn its bits into objects.
struct PackBitmap {
    data: Vec<u8>,
    file: PathBuf,
    entries: Vec<Entry>,
    /// A bitmapped commit's index position → its entry.
    by_commit: HashMap<u32, usize>,
    index: pack::index::File,
    /// Pack position → index position.
    pack_order: Vec<u32>,
    /// Index position → pack position.
    pack_position: Vec<u32>,
    /// The object store's id of the pack.
    pack_id: u32,
    /// Where the last entry ends: the pack's trailing checksum.
    pack_end: u64,
}

impl PackBitmap {
    /// The bitmap of the pack it belongs to in `pack_dir`, if there is one.
    fn find(handle: &gix::odb::Handle, pack_dir: &Path, hash: gix::hash::Kind) -> Result<Option<Self>, Unusable> {
        let dir = match std::fs::read_dir(pack_dir) {
            Ok(dir) => dir,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Unusable::Io(pack_dir.to_owned(), err)),
        };
        for file in dir.flatten() {
            let path = file.path();
            let is_pack_bitmap = path.extension().is_some_and(|e| e == "bitmap")
                && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("pack-"));
            if is_pack_bitmap && let Some(bitmap) = Self::open(handle, path, hash)? {
                return Ok(Some(bitmap));
            }
        }
        Ok(None)
    }

    /// Reads `file`; `None` if its pack is gone or was rewritten since (a stale bitmap).
    fn open(handle: &gix::odb::Handle, file: PathBuf, hash: gix::hash::Kind) -> Result<Option<Self>, Unusable> {
        let malformed = |what| Unusable::Malformed { file: file.clone(), what };
        let index = match pack::index::File::at(file.with_extension("idx"), hash) {
            Ok(index) => index,
            Err(_) if !file.with_extension("idx").exists() => return Ok(None),
            Err(err) => return Err(Unusable::Index(err.to_string())),
        };
        let pack_len = match std::fs::metadata(file.with_extension("pack")) {
            Ok(meta) => meta.len(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Unusable::Io(file.with_extension("pack"), err)),
        };
        let data = std::fs::read(&file).map_err(|e| Unusable::Io(file.clone(), e))?;
        if !checksum_holds(&data, hash) {
            return Err(malformed("its trailing checksum does not match its contents"));
        }
        let mut cur = Cursor { data: &data, pos: 0 };
        if cur.take(4) != Some(b"BITM") || cur.u16() != Some(1) {
            return Err(malformed("not a version 1 bitmap"));
        }
        let flags = cur.u16().ok_or_else(|| malformed("cut short"))?;
        if flags & FULL_DAG == 0 {
            return Err(malformed("not a full-closure bitmap"));
        }
        let count = cur.u32().ok_or_else(|| malformed("cut short"))? as usize;
        let checksum = cur.take(hash.len_in_bytes()).ok_or_else(|| malformed("cut short"))?;
        if checksum != index.pack_checksum().as_slice() {
            return Ok(None);
        }
        // The four type bitmaps (commits, trees, blobs, tags): not needed for counting.
        for _ in 0..4 {
            cur.ewah().ok_or_else(|| malformed("a type bitmap is cut short"))?;
        }
        let objects = index.num_objects();
        let mut entries = Vec::with_capacity(count.min(objects as usize));
        let mut by_commit = HashMap::with_capacity(count.min(objects as usize));
        for n in 0..count {
            let commit = cur.u32().ok_or_else(|| malformed("an entry is cut short"))?;
            let xor_offset = cur.u8().ok_or_else(|| malformed("an entry is cut short"))? as usize;
            let _flags = cur.u8().ok_or_else(|| malformed("an entry is cut short"))?;
            let ewah = cur.ewah().ok_or_else(|| malformed("an entry's bitmap is cut short"))?;
            if commit >= objects {
                return Err(malformed("an entry names an object the pack does not have"));
            }
            if xor_offset > n || xor_offset > MAX_XOR_OFFSET {
                return Err(malformed("an entry is XORed with one that does not precede it"));
            }
            entries.push(Entry { xor_offset, ewah });
            by_commit.insert(commit, n);
        }
        let pack_order = pack_order(&index, &file.with_extension("rev"), hash).map_err(malformed)?;
        let mut pack_position = vec![0u32; pack_order.len()];
        for (pos, idx) in pack_order.iter().enumerate() {
            pack_position[*idx as usize] = pos as u32;
        }
        let Some(pack_id) = store_pack_id(handle, &index)? else {
            return Err(Unusable::NotTheStoresPack);
        };
        let pack_end = pack_len.checked_sub(hash.len_in_bytes() as u64).ok_or_else(|| malformed("the pack is cut short"))?;
        Ok(Some(PackBitmap { data, file, entries, by_commit, index, pack_order, pack_position, pack_id, pack_end }))
    }

    fn malformed(&self, what: &'static str) -> Failure {
        Failure::Bitmap(Unusable::Malformed { file: self.file.clone(), what })
    }

    /// The whole bitmap of entry `n`: its stored bitmap XORed with those it was compressed against.
    fn resolve(&self, n: usize) -> Result<Bits, Failure> {
        let mut bits = Bits::new(self.pack_order.len());
        let mut n = Some(n);
        while let Some(k) = n {
            let entry = &self.entries[k];
            xor_ewah(&mut bits, &self.data[entry.ewah.clone()]).map_err(|what| self.malformed(what))?;
            n = (entry.xor_offset != 0).then(|| k - entry.xor_offset);
        }
        Ok(bits)
    }

    /// The object at pack position `pos`, located.
    fn count_at(&self, pos: usize) -> Result<Count, Failure> {
        let idx = *self.pack_order.get(pos).ok_or_else(|| self.malformed("a bit names an object the pack does not have"))?;
        let offset = self.index.pack_offset_at_index(idx);
        let end = match self.pack_order.get(pos + 1) {
            Some(next) => self.index.pack_offset_at_index(*next),
            None => self.pack_end,
        };
        let entry_size = usize::try_from(end - offset).map_err(|_| PushError::Pack("pack entry too large".into()))?;
        let location = Location { pack_id: self.pack_id, entry_size, pack_offset: offset };
        Ok(Count { id: self.index.oid_at_index(idx).to_owned(), entry_pack_location: PackLocation::LookedUp(Some(location)) })
    }
}

/// The hash git puts at the end of a file of `data` (all but its last hash's length of bytes).
fn trailing_checksum(data: &[u8], hash: gix::hash::Kind) -> Option<ObjectId> {
    let split = data.len().checked_sub(hash.len_in_bytes())?;
    let mut hasher = gix::hash::hasher(hash);
    hasher.update(&data[..split]);
    hasher.try_finalize().ok()
}

/// Whether the file's trailing checksum (git's hash of everything before it) matches.
fn checksum_holds(data: &[u8], hash: gix::hash::Kind) -> bool {
    trailing_checksum(data, hash).is_some_and(|digest| data.ends_with(digest.as_slice()))
}

/// Index positions in pack order: from the `.rev` file git writes beside the pack, else by
/// sorting the index's offsets.
fn pack_order(index: &pack::index::File, rev: &Path, hash: gix::hash::Kind) -> Result<Vec<u32>, &'static str> {
    let objects = index.num_objects() as usize;
    let order = match std::fs::read(rev) {
        Ok(data) => {
            let hash_len = hash.len_in_bytes();
            let mut cur = Cursor { data: &data, pos: 0 };
            let header_ok = cur.take(4) == Some(b"RIDX") && cur.u32() == Some(1) && cur.u32().is_some();
            if !header_ok || data.len() != 12 + 4 * objects + 2 * hash_len {
                return Err("its .rev file is not a version 1 reverse index of the pack");
            }
            if &data[12 + 4 * objects..12 + 4 * objects + hash_len] != index.pack_checksum().as_slice() {
                return Err("its .rev file belongs to another pack");
            }
            (0..objects).map(|_| cur.u32().unwrap_or(u32::MAX)).collect()
        }
        Err(_) => {
            let mut by_offset: Vec<(u64, u32)> = (0..index.num_objects()).map(|i| (index.pack_offset_at_index(i), i)).collect();
            by_offset.sort_unstable();
            by_offset.into_iter().map(|(_, i)| i).collect::<Vec<_>>()
        }
    };
    // Strictly increasing offsets over valid positions: a permutation in pack order.
    let mut last = None;
    for idx in &order {
        if *idx as usize >= objects {
            return Err("its .rev file names an object the pack does not have");
        }
        let offset = index.pack_offset_at_index(*idx);
        if last.is_some_and(|l| l >= offset) {
            return Err("its .rev file is not in pack order");
        }
        last = Some(offset);
    }
    Ok(order)
}

fn store_error(e: impl std::fmt::Display) -> Unusable {
    Unusable::Index(e.to_string())
}

/// The object store's id of the pack `index` describes: the store's pack holding the index's first
/// object, if that pack has exactly the index's objects at the same offsets.
fn store_pack_id(handle: &gix::odb::Handle, index: &pack::index::File) -> Result<Option<u32>, Unusable> {
    if index.num_objects() == 0 {
        return Ok(None);
    }
    let mut buf = Vec::new();
    let Some(location) = handle.location_by_oid(index.oid_at_index(0), &mut buf).map_err(store_error)? else {
        return Ok(None);
    };
    let Some(stored) = handle.pack_offsets_and_oid(location.pack_id).map_err(store_error)? else {
        return Ok(None);
    };
    let same = stored.len() == index.num_objects() as usize
        && stored.iter().zip(index.iter()).all(|((offset, id), entry)| *offset == entry.pack_offset && *id == entry.oid);
    Ok(same.then_some(location.pack_id))
}

/// The objects reached so far: bits of the bitmapped pack, and a set for objects outside it.
struct Reach<'a> {
    bitmap: &'a PackBitmap,
    bits: Bits,
    outside: HashSet<ObjectId>,
    /// Trees of walked commits, and trees named by tips, still to be walked.
    trees: Vec<ObjectId>,
    handle: gix::odb::Handle,
    hash: gix::hash::Kind,
    cache: pack::cache::lru::MemoryCappedHashmap,
    buf: Vec<u8>,
}

impl<'a> Reach<'a> {
    fn new(bitmap: &'a PackBitmap, handle: gix::odb::Handle, hash: gix::hash::Kind) -> Self {
        Reach {
            bits: Bits::new(bitmap.pack_order.len()),
            bitmap,
            outside: HashSet::new(),
            trees: Vec::new(),
            handle,
            hash,
            cache: pack::cache::lru::MemoryCappedHashmap::new(count_all::DELTA_BASE_CACHE_BYTES),
            buf: Vec::new(),
        }
    }

    /// Where `id` is in the bitmapped pack: (index position, pack position).
    fn in_pack(&self, id: &ObjectId) -> Option<(u32, u32)> {
        let idx = self.bitmap.index.lookup(id)?;
        Some((idx, self.bitmap.pack_position[idx as usize]))
    }

    fn covered(&self, id: &ObjectId) -> bool {
        match self.in_pack(id) {
            Some((_, pos)) => self.bits.get(pos),
            None => self.outside.contains(id),
        }
    }

    /// Adds `id`; false if it was reached already.
    fn mark(&mut self, id: ObjectId) -> bool {
        match self.in_pack(&id) {
            Some((_, pos)) => self.bits.insert(pos),
            None => self.outside.insert(id),
        }
    }

    fn read(&mut self, id: &ObjectId) -> Result<&[u8], PushError> {
        Ok(count_all::read_cached(&self.handle, id, &mut self.buf, &mut self.cache)?.0)
    }

    /// Everything the `tips` reach: a commit with a bitmap adds it whole, other commits are
    /// walked (their trees kept for [`Reach::trees`]) down to commits already reached.
    fn commits(&mut self, tips: &[ObjectId], should_interrupt: &AtomicBool) -> Result<(), Failure> {
        let mut stack = tips.to_vec();
        while let Some(id) = stack.pop() {
            if should_interrupt.load(Ordering::Relaxed) {
                return Err(PushError::Interrupted.into());
            }
            let new = match self.in_pack(&id) {
                Some((idx, pos)) if !self.bits.get(pos) => match self.bitmap.by_commit.get(&idx) {
                    Some(n) => {
                        let reachable = self.bitmap.resolve(*n)?;
                        self.bits.union(&reachable);
                        false
                    }
                    None => self.bits.insert(pos),
                },
                Some(_) => false,
                None => self.outside.insert(id),
            };
            if !new {
                continue;
            }
            let hash = self.hash;
            let data = self.read(&id)?;
            let commit = gix::objs::CommitRefIter::from_bytes(data, hash);
            let mut tree = None;
            let mut parents = Vec::new();
            for token in commit {
                match token.map_err(objects_error)? {
                    gix::objs::commit::ref_iter::Token::Tree { id } => tree = Some(id),
                    gix::objs::commit::ref_iter::Token::Parent { id } => parents.push(id),
                    _ => break,
                }
            }
            self.trees.extend(tree);
            stack.extend(parents.into_iter().filter(|p| !self.covered(p)));
        }
        Ok(())
    }

    /// A tip naming a tree or a blob directly.
    fn tree_or_blob(&mut self, id: ObjectId) -> Result<(), Failure> {
        use gix::prelude::HeaderExt;
        match self.handle.header(id).map_err(objects_error)?.kind() {
            gix::object::Kind::Tree => self.trees.push(id),
            _ => {
                self.mark(id);
            }
        }
        Ok(())
    }

    /// The trees still to walk and everything below them not reached yet.
    fn trees(&mut self, should_interrupt: &AtomicBool) -> Result<(), Failure> {
        let mut stack = std::mem::take(&mut self.trees);
        let mut below = Vec::new();
        while let Some(id) = stack.pop() {
            if should_interrupt.load(Ordering::Relaxed) {
                return Err(PushError::Interrupted.into());
            }
            if !self.mark(id) {
                continue;
            }
            let hash = self.hash;
            let data = self.read(&id)?;
            for entry in gix::objs::TreeRefIter::from_bytes(data, hash) {
                let entry = entry.map_err(objects_error)?;
                if !entry.mode.is_commit() {
                    below.push((entry.oid.to_owned(), entry.mode.is_tree()));
                }
            }
            for (oid, is_tree) in below.drain(..) {
                if is_tree {
                    if !self.covered(&oid) {
                        stack.push(oid);
                    }
                } else {
                    self.mark(oid);
                }
            }
        }
        Ok(())
    }

    /// The bitmap's pack to send as it is, with the objects reached outside it, if every object
    /// of the pack is reached.
    fn whole_pack(&self) -> Result<Option<WholePack>, Failure> {
        if self.bits.len() != self.bitmap.pack_order.len() {
            return Ok(None);
        }
        let path = self.bitmap.file.with_extension("pack");
        let others = self.outside.iter().copied().collect();
        let objects = self.bitmap.index.num_objects();
        WholePack::open(&path, objects, &self.bitmap.index.pack_checksum(), others)
            .map_err(|e| Failure::Bitmap(Unusable::Io(path.clone(), e)))
    }

    /// The reached objects with their locations: the pack's in pack order, then the others.
    fn into_counts(self) -> Result<Vec<Count>, Failure> {
        let mut counts = Vec::with_capacity(self.outside.len() + self.bits.len());
        for pos in self.bits.ones() {
            counts.push(self.bitmap.count_at(pos)?);
        }
        let mut buf = Vec::new();
        for id in self.outside {
            let location = self.handle.location_by_oid(&id, &mut buf).map_err(objects_error)?;
            counts.push(Count { id, entry_pack_location: PackLocation::LookedUp(location) });
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A bare repository with `commits` commits on main (a few files edited each time, in a tree
    /// of subdirectories), a side branch merged back, a branch every 40 commits and an annotated
    /// tag every 50, from one `git fast-import` stream.
    fn history(commits: usize) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "--bare", "-b", "main", "."]);
        let mut child = Command::new("git")
            .arg("-C")
            .arg(tmp.path())
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stream = String::new();
        let data = |s: &str| format!("data {}\n{s}\n", s.len());
        for n in 1..=commits {
            let branch = if (100..120).contains(&n) { "side" } else { "main" };
            stream += &format!("commit refs/heads/{branch}\nmark :{n}\ncommitter A <a@example.com> {} +0000\n", 1_700_000_000 + n);
            stream += &data(&format!("commit {n}"));
            match n {
                1 => {}
                100 => stream += "from :99\n",
                120 => stream += "from :99\nmerge :119\n",
                _ => stream += &format!("from :{}\n", n - 1),
            }
            for file in [n % 7, n % 13 + 7, n % 29 + 20] {
                stream += &format!("M 100644 inline dir{}/sub{}/file{file}.txt\n", file % 5, file % 3);
                stream += &data(&format!("file {file}\n{}", (0..n % 40 + 5).map(|l| format!("line {l} of {n}\n")).collect::<String>()));
            }
            if n % 40 == 0 {
                stream += &format!("reset refs/heads/b{n}\nfrom :{n}\n");
            }
            if n % 50 == 0 {
                stream += &format!("tag v{n}\nfrom :{n}\ntagger A <a@example.com> {} +0000\n", 1_700_000_000 + n);
                stream += &data(&format!("version {n}"));
            }
        }
        child.stdin.take().unwrap().write_all(stream.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        tmp
    }

    fn repack_with_bitmap(dir: &Path) {
        git(dir, &["-c", "pack.writeReverseIndex=true", "repack", "-adbq"]);
    }

    fn open(dir: &Path) -> gix::Repository {
        gix::open(dir).unwrap()
    }

    fn handle(repo: &gix::Repository) -> gix::odb::Handle {
        let mut handle = (*repo.objects).clone();
        handle.prevent_pack_unload();
        handle.ignore_replacements = true;
        handle
    }

    fn bitmap_of(repo: &gix::Repository) -> PackBitmap {
        PackBitmap::find(&handle(repo), &repo.objects.store_ref().path().join("pack"), repo.object_hash()).unwrap().expect("a bitmap")
    }

    /// The tips of every head and tag, split as a push splits them.
    fn tips(repo: &gix::Repository, dir: &Path) -> (Vec<ObjectId>, Vec<ObjectId>, Vec<ObjectId>) {
        let (mut commits, mut tags, mut others) = (Vec::new(), Vec::new(), Vec::new());
        for line in git(dir, &["for-each-ref", "--format=%(objectname)", "refs/heads", "refs/tags"]).lines() {
            let (peeled, target, kind) = super::super::peel(repo, ObjectId::from_hex(line.as_bytes()).unwrap()).map_err(|e| e.to_string()).unwrap();
            tags.extend(peeled);
            match kind {
                gix::object::Kind::Commit => commits.push(target),
                _ => others.push(target),
            }
        }
        (commits, tags, others)
    }

    fn rev_list_objects(dir: &Path, tips: &[&str]) -> BTreeSet<ObjectId> {
        let mut args = vec!["rev-list", "--objects"];
        args.extend_from_slice(tips);
        git(dir, &args).lines().map(|l| ObjectId::from_hex(&l.as_bytes()[..40]).unwrap()).collect()
    }

    #[test]
    fn every_stored_bitmap_is_what_git_says_its_commit_reaches() {
        let repo_dir = history(400);
        repack_with_bitmap(repo_dir.path());
        let repo = open(repo_dir.path());
        let bitmap = bitmap_of(&repo);
        assert!(bitmap.entries.len() > 5, "{} entries", bitmap.entries.len());
        assert!(bitmap.entries.iter().any(|e| e.xor_offset > 0), "no entry is XOR-compressed: the chains go untested");
        for (&commit, &n) in &bitmap.by_commit {
            let ours: BTreeSet<ObjectId> =
                bitmap.resolve(n).ok().unwrap().ones().map(|pos| bitmap.index.oid_at_index(bitmap.pack_order[pos]).to_owned()).collect();
            let id = bitmap.index.oid_at_index(commit).to_string();
            assert_eq!(ours, rev_list_objects(repo_dir.path(), &[&id]), "the bitmap of {id}");
        }
    }

    #[test]
    fn an_initial_push_counts_what_git_reaches_located_as_the_store_locates_it() {
        let repo_dir = history(300);
        let dir = repo_dir.path();
        repack_with_bitmap(dir);
        // After the bitmap: a commit in a second pack, loose objects, tags of a tree and a blob.
        let main = git(dir, &["rev-parse", "main"]);
        let tree = git(dir, &["rev-parse", "main^{tree}"]);
        let blob = git(dir, &["hash-object", "-w", "--stdin"]); // the empty blob, loose
        let tip = |parent: &str, message: &str| {
            let out = Command::new("git").arg("-C").arg(dir).args(["commit-tree", tree.trim(), "-p", parent.trim(), "-m", message]).output().unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let packed = tip(&main, "in a second pack");
        git(dir, &["update-ref", "refs/heads/second-pack", packed.trim()]);
        git(dir, &["repack", "-dq"]);
        let loose = tip(&packed, "loose");
        git(dir, &["update-ref", "refs/heads/main", loose.trim()]);
        git(dir, &["tag", "-a", "-m", "a tree", "tree-tag", tree.trim()]);
        git(dir, &["tag", "blob-tag", blob.trim()]);
        assert!(git(dir, &["count-objects", "-v"]).contains("packs: 2"));

        let repo = open(dir);
        let (commits, tags, others) = tips(&repo, dir);
        let Some(PackContents::Counted(counts)) = count(&repo, &commits, &tags, &others, false, &AtomicBool::new(false)).unwrap() else {
            panic!("not counted with the bitmap")
        };
        let ids: BTreeSet<ObjectId> = counts.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), counts.len(), "an object counted twice");
        assert_eq!(ids, rev_list_objects(dir, &["--all"]));
        let store = handle(&repo);
        let mut buf = Vec::new();
        for c in &counts {
            let PackLocation::LookedUp(location) = &c.entry_pack_location else { panic!("{} not located", c.id) };
            assert_eq!(*location, store.location_by_oid(&c.id, &mut buf).unwrap(), "the location of {}", c.id);
        }
    }

    #[test]
    fn a_pack_whose_every_object_is_sent_goes_whole_with_the_others_beside_it() {
        let repo_dir = history(150);
        let dir = repo_dir.path();
        git(dir, &["branch", "doomed", "main~3"]);
        let tree = git(dir, &["rev-parse", "main^{tree}"]);
        let unique = git(dir, &["commit-tree", tree.trim(), "-m", "only on doomed"]);
        git(dir, &["update-ref", "refs/heads/doomed", unique.trim()]);
        repack_with_bitmap(dir);
        let loose = git(dir, &["commit-tree", tree.trim(), "-p", "main", "-m", "loose"]);
        git(dir, &["update-ref", "refs/heads/main", loose.trim()]);
        let contents = |whole_pack: bool| {
            let repo = open(dir);
            let (commits, tags, others) = tips(&repo, dir);
            count(&repo, &commits, &tags, &others, whole_pack, &AtomicBool::new(false)).unwrap().expect("counted with the bitmap")
        };
        match contents(true) {
            PackContents::WholePack(whole) => {
                let packed = git(dir, &["count-objects", "-v"]).lines().find_map(|l| l.strip_prefix("in-pack: ").map(|n| n.parse::<u32>().unwrap()));
                assert_eq!(Some(whole.objects), packed);
                assert_eq!(whole.others, [ObjectId::from_hex(loose.trim().as_bytes()).unwrap()], "the loose commit (its tree is packed)");
            }
            PackContents::Counted(_) => panic!("every packed object is sent, but not the whole pack"),
        }
        assert!(matches!(contents(false), PackContents::Counted(_)), "the whole pack where it was not allowed");
        // Without `doomed`, its commit in the pack is sent by no ref: the pack cannot go whole.
        git(dir, &["update-ref", "-d", "refs/heads/doomed"]);
        assert!(matches!(contents(true), PackContents::Counted(_)), "the whole pack with an object no ref reaches");
    }

    #[test]
    fn a_stale_or_damaged_bitmap_is_not_used() {
        let repo_dir = history(120);
        let dir = repo_dir.path();
        repack_with_bitmap(dir);
        let pack_dir = dir.join("objects/pack");
        let file = std::fs::read_dir(&pack_dir).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "bitmap")).unwrap();
        let original = std::fs::read(&file).unwrap();
        let count_main = || {
            let repo = open(dir);
            let (commits, tags, others) = tips(&repo, dir);
            count(&repo, &commits, &tags, &others, false, &AtomicBool::new(false)).unwrap().is_some()
        };
        assert!(count_main());
        // The stored bitmap of main's tip, which the count uses (git gives every ref tip one).
        let main_entry = {
            let bitmap = bitmap_of(&open(dir));
            let main = ObjectId::from_hex(git(dir, &["rev-parse", "main"]).trim().as_bytes()).unwrap();
            let entry = bitmap.by_commit[&bitmap.index.lookup(main).unwrap()];
            bitmap.entries[entry].ewah.start
        };
        type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
        let damaged: [(&str, Damage<'_>); 3] = [
            ("a truncated bitmap", Box::new(|b: &mut Vec<u8>| b.truncate(main_entry + 8))),
            // A run past the pack's objects in an entry, the file's checksum made to match again:
            // only the bits are wrong.
            ("a bitmap with a run past the pack's objects", Box::new(|b: &mut Vec<u8>| {
                b[main_entry..main_entry + 8].copy_from_slice(&(u64::from(u32::MAX) << 1 | 1).to_be_bytes());
                rechecksum(b);
            })),
            // Another pack's bitmap: the pack checksum in its header is not this pack's.
            ("another pack's bitmap", Box::new(|b: &mut Vec<u8>| {
                b[12] ^= 0xff;
                rechecksum(b);
            })),
        ];
        for (what, damage) in damaged {
            let mut bytes = original.clone();
            damage(&mut bytes);
            std::fs::write(&file, &bytes).unwrap();
            assert!(!count_main(), "{what} was used");
        }
        std::fs::write(&file, &original).unwrap();
        assert!(count_main());
    }

    fn rechecksum(bytes: &mut [u8]) {
        let digest = trailing_checksum(bytes, gix::hash::Kind::Sha1).unwrap();
        let split = bytes.len() - 20;
        bytes[split..].copy_from_slice(digest.as_slice());
    }

    #[test]
    fn ewah_runs_and_literals_decode_a_word_at_a_time() {
        // Two words of ones, then one literal word; then a run of one word of zeros and a literal.
        let words = [(2u64 << 1) | 1 | (1 << 33), 0b1011, (1 << 1) | (1 << 33), 1 << 63];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        let mut bits = Bits::new(64 * 5);
        xor_ewah(&mut bits, &bytes).unwrap();
        assert_eq!(bits.0, vec![u64::MAX, u64::MAX, 0b1011, 0, 1 << 63]);
        let ones: Vec<usize> = bits.ones().collect();
        assert_eq!(ones.len(), 64 * 2 + 3 + 1);
        assert_eq!(ones[128..], [128, 129, 131, 319]);
        assert!(xor_ewah(&mut Bits::new(64), &bytes).is_err(), "a run past the end was accepted");
    }
}
