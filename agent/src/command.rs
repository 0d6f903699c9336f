//! The `command` module: any program that measures. At each reading the agent runs it, and its
//! last line of standard output is one JSON object of quantities, e.g. `{"co2": 612}`. A
//! student's sensor that the agent has no driver for (an SCD41 through a Python library, a
//! serial device) joins the Pi's readings this way, with the agent's queue, status and checks.
//!
//! Design: the program runs on the module's blocking thread, like a driver's transfer. It is
//! bounded in time (`timeout_secs`, then killed) and in output ([`MAX_OUTPUT_BYTES`]); its
//! output is read on a thread of its own, so a program that leaves its output open (a child it
//! started in the background) cannot hang the agent either. Its values are checked like a chip's:
//! only the quantities `pi.toml` lists, each a number (the sample test then checks ranges).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use garonne_payload::Quantity;

use crate::modules::Sampler;

/// Most bytes of a program's standard output (and of its error output) read at one reading.
pub const MAX_OUTPUT_BYTES: u64 = 64 * 1024;

/// How often the agent looks whether the program has finished.
const POLL: Duration = Duration::from_millis(10);

/// Most characters of the program's error output quoted in a failure.
const QUOTED_CHARS: usize = 300;

/// A configured program and the quantities it prints.
pub(crate) struct CommandSampler {
    program: Vec<String>,
    quantities: Vec<Quantity>,
    timeout: Duration,
}

/// The probe of a `command` module: the program exists.
pub(crate) fn open(
    program: &[String],
    quantities: Vec<Quantity>,
    timeout: Duration,
) -> Result<Box<dyn Sampler>, String> {
    let Some(name) = program.first() else {
        return Err(
            "no program to run: give `program = [\"python3\", \"/home/pi/co2.py\"]`".into(),
        );
    };
    if !program_exists(name) {
        return Err(format!(
            "program \"{name}\" not found: give its full path, or install it (for a script, the \
             program is its interpreter: program = [\"python3\", \"/home/pi/co2.py\"])"
        ));
    }
    Ok(Box::new(CommandSampler {
        program: program.to_vec(),
        quantities,
        timeout,
    }))
}

impl Sampler for CommandSampler {
    fn sample(&mut self) -> Result<Vec<(Quantity, f64)>, String> {
        let stdout = run(&self.program, self.timeout)?;
        parse(&stdout, &self.quantities).map_err(|e| format!("`{}` {e}", self.program.join(" ")))
    }
}

/// Whether `name` is a file (a path) or a file in a folder of `PATH` (a command name).
fn program_exists(name: &str) -> bool {
    if name.contains('/') {
        return std::path::Path::new(name).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// Runs `program` with nothing on its input, and returns its standard output once it exits with
/// success within `timeout`.
fn run(program: &[String], timeout: Duration) -> Result<String, String> {
    let shown = program.join(" ");
    let mut child = Command::new(&program[0])
        .args(&program[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = wait_or_kill(&mut child, timeout).map_err(|e| match e {
        Waited::TimedOut => format!(
            "`{shown}` did not finish within {} s and was stopped: make it print one reading \
             and exit, or raise timeout_secs",
            timeout.as_secs_f64()
        ),
        Waited::Failed(e) => format!("cannot wait for `{shown}`: {e}"),
    })?;
    // Once the program has exited its output is complete, unless a child of its own keeps it
    // open: wait a little, never forever.
    let stdout = stdout.recv_timeout(Duration::from_secs(1)).map_err(|_| {
        format!("`{shown}` exited but its output stayed open (a program it started?)")
    })?;
    if !status.success() {
        let stderr = stderr
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let last: String = last.chars().take(QUOTED_CHARS).collect();
        return Err(format!("`{shown}` failed ({status}): {last}"));
    }
    Ok(stdout)
}

/// Why [`wait_or_kill`] gave up.
enum Waited {
    TimedOut,
    Failed(std::io::Error),
}

/// Waits for `child` to exit; after `timeout` kills it (and reaps it).
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus, Waited> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Waited::TimedOut);
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Waited::Failed(e));
            }
        }
    }
}

