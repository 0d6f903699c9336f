//! `garonne profile publish FILE`: the teacher's command that puts an approved profile on the
//! broker, retained, on `{prefix}/v1/profiles/{name}`, where every service loads it live, without
//! a restart (issue 14; the services' side is `garonne_service::profiles`).
//!
//! It checks the file first, as `garonne profile check` does (same report, same exit codes), and
//! publishes nothing that has problems. On the broker it reads the profile already published
//! under that name, if any, so that the version rule is checked before the retained profile is
//! replaced (a refused profile would otherwise replace a good one there). Then it publishes
//! (QoS 1, retained), waits for the broker's acknowledgement, and watches
//! `{prefix}/v1/errors/profiles/{name}` for `--wait` seconds: a refusal published there by
//! realtime is printed, with its problems at their lines, and the exit code is 1.
//!
//! Exit codes: 0 published (or already published, unchanged), 1 the profile has problems or a
//! service refused it, 2 the command cannot run (unreadable file, broker unreachable, login
//! refused, or a login the broker's ACL does not let publish profiles).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use garonne_payload::Quantity;
use garonne_payload::profile::Profile;
use garonne_service::config::MqttConfig;
use garonne_service::mqtt::options;
use garonne_service::profiles::{LiveProfiles, Refusal, RefusalProblem};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Publish, QoS, SubscribeReasonCode};
use tokio::time::{Instant, timeout_at};

use crate::mqtt_args::MqttArgs;

/// The arguments of `garonne profile publish`.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The profile file (TOML), checked before it is published.
    pub file: PathBuf,
    /// How long to watch for a service's refusal after publishing, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub wait: u64,
    #[command(flatten)]
    pub mqtt: MqttArgs,
}

/// How long connecting, subscribing and publishing may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the broker is given to pass the published profile back to this client (proof that
/// its ACL let it through).
const ECHO_WAIT: Duration = Duration::from_secs(3);
/// How long the broker is given to send the retained profile after the subscription.
const RETAINED_WAIT: Duration = Duration::from_millis(500);

/// Runs `garonne profile publish`.
pub fn run(args: PublishArgs) -> ExitCode {
    let checked = crate::profile::check(&args.file);
    if checked != ExitCode::SUCCESS {
        return checked;
    }
    let published = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(publish(args)));
    match published {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            eprintln!("erreur : le profil n'a pas été publié");
            ExitCode::from(2)
        }
    }
}

/// What the broker and the services said.
enum Verdict {
    /// The profile already published under that name is this one.
    AlreadyThere,
    /// It breaks the version rule against the published one: these problems.
    Outdated(RefusalProblem),
    /// Published; a service accepted it (`true`) or nothing was heard within the wait.
    Published { accepted: bool },
    /// Published, and refused by a service: these problems.
    Refused(Vec<RefusalProblem>),
}

async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    // Checked just before: readable, and a valid profile.
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let profile = Profile::parse(&text).map_err(|e| anyhow!("{e}"))?;
    let mut mqtt = MqttConfig::default();
    args.mqtt.apply(&mut mqtt)?;
    let live = LiveProfiles::new(mqtt.topics());
    let topic = format!("{}/profiles/{}", mqtt.topics().root(), profile.name);
    let errors = live.error_topic(&profile.name);
    let client_id = format!("garonne-profile-publish-{}", std::process::id());
    let mut opts = options(&client_id, &mqtt.broker, mqtt.credentials.as_ref());
    opts.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    let shown = args.file.display().to_string();

    let verdict = exchange(
        &client,
        &mut eventloop,
        &topic,
        &errors,
        &text,
        &profile,
        Duration::from_secs(args.wait),
    )
    .await
    .with_context(|| format!("cannot publish on the broker {}", mqtt.broker))?;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;

    Ok(match verdict {
        Verdict::AlreadyThere => {
            println!("{shown}: already published on {topic}, unchanged: nothing to do");
            println!("{shown} : déjà publié sur {topic}, inchangé : rien à faire");
            ExitCode::SUCCESS
        }
        Verdict::Outdated(problem) => {
            print!("{}", block(&shown, &problem));
            println!("{shown}: not published (the version published on {topic} is kept)");
            println!("{shown} : non publié (la version publiée sur {topic} est conservée)");
            ExitCode::from(1)
        }
        Verdict::Published { accepted } => {
            println!("published {shown} on {topic} (retained)");
            println!("{shown} publié sur {topic} (retenu)");
            if accepted {
                println!("realtime loaded it / realtime l'a chargé");
            } else {
                println!(
                    "no refusal on {errors} within {} s / aucun refus sur {errors} en {} s",
                    args.wait, args.wait
                );
            }
            ExitCode::SUCCESS
        }
        Verdict::Refused(problems) => {
            for problem in &problems {
                print!("{}", block(&shown, problem));
            }
            println!("{shown}: published on {topic}, but refused by the services ({errors})");
            println!("{shown} : publié sur {topic}, mais refusé par les services ({errors})");
            ExitCode::from(1)
        }
    })
}

