//! The InfluxDB line-protocol encoder: [`Point`]s into the text that `/write` (v1) and
//! `/api/v2/write` (v2, VictoriaMetrics) take. A pure function, no I/O.
//!
//! One point is one line, `measurement[,tag=value...] field=value[,field=value...] time\n`,
//! with the time in nanoseconds. Escaping follows the line-protocol reference:
//!
//! | element | escaped with a backslash |
//! |---|---|
//! | measurement | comma, space |
//! | tag key, tag value, field key | comma, equals sign, space |
//! | string field value (in double quotes) | double quote, backslash |
//!
//! Field values: a float in Rust's shortest round-trip form, always positional (`1000000`,
//! `0.000001`, never `1e6`: every parser takes it and it reads back bit for bit); an integer
//! with the `i` suffix; `true`/`false`; a string in double quotes.
//!
//! What line protocol cannot carry, and what the encoder does instead (as Telegraf does):
//! - **Non-finite floats** (NaN, ±∞) have no spelling: the field is left out, and a point
//!   left without any field is not written at all ([`encode`] returns `false`).
//! - **Newlines and carriage returns** end a line anywhere outside a string, and
//!   VictoriaMetrics ends it even inside one (the line is then dropped without an error):
//!   they are written as the two characters `\n` and `\r` everywhere, strings included.
//!   InfluxDB stores those two characters: the only change a value goes through.
//! - **A trailing backslash** in a measurement, tag key, tag value or field key would escape
//!   the separator after it: trailing backslashes are removed; a tag whose key or value is
//!   then empty is left out, and so is such a field.
//! - **Empty tag values** are not allowed: the tag is left out (a point has no empty tag).
//! - **A measurement starting with `#`** would make the line a comment: the point is not
//!   written. (The schema's measurements are fixed words; this only guards the encoder.)
//!
//! Backslashes elsewhere are written as they are: InfluxDB's parser (1.x, and 2.x which
//! shares it) reads them back exactly, a backslash only escaping a character the table lists
//! for the element (checked against InfluxDB 1.6 in `tests/influx.rs`). VictoriaMetrics
//! differs in one case: it reads two backslashes in a tag as one, so a tag value with a
//! backslash right before a comma, equals sign or space is split differently there.
//!
//! InfluxDB 1.6 also takes exponent forms (`1e+06`, `1E-7`); they are never written here.

use std::fmt::Write as _;

use crate::point::{Field, Point};

/// Appends `point` as one line, with its final `\n`, to `out`. Returns whether a line was
/// written: `false` when no field is left to write (see the module doc), in which case `out`
/// is unchanged.
pub fn encode(point: &Point, out: &mut String) -> bool {
    let start = out.len();
    let measurement = trim_trailing_backslashes(point.measurement);
    if measurement.is_empty() || measurement.starts_with('#') {
        return false;
    }
    escape_into(out, measurement, MEASUREMENT_SPECIALS);
    for (key, value) in &point.tags {
        let (key, value) = (
            trim_trailing_backslashes(key),
            trim_trailing_backslashes(value),
        );
        if key.is_empty() || value.is_empty() {
            continue;
        }
        out.push(',');
        escape_into(out, key, KEY_SPECIALS);
        out.push('=');
        escape_into(out, value, KEY_SPECIALS);
    }
    let mut separator = ' ';
    for (key, value) in &point.fields {
        let key = trim_trailing_backslashes(key);
        if key.is_empty() || matches!(value, Field::Float(f) if !f.is_finite()) {
            continue;
        }
        out.push(separator);
        separator = ',';
        escape_into(out, key, KEY_SPECIALS);
        out.push('=');
        push_value(out, value);
    }
    if separator == ' ' {
        // No field written: take the measurement and tags back.
        out.truncate(start);
        return false;
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, " {}", point.time_ns);
    true
}

/// The line protocol of `points`, one line each (points without a writable field are left
/// out, see [`encode`]).
pub fn encode_all(points: &[Point]) -> String {
    // A reading's line is about 150 bytes: one allocation for a typical batch.
    let mut out = String::with_capacity(points.len() * 160);
    for point in points {
        encode(point, &mut out);
    }
    out
}