/// Reads a pipe to its end (at most [`MAX_OUTPUT_BYTES`]) on a thread; the text arrives on the
/// returned channel.
fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            let mut limited = pipe.take(MAX_OUTPUT_BYTES);
            let _ = limited.read_to_end(&mut bytes);
            // Drain the rest, so that the program is not blocked on a full pipe.
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// The values of the last non-empty line of `stdout`, a JSON object of `quantities`.
fn parse(stdout: &str, quantities: &[Quantity]) -> Result<Vec<(Quantity, f64)>, String> {
    let expected = || {
        let names: Vec<&str> = quantities.iter().map(|q| q.name()).collect();
        format!("{{\"{}\": …}}", names.join("\": …, \""))
    };
    let Some(line) = stdout.lines().rev().find(|l| !l.trim().is_empty()) else {
        return Err(format!(
            "printed nothing: its last line must be one JSON object, {}",
            expected()
        ));
    };
    let shown: String = line.chars().take(QUOTED_CHARS).collect();
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).map_err(|_| {
            format!(
                "printed `{shown}`, not a JSON object: its last line must be one, {}",
                expected()
            )
        })?;
    let mut values = Vec::with_capacity(object.len());
    for (name, value) in &object {
        let Some(&quantity) = quantities.iter().find(|q| q.name() == name) else {
            return Err(format!(
                "printed \"{name}\", which pi.toml does not list in this module's quantities: \
                 add it there, or stop printing it ({})",
                expected()
            ));
        };
        let Some(number) = value.as_f64() else {
            return Err(format!("printed {name} = {value}, not a number"));
        };
        values.push((quantity, number));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    fn sample(script: &str, timeout: Duration) -> Result<Vec<(Quantity, f64)>, String> {
        let quantities = vec![Quantity::Temperature, Quantity::RelativeHumidity];
        open(&sh(script), quantities, timeout)?.sample()
    }

    #[test]
    fn the_last_line_of_output_is_the_reading() {
        let values = sample(
            "echo 'reading the sensor...'; echo '{\"temperature\": 21.5, \"relativeHumidity\": 0.4}'",
            Duration::from_secs(5),
        )
        .expect("a reading");
        assert_eq!(
            values,
            vec![
                (Quantity::Temperature, 21.5),
                (Quantity::RelativeHumidity, 0.4)
            ]
        );
    }

    #[test]
    fn a_program_that_hangs_is_stopped_at_its_timeout() {
        let started = Instant::now();
        let error = sample("sleep 30", Duration::from_millis(300)).expect_err("a failure");
        assert!(error.contains("did not finish within 0.3 s"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not waited for"
        );
    }

    #[test]
    fn a_program_leaving_its_output_open_does_not_hang_the_agent() {
        let error = sample(
            "sleep 30 & echo '{\"temperature\": 1}'",
            Duration::from_secs(5),
        );
        let error = error.expect_err("a failure");
        assert!(error.contains("output stayed open"), "{error}");
    }

    #[test]
    fn bad_output_says_what_was_printed_and_what_is_wanted() {
        let cases = [
            ("true", "printed nothing"),
            ("echo 21.5", "printed `21.5`, not a JSON object"),
            (
                "echo '{\"co2\": 612}'",
                "printed \"co2\", which pi.toml does not list",
            ),
            (
                "echo '{\"temperature\": \"warm\"}'",
                "temperature = \"warm\", not a number",
            ),
            ("echo oops >&2; exit 3", "failed (exit status: 3): oops"),
        ];
        for (script, wanted) in cases {
            let error = sample(script, Duration::from_secs(5)).expect_err("a failure");
            assert!(error.contains(wanted), "{script}: {error}");
        }
    }

    #[test]
    fn a_missing_program_fails_the_probe_with_the_fix() {
        let error = open(
            &["no-such-program-garonne".into()],
            vec![Quantity::Temperature],
            Duration::from_secs(1),
        )
        .err()
        .expect("a failed probe");
        assert!(error.contains("not found: give its full path"), "{error}");
    }

    #[test]
    fn output_beyond_the_bound_is_not_kept() {
        // 1 MiB of output: read up to the bound, the rest drained, the program not blocked.
        let error = sample(
            "head -c 1048576 /dev/zero | tr '\\0' x",
            Duration::from_secs(5),
        )
        .expect_err("a failure");
        assert!(error.contains("not a JSON object"), "{error}");
    }
}
