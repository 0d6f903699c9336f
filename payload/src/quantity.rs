//! The measured quantities a reading may carry: their names, units and physical ranges.
//!
//! This table is the single source of truth: validation, the JSON Schema and the spec's field
//! table are all derived from [`Quantity::ALL`]. Names and units follow FIWARE Smart Data Models
//! `WeatherObserved` wherever it has the quantity, so a reading exports to NGSI-LD unchanged.

use std::fmt;

/// One physical quantity that a sensor can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quantity {
    /// Air temperature, °C.
    Temperature,
    /// Relative humidity as a fraction, 0–1 (FIWARE's unit, not a percentage).
    RelativeHumidity,
    /// Atmospheric pressure at the station, hPa.
    AtmosphericPressure,
    /// Precipitation since the previous reading, mm (= litres per m²).
    Precipitation,
    /// Mean wind speed, m/s.
    WindSpeed,
    /// Maximum gust speed since the previous reading, m/s.
    GustSpeed,
    /// Direction the wind blows from, degrees clockwise from true north.
    WindDirection,
    /// Illuminance, lux.
    Illuminance,
    /// Water level at a river gauge, m above the gauge's zero.
    StreamGauge,
    /// Motion detected since the previous reading (PIR sensor): 0 or 1.
    Motion,
}

/// How a SenML unit converts to a quantity's Garonne unit: `garonne = senml * mul / div + offset`.
///
/// Design: a divisor as well as a multiplier, because `81 * 0.01` is not `0.81` in binary
/// floating point while `81 / 100` is: unit conversion must not invent digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenmlUnit {
    /// The SenML unit symbol (RFC 8428 registry or RFC 8798 secondary units).
    pub symbol: &'static str,
    /// Multiplier to the Garonne unit.
    pub mul: f64,
    /// Divisor to the Garonne unit.
    pub div: f64,
    /// Offset added after scaling.
    pub offset: f64,
}

impl SenmlUnit {
    /// Converts a value in this unit to the Garonne unit.
    pub fn to_garonne(&self, value: f64) -> f64 {
        value * self.mul / self.div + self.offset
    }

    /// Whether this unit is the Garonne unit itself.
    pub fn is_identity(&self) -> bool {
        self.mul == 1.0 && self.div == 1.0 && self.offset == 0.0
    }
}

/// Everything the spec says about one quantity.
#[derive(Debug, Clone, Copy)]
pub struct QuantitySpec {
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
const SPECS: [QuantitySpec; 10] = [
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

impl Quantity {
    /// Every quantity, in wire order (the order `quantities` is serialised in).
    pub const ALL: [Quantity; 10] = [
        Quantity::Temperature,
        Quantity::RelativeHumidity,
        Quantity::AtmosphericPressure,
        Quantity::Precipitation,
        Quantity::WindSpeed,
        Quantity::GustSpeed,
        Quantity::WindDirection,
        Quantity::Illuminance,
        Quantity::StreamGauge,
        Quantity::Motion,
    ];

    /// Number of quantities.
    pub const COUNT: usize = Self::ALL.len();

    /// Index of this quantity in [`Quantity::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The spec of this quantity.
    pub fn spec(self) -> &'static QuantitySpec {
        &SPECS[self.index()]
    }

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The unit symbol of the wire value; empty for dimensionless values.
    pub fn unit(self) -> &'static str {
        self.spec().unit
    }

