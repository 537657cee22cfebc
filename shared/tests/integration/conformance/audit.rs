//! Conformance checks for the audit trail: appended in order, listed newest first by
//! actor and target, page by page, every field read back.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;
use shared::domain::{AuditAction, NewAuditEntry};
use shared::ports::{AuditFilter, Store};

use super::t0;

fn entry(i: i64, actor: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: t0() + TimeDelta::seconds(i),
        actor: actor.into(),
        actor_is_admin: actor.starts_with("admin"),
        action: AuditAction::TestItemUpdate,
        target: target.into(),
        request_id: format!("req-{i}"),
        changes: json!({"changed": {"name": {"from": format!("a{i}"), "to": "数据"}}}),
    }
}

/// Every page of `filter` (pages of `limit`), newest first: the ids seen.
async fn all_ids(store: &Arc<dyn Store>, filter: &AuditFilter, limit: usize) -> Vec<i64> {
    let (mut ids, mut before) = (Vec::new(), None);
    loop {
        let page = store.list_audit(filter, before, limit).await.unwrap();
        assert!(page.items.len() <= limit);
        ids.extend(page.items.iter().map(|e| e.id));
        match page.next {
            Some(next) => before = Some(next),
            None => return ids,
        }
    }
}

pub async fn audit_entries_append_in_order_and_list_by_actor_and_target(store: Arc<dyn Store>) {
    let mut appended = Vec::new();
    for i in 0..7 {
        let actor = if i % 2 == 0 {
            "admin@example.com"
        } else {
            "dev@example.com"
        };
        let target = if i % 3 == 0 {
            "test-item/1"
        } else {
            "settings"
        };
        let new = entry(i, actor, target);
        let stored = store.append_audit(&new).await.unwrap();
        // Every field as given, the id from the store, increasing.
        assert_eq!(
            (
                stored.at,
                &stored.actor,
                stored.actor_is_admin,
                stored.action,
                &stored.target
            ),
            (
                new.at,
                &new.actor,
                new.actor_is_admin,
                new.action,
                &new.target
            )
        );
        assert_eq!(
            (&stored.request_id, &stored.changes),
            (&new.request_id, &new.changes)
        );
        if let Some(last) = appended.last() {
            assert!(stored.id > *last, "{} after {last}", stored.id);
        }
        appended.push(stored.id);
    }
    let newest_first: Vec<i64> = appended.iter().rev().copied().collect();

    let all = store
        .list_audit(&AuditFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(
        all.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        newest_first
    );
    assert_eq!(all.next, None);
    assert_eq!(
        all.items.last().unwrap().changes["changed"]["name"]["to"],
        "数据"
    );

    // Pages of 2 visit each once, in order.
    assert_eq!(
        all_ids(&store, &AuditFilter::default(), 2).await,
        newest_first
    );

    let by_actor = AuditFilter {
        actor: Some("dev@example.com".into()),
        target: None,
    };
    let want: Vec<i64> = [5, 3, 1].iter().map(|i| appended[*i]).collect();
    assert_eq!(all_ids(&store, &by_actor, 2).await, want);

    let by_target = AuditFilter {
        actor: None,
        target: Some("test-item/1".into()),
    };
    let want: Vec<i64> = [6, 3, 0].iter().map(|i| appended[*i]).collect();
    assert_eq!(all_ids(&store, &by_target, 1).await, want);

    let both = AuditFilter {
        actor: Some("admin@example.com".into()),
        target: Some("test-item/1".into()),
    };
    let want: Vec<i64> = [6, 0].iter().map(|i| appended[*i]).collect();
    assert_eq!(all_ids(&store, &both, 5).await, want);

    let nobody = AuditFilter {
        actor: Some("nobody@example.com".into()),
        target: None,
    };
    assert!(all_ids(&store, &nobody, 5).await.is_empty());
    // Before the oldest: nothing.
    let page = store
        .list_audit(&AuditFilter::default(), Some(appended[0]), 5)
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
}
