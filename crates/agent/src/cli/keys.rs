//! Groups of the agent's keys, each merged flags-over-file and checked: the metadata
//! proxy's limits, the credentials, the diagnosis questions' bounds.

use std::path::PathBuf;

use url::Url;

use super::{invalid, seconds, StartError};
use crate::api::Credentials;
use crate::runner::questions::QuestionLimits;

/// The questions task's bounds as given (`None` = the default).
pub(super) fn question_limits(
    max_concurrent: Option<usize>,
    ask_timeout: Option<f64>,
) -> Result<QuestionLimits, StartError> {
    let defaults = QuestionLimits::default();
    Ok(QuestionLimits {
        concurrent: match max_concurrent {
            Some(0) => return Err(invalid("diagnose_max_concurrent", "must be at least 1".into())),
            Some(n) => n,
            None => defaults.concurrent,
        },
        ask_timeout: seconds("diagnose_ask_timeout", ask_timeout, defaults.ask_timeout.as_secs_f64())?,
        ..defaults
    })
}

/// The metadata proxy's limits as given by flags or the file (`None` = the default).
pub(super) struct MetadataLimitKeys {
    pub(super) header_read_timeout: Option<f64>,
    pub(super) keepalive_timeout: Option<f64>,
    pub(super) request_timeout: Option<f64>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_connections_per_address: Option<usize>,
}

pub(super) fn metadata_limits(given: MetadataLimitKeys) -> Result<neutrino_http::Limits, StartError> {
    let defaults = crate::metadata::DEFAULT_LIMITS;
    Ok(neutrino_http::Limits {
        header_read_timeout: seconds(
            "metadata_header_read_timeout",
            given.header_read_timeout,
            defaults.header_read_timeout.as_secs_f64(),
        )?,
        keepalive_timeout: seconds(
            "metadata_keepalive_timeout",
            given.keepalive_timeout,
            defaults.keepalive_timeout.as_secs_f64(),
        )?,
        request_timeout: seconds(
            "metadata_request_timeout",
            given.request_timeout,
            defaults.request_timeout.as_secs_f64(),
        )?,
        max_connections: match given.max_connections {
            Some(0) => return Err(invalid("metadata_max_connections", "must be at least 1".into())),
            Some(n) => n,
            None => defaults.max_connections,
        },
        max_connections_per_address: given.max_connections_per_address.unwrap_or(defaults.max_connections_per_address),
    })
}

/// The credential settings as given (flag first, then the file).
pub(super) struct CredentialKeys {
    pub(super) token_file: Option<PathBuf>,
    pub(super) noauth_project: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) auth_url: Option<String>,
    pub(super) project_name: Option<String>,
    pub(super) user_domain_name: Option<String>,
    pub(super) project_domain_name: Option<String>,
}

/// How the agent authenticates: a token file wins, then `--noauth-project`, then a service
/// user's password (against `auth_url`, by default the first server).
pub(super) fn credentials(keys: CredentialKeys, servers: &[Url]) -> Result<Credentials, StartError> {
    match (keys.token_file, keys.noauth_project, keys.username) {
        (Some(path), _, _) => Ok(Credentials::TokenFile(path)),
        (None, Some(project_id), _) => Ok(Credentials::NoAuth { project_id }),
        (None, None, Some(username)) => Ok(Credentials::Password {
            auth_url: keys.auth_url.or_else(|| servers.first().map(Url::to_string)).unwrap_or_default(),
            username,
            password: keys.password.ok_or_else(|| invalid("password", "a --username needs a --password".into()))?,
            project_name: keys.project_name.unwrap_or_else(|| "service".into()),
            user_domain: keys.user_domain_name.unwrap_or_else(|| "Default".into()),
            project_domain: keys.project_domain_name.unwrap_or_else(|| "Default".into()),
        }),
        (None, None, None) => Err(invalid(
            "credentials",
            "give --username/--password (a service user), --token-file, or --noauth-project".into(),
        )),
    }
}
