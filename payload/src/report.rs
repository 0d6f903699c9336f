//! An error with its whole `#[source]` chain on one line, for log lines and summaries.
//!
//! Design: thiserror's `Display` shows one level only, and `{:#}` means nothing to it, so
//! `error = %format!("{e:#}")` dropped every cause (the spool's I/O error never reached the log).
//! [`Chain`] walks `source()` instead: `warn!(error = %Chain(&e), "...")`. It lives here, in the
//! crate every other Garonne crate depends on, so that the service host, the stores and the
//! open-data fetcher print errors the same way.

use std::fmt;

/// Displays an error followed by each of its sources: `outer: middle: root cause`.
///
/// A cause whose text is already shown is left out: some errors (reqwest's) repeat their
/// source's text in their own.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown.push_str(": ");
                shown.push_str(&text);
            }
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write to the spool {path}")]
    struct SpoolError {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn the_whole_chain_is_shown() {
        let error = SpoolError {
            path: "/var/spool",
            source: std::io::Error::other("no space left on device"),
        };
        assert_eq!(
            Chain(&error).to_string(),
            "cannot write to the spool /var/spool: no space left on device"
        );
        // What the old log lines printed: the cause was lost.
        assert_eq!(format!("{error:#}"), "cannot write to the spool /var/spool");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("request failed: connection refused")]
    struct Repeating(#[source] std::io::Error);

    #[test]
    fn a_cause_already_shown_is_not_repeated() {
        let error = Repeating(std::io::Error::other("connection refused"));
        assert_eq!(
            Chain(&error).to_string(),
            "request failed: connection refused"
        );
    }
}
