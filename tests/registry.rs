//! A backend declared outside the crate (here, in a test), registered under its own kind and
//! used from TOML like a built-in one: its settings read by its own struct, misspelt keys
//! refused, secrets masked, its events delivered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use trackflow::backend::{BackendSettings, BuildCtx};
use trackflow::config::SecretString;
use trackflow::delivery::DeliveryCtx;
use trackflow::{delivery::Delivery, Backend, Config, Event, Identity, Properties, Tracker};

/// Lines written, per sink path: what the test backend delivered.
static DELIVERED: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// The settings of the `test_audit` kind.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSettings {
    sink: PathBuf,
    token: SecretString,
    #[serde(default)]
    refuse_names: Vec<String>,
}

impl BackendSettings for AuditSettings {
    const KIND: &'static str = "test_audit";

    fn build(self, ctx: &BuildCtx<'_>) -> trackflow::Result<Box<dyn Backend>> {
        if self.token.0.is_empty() {
            return Err(trackflow::Error::Config(format!(
                "backend `{}`: token is empty",
                ctx.label
            )));
        }
        Ok(Box::new(Audit {
            sink: self.sink,
            refuse: Arc::new(self.refuse_names),
        }))
    }

    fn check(&self, label: &str, _: &trackflow::Route) -> trackflow::Result<()> {
        if self.sink.as_os_str().is_empty() {
            return Err(trackflow::Error::Config(format!(
                "backend `{label}`: sink is empty"
            )));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Audit {
    sink: PathBuf,
    refuse: Arc<Vec<String>>,
}

impl Backend for Audit {
    fn name(&self) -> &'static str {
        "test_audit"
    }

    fn check(&self, _: &Event) -> trackflow::Result<()> {
        Ok(())
    }

    fn deliver(&self, batch: &[Event], _: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let mut refused = Vec::new();
        for (i, e) in batch.iter().enumerate() {
            let name = serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if self.refuse.contains(&name) {
                refused.push(i);
            } else {
                DELIVERED.lock().push((self.sink.clone(), name));
            }
        }
        if !refused.is_empty() {
            d.record(
                Err(trackflow::Error::Config("refused by audit".into())),
                0,
                || refused,
            );
        }
        d
    }
}

fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| trackflow::backend::register::<AuditSettings>().unwrap());
}

