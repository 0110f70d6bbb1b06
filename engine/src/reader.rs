//! The read path: any byte range of an object as a stream of large `Bytes` chunks. Every chunk
//! a read touches is checked against its crc before a byte of it is returned, and the trailer
//! is checked against the index entry first, so a damaged or misplaced record is an error,
//! never wrong bytes. One read ahead is kept in flight while the caller sends the last.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::align_up;
use crate::error::{EngineError, Result};
use crate::index::IndexEntry;
use crate::io::BufResult;
use crate::record::{decode_table, trailer_offset, Trailer, BLOCK_LEN, TRAILER_FIXED_LEN};
use crate::segment::Segment;
use crate::store::{ObjectMeta, Store, StoreInner};

/// A verified stream of an object's bytes.
pub struct ObjectReader {
    entry: IndexEntry,
    segment: Arc<Segment>,
    /// Next payload offset to return.
    pos: u64,
    /// End of the requested range.
    end: u64,
    /// crcs of chunks `table_first..`.
    table: Vec<u32>,
    table_first: u64,
    read_bytes: u64,
    /// Bytes already read and verified, starting at payload offset `ready_at`.
    ready: Option<(u64, Bytes)>,
    prefetch: Option<(u64, monoio::task::JoinHandle<BufResult<usize>>)>,
}

impl Store {
    /// Opens a verified stream of `range` of object `id` (the whole object: `0..size`).
    pub async fn read(&self, id: u64, range: Range<u64>) -> Result<ObjectReader> {
        let inner = &self.inner;
        // A compaction may retire the segment between the lookup and the open: look again.
        let mut entry = inner.index.get(id)?.ok_or(EngineError::NotFound { id })?;
        for _ in 0..3 {
            if let Some(segment) = inner.segment(entry.segment_id) {
                return ObjectReader::open_entry(inner, entry, segment, range).await;
            }
            entry = inner.index.get(id)?.ok_or(EngineError::NotFound { id })?;
        }
        Err(EngineError::Corrupt {
            id,
            segment_id: entry.segment_id,
            offset: entry.offset,
            reason: "the segment file holding the object is missing".into(),
        })
    }

