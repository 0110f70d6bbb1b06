//! Compaction: copy what is still live out of mostly-dead segments, then delete them. Live
//! objects are copied record by record (verified on the way, same sequence number) and the
//! index repointed; tombstones and acceptances are carried forward while they still matter.
//! A segment is deleted only after a checkpoint that no longer needs it is durable.

use crate::error::Result;
use crate::recovery::{scan_segment, Found, ScanMode};
use crate::segment::FIRST_RECORD_OFFSET;
use crate::writer::Writer;

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments emptied and deleted.
    pub segments_deleted: u64,
    /// Live objects copied.
    pub objects_moved: u64,
    /// Payload bytes copied.
    pub bytes_moved: u64,
    /// Segment bytes given back to the file system.
    pub bytes_reclaimed: u64,
}

impl Writer {
    /// Compacts every sealed segment whose dead share is at least `dead_percent_min` percent
    /// (0 compacts every sealed segment that has any dead byte).
    pub async fn compact(&self, dead_percent_min: u8) -> Result<CompactionReport> {
        let inner = self.store.inner.clone();
        inner.check_open()?;
        // Never compact into a segment that is itself a candidate.
        self.seal_active();
        let candidates: Vec<_> = inner
            .segments
            .read()
            .values()
            .filter(|segment| {
                let state = segment.state.lock();
                let used = state.append_pos.saturating_sub(FIRST_RECORD_OFFSET);
                state.sealed
                    && state.outstanding.is_empty()
                    && state.dead_bytes() > 0
                    && state.dead_bytes() * 100 >= used * u64::from(dead_percent_min)
            })
            .cloned()
            .collect();
        let mut report = CompactionReport::default();
        let mut retired = Vec::new();
        for segment in candidates {
            if Some(segment.id) == self.active_segment_id() {
                continue;
            }
            let end = segment.state.lock().append_pos;
            let scan = scan_segment(
                segment.file.as_ref(),
                &inner.key,
                segment.id,
                FIRST_RECORD_OFFSET,
                Some(end),
                ScanMode {
                    verify_payload: false,
                    verify_digest: false,
                },
                &|_| false,
            );
            for found in scan.found {
                match found {
                    Found::Object { head, .. } => {
                        let Some(entry) = inner.index.get(head.object_id)? else {
                            continue;
                        };
                        if entry.segment_id == segment.id
                            && entry.offset == head.offset
                            && self.relocate(&entry).await?
                        {
                            report.objects_moved += 1;
                            report.bytes_moved += entry.payload_len;
                        }
                    }
                    Found::Tombstone(head) => {
                        // An older record of the id may survive in another segment; without
                        // its tombstone a rebuild would bring the deleted object back.
                        if inner.index.get(head.object_id)?.is_none() {
                            self.carry_marker(&head).await?;
                        }
                    }
                    Found::Accept(head) => {
                        if let Some(entry) = inner.index.get(head.object_id)? {
                            if entry.accepted && entry.segment_id != segment.id {
                                self.carry_marker(&head).await?;
                            }
                        }
                    }
                }
            }
            let state = segment.state.lock();
            if state.live_objects == 0 && state.outstanding.is_empty() {
                report.bytes_reclaimed += state.append_pos;
                retired.push(segment.id);
            }
        }
        if retired.is_empty() {
            return Ok(report);
        }
        {
            let mut segments = inner.segments.write();
            for id in &retired {
                segments.remove(id);
            }
        }
        inner.pinned.forget_segments(&retired);
        inner.retired.lock().extend(retired.iter().copied());
        // The checkpoint makes the repointed index durable first, then deletes the files.
        self.seal_active();
        inner.write_checkpoint(false)?;
        report.segments_deleted = retired.len() as u64;
        Ok(report)
    }
}