#[test]
fn a_backend_registered_from_outside_the_crate_is_used_from_toml() {
    register();
    // Set once, for this test only; no other thread reads or writes the variable.
    unsafe { std::env::set_var("TF_AUDIT_TOKEN", "audit-t0ken-value") };
    let cfg = Config::from_toml_str(
        r#"
        [spool]
        enabled = false

        [[backends]]
        kind = "test_audit"
        name = "audit"
        sink = "/audit/a"
        token = "${TF_AUDIT_TOKEN}"
        refuse_names = ["secret_op"]

        [[backends]]
        kind = "test_audit"
        sink = "/audit/b"
        token = "other"
        route = { names = ["checkout"] }
        "#,
    )
    .unwrap();
    assert!(!format!("{cfg:?}").contains("t0ken"), "{cfg:?}");
    let written = serde_json::to_string(&cfg).unwrap();
    assert!(
        written.contains(r#""kind":"test_audit""#) && !written.contains("t0ken"),
        "{written}"
    );

    let t = Tracker::from_config(&cfg).unwrap();
    for name in ["checkout", "view", "secret_op", "checkout"] {
        t.track(&Identity::user("u1"), name, Properties::new()).unwrap();
    }
    let s = t.shutdown(Duration::from_secs(5)).unwrap().stats;
    let mine: Vec<_> = DELIVERED
        .lock()
        .iter()
        .filter(|(p, _)| p.starts_with("/audit"))
        .cloned()
        .collect();
    let to = |sink: &str| mine.iter().filter(|(p, _)| p == &PathBuf::from(sink)).count();
    assert_eq!((to("/audit/a"), to("/audit/b")), (3, 2), "{mine:?}");
    assert_eq!((s.delivered, s.failed), (5, 1), "{s:?}");
    let labels: Vec<_> = t.backend_stats().into_iter().map(|b| b.name).collect();
    assert_eq!(labels, ["audit", "test_audit"]);
}

#[test]
fn its_settings_are_checked_at_load_by_its_own_struct() {
    register();
    let refused = |toml: &str| Config::from_toml_str(toml).unwrap_err().to_string();
    let e = refused("[backend]\nkind = \"test_audit\"\nsink = \"/x\"\ntoken = \"t\"\nsinks = 1\n");
    assert!(
        e.contains("backend `test_audit` (test_audit): unknown field `sinks`"),
        "{e}"
    );
    let e = refused("[backend]\nkind = \"test_audit\"\ntoken = \"t\"\n");
    assert!(e.contains("missing field `sink`"), "{e}");
    let e = refused("[backend]\nkind = \"test_audit\"\nsink = \"\"\ntoken = \"t\"\n");
    assert!(e.contains("sink is empty"), "{e}");
    // Built, its own builder's refusal surfaces as is.
    let cfg =
        Config::from_toml_str("[backend]\nkind = \"test_audit\"\nsink = \"/x\"\ntoken = \"\"\n").unwrap();
    assert!(Tracker::from_config(&cfg)
        .unwrap_err()
        .to_string()
        .contains("token is empty"));
}

#[test]
fn an_unknown_kind_names_the_known_ones_and_a_kind_registers_once() {
    register();
    let e = Config::from_toml_str("[backend]\nkind = \"test_adit\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("backend kind `test_adit` is not known"), "{e}");
    assert!(e.contains("test_audit") && e.contains("file"), "{e}");
    let again = trackflow::backend::register::<AuditSettings>()
        .unwrap_err()
        .to_string();
    assert!(again.contains("`test_audit` is already registered"), "{again}");
    assert!(trackflow::backend::registered_kinds().contains(&"test_audit"));
}

/// What a config may not say: a backend name that is a path, both backend forms at once;
/// and what it may: consumer settings of one `[[backends]]` entry's own.
#[test]
fn config_names_forms_and_per_entry_consumers() {
    let dir = std::env::temp_dir().join(format!("tf-cfg-rules-{}", std::process::id()));
    let entry = |name: &str| {
        format!(
            "[[backends]]\nkind = \"file\"\ndir = \"{}\"\nname = \"{name}\"\n",
            dir.join("e").display()
        )
    };
    for bad in ["../x", "a/b", "/etc", "..", "."] {
        let err = trackflow::Config::from_toml_str(&entry(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a plain name"), "{bad}: {err}");
    }
    let both = format!("[backend]\nkind = \"file\"\ndir = \"x\"\n\n{}", entry("ok"));
    let err = trackflow::Config::from_toml_str(&both).unwrap_err().to_string();
    assert!(err.contains("both [backend] and [[backends]]"), "{err}");

    let gio =
        "kind = \"growingio\"\nhost = \"http://127.0.0.1:9\"\nproject_key = \"p\"\ndata_source_id = \"d\"\n";
    let two = format!(
        "[consumer]\nmax_in_flight = 4\n\n[[backends]]\n{gio}name = \"narrow\"\n\n[[backends]]\n{gio}name = \"wide\"\nconsumer = {{ max_in_flight = 32, queue_capacity = 100 }}\n"
    );
    let cfg = trackflow::Config::from_toml_str(&two).unwrap();
    let t = trackflow::Tracker::from_config(&cfg).unwrap();
    let widths: Vec<(String, u64)> = t
        .backend_stats()
        .into_iter()
        .map(|s| (s.name, s.max_in_flight))
        .collect();
    assert_eq!(widths, [("narrow".to_owned(), 4), ("wide".to_owned(), 32)]);
    let bad = two.replace("max_in_flight = 32", "max_in_flight = 0");
    let err = trackflow::Config::from_toml_str(&bad).unwrap_err().to_string();
    assert!(err.contains("max_in_flight must be at least 1"), "{err}");
    let typo = two.replace("queue_capacity = 100", "queue_capacty = 100");
    let err = trackflow::Config::from_toml_str(&typo).unwrap_err().to_string();
    assert!(
        err.contains("backends `wide`: consumer: unknown field `queue_capacty`"),
        "{err}"
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);

    // A config file's errors say "config:" once.
    let path = std::env::temp_dir().join(format!("tf-cfg-prefix-{}.toml", std::process::id()));
    std::fs::write(&path, entry("../x")).unwrap();
    let err = trackflow::Config::from_toml_file(&path).unwrap_err().to_string();
    assert_eq!(err.matches("config:").count(), 1, "{err}");
    let _ = std::fs::remove_file(&path);
}
