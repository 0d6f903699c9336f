//! What the service commands (`garonne realtime`, `historian`, `serve`) share: the
//! configuration read one way (the file given, or the defaults with the service's files in the
//! data folder), `--print-default-config`, and the MQTT flags over it.

use std::path::{Path, PathBuf};

use clap::Args;
use garonne_service::config::ServiceConfig;
use garonne_service::data_dir::DataDir;

use crate::mqtt_args::MqttArgs;

/// The flags every service command has.
#[derive(Args)]
pub struct ServiceArgs {
    /// Print the default configuration (a commented file) and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Data folder: the default home of the service's files (polygons, snapshot, spool,
    /// embedded store; see --print-default-config).
    #[arg(long, env = "GARONNE_DATA_DIR", default_value = DataDir::DEFAULT)]
    data_dir: PathBuf,
    #[command(flatten)]
    mqtt: MqttArgs,
}

impl ServiceArgs {
    /// The data folder (`--data-dir`, `GARONNE_DATA_DIR`): its `profiles/` is the default
    /// profiles folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The configuration in `file`, or the defaults with the service's files in the data
    /// folder, with the MQTT flags and login over its `[mqtt]` section; `None` once
    /// `--print-default-config` has printed the defaults.
    pub fn read<C: ServiceConfig>(self, file: Option<&Path>) -> anyhow::Result<Option<C>> {
        if self.print_default_config {
            print!("{}", C::default_toml());
            return Ok(None);
        }
        let mut config = match file {
            Some(path) => C::load(path)?,
            None => C::in_folder(&DataDir::new(self.data_dir)),
        };
        self.mqtt.apply(config.as_mut())?;
        Ok(Some(config))
    }
}

/// Writes a flag's value, when it is given, over the configuration's.
pub fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}
