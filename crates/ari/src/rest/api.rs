//! The typed REST calls the engine uses: one method per operation, each building its
//! [`Request`](super::Request) with the pure builders and decoding the resource it returns.

use super::bridges::{self, BridgeFeature, BridgeRole};
use super::channels::{self, CreateChannel, DialplanTarget, HangupReason, Originate};
use super::client::AriClient;
use super::node::{self, EventSource};
use crate::error::AriError;
use crate::model::{Application, AsteriskInfo, AsteriskPing, Bridge, Channel, Playback, Variable};

/// Channels.
impl AriClient {
    /// `GET /channels`: every channel on the node.
    pub async fn list_channels(&self) -> Result<Vec<Channel>, AriError> {
        self.call(&channels::list()).await
    }

    /// `GET /channels/{id}`.
    pub async fn get_channel(&self, channel_id: &str) -> Result<Channel, AriError> {
        self.call(&channels::get(channel_id)).await
    }

    /// `POST /channels`: originate; the channel enters the app on answer.
    pub async fn originate(&self, params: &Originate) -> Result<Channel, AriError> {
        self.call(&channels::originate(params)).await
    }

    /// `POST /channels/create`: a channel in Stasis at once, to [`dial`](Self::dial) later.
    pub async fn create_channel(&self, params: &CreateChannel) -> Result<Channel, AriError> {
        self.call(&channels::create(params)).await
    }

    /// `POST /channels/{id}/dial`. Accepted, not done: the outcome arrives as events.
    pub async fn dial(
        &self,
        channel_id: &str,
        caller: Option<&str>,
        timeout_secs: Option<i32>,
    ) -> Result<(), AriError> {
        self.call_empty(&channels::dial(channel_id, caller, timeout_secs)).await
    }

    /// `POST /channels/{id}/answer`.
    pub async fn answer(&self, channel_id: &str) -> Result<(), AriError> {
        self.call_empty(&channels::answer(channel_id)).await
    }

    /// `POST /channels/{id}/ring`.
    pub async fn ring(&self, channel_id: &str) -> Result<(), AriError> {
        self.call_empty(&channels::ring(channel_id)).await
    }

    /// `DELETE /channels/{id}/ring`.
    pub async fn ring_stop(&self, channel_id: &str) -> Result<(), AriError> {
        self.call_empty(&channels::ring_stop(channel_id)).await
    }

    /// `POST /channels/{id}/progress`.
    pub async fn progress(&self, channel_id: &str) -> Result<(), AriError> {
        self.call_empty(&channels::progress(channel_id)).await
    }

    /// `POST /channels/{id}/moh`.
    pub async fn moh_start(&self, channel_id: &str, class: Option<&str>) -> Result<(), AriError> {
        self.call_empty(&channels::moh_start(channel_id, class)).await
    }

    /// `DELETE /channels/{id}/moh`.
    pub async fn moh_stop(&self, channel_id: &str) -> Result<(), AriError> {
        self.call_empty(&channels::moh_stop(channel_id)).await
    }

    /// `POST /channels/{id}/play/{playbackId}`: plays `media` in order as one playback. A play
    /// suspends channel MOH without resuming it; restart MOH after `PlaybackFinished`.
    pub async fn play<S: AsRef<str>>(
        &self,
        channel_id: &str,
        playback_id: &str,
        media: &[S],
        lang: Option<&str>,
    ) -> Result<Playback, AriError> {
        self.call(&channels::play(channel_id, playback_id, media, lang)).await
    }

    /// `POST /channels/{id}/continue`: leave Stasis for the dialplan.
    pub async fn continue_in_dialplan(
        &self,
        channel_id: &str,
        target: &DialplanTarget,
    ) -> Result<(), AriError> {
        self.call_empty(&channels::continue_in_dialplan(channel_id, target)).await
    }

    /// `POST /channels/{id}/move`: hand the channel to another Stasis application.
    pub async fn move_to_app(
        &self,
        channel_id: &str,
        app: &str,
        app_args: Option<&str>,
    ) -> Result<(), AriError> {
        self.call_empty(&channels::move_to(channel_id, app, app_args)).await
    }

    /// `DELETE /channels/{id}`.
    pub async fn hangup(
        &self,
        channel_id: &str,
        reason: Option<HangupReason>,
    ) -> Result<(), AriError> {
        self.call_empty(&channels::hangup(channel_id, reason)).await
    }

