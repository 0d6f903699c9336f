//! Live profiles (issue 14): a profile published retained on `{prefix}/v1/profiles/{name}`
//! joins the process's catalogue while the service runs, without a restart. The [`Host`]
//! subscribes to those topics for every service and hands each message here before the batch
//! reaches the transform, which never sees them.
//!
//! A message's payload is the profile's TOML text, as in its file. It is parsed, checked
//! against the process's catalogue and registered ([`Quantity::register`]); the same profile
//! again (same name, version and content) changes nothing. A refused profile — problems in the
//! file, a clash with the catalogue, the version rule, a name in the topic other than the
//! file's, too large, not UTF-8 — changes nothing either: the service logs one warning and runs
//! on. One service publishes the refusal where the profile's author sees it
//! ([`LiveProfiles::publishing_refusals`]): retained JSON on
//! `{prefix}/v1/errors/profiles/{name}` ([`Refusal`]), cleared (an empty retained payload) once a
//! good version is accepted, or the one already loaded is published again.
//!
//! Design: only realtime publishes refusals. Every service checks a profile against the same
//! rules, so all of them refuse the same profile; three services publishing the same retained
//! refusal would race for nothing. The historian and the web server log theirs.
//!
//! Design: a profile cannot leave a running catalogue (quantity ids are append-only, readings in
//! flight hold them). An empty retained payload on `profiles/{name}` (the profile unpublished)
//! is logged: the profile stays until the service restarts, and its saved copy is deleted so
//! that it does not come back then.
//!
//! Design: a persistent session (realtime, the historian) gets the readings queued while it was
//! away right on connect, possibly before the broker delivers the retained profiles again, and
//! its state on disk (realtime's snapshot, the historian's spool) may name live quantities. So a
//! service with a state folder saves each accepted live profile there ([`LiveProfiles::saved_in`])
//! and registers the saved ones at start, before it reads its state and connects
//! ([`LiveProfiles::register_saved`]). The web server has no state folder and needs none: its
//! session is clean, nothing is queued for it, the broker delivers the retained profiles on
//! every connection, and a reading it cannot read only misses the live map until the next one.
//!
//! [`Host`]: crate::host::Host

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use garonne_payload::profile::{
    Added, Clash, MAX_PROFILE_BYTES, Problem, Profile, ProfileProblems, Text, is_valid_profile_name,
};
use garonne_payload::topic::Topics;
use garonne_payload::{Quantity, Timestamp};
use rumqttc::Publish;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::outbox::{Outbox, Outgoing};
use crate::prometheus::Exposition;

/// The folder, in a service's state folder, where it keeps the live profiles it accepted.
pub const SAVED_FOLDER: &str = "live-profiles";

/// A service's live profiles: which topics carry them, where the accepted ones are saved, and
/// whether this service publishes refusals.
#[derive(Debug, Clone)]
pub struct LiveProfiles {
    /// `{prefix}/v1/profiles/`.
    profiles: String,
    /// `{prefix}/v1/errors/profiles/`.
    errors: String,
    /// Where accepted live profiles are saved, if the service keeps state.
    saved_in: Option<PathBuf>,
    /// Whether refusals are published (one service does), or only logged.
    publishes_refusals: bool,
    stats: Arc<Stats>,
}

/// The counters, shared with the metrics endpoint.
#[derive(Debug, Default)]
struct Stats {
    live: AtomicU64,
    refused: AtomicU64,
}

/// What happened to a message on a profiles topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The profile joined the catalogue (new, or a higher version).
    Accepted(Added),
    /// The same profile was already there: nothing changed.
    Unchanged,
    /// Refused: nothing changed.
    Refused(Refusal),
    /// An empty payload: the profile stays until the service restarts.
    Unpublished,
}

/// Why a live profile was refused: what `{prefix}/v1/errors/profiles/{name}` retains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The profile name, as in the topic.
    pub profile: String,
    /// The version the file gives, if it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// When it was refused.
    pub time: Timestamp,
    /// Every problem, in file order.
    pub problems: Vec<RefusalProblem>,
}

/// One problem of a refused profile: the fields of a profile [`Problem`], with the rule as text
/// (a clash and the checks of the topic are rules of their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalProblem {
    /// The rule broken: a profile rule (`unknown-unit`…), `clash`, `topic-name`, `encoding`.
    pub rule: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
    /// What is wrong, in English.
    pub message: String,
    /// How to fix it.
    pub hint: Hint,
}

/// A hint in English and French.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hint {
    /// English.
    pub en: String,
    /// French.
    pub fr: String,
}

impl From<Text> for Hint {
    fn from(text: Text) -> Hint {
        Hint {
            en: text.en,
            fr: text.fr,
        }
    }
}

impl From<&Problem> for RefusalProblem {
    fn from(p: &Problem) -> RefusalProblem {
        RefusalProblem {
            rule: p.rule.to_string(),
            line: p.line,
            column: p.column,
            message: p.message.clone(),
            hint: p.hint.clone().into(),
        }
    }
}

