//! A byte buffer whose memory starts on a 4 KiB boundary, as `O_DIRECT` writes require of
//! the memory they read from (besides an aligned file offset and length). Upload payloads are
//! gathered in these, so the same buffer can go to the disk with or without the page cache.
//!
//! A buffer whose size is a whole number of huge pages (2 MiB) starts on a huge-page boundary
//! and asks the kernel for transparent huge pages (`MADV_HUGEPAGE`; honoured when
//! /sys/kernel/mm/transparent_hugepage/enabled is `always` or `madvise`). Each `O_DIRECT`
//! write pins the pages it reads from, and the copy into the buffer and its hashing walk the
//! pages. 2 MiB huge-page write buffers in place of 1 MiB small-page ones took 6-23% of the
//! node's CPU time per uploaded byte away (docs/BENCHMARKS.md, 2026-11-29 14:30).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of the buffer's memory: a page, which covers every logical block size a Linux
/// block device reports (512 to 4096).
pub const BUFFER_ALIGN_BYTES: usize = 4096;

/// Size (and alignment) of an x86-64 transparent huge page.
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// A fixed-capacity, 4 KiB-aligned byte buffer. Its capacity never changes: writes past it
/// are refused by assertion, since every caller sizes the buffer up front.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    capacity: usize,
    /// Bytes from the start that have been written at least once (`len` never exceeds it);
    /// what lies beyond is uninitialized memory, never handed out as a slice.
    initialized: usize,
}

// SAFETY: the buffer owns its allocation outright (no shared or thread-bound state), as a
// Vec<u8> does.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only read the initialized bytes.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer holding up to `capacity` bytes (at least one page is allocated);
    /// backed by huge pages where the kernel gives them if `capacity` is a multiple of
    /// [`HUGE_PAGE_BYTES`].
    pub fn with_capacity(capacity: usize) -> Self {
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size (at least one page).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        if layout.align() == HUGE_PAGE_BYTES {
            // Advice only: where huge pages are off, or none is free when the buffer is first
            // written, the kernel uses small pages and nothing else changes.
            // SAFETY: the range is exactly the allocation just made, which nothing else uses.
            unsafe { libc::madvise(raw.cast(), layout.size(), libc::MADV_HUGEPAGE) };
        }
        Self {
            ptr,
            len: 0,
            capacity,
            initialized: 0,
        }
    }

    fn layout(capacity: usize) -> Layout {
        let size = capacity
            .max(1)
            .checked_next_multiple_of(BUFFER_ALIGN_BYTES)
            .expect("buffer capacity overflows usize");
        let align = if size % HUGE_PAGE_BYTES == 0 {
            HUGE_PAGE_BYTES
        } else {
            BUFFER_ALIGN_BYTES
        };
        Layout::from_size_align(size, align).expect("page-aligned layout is valid")
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Room left.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// Forgets the contents, keeping the memory.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `data`, which must fit.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        assert!(data.len() <= self.remaining(), "aligned buffer overflow");
        // SAFETY: the destination lies inside the allocation (checked above) and cannot
        // overlap `data`, which is borrowed while we hold `&mut self`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                data.len(),
            );
        }
        self.len += data.len();
        self.initialized = self.initialized.max(self.len);
    }

    /// The room after the bytes held, for a caller that fills it in place (a socket read)
    /// and then calls [`advance`](Self::advance). Memory never written before is zeroed
    /// first, once in the buffer's life (buffers are reused), so the slice is initialized.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        if self.initialized < self.capacity {
            // SAFETY: the range lies inside the allocation (`initialized <= capacity`).
            unsafe {
                std::ptr::write_bytes(
                    self.ptr.as_ptr().add(self.initialized),
                    0,
                    self.capacity - self.initialized,
                )
            };
            self.initialized = self.capacity;
        }
        // SAFETY: `len..capacity` lies inside the allocation and is initialized (just above
        // or earlier); `&mut self` makes the borrow exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.as_ptr().add(self.len),
                self.capacity - self.len,
            )
        }
    }

    /// Counts the first `count` bytes of [`spare_mut`](Self::spare_mut) as held.
    pub fn advance(&mut self, count: usize) {
        assert!(count <= self.remaining(), "aligned buffer overflow");
        assert!(
            self.len + count <= self.initialized,
            "advanced over bytes never handed out by spare_mut"
        );
        self.len += count;
    }

    /// Appends `count` zero bytes, which must fit.
    pub fn push_zeros(&mut self, count: usize) {
        assert!(count <= self.remaining(), "aligned buffer overflow");
        // SAFETY: the range lies inside the allocation (checked above).
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(self.len), 0, count) };
        self.len += count;
        self.initialized = self.initialized.max(self.len);
    }

    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialized, and the allocation outlives `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_capacity` with this very layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.capacity)) };
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

