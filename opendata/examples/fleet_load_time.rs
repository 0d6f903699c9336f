//! Load time and peak memory of one fleet on a data folder, for BENCHMARKS.md:
//!
//! ```sh
//! cargo run --release -p garonne-opendata --example fleet_load_time -- ../shared/data/toulouse bikes
//! ```
//!
//! The fleet is `weather` (the weather loaders) or a shipped description (`bikes`, `river`).
//! It is loaded `runs` times (default 10); the median and the fastest are printed, with the
//! process's peak resident memory (Linux `VmHWM`). Run it once per fleet: the peak is the
//! process's.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: fleet_load_time DIR FLEET [RUNS]";
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or(USAGE)?);
    let fleet = args.next().ok_or(USAGE)?;
    let runs: usize = args.next().map_or(Ok(10), |r| r.parse())?;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut summary = String::new();
    for _ in 0..runs {
        let started = Instant::now();
        if fleet == "weather" {
            let data = garonne_opendata::load_dir(&dir)?;
            summary = format!(
                "{} stations, {} observations",
                data.stations.len(),
                data.observations.len()
            );
        } else {
            let description = garonne_opendata::fleet::builtin()
                .into_iter()
                .find(|d| d.name == fleet)
                .ok_or("no such fleet: weather, bikes or river")?;
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
