//! `garonne export`: stored readings (a session, or a time range of chosen sensors and
//! quantities) to a CSV or Parquet file ([`garonne_store::export`]); and the range flags it
//! shares with `garonne replay` ([`RangeArgs`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use garonne_payload::Timestamp;
use garonne_store::config::StoreConfig;
use garonne_store::export::{ExportError, Format};
use garonne_store::readings::{Scan, StoredReadings};
use garonne_store::sessions::{DEFAULT_GAP_SECS, SessionQuery, sessions};

use crate::store_args::{StoreArgs, influx_credentials};

/// How far back `--session` looks when `--from` is not given: 7 days, the embedded store's raw
/// retention.
const SESSIONS_LOOKBACK_SECS: i64 = 7 * 86_400;

/// Which readings: a time range of sensors and quantities, or a session of one sensor.
#[derive(Args)]
pub struct RangeArgs {
    /// A sensor (repeat the flag for several; default: every sensor of the range; one with
    /// --session).
    #[arg(long = "sensor", value_name = "ID")]
    pub sensors: Vec<String>,
    /// A quantity (repeat the flag for several; default: every quantity).
    #[arg(long = "quantity", value_name = "NAME")]
    pub quantities: Vec<String>,
    /// Start of the range, RFC 3339 (e.g. 2026-12-01T14:00:00Z); with --session, where the
    /// sessions are looked for (default: 7 days before --to).
    #[arg(long, value_parser = parse_time, required_unless_present = "session")]
    pub from: Option<Timestamp>,
    /// End of the range (excluded), RFC 3339 (default with --session: now).
    #[arg(long, value_parser = parse_time, required_unless_present = "session")]
    pub to: Option<Timestamp>,
    /// A session of the sensor: 1 for the first in the range, 2 for the next..., or `last`
    /// (sessions as /api/sessions lists them).
    #[arg(long, value_name = "N|last", requires = "sensors")]
    pub session: Option<SessionIndex>,
    /// With --session: the longest gap within a session, in seconds.
    #[arg(long, default_value_t = DEFAULT_GAP_SECS)]
    pub gap: u32,
}

/// A session by its place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionIndex {
    /// The n-th, from 1.
    Nth(usize),
    /// The newest.
    Last,
}

impl std::str::FromStr for SessionIndex {
    type Err = String;

    fn from_str(text: &str) -> Result<SessionIndex, String> {
        match text {
            "last" => Ok(SessionIndex::Last),
            _ => match text.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(SessionIndex::Nth(n)),
                _ => Err(format!(
                    "\"{text}\" is not a session: give 1, 2... (oldest first) or last"
                )),
            },
        }
    }
}

/// Parses an RFC 3339 time, saying what is expected.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text)
        .map_err(|e| format!("{e}: give an RFC 3339 time in UTC such as 2026-12-01T14:00:00Z"))
}

impl RangeArgs {
    /// The scan the flags name; a session is looked up in `readings`.
    ///
    /// # Errors
    ///
    /// An empty range, a session that is not there (the text says what to do, in English and
    /// French), or a store that does not answer.
    pub async fn scan(self, readings: &StoredReadings) -> anyhow::Result<Scan> {
        let Some(index) = self.session else {
            let (Some(from), Some(to)) = (self.from, self.to) else {
                anyhow::bail!("give --from and --to, or --session");
            };
            let scan = Scan {
                sensors: self.sensors,
                quantities: self.quantities,
                from,
                to,
            };
            scan.check()?;
            return Ok(scan);
        };
        let [sensor] = self.sensors.as_slice() else {
            anyhow::bail!(
                "--session is a run of one sensor: give --sensor once\n\
                 conseil : --session est une session d'un capteur : donnez --sensor une fois"
            );
        };
        let to = self.to.unwrap_or_else(Timestamp::now);
        let from = self
            .from
            .unwrap_or_else(|| to.add_nanos(-SESSIONS_LOOKBACK_SECS * 1_000_000_000));
        let query = SessionQuery {
            sensor: sensor.clone(),
            from,
            to,
            gap_secs: self.gap,
        };
        let found = sessions(readings, &query).await?;
        let chosen = match index {
            SessionIndex::Last => found.last(),
            SessionIndex::Nth(n) => found.get(n - 1),
        };
        let Some(session) = chosen else {
            anyhow::bail!(
                "sensor {sensor} has {} sessions from {from} to {to} (gap {} s), not session \
                 {}: check the id, widen --from/--to, or list them with /api/sessions?sensor={sensor}\n\
                 conseil : le capteur {sensor} a {} sessions sur cette période ; vérifiez \
                 l'identifiant, élargissez --from/--to, ou listez-les avec /api/sessions",
                found.len(),
                self.gap,
                match index {
                    SessionIndex::Last => "last".to_owned(),
                    SessionIndex::Nth(n) => n.to_string(),
                },
                found.len()
            );
        };
        Ok(Scan {
            sensors: self.sensors,
            quantities: self.quantities,
            from: session.start,
            // The session's last sample is included: the range ends just after it.
            to: session.end.add_nanos(1),
        })
    }
}

/// A file format, on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// CSV: time (RFC 3339, ns), sensor, quantity, value, unit; one row per value.
    Csv,
    /// Apache Parquet (Snappy): the same columns, time as TIMESTAMP(NANOS, UTC).
    Parquet,
}

/// The flags of `garonne export`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    range: RangeArgs,
    /// The file format.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// The file to write (`-` for standard output); never over an existing file.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

/// Writes the export, then says how many rows it holds.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let store = args.store.apply(StoreConfig::default());
    let readings = StoredReadings::open(&store, influx_credentials()).await?;
    let scan = args.range.scan(&readings).await?;
    let format = match args.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Parquet => Format::Parquet,
    };
    let rows = if args.output == Path::new("-") {
        let out = std::io::BufWriter::new(std::io::stdout());
        export(&readings, &scan, format, out).await?
    } else {
        write_new(&readings, &scan, format, &args.output).await?
    };
    eprintln!(
        "{rows} values from {} to {} written to {}",
        scan.from,
        scan.to,
        args.output.display()
    );
    Ok(())
}

/// Writes the export to a new file at `path`, through `PATH.part` renamed at the end: a file at
/// `path` is always a whole export.
async fn write_new(
    readings: &StoredReadings,
    scan: &Scan,
    format: Format,
    path: &Path,
) -> anyhow::Result<u64> {
    if path.exists() {
        anyhow::bail!(
            "{} already exists: choose another file, or remove it first\n\
             conseil : {} existe déjà : choisissez un autre fichier, ou supprimez-le d'abord",
            path.display(),
            path.display()
        );
    }
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = std::fs::File::create(&part)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", part.display()))?;
    match export(readings, scan, format, std::io::BufWriter::new(file)).await {
        Ok(rows) => {
            std::fs::rename(&part, path)?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Writes every sample of `scan` to `out` in `format`; the rows written.
///
/// # Errors
///
/// [`ExportError`]; nothing to export also gets its French hint.
async fn export<W: Write + Send>(
    readings: &StoredReadings,
    scan: &Scan,
    format: Format,
    out: W,
) -> anyhow::Result<u64> {
    match garonne_store::export::export(readings, scan, format, out).await {
        Ok((rows, _)) => Ok(rows),
        Err(e @ ExportError::Empty { .. }) => Err(anyhow::anyhow!(
            "{e}\nconseil : aucune mesure stockée sur cette période : vérifiez les identifiants \
             (/api/sensors), les grandeurs et la période (le stockage intégré garde les valeurs \
             brutes 7 jours)"
        )),
        Err(e) => Err(e.into()),
    }
}
