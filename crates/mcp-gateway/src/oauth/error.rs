//! Why a token was refused.

/// Why a token was refused. The messages go to the client (`error_description`) and the
/// security log; they never echo the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token signed with an algorithm not accepted here")]
    Algorithm,
    #[error("token from an issuer not accepted here")]
    Issuer,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("token signature is invalid")]
    Signature,
    #[error("token audience is not this resource")]
    Audience,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("the authorization server's keys cannot be fetched")]
    KeysUnavailable,
    #[error("token is not active")]
    Inactive,
    #[error("the authorization server cannot be reached")]
    AuthorizationServerUnavailable,
}
