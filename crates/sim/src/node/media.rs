//! Media on channels and bridges: music on hold, playbacks that last as long as their media
//! items and end with `PlaybackFinished` (done or failed), and the ground truth of what each
//! caller heard.

use std::collections::BTreeSet;

use super::model::{PlaybackRec, Target};
use super::state::{NodeState, Step};
use crate::clock::Now;
use crate::error::AriError;
use crate::truth::Heard;
use crate::wire::{self, Event};

impl NodeState {
    /// `POST /channels/{id}/moh`.
    pub(crate) fn channel_moh(
        &mut self,
        now: Now,
        id: &str,
        class: Option<&str>,
    ) -> Result<(), AriError> {
        let chan = self.channels.get_mut(id).ok_or_else(AriError::channel_not_found)?;
        if chan.stasis.is_none() {
            return Err(AriError::not_in_stasis());
        }
        let was_playing = chan.moh.is_some();
        chan.moh = Some(class.unwrap_or("default").to_owned());
        if !was_playing {
            self.start_moh_truth(now, id);
        }
        Ok(())
    }

    /// `DELETE /channels/{id}/moh`.
    pub(crate) fn channel_moh_stop(&mut self, now: Now, id: &str) -> Result<(), AriError> {
        let chan = self.channels.get_mut(id).ok_or_else(AriError::channel_not_found)?;
        if chan.stasis.is_none() {
            return Err(AriError::not_in_stasis());
        }
        if chan.moh.take().is_some() {
            self.stop_moh_truth(now, id);
        }
        Ok(())
    }

    /// `POST /bridges/{id}/moh` (`stop`: `DELETE`).
    pub(crate) fn bridge_moh(
        &mut self,
        now: Now,
        id: &str,
        class: Option<&str>,
        stop: bool,
    ) -> Result<(), AriError> {
        let bridge = self.bridges.get_mut(id).ok_or_else(AriError::bridge_not_found)?;
        let was = bridge.moh.is_some();
        bridge.moh = if stop { None } else { Some(class.unwrap_or("default").to_owned()) };
        let members = bridge.channels.clone();
        if was == stop {
            for c in members {
                if stop { self.stop_moh_truth(now, &c) } else { self.start_moh_truth(now, &c) }
            }
        } else if stop {
            return Err(AriError::conflict("Bridge not playing music on hold"));
        }
        Ok(())
    }

    /// Starts counting MOH time for a caller leg.
    pub(crate) fn start_moh_truth(&mut self, now: Now, id: &str) {
        let Some(caller) = self.caller_of(id) else { return };
        if self.links.moh_since.contains_key(&caller) {
            return;
        }
        let ms = self.ms(now);
        self.links.moh_since.insert(caller, ms);
        if let Some(rec) = self.world.truth().caller_mut(caller) {
            rec.moh_starts += 1;
        }
    }

    /// Stops counting MOH time for a caller leg.
    pub(crate) fn stop_moh_truth(&mut self, now: Now, id: &str) {
        let Some(caller) = self.caller_of(id) else { return };
        let Some(since) = self.links.moh_since.remove(&caller) else { return };
        let ms = self.ms(now);
        if let Some(rec) = self.world.truth().caller_mut(caller) {
            rec.moh_ms += ms.saturating_sub(since);
        }
    }

    /// `POST /channels/{id}/play` and `POST /bridges/{id}/play`.
    pub(crate) fn play(
        &mut self,
        now: Now,
        target: Target,
        media: Vec<String>,
        playback_id: Option<String>,
        lang: Option<&str>,
    ) -> Result<wire::Playback, AriError> {
        if media.is_empty() {
            return Err(AriError::bad_request("missing required parameter: media"));
        }
        match &target {
            Target::Channel(id) => {
                let chan = self.channels.get_mut(id).ok_or_else(AriError::channel_not_found)?;
                if chan.stasis.is_none() {
                    return Err(AriError::not_in_stasis());
                }
                // A play on a channel with MOH suspends the MOH and does not resume it.
                if chan.moh.take().is_some() {
                    self.stop_moh_truth(now, id);
                }
            }
            Target::Bridge(id) => {
                self.bridges.get(id).ok_or_else(AriError::bridge_not_found)?;
            }
        }
        let id = playback_id.unwrap_or_else(|| self.uniqueid(now));
        if self.playbacks.contains_key(&id) {
            return Err(AriError::conflict("Playback with given id already exists"));
        }
        let serial = self.serial();
        let rec = PlaybackRec {
            id: id.clone(),
            target: target.clone(),
            media,
            index: 0,
            state: wire::PlaybackState::Queued,
            language: lang.unwrap_or("en").to_owned(),
            serial,
        };
        let snapshot = rec.wire();
        self.playbacks.insert(id.clone(), rec);
        let queue = match &target {
            Target::Channel(c) => self.channels.get_mut(c).map(|c| &mut c.playbacks),
            Target::Bridge(b) => self.bridges.get_mut(b).map(|b| &mut b.playbacks),
        };
        if let Some(queue) = queue {
            queue.push(id.clone());
            if queue.len() == 1 {
                self.start_item(now, &id, false);
            }
        }
        Ok(snapshot)
    }

