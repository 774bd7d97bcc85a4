//! Turning WebSocket frames into [`Event`]s.
//!
//! The contract: a frame of a modelled type becomes its typed variant; a frame of any other type
//! becomes [`Event::Unknown`] with the raw JSON; unknown fields are ignored; anything else (not
//! JSON, no `type`, a modelled type with a missing or mistyped field) is a [`DecodeError`] naming
//! the event type and the field, so the stream can report it and go on.

use std::borrow::Cow;

use serde::Deserialize;

use super::event::{Event, UnknownEvent, decode_modelled, explain_modelled};

/// A frame that could not be decoded. It names what a person needs to find the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {} frame{}: {reason}", .event_type.as_deref().unwrap_or("ARI"), field_suffix(.field))]
pub struct DecodeError {
    /// The frame's `type`, when it could be read.
    pub event_type: Option<String>,
    /// Dotted path of the offending field (`channel.state`), when one is to blame.
    pub field: Option<String>,
    /// What was wrong, as serde_json reports it (with line and column).
    pub reason: String,
}

fn field_suffix(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!(" at field `{f}`")).unwrap_or_default()
}

/// Only the `type` of a frame; every other field is skipped without being built.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    event_type: Option<Cow<'a, str>>,
}

/// Decodes one ARI WebSocket text frame.
///
/// Finds the `type` first, then deserializes the frame straight into the typed struct: cheaper
/// than buffering the whole frame for a tagged enum, and the error can name the type. Asterisk
/// writes `type` as the first key, so it is usually read off the front of the frame; otherwise
/// a first pass reads it while skipping everything else.
pub fn decode_event(text: &str) -> Result<Event, DecodeError> {
    let event_type = match leading_type(text) {
        Some(event_type) => Cow::Borrowed(event_type),
        None => read_type(text)?,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match decode_modelled(&event_type, &mut deserializer) {
        Some(Ok(event)) => match deserializer.end() {
            Ok(()) => Ok(event),
            Err(error) => Err(syntax_error(Some(&event_type), &error)),
        },
        Some(Err(error)) => {
            Err(explain(&event_type, text)
                .unwrap_or_else(|| syntax_error(Some(&event_type), &error)))
        }
        None => {
            let raw = serde_json::from_str(text)
                .map_err(|error| syntax_error(Some(&event_type), &error))?;
            Ok(Event::Unknown(UnknownEvent { event_type: event_type.into_owned(), raw }))
        }
    }
}

/// The type of a frame that starts `{"type":"<name>"` with a plain name (no escapes); `None`
/// sends the frame through the general path.
fn leading_type(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix("\"type\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// Decodes a failed frame again with path tracking, to name the field that failed.
fn explain(event_type: &str, text: &str) -> Option<DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match explain_modelled(event_type, &mut deserializer)? {
        Err(error) => Some(field_error(event_type, error)),
        Ok(_) => None,
    }
}

fn syntax_error(event_type: Option<&str>, error: &serde_json::Error) -> DecodeError {
    DecodeError {
        event_type: event_type.map(str::to_owned),
        field: None,
        reason: error.to_string(),
    }
}

/// Decodes a frame already parsed into a JSON value (used by `Deserialize for Event`).
pub fn decode_value(value: serde_json::Value) -> Result<Event, DecodeError> {
    let event_type = match value.get("type") {
        Some(serde_json::Value::String(event_type)) => event_type.clone(),
        Some(_) => return Err(envelope_error("`type` is not a string")),
        None if value.is_object() => return Err(envelope_error("missing field `type`")),
        None => return Err(envelope_error("an ARI frame must be a JSON object")),
    };
    match decode_modelled(&event_type, &value) {
        Some(Ok(event)) => Ok(event),
        Some(Err(error)) => match explain_modelled(&event_type, &value) {
            Some(Err(explained)) => Err(field_error(&event_type, explained)),
            _ => Err(syntax_error(Some(&event_type), &error)),
        },
        None => Ok(Event::Unknown(UnknownEvent { event_type, raw: value })),
    }
}

fn read_type(text: &str) -> Result<Cow<'_, str>, DecodeError> {
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|error| DecodeError {
        event_type: None,
        field: error.is_data().then(|| "type".to_owned()),
        reason: error.to_string(),
    })?;
    envelope.event_type.ok_or_else(|| envelope_error("missing field `type`"))
}

fn envelope_error(reason: &str) -> DecodeError {
    DecodeError { event_type: None, field: Some("type".to_owned()), reason: reason.to_owned() }
}

fn field_error(
    event_type: &str,
    error: serde_path_to_error::Error<serde_json::Error>,
) -> DecodeError {
    let reason = error.inner().to_string();
    let mut field = error.path().to_string();
    // serde reports a missing field at its parent's path; point at the field itself.
    if let Some(missing) = missing_field_name(&reason) {
        field = if field == "." { missing.to_owned() } else { format!("{field}.{missing}") };
    }
    DecodeError {
        event_type: Some(event_type.to_owned()),
        field: (field != ".").then_some(field),
        reason,
    }
}

