//! Parameter sets: one default always, unique names, versions on content changes.

use serde_json::json;

use super::{Fixture, refusal};
use crate::domain::{ParameterSet, ParameterSetId};
use crate::services::parameter_sets::{self, CreateParameterSet, UpdateParameterSet};
use crate::services::test_items;

fn create(name: &str) -> CreateParameterSet {
    CreateParameterSet {
        name: name.to_owned(),
        description: String::new(),
        params: None,
    }
}

/// The id the services take for `set` (the record still holds the bare integer).
fn set_id(set: &ParameterSet) -> ParameterSetId {
    ParameterSetId::from_stored(set.id)
}

fn no_change() -> UpdateParameterSet {
    UpdateParameterSet {
        name: None,
        description: None,
        params: None,
        is_default: None,
    }
}

#[tokio::test]
async fn the_first_set_is_the_default_and_names_are_unique() {
    let f = Fixture::new();
    let first = f.parameter_set("first").await;
    let second = f.parameter_set("second").await;
    assert!(first.is_default);
    assert!(!second.is_default);
    assert_eq!(first.version, 1);

    let taken = refusal(parameter_sets::create(&f.state, "a@x.test", create("first")).await);
    assert_eq!(
        (taken.status.as_u16(), taken.code.as_str()),
        (409, "conflict")
    );
    let bad = CreateParameterSet {
        params: Some(json!(["not", "an", "object"])),
        ..create("third")
    };
    let invalid = refusal(parameter_sets::create(&f.state, "a@x.test", bad).await);
    assert_eq!(
        (invalid.status.as_u16(), invalid.field.as_deref()),
        (400, Some("params"))
    );
}

#[tokio::test]
async fn content_changes_bump_the_version_and_default_changes_do_not() {
    let f = Fixture::new();
    f.parameter_set("first").await;
    let second = f.parameter_set("second").await;

    let renamed = parameter_sets::update(
        &f.state,
        "b@x.test",
        set_id(&second),
        UpdateParameterSet {
            params: Some(json!({"service_name": "edge"})),
            ..no_change()
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.version, 2);
    assert_eq!(renamed.updated_by.as_deref(), Some("b@x.test"));

    let made_default = parameter_sets::update(
        &f.state,
        "b@x.test",
        set_id(&second),
        UpdateParameterSet {
            is_default: Some(true),
            ..no_change()
        },
    )
    .await
    .unwrap();
    assert!(made_default.is_default);
    assert_eq!(made_default.version, 2);
    let default = f
        .state
        .store
        .default_parameter_set()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        default.id, second.id,
        "the previous default stopped being it"
    );
}

#[tokio::test]
async fn the_default_cannot_be_unset_or_deleted() {
    let f = Fixture::new();
    let first = f.parameter_set("first").await;
    f.parameter_set("second").await;

    let unset = UpdateParameterSet {
        is_default: Some(false),
        ..no_change()
    };
    assert_eq!(
        refusal(parameter_sets::update(&f.state, "a@x.test", set_id(&first), unset).await).code,
        "default_required"
    );
    let deleted = refusal(parameter_sets::delete(&f.state, set_id(&first)).await);
    assert_eq!(
        (deleted.status.as_u16(), deleted.code.as_str()),
        (409, "parameter_set_is_default")
    );
    assert_eq!(
        refusal(
            parameter_sets::update(
                &f.state,
                "a@x.test",
                ParameterSetId::from_stored(999),
                no_change()
            )
            .await
        )
        .code,
        "not_found"
    );
}

#[tokio::test]
async fn a_set_in_use_is_kept_and_an_unused_one_deleted() {
    let f = Fixture::new();
    f.parameter_set("first").await;
    let used = f.parameter_set("used").await;
    let unused = f.parameter_set("unused").await;
    let mut input = Fixture::item_input("cds", "CDN_CORE");
    input.parameter_set_id = Some(used.id);
    test_items::create(&f.state, input).await.unwrap();

    assert_eq!(
        refusal(parameter_sets::delete(&f.state, set_id(&used)).await).code,
        "parameter_set_in_use"
    );
    parameter_sets::delete(&f.state, set_id(&unused))
        .await
        .unwrap();
    assert_eq!(
        refusal(parameter_sets::delete(&f.state, set_id(&unused)).await).code,
        "not_found"
    );
}
