//! `garonne data fetch`: downloads the open-data files the simulator replays.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use garonne_opendata::fetch::{
    DEFAULT_BASE_URL, Date, ESSENTIAL_FILES, FetchOptions, essential_missing, fetch,
};
use garonne_opendata::starter;

/// What `garonne data` does.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Download the Toulouse Métropole open-data files (station catalogue, neighbourhood
    /// polygons, weather readings) into the data folder. Resumable; a second run skips what is
    /// already there.
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
    #[arg(long)]
    to: Option<Date>,
    /// Only these datasets (ids from data/datasets.toml); repeat the flag for several.
    #[arg(long = "dataset")]
    datasets: Vec<String>,
    /// Download again even what is already there and unchanged.
    #[arg(long)]
    force: bool,
    /// Download nothing when the station catalogue and the quartiers are already there (a
    /// deployment's restart then needs no internet).
    #[arg(long, conflicts_with = "force")]
    if_missing: bool,
    /// Base URL of the Opendatasoft portal.
    #[arg(long, env = "GARONNE_OPENDATA_URL", default_value = DEFAULT_BASE_URL)]
    base_url: String,
}

/// Runs a `garonne data` command.
pub async fn run(command: DataCommand) -> anyhow::Result<()> {
    let DataCommand::Fetch(args) = command;
    if args.if_missing && essential_missing(&args.data_dir).is_empty() {
        println!(
            "the open data is already in {} ({}): nothing downloaded (--if-missing)",
            args.data_dir.display(),
            ESSENTIAL_FILES.join(", ")
        );
        return Ok(());
    }
    let mut options = FetchOptions::new(args.data_dir.clone());
    options.from = args.from;
    options.to = args.to;
    options.datasets = (!args.datasets.is_empty()).then_some(args.datasets);
    options.force = args.force;
    options.base_url = args.base_url;
    let summary = fetch(&options).await?;
    println!("{summary}");
    if !summary.is_complete() {
        anyhow::bail!(
            "some datasets could not be downloaded (listed above); run the command again to retry them"
        );
    }
    // The full data is there: what only the starter dataset brought goes.
    if starter::retire(&args.data_dir)? {
        println!(
            "the starter dataset's readings and note are removed from {}: the full data replaces them",
            args.data_dir.display()
        );
    }
    Ok(())
}
