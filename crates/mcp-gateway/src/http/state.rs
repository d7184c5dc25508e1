//! What every handler and middleware shares.

use std::sync::Arc;

use super::credentials::Authenticator;
use super::traffic::Traffic;
use crate::session::SessionManager;

#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<SessionManager>,
    pub auth: Arc<Authenticator>,
    pub traffic: Arc<Traffic>,
}