/// An upper bound of the size of `point`'s line ([`encode`]), without encoding it: every
/// character that may be escaped is counted twice, a number at its longest. The historian
/// cuts its store requests by it.
pub fn max_len(point: &Point) -> usize {
    fn escaped(text: &str) -> usize {
        text.len() + text.bytes().filter(|b| b",= \\\"\n\r".contains(b)).count()
    }
    // Display writes floats positionally: 1e-300 takes 300 digits.
    fn float(f: f64) -> usize {
        if f == 0.0 || (1e-5..1e16).contains(&f.abs()) {
            25
        } else {
            f.to_string().len()
        }
    }
    let tags: usize = point
        .tags
        .iter()
        .map(|(k, v)| 2 + escaped(k) + escaped(v))
        .sum();
    let fields: usize = point
        .fields
        .iter()
        .map(|(k, v)| {
            2 + escaped(k)
                + match v {
                    // i64::MIN with its `i` is 21 characters.
                    Field::Float(f) => float(*f),
                    Field::Int(_) => 21,
                    Field::Bool(_) => 5,
                    Field::Str(s) => 2 + escaped(s),
                }
        })
        .sum();
    // The measurement, then " time\n" with a 20-character time at most.
    escaped(point.measurement) + tags + fields + 22
}

/// Characters a measurement escapes.
const MEASUREMENT_SPECIALS: &[char] = &[',', ' '];

/// Characters tag keys, tag values and field keys escape.
const KEY_SPECIALS: &[char] = &[',', '=', ' '];

/// `s` without its trailing backslashes.
fn trim_trailing_backslashes(s: &str) -> &str {
    s.trim_end_matches('\\')
}

