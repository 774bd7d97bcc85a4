//! Requests on channels: originate, create and dial, answer, ringing, music on hold, playback,
//! leaving Stasis, hangup, variables.
//!
//! Ids are chosen by the caller wherever ARI allows it (`channelId`, `otherChannelId`,
//! playback id), so a retried request answers 409 instead of acting twice.

use std::collections::BTreeMap;

use super::request::{Op, Request};

/// `POST /channels`: dial an endpoint and put the answered channel into an application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Originate {
    /// What to dial (`PJSIP/1001`, `Local/1001@agents`).
    pub endpoint: String,
    /// Stasis application the channel enters on answer.
    pub app: String,
    /// Arguments for `StasisStart.args`, comma-separated.
    pub app_args: Option<String>,
    /// Caller id to present (`"Queue" <100>`).
    pub caller_id: Option<String>,
    /// Seconds to ring before giving up (Asterisk's default is 30; -1 never).
    pub timeout: Option<i32>,
    /// Id for the new channel.
    pub channel_id: Option<String>,
    /// Id for the other half of a Local channel.
    pub other_channel_id: Option<String>,
    /// Id of the channel this call is for (links them, picks codecs).
    pub originator: Option<String>,
    /// Channel variables to set on the new channel.
    pub variables: BTreeMap<String, String>,
}

/// `POST /channels/create`: a channel in Stasis at once, dialled later with [`dial`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateChannel {
    /// What to dial later.
    pub endpoint: String,
    /// Stasis application the channel is in from the start.
    pub app: String,
    /// Arguments for `StasisStart.args`, comma-separated.
    pub app_args: Option<String>,
    /// Id for the new channel.
    pub channel_id: Option<String>,
    /// Id for the other half of a Local channel.
    pub other_channel_id: Option<String>,
    /// Id of the channel this call is for.
    pub originator: Option<String>,
    /// Channel variables to set on the new channel.
    pub variables: BTreeMap<String, String>,
}

/// Where `/continue` sends a channel; every part is optional (Asterisk keeps the current one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialplanTarget {
    /// Context.
    pub context: Option<String>,
    /// Extension.
    pub extension: Option<String>,
    /// Priority.
    pub priority: Option<i32>,
    /// Label (instead of a priority).
    pub label: Option<String>,
}

/// Why a channel is hung up (`DELETE /channels/{id}?reason=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HangupReason {
    /// Normal clearing.
    Normal,
    /// User busy.
    Busy,
    /// Congestion.
    Congestion,
    /// No answer.
    NoAnswer,
    /// Timed out.
    Timeout,
    /// Call rejected.
    Rejected,
    /// Unallocated number.
    Unallocated,
    /// Normal, unspecified.
    NormalUnspecified,
    /// Number incomplete.
    NumberIncomplete,
    /// Codec mismatch.
    CodecMismatch,
    /// Interworking.
    Interworking,
    /// Failure.
    Failure,
    /// Answered elsewhere: cancels the other ringing legs of a ring-all.
    AnsweredElsewhere,
}

impl HangupReason {
    /// The value ARI expects.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupReason::Normal => "normal",
            HangupReason::Busy => "busy",
            HangupReason::Congestion => "congestion",
            HangupReason::NoAnswer => "no_answer",
            HangupReason::Timeout => "timeout",
            HangupReason::Rejected => "rejected",
            HangupReason::Unallocated => "unallocated",
            HangupReason::NormalUnspecified => "normal_unspecified",
            HangupReason::NumberIncomplete => "number_incomplete",
            HangupReason::CodecMismatch => "codec_mismatch",
            HangupReason::Interworking => "interworking",
            HangupReason::Failure => "failure",
            HangupReason::AnsweredElsewhere => "answered_elsewhere",
        }
    }
}

fn channel(op: Op, channel_id: &str) -> Request {
    Request::new(op, vec![channel_id.to_owned()])
}

/// Variables travel in the body as `{"variables": {…}}`; no body when there are none.
fn with_variables(request: Request, variables: &BTreeMap<String, String>) -> Request {
    match variables.is_empty() {
        true => request,
        false => request.body(serde_json::json!({ "variables": variables })),
    }
}

/// `GET /channels`.
pub fn list() -> Request {
    Request::new(Op::ChannelList, vec![])
}

/// `GET /channels/{channelId}`.
pub fn get(channel_id: &str) -> Request {
    channel(Op::ChannelGet, channel_id)
}

/// `POST /channels`.
pub fn originate(params: &Originate) -> Request {
    let request = Request::new(Op::ChannelOriginate, vec![])
        .query("endpoint", &params.endpoint)
        .query("app", &params.app)
        .query_opt("appArgs", params.app_args.as_ref())
        .query_opt("callerId", params.caller_id.as_ref())
        .query_opt("timeout", params.timeout)
        .query_opt("channelId", params.channel_id.as_ref())
        .query_opt("otherChannelId", params.other_channel_id.as_ref())
        .query_opt("originator", params.originator.as_ref());
    with_variables(request, &params.variables)
}