    /// Reads a whole object into memory (convenience for small objects and tests).
    pub async fn read_to_vec(&self, id: u64) -> Result<Vec<u8>> {
        let meta = self.metadata(id)?;
        let mut reader = self.read(id, 0..meta.size_bytes).await?;
        let mut out = Vec::with_capacity(meta.size_bytes as usize);
        while let Some(chunk) = reader.next_chunk().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

impl ObjectReader {
    pub(crate) async fn open_entry(
        inner: &StoreInner,
        entry: IndexEntry,
        segment: Arc<Segment>,
        range: Range<u64>,
    ) -> Result<ObjectReader> {
        let id = entry.object_id;
        if range.start > range.end || range.end > entry.payload_len {
            return Err(EngineError::RangeOutOfBounds {
                id,
                start: range.start,
                end: range.end,
                size_bytes: entry.payload_len,
            });
        }
        let corrupt = |reason: String| EngineError::Corrupt {
            id,
            segment_id: entry.segment_id,
            offset: entry.offset,
            reason,
        };
        let chunk = u64::from(entry.chunk_size);
        let read_bytes = align_up(inner.config.read_buffer_bytes as u64, chunk);
        let trailer_at = entry.offset + trailer_offset(entry.payload_len);
        let payload_at = entry.offset + BLOCK_LEN;
        // Small objects: payload and trailer in one read.
        let small = trailer_at + BLOCK_LEN - payload_at <= read_bytes;
        let first_read_at = if small { payload_at } else { trailer_at };
        let first_len = (trailer_at + BLOCK_LEN - first_read_at) as usize;
        let (outcome, buf) = segment
            .file
            .read_at(Vec::with_capacity(first_len), first_read_at)
            .await;
        let got = outcome.map_err(|e| EngineError::io("read record", &segment.path, e))?;
        if got < first_len {
            return Err(corrupt(format!(
                "record cut short: read {got} of {first_len} bytes"
            )));
        }
        let buf = Bytes::from(buf);
        let fixed = &buf[(trailer_at - first_read_at) as usize..];
        let trailer = Trailer::decode(fixed, &inner.key, entry.segment_id, entry.offset)
            .map_err(|e| corrupt(format!("trailer: {e:?}")))?;
        if trailer.object_id != id
            || trailer.seq != entry.seq
            || trailer.payload_len != entry.payload_len
            || trailer.digest != entry.digest
            || trailer.chunk_size != entry.chunk_size
        {
            return Err(corrupt("trailer disagrees with the index entry".into()));
        }
        // The crcs of the chunks the range touches.
        let (first_chunk, last_chunk) = if range.start == range.end {
            (0, 0)
        } else {
            (range.start / chunk, (range.end - 1) / chunk + 1)
        };
        let in_block = (BLOCK_LEN as usize - TRAILER_FIXED_LEN) / 4;
        let table = if trailer.chunk_count as usize <= in_block {
            let bytes =
                &fixed[TRAILER_FIXED_LEN..TRAILER_FIXED_LEN + 4 * trailer.chunk_count as usize];
            let all = decode_table(bytes, trailer.table_crc)
                .ok_or_else(|| corrupt("chunk checksum table fails its crc".into()))?;
            all[first_chunk as usize..last_chunk as usize].to_vec()
        } else {
            let len = 4 * (last_chunk - first_chunk) as usize;
            let at = trailer_at + TRAILER_FIXED_LEN as u64 + 4 * first_chunk;
            let (outcome, bytes) = segment.file.read_at(Vec::with_capacity(len), at).await;
            let got =
                outcome.map_err(|e| EngineError::io("read checksum table", &segment.path, e))?;
            if got < len {
                return Err(corrupt("checksum table cut short".into()));
            }
            bytes
                .chunks_exact(4)
                .map(|c| crate::codec::get_u32(c, 0))
                .collect()
        };
        let mut reader = ObjectReader {
            entry,
            segment,
            pos: range.start,
            end: range.end,
            table,
            table_first: first_chunk,
            read_bytes,
            ready: None,
            prefetch: None,
        };
        if small && range.start < range.end {
            let payload = buf.slice(0..entry.payload_len as usize);
            reader.verify(0, &payload)?;
            reader.ready = Some((0, payload));
        }
        Ok(reader)
    }

    /// The object's metadata.
    pub fn meta(&self) -> ObjectMeta {
        ObjectMeta::from_entry(&self.entry)
    }

    /// Bytes left in the range.
    pub fn remaining_bytes(&self) -> u64 {
        self.end - self.pos
    }

    /// Checks the chunks of `bytes`, which start at chunk-aligned payload offset `at`.
    pub(crate) fn verify(&self, at: u64, bytes: &[u8]) -> Result<()> {
        let chunk = u64::from(self.entry.chunk_size);
        debug_assert_eq!(at % chunk, 0);
        for (i, piece) in bytes.chunks(chunk as usize).enumerate() {
            let index = at / chunk + i as u64;
            let Some(expected) = index
                .checked_sub(self.table_first)
                .and_then(|i| self.table.get(i as usize))
            else {
                continue;
            };
            if crc32c::crc32c(piece) != *expected {
                return Err(EngineError::Corrupt {
                    id: self.entry.object_id,
                    segment_id: self.entry.segment_id,
                    offset: self.entry.offset,
                    reason: format!("chunk {index} fails its checksum"),
                });
            }
        }
        Ok(())
    }

    /// The read covering payload offset `at` (chunk-aligned): its start and length.
    fn span(&self, at: u64) -> (u64, usize) {
        let chunk = u64::from(self.entry.chunk_size);
        let stop = align_up(self.end, chunk).min(self.entry.payload_len);
        (at, (stop - at).min(self.read_bytes) as usize)
    }

    fn start_read(&self, at: u64) -> monoio::task::JoinHandle<BufResult<usize>> {
        let (_, len) = self.span(at);
        let segment = self.segment.clone();
        let file_at = self.entry.offset + BLOCK_LEN + at;
        monoio::spawn(async move { segment.file.read_at(Vec::with_capacity(len), file_at).await })
    }

    /// The next verified piece of the range; None at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        if self.pos >= self.end {
            return None;
        }
        let chunk = u64::from(self.entry.chunk_size);
        let (at, bytes) = match self.ready.take() {
            Some(ready) => ready,
            None => match self.fetch(self.pos - self.pos % chunk).await {
                Ok(read) => read,
                Err(error) => {
                    self.pos = self.end;
                    return Some(Err(error));
                }
            },
        };
        let from = (self.pos - at) as usize;
        let to = (self.end.min(at + bytes.len() as u64) - at) as usize;
        self.pos = at + to as u64;
        // Keep the disk busy while the caller sends this piece.
        if self.pos < self.end && self.prefetch.is_none() {
            self.prefetch = Some((self.pos, self.start_read(self.pos)));
        }
        Some(Ok(bytes.slice(from..to)))
    }

    async fn fetch(&mut self, at: u64) -> Result<(u64, Bytes)> {
        let handle = match self.prefetch.take() {
            Some((prefetched_at, handle)) if prefetched_at == at => handle,
            _ => self.start_read(at),
        };
        let (_, expected) = self.span(at);
        let (outcome, buf) = handle.await;
        let got = outcome.map_err(|e| EngineError::io("read payload", &self.segment.path, e))?;
        if got < expected {
            return Err(EngineError::Corrupt {
                id: self.entry.object_id,
                segment_id: self.entry.segment_id,
                offset: self.entry.offset,
                reason: format!("payload cut short: read {got} of {expected} bytes at {at}"),
            });
        }
        self.verify(at, &buf)?;
        Ok((at, Bytes::from(buf)))
    }

    /// The chunk crcs of the range read (whole object ranges give the whole table).
    pub(crate) fn into_table(self) -> Vec<u32> {
        self.table
    }
}
