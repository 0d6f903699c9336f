//! The engine's state to and from a [`Snapshot`] (the file format and its reading and writing
//! are in [`crate::snapshot`]). Neighbourhoods, sensors and rules go by id and name, not by
//! position, so a snapshot restores into other polygons or rules as far as they match.

use std::collections::VecDeque;

use garonne_payload::{AlertScope, Timestamp};

use super::{Engine, OUTSIDE, Pane, Place, RECENT, Sensor};
use crate::alerts::ScopeKind;
use crate::snapshot::{AlertTrack, FORMAT, PaneState, Restored, SensorState, Snapshot};
use crate::window::Accs;

impl Engine {
    /// The state to save.
    pub fn snapshot(&self, now: Timestamp) -> Snapshot {
        Snapshot {
            format: FORMAT,
            saved_at: now,
            window_secs: self.settings.window_secs,
            panes_per_window: self.settings.panes_per_window,
            sensors: self.sensors.iter().map(|s| self.sensor_state(s)).collect(),
            alerts: self.alert_tracks(),
        }
    }

    /// Loads a snapshot into a fresh core (sensors already known are left as they are).
    pub fn restore(&mut self, snapshot: Snapshot) -> Restored {
        let mut restored = Restored::default();
        let same_windows = snapshot.window_secs == self.settings.window_secs
            && snapshot.panes_per_window == self.settings.panes_per_window;
        for state in snapshot.sensors {
            if self.index.contains_key(&state.id) {
                continue;
            }
            let sensor = self.restore_sensor(&state, same_windows, &mut restored);
            self.index.insert(state.id, self.sensors.len() as u32);
            self.sensors.push(sensor);
            restored.sensors += 1;
        }
        for alert in snapshot.alerts {
            self.restore_alert(alert, &mut restored);
        }
        self.counters.sensors = self.sensors.len() as u64;
        restored
    }

    fn sensor_state(&self, s: &Sensor) -> SensorState {
        let area_id = |a: u32| (a != OUTSIDE).then(|| self.areas.get(a as usize)).flatten();
        SensorState {
            id: s.id.clone(),
            location: s.place.map(|p| [p.lon, p.lat]),
            newest: s.newest,
            recent: s.recent.iter().copied().filter(|f| *f != 0).collect(),
            panes: s
                .panes
                .iter()
                .map(|p| PaneState {
                    no: p.no,
                    neighbourhood: area_id(p.area).map(|n| n.id().to_owned()),
                    readings: p.readings,
                    quantities: p
                        .accs
                        .iter()
                        .filter(|(_, acc)| acc.count > 0)
                        .map(|(q, acc)| (q, *acc))
                        .collect(),
                    last: p.accs.lasts().map(|(q, last)| (q, *last)).collect(),
                })
                .collect(),
        }
    }

    /// Every alert track that holds something, by rule name and scope id, in a stable order.
    fn alert_tracks(&self) -> Vec<AlertTrack> {
        let mut alerts: Vec<AlertTrack> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.raised || t.holding_since.is_some())
            .filter_map(|(&(r, scope), track)| {
                let rule = self.rules.get(r as usize)?;
                let scope = match rule.scope {
                    ScopeKind::Neighbourhood => {
                        AlertScope::Neighbourhood(self.areas.get(scope as usize)?.id().to_owned())
                    }
                    ScopeKind::Sensor => {
                        AlertScope::Sensor(self.sensors.get(scope as usize)?.id.clone())
                    }
                };
                Some(AlertTrack {
                    rule: rule.name.clone(),
                    scope,
                    track: *track,
                })
            })
            .collect();
        alerts.sort_by(|a, b| {
            (&a.rule, a.scope.topic_segment()).cmp(&(&b.rule, b.scope.topic_segment()))
        });
        alerts
    }

    /// A saved sensor, located again; its panes only if the windows are cut as they were.
    fn restore_sensor(
        &self,
        state: &SensorState,
        same_windows: bool,
        restored: &mut Restored,
    ) -> Sensor {
        let mut sensor = Sensor::new(&state.id);
        sensor.place = state.location.map(|[lon, lat]| Place {
            lon,
            lat,
            area: self.areas.locate(lon, lat).map_or(OUTSIDE, |a| a as u32),
        });
        sensor.newest = state.newest;
        for (slot, f) in sensor
            .recent
            .iter_mut()
            .zip(state.recent.iter().take(RECENT))
        {
            *slot = *f;
        }
        let mut panes = VecDeque::new();
        for p in &state.panes {
            let area = match &p.neighbourhood {
                None => Some(OUTSIDE),
                Some(id) => self.areas.index_of(id).map(|a| a as u32),
            };
            let Some(area) = area.filter(|_| same_windows) else {
                restored.dropped_panes += 1;
                continue;
            };
            let mut accs = Accs::default();
            for (q, acc) in &p.quantities {
                accs.set(*q, *acc);
            }
            for (q, last) in &p.last {
                accs.set_last(*q, *last);
            }
            panes.push_back(Pane {
                no: p.no,
                area,
                readings: p.readings,
                accs,
            });
            restored.panes += 1;
        }
        panes.make_contiguous().sort_by_key(|p| (p.no, p.area));
        sensor.panes = panes;
        sensor
    }

    /// A saved alert track, if its rule and scope still exist.
    fn restore_alert(&mut self, a: AlertTrack, restored: &mut Restored) {
        let rule = self.rules.iter().position(|r| {
            r.name == a.rule
                && match a.scope {
                    AlertScope::Neighbourhood(_) => r.scope == ScopeKind::Neighbourhood,
                    AlertScope::Sensor(_) => r.scope == ScopeKind::Sensor,
                }
        });
        let scope = match &a.scope {
            AlertScope::Neighbourhood(id) => self.areas.index_of(id),
            AlertScope::Sensor(id) => self.index.get(id.as_str()).map(|s| *s as usize),
        };
        match (rule, scope) {
            (Some(r), Some(s)) => {
                self.tracks.insert((r as u32, s as u32), a.track);
                restored.alerts += 1;
            }
            _ => restored.dropped_alerts += 1,
        }
    }
}
