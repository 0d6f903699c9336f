//! Progress bars on stderr, one per download (indicatif).
//!
//! A download whose size is known gets a byte bar; one without `Content-Length` (the portal's
//! exports are usually chunked) gets a spinner with the bytes so far. Nothing is drawn when
//! progress is off or stderr is not a terminal, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A download of known size: name, bar, bytes so far and total, speed.
const BAR_TEMPLATE: &str = "{msg:48!} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}";

/// A download of unknown size: spinner, name, bytes so far, speed.
const SPINNER_TEMPLATE: &str = "{spinner} {msg:48!} {bytes:>10} {bytes_per_sec:>12}";

/// The set of bars of one `fetch` run.
pub(crate) struct Bars {
    multi: Option<MultiProgress>,
}

/// The bar of one download; every call is a no-op when progress is hidden.
pub(crate) struct Bar {
    bar: ProgressBar,
    multi: Option<MultiProgress>,
    /// Whether the bar is on screen. Design: a bar appears only once its response has come,
    /// so a dataset that fails at once (404) prints its one line and never an empty bar.
    shown: AtomicBool,
    id: String,
}

impl Bars {
    /// Bars drawn on stderr when `enabled` and stderr is a terminal; hidden otherwise.
    pub(crate) fn new(enabled: bool) -> Bars {
        let shown = enabled && std::io::stderr().is_terminal();
        Bars {
            multi: shown.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A new bar for dataset `id`, not started yet.
    pub(crate) fn bar(&self, id: &str) -> Bar {
        Bar {
            bar: ProgressBar::hidden().with_message(id.to_owned()),
            multi: self.multi.clone(),
            shown: AtomicBool::new(false),
            id: id.to_owned(),
        }
    }
}

impl Bar {
    /// (Re)starts the bar at `position` bytes, out of `total` when known.
    pub(crate) fn start(&self, position: u64, total: Option<u64>) {
        let Some(multi) = &self.multi else { return };
        let (template, fallback) = match total {
            Some(total) => {
                self.bar.set_length(total);
                (BAR_TEMPLATE, ProgressStyle::default_bar())
            }
            None => {
                self.bar.unset_length();
                (SPINNER_TEMPLATE, ProgressStyle::default_spinner())
            }
        };
        let style = ProgressStyle::with_template(template)
            .map(|s| s.progress_chars("=> "))
            .unwrap_or(fallback);
        self.bar.set_style(style);
        self.bar.set_position(position);
        if !self.shown.swap(true, Ordering::Relaxed) {
            multi.add(self.bar.clone());
            self.bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    /// Counts `bytes` more.
    pub(crate) fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// Removes the bar and prints one line for the finished download.
    pub(crate) fn done(&self, bytes: u64) {
        self.finish(&format!("✓ {} ({})", self.id, HumanBytes(bytes)));
    }

    /// Removes the bar and prints why the download failed (`why` names the dataset).
    pub(crate) fn failed(&self, why: &str) {
        self.finish(&format!("✗ {why}"));
    }

    fn finish(&self, line: &str) {
        self.bar.finish_and_clear();
        if let Some(multi) = &self.multi {
            if self.shown.load(Ordering::Relaxed) {
                multi.remove(&self.bar);
            }
            // Design: a failed print only loses a decoration; the summary says it all again.
            let _ = multi.println(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid() {
        for template in [BAR_TEMPLATE, SPINNER_TEMPLATE] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn hidden_bars_accept_every_call() {
        let bars = Bars::new(false);
        let bar = bars.bar("communes");
        bar.start(10, Some(100));
        bar.advance(90);
        bar.start(0, None);
        bar.done(100);
        bar.failed("gone");
    }
}
