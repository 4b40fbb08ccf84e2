//! The disk queue against the damage it must survive.

use super::*;
use crate::disk::files::create_private_dir;
use crate::disk::reader::Reader;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tf-disk-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn read_all(r: &mut Reader) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut batch = Vec::new();
        let done = r.read(7, &mut batch, || true, || {}).unwrap();
        out.extend(batch.into_iter().map(|r| r.payload));
        if done {
            return out;
        }
    }
}

fn segments(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count()
}

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("record number {i}").into_bytes())
        .collect()
}

#[test]
fn records_come_back_in_order_and_ack_removes_segments() {
    let dir = tmp("order");
    let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
    for p in payloads(100) {
        q.append(&p, |_| {}).unwrap();
    }
    assert_eq!(q.unread(), 100);
    assert_eq!(read_all(&mut r), payloads(100));
    assert_eq!(q.unread(), 0);
    r.ack().unwrap();
    let segs = segments(&dir);
    assert_eq!(segs, 0, "a drained, acknowledged queue keeps no segment");
    assert_eq!(q.bytes(), 0);
    // And it goes on after the drain.
    q.append(b"again", |_| {}).unwrap();
    assert_eq!(read_all(&mut r), vec![b"again".to_vec()]);
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_was_not_acknowledged_is_read_again_after_a_restart() {
    let dir = tmp("restart");
    {
        let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
        for p in payloads(10) {
            q.append(&p, |_| {}).unwrap();
        }
        let mut first = Vec::new();
        r.read(4, &mut first, || true, || {}).unwrap();
        r.ack().unwrap();
        let mut more = Vec::new();
        r.read(3, &mut more, || true, || {}).unwrap(); // read, never acknowledged
    }
    let (_q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
    let mut got = Vec::new();
    r.read(100, &mut got, || true, || {}).unwrap();
    assert!(got.iter().all(|r| r.recovered));
    let got: Vec<Vec<u8>> = got.into_iter().map(|r| r.payload).collect();
    assert_eq!(got, payloads(10)[4..].to_vec());
    drop((_q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tmp("lock");
    let _first = DiskQueue::open(&dir, u64::MAX).unwrap();
    let err = DiskQueue::open(&dir, u64::MAX).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(err.to_string().contains("in use by another tracker"), "{err}");
    drop(_first);
    DiskQueue::open(&dir, u64::MAX).expect("free again once the first is gone");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_budget_refuses_what_does_not_fit() {
    let dir = tmp("budget");
    let (q, mut r) = DiskQueue::open(&dir, 1000).unwrap();
    let mut ok = 0;
    while q.append(&[7u8; 100], |_| {}).is_ok() {
        ok += 1;
    }
    assert!(matches!(q.append(&[7u8; 100], |_| {}), Err(AppendError::Full)));
    assert_eq!(ok, (1000 - HEADER as usize) / 108);
    assert_eq!(read_all(&mut r).len(), ok);
    r.ack().unwrap();
    q.append(&[7u8; 100], |_| {}).expect("room again once drained");
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

/// Writes `n` records with an earlier "process" and returns the segment's path.
fn written(dir: &Path, n: usize) -> PathBuf {
    let (q, _r) = DiskQueue::open(dir, u64::MAX).unwrap();
    for p in payloads(n) {
        q.append(&p, |_| {}).unwrap();
    }
    q.sync().unwrap();
    dir.join(seg_name(1))
}

#[test]
fn a_torn_tail_is_skipped_and_counted() {
    let dir = tmp("torn");
    let seg = written(&dir, 5);
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
    assert_eq!(read_all(&mut r), payloads(4));
    let d = q.damage();
    assert_eq!((d.torn_tails, d.corrupt_regions), (1, 0));
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flipped_byte_loses_one_record_only() {
    for what in ["payload", "length"] {
        let dir = tmp(&format!("flip-{what}"));
        let seg = written(&dir, 6);
        let mut bytes = fs::read(&seg).unwrap();
        // Past the segment header and record 0 lies record 1.
        let first = 8 + 8 + payloads(1)[0].len();
        let target = if what == "payload" {
            first + 8 + 3
        } else {
            first + 1
        };
        bytes[target] ^= 0x5a;
        fs::write(&seg, &bytes).unwrap();
        let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
        let mut want = payloads(6);
        want.remove(1);
        assert_eq!(read_all(&mut r), want, "{what}");
        assert_eq!(q.damage().corrupt_regions, 1, "{what}");
        drop((q, r));
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn empty_and_foreign_files_are_reported_and_left_alone() {
    let dir = tmp("foreign");
    written(&dir, 3);
    fs::write(dir.join(seg_name(2)), b"").unwrap(); // a zero-length segment
    fs::write(dir.join("notes.txt"), b"hello").unwrap();
    let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
    assert_eq!(read_all(&mut r), payloads(3));
    let foreign = q.damage().foreign_files;
    assert!(foreign.iter().any(|p| p.ends_with("notes.txt")), "{foreign:?}");
    assert!(foreign.iter().any(|p| p.ends_with(seg_name(2))), "{foreign:?}");
    assert!(dir.join("notes.txt").exists());
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn caught_up_runs_under_the_lock_only_when_drained() {
    let dir = tmp("caught");
    let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
    for p in payloads(5) {
        q.append(&p, |_| {}).unwrap();
    }
    let mut out = Vec::new();
    let mut called = false;
    assert!(!r.read(3, &mut out, || true, || called = true).unwrap());
    assert!(!called);
    assert!(r.read(3, &mut out, || true, || called = true).unwrap());
    assert!(called);
    assert_eq!(out.len(), 5);
    q.append(b"more", |_| {}).unwrap();
    assert!(
        !r.read(3, &mut out, || false, || {}).unwrap(),
        "may_read says no: nothing read"
    );
    assert_eq!(out.len(), 5);
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn segments_roll_and_are_read_across() {
    let dir = tmp("roll");
    let (q, mut r) = DiskQueue::open(&dir, u64::MAX).unwrap();
    let big = vec![1u8; (SEGMENT_BYTES / 3) as usize];
    for _ in 0..7 {
        q.append(&big, |_| {}).unwrap();
    }
    let segs = segments(&dir);
    assert!(segs >= 3, "{segs}");
    assert_eq!(read_all(&mut r).len(), 7);
    r.ack().unwrap();
    assert_eq!(q.bytes(), 0);
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_mapped_segment_left_by_a_dead_process_reads_back_whole() {
    let dir = tmp("mapped");
    {
        let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
        for p in payloads(50) {
            q.append(&p, |_| {}).unwrap();
        }
        // The reader sees a mapped record at once, with no commit.
        let mut first = Vec::new();
        r.read(10, &mut first, || true, || {}).unwrap();
        assert_eq!(first.len(), 10);
        r.ack().unwrap();
    }
    // A clean close cuts the segment to what it holds; kill -9 leaves the preallocated,
    // zero-filled tail, made here by hand.
    let seg = dir.join(seg_name(1));
    assert!(fs::metadata(&seg).unwrap().len() < MAPPED_SEGMENT_BYTES);
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(MAPPED_SEGMENT_BYTES)
        .unwrap();
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    assert_eq!(read_all(&mut r), payloads(50)[10..].to_vec());
    assert_eq!(q.damage(), DiskDamage::default(), "unwritten space is not damage");
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_record_torn_mid_copy_in_a_mapped_segment_is_skipped() {
    let dir = tmp("mapped-torn");
    {
        let (q, _r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
        for p in payloads(5) {
            q.append(&p, |_| {}).unwrap();
        }
    }
    // A header whose payload never arrived, right after the last record, in the zero-filled
    // tail kill -9 leaves.
    let seg = dir.join(seg_name(1));
    let mut bytes = fs::read(&seg).unwrap();
    bytes.resize(MAPPED_SEGMENT_BYTES as usize, 0);
    let end = 8 + payloads(5).iter().map(|p| 8 + p.len()).sum::<usize>();
    bytes[end..end + 8].copy_from_slice(&[20, 0, 0, 0, 1, 2, 3, 4]);
    bytes[end + 8] = b'x';
    fs::write(&seg, &bytes).unwrap();
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    assert_eq!(read_all(&mut r), payloads(5));
    assert_eq!(q.damage().torn_tails, 1);
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mapped_segments_roll_seal_and_sync() {
    let dir = tmp("mapped-roll");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    let big = vec![3u8; (MAPPED_SEGMENT_BYTES / 3) as usize];
    for _ in 0..4 {
        q.append(&big, |_| {}).unwrap();
        q.sync().unwrap();
    }
    // The first segment was sealed, then written through and cut to what it holds.
    let first = fs::metadata(dir.join(seg_name(1))).unwrap().len();
    assert!(
        first < MAPPED_SEGMENT_BYTES && first > 2 * (MAPPED_SEGMENT_BYTES / 3),
        "{first}"
    );
    assert_eq!(read_all(&mut r).len(), 4);
    r.ack().unwrap();
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_mapped_segment_sealed_while_being_read_reads_to_its_end() {
    let dir = tmp("mapped-live");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    let big = vec![5u8; (MAPPED_SEGMENT_BYTES / 4) as usize];
    q.append(&big, |_| {}).unwrap();
    q.append(&big, |_| {}).unwrap();
    // The reader opens the segment while it is the writer's, and stays behind...
    let mut out = Vec::new();
    r.read(1, &mut out, || true, || {}).unwrap();
    // ...while the writer fills it, seals it (cut to what it holds) and goes on.
    for _ in 0..4 {
        q.append(&big, |_| {}).unwrap();
    }
    // It looks the sealed segment's length up before the segment is cut, reads on after.
    r.read(1, &mut out, || true, || {}).unwrap();
    r.ack().unwrap();
    assert_eq!(read_all(&mut r).len() + out.len(), 6);
    assert_eq!(q.damage(), DiskDamage::default());
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_next_mapped_segment_is_made_ahead_and_renamed_into_place() {
    let dir = tmp("mapped-spare");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    q.append(b"first", |_| {}).unwrap();
    assert!(!dir.join(SPARE).exists(), "made by the reader, not by an append");
    assert_eq!(read_all(&mut r).len(), 1);
    r.ack().unwrap();
    let spare = fs::metadata(dir.join(SPARE)).unwrap();
    assert_eq!(spare.len(), MAPPED_SEGMENT_BYTES);
    // Filling the first segment moves the spare into place as the second.
    let big = vec![7u8; (MAPPED_SEGMENT_BYTES / 3) as usize];
    for _ in 0..3 {
        q.append(&big, |_| {}).unwrap();
    }
    assert!(!dir.join(SPARE).exists());
    assert!(dir.join(seg_name(2)).exists());
    assert_eq!(read_all(&mut r).len(), 3);
    r.ack().unwrap();
    assert!(!dir.join(seg_name(1)).exists(), "read past: removed");
    assert!(dir.join(SPARE).exists(), "made again for the third");
    drop((q, r));
    assert!(!dir.join(SPARE).exists(), "a closed queue leaves no spare");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_spare_left_by_a_dead_process_is_removed_not_reported() {
    let dir = tmp("mapped-spare-left");
    create_private_dir(&dir).unwrap();
    fs::write(dir.join(SPARE), vec![0u8; 4096]).unwrap();
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    assert!(!dir.join(SPARE).exists());
    assert!(read_all(&mut r).is_empty());
    assert_eq!(q.damage(), DiskDamage::default());
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reader_stopped_at_the_writers_end_reads_what_came_before_the_seal() {
    // The reader stops exactly where the writer is, its read-ahead holding the zeros beyond;
    // the writer then fills that space and seals the segment. Zeros in a stale read-ahead
    // must not pass for the end of the sealed segment.
    let dir = tmp("mapped-stale");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    q.append(b"first", |_| {}).unwrap();
    assert_eq!(read_all(&mut r).len(), 1);
    let big = vec![7u8; (MAPPED_SEGMENT_BYTES / 3) as usize];
    for _ in 0..3 {
        q.append(&big, |_| {}).unwrap();
    }
    assert_eq!(
        read_all(&mut r).len(),
        3,
        "two in the sealed segment, one in the next"
    );
    assert_eq!(q.damage(), DiskDamage::default());
    drop((q, r));
    fs::remove_dir_all(&dir).unwrap();
}

/// Frames `payloads` as the records of a front segment.
fn framed(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        crate::disk::frame(p, &mut out);
    }
    out
}

#[test]
fn what_a_shutdown_hands_back_is_read_first_then_the_unread_rest() {
    let dir = tmp("front");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    for p in payloads(10) {
        q.append(&p, |_| {}).unwrap();
    }
    let mut got = Vec::new();
    r.read(6, &mut got, || true, || {}).unwrap();
    assert_eq!(got.len(), 6);
    // Records 4 and 5 were delivered; 0-3 are handed back (in flight at the deadline).
    let back = framed(&[
        b"record number 0",
        b"record number 1",
        b"record number 2",
        b"record number 3",
    ]);
    assert_eq!(
        r.requeue_front(&back, false, || true).unwrap(),
        crate::disk::Requeued::Written
    );
    drop((q, r));
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    let all = read_all(&mut r);
    let want: Vec<Vec<u8>> = payloads(10)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 4 && *i != 5)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(all, want, "front first, then what was never read, nothing twice");
    r.ack().unwrap();
    drop((q, r));
    let (_q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    assert!(read_all(&mut r).is_empty(), "all acknowledged");
    assert!(!dir.join(seg_name(0)).exists(), "a front read whole goes");
    drop(r);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_shutdown_inside_the_front_keeps_its_unread_part_behind_the_new_records() {
    let dir = tmp("front2");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    for p in payloads(4) {
        q.append(&p, |_| {}).unwrap();
    }
    let mut got = Vec::new();
    r.read(2, &mut got, || true, || {}).unwrap();
    r.requeue_front(&framed(&[b"a", b"b", b"c"]), true, || true)
        .unwrap();
    drop((q, r));
    // The next tracker reads "a" and is stopped with it in flight, "b" delivered.
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    let mut got = Vec::new();
    r.read(2, &mut got, || true, || {}).unwrap();
    assert_eq!(
        got.iter().map(|g| g.payload.clone()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert!(got.iter().all(|g| g.recovered));
    r.requeue_front(&framed(&[b"a"]), false, || true).unwrap();
    drop((q, r));
    let (_q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    let want: Vec<Vec<u8>> = [b"a".to_vec(), b"c".to_vec()]
        .into_iter()
        .chain(payloads(4).into_iter().skip(2))
        .collect();
    assert_eq!(read_all(&mut r), want);
    drop(r);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_front_whose_cursor_was_never_written_is_still_read_first() {
    let dir = tmp("front-crash");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    for p in payloads(3) {
        q.append(&p, |_| {}).unwrap();
    }
    let mut got = Vec::new();
    r.read(3, &mut got, || true, || {}).unwrap();
    r.ack_to(Pos { seq: 1, off: HEADER }).unwrap();
    let before = fs::read(dir.join("cursor")).unwrap();
    r.requeue_front(&framed(&[b"x"]), false, || true).unwrap();
    drop((q, r));
    // A crash between the rename and the cursor: the old cursor is back.
    fs::write(dir.join("cursor"), before).unwrap();
    let (_q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    assert_eq!(
        read_all(&mut r),
        vec![b"x".to_vec()],
        "the front, and nothing read before it"
    );
    drop(r);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_commit_leaves_the_queue_as_it_was() {
    let dir = tmp("front-refused");
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    for p in payloads(3) {
        q.append(&p, |_| {}).unwrap();
    }
    let mut got = Vec::new();
    r.read(1, &mut got, || true, || {}).unwrap();
    assert_eq!(
        r.requeue_front(&framed(&[b"x"]), false, || false).unwrap(),
        crate::disk::Requeued::Refused
    );
    assert!(!dir.join(seg_name(0)).exists() && !dir.join("front.tmp").exists());
    drop((q, r));
    let (_q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    assert_eq!(
        read_all(&mut r),
        payloads(3),
        "nothing acknowledged: all read again"
    );
    drop(r);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_front_is_reported_and_left_alone() {
    let dir = tmp("front-bad");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(seg_name(0)), b"not a front at all, just bytes").unwrap();
    let (q, mut r) = DiskQueue::open_with(&dir, u64::MAX, Mode::Mapped).unwrap();
    q.append(b"one", |_| {}).unwrap();
    assert_eq!(read_all(&mut r), vec![b"one".to_vec()]);
    assert_eq!(q.damage().foreign_files.len(), 1);
    drop((q, r));
    assert!(dir.join(seg_name(0)).exists());
    fs::remove_dir_all(&dir).unwrap();
}