/// `POST /channels/create`.
pub fn create(params: &CreateChannel) -> Request {
    let request = Request::new(Op::ChannelCreate, vec![])
        .query("endpoint", &params.endpoint)
        .query("app", &params.app)
        .query_opt("appArgs", params.app_args.as_ref())
        .query_opt("channelId", params.channel_id.as_ref())
        .query_opt("otherChannelId", params.other_channel_id.as_ref())
        .query_opt("originator", params.originator.as_ref());
    with_variables(request, &params.variables)
}

/// `POST /channels/{channelId}/dial`: `caller` is the channel the dial is for, `timeout` in
/// seconds.
pub fn dial(channel_id: &str, caller: Option<&str>, timeout: Option<i32>) -> Request {
    channel(Op::ChannelDial, channel_id).query_opt("caller", caller).query_opt("timeout", timeout)
}

/// `POST /channels/{channelId}/answer`.
pub fn answer(channel_id: &str) -> Request {
    channel(Op::ChannelAnswer, channel_id)
}

/// `POST /channels/{channelId}/ring`.
pub fn ring(channel_id: &str) -> Request {
    channel(Op::ChannelRing, channel_id)
}

/// `DELETE /channels/{channelId}/ring`.
pub fn ring_stop(channel_id: &str) -> Request {
    channel(Op::ChannelRingStop, channel_id)
}

/// `POST /channels/{channelId}/progress`.
pub fn progress(channel_id: &str) -> Request {
    channel(Op::ChannelProgress, channel_id)
}

/// `POST /channels/{channelId}/moh`, with the default class when `moh_class` is `None`.
pub fn moh_start(channel_id: &str, moh_class: Option<&str>) -> Request {
    channel(Op::ChannelMohStart, channel_id).query_opt("mohClass", moh_class)
}

/// `DELETE /channels/{channelId}/moh`.
pub fn moh_stop(channel_id: &str) -> Request {
    channel(Op::ChannelMohStop, channel_id)
}

/// `POST /channels/{channelId}/play/{playbackId}`: one playback over all `media`, in order.
pub fn play<S: AsRef<str>>(
    channel_id: &str,
    playback_id: &str,
    media: &[S],
    lang: Option<&str>,
) -> Request {
    Request::new(Op::ChannelPlay, vec![channel_id.to_owned(), playback_id.to_owned()])
        .query_list("media", media)
        .query_opt("lang", lang)
}

/// `POST /channels/{channelId}/continue`.
pub fn continue_in_dialplan(channel_id: &str, target: &DialplanTarget) -> Request {
    channel(Op::ChannelContinue, channel_id)
        .query_opt("context", target.context.as_ref())
        .query_opt("extension", target.extension.as_ref())
        .query_opt("priority", target.priority)
        .query_opt("label", target.label.as_ref())
}

/// `POST /channels/{channelId}/move`.
pub fn move_to(channel_id: &str, app: &str, app_args: Option<&str>) -> Request {
    channel(Op::ChannelMove, channel_id).query("app", app).query_opt("appArgs", app_args)
}

/// `DELETE /channels/{channelId}`.
pub fn hangup(channel_id: &str, reason: Option<HangupReason>) -> Request {
    channel(Op::ChannelHangup, channel_id).query_opt("reason", reason.map(HangupReason::as_str))
}

/// `GET /channels/{channelId}/variable`.
pub fn get_variable(channel_id: &str, variable: &str) -> Request {
    channel(Op::ChannelGetVariable, channel_id).query("variable", variable)
}

/// `POST /channels/{channelId}/variable`. `report_events` (Asterisk 22.10+) adds the variable
/// to every later event of the channel.
pub fn set_variable(
    channel_id: &str,
    variable: &str,
    value: &str,
    report_events: Option<bool>,
) -> Request {
    channel(Op::ChannelSetVariable, channel_id)
        .query("variable", variable)
        .query("value", value)
        .query_opt("report_events", report_events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originate_puts_variables_in_the_body_only_when_present() {
        let mut params = Originate {
            endpoint: "PJSIP/1001".into(),
            app: "starq".into(),
            channel_id: Some("call7-1".into()),
            ..Originate::default()
        };
        let bare = originate(&params);
        assert_eq!(bare.json_body(), None);
        assert!(bare.query_params().contains(&("channelId", "call7-1".to_owned())));
        params.variables.insert("STARQ_CALL".into(), "7".into());
        let body = originate(&params).json_body().cloned();
        assert_eq!(body, Some(serde_json::json!({"variables": {"STARQ_CALL": "7"}})));
    }

    #[test]
    fn hangup_reason_and_play_list() {
        let request = hangup("c1", Some(HangupReason::AnsweredElsewhere));
        assert_eq!(request.query_params(), [("reason", "answered_elsewhere".to_owned())]);
        let request = play("c1", "pb1", &["sound:a", "sound:b"], None);
        assert_eq!(request.query_params(), [("media", "sound:a,sound:b".to_owned())]);
    }
}