    /// `GET /channels/{id}/variable`: the value of a variable or dialplan function.
    pub async fn get_variable(&self, channel_id: &str, name: &str) -> Result<String, AriError> {
        let variable: Variable = self.call(&channels::get_variable(channel_id, name)).await?;
        Ok(variable.value)
    }

    /// `POST /channels/{id}/variable`.
    pub async fn set_variable(
        &self,
        channel_id: &str,
        name: &str,
        value: &str,
        report_events: Option<bool>,
    ) -> Result<(), AriError> {
        self.call_empty(&channels::set_variable(channel_id, name, value, report_events)).await
    }
}

/// Bridges.
impl AriClient {
    /// `GET /bridges`.
    pub async fn list_bridges(&self) -> Result<Vec<Bridge>, AriError> {
        self.call(&bridges::list()).await
    }

    /// `GET /bridges/{id}`.
    pub async fn get_bridge(&self, bridge_id: &str) -> Result<Bridge, AriError> {
        self.call(&bridges::get(bridge_id)).await
    }

    /// `POST /bridges` with a client-chosen id; 409 ([`AriError::Conflict`]) if it exists.
    pub async fn create_bridge(
        &self,
        bridge_id: &str,
        features: &[BridgeFeature],
        name: Option<&str>,
    ) -> Result<Bridge, AriError> {
        self.call(&bridges::create(bridge_id, features, name)).await
    }

    /// `DELETE /bridges/{id}`.
    pub async fn delete_bridge(&self, bridge_id: &str) -> Result<(), AriError> {
        self.call_empty(&bridges::delete(bridge_id)).await
    }

    /// `POST /bridges/{id}/addChannel`.
    pub async fn add_channels<S: AsRef<str>>(
        &self,
        bridge_id: &str,
        channel_ids: &[S],
        role: Option<BridgeRole>,
    ) -> Result<(), AriError> {
        self.call_empty(&bridges::add_channels(bridge_id, channel_ids, role)).await
    }

    /// `POST /bridges/{id}/removeChannel`.
    pub async fn remove_channels<S: AsRef<str>>(
        &self,
        bridge_id: &str,
        channel_ids: &[S],
    ) -> Result<(), AriError> {
        self.call_empty(&bridges::remove_channels(bridge_id, channel_ids)).await
    }

    /// `POST /bridges/{id}/moh`.
    pub async fn bridge_moh_start(
        &self,
        bridge_id: &str,
        class: Option<&str>,
    ) -> Result<(), AriError> {
        self.call_empty(&bridges::moh_start(bridge_id, class)).await
    }

    /// `DELETE /bridges/{id}/moh`.
    pub async fn bridge_moh_stop(&self, bridge_id: &str) -> Result<(), AriError> {
        self.call_empty(&bridges::moh_stop(bridge_id)).await
    }

    /// `POST /bridges/{id}/play/{playbackId}`.
    pub async fn bridge_play<S: AsRef<str>>(
        &self,
        bridge_id: &str,
        playback_id: &str,
        media: &[S],
        lang: Option<&str>,
    ) -> Result<Playback, AriError> {
        self.call(&bridges::play(bridge_id, playback_id, media, lang)).await
    }
}

/// Playbacks, the application, the node.
impl AriClient {
    /// `DELETE /playbacks/{id}`.
    pub async fn stop_playback(&self, playback_id: &str) -> Result<(), AriError> {
        self.call_empty(&node::stop_playback(playback_id)).await
    }

    /// `GET /applications/{app}` for this client's application: what it is subscribed to,
    /// the starting point of reconciling after a (re)connect.
    pub async fn get_application(&self) -> Result<Application, AriError> {
        self.call(&node::get_application(self.app())).await
    }

    /// `POST /applications/{app}/subscription`.
    pub async fn subscribe(&self, sources: &[EventSource]) -> Result<Application, AriError> {
        self.call(&node::subscribe(self.app(), sources)).await
    }

    /// `DELETE /applications/{app}/subscription`.
    pub async fn unsubscribe(&self, sources: &[EventSource]) -> Result<Application, AriError> {
        self.call(&node::unsubscribe(self.app(), sources)).await
    }

    /// `GET /asterisk/info`.
    pub async fn asterisk_info(&self) -> Result<AsteriskInfo, AriError> {
        self.call(&node::asterisk_info()).await
    }

    /// `GET /asterisk/ping`.
    pub async fn ping(&self) -> Result<AsteriskPing, AriError> {
        self.call(&node::asterisk_ping()).await
    }
}
