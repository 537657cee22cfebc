//! `infra/systemd/crat.service`: the hardened unit the README tells people to install. Its
//! shape is checked here, and `systemd-analyze verify` (when systemd is installed) checks it
//! as systemd reads it, with `ExecStart` pointed at the `crat` just built: any warning (an
//! unknown or misspelt key) fails the test, not only an error.

use std::collections::BTreeMap;
use std::path::Path;

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/systemd/crat.service");
    std::fs::read_to_string(path).unwrap()
}

/// `section.key` → every value given to it, in order (comments and blank lines skipped).
fn entries(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut section = String::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        out.entry(format!("{section}.{}", key.trim()))
            .or_default()
            .push(value.trim().to_owned());
    }
    out
}

#[test]
fn the_unit_runs_crat_as_its_own_user_with_its_data_in_the_state_directory() {
    let e = entries(&unit_text());
    let one = |key: &str| -> &str {
        match e.get(key).map(Vec::as_slice) {
            Some([v]) => v,
            other => panic!("{key}: expected one value, got {other:?}"),
        }
    };
    assert_eq!(one("Service.ExecStart"), "/usr/local/bin/crat");
    assert_eq!(one("Service.DynamicUser"), "yes");
    assert_eq!(one("Service.StateDirectory"), "crat");
    assert_eq!(one("Service.Restart"), "on-failure");
    assert_eq!(one("Service.EnvironmentFile"), "-/etc/crat/crat.env");
    let env = &e["Service.Environment"];
    for wanted in ["CRAT_DATA_DIR=%S/crat", "CRAT_BIND=127.0.0.1"] {
        assert!(env.iter().any(|v| v == wanted), "{wanted} in {env:?}");
    }
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
    ] {
        assert_eq!(one(&format!("Service.{key}")), value, "{key}");
    }
    assert_eq!(one("Install.WantedBy"), "multi-user.target");
}

#[test]
fn systemd_accepts_the_unit_without_a_warning() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("skipped: systemd-analyze is not installed (the structural test still ran)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = unit_text().replace(
        "ExecStart=/usr/local/bin/crat",
        &format!("ExecStart={}", env!("CARGO_BIN_EXE_crat")),
    );
    let unit = dir.path().join("crat.service");
    std::fs::write(&unit, text).unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned: {said}"
    );
}
