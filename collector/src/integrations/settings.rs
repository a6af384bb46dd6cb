//! The pieces every target kind's settings share: how a target
//! authenticates us (`Auth`), and the checks and constructors its typed
//! config uses. A leaf, so the kinds' configs, `config` and `http` can all
//! use it without importing one another.

/// How a target authenticates us.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// HTTP basic.
    Basic {
        /// User.
        username: String,
        /// Password or API token.
        password: String,
    },
    /// `Authorization: Bearer`.
    Bearer(String),
}

/// Whether an optional setting holds more than white space.
pub fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// Refuses one setting of a pair (`what`) without the other.
pub fn both_or_neither(
    first: &Option<String>,
    second: &Option<String>,
    what: &str,
) -> std::result::Result<(), String> {
    if first.is_some() != second.is_some() {
        return Err(format!("{what} must be given together"));
    }
    Ok(())
}

/// Basic auth when both a user and a password are given.
pub fn basic_auth(username: &Option<String>, password: &Option<String>) -> Auth {
    match (username, password) {
        (Some(username), Some(password)) => Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        _ => Auth::None,
    }
}

/// Bearer auth when a token is given.
pub fn bearer_auth(token: &Option<String>) -> Auth {
    token.clone().map_or(Auth::None, Auth::Bearer)
}
