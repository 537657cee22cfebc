//! Conformance checks for notification channels: every field (the secret too) reads back,
//! replace keeps the id and creation time, delete says whether there was one.

use std::sync::Arc;

use chrono::TimeDelta;
use shared::domain::{ChannelFields, ChannelId, ChannelInput, ChannelSecret};
use shared::ports::Store;

use super::t0;

fn fields(name: &str, kind: &str, secret: Option<&str>, items: &[i64]) -> ChannelFields {
    ChannelFields::parse(
        &ChannelInput {
            name,
            kind,
            url: "https://oapi.dingtalk.com/robot/send?access_token=tok%2Bx",
            secret,
            rule: "changed",
            test_item_ids: items,
            language: "zh-CN",
            enabled: true,
        },
        None,
    )
    .unwrap()
}

pub async fn channels_read_back_whole_and_are_replaced_and_deleted(store: Arc<dyn Store>) {
    assert!(store.list_channels().await.unwrap().is_empty());
    let a = store
        .create_channel(
            &fields("团队 chat", "dingtalk", Some("SEC+/="), &[3, 1]),
            t0(),
        )
        .await
        .unwrap();
    let b = store
        .create_channel(&fields("slack", "slack", None, &[]), t0())
        .await
        .unwrap();
    assert!(b.id > a.id);
    let read = store.get_channel(a.id).await.unwrap().unwrap();
    assert_eq!(read, a);
    assert_eq!(
        read.fields.secret,
        Some(ChannelSecret::from_stored("SEC+/=".into()))
    );
    assert_eq!(
        read.fields
            .test_item_ids
            .iter()
            .map(|i| i.get())
            .collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(read.created_at, t0());

    let later = t0() + TimeDelta::seconds(5);
    let replaced = store
        .update_channel(a.id, &fields("renamed", "webhook", None, &[]), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.fields.name, "renamed");
    assert_eq!(replaced.fields.secret, None);
    assert_eq!((replaced.created_at, replaced.updated_at), (t0(), later));
    assert_eq!(store.get_channel(a.id).await.unwrap().unwrap(), replaced);
    let missing = ChannelId::from_stored(9999);
    assert!(
        store
            .update_channel(missing, &fields("x", "slack", None, &[]), later)
            .await
            .unwrap()
            .is_none()
    );

    let listed = store.list_channels().await.unwrap();
    assert_eq!(listed, vec![replaced.clone(), b.clone()]);
    assert!(store.delete_channel(a.id).await.unwrap());
    assert!(!store.delete_channel(a.id).await.unwrap());
    assert!(store.get_channel(a.id).await.unwrap().is_none());
    assert_eq!(store.list_channels().await.unwrap(), vec![b]);
}
