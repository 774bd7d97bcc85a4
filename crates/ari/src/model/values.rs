//! Closed sets of string values that ARI sends (channel state, dial status, …).
//!
//! Asterisk adds values between releases, so every set keeps an `Other(String)` variant: an
//! unseen value is data, never a decode error, and it serializes back to the same text.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string-valued enum with an `Other(String)` fallback, its wire text, serde impls
/// and `Display`.
macro_rules! string_values {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of starq does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The text Asterisk uses for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(text) => text,
                }
            }

            /// Parses the wire text; unknown text becomes `Other`.
            pub fn from_wire(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // Borrow when the text has no escapes; fall back to an owned string otherwise.
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::from_wire(&text))
            }
        }
    };
}

string_values! {
    /// The state of a channel (`Channel.state`).
    pub enum ChannelState {
        /// Channel is down and available.
        Down => "Down",
        /// Channel is down but reserved.
        Reserved => "Rsrved",
        /// Channel is off hook.
        OffHook => "OffHook",
        /// Digits have been dialled.
        Dialing => "Dialing",
        /// The line is ringing (an inbound call being offered).
        Ring => "Ring",
        /// The remote end is ringing.
        Ringing => "Ringing",
        /// The line is up (answered).
        Up => "Up",
        /// The line is busy.
        Busy => "Busy",
        /// Digits dialled while off hook.
        DialingOffhook => "Dialing Offhook",
        /// Channel detected an incoming call and is waiting for ring.
        PreRing => "Pre-ring",
        /// Asterisk does not know the state.
        Unknown => "Unknown",
    }
}

string_values! {
    /// The outcome reported by a `Dial` event (`dialstatus`). Empty while the dial starts.
    pub enum DialStatus {
        /// The dial has just started: no status yet.
        Started => "",
        /// The peer answered.
        Answer => "ANSWER",
        /// The peer was busy.
        Busy => "BUSY",
        /// The peer did not answer.
        NoAnswer => "NOANSWER",
        /// The dial was cancelled.
        Cancel => "CANCEL",
        /// The network was congested.
        Congestion => "CONGESTION",
        /// The channel could not be reached.
        ChanUnavail => "CHANUNAVAIL",
        /// Privacy manager: do not call.
        DontCall => "DONTCALL",
        /// Privacy manager: torture.
        Torture => "TORTURE",
        /// Bad arguments to the dial.
        InvalidArgs => "INVALIDARGS",
        /// The peer is ringing.
        Ringing => "RINGING",
        /// The peer signalled progress (early media).
        Progress => "PROGRESS",
        /// The peer signalled proceeding.
        Proceeding => "PROCEEDING",
    }
}

string_values! {
    /// The state of a playback.
    pub enum PlaybackState {
        /// Waiting to start.
        Queued => "queued",
        /// Playing.
        Playing => "playing",
        /// Moving on to the next media item of a list.
        Continuing => "continuing",
        /// Finished normally.
        Done => "done",
        /// Failed (for example a missing sound file).
        Failed => "failed",
    }
}

string_values! {
    /// The state of a live recording.
    pub enum RecordingState {
        /// Waiting to start.
        Queued => "queued",
        /// Recording.
        Recording => "recording",
        /// Paused.
        Paused => "paused",
        /// Finished.
        Done => "done",
        /// Failed.
        Failed => "failed",
        /// Cancelled.
        Canceled => "canceled",
    }
}

string_values! {
    /// The state of an endpoint.
    pub enum EndpointState {
        /// Asterisk does not know.
        Unknown => "unknown",
        /// Not reachable (for PJSIP: no contact registered or reachable).
        Offline => "offline",
        /// Reachable.
        Online => "online",
    }
}

string_values! {
    /// The state of a device (as in `DEVICE_STATE()`).
    pub enum DeviceStateValue {
        /// Unknown.
        Unknown => "UNKNOWN",
        /// Idle.
        NotInUse => "NOT_INUSE",
        /// In a call.
        InUse => "INUSE",
        /// Busy.
        Busy => "BUSY",
        /// Invalid device.
        Invalid => "INVALID",
        /// Unavailable (not registered).
        Unavailable => "UNAVAILABLE",
        /// Ringing.
        Ringing => "RINGING",
        /// In a call and ringing.
        RingInUse => "RINGINUSE",
        /// On hold.
        OnHold => "ONHOLD",
    }
}

string_values! {
    /// The kind of a bridge as reported in `Bridge.bridge_type`.
    pub enum BridgeKind {
        /// Mixing bridge: everyone hears everyone.
        Mixing => "mixing",
        /// Holding bridge: participants hear announcers only.
        Holding => "holding",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_values_round_trip() {
        assert_eq!(ChannelState::from_wire("Rsrved"), ChannelState::Reserved);
        assert_eq!(ChannelState::Reserved.as_str(), "Rsrved");
        let other = ChannelState::from_wire("Mutating");
        assert_eq!(other, ChannelState::Other("Mutating".to_owned()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"Mutating\"");
        let back: DialStatus = serde_json::from_str("\"\"").unwrap();
        assert_eq!(back, DialStatus::Started);
        let escaped: DialStatus = serde_json::from_str("\"BU\\u0053Y\"").unwrap();
        assert_eq!(escaped, DialStatus::Busy);
    }
}
