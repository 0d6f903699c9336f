//! `garonne pi`: the Raspberry Pi sensor agent.

use std::path::PathBuf;

use clap::Args;
use garonne_agent::{Hardware, PiConfig};

/// The flags of `garonne pi`.
#[derive(Args)]
pub struct PiArgs {
    /// The agent's configuration (see deploy/pi/pi.toml).
    #[arg(
        long,
        env = "GARONNE_PI_CONFIG",
        default_value = "/etc/garonne/pi.toml"
    )]
    config: PathBuf,
    /// Run on simulated sensors (same agent, same drivers) instead of the Pi's I2C, GPIO and
    /// 1-wire: for trying it on any computer.
    #[arg(long)]
    fake_hardware: bool,
    /// Seed of the simulated sensors (with --fake-hardware).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs the agent until Ctrl-C or SIGTERM.
pub async fn run(args: PiArgs) -> anyhow::Result<()> {
    let mut config = PiConfig::load(&args.config)?;
    config.credentials = crate::mqtt_args::credentials_from_env()?;
    let hardware = if args.fake_hardware {
        Hardware::Fake { seed: args.seed }
    } else {
        Hardware::Real
    };
    let shutdown = crate::shutdown_on_signal();
    garonne_agent::run(config, hardware, shutdown).await?;
    Ok(())
}
