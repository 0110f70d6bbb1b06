//! The workloads: which request each ticket makes and what its correct answer is. They hold
//! everything prepared before the run, so making a request allocates nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use colossus::client::{MultipartFraming, NodeClient};

use crate::load::{AnswerCheck, Body, Expect, LoadConfig, Op, OpKind, Rng, Workload};
use crate::target::{Object, PlannedUpload, Server, UploadAuth};

/// Whole-object GETs over a set of objects.
pub struct GetWorkload {
    /// The objects.
    pub objects: Vec<Object>,
    /// Pick objects at random (else round-robin by ticket).
    pub random: bool,
    /// Check the multihash of every body (length is always checked when known).
    pub verify: bool,
}

impl GetWorkload {
    fn pick(&self, ticket: u64, rng: &mut Rng) -> &Object {
        let n = self.objects.len() as u64;
        let i = if self.random {
            rng.below(n)
        } else {
            ticket % n
        };
        &self.objects[i as usize]
    }

    fn read_op<'a>(&'a self, object: &'a Object) -> Op<'a> {
        Op {
            kind: OpKind::Read,
            method: "GET",
            path: &object.path,
            range: None,
            token: None,
            body: None,
            expect: Expect {
                status: 200,
                length: object.size_bytes,
                digest: if self.verify {
                    object.digest.as_ref()
                } else {
                    None
                },
                // Known content without a multihash (none here today) would be compared.
                content: if self.verify && object.digest.is_none() {
                    object.content().map(|c| (c, 0))
                } else {
                    None
                },
                ..Expect::default()
            },
        }
    }
}

impl Workload for GetWorkload {
    fn op(&self, ticket: u64, rng: &mut Rng) -> Option<Op<'_>> {
        Some(self.read_op(self.pick(ticket, rng)))
    }
}

/// Range GETs of one object.
pub struct RangeWorkload {
    /// The object (its size must be known).
    pub object: Object,
    /// Bytes per range.
    pub range_bytes: u64,
    /// Every range starts here (else uniformly at random, aligned).
    pub offset: Option<u64>,
    /// Random offsets are multiples of this.
    pub align: u64,
    /// Compare the bytes with the known content (objects this tool uploaded).
    pub verify: bool,
}

impl RangeWorkload {
    /// The object size.
    pub fn size(&self) -> u64 {
        self.object.size_bytes.unwrap_or(0)
    }
}

impl Workload for RangeWorkload {
    fn op(&self, _ticket: u64, rng: &mut Rng) -> Option<Op<'_>> {
        let size = self.size();
        let len = self.range_bytes.min(size);
        let first = match self.offset {
            Some(o) => o,
            None => {
                let align = self.align.max(1);
                rng.below((size - len) / align + 1) * align
            }
        };
        let last = first + len - 1;
        Some(Op {
            kind: OpKind::Read,
            method: "GET",
            path: &self.object.path,
            range: Some((first, last)),
            token: None,
            body: None,
            expect: Expect {
                status: 206,
                length: Some(len),
                content_range: Some((first, last, size)),
                content: if self.verify {
                    self.object.content().map(|c| (c, first))
                } else {
                    None
                },
                ..Expect::default()
            },
        })
    }
}

/// Uploads of prepared objects, each once.
pub struct UploadWorkload {
    /// The uploads, in ticket order.
    pub uploads: Vec<PlannedUpload>,
    /// Multipart framing around every file.
    pub framing: MultipartFraming,
    /// `framing.content_type()`.
    pub content_type: String,
    /// The target is a sink (200 with the byte count) instead of a node (201 with the id).
    pub sink: bool,
}

impl UploadWorkload {
    /// Uploads with a fixed framing.
    pub fn new(uploads: Vec<PlannedUpload>, sink: bool) -> Self {
        let framing = MultipartFraming::new("bench.bin", "----colossusbenchb0undaryQx7Zp3");
        let content_type = framing.content_type();
        Self {
            uploads,
            framing,
            content_type,
            sink,
        }
    }

    fn upload_op(&self, index: usize) -> Option<Op<'_>> {
        let u = self.uploads.get(index)?;
        let body = Body {
            content_type: &self.content_type,
            preamble: &self.framing.preamble,
            content: u.content,
            epilogue: &self.framing.epilogue,
        };
        let expect = if self.sink {
            Expect {
                status: 200,
                answer: Some(AnswerCheck::Num(
                    "bytes",
                    self.framing.content_length(u.content.size_bytes),
                )),
                ..Expect::default()
            }
        } else {
            Expect {
                status: 201,
                answer: Some(AnswerCheck::Str("id", &u.multihash)),
                ..Expect::default()
            }
        };
        Some(Op {
            kind: OpKind::Write,
            method: "POST",
            path: &u.path,
            range: None,
            token: u.token.as_deref(),
            body: Some(body),
            expect,
        })
    }
}

impl Workload for UploadWorkload {
    fn op(&self, ticket: u64, _rng: &mut Rng) -> Option<Op<'_>> {
        self.upload_op(usize::try_from(ticket).ok()?)
    }
}

/// Reads and uploads in a given ratio.
pub struct MixedWorkload {
    /// The reads.
    pub reads: GetWorkload,
    /// The uploads (the run ends when they run out).
    pub writes: UploadWorkload,
    /// Share of reads, 0..=1.
    pub read_ratio: f64,
    /// Next upload.
    pub next_write: AtomicU64,
}

impl Workload for MixedWorkload {
    fn op(&self, ticket: u64, rng: &mut Rng) -> Option<Op<'_>> {
        if rng.unit() < self.read_ratio {
            self.reads.op(ticket, rng)
        } else {
            let i = self.next_write.fetch_add(1, Ordering::Relaxed);
            self.writes.upload_op(usize::try_from(i).ok()?)
        }
    }
}

/// Creates `count` objects of generated content on the node and uploads them (untimed, every
/// upload checked); returns them as read targets.
pub fn prepare_objects(
    server: &Server,
    admin: &NodeClient,
    auth: &UploadAuth,
    count: u64,
    size_bytes: u64,
    seed: u64,
) -> Result<Vec<Object>, String> {
    let uploads = crate::target::plan_uploads(server, admin, auth, count, size_bytes, seed)?;
    let objects = crate::target::uploaded_objects(server, &uploads);
    let cfg = LoadConfig::quiet(
        server,
        usize::try_from(count).unwrap_or(usize::MAX).clamp(1, 8),
        crate::cores(),
        Some(count),
        None,
        seed,
    );
    let stats = crate::load::run(cfg, Arc::new(UploadWorkload::new(uploads, false)));
    if stats.error_count() > 0 {
        return Err(format!(
            "preparing objects failed: {}",
            stats.error_samples.join("; ")
        ));
    }
    Ok(objects)
}
