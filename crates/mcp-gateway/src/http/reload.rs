//! Reloading the configuration: SIGHUP, `POST /reload` (`mcp-gateway reload`). The file is
//! read and checked again as at startup; a valid one becomes the next generation at once
//! (services, credentials and keys, rate limits, traffic policy, session limits), an invalid
//! one is refused with every problem and the running one stays. Live sessions keep the spawn
//! spec they started with (`session::Generation`); keys only a restart can change keep their
//! running value and are named in the report.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::credentials::Authenticator;
use super::error::ApiError;
use super::principal::Principal;
use super::reloader::Reloader;
use super::state::AppState;
use crate::config::{Reloaded, ServiceChanges, reloadable};
use crate::oauth::Verifier;

/// Why a reload did not happen.
#[derive(Debug)]
pub(crate) enum ReloadError {
    /// The file is not fit to serve: every problem.
    Invalid(Vec<String>),
    ShuttingDown,
    NotOffered,
}

/// Read the file again and make it the next generation. `trigger` names what asked and
/// `principal` who (logs, audit log).
pub(crate) async fn reload(
    state: &AppState,
    trigger: &'static str,
    principal: Option<&str>,
) -> Result<Value, ReloadError> {
    let reloader = state.reloader.clone().ok_or(ReloadError::NotOffered)?;
    // One at a time, audit record included (records are in the order reloads happened).
    let _one = reloader.one.lock().await;
    let outcome = apply(state, &reloader, trigger).await;
    if let Some(audit) = state.sessions.audit() {
        match &outcome {
            Ok(report) => audit.config_reload(trigger, principal, report),
            Err(ReloadError::Invalid(problems)) => {
                audit.config_reload(trigger, principal, &json!({ "problems": problems }))
            }
            Err(_) => {}
        }
    }
    outcome
}

async fn apply(
    state: &AppState,
    reloader: &Arc<Reloader>,
    trigger: &'static str,
) -> Result<Value, ReloadError> {
    let check = reloader.clone();
    let checked = tokio::task::spawn_blocking(move || (check.check)())
        .await
        .unwrap_or_else(|e| Err(vec![format!("the check of the file failed: {e}")]));
    let (config, warnings) = checked.map_err(|problems| {
        for problem in &problems {
            tracing::error!(trigger, problem = %problem, "reload refused: the running configuration stays");
        }
        ReloadError::Invalid(problems)
    })?;
    let old = state.sessions.config();
    let Reloaded {
        config,
        restart_required,
    } = reloadable(&old, config);
    let changes = ServiceChanges::between(&old, &config);
    // A changed `auth.oauth` gets a new verifier (its keys are fetched again); an unchanged
    // one keeps its caches.
    let verifier = match (&state.oauth, &config.traffic.oauth) {
        (Some(_), Some(oauth)) if old.traffic.oauth.as_ref() != Some(oauth) => {
            let resource = (oauth.resource.clone()).unwrap_or_else(|| state.local_origin.clone());
            let verifier = Verifier::new(oauth, resource)
                .map_err(|e| ReloadError::Invalid(vec![format!("auth.oauth: {e}")]))?;
            Some(Arc::new(verifier))
        }
        _ => None,
    };
    state.traffic.reload(&old, &config);
    drop(old);
    let auth = Authenticator::new(&config.server)
        .with_keys(&config.traffic.keys)
        .with_oauth(config.traffic.oauth.is_some());
    state.auth.store(Arc::new(auth));
    if let (Some(slot), Some(verifier)) = (&state.oauth, verifier) {
        slot.store(verifier);
    }
    let generation =
        (state.sessions.reload(Arc::new(config), &changes)).ok_or(ReloadError::ShuttingDown)?;
    tracing::info!(
        trigger,
        generation,
        added = ?changes.added,
        removed = ?changes.removed,
        changed = ?changes.changed,
        restart_required = ?restart_required,
        "configuration reloaded"
    );
    for key in &restart_required {
        tracing::warn!(
            key,
            "reload: this key changed but only a restart applies it; the running value stays"
        );
    }
    Ok(json!({
        "reloaded": true,
        "generation": generation,
        "services": {
            "added": changes.added,
            "removed": changes.removed,
            "changed": changes.changed,
        },
        "restart_required": restart_required,
        "warnings": warnings,
    }))
}

/// `POST /reload`: the upstream credentials only (a scoped key or a token is told it does not
/// exist, as for `/audit/recent`). 200 with what changed; 422 `invalid_config` with every
/// problem, the running configuration unchanged.
pub(super) async fn route(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Response {
    if principal.owner().is_some() || state.reloader.is_none() {
        return ApiError::not_found("not found").into_response();
    }
    let who = principal.audit_name();
    match reload(&state, "POST /reload", Some(&who)).await {
        Ok(report) => Json(report).into_response(),
        Err(ReloadError::Invalid(problems)) => {
            let message = format!(
                "the configuration was not reloaded (the running one stays):\n{}",
                problems.join("\n")
            );
            let body = json!({
                "error": message,
                "code": "invalid_config",
                "problems": problems,
            });
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        Err(ReloadError::ShuttingDown) => {
            ApiError::from(crate::session::SessionError::ShuttingDown).into_response()
        }
        Err(ReloadError::NotOffered) => ApiError::not_found("not found").into_response(),
    }
}

/// Reload on every SIGHUP (`hup`) until the task is aborted.
pub(super) async fn on_hangup(state: AppState, hup: Arc<tokio::sync::Notify>) {
    loop {
        hup.notified().await;
        // Problems are logged by `reload`.
        let _ = reload(&state, "SIGHUP", None).await;
    }
}
