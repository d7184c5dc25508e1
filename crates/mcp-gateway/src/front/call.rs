//! `tools/call` at the front door: admitted through the budget and the gates, then answered
//! as JSON, or on an SSE stream (progress first, then the result) by a task of the app's
//! tracked calls, which shutdown lets run for the grace.

use std::sync::Arc;
use tracing::Instrument;

use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use super::audited::{self, Audited};
use super::budget::{self, Payer};
use super::methods::{self, Ctx};
use super::modern;
use super::relay::{self, ToolCall};
use super::reply;
use super::rpc;
use super::session::Sessions;
use crate::http::state::Calls;
use crate::ratelimit::Permit;
use crate::session::SessionError;

/// How a response is finished: legacy as is; modern (2026-07-28) stamped with `resultType`
/// and `serverInfo`, and its one-request session closed afterwards.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Era {
    Legacy,
    Modern,
}

impl Era {
    pub(super) fn finish(self, ctx: &Ctx, method: &str, mut response: Value) -> Value {
        if self == Era::Modern {
            modern::stamp(method, &mut response);
            let _ = ctx.manager.close(ctx.session.id());
        }
        response
    }
}

/// Closes a 2026-07-28 request's one-request session when dropped.
pub(super) struct Closer {
    pub manager: Arc<Sessions>,
    pub id: String,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.manager.close(&self.id);
    }
}

/// `tools/call`: an SSE response (progress first, then the result) when the client accepts
/// one (`sse`), else plain JSON.
pub(super) async fn tools_call(
    payer: &Payer,
    ctx: Ctx,
    id: Value,
    params: Value,
    sse: bool,
    era: Era,
    closer: Option<Closer>,
) -> Response {
    let call = match methods::prepare_call(&ctx, &id, params).await {
        Ok(call) => call,
        Err(response) => {
            return axum::Json(era.finish(&ctx, "tools/call", response)).into_response();
        }
    };
    // What a REST call of the same service spends, and the same gates (held by `permits`
    // until the call is answered).
    let (decision, permits) = match payer.admit_call(&call.service, ctx.session.id(), &id).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            if era == Era::Modern {
                let _ = ctx.manager.close(ctx.session.id());
            }
            return refused;
        }
    };
    let audited = match ctx.manager.audit() {
        Some(audit) => match audit.admit() {
            Ok(()) => Some(Audited::new(
                audit.clone(),
                payer.principal.audit_name(),
                payer.addr,
                &call,
                ctx.session.id(),
            )),
            Err(e) => {
                let refused = audited::unavailable(&id, &e);
                return axum::Json(era.finish(&ctx, "tools/call", refused)).into_response();
            }
        },
        None => None,
    };
    let held = (permits, closer);
    let response = if sse {
        on_stream(&payer.state.calls, ctx, call, id, era, held, audited)
    } else {
        let response = in_json(ctx, call, id, era, audited).await;
        drop(held);
        response
    };
    budget::with_headers(response, decision.as_ref())
}

/// What an admitted call holds until it is answered: its places in the gates, and a
/// 2026-07-28 request's one-request session.
type Held = (Vec<Permit>, Option<Closer>);

async fn in_json(
    ctx: Ctx,
    call: ToolCall,
    id: Value,
    era: Era,
    audited: Option<Audited>,
) -> Response {
    let mut response = relay::call_tool(&ctx.manager, &ctx.session, call, None).await;
    if let Some(audited) = audited {
        response = audited.finish(&id, response);
    }
    let response =
        response.unwrap_or_else(|| rpc::error(&id, rpc::REQUEST_CANCELLED, "request cancelled"));
    axum::Json(era.finish(&ctx, "tools/call", response)).into_response()
}

/// The SSE response, fed by a task of the app's `calls`: once the shutdown grace is over, a
/// call still running answers that the gateway is stopping.
fn on_stream(
    calls: &Calls,
    ctx: Ctx,
    call: ToolCall,
    id: Value,
    era: Era,
    held: Held,
    audited: Option<Audited>,
) -> Response {
    let (tx, rx) = mpsc::channel(64);
    // How long the answer may wait for a client that stopped reading, once the call is done.
    let write_timeout = call.timeout;
    let stopping = calls.stopping();
    let traced = crate::telemetry::traced();
    let work = async move {
        let _held = held;
        let response = tokio::select! {
            response = relay::call_tool(&ctx.manager, &ctx.session, call, Some(tx.clone())) => response,
            () = stopping => {
                let error = rpc::RpcError::from_session(SessionError::ShuttingDown);
                Some(error.to_response(&id))
            }
        };
        let response = match audited {
            Some(audited) => audited.finish(&id, response),
            None => response,
        };
        match response {
            Some(response) => {
                let answer = era.finish(&ctx, "tools/call", response);
                if tokio::time::timeout(write_timeout, tx.send(answer))
                    .await
                    .is_err()
                {
                    tracing::warn!(session = %ctx.session.id(), "the client read nothing of its SSE answer for call_timeout: answer dropped");
                }
            }
            None if era == Era::Modern => {
                let _ = ctx.manager.close(ctx.session.id());
            }
            None => {}
        }
    }
    // The call's spans stay in the request's trace.
    .in_current_span();
    calls.spawn(crate::telemetry::in_trace(traced, work));
    reply::sse_response(rx, None)
}
