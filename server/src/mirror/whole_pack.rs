//! Sending a stored pack as it is: when a push sends every object of the pack the reachability
//! bitmap belongs to (an initial push of a repository housekeeping has repacked), the pack's
//! entries go out byte for byte, as git's `pack-objects` reuses a bitmapped pack. The few objects
//! stored beside it (loose, or in newer packs) follow as whole objects, and the header's count and
//! the trailing checksum are made for the pack that is sent.
//!
//! The pack is read from its file a chunk at a time rather than through a memory map, so the push
//! holds a chunk of it in memory instead of the whole pack.

use super::{PushError, PushProgress, boxed};
use gix::ObjectId;
use gix::odb::pack;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes read from the pack and written at a time.
const CHUNK: usize = 1 << 20;
/// A pack's header: `PACK`, the version, the number of objects.
const HEADER: u64 = 12;

/// A stored pack to send whole, and the objects to send beside it.
pub(super) struct WholePack {
    /// Opened when counted, so a repack that deletes it meanwhile does not take it away.
    pub file: std::fs::File,
    /// The pack file's length, its trailing checksum included.
    pub len: u64,
    pub objects: u32,
    pub others: Vec<ObjectId>,
}

impl WholePack {
    /// `file` if it is a version 2 pack of `objects` objects whose checksum is `checksum`.
    pub fn open(path: &std::path::Path, objects: u32, checksum: &gix::oid, others: Vec<ObjectId>) -> std::io::Result<Option<Self>> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let hash_len = checksum.as_bytes().len();
        if len < HEADER + hash_len as u64 {
            return Ok(None);
        }
        let mut header = [0u8; HEADER as usize];
        file.read_exact(&mut header)?;
        let mut trailer = vec![0u8; hash_len];
        file.seek(SeekFrom::Start(len - hash_len as u64))?;
        file.read_exact(&mut trailer)?;
        let same = header[..8] == *b"PACK\0\0\0\x02" && header[8..] == objects.to_be_bytes() && trailer == checksum.as_bytes();
        Ok(same.then_some(WholePack { file, len, objects, others }))
    }

    pub fn objects(&self) -> usize {
        self.objects as usize + self.others.len()
    }
}

/// Everything written, and the hash of it.
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hasher: gix::hash::Hasher,
    bytes: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Streams `pack` into `out`, returning `(objects, bytes)`.
pub(super) fn write(
    repo: &gix::Repository,
    mut pack: WholePack,
    out: &mut dyn Write,
    should_interrupt: &AtomicBool,
    progress: &mut Box<dyn FnMut(PushProgress) + Send>,
) -> Result<(usize, u64), PushError> {
    let objects = pack.objects();
    if pack.others.is_empty() {
        // The stored pack is the pack to send, header and checksum included.
        pack.file.seek(SeekFrom::Start(0))?;
        let bytes = copy(&mut pack.file, pack.len, out, objects, should_interrupt, progress)?;
        return Ok((objects, bytes));
    }
    let hash = repo.object_hash();
    let mut hashing = Hashing { out, hasher: gix::hash::hasher(hash), bytes: 0 };
    let count = u32::try_from(objects).map_err(|_| PushError::Pack("too many objects for one pack".into()))?;
    hashing.write_all(b"PACK\0\0\0\x02")?;
    hashing.write_all(&count.to_be_bytes())?;
    pack.file.seek(SeekFrom::Start(HEADER))?;
    let entries = pack.len - HEADER - hash.len_in_bytes() as u64;
    copy(&mut pack.file, entries, &mut hashing, objects, should_interrupt, progress)?;
    let compression = repo.pack_compression().map_err(|e| PushError::Pack(boxed(e)))?;
    for id in &pack.others {
        let object = repo.find_object(*id).map_err(|e| PushError::Objects(boxed(e)))?;
        let object = gix::objs::Data::new(&object.data, object.kind, hash);
        let count = pack::data::output::Count { id: *id, entry_pack_location: pack::data::output::count::PackLocation::NotLookedUp };
        let entry = pack::data::output::Entry::from_data(&count, &object, compression).map_err(|e| PushError::Pack(boxed(e)))?;
        let header = entry.to_entry_header(pack::data::Version::V2, |_| 0);
        header.write_to(entry.decompressed_size as u64, &mut hashing)?;
        hashing.write_all(&entry.compressed_data)?;
    }
    let Hashing { out, hasher, bytes } = hashing;
    let digest = hasher.try_finalize().map_err(|e| PushError::Pack(boxed(e)))?;
    out.write_all(digest.as_slice())?;
    Ok((objects, bytes + digest.as_slice().len() as u64))
}

/// Copies `len` bytes of `file` to `out` a chunk at a time.
fn copy(
    file: &mut std::fs::File,
    len: u64,
    out: &mut dyn Write,
    objects: usize,
    should_interrupt: &AtomicBool,
    progress: &mut Box<dyn FnMut(PushProgress) + Send>,
) -> Result<u64, PushError> {
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        if should_interrupt.load(Ordering::Relaxed) {
            return Err(PushError::Interrupted);
        }
        let n = (left.min(CHUNK as u64)) as usize;
        file.read_exact(&mut buf[..n])?;
        out.write_all(&buf[..n])?;
        left -= n as u64;
        progress(PushProgress::Writing { objects_total: objects, bytes: len - left });
    }
    Ok(len)
}
