//! How to reach one Asterisk node: ARI root URL, credentials, application name.
//!
//! Credentials are kept out of every `Debug` and `Display`; they leave this module only as the
//! value of an `Authorization: Basic` header.

use std::fmt;

use reqwest::Url;

/// An ARI user and password (`ari.conf`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl Credentials {
    /// Credentials for `user`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials { user: user.into(), password: password.into() }
    }

    /// The user name (not secret).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `Authorization` header value.
    pub(crate) fn basic_auth_header(&self) -> String {
        format!("Basic {}", base64(format!("{}:{}", self.user, self.password).as_bytes()))
    }

    /// Whether an `Authorization` header a peer sent is `Basic` with these credentials (how
    /// Asterisk's `websocket_client.conf` `username`/`password` authenticate its connection to
    /// starq). Compared in time independent of where the two differ, so a peer cannot guess
    /// the password byte by byte.
    pub fn matches_basic_auth(&self, header: &[u8]) -> bool {
        let expected = self.basic_auth_header();
        let expected = expected.as_bytes();
        if header.len() != expected.len() {
            return false;
        }
        header.iter().zip(expected).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"***").finish()
    }
}

/// One Asterisk node as starq's ARI client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The ARI root: `http://10.0.0.5:8088/ari` (the path is `http.conf`'s `prefix` + `/ari`).
    /// Plain HTTP only: this build has no TLS.
    pub ari_url: String,
    /// ARI user.
    pub credentials: Credentials,
    /// Stasis application name (the dialplan's `Stasis(<app>,…)`).
    pub app: String,
}

/// A node configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The ARI URL does not parse, is not `http://…/ari`, or carries credentials.
    #[error("invalid ARI URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The application name is empty or would not survive a query string unchanged.
    #[error("invalid Stasis application name {0:?}")]
    InvalidApp(String),
    /// A limit is zero where it must not be.
    #[error("invalid limit: {0}")]
    InvalidLimit(&'static str),
}

impl NodeConfig {
    /// The parsed ARI root, after checking that it can carry requests.
    pub(crate) fn root_url(&self) -> Result<Url, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidUrl {
            url: redact_userinfo(&self.ari_url),
            reason: reason.to_owned(),
        };
        let url = Url::parse(&self.ari_url).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "http" => {}
            // Built without TLS (no reqwest/tokio-tungstenite TLS features): say so at start-up
            // rather than failing every request and every reconnect.
            "https" => return Err(invalid("https needs TLS support, which this build lacks")),
            _ => return Err(invalid("scheme must be http")),
        }
        if url.cannot_be_a_base() || url.host().is_none() {
            return Err(invalid("not a base URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Credentials belong in `credentials`, where they stay out of logs.
            return Err(invalid("credentials in the URL are refused"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("no query or fragment allowed"));
        }
        // The usual mistake is the bare server address; every ARI root ends in `/ari`.
        if url.path().trim_end_matches('/').rsplit('/').next() != Some("ari") {
            return Err(invalid("the ARI root must end in /ari (http.conf prefix + /ari)"));
        }
        let app_ok = !self.app.is_empty()
            && self.app.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !app_ok {
            return Err(ConfigError::InvalidApp(self.app.clone()));
        }
        Ok(url)
    }
}

/// The URL with any `user:password@` replaced, so it can appear in an error.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Standard base64 with padding, for the Basic authorization header.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_matches_only_the_same_user_and_password() {
        let creds = Credentials::new("starq", "s3cret");
        assert!(creds.matches_basic_auth(b"Basic c3RhcnE6czNjcmV0"));
        assert!(!creds.matches_basic_auth(b"Basic c3RhcnE6czNjcmVU"));
        assert!(!creds.matches_basic_auth(b"Basic c3RhcnE6"));
        assert!(!creds.matches_basic_auth(b""));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let vectors =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        let header = Credentials::new("Aladdin", "open sesame").basic_auth_header();
        assert_eq!(header, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    #[test]
    fn debug_hides_the_password() {
        let node = NodeConfig {
            ari_url: "http://h:8088/ari".into(),
            credentials: Credentials::new("starq", "hunter2"),
            app: "starq".into(),
        };
        assert!(!format!("{node:?}").contains("hunter2"));
        assert!(format!("{node:?}").contains("starq"));
    }

    #[test]
    fn bad_urls_and_apps_are_refused() {
        let node = |url: &str, app: &str| NodeConfig {
            ari_url: url.into(),
            credentials: Credentials::new("u", "secret-pw"),
            app: app.into(),
        };
        assert!(node("http://h:8088/ari", "starq").root_url().is_ok());
        assert!(node("http://h:8088/asterisk/ari/", "starq").root_url().is_ok());
        for url in [
            "ftp://h/ari",
            "https://h/ari",
            "http://u:secret-pw@h/ari",
            "nonsense",
            "http://h/ari?x=1",
            "http://h:8088",
            "http://h:8088/aria",
        ] {
            let error = node(url, "starq").root_url().unwrap_err();
            assert!(matches!(error, ConfigError::InvalidUrl { .. }), "{url}");
            assert!(!format!("{error} {error:?}").contains("secret-pw"), "{error}");
        }
        assert!(matches!(node("http://h/ari", "a&b").root_url(), Err(ConfigError::InvalidApp(_))));
        assert!(matches!(node("http://h/ari", "").root_url(), Err(ConfigError::InvalidApp(_))));
    }
}
