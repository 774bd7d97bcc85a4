//! Request parameters as ARI reads them: the query string, plus a JSON body whose keys other
//! than `variables` count as query parameters, and whose `variables` object sets channel
//! variables.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::AriError;

/// The parameters of one request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    /// `variables` from the JSON body.
    pub(crate) variables: BTreeMap<String, String>,
}

impl Params {
    /// Parses a raw query string and a body.
    pub(crate) fn parse(query: Option<&str>, body: &[u8]) -> Result<Self, AriError> {
        let mut params = Self::default();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            params.pairs.push((decode(k), decode(v)));
        }
        if body.iter().any(|b| !b.is_ascii_whitespace()) {
            let json: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| AriError::bad_request(format!("Failed to parse body: {e}")))?;
            let serde_json::Value::Object(map) = json else {
                return Err(AriError::bad_request("Request body must be a JSON object"));
            };
            for (k, v) in map {
                if k == "variables" {
                    params.read_variables(v)?;
                } else {
                    params.pairs.push((k, scalar(&v)));
                }
            }
        }
        Ok(params)
    }

    fn read_variables(&mut self, v: serde_json::Value) -> Result<(), AriError> {
        let serde_json::Value::Object(vars) = v else {
            return Err(AriError::bad_request("variables must be an object"));
        };
        for (name, value) in vars {
            // Since 22.10 a variable may be `{"value": …, "report_events": …}`.
            let value = match &value {
                serde_json::Value::Object(o) => o.get("value").map(scalar).unwrap_or_default(),
                other => scalar(other),
            };
            self.variables.insert(name, value);
        }
        Ok(())
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A required parameter (400 when missing).
    pub(crate) fn require(&self, name: &str) -> Result<&str, AriError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AriError::bad_request(format!("missing required parameter: {name}")))
    }

    /// Every value of a repeatable parameter, also split on commas (`channel=a,b`).
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// An integer parameter (400 when malformed).
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, AriError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| AriError::bad_request(format!("invalid {name}: {v}")))
            })
            .transpose()
    }

    /// A timeout in seconds where -1 (and for `/dial`, 0) means none.
    pub(crate) fn timeout(
        &self,
        name: &str,
        default: i64,
        zero_is_none: bool,
    ) -> Result<Option<Duration>, AriError> {
        let secs = self.int(name)?.unwrap_or(default);
        Ok(match secs {
            s if s < 0 => None,
            0 if zero_is_none => None,
            s => Some(Duration::from_secs(s.unsigned_abs())),
        })
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-decoding with `+` as space, as form encoding has it.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes standard base64 (for Basic auth); `None` on malformed input.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_body_merge() {
        let p = Params::parse(
            Some("endpoint=Local%2F1001%40agents&app=q&channel=a,b&channel=c"),
            br#"{"callerId":"Queue <100>","timeout":3,"variables":{"X":"1","Y":{"value":"2"}}}"#,
        )
        .unwrap();
        assert_eq!(p.get("endpoint"), Some("Local/1001@agents"));
        assert_eq!(p.list("channel"), vec!["a", "b", "c"]);
        assert_eq!(p.int("timeout").unwrap(), Some(3));
        assert_eq!(p.get("callerId"), Some("Queue <100>"));
        assert_eq!(p.variables.get("Y").map(String::as_str), Some("2"));
        assert!(p.require("missing").is_err());
        assert!(Params::parse(None, b"[1]").is_err());
        assert!(Params::parse(None, b"{oops").is_err());
    }

    #[test]
    fn decodes_edge_cases() {
        assert_eq!(decode("a%20b+c%"), "a b c%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(base64_decode("c3RhcnE6c3RhcnE=").unwrap(), b"starq:starq");
        assert!(base64_decode("!!").is_none());
    }
}
