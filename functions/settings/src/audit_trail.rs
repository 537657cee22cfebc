//! `GET /audit`: the audit trail, newest first (admin).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use shared::Deps;
use shared::auth::AdminUser;
use shared::domain::audit::MAX_AUDIT_FIELD_CHARS;
use shared::domain::{AuditEntry, Email, FieldError};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ListResponse, PageParams, query};
use shared::ports::AuditFilter;
use utoipa::IntoParams;

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only what this person did (their email).
    #[param(value_type = Option<shared::domain::EmailText>)]
    actor: Option<String>,
    /// Only changes to this record, as entries name it: `test-item/3`, `environment/2`,
    /// `parameter-set/1`, `job/<job name>`, `run/7`, `session/<email>`, `settings`.
    #[param(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    target: Option<String>,
}

impl AuditQuery {
    fn filter(self) -> Result<AuditFilter, FieldError> {
        let actor = match self.actor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => Some(Email::parse("actor", a)?.as_str().to_owned()),
        };
        let target = match self.target.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t)
                if t.chars().count() > MAX_AUDIT_FIELD_CHARS || t.chars().any(char::is_control) =>
            {
                return Err(FieldError::new(
                    "target",
                    format!(
                        "must be at most {MAX_AUDIT_FIELD_CHARS} characters without control characters, as entries name it (e.g. test-item/3)"
                    ),
                ));
            }
            Some(t) => Some(t.to_owned()),
        };
        Ok(AuditFilter { actor, target })
    }
}

/// The audit trail, newest first (admin): who changed what, when, from which request.
/// Appended by every route that changes something; never updated or deleted.
#[utoipa::path(get, path = "/api/v1/audit", tag = "settings", params(AuditQuery, PageParams),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Deps>,
    _admin: AdminUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    let filter = query::<AuditQuery>(&uri)?.filter()?;
    let page: PageParams = query(&uri)?;
    let entries = state
        .store
        .list_audit(&filter, page.id_cursor()?, page.limit()?)
        .await?;
    Ok(Json(ListResponse::from_page(entries)))
}
