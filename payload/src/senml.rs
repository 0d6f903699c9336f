//! SenML packs (RFC 8428, JSON form): how batching devices send many values in one message, on
//! `garonne/v1/sensors/{sensor_id}/senml`. A pack resolves into ordinary [`Reading`]s.
//!
//! # How a pack maps to readings
//! - Each record's full name (`bn` + `n`) is `{sensor_id}:{field}`, so a pack usually sets
//!   `"bn": "pi-lycee-b12:"` once and names each record `"n": "temperature"`. One pack, one sensor.
//! - A field is a quantity name (value `v`, or `vb` for `motion`), or metadata: `lat` and `lon`
//!   (required, units `lat`/`lon`), `alt` (m), `seq` (the sequence number of the pack's first
//!   reading), `kind` and `source` (strings in `vs`; default `device`), and `profile` (a string in
//!   `vs`, optional: every reading of the pack then follows that profile). Metadata apply to the
//!   whole pack and are given once.
//! - Time is `bt` + `t` in seconds since the Unix epoch, resolved to the microsecond. As RFC 8428
//!   says, a time below 2²⁸ is relative to now (0 is now, -5 is five seconds ago).
//! - Records with the same time form one reading; readings come out in time order with `seq`,
//!   `seq`+1, ... Units (`u`, else `bu`) convert to Garonne units; without a unit the value is
//!   already in the Garonne unit.

use std::collections::{BTreeMap, HashSet};

use std::borrow::Cow;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value, json};

use smallvec::SmallVec;

use crate::quantity::{ProfileId, Quantity};
use crate::reading::{Location, Quantities, Reading, Source};
use crate::time::Timestamp;
use crate::validate::{
    Invalid, Limits, Problems, Rule, Violation, check_coordinate, check_kind,
    check_profile_quantities, check_quantity, check_sensor_id, check_source, check_time,
    parse_json, pointer, resolve_profile, time_ok, too_large, unknown_field, unknown_profile,
    unknown_quantity, wrong_type,
};

/// The record labels Garonne understands; any other label is refused.
const LABELS: [&str; 11] = [
    "bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "t",
];

/// Times below this many seconds are relative to now (RFC 8428 §4.5.3).
const RELATIVE_TIME_LIMIT: f64 = 268_435_456.0;

/// Parses and validates a SenML pack, resolving it into readings in time order.
pub fn parse_senml(bytes: &[u8], now: Timestamp, limits: &Limits) -> Result<Vec<Reading>, Invalid> {
    parse_senml_as(bytes, None, now, limits)
}

/// Parses and validates a SenML pack as if it named `profile` (see
/// [`crate::validate::parse_reading_under`]): a pack without a `profile` record is checked under
/// it, one that names another profile is refused.
pub fn parse_senml_under(
    bytes: &[u8],
    profile: ProfileId,
    now: Timestamp,
    limits: &Limits,
) -> Result<Vec<Reading>, Invalid> {
    parse_senml_as(bytes, Some(profile), now, limits)
}

/// [`parse_senml`], under the `chosen` profile if there is one.
fn parse_senml_as(
    bytes: &[u8],
    chosen: Option<ProfileId>,
    now: Timestamp,
    limits: &Limits,
) -> Result<Vec<Reading>, Invalid> {
    if bytes.len() > limits.max_pack_bytes {
        return Err(too_large(bytes.len(), limits.max_pack_bytes, "SenML pack"));
    }
    let mut out = Problems::new(limits);
    // Design: as for readings, a typed fast path (borrowed strings, no JSON tree) and an
    // explaining path over the JSON tree for type errors; both feed the same `resolve`. The
    // typed path also sees duplicate keys, which the tree silently merges.
    let readings = match serde_json::from_slice::<Vec<Record<'_>>>(bytes) {
        Ok(records) => resolve(&records, chosen, now, limits, &mut out),
        Err(fast_error) => match parse_json(bytes, &mut out) {
            None => Vec::new(),
            Some(value) => match records_from_value(&value, &mut out) {
                Some(_) if fast_error.to_string().starts_with("duplicate") => {
                    out.push(Violation::new(
                        "",
                        Rule::DuplicateKey,
                        fast_error.to_string(),
                        "write each label once per record; JSON readers disagree on which copy wins",
                        "écrivez chaque étiquette une seule fois par enregistrement ; les lecteurs \
                         JSON ne s'accordent pas sur la copie qui l'emporte",
                    ));
                    Vec::new()
                }
                Some(records) => resolve(&records, chosen, now, limits, &mut out),
                None => Vec::new(),
            },
        },
    };
    out.verdict(readings)
}

/// One SenML record (RFC 8428 §4, JSON labels), strings borrowed from the input when possible.
#[derive(Debug, Default)]
struct Record<'a> {
    bn: Option<Cow<'a, str>>,
    bt: Option<f64>,
    bu: Option<Cow<'a, str>>,
    bv: Option<f64>,
    bver: Option<u64>,
    n: Option<Cow<'a, str>>,
    u: Option<Cow<'a, str>>,
    v: Option<Number>,
    vs: Option<Cow<'a, str>>,
    vb: Option<bool>,
    t: Option<f64>,
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RecordVisitor;
        impl<'de> Visitor<'de> for RecordVisitor {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a SenML record")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<'de>, A::Error> {
                use serde::de::Error;
                fn once<T, E: Error>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), E> {
                    match slot.replace(value) {
                        None => Ok(()),
                        Some(_) => Err(E::custom(format!("duplicate field `{key}`"))),
                    }
                }
                let mut r = Record::default();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let key = key.0;
                    match &*key {
                        "bn" => once(&mut r.bn, map.next_value::<Text<'de>>()?.0, &key)?,
                        "bu" => once(&mut r.bu, map.next_value::<Text<'de>>()?.0, &key)?,
                        "n" => once(&mut r.n, map.next_value::<Text<'de>>()?.0, &key)?,
                        "u" => once(&mut r.u, map.next_value::<Text<'de>>()?.0, &key)?,
                        "vs" => once(&mut r.vs, map.next_value::<Text<'de>>()?.0, &key)?,
                        "bt" => once(&mut r.bt, map.next_value()?, &key)?,
                        "bv" => once(&mut r.bv, map.next_value()?, &key)?,
                        "t" => once(&mut r.t, map.next_value()?, &key)?,
                        "bver" => once(&mut r.bver, map.next_value()?, &key)?,
                        "v" => once(&mut r.v, map.next_value()?, &key)?,
                        "vb" => once(&mut r.vb, map.next_value()?, &key)?,
                        other => return Err(A::Error::custom(format!("unknown label `{other}`"))),
                    }
                }
                Ok(r)
            }
        }
        deserializer.deserialize_map(RecordVisitor)
    }
}

