//! The neighbourhood flags `garonne realtime` and `garonne serve` share: realtime places
//! readings in the polygons that the server draws, so both read the same file the same way.

use std::path::PathBuf;

use clap::Args;

use crate::service_args::set;

/// The neighbourhood flags. Each one overrides the configuration file.
#[derive(Args)]
pub struct NeighbourhoodArgs {
    /// Neighbourhood polygons (GeoJSON); default: quartiers-de-democratie-locale.geojson in
    /// the data folder.
    #[arg(long)]
    neighbourhoods: Option<PathBuf>,
    /// Feature property holding a neighbourhood's id (detected for the Toulouse files).
    #[arg(long)]
    id_property: Option<String>,
    /// Feature property holding a neighbourhood's name (detected for the Toulouse files).
    #[arg(long)]
    name_property: Option<String>,
}

impl NeighbourhoodArgs {
    /// Writes the flags given over a configuration's `neighbourhoods`, `id_property` and
    /// `name_property`.
    pub fn apply(
        self,
        neighbourhoods: &mut PathBuf,
        id_property: &mut Option<String>,
        name_property: &mut Option<String>,
    ) {
        set(neighbourhoods, self.neighbourhoods);
        set(id_property, self.id_property.map(Some));
        set(name_property, self.name_property.map(Some));
    }
}
