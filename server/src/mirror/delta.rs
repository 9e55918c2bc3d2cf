//! A git delta encoder (the pack format's `copy`/`insert` instructions), so a push can send a changed
//! file as the difference to the version the remote already has, as `git push` does. gix reuses
//! deltas stored in local packs but cannot compute new ones.
//!
//! Method: the base is indexed in non-overlapping blocks of [`BLOCK`] bytes; the target is scanned
//! for positions whose next [`BLOCK`] bytes hash like a base block, each candidate is verified and
//! extended forwards (and backwards into pending literal bytes), the longest wins. Unmatched bytes
//! become inserts.

use std::collections::HashMap;

/// Size of the blocks the base is indexed by; matches shorter than this are not found.
const BLOCK: usize = 16;
/// Largest size of one copy instruction; larger copies are split (old readers expect at most 64 KiB).
const MAX_COPY: usize = 0x10000;
/// Largest amount of literal bytes in one insert instruction.
const MAX_INSERT: usize = 0x7f;
/// Candidate base positions examined per hash value (bounds the work on repetitive data).
const MAX_CANDIDATES: usize = 16;

/// The delta turning `base` into `target`, or `None` if it would be `max_size` bytes or larger
/// (then sending the whole object is as good).
pub fn encode(base: &[u8], target: &[u8], max_size: usize) -> Option<Vec<u8>> {
    if base.len() < BLOCK || target.len() < BLOCK {
        return None;
    }
    let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(base.len() / BLOCK + 1);
    for start in (0..=base.len() - BLOCK).step_by(BLOCK) {
        let slots = index.entry(block_hash(&base[start..start + BLOCK])).or_default();
        if slots.len() < MAX_CANDIDATES {
            slots.push(start);
        }
    }

    let mut out = Vec::with_capacity(max_size.min(target.len()));
    write_size(&mut out, base.len());
    write_size(&mut out, target.len());
    let mut pending_start = 0usize; // start of target bytes not yet encoded
    let mut pos = 0usize;
    while pos + BLOCK <= target.len() {
        let best = index.get(&block_hash(&target[pos..pos + BLOCK])).and_then(|candidates| {
            candidates
                .iter()
                .filter_map(|&src| {
                    let forward = common_prefix(&base[src..], &target[pos..]);
                    (forward >= BLOCK).then(|| {
                        let max_back = src.min(pos - pending_start);
                        let back = (1..=max_back).take_while(|&k| base[src - k] == target[pos - k]).count();
                        (src - back, pos - back, forward + back)
                    })
                })
                .max_by_key(|&(_, _, len)| len)
        });
        match best {
            Some((src, tgt, len)) => {
                write_inserts(&mut out, &target[pending_start..tgt]);
                write_copies(&mut out, src, len);
                pos = tgt + len;
                pending_start = pos;
            }
            None => pos += 1,
        }
        if out.len() >= max_size {
            return None;
        }
    }
    write_inserts(&mut out, &target[pending_start..]);
    (out.len() < max_size).then_some(out)
}

