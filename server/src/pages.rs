//! The pages, `/` (the map), `/validate` (the payload validator) and `/telemetry`: minimal HTML shells
//! (askama, `templates/page.html`) that load the front-end bundle from `/static/` (`app.js` and
//! `app.css`, or `validate.js` and `validate.css`), give it `<div id="garonne-app">` to fill,
//! and hand it the configuration as JSON in `<script type="application/json"
//! id="garonne-config">`: the `/api/config` object plus `lang` and `page`, so the bundle need
//! not fetch `/api/config`. `<html lang>` is the language. When the bundle is not built, the
//! page says so and how to build it.
//!
//! The language is `?lang=fr|en`, else the browser's `Accept-Language`, else French (the
//! Toulouse course comes first).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::app::App;

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Français.
    Fr,
    /// English.
    En,
}

impl Lang {
    /// The language tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// The page language: `lang` from the query if it is `fr` or `en`, else the preferred of the
/// two in `accept_language` (by q-value, then order), else French.
pub fn negotiate(lang: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = lang.and_then(Lang::from_tag) {
        return lang;
    }
    let mut best: Option<(f32, Lang)> = None;
    for item in accept_language.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let Some(lang) = parts.next().and_then(Lang::from_tag) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::Fr, |(_, lang)| lang)
}

/// The words of a page in one language.
pub struct Strings {
    /// The page title.
    pub title: &'static str,
    /// Shown without JavaScript.
    pub noscript: &'static str,
    /// Heading of the "not built" message.
    pub not_built_title: &'static str,
    /// What is missing (followed by the folder).
    pub not_built_text: &'static str,
    /// How to fix it (followed by the command).
    pub not_built_fix: &'static str,
    /// That the API works meanwhile (followed by the OpenAPI link).
    pub not_built_api: &'static str,
}

/// Which page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/`.
    Map,
    /// `/validate`.
    Validate,
    /// `/telemetry`.
    Telemetry,
}

impl Page {
    fn name(self) -> &'static str {
        match self {
            Page::Map => "map",
            Page::Validate => "validate",
            Page::Telemetry => "telemetry",
        }
    }

    /// The bundle file the page loads, under the static folder.
    pub fn script(self) -> &'static str {
        match self {
            Page::Map => "app.js",
            Page::Validate => "validate.js",
            Page::Telemetry => "telemetry.js",
        }
    }

    /// The stylesheet the page loads, under the static folder (the front-end builds one per
    /// page).
    pub fn stylesheet(self) -> &'static str {
        match self {
            Page::Map => "app.css",
            Page::Validate => "validate.css",
            Page::Telemetry => "telemetry.css",
        }
    }

    /// The page's words in `lang`.
    pub fn strings(self, lang: Lang) -> &'static Strings {
        match (self, lang) {
            (Page::Map, Lang::Fr) => &MAP_FR,
            (Page::Map, Lang::En) => &MAP_EN,
            (Page::Validate, Lang::Fr) => &VALIDATE_FR,
            (Page::Validate, Lang::En) => &VALIDATE_EN,
            (Page::Telemetry, Lang::Fr) => &TELEMETRY_FR,
            (Page::Telemetry, Lang::En) => &TELEMETRY_EN,
        }
    }
}

const NOT_BUILT_FR: (&str, &str, &str, &str) = (
    "L’interface n’est pas construite",
    "Le serveur fonctionne, mais les fichiers de l’interface (app.js, app.css, validate.js) \
     manquent dans",
    "Construisez-les une fois (Node.js et npm nécessaires), puis rechargez la page :",
    "En attendant, l’API répond ; elle est décrite dans",
);

const NOT_BUILT_EN: (&str, &str, &str, &str) = (
    "The interface is not built",
    "The server runs, but the interface files (app.js, app.css, validate.js) are missing from",
    "Build them once (Node.js and npm needed), then reload the page:",
    "Meanwhile the API answers; it is described in",
);

const fn strings(
    title: &'static str,
    noscript: &'static str,
    nb: (&'static str, &'static str, &'static str, &'static str),
) -> Strings {
    Strings {
        title,
        noscript,
        not_built_title: nb.0,
        not_built_text: nb.1,
        not_built_fix: nb.2,
        not_built_api: nb.3,
    }
}

static MAP_FR: Strings = strings(
    "Garonne — les quartiers en direct",
    "Cette page a besoin de JavaScript pour afficher la carte. Les données restent disponibles \
     dans l’API : /api/neighbourhoods et /api/sensors.",
    NOT_BUILT_FR,
);
static MAP_EN: Strings = strings(
    "Garonne — live neighbourhood map",
    "This page needs JavaScript to show the map. The data stays available from the API: \
     /api/neighbourhoods and /api/sensors.",
    NOT_BUILT_EN,
);
static VALIDATE_FR: Strings = strings(
    "Garonne — validateur de payload",
    "Cette page a besoin de JavaScript. Sans lui, validez un payload avec POST /api/validate \
     ou « garonne payload validate FICHIER ».",
    NOT_BUILT_FR,
);
static VALIDATE_EN: Strings = strings(
    "Garonne — payload validator",
    "This page needs JavaScript. Without it, check a payload with POST /api/validate or \
     `garonne payload validate FILE`.",
    NOT_BUILT_EN,
);

