//! Scrub: read every record of every segment, check heads, trailers, chunk checksums and the
//! blake3 digest of every payload, and check that every index entry points at a record that
//! passed. Blocking; run it on a maintenance thread.

use std::collections::HashSet;

use crate::error::Result;
use crate::recovery::{scan_segment, Found, ScanMode};
use crate::segment::FIRST_RECORD_OFFSET;
use crate::store::{DamagedRecord, Store};

/// What a scrub found.
#[derive(Clone, Debug, Default)]
pub struct ScrubReport {
    /// Segments read.
    pub segments: u64,
    /// Object records whose every byte checked out.
    pub objects_ok: u64,
    /// Payload bytes read and verified.
    pub bytes_verified: u64,
    /// Live objects (in the index) whose record is damaged or missing: not served; fetch them
    /// again from a peer, or rebuild the index to drop them.
    pub damaged_objects: Vec<DamagedRecord>,
    /// Damaged regions and records that no live object depends on.
    pub damaged_regions: Vec<DamagedRecord>,
    /// Damaged slots in the index (rebuild the index to clear them).
    pub damaged_index_slots: u64,
}

impl ScrubReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.damaged_objects.is_empty()
            && self.damaged_regions.is_empty()
            && self.damaged_index_slots == 0
    }
}

impl Store {
    /// Verifies everything stored; see the module comment.
    pub fn scrub(&self) -> Result<ScrubReport> {
        let inner = &self.inner;
        let mut report = ScrubReport::default();
        let mut good = HashSet::new();
        let segments: Vec<_> = inner.segments.read().values().cloned().collect();
        for segment in segments {
            // Records past the frontier are still being written; the next scrub covers them.
            let end = segment.state.lock().frontier();
            let scan = scan_segment(
                segment.file.as_ref(),
                &inner.key,
                segment.id,
                FIRST_RECORD_OFFSET,
                Some(end),
                ScanMode {
                    verify_payload: true,
                    verify_digest: true,
                },
                &|_| false,
            );
            report.segments += 1;
            report.bytes_verified += scan.bytes_verified;
            for found in &scan.found {
                if let Found::Object { head, .. } = found {
                    report.objects_ok += 1;
                    good.insert((head.segment_id, head.offset, head.object_id));
                }
            }
            if scan.log_end < end {
                report.damaged_regions.push(DamagedRecord {
                    segment_id: segment.id,
                    offset: scan.log_end,
                    object_id: None,
                    reason: format!(
                        "segment ends at {} but records were written up to {end}",
                        scan.log_end
                    ),
                });
            }
            report.damaged_regions.extend(scan.damaged);
        }
        inner.index.for_each(|entry| {
            if !good.contains(&(entry.segment_id, entry.offset, entry.object_id)) {
                report.damaged_objects.push(DamagedRecord {
                    segment_id: entry.segment_id,
                    offset: entry.offset,
                    object_id: Some(entry.object_id),
                    reason: "the index points at a record that is damaged or missing".into(),
                });
            }
        });
        // Damaged regions that are the records of live objects are already listed above.
        let live: HashSet<(u32, u64)> = report
            .damaged_objects
            .iter()
            .map(|d| (d.segment_id, d.offset))
            .collect();
        report
            .damaged_regions
            .retain(|d| !live.contains(&(d.segment_id, d.offset)));
        report.damaged_index_slots = inner.index.damaged_slots();
        Ok(report)
    }
}