fn block_hash(block: &[u8]) -> u64 {
    let mut bytes = [0u8; BLOCK];
    bytes.copy_from_slice(block);
    let v = u128::from_le_bytes(bytes);
    let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
    folded.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The delta header's sizes: little-endian base-128, high bit = more bytes follow.
fn write_size(out: &mut Vec<u8>, mut size: usize) {
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_inserts(out: &mut Vec<u8>, mut data: &[u8]) {
    while !data.is_empty() {
        let n = data.len().min(MAX_INSERT);
        out.push(n as u8);
        out.extend_from_slice(&data[..n]);
        data = &data[n..];
    }
}

fn write_copies(out: &mut Vec<u8>, mut offset: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(MAX_COPY);
        let op_at = out.len();
        let mut op = 0x80u8;
        out.push(0);
        for i in 0..4 {
            let byte = ((offset >> (8 * i)) & 0xff) as u8;
            if byte != 0 {
                op |= 1 << i;
                out.push(byte);
            }
        }
        for i in 0..3 {
            let byte = ((n >> (8 * i)) & 0xff) as u8;
            if byte != 0 {
                op |= 1 << (4 + i);
                out.push(byte);
            }
        }
        out[op_at] = op;
        offset += n;
        len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent reader of git's delta format, written from the format description.
    fn apply(base: &[u8], delta: &[u8]) -> Vec<u8> {
        fn size(d: &[u8], i: &mut usize) -> usize {
            let (mut v, mut shift) = (0usize, 0);
            loop {
                let b = d[*i];
                *i += 1;
                v |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return v;
                }
            }
        }
        let mut i = 0;
        assert_eq!(size(delta, &mut i), base.len());
        let target_len = size(delta, &mut i);
        let mut out = Vec::new();
        while i < delta.len() {
            let op = delta[i];
            i += 1;
            if op & 0x80 != 0 {
                let (mut off, mut len) = (0usize, 0usize);
                for bit in 0..4 {
                    if op & (1 << bit) != 0 {
                        off |= (delta[i] as usize) << (8 * bit);
                        i += 1;
                    }
                }
                for bit in 0..3 {
                    if op & (1 << (4 + bit)) != 0 {
                        len |= (delta[i] as usize) << (8 * bit);
                        i += 1;
                    }
                }
                if len == 0 {
                    len = 0x10000;
                }
                out.extend_from_slice(&base[off..off + len]);
            } else {
                assert!(op != 0, "reserved instruction 0");
                out.extend_from_slice(&delta[i..i + op as usize]);
                i += op as usize;
            }
        }
        assert_eq!(out.len(), target_len);
        out
    }

    fn text(lines: usize, seed: usize) -> Vec<u8> {
        (0..lines).map(|i| format!("line {i}: {}\n", (i * 7919 + seed) % 10007)).collect::<String>().into_bytes()
    }

    #[test]
    fn round_trips_edits_at_start_middle_and_end() {
        let base = text(5000, 1);
        let mut cases: Vec<Vec<u8>> = Vec::new();
        cases.push([b"prefix\n".as_slice(), &base].concat());
        cases.push([&base[..], b"suffix\n"].concat());
        let mut middle = base.clone();
        middle.splice(30_000..30_010, b"CHANGED!".iter().copied());
        cases.push(middle);
        let mut removed = base.clone();
        removed.drain(10_000..50_000);
        cases.push(removed);
        cases.push([&base[60_000..], &base[..60_000]].concat());
        for target in cases {
            let delta = encode(&base, &target, target.len()).expect("similar data gives a delta");
            assert!(delta.len() < target.len() / 20, "delta {} for target {}", delta.len(), target.len());
            assert_eq!(apply(&base, &delta), target);
        }
    }

    #[test]
    fn long_copies_are_split_and_offsets_beyond_16_bits_work() {
        let base = text(40_000, 3); // > 500 KB
        let target = [&base[..], b"x"].concat();
        let delta = encode(&base, &target, target.len()).unwrap();
        assert_eq!(apply(&base, &delta), target);
    }

    #[test]
    fn unrelated_or_tiny_data_gives_no_delta() {
        let base = text(2000, 1);
        let other: Vec<u8> = (0..base.len()).map(|i| (i * 131 % 251) as u8).collect();
        assert!(encode(&base, &other, other.len() / 2).is_none());
        assert!(encode(b"short", b"short too", 100).is_none());
    }

    #[test]
    fn binary_data_with_zero_runs_round_trips() {
        let base: Vec<u8> = (0..100_000u32).map(|i| if i % 1000 < 500 { 0 } else { (i % 256) as u8 }).collect();
        let mut target = base.clone();
        target[70_000] ^= 0xff;
        target.extend_from_slice(&[0; 3000]);
        let delta = encode(&base, &target, target.len()).unwrap();
        assert_eq!(apply(&base, &delta), target);
    }
}