/// A string borrowed from the input when it has no escapes, owned otherwise.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Puts a label's value, if it has the label's type, in its slot; whether it had.
fn take<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    *slot = value;
    slot.is_some()
}

/// The explaining path: the records of a JSON tree, reporting every type error and unknown
/// label; `None` when there was any.
fn records_from_value<'a>(value: &'a Value, out: &mut Problems) -> Option<Vec<Record<'a>>> {
    let Some(items) = value.as_array() else {
        out.push(wrong_type(
            "",
            "an array of SenML records",
            value,
            [
                "a SenML pack is [{\"bn\": ...}, ...]",
                "un paquet SenML s'écrit [{\"bn\": ...}, ...]",
            ],
        ));
        return None;
    };
    let before = out.len();
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(map) = item.as_object() else {
            out.push_with(|| {
                wrong_type(
                    &format!("/{i}"),
                    "an object (a SenML record)",
                    item,
                    [
                        "each record is {\"n\": ..., \"v\": ...}",
                        "chaque enregistrement s'écrit {\"n\": ..., \"v\": ...}",
                    ],
                )
            });
            continue;
        };
        records.push(record_from_map(i, map, out));
    }
    (out.len() == before).then_some(records)
}

/// One record of the explaining path (record `i` of the pack), reporting every label of the
/// wrong type or unknown.
fn record_from_map<'a>(i: usize, map: &'a Map<String, Value>, out: &mut Problems) -> Record<'a> {
    let mut r = Record::default();
    for (key, v) in map {
        let p = || pointer(&format!("/{i}"), key);
        let text = || v.as_str().map(Cow::Borrowed);
        let ok = match key.as_str() {
            "bn" => take(&mut r.bn, text()),
            "bu" => take(&mut r.bu, text()),
            "n" => take(&mut r.n, text()),
            "u" => take(&mut r.u, text()),
            "vs" => take(&mut r.vs, text()),
            "bt" => take(&mut r.bt, v.as_f64()),
            "bv" => take(&mut r.bv, v.as_f64()),
            "t" => take(&mut r.t, v.as_f64()),
            "bver" => take(&mut r.bver, v.as_u64()),
            "v" => take(&mut r.v, v.as_number().cloned()),
            "vb" => take(&mut r.vb, v.as_bool()),
            _ => {
                out.push_with(|| unknown_field(&p(), key, &LABELS));
                continue;
            }
        };
        if !ok {
            let expected = match key.as_str() {
                "bn" | "bu" | "n" | "u" | "vs" => "a string",
                "bver" => "a whole number",
                "vb" => "a boolean",
                _ => "a number",
            };
            out.push_with(|| {
                wrong_type(
                    &p(),
                    expected,
                    v,
                    [
                        "see RFC 8428 section 4 for each label's type",
                        "voyez la section 4 de la RFC 8428 pour le type de chaque étiquette",
                    ],
                )
            });
        }
    }
    r
}

/// Metadata of the pack, each with the index of the record that gave it.
#[derive(Default)]
struct Meta {
    lat: Option<(f64, usize)>,
    lon: Option<(f64, usize)>,
    alt: Option<(f64, usize)>,
    seq: Option<(u64, usize)>,
    kind: Option<(String, usize)>,
    source: Option<(Source, usize)>,
    profile: Option<(ProfileId, usize)>,
}

/// Base values carried from record to record, borrowed from the pack, with the index of the
/// record that set them.
#[derive(Default)]
struct Base<'a> {
    name: &'a str,
    name_at: Option<usize>,
    time: f64,
    time_at: Option<usize>,
    unit: Option<&'a str>,
    value: f64,
    /// Where a bad name was already reported: a base name without its ':' is said once.
    bad_names: HashSet<String>,
}

/// Where a problem is: a record, or one label of it. Performance: pointers are only formatted
/// when a problem is reported, never for valid records.
#[derive(Clone, Copy)]
struct At {
    record: usize,
    label: Option<&'static str>,
}

impl At {
    fn record(record: usize) -> At {
        At {
            record,
            label: None,
        }
    }
    fn label(record: usize, label: &'static str) -> At {
        At {
            record,
            label: Some(label),
        }
    }
    fn pointer(self) -> String {
        match self.label {
            Some(label) => format!("/{}/{label}", self.record),
            None => format!("/{}", self.record),
        }
    }
}

/// Splits a record's full name `bn + n` at its last ':' into (sensor id, field), without
/// concatenating in the usual case (`bn` ends with ':').
fn split_name<'a>(bn: &'a str, n: &'a str) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
    let (sensor, field): (Cow<'a, str>, Cow<'a, str>) = match n.rfind(':') {
        Some(k) if bn.is_empty() => (Cow::Borrowed(&n[..k]), Cow::Borrowed(&n[k + 1..])),
        Some(k) => (
            Cow::Owned(format!("{bn}{}", &n[..k])),
            Cow::Borrowed(&n[k + 1..]),
        ),
        None => {
            let k = bn.rfind(':')?;
            let field = if k + 1 == bn.len() {
                Cow::Borrowed(n)
            } else {
                Cow::Owned(format!("{}{n}", &bn[k + 1..]))
            };
            (Cow::Borrowed(&bn[..k]), field)
        }
    };
    (!sensor.is_empty() && !field.is_empty()).then_some((sensor, field))
}

