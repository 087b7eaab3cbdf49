//! How the bytes still missing on the appliance are sent: one stream, or two
//! in parallel on two SSH connections (libssh2 encrypts a session on one
//! thread; see docs/DEVELOPING.md, "SSH transport").
//!
//! Two streams write two files: the lower half of the bundle into the partial
//! file, the upper half into `<part>.2`; the appliance appends the second to
//! the first before it hashes the whole. Each file only ever grows from its
//! start, so after a dropped connection of either stream both resume exactly
//! from their sizes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The lower half ends on a MiB boundary, the same one for every run with the same size.
const ALIGN: u64 = 1 << 20;

/// With `streams: auto`, a second stream (and login) is used when at least
/// this many bytes are still to be sent.
pub const AUTO_MIN: u64 = 512 << 20;

/// Option `streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
pub enum Streams {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
}

/// What the appliance has of this copy: the sizes of the partial file and of
/// the upper half, or `fresh` for a copy that starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub part: Option<u64>,
    pub part2: Option<u64>,
    pub fresh: bool,
}

/// One stream's work: source bytes `from..to` appended to file `upper`
/// (else the partial file), which holds the source from byte `base` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub upper: bool,
    pub base: u64,
    pub from: u64,
    pub to: u64,
}

impl Segment {
    /// Size of its file once the segment is written.
    pub fn end_len(&self) -> u64 {
        self.to - self.base
    }
    /// Bytes its file has already (0: a new file).
    pub fn at(&self) -> u64 {
        self.from - self.base
    }
}

/// The segments to send (none when everything is there), whether they may
/// run in parallel, and whether the finished file is split in two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub segments: Vec<Segment>,
    pub parallel: bool,
    pub split: bool,
}

impl Plan {
    /// Every byte is sent by this run (nothing resumed).
    pub fn from_zero(&self) -> bool {
        self.segments.iter().all(|s| s.at() == 0) && self.segments.first().is_some_and(|s| s.from == 0)
    }
    pub fn resumed(&self) -> bool {
        !self.from_zero()
    }
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.to - s.from).sum()
    }
}

/// Where the upper half starts.
pub fn split_point(size: u64) -> u64 {
    (size / 2) / ALIGN * ALIGN
}

/// Plan the sending of a `size`-byte source over what `have` shows.
pub fn plan(have: Layout, size: u64, streams: Streams) -> Plan {
    let mid = split_point(size);
    let seg = |upper, base, from, to| Segment { upper, base, from, to };
    if !have.fresh {
        if let Some(q) = have.part2 {
            let p = have.part.unwrap_or(0);
            if mid > 0 && p <= mid && q <= size - mid {
                // A split copy in progress: both halves resume.
                let segments: Vec<_> =
                    [seg(false, 0, p, mid), seg(true, mid, mid + q, size)].into_iter().filter(|s| s.from < s.to).collect();
                let parallel = streams != Streams::One && segments.len() == 2;
                return Plan { segments, parallel, split: true };
            }
            return plan(Layout { fresh: true, ..have }, size, streams);
        }
    }
    let from = if have.fresh { 0 } else { crate::resume_offset(have.part, size) };
    let two = match streams {
        Streams::One => false,
        Streams::Two => true,
        Streams::Auto => size - from >= AUTO_MIN,
    };
    if two && mid > from && mid > 0 {
        return Plan { segments: vec![seg(false, 0, from, mid), seg(true, mid, mid, size)], parallel: true, split: true };
    }
    Plan { segments: vec![seg(false, 0, from, size)], parallel: false, split: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1 << 20;
    fn at(part: Option<u64>, part2: Option<u64>) -> Layout {
        Layout { part, part2, fresh: false }
    }
    fn ranges(p: &Plan) -> Vec<(bool, u64, u64)> {
        p.segments.iter().map(|s| (s.upper, s.from, s.to)).collect()
    }

    #[test]
    fn auto_splits_only_large_copies() {
        let big = 1024 * M + 7;
        let p = plan(at(None, None), big, Streams::Auto);
        assert_eq!(ranges(&p), vec![(false, 0, 512 * M), (true, 512 * M, big)]);
        assert!(p.parallel && p.split && p.from_zero() && p.bytes() == big);
        let small = plan(at(None, None), 16 * M, Streams::Auto);
        assert_eq!((ranges(&small), small.parallel, small.split), (vec![(false, 0, 16 * M)], false, false));
        // what is still missing counts, not the size
        assert!(!plan(at(Some(900 * M), None), big, Streams::Auto).split);
        assert!(!plan(at(None, None), big, Streams::One).split);
        assert!(plan(at(None, None), 16 * M, Streams::Two).split);
        assert!(!plan(at(None, None), 256 * M, Streams::Auto).split);
        assert!(plan(at(None, None), 512 * M, Streams::Auto).split);
    }

    #[test]
    fn a_split_copy_resumes_both_halves_exactly() {
        let size = 64 * M + 3;
        let p = plan(at(Some(10), Some(5)), size, Streams::Auto);
        assert_eq!(ranges(&p), vec![(false, 10, 32 * M), (true, 32 * M + 5, size)]);
        assert!(p.parallel && p.split && p.resumed());
        assert_eq!((p.segments[0].at(), p.segments[1].at(), p.segments[1].end_len()), (10, 5, size - 32 * M));
        // one stream asked for: the same halves, in turn
        let one = plan(at(Some(10), Some(5)), size, Streams::One);
        assert_eq!((ranges(&one), one.parallel, one.split), (ranges(&p), false, true));
        // the lower half complete: only the upper one is sent
        let p = plan(at(Some(32 * M), Some(5)), size, Streams::Two);
        assert_eq!((ranges(&p), p.parallel), (vec![(true, 32 * M + 5, size)], false));
        // both complete: nothing to send, only the join
        assert!(plan(at(Some(32 * M), Some(size - 32 * M)), size, Streams::Two).segments.is_empty());
        // a one-stream resume below the split point continues in two
        let p = plan(at(Some(M), None), size, Streams::Two);
        assert_eq!(ranges(&p), vec![(false, M, 32 * M), (true, 32 * M, size)]);
        assert_eq!(p.segments[1].at(), 0);
    }

    #[test]
    fn halves_that_do_not_fit_start_over() {
        let size = 64 * M;
        for (part, part2) in [(Some(33 * M), Some(0)), (Some(0), Some(32 * M + 1)), (None, Some(64 * M))] {
            let p = plan(at(part, part2), size, Streams::One);
            assert_eq!(ranges(&p), vec![(false, 0, size)], "{part:?} {part2:?}");
            assert!(p.from_zero() && !p.split);
        }
        let fresh = plan(Layout { part: Some(5), part2: Some(5), fresh: true }, size, Streams::Two);
        assert!(fresh.from_zero() && fresh.split);
        // a tiny file has no lower half to split off
        assert!(!plan(at(None, None), 1000, Streams::Two).split);
    }
}