    fn playback_recipients(&self, target: &Target) -> BTreeSet<String> {
        match target {
            Target::Channel(c) => self.channels.get(c).map(|c| c.recipients()).unwrap_or_default(),
            Target::Bridge(b) => self.bridges.get(b).map(|b| b.subs.clone()).unwrap_or_default(),
        }
    }

    /// Starts the current item of a playback (`continuing`: not the first item).
    fn start_item(&mut self, now: Now, id: &str, continuing: bool) {
        let Some(rec) = self.playbacks.get_mut(id) else { return };
        let uri = rec.media.get(rec.index).cloned().unwrap_or_default();
        rec.state =
            if continuing { wire::PlaybackState::Continuing } else { wire::PlaybackState::Playing };
        let (snapshot, target, serial) = (rec.wire(), rec.target.clone(), rec.serial);
        let to = self.playback_recipients(&target);
        let event = if continuing {
            Event::PlaybackContinuing { playback: snapshot }
        } else {
            Event::PlaybackStarted { playback: snapshot }
        };
        self.emit(now, &to, &event);
        match self.cfg.media.length(&uri) {
            Some(length) => {
                self.record_heard(now, &target, &uri);
                self.at(now, length, Step::Playback { id: id.to_owned(), serial });
            }
            None => self.finish_playback(now, id, wire::PlaybackState::Failed),
        }
    }

    /// The current item ended: next item, or `PlaybackFinished`.
    pub(crate) fn playback_step(&mut self, now: Now, id: &str, serial: u64) {
        let Some(rec) = self.playbacks.get_mut(id) else { return };
        if rec.serial != serial {
            return;
        }
        if rec.index + 1 < rec.media.len() {
            rec.index += 1;
            self.start_item(now, id, true);
        } else {
            self.finish_playback(now, id, wire::PlaybackState::Done);
        }
    }

    /// Ends a playback with `state`, then starts the next one queued on the same target.
    pub(crate) fn finish_playback(&mut self, now: Now, id: &str, state: wire::PlaybackState) {
        let Some(mut rec) = self.playbacks.remove(id) else { return };
        rec.state = state;
        let to = self.playback_recipients(&rec.target);
        self.emit(now, &to, &Event::PlaybackFinished { playback: rec.wire() });
        let queue = match &rec.target {
            Target::Channel(c) => self.channels.get_mut(c).map(|c| &mut c.playbacks),
            Target::Bridge(b) => self.bridges.get_mut(b).map(|b| &mut b.playbacks),
        };
        let Some(queue) = queue else { return };
        queue.retain(|p| p != id);
        if let Some(next) = queue.first().cloned() {
            self.start_item(now, &next, false);
        }
    }

    /// `DELETE /playbacks/{id}`.
    pub(crate) fn stop_playback(&mut self, now: Now, id: &str) -> Result<(), AriError> {
        if !self.playbacks.contains_key(id) {
            return Err(AriError::not_found("Playback not found"));
        }
        self.finish_playback(now, id, wire::PlaybackState::Done);
        Ok(())
    }

    /// A channel goes away: its playbacks end.
    pub(crate) fn stop_channel_playbacks(&mut self, now: Now, id: &str) {
        let queue = match self.channels.get_mut(id) {
            Some(c) => std::mem::take(&mut c.playbacks),
            None => return,
        };
        self.end_queue(now, queue);
    }

    /// A bridge goes away: its playbacks end.
    pub(crate) fn stop_bridge_playbacks(&mut self, now: Now, id: &str) {
        let queue = match self.bridges.get_mut(id) {
            Some(b) => std::mem::take(&mut b.playbacks),
            None => return,
        };
        self.end_queue(now, queue);
    }

    fn end_queue(&mut self, now: Now, queue: Vec<String>) {
        for (i, pb) in queue.into_iter().enumerate() {
            if i == 0 {
                if let Some(mut rec) = self.playbacks.remove(&pb) {
                    rec.state = wire::PlaybackState::Done;
                    let to = self.playback_recipients(&rec.target);
                    self.emit(now, &to, &Event::PlaybackFinished { playback: rec.wire() });
                }
            } else {
                self.playbacks.remove(&pb);
            }
        }
    }

    fn record_heard(&mut self, now: Now, target: &Target, uri: &str) {
        let listeners: Vec<String> = match target {
            Target::Channel(c) => vec![c.clone()],
            Target::Bridge(b) => {
                self.bridges.get(b).map(|b| b.channels.clone()).unwrap_or_default()
            }
        };
        let callers: Vec<u64> = listeners.iter().filter_map(|c| self.caller_of(c)).collect();
        if callers.is_empty() {
            return;
        }
        let at_ms = self.ms(now);
        let mut truth = self.world.truth();
        for c in callers {
            if let Some(rec) = truth.caller_mut(c) {
                rec.heard.push(Heard { media: uri.to_owned(), at_ms });
            }
        }
    }
}
