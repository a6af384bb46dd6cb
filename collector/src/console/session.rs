//! Console sessions: an API token exchanged at login for a random session
//! id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS), and a
//! per-session CSRF token every state-changing form carries. Sessions live
//! in memory (a restart logs everyone out), bounded in number, and expire
//! after [`IDLE_MS`] without a request. The token itself is checked again on
//! every request, so revoking it ends its sessions at once.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::RngCore;

/// The session cookie.
pub const COOKIE: &str = "rollcall_session";

/// The login form's CSRF cookie (double submit: the form and the cookie
/// must carry the same random value).
pub const LOGIN_COOKIE: &str = "rollcall_login";

/// A session ends after 8 hours without a request.
pub const IDLE_MS: i64 = 8 * 3_600_000;

/// At most this many sessions at once; a login beyond it is refused.
pub const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The stored hash of the API token it logged in with.
    pub token_hash: String,
    /// The CSRF token of its forms.
    pub csrf: String,
    /// When it ends unless used (ms).
    expires_at: i64,
}

/// Every session.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

/// 256 random bits, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

impl Sessions {
    /// A new session for `token_hash`: (session id, CSRF token), or `None`
    /// when [`MAX_SESSIONS`] are live.
    pub fn create(&self, token_hash: &str, now: i64) -> Option<(String, String)> {
        let mut sessions = self.lock();
        sessions.retain(|_, session| session.expires_at > now);
        if sessions.len() >= MAX_SESSIONS {
            return None;
        }
        let id = random_token();
        let csrf = random_token();
        sessions.insert(
            id.clone(),
            Session {
                token_hash: token_hash.to_string(),
                csrf: csrf.clone(),
                expires_at: now.saturating_add(IDLE_MS),
            },
        );
        Some((id, csrf))
    }

    /// The live session `id`, its idle time restarted.
    pub fn get(&self, id: &str, now: i64) -> Option<Session> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        if session.expires_at <= now {
            sessions.remove(id);
            return None;
        }
        session.expires_at = now.saturating_add(IDLE_MS);
        Some(session.clone())
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_are_bounded() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.create("hash", 0).unwrap();
        assert_eq!(sessions.get(&id, IDLE_MS - 1).unwrap().csrf, csrf);
        // The request at IDLE_MS - 1 restarted the idle time.
        assert!(sessions.get(&id, 2 * IDLE_MS - 2).is_some());
        assert!(sessions.get(&id, 4 * IDLE_MS).is_none());
        assert!(sessions.get("no such session", 0).is_none());
        sessions.remove(&id);
        for _ in 0..MAX_SESSIONS {
            sessions.create("hash", 10).unwrap();
        }
        assert!(sessions.create("hash", 10).is_none(), "bounded");
        // Expired sessions make room.
        assert!(sessions.create("hash", 10 + IDLE_MS).is_some());
    }

    #[test]
    fn cookies_are_found_by_exact_name_and_tokens_compared_whole() {
        let header = "a=1; rollcall_session=abc; rollcall_session_x=zzz";
        assert_eq!(cookie(header, COOKIE), Some("abc"));
        assert_eq!(cookie(header, "rollcall"), None);
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }
}