/// Why a record gives nothing to the pack: the record is skipped (its problem is reported), or
/// the whole pack is (its sensor id is not valid).
enum Skip {
    Record,
    Pack,
}

/// One record after its name, time and value are resolved against the base values.
struct Resolved<'a> {
    /// The record's index in the pack.
    index: usize,
    /// The field: a quantity or a metadata name.
    field: Cow<'a, str>,
    /// Where the name was given (`n`, else the base name).
    name_at: At,
    /// `bt + t`, resolved.
    time: Timestamp,
    /// Where the time was given (`t`, else `bt`).
    time_at: At,
    /// The record's one value.
    value: RecordValue<'a>,
}

/// The one value of a record (`v`, `vs` or `vb`), with the unit that applies to it.
struct RecordValue<'a> {
    /// `bv + v`.
    number: Option<f64>,
    /// `v` as written, for integers that f64 cannot hold exactly.
    raw: Option<&'a Number>,
    /// `bv`, which `number` includes.
    offset: f64,
    string: Option<&'a str>,
    boolean: Option<bool>,
    /// `u`, else `bu`.
    unit: Option<&'a str>,
    /// The label that gave the value.
    at: At,
}

/// The pack being resolved: the base values so far, the metadata, its sensor and its readings
/// grouped by time.
struct Pack<'a> {
    now: Timestamp,
    limits: &'a Limits,
    base: Base<'a>,
    meta: Meta,
    /// The profile chosen by the caller (`--profile`), if any.
    chosen: Option<ProfileId>,
    /// The sensor of the first well-named record; every other record must name it too.
    sensor: Option<String>,
    groups: BTreeMap<Timestamp, Quantities>,
    /// The record that gave each quantity at each time.
    seen: BTreeMap<(Timestamp, Quantity), usize>,
}

