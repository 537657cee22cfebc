//! Settings: partial updates, every key checked, concurrent patches of different keys land.

use serde_json::json;

use super::{Fixture, refusal};
use crate::services::settings;

#[tokio::test]
async fn a_patch_changes_only_its_keys() {
    let f = Fixture::new();
    let before = f.state.settings().await.unwrap();

    let after = settings::patch(&f.state, "a@x.test", &json!({"project_name": "Edge"}))
        .await
        .unwrap();

    assert_eq!(after.project_name, "Edge");
    assert_eq!(after.max_monitor_seconds, before.max_monitor_seconds);
    assert_eq!(f.state.settings().await.unwrap().project_name, "Edge");
}

#[tokio::test]
async fn a_bad_key_or_value_is_refused_naming_it_and_nothing_is_applied() {
    let f = Fixture::new();
    for (patch, field) in [
        (json!({"no_such_setting": 1}), "no_such_setting"),
        (
            json!({"project_name": "Edge", "poll_interval_seconds": 0}),
            "poll_interval_seconds",
        ),
        (
            json!({"package_download_base_url": "not a url"}),
            "package_download_base_url",
        ),
    ] {
        let refused = refusal(settings::patch(&f.state, "a@x.test", &patch).await);
        assert_eq!(refused.status.as_u16(), 400, "{patch}");
        assert_eq!(refused.field.as_deref(), Some(field), "{patch}");
    }
    assert_ne!(f.state.settings().await.unwrap().project_name, "Edge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_keys_both_land() {
    let f = Fixture::new();
    let patches: Vec<_> = (0..4)
        .map(|i| {
            let state = f.state.clone();
            tokio::spawn(async move {
                let key = [
                    "project_name",
                    "report_base_url",
                    "package_download_base_url",
                    "external_test_server_url",
                ][i];
                let value = if i == 0 {
                    json!("Edge")
                } else {
                    json!(format!("http://host{i}.test/"))
                };
                settings::patch(&state, "a@x.test", &json!({ key: value })).await
            })
        })
        .collect();
    for patch in patches {
        patch.await.unwrap().unwrap();
    }

    let s = f.state.settings().await.unwrap();
    assert_eq!(s.project_name, "Edge");
    assert!(s.report_base_url.is_some());
    assert!(s.package_download_base_url.is_some());
    assert!(s.external_test_server_url.is_some());
}
