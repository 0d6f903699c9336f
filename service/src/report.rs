//! An error with its whole `#[source]` chain, for log lines.
//!
//! Design: thiserror's `Display` shows one level only, and `{:#}` means nothing to it, so
//! `error = %format!("{e:#}")` dropped every cause (the spool's I/O error never reached the log).
//! [`Chain`] walks `source()` instead: `warn!(error = %Chain(&e), "...")`.

use std::fmt;

/// Displays an error followed by each of its sources: `outer: middle: root cause`.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
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
}