// SAFETY: the pointer is that of the heap allocation, which does not move when the buffer
// does, and `bytes_init` never exceeds what was written.
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_page_aligned_and_contents_are_kept() {
        for capacity in [0, 1, 4095, 4096, 4097, 1 << 20] {
            let mut buf = AlignedBuf::with_capacity(capacity);
            assert_eq!(buf.as_slice().as_ptr() as usize % BUFFER_ALIGN_BYTES, 0);
            assert!(buf.is_empty());
            let data: Vec<u8> = (0..capacity).map(|i| (i % 251) as u8).collect();
            let half = capacity / 2;
            buf.extend_from_slice(&data[..half]);
            buf.extend_from_slice(&data[half..]);
            assert_eq!(buf.as_slice(), &data[..]);
            assert_eq!(buf.remaining(), 0);
            buf.clear();
            assert_eq!(buf.len(), 0);
        }
    }

    #[test]
    fn whole_huge_pages_start_on_a_huge_page() {
        for capacity in [HUGE_PAGE_BYTES, 2 * HUGE_PAGE_BYTES] {
            let mut buf = AlignedBuf::with_capacity(capacity);
            assert_eq!(buf.as_slice().as_ptr() as usize % HUGE_PAGE_BYTES, 0);
            buf.push_zeros(capacity);
            assert_eq!(buf.len(), capacity);
        }
    }

    #[test]
    fn zeros_follow_the_data() {
        let mut buf = AlignedBuf::with_capacity(8192);
        buf.extend_from_slice(&[7; 10]);
        buf.push_zeros(4086);
        assert_eq!(buf.len(), 4096);
        assert!(buf.as_slice()[..10].iter().all(|&b| b == 7));
        assert!(buf.as_slice()[10..].iter().all(|&b| b == 0));
    }

    #[test]
    fn filled_in_place_after_copied_bytes() {
        let mut buf = AlignedBuf::with_capacity(8192);
        buf.extend_from_slice(&[7; 100]);
        let spare = buf.spare_mut();
        assert_eq!(spare.len(), 8092);
        assert!(
            spare.iter().all(|&b| b == 0),
            "never-written memory is zeroed"
        );
        spare[..50].fill(9);
        buf.advance(50);
        assert_eq!(buf.len(), 150);
        assert!(buf.as_slice()[100..].iter().all(|&b| b == 9));
        // Reused: what was written before stays readable through spare_mut, not re-zeroed.
        buf.clear();
        assert_eq!(buf.spare_mut()[120], 9);
        buf.advance(8192);
        assert_eq!(buf.remaining(), 0);
    }

    #[test]
    #[should_panic(expected = "aligned buffer overflow")]
    fn advancing_past_the_capacity_is_refused() {
        let mut buf = AlignedBuf::with_capacity(4096);
        let _ = buf.spare_mut();
        buf.advance(4097);
    }

    #[test]
    #[should_panic(expected = "aligned buffer overflow")]
    fn writing_past_the_capacity_is_refused() {
        let mut buf = AlignedBuf::with_capacity(4);
        buf.extend_from_slice(&[0; 5]);
    }
}
