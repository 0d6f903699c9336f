//! `garonne data fetch`: downloads the open-data files the simulator replays, family by
//! family (the weather, VélôToulouse's bikes, the Garonne).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use garonne_opendata::fetch::{
    DEFAULT_BASE_URL, Date, ESSENTIAL_FILES, Family, FetchOptions, family_missing, fetch,
};
use garonne_opendata::starter;

/// What `garonne data` does.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Download the open-data files into the data folder: the weather (Toulouse Métropole's
    /// station catalogue, neighbourhood polygons, weather readings), the bikes (VélôToulouse's
    /// stations) and the river (the Garonne's gauges, from Hub'Eau). Resumable; a second run
    /// skips what is already there.
    Fetch(FetchArgs),
}

/// The flags of `garonne data fetch`.
#[derive(Args)]
pub struct FetchArgs {
    /// Where to put the files.
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// First day of readings, YYYY-MM-DD (default: 7 days before --to).
    #[arg(long)]
    from: Option<Date>,
    /// Day after the last day of readings, YYYY-MM-DD (default: today, so the last 7 full days).
    /// The river's daily heights run from the start of their history to this day.
    #[arg(long)]
    to: Option<Date>,
    /// Only these families: weather, bikes, river, comma-separated or repeated (default: all).
    #[arg(long = "family", value_delimiter = ',')]
    families: Vec<Family>,
    /// Only these datasets (ids from data/datasets.toml, any family); repeat the flag for several.
    #[arg(long = "dataset")]
    datasets: Vec<String>,
    /// Download again even what is already there and unchanged.
    #[arg(long)]
    force: bool,
    /// Download nothing when the open data is there (a deployment's restart then needs no
    /// internet): without --family, when the station catalogue and the quartiers are there
    /// (else every family is downloaded); with --family, only the families named whose files
    /// are missing.
    #[arg(long, conflicts_with = "force")]
    if_missing: bool,
    /// Base URL of the Opendatasoft portal (the weather and the bikes).
    #[arg(long, env = "GARONNE_OPENDATA_URL", default_value = DEFAULT_BASE_URL)]
    base_url: String,
    /// Base URL of Hub'Eau (the river); default https://hubeau.eaufrance.fr.
    #[arg(long, env = "GARONNE_HUBEAU_URL")]
    hubeau_url: Option<String>,
}

/// The families asked for, in download order, each once; all when none is named.
fn families(asked: &[Family]) -> Vec<Family> {
    Family::ALL
        .into_iter()
        .filter(|f| asked.is_empty() || asked.contains(f))
        .collect()
}

/// For `--if-missing --family …`: the families with a file missing, and the names of those
/// complete.
fn missing_families(
    data_dir: &Path,
    families: &[Family],
) -> anyhow::Result<(Vec<Family>, Vec<String>)> {
    let mut missing = Vec::new();
    let mut present = Vec::new();
    for family in families {
        if family_missing(data_dir, *family)?.is_empty() {
            present.push(format!("{family}"));
        } else {
            missing.push(*family);
        }
    }
    Ok((missing, present))
}

/// Runs a `garonne data` command.
pub async fn run(command: DataCommand) -> anyhow::Result<()> {
    let DataCommand::Fetch(args) = command;
    let mut families = families(&args.families);
    if args.if_missing && args.families.is_empty() {
        // What a deployment needs to start decides, as before the bikes and the river.
        if family_missing(&args.data_dir, Family::Weather)?.is_empty() {
            println!(
                "the open data is already in {} ({}): nothing downloaded (--if-missing)",
                args.data_dir.display(),
                ESSENTIAL_FILES.join(", ")
            );
            return Ok(());
        }
    } else if args.if_missing {
        let (missing, present) = missing_families(&args.data_dir, &families)?;
        if missing.is_empty() {
            println!(
                "the open data is already in {} ({}): nothing downloaded (--if-missing)",
                args.data_dir.display(),
                present.join(", ")
            );
            return Ok(());
        }
        if !present.is_empty() {
            println!(
                "already in {}, not downloaded (--if-missing): {}",
                args.data_dir.display(),
                present.join(", ")
            );
        }
        families = missing;
    }
    let mut options = FetchOptions::new(args.data_dir.clone());
    options.from = args.from;
    options.to = args.to;
    options.families = families;
    options.datasets = (!args.datasets.is_empty()).then_some(args.datasets);
    options.force = args.force;
    options.base_url = args.base_url;
    options.hubeau_url = args.hubeau_url;
    let summary = fetch(&options).await?;
    println!("{summary}");
    if !summary.is_complete() {
        anyhow::bail!(
            "some datasets could not be downloaded (listed above); run the command again to retry them"
        );
    }
    // The full weather data is there: what only the starter dataset brought goes.
    let weather = summary.credits.iter().any(|(f, _)| *f == Family::Weather);
    if weather && starter::retire(&args.data_dir)? {
        println!(
            "the starter dataset's readings and note are removed from {}: the full data replaces them",
            args.data_dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fetch: FetchArgs,
    }

    fn parse(args: &[&str]) -> Result<FetchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("fetch").chain(args.iter().copied())).map(|c| c.fetch)
    }

    #[test]
    fn data_fetch_families_default_to_all_and_keep_download_order() {
        assert_eq!(families(&parse(&[]).unwrap().families), Family::ALL);
        let args = parse(&["--family", "river,weather", "--family", "river"]).unwrap();
        assert_eq!(families(&args.families), [Family::Weather, Family::River]);
        let error = parse(&["--family", "boats"]).err().unwrap().to_string();
        assert!(
            error.contains("unknown family \"boats\": expected weather, bikes or river"),
            "{error}"
        );
    }

    #[test]
    fn data_fetch_if_missing_asks_only_for_incomplete_families() {
        let dir = tempfile::tempdir().unwrap();
        let (missing, present) = missing_families(dir.path(), &Family::ALL).unwrap();
        assert_eq!(missing, Family::ALL);
        assert!(present.is_empty());
        for file in ESSENTIAL_FILES.into_iter().chain([
            "garonne-hydrometric-stations.geojson",
            "garonne-toulouse-daily-max-water-height.csv",
        ]) {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        let (missing, present) = missing_families(dir.path(), &Family::ALL).unwrap();
        assert_eq!(missing, [Family::Bikes]);
        assert_eq!(present, ["weather", "river"]);
    }
}