fn missing_field_name(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANNEL: &str = r#"{"id":"c1","name":"PJSIP/1001-1","state":"Up"}"#;

    #[test]
    fn names_event_type_and_nested_field() {
        let frame = r#"{"type":"StasisStart","application":"q","timestamp":"t","args":[],
            "channel":{"id":"c1","name":"n","state":5}}"#;
        let error = decode_event(frame).unwrap_err();
        assert_eq!(error.event_type.as_deref(), Some("StasisStart"));
        assert_eq!(error.field.as_deref(), Some("channel.state"));
        assert!(error.to_string().contains("StasisStart"), "{error}");
        assert!(error.to_string().contains("channel.state"), "{error}");
    }

    #[test]
    fn names_a_missing_field() {
        let frame = format!(
            r#"{{"type":"ChannelDestroyed","application":"q","timestamp":"t","cause_txt":"x",
            "channel":{CHANNEL}}}"#
        );
        let error = decode_event(&frame).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("cause"));
        let frame =
            r#"{"type":"StasisEnd","application":"q","timestamp":"t","channel":{"id":"c"}}"#;
        assert_eq!(decode_event(frame).unwrap_err().field.as_deref(), Some("channel.name"));
    }

    #[test]
    fn unknown_type_keeps_raw_json_and_unknown_fields_are_ignored() {
        let frame = r#"{"type":"ChannelTalkingStarted","application":"q","timestamp":"t","x":1}"#;
        let event = decode_event(frame).unwrap();
        assert_eq!(event.event_type(), "ChannelTalkingStarted");
        assert_eq!(event.application(), "q");
        match &event {
            Event::Unknown(unknown) => assert_eq!(unknown.raw["x"], 1),
            other => panic!("expected unknown, got {other:?}"),
        }
        let written = serde_json::to_value(&event).unwrap();
        assert_eq!(written, serde_json::from_str::<serde_json::Value>(frame).unwrap());

        let frame = format!(
            r#"{{"type":"StasisEnd","application":"q","timestamp":"t","new_field":[1],
            "channel":{CHANNEL}}}"#
        );
        assert!(matches!(decode_event(&frame).unwrap(), Event::StasisEnd(_)));
    }

    #[test]
    fn leading_type_is_read_only_when_plain() {
        assert_eq!(leading_type(r#" { "type" : "StasisEnd", "x":1}"#), Some("StasisEnd"));
        assert_eq!(leading_type(r#"{"type":"Stasis\u0045nd"}"#), None);
        assert_eq!(leading_type(r#"{"cause":1,"type":"X"}"#), None);
        assert_eq!(leading_type(r#"{"type":"unterminated"#), None);
        let escaped = r#"{"type":"Stasis\u0045nd","application":"q","timestamp":"t",
            "channel":{"id":"c","name":"n","state":"Up"}}"#;
        assert!(matches!(decode_event(escaped), Ok(Event::StasisEnd(_))));
    }

    #[test]
    fn trailing_garbage_is_an_error_on_both_paths() {
        let frame = format!(
            r#"{{"type":"StasisEnd","application":"q","timestamp":"t","channel":{CHANNEL}}}"#
        );
        assert!(decode_event(&frame).is_ok());
        let error = decode_event(&format!("{frame} x")).unwrap_err();
        assert_eq!(error.event_type.as_deref(), Some("StasisEnd"));
        assert!(decode_event(r#"{"type":"Other","application":"q"} x"#).is_err());
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(decode_event("{}").unwrap_err().field.as_deref(), Some("type"));
        assert_eq!(decode_event(r#"{"type":3}"#).unwrap_err().field.as_deref(), Some("type"));
        let syntax = decode_event("{\"type\":").unwrap_err();
        assert_eq!((syntax.event_type, syntax.field), (None, None));
        assert!(decode_event("[1]").is_err());
        assert!(decode_value(serde_json::json!([1])).is_err());
    }

    #[test]
    fn value_and_text_paths_agree() {
        let frame = format!(
            r#"{{"type":"ChannelStateChange","application":"q","timestamp":"t",
            "asterisk_id":"02:fc","channel":{CHANNEL}}}"#
        );
        let from_text = decode_event(&frame).unwrap();
        let from_value: Event = serde_json::from_str(&frame).unwrap();
        assert_eq!(from_text, from_value);
        assert_eq!(from_text.asterisk_id(), Some("02:fc"));
        let bad = r#"{"type":"Dial","application":"q","timestamp":"t","dialstatus":""}"#;
        let error = serde_json::from_str::<Event>(bad).unwrap_err();
        assert!(error.to_string().contains("peer"), "{error}");
    }

    #[test]
    fn every_modelled_type_is_dispatched() {
        for name in Event::MODELLED_TYPES {
            let frame = format!(r#"{{"type":"{name}","application":"q","timestamp":"t"}}"#);
            let decoded = decode_event(&frame);
            // Types without required payload decode; the others must fail naming a field of
            // that type, which proves the dispatch reached the typed struct.
            match decoded {
                Ok(event) => assert_eq!(event.event_type(), *name),
                Err(error) => {
                    assert_eq!(error.event_type.as_deref(), Some(*name));
                    assert!(error.field.is_some(), "{error}");
                }
            }
        }
    }
}