/// Resolves a pack's records into readings, reporting every problem in `out` (and then giving
/// no readings): the pack-size checks, each record's steps, then the pack-level checks.
fn resolve(
    records: &[Record<'_>],
    chosen: Option<ProfileId>,
    now: Timestamp,
    limits: &Limits,
    out: &mut Problems,
) -> Vec<Reading> {
    if !check_pack_size(records, limits, out) {
        return Vec::new();
    }
    let mut pack = Pack {
        now,
        limits,
        base: Base::default(),
        meta: Meta::default(),
        chosen,
        sensor: None,
        groups: BTreeMap::new(),
        seen: BTreeMap::new(),
    };
    for (i, record) in records.iter().enumerate() {
        match pack.resolve_record(i, record, out) {
            Ok(resolved) => pack.apply(&resolved, out),
            Err(Skip::Record) => {}
            Err(Skip::Pack) => return Vec::new(),
        }
    }
    pack.finish(out)
}

/// A pack has at least one record and at most [`Limits::max_pack_records`].
fn check_pack_size(records: &[Record<'_>], limits: &Limits, out: &mut Problems) -> bool {
    if records.is_empty() {
        out.push(Violation::new(
            "",
            Rule::SenmlEmpty,
            "the SenML pack has no records",
            "send at least one record, or no message at all",
            "envoyez au moins un enregistrement, ou pas de message du tout",
        ));
        return false;
    }
    if records.len() > limits.max_pack_records {
        out.push(Violation::new(
            "",
            Rule::Size,
            format!(
                "the pack has {} records, more than the {} allowed",
                records.len(),
                limits.max_pack_records
            ),
            "split the pack into several messages",
            "découpez le paquet en plusieurs messages",
        ));
        return false;
    }
    true
}

/// Versions 1 to 10 are understood (RFC 8428 is 10).
fn check_version(record: usize, bver: Option<u64>, out: &mut Problems) {
    if let Some(bver) = bver
        && !(1..=10).contains(&bver)
    {
        out.push(Violation::new(
            At::label(record, "bver").pointer(),
            Rule::SenmlVersion,
            format!("SenML version {bver} is not understood"),
            "leave bver out (RFC 8428 is version 10)",
            "omettez bver (la RFC 8428 est la version 10)",
        ));
    }
}

impl<'a> Base<'a> {
    /// Takes the base fields a record sets (`bn`, `bt`, `bu`, `bv`).
    fn update(&mut self, record: usize, rec: &'a Record<'_>) {
        if let Some(bn) = rec.bn.as_deref() {
            self.name = bn;
            self.name_at = Some(record);
        }
        if let Some(bt) = rec.bt {
            self.time = bt;
            self.time_at = Some(record);
        }
        if let Some(bu) = rec.bu.as_deref() {
            self.unit = Some(bu);
        }
        if let Some(bv) = rec.bv {
            self.value = bv;
        }
    }

    /// Where a record's name comes from: its `n`, else the base name.
    fn name_at(&self, record: usize, rec: &Record<'_>) -> At {
        if rec.n.is_some() {
            At::label(record, "n")
        } else {
            self.name_at
                .map_or(At::record(record), |j| At::label(j, "bn"))
        }
    }

    /// Reports a full name `bn + n` that is not `{sensor_id}:{field}`. A base name without its
    /// ':' spoils every record: said once, at the base name.
    fn report_bad_name(&mut self, n: &str, name_at: At, out: &mut Problems) {
        let blame_base = !self.name.is_empty() && !self.name.contains(':');
        let ptr = match (self.name_at, blame_base) {
            (Some(j), true) => At::label(j, "bn").pointer(),
            _ => name_at.pointer(),
        };
        // Design: remembered here rather than looked up in `out`, which lists only the first
        // problems and would let a repeat past the bound be counted.
        if !self.bad_names.insert(ptr.clone()) {
            return;
        }
        out.push(Violation::new(
            ptr,
            Rule::SenmlName,
            format!(
                "the record name \"{}{n}\" is not {{sensor_id}}:{{field}}",
                self.name
            ),
            "set \"bn\": \"your-sensor-id:\" (with the colon) in the first record and \
             \"n\": \"temperature\" in each",
            "mettez \"bn\": \"id-de-votre-capteur:\" (avec les deux-points) dans le premier \
             enregistrement et \"n\": \"temperature\" dans chacun",
        ));
    }

    /// A record's time `bt + t` and where it was given; `None` (reported) when SenML cannot
    /// express it.
    fn time_of(
        &self,
        record: usize,
        rec: &Record<'_>,
        now: Timestamp,
        out: &mut Problems,
    ) -> Option<(Timestamp, At)> {
        let t = rec.t.unwrap_or(0.0);
        let time_at = if rec.t.is_some() {
            At::label(record, "t")
        } else {
            self.time_at
                .map_or(At::record(record), |j| At::label(j, "bt"))
        };
        match resolve_time(self.time, t, now) {
            Some(time) => Some((time, time_at)),
            None => {
                out.push(Violation::new(
                    time_at.pointer(),
                    Rule::TimeFormat,
                    format!("bt + t = {} is not a time SenML can express", self.time + t),
                    "write times as seconds since 1970-01-01T00:00:00Z",
                    "écrivez les instants en secondes depuis 1970-01-01T00:00:00Z",
                ));
                None
            }
        }
    }

    /// A record's one value; `None` (reported) unless it has exactly one of `v`, `vs`, `vb`.
    fn value_of(
        &self,
        record: usize,
        rec: &'a Record<'_>,
        out: &mut Problems,
    ) -> Option<RecordValue<'a>> {
        let present = [rec.v.is_some(), rec.vs.is_some(), rec.vb.is_some()];
        let count = present.iter().filter(|p| **p).count();
        if count != 1 {
            let message = if count == 0 {
                "the record has no value".to_owned()
            } else {
                let names: Vec<&str> = ["v", "vs", "vb"]
                    .into_iter()
                    .zip(present)
                    .filter(|(_, p)| *p)
                    .map(|(k, _)| k)
                    .collect();
                format!("the record has {count} values ({})", names.join(", "))
            };
            out.push(Violation::new(
                At::record(record).pointer(),
                Rule::SenmlValue,
                message,
                "give each record exactly one of v (number), vs (string) or vb (boolean)",
                "donnez à chaque enregistrement une seule valeur : v (nombre), vs (texte) ou vb \
                 (booléen)",
            ));
            return None;
        }
        let label = if present[0] {
            "v"
        } else if present[1] {
            "vs"
        } else {
            "vb"
        };
        Some(RecordValue {
            number: rec
                .v
                .as_ref()
                .and_then(Number::as_f64)
                .map(|v| v + self.value),
            raw: rec.v.as_ref(),
            offset: self.value,
            string: rec.vs.as_deref(),
            boolean: rec.vb,
            unit: rec.u.as_deref().or(self.unit),
            at: At::label(record, label),
        })
    }
}

impl<'a> Pack<'a> {
    /// One record's steps: its version, the base values it sets, then its name, time and value.
    fn resolve_record(
        &mut self,
        i: usize,
        rec: &'a Record<'_>,
        out: &mut Problems,
    ) -> Result<Resolved<'a>, Skip> {
        check_version(i, rec.bver, out);
        self.base.update(i, rec);
        let (field, name_at) = self.name(i, rec, out)?;
        let (time, time_at) = self
            .base
            .time_of(i, rec, self.now, out)
            .ok_or(Skip::Record)?;
        let value = self.base.value_of(i, rec, out).ok_or(Skip::Record)?;
        Ok(Resolved {
            index: i,
            field,
            name_at,
            time,
            time_at,
            value,
        })
    }

    /// A record's field and where its name was given, once its full name is
    /// `{sensor_id}:{field}` for the pack's sensor.
    fn name(
        &mut self,
        i: usize,
        rec: &'a Record<'_>,
        out: &mut Problems,
    ) -> Result<(Cow<'a, str>, At), Skip> {
        let n = rec.n.as_deref().unwrap_or("");
        let name_at = self.base.name_at(i, rec);
        let Some((sensor_id, field)) = split_name(self.base.name, n) else {
            self.base.report_bad_name(n, name_at, out);
            return Err(Skip::Record);
        };
        self.check_sensor(&sensor_id, name_at, out)?;
        Ok((field, name_at))
    }

    /// The first record names the pack's sensor (which must be a valid id, else the pack is
    /// refused); every other record must name the same one.
    fn check_sensor(
        &mut self,
        sensor_id: &str,
        name_at: At,
        out: &mut Problems,
    ) -> Result<(), Skip> {
        match &self.sensor {
            None => {
                let sensor_at = self.base.name_at.map_or(name_at, |j| At::label(j, "bn"));
                let before = out.len();
                check_sensor_id(sensor_id, &sensor_at.pointer(), out);
                if out.len() > before {
                    return Err(Skip::Pack);
                }
                self.sensor = Some(sensor_id.to_owned());
            }
            Some(first) if first != sensor_id => {
                out.push(Violation::new(
                    name_at.pointer(),
                    Rule::SenmlSensor,
                    format!(
                        "this record is for sensor \"{sensor_id}\", the pack's first for \"{first}\""
                    ),
                    "send one pack per sensor, on that sensor's own topic",
                    "envoyez un paquet par capteur, sur le topic de ce capteur",
                ));
                return Err(Skip::Record);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Applies a resolved record to the pack's metadata or to its readings.
    fn apply(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        match &*r.field {
            "lat" | "lon" | "alt" => self.coordinate(r, out),
            "seq" => self.sequence(r, out),
            "kind" => self.kind(r, out),
            "source" => self.source(r, out),
            "profile" => self.profile(r, out),
            _ => self.quantity(r, out),
        }
    }

    /// `lat`, `lon` (in their own units) or `alt` (in metres).
    fn coordinate(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        let field = &*r.field;
        let want_unit = if field == "alt" { "m" } else { field };
        let Some(x) = r.value.number else {
            out.push(value_kind(r.value.at, field, "a number in v"));
            return;
        };
        if let Some(u) = r.value.unit.filter(|u| *u != want_unit) {
            out.push(Violation::new(
                At::label(r.index, "u").pointer(),
                Rule::SenmlUnit,
                format!("unit \"{u}\" is not accepted for {field}"),
                format!("write \"u\": \"{want_unit}\" or leave the unit out"),
                format!("écrivez \"u\": \"{want_unit}\" ou omettez l'unité"),
            ));
            return;
        }
        check_coordinate(field, x, &r.value.at.pointer(), out);
        let slot = match field {
            "lat" => &mut self.meta.lat,
            "lon" => &mut self.meta.lon,
            _ => &mut self.meta.alt,
        };
        set_once(slot, x, r.index, field, out);
    }

    /// `seq`: a whole number from 0 up.
    fn sequence(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        // Read the integer itself: through f64, counters above 2^53 would lose their last digits.
        let exact = r
            .value
            .raw
            .and_then(Number::as_u64)
            .filter(|_| r.value.offset == 0.0);
        let summed = r
            .value
            .number
            .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x < 9.007_199_254_740_992e15)
            .map(|x| x as u64);
        match exact.or(summed) {
            Some(x) => set_once(&mut self.meta.seq, x, r.index, &r.field, out),
            None => out.push(value_kind(
                r.value.at,
                &r.field,
                "a whole number from 0 up in v",
            )),
        }
    }

    /// `kind`: a string.
    fn kind(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        match r.value.string {
            Some(s) => {
                check_kind(s, &r.value.at.pointer(), out);
                set_once(&mut self.meta.kind, s.to_owned(), r.index, &r.field, out);
            }
            None => out.push(value_kind(r.value.at, &r.field, "a string in vs")),
        }
    }

    /// `source`: the name of a [`Source`].
    fn source(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        match r.value.string {
            Some(s) => match Source::from_name(s) {
                Some(src) => set_once(&mut self.meta.source, src, r.index, &r.field, out),
                None => check_source(s, &r.value.at.pointer(), out),
            },
            None => out.push(value_kind(r.value.at, &r.field, "a string in vs")),
        }
    }

    /// `profile`: a catalogued profile's name.
    fn profile(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        match r.value.string {
            Some(s) => match ProfileId::from_name(s) {
                Some(p) => set_once(&mut self.meta.profile, p, r.index, &r.field, out),
                None => out.push(unknown_profile(&r.value.at.pointer(), s)),
            },
            None => out.push(value_kind(r.value.at, &r.field, "a string in vs")),
        }
    }

    /// A measured quantity: converted to its Garonne unit, in range, at an accepted time, once
    /// per instant.
    fn quantity(&mut self, r: &Resolved<'_>, out: &mut Problems) {
        let field = &*r.field;
        let Some(q) = Quantity::from_name(field) else {
            out.push(unknown_quantity(&r.name_at.pointer(), field));
            return;
        };
        let raw = match (r.value.number, r.value.boolean) {
            (Some(x), _) => x,
            (None, Some(b)) if q == Quantity::Motion => f64::from(u8::from(b)),
            _ => {
                out.push(value_kind(r.value.at, field, "a number in v"));
                return;
            }
        };
        let Some(x) = convert(q, raw, r.value.unit, r.index, out) else {
            return;
        };
        if !(x.is_finite() && q.in_range(x)) {
            check_quantity(q, x, &r.value.at.pointer(), out);
            return;
        }
        if !time_ok(r.time, self.now, self.limits) {
            check_time(r.time, self.now, self.limits, &r.time_at.pointer(), out);
            return;
        }
        if let Some(first) = self.seen.insert((r.time, q), r.index) {
            out.push(Violation::new(
                At::record(r.index).pointer(),
                Rule::SenmlConflict,
                format!("{field} at {} was already given by record /{first}", r.time),
                "give each quantity once per instant",
                "donnez chaque grandeur une seule fois par instant",
            ));
            return;
        }
        self.groups.entry(r.time).or_default().set(q, x);
    }

    /// The pack-level checks (a sensor, the required metadata, at least one measured value),
    /// then the readings, in time order with consecutive sequence numbers.
    fn finish(mut self, out: &mut Problems) -> Vec<Reading> {
        let Some(sensor_id) = self.sensor.take() else {
            return Vec::new();
        };
        self.meta.check_required(out);
        if self.groups.is_empty() && out.is_empty() {
            out.push(Violation::new(
                "",
                Rule::NoQuantities,
                "the pack has no measured value",
                "add records named after quantities, e.g. {\"n\": \"temperature\", \"u\": \"Cel\", \"v\": 12.5}",
                "ajoutez des enregistrements nommés d'après les grandeurs, par exemple \
                 {\"n\": \"temperature\", \"u\": \"Cel\", \"v\": 12.5}",
            ));
        }
        self.meta.check_sequence(self.groups.len(), out);
        let named = self.meta.profile.map(|(p, _)| p);
        let named_at = self
            .meta
            .profile
            .map_or(At::record(0), |(_, i)| At::label(i, "vs"));
        let profile = resolve_profile(named, self.chosen, &named_at.pointer(), out);
        if let Some(profile) = profile {
            self.check_profile(profile, out);
        }
        if !out.is_empty() {
            return Vec::new();
        }
        self.meta.readings(sensor_id, profile, self.groups)
    }

    /// Each reading of the pack follows `profile`: a quantity outside it is refused at its
    /// record's name, a missing required quantity at the pack (its message names the instant).
    fn check_profile(&self, profile: ProfileId, out: &mut Problems) {
        for (time, quantities) in &self.groups {
            let present: SmallVec<[Quantity; 10]> = quantities.iter().map(|(q, _)| q).collect();
            let mut group = Problems::new(&Limits {
                max_violations: usize::MAX,
                ..*self.limits
            });
            let record_of = |q: Quantity| {
                self.seen
                    .get(&(*time, q))
                    .map_or(String::new(), |i| At::label(*i, "n").pointer())
            };
            check_profile_quantities(profile, &present, record_of, "", &mut group);
            for mut v in group.into_invalid().violations {
                if v.rule == Rule::MissingRequiredQuantity {
                    v.message = format!("{} at {time}", v.message);
                }
                out.push(v);
            }
        }
    }
}

impl Meta {
    /// Every pack gives `lon`, `lat` and `seq`.
    fn check_required(&self, out: &mut Problems) {
        for (field, present) in [
            ("lon", self.lon.is_some()),
            ("lat", self.lat.is_some()),
            ("seq", self.seq.is_some()),
        ] {
            if !present {
                let example = if field == "seq" {
                    "{\"n\": \"seq\", \"v\": 0}"
                } else {
                    "{\"n\": \"lat\", \"u\": \"lat\", \"v\": 43.6047}"
                };
                out.push(Violation::new(
                    "",
                    Rule::Required,
                    format!("the pack has no \"{field}\" record"),
                    format!("add a record such as {example}; every reading needs it"),
                    format!(
                        "ajoutez un enregistrement comme {example} ; chaque mesure en a besoin"
                    ),
                ));
            }
        }
    }

    /// The pack's readings are numbered `seq`, `seq`+1, ...: the last one must still fit in
    /// 64 bits (a wrapped number would look like a device restart).
    fn check_sequence(&self, readings: usize, out: &mut Problems) {
        let Some((first, record)) = self.seq else {
            return;
        };
        let extra = readings.saturating_sub(1) as u64;
        if first.checked_add(extra).is_none() {
            out.push(Violation::new(
                At::label(record, "v").pointer(),
                Rule::Range,
                format!(
                    "seq {first} numbers {readings} readings, and the last would pass {}",
                    u64::MAX
                ),
                format!(
                    "start the counter again from 0 (the largest first seq for this pack is {})",
                    u64::MAX - extra
                ),
                format!(
                    "repartez de 0 (le plus grand premier seq possible pour ce paquet est {})",
                    u64::MAX - extra
                ),
            ));
        }
    }

    /// One reading per instant, carrying the pack's metadata, numbered from its `seq` up
    /// (checked by [`Meta::check_sequence`]).
    fn readings(
        self,
        sensor_id: String,
        profile: Option<ProfileId>,
        groups: BTreeMap<Timestamp, Quantities>,
    ) -> Vec<Reading> {
        let location = Location {
            lon: self.lon.map_or(0.0, |m| m.0),
            lat: self.lat.map_or(0.0, |m| m.0),
            alt: self.alt.map(|m| m.0),
        };
        let first_seq = self.seq.map_or(0, |m| m.0);
        let kind = self.kind.map_or_else(|| "device".to_owned(), |m| m.0);
        let source = self.source.map_or(Source::Device, |m| m.0);
        groups
            .into_iter()
            .enumerate()
            .map(|(i, (time, quantities))| Reading {
                quantities,
                profile,
                ..Reading::new(
                    sensor_id.clone(),
                    kind.clone(),
                    source,
                    time,
                    first_seq.saturating_add(i as u64),
                    location,
                )
            })
            .collect()
    }
}

fn value_kind(at: At, field: &str, expected: &str) -> Violation {
    Violation::new(
        at.pointer(),
        Rule::SenmlValue,
        format!("{field} needs {expected}"),
        "numbers go in v, strings in vs, booleans in vb",
        "les nombres vont dans v, les textes dans vs, les booléens dans vb",
    )
}

fn set_once<T>(
    slot: &mut Option<(T, usize)>,
    value: T,
    record: usize,
    field: &str,
    out: &mut Problems,
) {
    if let Some((_, first)) = slot {
        out.push(Violation::new(
            At::record(record).pointer(),
            Rule::SenmlConflict,
            format!("{field} was already given by record /{first}"),
            "give metadata (lat, lon, alt, seq, kind, source, profile) once per pack",
            "donnez les métadonnées (lat, lon, alt, seq, kind, source, profile) une seule fois \
             par paquet",
        ));
    } else {
        *slot = Some((value, record));
    }
}

/// Converts a SenML value in `unit` to the quantity's Garonne unit.
fn convert(
    q: Quantity,
    raw: f64,
    unit: Option<&str>,
    record: usize,
    out: &mut Problems,
) -> Option<f64> {
    let Some(unit) = unit else { return Some(raw) };
    match q.def().senml_units.iter().find(|u| u.symbol == unit) {
        Some(u) => Some(u.to_garonne(raw)),
        None => {
            let accepted: Vec<&str> = q.def().senml_units.iter().map(|u| u.symbol).collect();
            let (hint, hint_fr) = if accepted.is_empty() {
                (
                    format!("{q} takes no unit: leave u out"),
                    format!("{q} n'a pas d'unité : omettez u"),
                )
            } else {
                let (accepted, garonne) = (accepted.join(", "), q.unit());
                (
                    format!("use one of {accepted} or leave u out to send {garonne}"),
                    format!(
                        "utilisez l'une des unités {accepted}, ou omettez u pour envoyer des {garonne}"
                    ),
                )
            };
            out.push(Violation::new(
                At::label(record, "u").pointer(),
                Rule::SenmlUnit,
                format!("unit \"{unit}\" is not accepted for {q}"),
                hint,
                hint_fr,
            ));
            None
        }
    }
}

/// Resolves `bt + t`, relative to `now` below 2²⁸ s, to the microsecond.
fn resolve_time(bt: f64, t: f64, now: Timestamp) -> Option<Timestamp> {
    let total = bt + t;
    if !total.is_finite() {
        return None;
    }
    // Design: base and offset are converted separately so a long pack's offsets keep full precision.
    let base = if total < RELATIVE_TIME_LIMIT {
        now
    } else {
        Timestamp::from_unix_f64(bt)?
    };
    let offset = if total < RELATIVE_TIME_LIMIT {
        total
    } else {
        t
    };
    let micros = (offset * 1e6).round();
    if micros.abs() > 9.0e15 {
        return None;
    }
    Some(base.add_nanos(micros as i64 * 1000))
}

/// Encodes readings of one sensor, with one location, kind and source and consecutive sequence
/// numbers, as a SenML pack; `None` when they cannot share one pack.
pub fn encode_senml(readings: &[Reading]) -> Option<Vec<u8>> {
    let first = readings.first()?;
    let same = readings.iter().enumerate().all(|(i, r)| {
        r.sensor_id == first.sensor_id
            && r.kind == first.kind
            && r.source == first.source
            && r.profile == first.profile
            && r.location == first.location
            && r.seq == first.seq + i as u64
    });
    if !same {
        return None;
    }
    let bt = first.time.unix_secs() as f64 + f64::from(first.time.subsec_nanos() / 1000) / 1e6;
    let mut records = vec![
        json!({"bn": format!("{}:", first.sensor_id), "bt": bt, "n": "lon", "u": "lon", "v": first.location.lon}),
        json!({"n": "lat", "u": "lat", "v": first.location.lat}),
    ];
    if let Some(alt) = first.location.alt {
        records.push(json!({"n": "alt", "u": "m", "v": alt}));
    }
    records.push(json!({"n": "seq", "v": first.seq}));
    records.push(json!({"n": "kind", "vs": first.kind}));
    records.push(json!({"n": "source", "vs": first.source.as_str()}));
    if let Some(profile) = first.profile {
        records.push(json!({"n": "profile", "vs": profile.name()}));
    }
    let base = Timestamp::from_unix_f64(bt)?;
    for r in readings {
        let t = (r.time.unix_nanos() - base.unix_nanos()) as f64 / 1e9;
        for (q, v) in r.quantities.iter() {
            let mut rec = json!({"n": q.name(), "v": v});
            if let Some(u) = q.def().senml_units.first().filter(|u| u.is_identity()) {
                rec["u"] = json!(u.symbol);
            }
            if t != 0.0 {
                rec["t"] = json!(t);
            }
            records.push(rec);
        }
    }
    serde_json::to_vec(&records).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2025-11-24T12:00:00Z").expect("valid")
    }

    const PACK: &str = r#"[
        {"bn": "pi-lycee-b12:", "bt": 1763978400, "n": "lat", "u": "lat", "v": 43.6047},
        {"n": "lon", "u": "lon", "v": 1.4442},
        {"n": "seq", "v": 10},
        {"n": "temperature", "u": "Cel", "v": 12.5},
        {"n": "relativeHumidity", "u": "%RH", "v": 81},
        {"n": "atmosphericPressure", "u": "Pa", "v": 101200},
        {"n": "temperature", "u": "Cel", "v": 12.6, "t": 60}
    ]"#;

    fn rules(json: &str) -> Vec<(String, Rule)> {
        crate::validate::located(parse_senml(json.as_bytes(), now(), &Limits::default()))
    }

    #[test]
    fn a_pack_resolves_into_readings_in_garonne_units() {
        let readings = parse_senml(PACK.as_bytes(), now(), &Limits::default()).expect("valid");
        assert_eq!(readings.len(), 2);
        let r = &readings[0];
        assert_eq!(r.sensor_id, "pi-lycee-b12");
        assert_eq!(r.time.to_string(), "2025-11-24T10:00:00Z");
        assert_eq!(
            (r.seq, r.source, r.kind.as_str()),
            (10, Source::Device, "device")
        );
        assert_eq!(r.quantities.get(Quantity::RelativeHumidity), Some(0.81));
        assert_eq!(
            r.quantities.get(Quantity::AtmosphericPressure),
            Some(1012.0)
        );
        assert_eq!(readings[1].time.to_string(), "2025-11-24T10:01:00Z");
        assert_eq!(readings[1].seq, 11);
        assert_eq!(readings[1].quantities.len(), 1);
    }

    #[test]
    fn relative_times_count_from_now() {
        let pack = r#"[{"bn":"s1:","n":"lat","v":43.6},{"n":"lon","v":1.4},{"n":"seq","v":0},
                       {"n":"temperature","v":10,"t":-30}]"#;
        let readings = parse_senml(pack.as_bytes(), now(), &Limits::default()).expect("valid");
        assert_eq!(readings[0].time.to_string(), "2025-11-24T11:59:30Z");
    }

    #[test]
    fn problems_point_at_the_record() {
        let cases: &[(&str, &str, &str, Rule)] = &[
            (
                r#""u": "Cel", "v": 12.5"#,
                r#""u": "degC", "v": 12.5"#,
                "/3/u",
                Rule::SenmlUnit,
            ),
            (
                r#""u": "Cel", "v": 12.5"#,
                r#""u": "Cel", "v": -50"#,
                "/3/v",
                Rule::Range,
            ),
            (
                r#""u": "Cel", "v": 12.5"#,
                r#""u": "Cel", "v": 12.5, "vs": "x""#,
                "/3",
                Rule::SenmlValue,
            ),
            (
                r#""n": "seq", "v": 10"#,
                r#""n": "seq", "v": 1.5"#,
                "/2/v",
                Rule::SenmlValue,
            ),
            (
                r#""n": "relativeHumidity""#,
                r#""n": "humidity""#,
                "/4/n",
                Rule::UnknownQuantity,
            ),
            (
                r#""n": "lon""#,
                r#""n": "other:lon""#,
                "/1/n",
                Rule::SenmlSensor,
            ),
            (
                r#""bn": "pi-lycee-b12:""#,
                r#""bn": "pi-lycee-b12""#,
                "/0/bn",
                Rule::SenmlName,
            ),
            (
                r#""bt": 1763978400"#,
                r#""bt": 1763978400, "ut": 5"#,
                "/0/ut",
                Rule::UnknownField,
            ),
            (r#""t": 60"#, r#""t": 0"#, "/6", Rule::SenmlConflict),
            (r#""t": 60"#, r#""t": 36000"#, "/6/t", Rule::ClockSkew),
        ];
        for (from, to, ptr, rule) in cases {
            assert!(PACK.contains(from), "{from}");
            let got = rules(&PACK.replacen(from, to, 1));
            assert_eq!(
                got.first(),
                Some(&(ptr.to_string(), *rule)),
                "{to}: {got:?}"
            );
        }
    }

    #[test]
    fn a_label_written_twice_is_refused() {
        // Regression (found by cargo fuzz): a JSON tree keeps the last copy of a duplicate key,
        // so `"v": 46, "v": 19.9` used to pass as 19.9.
        let pack = PACK.replacen(r#""v": 81"#, r#""v": 81, "v": 19.9"#, 1);
        assert_eq!(rules(&pack), vec![(String::new(), Rule::DuplicateKey)]);
    }

    #[test]
    fn escaped_strings_take_the_same_path_as_plain_ones() {
        let pack = PACK.replacen(r#""n": "lon""#, r#""n": "l\u006fn""#, 1);
        assert_eq!(rules(&pack), vec![]);
    }

    #[test]
    fn missing_metadata_and_empty_packs_are_reported() {
        assert_eq!(rules("[]"), vec![(String::new(), Rule::SenmlEmpty)]);
        let got = rules(r#"[{"bn":"s1:","n":"temperature","v":10,"bt":1763978400}]"#);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got.iter()
                .all(|(p, r)| p.is_empty() && *r == Rule::Required)
        );
    }

    /// Issue 14: a pack names its profile with a `profile` record, as it gives its kind; every
    /// reading of the pack then follows the profile.
    #[test]
    fn a_pack_that_names_its_profile_follows_it() {
        let air = |quantities: &str| {
            format!(
                r#"[{{"bn": "air-1:", "bt": 1763978400, "n": "lat", "u": "lat", "v": 43.6047}},
                   {{"n": "lon", "u": "lon", "v": 1.4442}}, {{"n": "seq", "v": 0}},
                   {{"n": "profile", "vs": "air-quality"}}, {quantities}]"#
            )
        };
        let good = air(r#"{"n": "pm25", "v": 12}, {"n": "pm25", "v": 13, "t": 60}"#);
        let readings = parse_senml(good.as_bytes(), now(), &Limits::default()).expect("valid");
        let profile = ProfileId::from_name("air-quality");
        assert!(readings.iter().all(|r| r.profile == profile));
        let again = encode_senml(&readings).expect("one sensor");
        assert_eq!(parse_senml(&again, now(), &Limits::default()), Ok(readings));

        // The second reading lacks pm25; the first carries a weather quantity.
        let bad = air(
            r#"{"n": "pm25", "v": 12}, {"n": "temperature", "v": 9}, {"n": "no2", "v": 3, "t": 60}"#,
        );
        let invalid = parse_senml(bad.as_bytes(), now(), &Limits::default()).expect_err("bad");
        let got: Vec<(&str, Rule)> = invalid
            .violations
            .iter()
            .map(|v| (v.pointer.as_str(), v.rule))
            .collect();
        assert_eq!(
            got,
            [
                ("/5/n", Rule::QuantityNotInProfile),
                ("", Rule::MissingRequiredQuantity)
            ]
        );
        assert!(
            invalid.violations[1]
                .message
                .ends_with("missing here at 2025-11-24T10:01:00Z"),
            "{invalid}"
        );
        let typo = good.replace("air-quality", "air-qality");
        assert_eq!(
            rules(&typo),
            vec![("/3/vs".to_owned(), Rule::UnknownProfile)]
        );
        // Under a chosen profile, a pack that names none follows it.
        let weather = ProfileId::from_name("weather").expect("built in");
        let under = parse_senml_under(PACK.as_bytes(), weather, now(), &Limits::default());
        assert!(
            under
                .expect("valid")
                .iter()
                .all(|r| r.profile == Some(weather))
        );
        let mismatch = parse_senml_under(good.as_bytes(), weather, now(), &Limits::default());
        assert_eq!(
            crate::validate::located(mismatch),
            vec![
                ("/3/vs".to_owned(), Rule::ProfileMismatch),
                ("/4/n".to_owned(), Rule::QuantityNotInProfile),
                ("/5/n".to_owned(), Rule::QuantityNotInProfile),
            ]
        );
    }

    #[test]
    fn encode_then_parse_gives_the_same_readings() {
        let readings = parse_senml(PACK.as_bytes(), now(), &Limits::default()).expect("valid");
        let bytes = encode_senml(&readings).expect("one sensor");
        let again = parse_senml(&bytes, now(), &Limits::default()).expect("valid");
        assert_eq!(again, readings);
    }
}
