//! The File backend: rotation by size and by time, whole lines only, restart continues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trackflow::{
    backend::Rotation, clock::ManualClock, BufferedConsumer, Event, FileBackend, Identity, ImmediateConsumer,
    Properties, Tracker,
};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("trackflow-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// File name → parsed events, checking every line is a whole event.
fn read_all(dir: &Path) -> BTreeMap<String, Vec<Event>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'), "{} ends mid-line", path.display());
        let events = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap())
            .collect();
        out.insert(path.file_name().unwrap().to_string_lossy().into_owned(), events);
    }
    out
}

#[test]
fn rotates_by_size_without_splitting_lines() {
    let dir = TempDir::new("size");
    let files = FileBackend::builder(&dir.0)
        .rotation(Rotation::Never)
        .max_bytes(2_000)
        .build()
        .unwrap();
    let t = Tracker::builder()
        .consumer(BufferedConsumer::builder(files).max_batch(7).build())
        .build()
        .unwrap();
    for i in 0..100 {
        t.track(
            &Identity::user(format!("u{i}")),
            "view",
            Properties::new().with("i", i),
        )
        .unwrap();
    }
    t.shutdown(std::time::Duration::from_secs(1)).unwrap();
    let all = read_all(&dir.0);
    assert!(all.len() >= 5, "{:?}", all.keys());
    assert!(all.contains_key("events.jsonl") && all.contains_key("events.1.jsonl"));
    for name in all.keys() {
        let len = std::fs::metadata(dir.0.join(name)).unwrap().len();
        assert!(len <= 2_000, "{name} is {len} bytes");
    }
    let mut seen: Vec<i64> = all
        .values()
        .flatten()
        .map(|e| match e.properties.get("i") {
            Some(trackflow::Value::Int(i)) => *i,
            other => panic!("{other:?}"),
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
}

#[test]
fn rotates_by_day_and_by_hour() {
    for (rotation, step_ms, first, second) in [
        (
            Rotation::Daily,
            86_400_000,
            "events-2023-11-14.jsonl",
            "events-2023-11-15.jsonl",
        ),
        (
            Rotation::Hourly,
            3_600_000,
            "events-2023-11-14T22.jsonl",
            "events-2023-11-14T23.jsonl",
        ),
    ] {
        let dir = TempDir::new(&format!("{rotation:?}"));
        let clock = Arc::new(ManualClock::new(1_700_000_000_500));
        let files = FileBackend::builder(&dir.0)
            .rotation(rotation)
            .clock(clock.clone())
            .build()
            .unwrap();
        let t = Tracker::builder()
            .consumer(ImmediateConsumer::new(files))
            .build()
            .unwrap();
        t.track(&Identity::user("u1"), "a", Properties::new()).unwrap();
        t.track(&Identity::user("u1"), "b", Properties::new()).unwrap();
        clock.advance_ms(step_ms);
        t.track(&Identity::user("u1"), "c", Properties::new()).unwrap();
        let all = read_all(&dir.0);
        let names: Vec<_> = all.keys().cloned().collect();
        assert_eq!(names, [first, second], "{rotation:?}");
        assert_eq!(
            all[first].iter().map(|e| e.name().unwrap()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(all[second][0].name(), Some("c"));
    }
}

#[test]
fn a_restart_appends_to_the_newest_file() {
    let dir = TempDir::new("restart");
    for round in 0..2 {
        let files = FileBackend::builder(&dir.0)
            .rotation(Rotation::Never)
            .build()
            .unwrap();
        let t = Tracker::builder()
            .consumer(ImmediateConsumer::new(files))
            .build()
            .unwrap();
        t.track(&Identity::user("u1"), &format!("round{round}"), Properties::new())
            .unwrap();
    }
    let all = read_all(&dir.0);
    assert_eq!(all.len(), 1);
    assert_eq!(all["events.jsonl"].len(), 2);
}

#[test]
fn written_lines_round_trip_to_the_same_events() {
    let dir = TempDir::new("roundtrip");
    let memory = trackflow::MemoryBackend::new();
    let files = FileBackend::builder(&dir.0).build().unwrap();
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(files))
        .consumer(ImmediateConsumer::new(memory.clone()))
        .build()
        .unwrap();
    let who = Identity::anonymous("d1")
        .with_user("u1")
        .with_user_key("email")
        .with_session("s1");
    t.track(
        &who,
        "buy",
        Properties::new()
            .with("price", 2.0)
            .with("n", 2)
            .with("tags", vec!["a"]),
    )
    .unwrap();
    t.user_unset(&who, ["coupon"]).unwrap();
    t.item_set("book", "b1", [("title", "中文")]).unwrap();
    let written: Vec<Event> = read_all(&dir.0).into_values().flatten().collect();
    let mut expected = memory.events();
    for e in &mut expected {
        e.time_given = true; // what reading back means
    }
    assert_eq!(written, expected);
}

#[cfg(unix)]
#[test]
fn files_and_directories_it_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("modes");
    let dir = tmp.0.join("nested/events");
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(
            FileBackend::builder(&dir).max_bytes(200).build().unwrap(),
        ))
        .build()
        .unwrap();
    for i in 0..10 {
        t.track(&Identity::user("u1"), "e", Properties::new().with("i", i))
            .unwrap();
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&tmp.0.join("nested")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert!(files.len() > 1, "rotated: {files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}
