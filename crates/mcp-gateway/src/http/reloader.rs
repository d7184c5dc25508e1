//! The reload's check of the config file, kept by the server's state (`reload` does the
//! rest).

use std::sync::Arc;

use crate::config::Config;

/// What [`Reloader`]'s check found in the file: a configuration fit to serve and its warnings,
/// or every problem (as `validate` prints them).
pub(crate) type Checked = Result<(Config, Vec<String>), Vec<String>>;

/// Reads the config file again and checks it as startup does.
pub(crate) struct Reloader {
    pub(super) check: Box<dyn Fn() -> Checked + Send + Sync>,
    /// One reload at a time.
    pub(super) one: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub(crate) fn new(check: impl Fn() -> Checked + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            check: Box::new(check),
            one: tokio::sync::Mutex::new(()),
        })
    }
}
