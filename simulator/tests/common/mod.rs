//! What the simulator's integration tests share: the configuration of a run against a test
//! broker.

use std::path::PathBuf;
use std::time::Duration;

use garonne_service::config::MqttConfig;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::SimulateConfig;
use garonne_testkit::Mosquitto;
use rumqttc::QoS;

/// The simulator on `broker`, under `prefix` (its client id too), with the open data of
/// `data_dir`: `fleet` for `secs`, readings at QoS 1.
pub fn config(
    broker: &Mosquitto,
    prefix: &str,
    data_dir: PathBuf,
    fleet: FleetConfig,
    secs: u64,
) -> SimulateConfig {
    SimulateConfig {
        mqtt: MqttConfig::parse(&broker.url(), prefix, prefix).expect("[mqtt]"),
        data_dir,
        neighbourhoods: None,
        fleet,
        duration: Some(Duration::from_secs(secs)),
        qos: QoS::AtLeastOnce,
        progress: false,
    }
}
