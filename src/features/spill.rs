//! Keys that grow with requests, held in bounded memory.
//!
//! Two things in the heavy stage need a set of keys as large as the requests: finding the
//! request ids seen more than once, and counting distinct prompts per agent-week. A [`Spill`]
//! keeps up to a budget of keys in memory; past it, it writes them to temporary files,
//! partitioned by the key's own hash bits, so that equal keys always land in one partition.
//! At the end each partition is read back alone, sorted and reduced. The answer is exact and
//! does not depend on row order; memory is the budget plus the largest partition, so a
//! billion keys need about 1/[`PARTITIONS`] of themselves at once, never all of them. Input that
//! fits the budget never touches the disk.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;

/// Partitions a spilled set is split into. Keys are hashes, so the partitions are even.
pub const PARTITIONS: usize = 256;

/// Keys held in memory before a spill writes them out, unless the caller sets another budget:
/// 8M keys are 64 MB of request ids or 128 MB of prompt keys.
pub const DEFAULT_KEYS_IN_MEMORY: usize = 8 << 20;

/// A key a [`Spill`] can hold: fixed-width bytes, and an even partition.
pub trait Key: Copy + Ord {
    const BYTES: usize;
    fn partition(&self) -> usize;
    fn write(&self, out: &mut Vec<u8>);
    fn read(bytes: &[u8]) -> Self;
}

/// A request id's hash.
impl Key for u64 {
    const BYTES: usize = 8;
    fn partition(&self) -> usize {
        (self >> 56) as usize % PARTITIONS
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read(bytes: &[u8]) -> u64 {
        u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
}

/// A prompt's hash within one agent-week (the agent-week's slot, then the hash).
impl Key for (u32, u64) {
    const BYTES: usize = 12;
    fn partition(&self) -> usize {
        (self.1 >> 56) as usize % PARTITIONS
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }
    fn read(bytes: &[u8]) -> (u32, u64) {
        (
            u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")),
            u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes")),
        )
    }
}

/// Keys in memory up to a budget, then in partitioned temporary files.
#[derive(Debug)]
pub struct Spill<K: Key> {
    buffer: Vec<K>,
    budget: usize,
    /// Repeats may be dropped when the buffer fills (distinct counting); otherwise every key is
    /// kept (finding the ones seen twice).
    distinct: bool,
    dir: Option<crate::scratch::Scratch>,
    /// Keys written to disk.
    pub spilled: u64,
}

impl<K: Key> Spill<K> {
    /// A set that keeps every key (to find repeats).
    pub fn all(budget: usize) -> Spill<K> {
        Spill::new(budget, false)
    }

    /// A set that may drop repeats as it goes (to count distinct keys).
    pub fn distinct(budget: usize) -> Spill<K> {
        Spill::new(budget, true)
    }

    fn new(budget: usize, distinct: bool) -> Spill<K> {
        Spill {
            buffer: Vec::new(),
            budget: budget.max(1),
            distinct,
            dir: None,
            spilled: 0,
        }
    }

    pub fn push(&mut self, key: K) -> std::io::Result<()> {
        self.buffer.push(key);
        if self.buffer.len() >= self.budget {
            if self.distinct {
                self.buffer.sort_unstable();
                self.buffer.dedup();
                // Repeats freed enough room: keep going in memory.
                if self.buffer.len() <= self.budget / 2 {
                    return Ok(());
                }
            }
            self.flush()?;
        }
        Ok(())
    }

    fn partition_path(&self, partition: usize) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.path().join(format!("{partition:03}.keys")))
    }

