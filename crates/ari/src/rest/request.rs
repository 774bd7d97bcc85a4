//! A REST request as data: which operation, its path parameters, query and body.
//!
//! Building a request is pure, so every request the client can send can be checked against the
//! ARI specification without a server (see the crate's conformance test). The operation decides
//! the method and the path template; there is exactly one place that spells each of them.

use std::fmt;

use reqwest::Url;

/// An HTTP method ARI uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method name as in HTTP and in the ARI spec (`GET`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// Declares [`Op`]: each ARI operation the client performs, with its method and path template.
macro_rules! ops {
    ($( $(#[$meta:meta])* $op:ident = $method:ident $template:literal, )+) => {
        /// An ARI operation this client can perform.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $( $(#[$meta])* $op, )+
        }

        impl Op {
            /// Every operation, for tests that must cover them all.
            pub const ALL: &'static [Op] = &[$(Op::$op),+];

            /// The HTTP method.
            pub fn method(self) -> Method {
                match self { $( Op::$op => Method::$method, )+ }
            }

            /// The path template below the ARI root, as the spec writes it
            /// (`/channels/{channelId}/answer`).
            pub fn template(self) -> &'static str {
                match self { $( Op::$op => $template, )+ }
            }
        }

        impl fmt::Display for Op {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self { $( Op::$op => f.write_str(stringify!($op)), )+ }
            }
        }
    };
}

ops! {
    /// List channels.
    ChannelList = Get "/channels",
    /// Originate a call in one step.
    ChannelOriginate = Post "/channels",
    /// Create a channel in Stasis without dialling it.
    ChannelCreate = Post "/channels/create",
    /// Get one channel.
    ChannelGet = Get "/channels/{channelId}",
    /// Hang a channel up.
    ChannelHangup = Delete "/channels/{channelId}",
    /// Dial a created channel.
    ChannelDial = Post "/channels/{channelId}/dial",
    /// Answer.
    ChannelAnswer = Post "/channels/{channelId}/answer",
    /// Indicate ringing.
    ChannelRing = Post "/channels/{channelId}/ring",
    /// Stop indicating ringing.
    ChannelRingStop = Delete "/channels/{channelId}/ring",
    /// Indicate progress (early media).
    ChannelProgress = Post "/channels/{channelId}/progress",
    /// Start music on hold.
    ChannelMohStart = Post "/channels/{channelId}/moh",
    /// Stop music on hold.
    ChannelMohStop = Delete "/channels/{channelId}/moh",
    /// Play media with a client-chosen playback id.
    ChannelPlay = Post "/channels/{channelId}/play/{playbackId}",
    /// Leave Stasis and continue in the dialplan.
    ChannelContinue = Post "/channels/{channelId}/continue",
    /// Move to another Stasis application.
    ChannelMove = Post "/channels/{channelId}/move",
    /// Read a channel variable.
    ChannelGetVariable = Get "/channels/{channelId}/variable",
    /// Set a channel variable.
    ChannelSetVariable = Post "/channels/{channelId}/variable",
    /// List bridges.
    BridgeList = Get "/bridges",
    /// Create a bridge.
    BridgeCreate = Post "/bridges",
    /// Get one bridge.
    BridgeGet = Get "/bridges/{bridgeId}",
    /// Destroy a bridge.
    BridgeDelete = Delete "/bridges/{bridgeId}",
    /// Add channels to a bridge.
    BridgeAddChannel = Post "/bridges/{bridgeId}/addChannel",
    /// Remove channels from a bridge.
    BridgeRemoveChannel = Post "/bridges/{bridgeId}/removeChannel",
    /// Start music on hold in a bridge.
    BridgeMohStart = Post "/bridges/{bridgeId}/moh",
    /// Stop music on hold in a bridge.
    BridgeMohStop = Delete "/bridges/{bridgeId}/moh",
    /// Play media to a bridge with a client-chosen playback id.
    BridgePlay = Post "/bridges/{bridgeId}/play/{playbackId}",
    /// Stop a playback.
    PlaybackStop = Delete "/playbacks/{playbackId}",
    /// Get an application's subscriptions.
    ApplicationGet = Get "/applications/{applicationName}",
    /// Subscribe an application to event sources.
    ApplicationSubscribe = Post "/applications/{applicationName}/subscription",
    /// Unsubscribe an application from event sources.
    ApplicationUnsubscribe = Delete "/applications/{applicationName}/subscription",
    /// Node information.
    AsteriskInfo = Get "/asterisk/info",
    /// Node liveness.
    AsteriskPing = Get "/asterisk/ping",
    /// The event WebSocket (an HTTP GET upgraded to a WebSocket).
    EventWebSocket = Get "/events",
}