/// Subscribes to the profile's topic (to read the published one) and its errors topic, checks
/// the version rule, publishes, and watches for a refusal until `wait` has passed.
async fn exchange(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    topic: &str,
    errors: &str,
    text: &str,
    profile: &Profile,
    wait: Duration,
) -> anyhow::Result<Verdict> {
    let deadline = Instant::now() + BROKER_TIMEOUT;
    client.subscribe(topic, QoS::AtLeastOnce).await?;
    client.subscribe(errors, QoS::AtLeastOnce).await?;
    // The retained messages follow each subscription's acknowledgement at once; a refusal
    // retained from an earlier version is not this one's.
    let mut subacks = 0;
    let mut published = None;
    let retained_until = loop {
        match next(eventloop, deadline).await? {
            Incoming::SubAck(ack) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure))
                {
                    bail!("the broker refused the subscription to {topic} or {errors} (its ACL)");
                }
                subacks += 1;
                if subacks == 2 {
                    break Instant::now() + RETAINED_WAIT;
                }
            }
            Incoming::Publish(p) if p.topic == topic => published = Some(p),
            _ => {}
        }
    };
    while let Ok(incoming) = timeout_at(retained_until, next(eventloop, deadline)).await {
        if let Incoming::Publish(p) = incoming?
            && p.topic == topic
        {
            published = Some(p);
        }
    }
    if let Some(verdict) = published.and_then(|p| against_published(&p, text, profile)) {
        return Ok(verdict);
    }

    client
        .publish(topic, QoS::AtLeastOnce, true, text.as_bytes().to_vec())
        .await?;
    // Design: a broker drops a publication its ACL refuses and still acknowledges it (MQTT
    // 3.1.1), so the acknowledgement proves nothing; the profile coming back to this client,
    // subscribed to its topic, does.
    let mut echoed = false;
    loop {
        match next(eventloop, deadline).await? {
            Incoming::PubAck(_) => break,
            Incoming::Publish(p) if p.topic == topic && p.payload == text.as_bytes() => {
                echoed = true;
            }
            Incoming::Publish(p) => {
                if let Some(verdict) = refusal(&p, errors)? {
                    return Ok(verdict);
                }
            }
            _ => {}
        }
    }
    let watch_until = Instant::now() + wait;
    let echo_until = Instant::now() + ECHO_WAIT;
    loop {
        let until = if echoed {
            watch_until
        } else {
            watch_until.max(echo_until)
        };
        let Ok(incoming) = timeout_at(until, next(eventloop, deadline + wait + ECHO_WAIT)).await
        else {
            break;
        };
        if let Incoming::Publish(p) = incoming? {
            if p.topic == topic && p.payload == text.as_bytes() {
                echoed = true;
            } else if let Some(verdict) = refusal(&p, errors)? {
                return Ok(verdict);
            }
        }
    }
    if !echoed {
        bail!(
            "the broker did not pass the profile on: this login may not publish on {topic} (in \
             the deployment only the operator login may: GARONNE_MQTT_USERNAME=operator)"
        );
    }
    Ok(Verdict::Published { accepted: false })
}

/// The verdict on the profile already published (`p`, retained), if it decides: the same one,
/// or a version this one may not replace.
fn against_published(p: &Publish, text: &str, profile: &Profile) -> Option<Verdict> {
    let published = std::str::from_utf8(&p.payload).ok()?;
    let published = Profile::parse(published).ok()?;
    // Into this process's catalogue only: the services hold it already.
    Quantity::register(published).ok()?;
    match Quantity::with_catalogue(|c| c.check(profile)) {
        Ok(true) => None,
        Ok(false) => Some(Verdict::AlreadyThere),
        Err(clash) => Some(Verdict::Outdated(RefusalProblem::clash(text, &clash))),
    }
}

/// A fresh (not retained) message on the errors topic: a refusal, or its clearing (accepted).
fn refusal(p: &Publish, errors: &str) -> anyhow::Result<Option<Verdict>> {
    if p.topic != errors || p.retain {
        return Ok(None);
    }
    if p.payload.is_empty() {
        return Ok(Some(Verdict::Published { accepted: true }));
    }
    let refusal: Refusal = serde_json::from_slice(&p.payload)
        .with_context(|| format!("the refusal on {errors} is not readable"))?;
    Ok(Some(Verdict::Refused(refusal.problems)))
}

/// The next packet from the broker, before `deadline`.
async fn next(eventloop: &mut EventLoop, deadline: Instant) -> anyhow::Result<Incoming> {
    loop {
        let event = timeout_at(deadline, eventloop.poll())
            .await
            .map_err(|_| anyhow!("the broker did not answer in time"))??;
        if let Event::Incoming(incoming) = event {
            if let Incoming::ConnAck(ack) = &incoming
                && ack.code != rumqttc::ConnectReturnCode::Success
            {
                bail!("the broker refused the connection: {:?}", ack.code);
            }
            return Ok(incoming);
        }
    }
}

/// A problem as `garonne profile check` prints it.
fn block(shown: &str, p: &RefusalProblem) -> String {
    format!(
        "{shown}:{}:{}: {}: {}\n  hint: {}\n  conseil : {}\n",
        p.line, p.column, p.rule, p.message, p.hint.en, p.hint.fr
    )
}
