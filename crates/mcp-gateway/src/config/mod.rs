//! Configuration: raw JSON -> `${VAR|default}` substitution -> validated [`Config`].

mod types;

pub use types::*;
