//! Load through a gateway: sequential latency, closed-loop throughput, session creation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::gateway::Gateway;

/// What one call targets.
#[derive(Clone)]
pub struct Target {
    pub service: String,
    pub tool: String,
    pub args: Value,
}

pub async fn sequential(
    gw: &Gateway,
    t: &Target,
    session: &str,
    warmup: usize,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    for _ in 0..warmup {
        gw.call(&t.service, session, &t.tool, &t.args, None).await?;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        gw.call(&t.service, session, &t.tool, &t.args, None).await?;
        out.push(s.elapsed());
    }
    Ok(out)
}

/// `GET path`, `n` times: latency.
pub async fn get_latency(gw: &Gateway, path: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        gw.get(path).await?;
        out.push(s.elapsed());
    }
    Ok(out)
}

/// `clients` closed-loop clients for `dur`, client i on `sessions[i % len]`: calls/s and
/// per-call latencies. Errors are counted, not fatal.
pub async fn throughput(
    gw: &Arc<Gateway>,
    t: &Target,
    sessions: &[String],
    clients: usize,
    dur: Duration,
) -> anyhow::Result<(f64, Vec<Duration>, u64)> {
    // Warm every session (and its child) first.
    for s in sessions {
        gw.call(&t.service, s, &t.tool, &t.args, None).await?;
    }
    closed_loop(gw, t, sessions, clients, dur, |client, _| client).await
}

/// `clients` closed-loop clients for `dur`, each call on the next of `sessions` in turn (so
/// every session and its child is used, none twice in a row): calls/s, per-call latencies,
/// errors.
pub async fn spread(
    gw: &Arc<Gateway>,
    t: &Target,
    sessions: &[String],
    clients: usize,
    dur: Duration,
) -> anyhow::Result<(f64, Vec<Duration>, u64)> {
    closed_loop(gw, t, sessions, clients, dur, |_, call| call).await
}

/// `clients` closed-loop clients for `dur`; each call goes to
/// `sessions[pick(client, n) % len]`, n counting the calls of all clients.
async fn closed_loop(
    gw: &Arc<Gateway>,
    t: &Target,
    sessions: &[String],
    clients: usize,
    dur: Duration,
    pick: fn(usize, usize) -> usize,
) -> anyhow::Result<(f64, Vec<Duration>, u64)> {
    let sessions = Arc::new(sessions.to_vec());
    let calls = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (gw, t, sessions, calls, errors) = (
            gw.clone(),
            t.clone(),
            sessions.clone(),
            calls.clone(),
            errors.clone(),
        );
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < dur {
                let n = calls.fetch_add(1, Ordering::Relaxed) as usize;
                let session = &sessions[pick(client, n) % sessions.len()];
                let s = Instant::now();
                match gw.call(&t.service, session, &t.tool, &t.args, None).await {
                    Ok(_) => lat.push(s.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r?);
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    Ok((rate, lat, errors.load(Ordering::Relaxed)))
}

/// Create `n` new sessions (first call = spawn + initialize + call) with `concurrency` in
/// flight; ids `prefix-<i>`. Returns per-creation latencies, wall time and the ids.
pub async fn create_sessions(
    gw: &Arc<Gateway>,
    t: &Target,
    prefix: &str,
    n: usize,
    concurrency: usize,
    timeout: Option<u64>,
) -> anyhow::Result<(Vec<Duration>, Duration, Vec<String>)> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (gw, t, next, prefix) = (gw.clone(), t.clone(), next.clone(), prefix.to_string());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    break;
                }
                let id = format!("{prefix}-{i}");
                let s = Instant::now();
                gw.call(&t.service, &id, &t.tool, &t.args, timeout).await?;
                lat.push(s.elapsed());
                ids.push(id);
            }
            anyhow::Ok((lat, ids))
        });
    }
    let (mut lat, mut ids) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        let (l, i) = r??;
        lat.extend(l);
        ids.extend(i);
    }
    Ok((lat, start.elapsed(), ids))
}

/// DELETE every id with `concurrency` in flight: per-request latencies and wall time.
pub async fn delete_sessions(
    gw: &Arc<Gateway>,
    ids: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (gw, ids, next) = (gw.clone(), ids.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = ids.get(i) else { break };
                let s = Instant::now();
                gw.delete(&format!("/sessions/{id}")).await?;
                lat.push(s.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r??);
    }
    Ok((lat, start.elapsed()))
}