    /// The unit as people read it: the symbol, or what a dimensionless value is.
    pub fn unit_label(self) -> &'static str {
        match self.spec() {
            s if !s.unit.is_empty() => s.unit,
            s if s.integer => "0 or 1",
            _ => "fraction 0–1",
        }
    }

    /// The accepted range as people read it, e.g. `-40 to 60 °C` or `0 (excluded) to 1`.
    pub fn range_label(self) -> String {
        let s = self.spec();
        if s.integer {
            return format!("{} or {}", s.min, s.max);
        }
        let excluded = if s.min_exclusive { " (excluded)" } else { "" };
        let unit = if s.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", s.unit)
        };
        format!("{}{excluded} to {}{unit}", s.min, s.max)
    }

    /// Looks a quantity up by its wire name (case-sensitive, as on the wire).
    pub fn from_name(name: &str) -> Option<Quantity> {
        // Performance: a match compiles to length and byte comparisons, with no table scan; it
        // runs for every value of every reading. `table_order_matches_enum_order` checks it
        // against the table.
        Some(match name {
            "temperature" => Quantity::Temperature,
            "relativeHumidity" => Quantity::RelativeHumidity,
            "atmosphericPressure" => Quantity::AtmosphericPressure,
            "precipitation" => Quantity::Precipitation,
            "windSpeed" => Quantity::WindSpeed,
            "gustSpeed" => Quantity::GustSpeed,
            "windDirection" => Quantity::WindDirection,
            "illuminance" => Quantity::Illuminance,
            "streamGauge" => Quantity::StreamGauge,
            "motion" => Quantity::Motion,
            _ => return None,
        })
    }

    /// Whether `value` lies in this quantity's physical range.
    pub fn in_range(self, value: f64) -> bool {
        let s = self.spec();
        let above_min = if s.min_exclusive {
            value > s.min
        } else {
            value >= s.min
        };
        above_min && value <= s.max && (!s.integer || value.fract() == 0.0)
    }

    /// A name that people often write for this quantity, to suggest the right one.
    pub(crate) fn from_alias(name: &str) -> Option<Quantity> {
        let lower = name.to_ascii_lowercase();
        let q = match lower.as_str() {
            "temperature" | "temp" | "t" | "temperature_en_degre_c" | "airtemperature" => {
                Quantity::Temperature
            }
            "relativehumidity" | "humidity" | "hum" | "rh" | "humidite" => {
                Quantity::RelativeHumidity
            }
            "atmosphericpressure" | "pressure" | "pression" | "press" | "p" => {
                Quantity::AtmosphericPressure
            }
            "precipitation" | "rain" | "pluie" | "rainfall" => Quantity::Precipitation,
            "windspeed" | "wind" | "wind_speed" | "force_moyenne_du_vecteur_vent" => {
                Quantity::WindSpeed
            }
            "gustspeed" | "gust" | "windgust" | "force_rafale_max" => Quantity::GustSpeed,
            "winddirection" | "wind_direction" | "direction" | "winddir" => Quantity::WindDirection,
            "illuminance" | "lux" | "light" | "luminosity" => Quantity::Illuminance,
            "streamgauge" | "waterlevel" | "water_level" | "hauteur" => Quantity::StreamGauge,
            "motion" | "pir" | "presence" | "movement" => Quantity::Motion,
            _ => return None,
        };
        Some(q)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_enum_order() {
        for (i, q) in Quantity::ALL.iter().enumerate() {
            assert_eq!(q.index(), i);
            assert_eq!(SPECS[i].quantity, *q);
            assert_eq!(Quantity::from_name(q.name()), Some(*q));
        }
    }

    #[test]
    fn toulouse_sentinels_are_out_of_range() {
        // Regression: the open-data "no data" values must never pass as weather.
        assert!(!Quantity::Temperature.in_range(-50.0));
        assert!(!Quantity::RelativeHumidity.in_range(0.0));
        assert!(!Quantity::AtmosphericPressure.in_range(900.0));
    }

    #[test]
    fn ranges_accept_ordinary_weather() {
        let cases = [
            (Quantity::Temperature, 12.4),
            (Quantity::RelativeHumidity, 0.83),
            (Quantity::AtmosphericPressure, 1012.0),
            (Quantity::Precipitation, 0.0),
            (Quantity::WindSpeed, 3.2),
            (Quantity::WindDirection, 360.0),
            (Quantity::Illuminance, 0.0),
            (Quantity::Motion, 1.0),
        ];
        for (q, v) in cases {
            assert!(q.in_range(v), "{q} {v}");
        }
        assert!(!Quantity::Motion.in_range(0.5));
        assert!(!Quantity::RelativeHumidity.in_range(83.0));
    }

    #[test]
    fn aliases_point_to_the_right_quantity() {
        assert_eq!(
            Quantity::from_alias("humidity"),
            Some(Quantity::RelativeHumidity)
        );
        assert_eq!(
            Quantity::from_alias("Pressure"),
            Some(Quantity::AtmosphericPressure)
        );
        assert_eq!(Quantity::from_alias("foo"), None);
    }

    #[test]
    fn senml_units_convert_to_garonne_units() {
        let pa = Quantity::AtmosphericPressure.spec().senml_units[1];
        assert_eq!(pa.symbol, "Pa");
        assert_eq!(pa.to_garonne(99_800.0), 998.0);
        let percent = Quantity::RelativeHumidity.spec().senml_units[1];
        assert_eq!(percent.to_garonne(81.0), 0.81);
        let kelvin = Quantity::Temperature.spec().senml_units[1];
        assert!((kelvin.to_garonne(283.15) - 10.0).abs() < 1e-9);
    }
}