static TELEMETRY_FR: Strings = strings(
    "Garonne — télémétrie en direct",
    "Cette page a besoin de JavaScript pour tracer les courbes. Les données restent disponibles \
     dans l’API : /api/telemetry/devices et /api/telemetry/stream.",
    NOT_BUILT_FR,
);
static TELEMETRY_EN: Strings = strings(
    "Garonne — live telemetry",
    "This page needs JavaScript to draw the charts. The data stays available from the API: \
     /api/telemetry/devices and /api/telemetry/stream.",
    NOT_BUILT_EN,
);

/// The page shell.
#[derive(Template)]
#[template(path = "page.html")]
struct Shell<'a> {
    lang: &'static str,
    page: &'static str,
    t: &'static Strings,
    config_json: &'a str,
    built: bool,
    static_dir: String,
    script: String,
    stylesheet: String,
}

/// JSON made safe inside a `<script>` element: no `</script>`, no `<!--`, and the line
/// separators old JavaScript parsers choke on, all as `\u` escapes (still the same JSON).
pub fn script_safe_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Renders `page` for the request's language.
pub fn render(app: &App, page: Page, lang: Lang) -> Response {
    let mut config = app.ui();
    if let Some(object) = config.as_object_mut() {
        object.insert("lang".into(), lang.as_str().into());
        object.insert("page".into(), page.name().into());
    }
    let config_json = script_safe_json(&config);
    let shell = Shell {
        lang: lang.as_str(),
        page: page.name(),
        t: page.strings(lang),
        config_json: &config_json,
        built: app.static_dir().join(page.script()).is_file(),
        static_dir: app.static_dir().display().to_string(),
        script: format!("/static/{}", page.script()),
        stylesheet: format!("/static/{}", page.stylesheet()),
    };
    match shell.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_LANGUAGE,
                HeaderValue::from_static(lang.as_str()),
            );
            headers.insert(header::VARY, HeaderValue::from_static("accept-language"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            tracing::error!(%error, page = page.name(), "cannot render the page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page cannot be rendered; see the server log\n",
            )
                .into_response()
        }
    }
}

/// A page's language taken from its request, as [`negotiate`] says: a query that does not
/// parse counts as no `?lang=`.
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Lang, Infallible> {
        let params = Query::<HashMap<String, String>>::try_from_uri(&parts.uri).ok();
        let lang = params.as_ref().and_then(|q| q.get("lang"));
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Ok(negotiate(lang.map(String::as_str), accept))
    }
}

/// `GET /`.
pub async fn map(State(app): State<Arc<App>>, lang: Lang) -> Response {
    render(&app, Page::Map, lang)
}

/// `GET /validate`.
pub async fn validate(State(app): State<Arc<App>>, lang: Lang) -> Response {
    render(&app, Page::Validate, lang)
}

/// `GET /telemetry`: a device's channels live (the telemetry module).
pub async fn telemetry(State(app): State<Arc<App>>, lang: Lang) -> Response {
    render(&app, Page::Telemetry, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_query_then_the_browser_then_french() {
        let cases = [
            (Some("en"), Some("fr-FR"), Lang::En),
            (Some("fr"), Some("en"), Lang::Fr),
            (Some("de"), Some("en-GB,en;q=0.9"), Lang::En),
            (None, Some("en-US,en;q=0.9,fr;q=0.8"), Lang::En),
            (None, Some("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4"), Lang::Fr),
            (None, Some("fr;q=0.5, en;q=0.7"), Lang::En),
            (None, Some("en;q=0, fr;q=0.1"), Lang::Fr),
            (None, Some("de, es"), Lang::Fr),
            (None, Some("*"), Lang::Fr),
            (None, None, Lang::Fr),
        ];
        for (lang, accept, want) in cases {
            assert_eq!(negotiate(lang, accept), want, "{lang:?} {accept:?}");
        }
    }

    #[tokio::test]
    async fn a_page_reads_its_language_from_the_request() {
        let cases = [
            ("/?lang=en", Some("fr-FR"), Lang::En),
            ("/validate?lang=fr", Some("en"), Lang::Fr),
            // A query that does not parse counts as no ?lang=.
            ("/?lang=%FF%FE&x", Some("en-GB"), Lang::En),
            ("/", Some("en-US,en;q=0.9"), Lang::En),
            ("/", None, Lang::Fr),
        ];
        for (uri, accept, want) in cases {
            let mut request = axum::http::Request::builder().uri(uri);
            if let Some(accept) = accept {
                request = request.header(header::ACCEPT_LANGUAGE, accept);
            }
            let (mut parts, ()) = request.body(()).expect("request").into_parts();
            let got = Lang::from_request_parts(&mut parts, &()).await;
            assert_eq!(got, Ok(want), "{uri} {accept:?}");
        }
    }

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let value = serde_json::json!({"grafana_url": "</script><script>alert(1)</script>", "x": "a&b\u{2028}"});
        let safe = script_safe_json(&value);
        assert!(
            !safe.contains('<') && !safe.contains('>') && !safe.contains('&'),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
    }
}
