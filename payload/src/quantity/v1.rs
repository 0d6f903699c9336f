//! The ten weather quantities as Garonne 1.0 defined them in code, before quantities became
//! data (issue 14): kept, frozen, so the tests can prove that the built-in `weather` profile
//! still accepts and converts exactly what 1.0 did.

use super::{Quantity, SenmlUnit};

/// Everything the spec says about one quantity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuantitySpec {
    /// The quantity.
    pub quantity: Quantity,
    /// The name on the wire (the key in `quantities`).
    pub name: &'static str,
    /// The unit symbol of the wire value; empty for dimensionless values.
    pub unit: &'static str,
    /// Smallest accepted value.
    pub min: f64,
    /// Whether `min` itself is refused (relative humidity: exactly 0 is a sentinel).
    pub min_exclusive: bool,
    /// Largest accepted value (inclusive).
    pub max: f64,
    /// Whether only whole numbers are accepted.
    pub integer: bool,
    /// The FIWARE `WeatherObserved` attribute of the same name and unit, if FIWARE has one.
    pub fiware: Option<&'static str>,
    /// Why the range is what it is: the spec prints this.
    pub range_reason: &'static str,
    /// SenML units accepted for this quantity, the Garonne unit first.
    pub senml_units: &'static [SenmlUnit],
    /// One-line English description.
    pub description: &'static str,
}

const fn unit(symbol: &'static str, mul: f64, div: f64, offset: f64) -> SenmlUnit {
    SenmlUnit {
        symbol,
        mul,
        div,
        offset,
    }
}

// Design: ranges are physical limits for outdoor sensors in a city of south-west France. They are
// wide enough for any real weather and narrow enough to refuse the Toulouse stations' "no data"
// sentinels (-50 °C, 0 % humidity, 90000 Pa) and the usual unit mistakes (Pa for hPa, % for 0–1).
pub(crate) const SPECS: [QuantitySpec; 10] = [
    QuantitySpec {
        quantity: Quantity::Temperature,
        name: "temperature",
        unit: "°C",
        min: -40.0,
        min_exclusive: false,
        max: 60.0,
        integer: false,
        fiware: Some("temperature"),
        range_reason: "wider than any weather in south-west France (the world's record high is \
                       56.7 °C); the Toulouse stations' -50 °C sentinel lies outside",
        senml_units: &[unit("Cel", 1.0, 1.0, 0.0), unit("K", 1.0, 1.0, -273.15)],
        description: "air temperature",
    },
    QuantitySpec {
        quantity: Quantity::RelativeHumidity,
        name: "relativeHumidity",
        unit: "",
        min: 0.0,
        min_exclusive: true,
        max: 1.0,
        integer: false,
        fiware: Some("relativeHumidity"),
        range_reason: "a fraction, as in FIWARE; outdoor air is never perfectly dry, so exactly 0 \
                       (the stations' sentinel) is refused",
        senml_units: &[unit("/", 1.0, 1.0, 0.0), unit("%RH", 1.0, 100.0, 0.0)],
        description: "relative humidity as a fraction",
    },
    QuantitySpec {
        quantity: Quantity::AtmosphericPressure,
        name: "atmosphericPressure",
        unit: "hPa",
        min: 920.0,
        max: 1085.0,
        min_exclusive: false,
        integer: false,
        fiware: Some("atmosphericPressure"),
        range_reason: "pressure at the sensor, for altitudes up to about 300 m (Toulouse \
                       Métropole: 115–300 m) even in a deep storm; the world's highest sea-level \
                       pressure is 1083.8 hPa; the stations' 900 hPa (90000 Pa) sentinel lies outside",
        senml_units: &[unit("hPa", 1.0, 1.0, 0.0), unit("Pa", 1.0, 100.0, 0.0)],
        description: "atmospheric pressure at the sensor",
    },
    QuantitySpec {
        quantity: Quantity::Precipitation,
        name: "precipitation",
        unit: "mm",
        min: 0.0,
        min_exclusive: false,
        max: 300.0,
        integer: false,
        fiware: Some("precipitation"),
        range_reason: "since the previous reading; the world record for rain in one hour is about 305 mm",
        senml_units: &[unit("mm", 1.0, 1.0, 0.0), unit("m", 1000.0, 1.0, 0.0)],
        description: "precipitation since the previous reading",
    },
    QuantitySpec {
        quantity: Quantity::WindSpeed,
        name: "windSpeed",
        unit: "m/s",
        min: 0.0,
        min_exclusive: false,
        max: 75.0,
        integer: false,
        fiware: Some("windSpeed"),
        range_reason: "a mean wind; 75 m/s is beyond the strongest hurricanes' sustained winds",
        senml_units: &[unit("m/s", 1.0, 1.0, 0.0), unit("km/h", 1.0, 3.6, 0.0)],
        description: "mean wind speed",
    },
    QuantitySpec {
        quantity: Quantity::GustSpeed,
        name: "gustSpeed",
        unit: "m/s",
        min: 0.0,
        min_exclusive: false,
        max: 115.0,
        integer: false,
        fiware: None,
        range_reason: "the world's strongest measured gust is 113 m/s",
        senml_units: &[unit("m/s", 1.0, 1.0, 0.0), unit("km/h", 1.0, 3.6, 0.0)],
        description: "strongest gust since the previous reading",
    },
    QuantitySpec {
        quantity: Quantity::WindDirection,
        name: "windDirection",
        unit: "°",
        min: 0.0,
        min_exclusive: false,
        max: 360.0,
        integer: false,
        fiware: Some("windDirection"),
        range_reason: "degrees clockwise from north, where the wind comes from",
        senml_units: &[unit("rad", 180.0, std::f64::consts::PI, 0.0)],
        description: "direction the wind comes from",
    },
    QuantitySpec {
        quantity: Quantity::Illuminance,
        name: "illuminance",
        unit: "lx",
        min: 0.0,
        min_exclusive: false,
        max: 200_000.0,
        integer: false,
        fiware: Some("illuminance"),
        range_reason: "direct sunlight is about 100,000 lx",
        senml_units: &[unit("lx", 1.0, 1.0, 0.0)],
        description: "illuminance",
    },
    QuantitySpec {
        quantity: Quantity::StreamGauge,
        name: "streamGauge",
        unit: "m",
        min: -10.0,
        min_exclusive: false,
        max: 30.0,
        integer: false,
        fiware: Some("streamGauge"),
        range_reason: "height above the gauge's zero; the Pont-Neuf series at Toulouse runs from \
                       -0.8 m (1884) to 8.32 m (the 1875 flood)",
        senml_units: &[unit("m", 1.0, 1.0, 0.0), unit("mm", 1.0, 1000.0, 0.0)],
        description: "river water level",
    },
    QuantitySpec {
        quantity: Quantity::Motion,
        name: "motion",
        unit: "",
        min: 0.0,
        min_exclusive: false,
        max: 1.0,
        integer: true,
        fiware: None,
        range_reason: "1 when motion was detected since the previous reading, else 0",
        senml_units: &[],
        description: "motion detected (PIR sensor)",
    },
];
