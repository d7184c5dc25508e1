//! The traffic policy per message: the REST middleware charges the front door's routes
//! nothing, so each message is charged here once it is read. A `tools/call` spends what a REST
//! call spends (the same buckets, shared with REST) and passes the same concurrency gates;
//! lists and reads spend `tools_limit`; `initialize` spends `default_limits`; `DELETE` spends
//! `session_delete_limit`; protocol chatter (ping, notifications, responses, the GET stream,
//! `logging/setLevel`, subscriptions) spends nothing.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::rpc;
use crate::http::admission::{Refusal, Spend, charge, enter_call, set_headers as rate_headers};
use crate::http::principal::Principal;
use crate::http::state::AppState;
use crate::ratelimit::{Decision, Permit};

/// Who pays for a message.
#[derive(Clone)]
pub(super) struct Payer {
    pub state: AppState,
    pub principal: Principal,
    pub addr: IpAddr,
}

/// What a request of `method` spends before it is served (`tools/call` is charged once its
/// service is known, by [`Payer::admit_call`]).
pub(super) fn spend_of(method: &str) -> Option<Spend> {
    match method {
        "initialize" => Some(Spend::Defaults("initialize")),
        "tools/list"
        | "prompts/list"
        | "prompts/get"
        | "resources/list"
        | "resources/read"
        | "resources/templates/list"
        | "completion/complete" => Some(Spend::Tools),
        _ => None,
    }
}

/// The budget's headers on an answer, when a budget was checked.
pub(super) fn with_headers(mut response: Response, decision: Option<&Decision>) -> Response {
    if let Some(decision) = decision {
        rate_headers(response.headers_mut(), decision);
    }
    response
}

impl Payer {
    /// Spend `spend`; the answer to send instead when refused.
    pub(super) async fn charge(
        &self,
        spend: &Spend,
        id: &Value,
    ) -> Result<Option<Decision>, Response> {
        charge(&self.state, &self.principal, self.addr, spend)
            .await
            .map_err(|refusal| refused(id, &refusal))
    }

    /// A `tools/call` of `service` in `session_id`: the call budget, then a place in the
    /// service's and the session's gates (held until the permits drop).
    pub(super) async fn admit_call(
        &self,
        service: &str,
        session_id: &str,
        id: &Value,
    ) -> Result<(Option<Decision>, Vec<Permit>), Response> {
        let decision = self.charge(&Spend::Call(service.to_owned()), id).await?;
        let permits = enter_call(&self.state, service, session_id)
            .await
            .map_err(|refusal| refused(id, &refusal))?;
        Ok((decision, permits))
    }
}

/// 429 (or 503 when the budget store is down) with `Retry-After`, the `RateLimit-*` headers
/// and a JSON-RPC error answering `id`: MCP clients see an HTTP error as REST clients do.
pub(super) fn refused(id: &Value, refusal: &Refusal) -> Response {
    let mut error = rpc::error(id, rpc::GATEWAY_ERROR, refusal.message());
    error["error"]["data"] = json!({ "retry_after": refusal.retry_after() });
    let mut headers = HeaderMap::new();
    refusal.set_headers(&mut headers);
    (refusal.status(), headers, axum::Json(error)).into_response()
}