/// One REST request, ready to send to any node.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    op: Op,
    path_params: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
}

impl Request {
    /// A request for `op` with the values of its path parameters, in template order.
    ///
    /// # Panics
    /// If the number of values differs from the template's parameters: that is a bug in this
    /// crate's request builders, caught by their tests.
    pub(crate) fn new(op: Op, path_params: Vec<String>) -> Self {
        let expected = path_param_names(op.template()).count();
        assert_eq!(path_params.len(), expected, "{op}: wrong number of path parameters");
        Request { op, path_params, query: Vec::new(), body: None }
    }

    /// A request from its parts, for operations or parameters the builders do not cover.
    ///
    /// # Panics
    /// If the number of path values differs from the template's parameters.
    pub fn from_parts(
        op: Op,
        path_params: Vec<String>,
        query: Vec<(&'static str, String)>,
        body: Option<serde_json::Value>,
    ) -> Self {
        Request { query, body, ..Request::new(op, path_params) }
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub(crate) fn query_opt(self, name: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.query(name, value.to_string()),
            None => self,
        }
    }

    /// ARI takes a list parameter as one comma-separated value.
    pub(crate) fn query_list<S: AsRef<str>>(self, name: &'static str, values: &[S]) -> Self {
        let joined: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
        self.query(name, joined.join(","))
    }

    pub(crate) fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The operation.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The HTTP method.
    pub fn method(&self) -> Method {
        self.op.method()
    }

    /// Path parameters as (name in the template, value).
    pub fn path_params(&self) -> impl Iterator<Item = (&'static str, &str)> {
        path_param_names(self.op.template()).zip(self.path_params.iter().map(String::as_str))
    }

    /// Query parameters in order, as (name, value).
    pub fn query_params(&self) -> &[(&'static str, String)] {
        &self.query
    }

    /// The JSON body, if any.
    pub fn json_body(&self) -> Option<&serde_json::Value> {
        self.body.as_ref()
    }

    /// The full URL below `root` (the ARI root, e.g. `http://host:8088/ari`). Path parameters
    /// are percent-encoded as path segments; query values are form-encoded.
    pub fn url(&self, root: &Url) -> Url {
        let mut url = root.clone();
        {
            // A base URL that cannot hold a path was rejected when the client was configured.
            let Ok(mut segments) = url.path_segments_mut() else { return url };
            segments.pop_if_empty();
            let mut values = self.path_params.iter();
            for segment in self.op.template().split('/').filter(|s| !s.is_empty()) {
                match segment.starts_with('{') {
                    true => segments.push(values.next().map_or("", String::as_str)),
                    false => segments.push(segment),
                };
            }
        }
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(self.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }
}

fn path_param_names(template: &'static str) -> impl Iterator<Item = &'static str> {
    template.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_segments_and_query() {
        let root = Url::parse("http://127.0.0.1:8088/ari/").unwrap();
        let request = Request::new(Op::ChannelPlay, vec!["c 1;2".into(), "pb/1".into()])
            .query("media", "sound:a,sound:b")
            .query("lang", "en+fr");
        let url = request.url(&root);
        assert_eq!(url.path(), "/ari/channels/c%201;2/play/pb%2F1");
        assert_eq!(url.query(), Some("media=sound%3Aa%2Csound%3Ab&lang=en%2Bfr"));
        let names: Vec<_> = request.path_params().map(|(name, _)| name).collect();
        assert_eq!(names, ["channelId", "playbackId"]);
    }

    #[test]
    #[should_panic(expected = "wrong number of path parameters")]
    fn path_parameter_count_is_checked() {
        let _ = Request::new(Op::ChannelAnswer, vec![]);
    }
}
