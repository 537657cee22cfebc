use serde_json::Value;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::Settings;
use crate::ports::StoreError;

/// Applies a partial update. Concurrent updates of different keys both land: on a
/// version conflict the patch is re-applied to the fresh settings (a few times).
#[tracing::instrument(skip_all, fields(by = %by))]
pub async fn patch(state: &Deps, by: &str, patch: &Value) -> ServiceResult<Settings> {
    for _ in 0..5 {
        let (current, version) = state.store.get_settings().await?;
        let next = current.patched(patch)?;
        match state.store.put_settings(&next, version).await {
            Ok(_) => {
                tracing::info!(keys = ?patch.as_object().map(|o| o.keys().collect::<Vec<_>>()), "settings changed");
                return Ok(next);
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Conflict {
        code: "settings_busy",
        message: "the settings are being changed by someone else right now; try again".into(),
        details: None,
    })
}