    /// Appends the buffer to the partition files.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.dir.is_none() {
            let made = crate::scratch::Scratch::new("keys");
            self.dir = Some(made.map_err(crate::scratch::failed_in(&std::env::temp_dir()))?);
        }
        let dir = self.dir.as_ref().expect("a directory").path().to_path_buf();
        let failed = crate::scratch::failed_in(&dir);
        self.buffer.sort_unstable_by_key(|key| key.partition());
        let mut start = 0;
        let mut bytes = Vec::new();
        while start < self.buffer.len() {
            let partition = self.buffer[start].partition();
            let end = start
                + self.buffer[start..]
                    .iter()
                    .position(|key| key.partition() != partition)
                    .unwrap_or(self.buffer.len() - start);
            bytes.clear();
            for key in &self.buffer[start..end] {
                key.write(&mut bytes);
            }
            let path = self.partition_path(partition).expect("a directory");
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(&failed)?;
            file.write_all(&bytes).map_err(&failed)?;
            start = end;
        }
        self.spilled += self.buffer.len() as u64;
        self.buffer.clear();
        self.buffer.shrink_to_fit();
        Ok(())
    }

    /// Every key, sorted, one partition at a time: `each` is called with a partition's keys
    /// (repeats kept unless the set is distinct, in which case they are dropped).
    pub fn finish(mut self, mut each: impl FnMut(&[K])) -> std::io::Result<()> {
        if self.dir.is_none() {
            self.buffer.sort_unstable();
            if self.distinct {
                self.buffer.dedup();
            }
            each(&self.buffer);
            return Ok(());
        }
        self.flush()?;
        let mut bytes = Vec::new();
        let mut keys: Vec<K> = Vec::new();
        for partition in 0..PARTITIONS {
            let path = self.partition_path(partition).expect("a directory");
            let Ok(file) = File::open(&path) else {
                continue;
            };
            bytes.clear();
            BufReader::new(file).read_to_end(&mut bytes)?;
            keys.clear();
            keys.extend(bytes.chunks_exact(K::BYTES).map(K::read));
            keys.sort_unstable();
            if self.distinct {
                keys.dedup();
            }
            each(&keys);
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

/// The request ids seen more than once, each with how many rows carry it: a sorted table that
/// the second pass looks every row up in. It is as large as the requests (on Claude Code logs
/// every request is streamed in two copies), so it is kept compact: 12 bytes a key and an index
/// of 2 bytes a key, where a hash map took 17 bytes a slot, rounded up to a power of two, and
/// was built from a list of the pairs held beside it (110 MB at 2.4M requests, against 33 MB).
#[derive(Debug, Default)]
pub struct Repeated {
    keys: Vec<u64>,
    copies: Vec<u32>,
    /// Where each range of keys by their top bits starts in `keys` (keys are hashes, so the
    /// ranges are even): a lookup reads one range of about two keys.
    starts: Vec<u32>,
    bits: u32,
}

impl Repeated {
    /// The repeated keys of `spill`, read back one sorted partition at a time.
    pub fn of(spill: Spill<u64>) -> std::io::Result<Repeated> {
        let mut repeated = Repeated::default();
        spill.finish(|run| repeated.add_sorted(run))?;
        Ok(repeated.indexed())
    }

    /// A table of `(key, copies)` pairs in any order (tests, and callers with few keys).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u32)>) -> Repeated {
        let mut pairs: Vec<(u64, u32)> = pairs.into_iter().collect();
        pairs.sort_unstable();
        pairs.dedup_by_key(|(key, _)| *key);
        let (keys, copies) = pairs.into_iter().unzip();
        Repeated {
            keys,
            copies,
            ..Repeated::default()
        }
        .indexed()
    }

    /// Adds the keys of a sorted run that occur more than once, each once, with how many times.
    /// Runs come in key order (partitions are ranges of the top bits).
    fn add_sorted(&mut self, sorted: &[u64]) {
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == sorted[i] {
                j += 1;
            }
            if j - i > 1 {
                self.keys.push(sorted[i]);
                self.copies.push(u32::try_from(j - i).unwrap_or(u32::MAX));
            }
            i = j;
        }
    }

    fn indexed(mut self) -> Repeated {
        debug_assert!(self.keys.windows(2).all(|w| w[0] < w[1]));
        self.keys.shrink_to_fit();
        self.copies.shrink_to_fit();
        // About two keys a range; at least one range, at most 2^31.
        self.bits = (self.keys.len() / 2).max(1).ilog2().min(31);
        let ranges = 1usize << self.bits;
        self.starts = Vec::with_capacity(ranges + 1);
        let mut at = 0;
        for range in 0..ranges {
            while at < self.keys.len() && self.range_of(self.keys[at]) < range {
                at += 1;
            }
            self.starts.push(at as u32);
        }
        self.starts.push(self.keys.len() as u32);
        self
    }

    fn range_of(&self, key: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (key >> (64 - self.bits)) as usize
        }
    }

    /// The position of `key` in the table, if it is repeated.
    pub fn position(&self, key: u64) -> Option<usize> {
        if self.keys.is_empty() {
            return None;
        }
        let range = self.range_of(key);
        let (start, end) = (self.starts[range] as usize, self.starts[range + 1] as usize);
        self.keys[start..end]
            .iter()
            .position(|&k| k == key)
            .map(|i| start + i)
    }

    /// How many rows carry `key`, if more than one.
    pub fn copies(&self, key: u64) -> Option<u32> {
        self.position(key).map(|i| self.copies[i])
    }

    /// How many rows carry the key at `position`.
    pub fn copies_at(&self, position: usize) -> u32 {
        self.copies[position]
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u64) -> Vec<u64> {
        // Spread over every partition; every third key is repeated.
        (0..n)
            .flat_map(|i| {
                let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                if i % 3 == 0 {
                    vec![key, key]
                } else {
                    vec![key]
                }
            })
            .collect()
    }

    fn repeats(budget: usize, input: &[u64]) -> (Vec<(u64, u32)>, u64) {
        let mut spill = Spill::all(budget);
        for key in input {
            spill.push(*key).unwrap();
        }
        let spilled = spill.spilled;
        let table = Repeated::of(spill).unwrap();
        let out = table.keys.iter().copied().zip(table.copies.iter().copied());
        (out.collect(), spilled)
    }

    #[test]
    fn every_repeated_key_is_found_and_no_other() {
        for n in [0u64, 1, 2, 3, 5, 100, 20_000] {
            let input = keys(n);
            let table = Repeated::of({
                let mut spill = Spill::all(1_000);
                input.iter().for_each(|key| spill.push(*key).unwrap());
                spill
            })
            .unwrap();
            for i in 0..n {
                let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let expected = (i % 3 == 0).then_some(2);
                assert_eq!(table.copies(key), expected, "n {n}, key {i}");
            }
            assert_eq!(table.len() as u64, n.div_ceil(3));
            // The extremes of the key space, which land in the first and last ranges.
            assert_eq!(table.copies(u64::MAX), None);
            assert_eq!(table.copies(1), None);
        }
        let pairs = Repeated::from_pairs([(u64::MAX, 3), (0, 2), (7, 4)]);
        assert_eq!(
            [0, 7, u64::MAX, 8].map(|key| pairs.copies(key)),
            [Some(2), Some(4), Some(3), None]
        );
    }

    #[test]
    fn spilled_repeats_are_the_in_memory_repeats() {
        let mut input = keys(20_000);
        // Copies far apart, so that they are written in different flushes.
        input.reverse();
        let (in_memory, none) = repeats(usize::MAX, &input);
        let (spilled, written) = repeats(1_000, &input);
        assert_eq!(none, 0);
        assert!(written > 20_000, "{written}");
        assert_eq!(in_memory.len(), 6_667);
        assert!(in_memory.iter().all(|(_, copies)| *copies == 2));
        assert_eq!(spilled, in_memory);
    }

    #[test]
    fn distinct_counts_survive_a_spill() {
        let count = |budget: usize| {
            let mut spill: Spill<(u32, u64)> = Spill::distinct(budget);
            for i in 0..50_000u64 {
                // Agent-week i % 7, prompts repeating every 1,000 rows.
                spill
                    .push((
                        (i % 7) as u32,
                        (i % 1_000).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    ))
                    .unwrap();
            }
            let mut per_slot = [0u64; 7];
            spill
                .finish(|run| {
                    for (slot, _) in run {
                        per_slot[*slot as usize] += 1;
                    }
                })
                .unwrap();
            per_slot
        };
        let whole = count(usize::MAX);
        // (i % 7, i % 1,000) repeats every 7,000 rows.
        assert_eq!(whole.iter().sum::<u64>(), 7_000);
        assert_eq!(count(100), whole);
    }
}