/// Appends `s` with each of `specials` preceded by a backslash, and newlines and carriage
/// returns written as `\n` and `\r`.
fn escape_into(out: &mut String, s: &str, specials: &[char]) {
    // Performance: ids and names rarely need escaping; copy them whole when they do not.
    if !s.contains(|c: char| specials.contains(&c) || c == '\n' || c == '\r') {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if specials.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// Appends a field value.
fn push_value(out: &mut String, value: &Field) {
    // Writing to a String cannot fail.
    match value {
        // Display writes the shortest digits that read back to the same f64, positionally.
        Field::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Field::Int(i) => {
            let _ = write!(out, "{i}i");
        }
        Field::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Field::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_len_is_never_below_the_encoded_size() {
        let odd = point(
            "status",
            &[("sensor", "a b,c=d\\")],
            vec![
                ("x y", Field::Float(-1.234_567_890_123_456_7e-300)),
                ("n", Field::Int(i64::MIN)),
                ("ok", Field::Bool(false)),
                ("s", Field::Str("\"\\,= ".repeat(10))),
            ],
        );
        let plain = point(
            "reading",
            &[("sensor", "s-1")],
            vec![("t", Field::Float(20.5))],
        );
        for p in [plain, odd] {
            for time_ns in [0, i64::MIN, i64::MAX] {
                let p = Point {
                    time_ns,
                    ..p.clone()
                };
                let mut line = String::new();
                assert!(encode(&p, &mut line));
                assert!(max_len(&p) >= line.len(), "{line}");
                assert!(max_len(&p) <= 2 * line.len() + 64, "{line}");
            }
        }
    }

    fn point(
        measurement: &'static str,
        tags: &[(&'static str, &str)],
        fields: Vec<(&'static str, Field)>,
    ) -> Point {
        Point {
            measurement,
            tags: tags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            fields,
            time_ns: 1_700_000_000_123_456_789,
        }
    }

    fn line(p: &Point) -> String {
        let mut out = String::new();
        assert!(encode(p, &mut out), "{p:?} not written");
        out
    }

    #[test]
    fn tag_values_escape_comma_equals_and_space() {
        let cases = [
            ("plain", "plain"),
            ("a b", r"a\ b"),
            ("a,b", r"a\,b"),
            ("a=b", r"a\=b"),
            (" ,=", r"\ \,\="),
            (
                "Saint-Cyprien, rive gauche",
                r"Saint-Cyprien\,\ rive\ gauche",
            ),
            ("guillemets \"x\"", r#"guillemets\ "x""#),
            ("apostrophe l'île", r"apostrophe\ l'île"),
            ("unicode é漢🌧", "unicode\\ é漢🌧"),
            ("tab\there", "tab\there"),
            ("line\nbreak", r"line\nbreak"),
            ("cr\rlf", r"cr\rlf"),
            (r"back\slash", r"back\slash"),
            (r"back\,comma", r"back\\,comma"),
            (r"trailing\\", "trailing"),
            ("#hash", "#hash"),
        ];
        for (value, want) in cases {
            let p = point("m", &[("k", value)], vec![("f", Field::Int(1))]);
            assert_eq!(
                line(&p),
                format!("m,k={want} f=1i 1700000000123456789\n"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn keys_and_measurements_escape_their_own_sets() {
        let p = Point {
            measurement: "my measure,x=y",
            tags: vec![("tag key,=", "v".to_owned())],
            fields: vec![("field key,=", Field::Float(1.5))],
            time_ns: 0,
        };
        // The measurement leaves `=` alone; keys escape it.
        assert_eq!(
            line(&p),
            "my\\ measure\\,x=y,tag\\ key\\,\\==v field\\ key\\,\\==1.5 0\n"
        );
    }

    #[test]
    fn string_fields_escape_quote_and_backslash() {
        let cases = [
            ("", r#""""#),
            (
                "plain text, with = and spaces",
                r#""plain text, with = and spaces""#,
            ),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"C:\path\", r#""C:\\path\\""#),
            ("two\nlines\r", r#""two\nlines\r""#),
            ("unicode é漢🌧", r#""unicode é漢🌧""#),
        ];
        for (value, want) in cases {
            let p = point("m", &[], vec![("s", Field::Str(value.to_owned()))]);
            assert_eq!(
                line(&p),
                format!("m s={want} 1700000000123456789\n"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn numbers_are_written_so_they_read_back_exactly() {
        let cases = [
            (Field::Float(0.0), "0"),
            (Field::Float(-0.0), "-0"),
            (Field::Float(1.0), "1"),
            (Field::Float(0.1 + 0.2), "0.30000000000000004"),
            (Field::Float(-12.5), "-12.5"),
            (Field::Float(1e6), "1000000"),
            (Field::Float(1e-6), "0.000001"),
            (Field::Float(1e21), "1000000000000000000000"),
            (Field::Int(0), "0i"),
            (Field::Int(-42), "-42i"),
            (Field::Int(i64::MAX), "9223372036854775807i"),
            (Field::Int(i64::MIN), "-9223372036854775808i"),
            (Field::Bool(true), "true"),
            (Field::Bool(false), "false"),
        ];
        for (value, want) in cases {
            let p = point("m", &[], vec![("v", value.clone())]);
            assert_eq!(
                line(&p),
                format!("m v={want} 1700000000123456789\n"),
                "{value:?}"
            );
        }
        for f in [f64::MAX, f64::MIN_POSITIVE, 5e-324, 1.0 / 3.0, 43.604_652_1] {
            let text = line(&point("m", &[], vec![("v", Field::Float(f))]));
            let digits = &text["m v=".len()..text.len() - " 1700000000123456789\n".len()];
            assert!(!digits.contains(['e', 'E']), "{digits}");
            assert_eq!(digits.parse::<f64>().ok(), Some(f), "{digits}");
        }
    }

    #[test]
    fn non_finite_floats_are_left_out_and_a_point_without_fields_is_not_written() {
        let p = point(
            "m",
            &[("k", "v")],
            vec![
                ("nan", Field::Float(f64::NAN)),
                ("ok", Field::Float(2.0)),
                ("inf", Field::Float(f64::INFINITY)),
                ("n", Field::Int(3)),
            ],
        );
        assert_eq!(line(&p), "m,k=v ok=2,n=3i 1700000000123456789\n");

        let mut out = "before\n".to_owned();
        let none = point(
            "m",
            &[("k", "v")],
            vec![("a", Field::Float(f64::NEG_INFINITY))],
        );
        assert!(!encode(&none, &mut out));
        assert!(!encode(&point("m", &[], vec![]), &mut out));
        assert_eq!(out, "before\n");
    }

    #[test]
    fn empty_tags_and_trailing_backslashes_are_left_out() {
        let p = point(
            "m",
            &[("a", ""), ("b", "x"), ("c", r"\\"), ("d", r"y\"), ("", "z")],
            vec![(r"f\", Field::Int(1)), (r"\", Field::Int(2))],
        );
        assert_eq!(line(&p), "m,b=x,d=y f=1i 1700000000123456789\n");
    }

    #[test]
    fn a_comment_measurement_is_not_written() {
        let mut out = String::new();
        assert!(!encode(
            &point("#m", &[], vec![("f", Field::Int(1))]),
            &mut out
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn encode_all_writes_one_line_per_point_and_skips_the_unwritable() {
        let points = [
            point("a", &[("t", "1")], vec![("f", Field::Float(1.5))]),
            point("b", &[], vec![("f", Field::Float(f64::NAN))]),
            point("c", &[], vec![("s", Field::Str("x".into()))]),
        ];
        assert_eq!(
            encode_all(&points),
            "a,t=1 f=1.5 1700000000123456789\nc s=\"x\" 1700000000123456789\n"
        );
        assert_eq!(encode_all(&[]), "");
    }

    #[test]
    fn negative_times_are_written_as_they_are() {
        let mut p = point("m", &[], vec![("f", Field::Bool(true))]);
        p.time_ns = -1;
        assert_eq!(line(&p), "m f=true -1\n");
    }
}
