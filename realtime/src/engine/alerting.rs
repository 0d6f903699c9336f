//! The alert rules of [`crate::alerts`] applied: sensor rules on each reading as it is folded,
//! neighbourhood rules at emit time on the value of the newest window with data (the aggregate's
//! `value`: by the quantity's `time` and `space` rules, the mean of the sensors' means for a
//! weather quantity); transitions published (retained while raised).

use garonne_payload::{Alert, AlertScope, AlertState, Reading, SPEC_VERSION, Timestamp};

use super::emit::Windows;
use super::{Engine, Publish};
use crate::alerts::{ScopeKind, Transition};

impl Engine {
    /// Feeds a folded reading of sensor `s` to every sensor rule on a quantity it carries.
    pub(super) fn check_sensor_rules(
        &mut self,
        s: usize,
        reading: &Reading,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        for r in 0..self.rules.len() {
            let rule = &self.rules[r];
            if rule.scope != ScopeKind::Sensor {
                continue;
            }
            let Some(value) = reading.quantities.get(rule.quantity) else {
                continue;
            };
            let track = self.tracks.entry((r as u32, s as u32)).or_default();
            if let Some(t) = track.observe(rule, value, reading.time) {
                let scope = AlertScope::Sensor(reading.sensor_id.clone());
                self.publish_alert(r, scope, t, value, reading.time, now, out);
            }
        }
    }

    /// Feeds every neighbourhood rule the value (by its quantity's rules, see
    /// [`WindowStats`](garonne_payload::WindowStats)) of the newest window that has the quantity.
    pub(super) fn check_area_rules(
        &mut self,
        windows: &Windows,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        for r in 0..self.rules.len() {
            if self.rules[r].scope != ScopeKind::Neighbourhood {
                continue;
            }
            for a in 0..self.areas.len() {
                let Some(stats) = windows.newest(a, self.rules[r].quantity) else {
                    continue;
                };
                let rule = &self.rules[r];
                let value = stats.value(rule.quantity.def().space);
                let track = self.tracks.entry((r as u32, a as u32)).or_default();
                if let Some(t) = track.observe(rule, value, now) {
                    let id = self
                        .areas
                        .get(a)
                        .map(|n| n.id().to_owned())
                        .unwrap_or_default();
                    self.publish_alert(r, AlertScope::Neighbourhood(id), t, value, now, now, out);
                }
            }
        }
    }

    /// Publishes a transition of rule `r` for `scope`: a raised alert is retained; a cleared
    /// one goes to those listening now, then an empty retained message removes the raised one.
    #[allow(clippy::too_many_arguments)]
    fn publish_alert(
        &mut self,
        r: usize,
        scope: AlertScope,
        transition: Transition,
        value: f64,
        at: Timestamp,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        let rule = &self.rules[r];
        let topic = self.topics.alert(&rule.name, &scope.topic_segment());
        let (state, since) = match transition {
            Transition::Raised { since } => (AlertState::Raised, since),
            Transition::Cleared => (AlertState::Cleared, at),
        };
        let message = Alert {
            v: SPEC_VERSION,
            rule: rule.name.clone(),
            scope,
            state,
            quantity: rule.quantity,
            comparison: rule.comparison,
            threshold: rule.threshold,
            value,
            since,
            time: now,
        };
        let raised = state == AlertState::Raised;
        let Some(publish) = Publish::json(topic, &message, raised) else {
            return;
        };
        // Retained only while raised: the cleared message goes to those listening now, then an
        // empty retained message removes the raised one from the broker.
        let removal = (!raised).then(|| Publish {
            topic: publish.topic.clone(),
            payload: Vec::new(),
            retain: true,
        });
        out.push(publish);
        out.extend(removal);
        self.counters.alerts += 1;
    }
}