impl RefusalProblem {
    /// A clash of a valid profile with the catalogue, at the line of the quantity it names (its
    /// `name = "..."`), or of the `version` key.
    pub fn clash(text: &str, clash: &Clash) -> RefusalProblem {
        let (line, column) = match clash {
            Clash::Definition { quantity, .. } => {
                position(text, "name", &format!("\"{quantity}\""))
            }
            _ => position(text, "version", "version"),
        };
        RefusalProblem {
            rule: "clash".to_owned(),
            line,
            column,
            message: clash.to_string(),
            hint: clash.hint().into(),
        }
    }
}

/// The line and column of `needle` on the first line that starts with `key` and holds it;
/// 1:1 when there is none.
pub fn position(text: &str, key: &str, needle: &str) -> (u32, u32) {
    text.lines()
        .enumerate()
        .find(|(_, line)| line.trim_start().starts_with(key) && line.contains(needle))
        .map_or((1, 1), |(n, line)| {
            let column = line.find(needle).map_or(0, |at| line[..at].chars().count());
            (n as u32 + 1, column as u32 + 1)
        })
}

impl LiveProfiles {
    /// Live profiles under `topics`' prefix, not saved, refusals only logged.
    pub fn new(topics: &Topics) -> LiveProfiles {
        LiveProfiles {
            profiles: format!("{}/profiles/", topics.root()),
            errors: format!("{}/errors/profiles/", topics.root()),
            saved_in: None,
            publishes_refusals: false,
            stats: Arc::default(),
        }
    }

    /// Saves accepted live profiles in `folder` (a service's state folder's
    /// [`SAVED_FOLDER`]), and registers them from there at start.
    pub fn saved_in(mut self, folder: Option<PathBuf>) -> LiveProfiles {
        self.saved_in = folder;
        self
    }

    /// Publishes refusals on `{prefix}/v1/errors/profiles/{name}` (one service does: realtime).
    pub fn publishing_refusals(mut self) -> LiveProfiles {
        self.publishes_refusals = true;
        self
    }

    /// The subscription: `{prefix}/v1/profiles/+`.
    pub fn filter(&self) -> String {
        format!("{}+", self.profiles)
    }

