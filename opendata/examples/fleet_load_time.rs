//! Load time and peak memory of one fleet on a data folder, for BENCHMARKS.md:
//!
//! ```sh
//! cargo run --release -p garonne-opendata --example fleet_load_time -- ../shared/data/toulouse bikes
//! ```
//!
//! The fleet is a shipped description (`weather`, `bikes`, `river`), or `weather-loaders`: the
//! weather fleet through the weather loaders, the reference its description is checked
//! against. It is loaded `runs` times (default 10); the median and the fastest are printed,
//! with the process's peak resident memory (Linux `VmHWM`). Run it once per fleet: the peak is
//! the process's (`bench/weather-fleet-load.sh` runs the two weather paths alternately).
//!
//! `compare` in place of the fleet loads the weather fleet both ways once and prints what
//! [`garonne_opendata::fleet::compare_weather`] found: the same readings, or the differences.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: fleet_load_time DIR FLEET [RUNS]";
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or(USAGE)?);
    let fleet = args.next().ok_or(USAGE)?;
    let runs: usize = args.next().map_or(Ok(10), |r| r.parse())?;
    if fleet == "compare" {
        return compare(&dir);
    }
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut summary = String::new();
    for _ in 0..runs {
        let started = Instant::now();
        if fleet == "weather-loaders" {
            let data = garonne_opendata::load_dir(&dir)?;
            summary = format!(
                "{} stations, {} observations",
                data.stations.len(),
                data.observations.len()
            );
        } else {
            let description = shipped(&fleet)?;
            let data = garonne_opendata::fleet::load_fleet(&description, &dir)?;
            summary = format!(
                "{} sensors, {} observations\n{}",
                data.sensors.len(),
                data.observations.len(),
                data.report
            );
        }
        times.push(started.elapsed());
    }
    times.sort();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("{fleet}: {summary}");
    println!(
        "load time over {runs} runs: median {:.1} ms, fastest {:.1} ms; peak resident memory {peak}",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
    Ok(())
}

fn shipped(name: &str) -> Result<garonne_opendata::fleet::FleetDescription, &'static str> {
    garonne_opendata::fleet::builtin()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or("no such fleet: weather, weather-loaders, bikes or river")
}

/// Loads the weather fleet both ways and prints the comparison.
fn compare(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let old = garonne_opendata::load_dir(dir)?;
    let new = garonne_opendata::fleet::load_fleet(&shipped("weather")?, dir)?;
    let comparison = garonne_opendata::fleet::compare_weather(&old, &new);
    println!("weather loaders:\n{}", old.report);
    println!("weather description:\n{}", new.report);
    println!(
        "compared: {} sensors, {} observations, {} readings files; {} differences",
        comparison.sensors,
        comparison.observations,
        comparison.files,
        comparison.differences.len()
    );
    for difference in &comparison.differences {
        println!("  {difference}");
    }
    if comparison.differences.is_empty() {
        Ok(())
    } else {
        Err("the weather description does not give the weather loaders' readings".into())
    }
}
