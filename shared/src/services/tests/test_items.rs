//! Test items: parsed fields, an existing parameter set or the default.

use super::{Fixture, item_id, refusal};
use crate::domain::TestItemId;
use crate::services::test_items;

#[tokio::test]
async fn an_item_is_created_enabled_and_replaced_whole() {
    let f = Fixture::new();
    let item = f.test_item("cds", "CDN_CORE").await;
    assert!(item.enabled);
    assert_eq!(item.parameter_set_id, None);

    let mut input = Fixture::item_input("edge", "CDN_EDGE");
    input.notify_emails = vec!["ops@example.com".into()];
    let replaced = test_items::update(&f.state, item_id(&item), input)
        .await
        .unwrap();

    assert_eq!(replaced.id, item.id);
    assert_eq!(replaced.name.as_str(), "edge");
    assert_eq!(replaced.job_name.as_str(), "CDN_EDGE");
    assert_eq!(replaced.notify_emails.len(), 1);
}

#[tokio::test]
async fn bad_fields_are_refused_naming_the_field() {
    let f = Fixture::new();
    let cases = [
        ("name", Fixture::item_input("not a name!", "CDN_CORE")),
        ("job_name", Fixture::item_input("cds", "")),
        ("notify_emails[0]", {
            let mut i = Fixture::item_input("cds", "CDN_CORE");
            i.notify_emails = vec!["not-an-email".into()];
            i
        }),
    ];
    for (field, input) in cases {
        let refused = refusal(test_items::create(&f.state, input).await);
        assert_eq!(refused.status.as_u16(), 400, "{field}");
        assert_eq!(refused.field.as_deref(), Some(field));
    }
}

#[tokio::test]
async fn an_unknown_parameter_set_or_item_is_refused() {
    let f = Fixture::new();
    let mut input = Fixture::item_input("cds", "CDN_CORE");
    input.parameter_set_id = Some(999);
    let refused = refusal(test_items::create(&f.state, input).await);
    assert_eq!(
        (refused.status.as_u16(), refused.code.as_str()),
        (422, "parameter_set_not_found")
    );

    let missing = refusal(
        test_items::update(
            &f.state,
            TestItemId::from_stored(999),
            Fixture::item_input("cds", "CDN_CORE"),
        )
        .await,
    );
    assert_eq!(missing.code, "not_found");
}
