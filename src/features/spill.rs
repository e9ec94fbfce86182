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
            self.dir = Some(crate::scratch::Scratch::new("keys")?);
        }
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
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            file.write_all(&bytes)?;
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

/// The keys of a sorted run that occur more than once, each once, with how many times.
pub fn repeated(sorted: &[u64], out: &mut Vec<(u64, u32)>) {
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        if j - i > 1 {
            out.push((sorted[i], u32::try_from(j - i).unwrap_or(u32::MAX)));
        }
        i = j;
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
        let mut out = Vec::new();
        spill.finish(|run| repeated(run, &mut out)).unwrap();
        out.sort_unstable();
        (out, spilled)
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
