//! Every type the README names is reachable at the crate root, as the README writes it.
#![cfg(all(
    feature = "file",
    feature = "growingio",
    feature = "gravity",
    feature = "personalize",
    feature = "retail",
    feature = "talent",
    feature = "webhook",
    feature = "kafka"
))]

use std::any::type_name;

// What the README writes, imported from the root: this file does not compile if one is not.
type Named = (
    trackflow::BackgroundConsumer,
    trackflow::consumer::BackgroundConsumerBuilder,
    trackflow::BufferedConsumer,
    trackflow::Config,
    trackflow::DebugConsumer,
    trackflow::Error,
    trackflow::FileBackend,
    trackflow::Gravity,
    trackflow::GrowingIo,
    trackflow::transport::HttpTransport,
    trackflow::ImmediateConsumer,
    trackflow::MemoryBackend,
    trackflow::Personalize,
    trackflow::Properties,
    trackflow::Retail,
    trackflow::ShutdownReport,
    trackflow::StatsSnapshot,
    trackflow::Talent,
    trackflow::Tracker,
    trackflow::TrackerBuilder,
    trackflow::Route,
    trackflow::RouteKind,
    trackflow::stats::BackendStats,
    trackflow::Webhook,
    trackflow::Kafka,
    Box<dyn trackflow::Backend>,
    Box<dyn trackflow::auth::aws::CredentialsProvider>,
);

/// Backticked words in the README that are not trackflow types: variants, header names,
/// other crates' types, Python's `True`.
const NOT_TYPES: &[&str] = &[
    "AssumeRole", // STS actions and an AWS error code
    "AssumeRoleWithWebIdentity",
    "AsyncBufferedConsumer", // the GrowingIO SDK's name, a doc alias of BackgroundConsumer
    "Authorization",
    "Block",
    "Debug",
    "DropNewest",
    "EventV3List", // GrowingIO's protobuf messages, in backend::growingio::proto
    "ExpiredTokenException",
    "GET",
    "ItemDtoList",
    "Memory",
    "PUT",
    "PATH", // an environment variable
    "Process",
    "Serialize",
    "Spill",
    "ThrottlingException", // an AWS error code
    "True",
];

#[test]
fn every_type_the_readme_names_is_at_the_root() {
    let names = type_name::<Named>();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut missing = Vec::new();
    for word in readme.split('`').skip(1).step_by(2) {
        let word = word.split("::").next().unwrap_or_default();
        let is_type = word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.len() > 1
            && word.chars().all(|c| c.is_ascii_alphanumeric());
        let named = names
            .match_indices(&format!("::{word}"))
            .any(|(i, m)| !names[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()));
        if is_type && !NOT_TYPES.contains(&word) && !named {
            missing.push(word.to_owned());
        }
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "README names types not in this test's root list: {missing:?}"
    );
}

/// Bad input from outside is refused at the call, with the field named: an event that names
/// no one (where the backend needs someone), and keys or names with control characters.
#[test]
fn nameless_events_and_control_characters_are_refused_at_the_call() {
    use trackflow::{ImmediateConsumer, MemoryBackend, Properties, Tracker};
    let t = Tracker::builder()
        .consumer(ImmediateConsumer::new(MemoryBackend::new()))
        .build()
        .unwrap();
    let err = t
        .track(&trackflow::Identity::default(), "open", Properties::new())
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input: identity: names no one"),
        "{err}"
    );
    let who = trackflow::Identity::user("u1");
    // Keys made at run time and literals alike.
    for p in [
        Properties::new().with(String::from("a\0b"), 1),
        Properties::new().with("a\0b", 1),
    ] {
        let err = t.track(&who, "open", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: properties.a\\0b: must not contain control characters (NUL, newlines, tabs, DEL)"
        );
    }
    let nested = Properties::new().with("outer", Properties::new().with("in\nner", 1));
    let err = t.track(&who, "open", nested).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input: properties.outer.in\\nner:"),
        "{err}"
    );
    let err = t.track(&who, "op\0en", Properties::new()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input: event name: must not contain"),
        "{err}"
    );
    // Items name no one by nature; a session alone names someone.
    t.item_set("book", "b-1", Properties::new()).unwrap();
    t.track(
        &trackflow::Identity::default().with_session("s-1"),
        "open",
        Properties::new(),
    )
    .unwrap();
    assert_eq!(t.stats().delivered, 2);
}

/// The last fallback of the state directory, `<temp>/trackflow-state`, is in a directory
/// every user may write to: one made there by another user, or writable by others, is
/// refused (no spool, a warning) and nothing is written into it. Run in a child process with
/// `HOME`, `XDG_STATE_HOME` and `TRACKFLOW_STATE_DIR` unset and `TMPDIR` pointing at the test's.
#[cfg(unix)]
#[test]
fn a_planted_state_directory_is_never_adopted() {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var_os("TF_PLANTED_CHILD").is_some() {
        let c = trackflow::BackgroundConsumer::builder(trackflow::MemoryBackend::new()).build();
        let refused = format!("{c:?}").contains("spill: None");
        println!("child: {}", if refused { "refused" } else { "adopted" });
        return;
    }
    let tmp = std::env::temp_dir().join(format!("tf-planted-{}", std::process::id()));
    let planted = tmp.join("trackflow-state");
    std::fs::create_dir_all(&planted).unwrap();
    let child = |planted_mode: u32, expect: &str| {
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(planted_mode)).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_planted_state_directory_is_never_adopted",
                "--nocapture",
            ])
            .env_remove("HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("TRACKFLOW_STATE_DIR")
            .env("TMPDIR", &tmp)
            .env("TF_PLANTED_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains(&format!("child: {expect}")),
            "{text}"
        );
        let inside = std::fs::read_dir(&planted).unwrap().count();
        assert_eq!(
            inside > 0,
            expect == "adopted",
            "written into it only when adopted"
        );
    };
    // Writable by others.
    child(0o777, "refused");
    // Another user's (the tests run as root in CI, which may give it away).
    if std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).is_ok() {
        child(0o700, "refused");
        std::os::unix::fs::chown(&planted, Some(0), Some(0)).unwrap();
    }
    // Its own (given back above where it was given away), private: used.
    child(0o700, "adopted");
    let _ = std::fs::remove_dir_all(&tmp);
}