    /// The profile name of a message on a profiles topic; `None` for any other topic.
    pub fn name_in<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.profiles.as_str())
            .filter(|name| !name.is_empty() && !name.contains('/'))
    }

    /// Where the refusals of profile `name` are retained.
    pub fn error_topic(&self, name: &str) -> String {
        format!("{}{name}", self.errors)
    }

    /// Registers the live profiles saved by an earlier run, in name order, and returns how many
    /// joined the catalogue (those already there are not counted). One that no longer checks
    /// (a `--profiles` folder changed since) is skipped with a warning; the retained message, if
    /// the broker still has it, is checked again on connect.
    pub fn register_saved(&self) -> usize {
        let Some(folder) = &self.saved_in else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(folder) else {
            return 0;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let mut joined = 0;
        for file in files {
            let registered = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|text| Profile::parse(&text).map_err(|e| e.to_string()))
                .and_then(|profile| Quantity::register(profile).map_err(|e| e.to_string()));
            match registered {
                Ok(Added::Unchanged) => {}
                Ok(_) => joined += 1,
                Err(error) => warn!(
                    file = %file.display(),
                    %error,
                    "a saved live profile no longer loads: skipped"
                ),
            }
        }
        if joined > 0 {
            info!(folder = %folder.display(), profiles = joined, "saved live profiles registered");
        }
        joined
    }

    /// Handles a message on `{prefix}/v1/profiles/{name}`: registers the profile, or refuses
    /// it and changes nothing; puts the refusal, or its clearing, in `out` when this service
    /// publishes refusals.
    pub fn handle(
        &self,
        service: &str,
        message: &Publish,
        now: Timestamp,
        out: &mut Outbox,
    ) -> Outcome {
        let Some(name) = self.name_in(&message.topic) else {
            return Outcome::Unchanged;
        };
        let outcome = self.accept(name, &message.payload, now);
        self.report(service, name, &outcome, out);
        outcome
    }

    /// Checks and registers the profile `payload` under topic name `name`.
    fn accept(&self, name: &str, payload: &[u8], now: Timestamp) -> Outcome {
        if payload.is_empty() {
            if let Some(folder) = &self.saved_in {
                let _ = std::fs::remove_file(folder.join(format!("{name}.toml")));
            }
            return Outcome::Unpublished;
        }
        let refused = |version, problems| {
            Outcome::Refused(Refusal {
                profile: name.to_owned(),
                version,
                time: now,
                problems,
            })
        };
        if payload.len() > MAX_PROFILE_BYTES {
            return refused(
                None,
                vec![problem(
                    "size",
                    (1, 1),
                    format!(
                        "the profile is {} bytes, more than the {MAX_PROFILE_BYTES} a profile \
                         may have",
                        payload.len()
                    ),
                    Text::new(
                        "split it into several profiles",
                        "découpez-le en plusieurs profils",
                    ),
                )],
            );
        }
        let text = match std::str::from_utf8(payload) {
            Ok(text) => text,
            Err(e) => {
                let before = &payload[..e.valid_up_to()];
                let line = before.iter().filter(|b| **b == b'\n').count() as u32 + 1;
                return refused(
                    None,
                    vec![problem(
                        "encoding",
                        (line, 1),
                        "the profile is not UTF-8 text".to_owned(),
                        Text::new(
                            "save the file as UTF-8 and publish it with garonne profile publish",
                            "enregistrez le fichier en UTF-8 et publiez-le avec garonne profile \
                             publish",
                        ),
                    )],
                );
            }
        };
        let profile = match Profile::parse(text) {
            Ok(profile) => profile,
            Err(ProfileProblems { problems }) => {
                return refused(None, problems.iter().map(RefusalProblem::from).collect());
            }
        };
        let version = Some(profile.version);
        if profile.name != name {
            return refused(
                version,
                vec![problem(
                    "topic-name",
                    position(text, "name", &format!("\"{}\"", profile.name)),
                    format!(
                        "the profile \"{}\" was published on the topic of profile \"{name}\"",
                        profile.name
                    ),
                    Text::new(
                        "publish it with garonne profile publish, which picks the topic from \
                         the file",
                        "publiez-le avec garonne profile publish, qui choisit le sujet d'après \
                         le fichier",
                    ),
                )],
            );
        }
        // All or nothing: a refused profile leaves the catalogue as it was.
        match Quantity::register(profile) {
            Ok(Added::Unchanged) => {
                // Another service of this process (`garonne up`) may have registered it first.
                self.save(name, text);
                Outcome::Unchanged
            }
            Ok(added) => {
                self.save(name, text);
                Outcome::Accepted(added)
            }
            Err(clash) => refused(version, vec![RefusalProblem::clash(text, &clash)]),
        }
    }

    /// Saves an accepted profile's text, unless saved already, whole or not at all (written
    /// aside, then renamed).
    fn save(&self, name: &str, text: &str) {
        let Some(folder) = &self.saved_in else {
            return;
        };
        if !is_valid_profile_name(name) {
            return;
        }
        let path = folder.join(format!("{name}.toml"));
        if std::fs::read_to_string(&path).is_ok_and(|saved| saved == text) {
            return;
        }
        let aside = folder.join(format!(".{name}.toml.{}", std::process::id()));
        let saved = std::fs::create_dir_all(folder)
            .and_then(|()| std::fs::write(&aside, text))
            .and_then(|()| std::fs::rename(&aside, &path));
        if let Err(error) = saved {
            warn!(
                path = %path.display(),
                %error,
                "cannot save a live profile: after a restart it loads only once the broker \
                 delivers it again"
            );
        }
    }

    /// Logs the outcome, counts it, and publishes or clears the refusal.
    fn report(&self, service: &str, name: &str, outcome: &Outcome, out: &mut Outbox) {
        match outcome {
            Outcome::Accepted(added) => {
                self.stats.live.fetch_add(1, Ordering::Relaxed);
                info!(service, profile = name, ?added, "live profile accepted");
            }
            // Design: still cleared. The retained refusal says what became of the profile the
            // broker retains now, and this one is in the catalogue: an earlier refusal no longer
            // holds. In `garonne up` another service of the process may have registered it
            // first, and the clearing is how `garonne profile publish` learns it was loaded.
            Outcome::Unchanged => {}
            Outcome::Unpublished => {
                info!(
                    service,
                    profile = name,
                    "profile unpublished: its quantities stay until this service restarts \
                     (a running catalogue only grows)"
                );
            }
            Outcome::Refused(refusal) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                let first = refusal.problems.first();
                warn!(
                    service,
                    profile = name,
                    problems = refusal.problems.len(),
                    first = first.map_or("", |p| p.message.as_str()),
                    "live profile refused: nothing changed"
                );
                if self.publishes_refusals
                    && let Ok(json) = Outgoing::json(self.error_topic(name), refusal, true)
                {
                    out.push(json);
                }
                return;
            }
        }
        if self.publishes_refusals {
            out.push(Outgoing::clear(self.error_topic(name)));
        }
    }

    /// The counters, into a service's exposition.
    pub fn render(&self, service: &str, e: &mut Exposition) {
        e.counter(
            &format!("garonne_{service}_profiles_live_total"),
            "Live profiles accepted into the catalogue (new or a higher version).",
            self.stats.live.load(Ordering::Relaxed),
        )
        .counter(
            &format!("garonne_{service}_profiles_refused_total"),
            "Live profiles refused (the catalogue unchanged).",
            self.stats.refused.load(Ordering::Relaxed),
        );
    }

    /// The folder where a service keeps its live profiles, beside its state file or in its
    /// state folder.
    pub fn folder_beside(state: &Path) -> PathBuf {
        state.with_file_name(SAVED_FOLDER)
    }
}

fn problem(rule: &str, (line, column): (u32, u32), message: String, hint: Text) -> RefusalProblem {
    RefusalProblem {
        rule: rule.to_owned(),
        line,
        column,
        message,
        hint: hint.into(),
    }
}

#[cfg(test)]
mod tests;
