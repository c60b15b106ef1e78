//! Unit conversion for the math server: a fixed table of units, each a factor (and for
//! temperatures an offset) to its dimension's SI unit. Symbols match case-sensitively (`Mb`
//! is a megabit, `MB` a megabyte, `mm` a millimetre); names match in any case, singular or
//! plural. Conversions across dimensions are refused by name.

use serde::Serialize;

/// What a unit measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Length,
    Mass,
    Time,
    Temperature,
    Area,
    Volume,
    Speed,
    Data,
    Energy,
    Power,
    Pressure,
    Angle,
    Frequency,
    Force,
}

impl Dimension {
    pub const ALL: [Dimension; 14] = [
        Dimension::Length,
        Dimension::Mass,
        Dimension::Time,
        Dimension::Temperature,
        Dimension::Area,
        Dimension::Volume,
        Dimension::Speed,
        Dimension::Data,
        Dimension::Energy,
        Dimension::Power,
        Dimension::Pressure,
        Dimension::Angle,
        Dimension::Frequency,
        Dimension::Force,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Length => "length",
            Dimension::Mass => "mass",
            Dimension::Time => "time",
            Dimension::Temperature => "temperature",
            Dimension::Area => "area",
            Dimension::Volume => "volume",
            Dimension::Speed => "speed",
            Dimension::Data => "data",
            Dimension::Energy => "energy",
            Dimension::Power => "power",
            Dimension::Pressure => "pressure",
            Dimension::Angle => "angle",
            Dimension::Frequency => "frequency",
            Dimension::Force => "force",
        }
    }
}

/// One unit: `value_in_si = (value + offset) * factor`.
pub struct Unit {
    /// The symbol and other case-sensitive spellings; the first is the one answers use.
    pub symbols: &'static [&'static str],
    /// Names, matched in any case; a trailing `s` or `es` (plural) is also accepted.
    pub names: &'static [&'static str],
    pub dimension: Dimension,
    factor: f64,
    offset: f64,
}

use Dimension::*;

const fn u(
    symbols: &'static [&'static str],
    names: &'static [&'static str],
    dimension: Dimension,
    factor: f64,
) -> Unit {
    Unit {
        symbols,
        names,
        dimension,
        factor,
        offset: 0.0,
    }
}

/// A temperature scale: its degree's size in kelvin and its zero's offset.
const fn affine(
    symbols: &'static [&'static str],
    names: &'static [&'static str],
    factor: f64,
    offset: f64,
) -> Unit {
    Unit {
        symbols,
        names,
        dimension: Temperature,
        factor,
        offset,
    }
}

#[rustfmt::skip]
pub static UNITS: &[Unit] = &[
    u(&["m"], &["metre", "meter"], Length, 1.0),
    u(&["km"], &["kilometre", "kilometer"], Length, 1e3),
    u(&["cm"], &["centimetre", "centimeter"], Length, 1e-2),
    u(&["mm"], &["millimetre", "millimeter"], Length, 1e-3),
    u(&["µm", "um"], &["micrometre", "micrometer", "micron"], Length, 1e-6),
    u(&["nm"], &["nanometre", "nanometer"], Length, 1e-9),
    u(&["in", "\""], &["inch"], Length, 0.0254),
    u(&["ft", "'"], &["foot", "feet"], Length, 0.3048),
    u(&["yd"], &["yard"], Length, 0.9144),
    u(&["mi"], &["mile"], Length, 1_609.344),
    u(&["nmi", "NM"], &["nautical mile"], Length, 1_852.0),
    u(&["au", "AU"], &["astronomical unit"], Length, 149_597_870_700.0),
    u(&["ly"], &["light-year", "light year", "lightyear"], Length, 9_460_730_472_580_800.0),
    u(&["pc"], &["parsec"], Length, 3.085_677_581_491_367e16),
    u(&["kg"], &["kilogram", "kilo"], Mass, 1.0),
    u(&["g"], &["gram", "gramme"], Mass, 1e-3),
    u(&["mg"], &["milligram"], Mass, 1e-6),
    u(&["µg", "ug", "mcg"], &["microgram"], Mass, 1e-9),
    u(&["t"], &["tonne", "metric ton"], Mass, 1e3),
    u(&["lb", "lbs"], &["pound"], Mass, 0.453_592_37),
    u(&["oz"], &["ounce"], Mass, 0.028_349_523_125),
    u(&["st"], &["stone"], Mass, 6.350_293_18),
    u(&["ton"], &["short ton", "us ton"], Mass, 907.184_74),
    u(&["LT"], &["long ton", "imperial ton"], Mass, 1_016.046_908_8),
    u(&["ct"], &["carat"], Mass, 2e-4),
    u(&["s", "sec"], &["second"], Time, 1.0),
    u(&["ms"], &["millisecond"], Time, 1e-3),
    u(&["µs", "us"], &["microsecond"], Time, 1e-6),
    u(&["ns"], &["nanosecond"], Time, 1e-9),
    u(&["min"], &["minute"], Time, 60.0),
    u(&["h", "hr"], &["hour"], Time, 3_600.0),
    u(&["d"], &["day"], Time, 86_400.0),
    u(&["wk"], &["week"], Time, 604_800.0),
    // The Julian year of astronomy: 365.25 days exactly.
    u(&["yr", "a"], &["year"], Time, 31_557_600.0),
    affine(&["K"], &["kelvin"], 1.0, 0.0),
    affine(&["°C", "degC", "C"], &["celsius", "degree celsius", "degrees celsius", "centigrade"], 1.0, 273.15),
    affine(&["°F", "degF", "F"], &["fahrenheit", "degree fahrenheit", "degrees fahrenheit"], 5.0 / 9.0, 459.67),
    affine(&["°R", "degR"], &["rankine"], 5.0 / 9.0, 0.0),
    u(&["m2", "m²", "sq m"], &["square metre", "square meter"], Area, 1.0),
    u(&["km2", "km²", "sq km"], &["square kilometre", "square kilometer"], Area, 1e6),
    u(&["cm2", "cm²"], &["square centimetre", "square centimeter"], Area, 1e-4),
    u(&["mm2", "mm²"], &["square millimetre", "square millimeter"], Area, 1e-6),
    u(&["ha"], &["hectare"], Area, 1e4),
    u(&["ac"], &["acre"], Area, 4_046.856_422_4),
    u(&["ft2", "ft²", "sq ft"], &["square foot", "square feet"], Area, 0.092_903_04),
    u(&["in2", "in²", "sq in"], &["square inch"], Area, 6.4516e-4),
    u(&["yd2", "yd²", "sq yd"], &["square yard"], Area, 0.836_127_36),
    u(&["mi2", "mi²", "sq mi"], &["square mile"], Area, 2_589_988.110_336),
    u(&["m3", "m³"], &["cubic metre", "cubic meter"], Volume, 1.0),
    u(&["L", "l"], &["litre", "liter"], Volume, 1e-3),
    u(&["dL", "dl"], &["decilitre", "deciliter"], Volume, 1e-4),
    u(&["cL", "cl"], &["centilitre", "centiliter"], Volume, 1e-5),
    u(&["mL", "ml"], &["millilitre", "milliliter"], Volume, 1e-6),
    u(&["cm3", "cm³", "cc"], &["cubic centimetre", "cubic centimeter"], Volume, 1e-6),
    u(&["ft3", "ft³"], &["cubic foot", "cubic feet"], Volume, 0.028_316_846_592),
    u(&["in3", "in³"], &["cubic inch"], Volume, 1.638_706_4e-5),
    u(&["gal"], &["gallon", "us gallon"], Volume, 3.785_411_784e-3),
    u(&["imp gal"], &["imperial gallon"], Volume, 4.546_09e-3),
    u(&["qt"], &["quart", "us quart"], Volume, 9.463_529_46e-4),
    u(&["pt"], &["pint", "us pint"], Volume, 4.731_764_73e-4),
    u(&["cup"], &["us cup"], Volume, 2.365_882_365e-4),
    u(&["fl oz", "floz"], &["fluid ounce", "us fluid ounce"], Volume, 2.957_352_956_25e-5),
    u(&["tbsp"], &["tablespoon"], Volume, 1.478_676_478_125e-5),
    u(&["tsp"], &["teaspoon"], Volume, 4.928_921_593_75e-6),
    u(&["bbl"], &["barrel", "oil barrel"], Volume, 0.158_987_294_928),
    u(&["m/s"], &[ "metre per second", "meter per second", "metres per second", "meters per second", ], Speed, 1.0),
    u(&["km/h", "kph", "kmh"], &[ "kilometre per hour", "kilometer per hour", "kilometres per hour", "kilometers per hour", ], Speed, 1.0 / 3.6),
    u(&["mph"], &["mile per hour", "miles per hour"], Speed, 0.447_04),
    u(&["kn", "kt"], &["knot"], Speed, 1_852.0 / 3_600.0),
    u(&["ft/s", "fps"], &["foot per second", "feet per second"], Speed, 0.3048),
    u(&["B"], &["byte"], Data, 1.0),
    u(&["bit", "b"], &["bit"], Data, 0.125),
    u(&["kB", "KB"], &["kilobyte"], Data, 1e3),
    u(&["MB"], &["megabyte"], Data, 1e6),
    u(&["GB"], &["gigabyte"], Data, 1e9),
    u(&["TB"], &["terabyte"], Data, 1e12),
    u(&["PB"], &["petabyte"], Data, 1e15),
    u(&["KiB"], &["kibibyte"], Data, 1_024.0),
    u(&["MiB"], &["mebibyte"], Data, 1_048_576.0),
    u(&["GiB"], &["gibibyte"], Data, 1_073_741_824.0),
    u(&["TiB"], &["tebibyte"], Data, 1_099_511_627_776.0),
    u(&["PiB"], &["pebibyte"], Data, 1_125_899_906_842_624.0),
    u(&["kb", "kbit"], &["kilobit"], Data, 125.0),
    u(&["Mb", "Mbit"], &["megabit"], Data, 125_000.0),
    u(&["Gb", "Gbit"], &["gigabit"], Data, 1.25e8),
    u(&["J"], &["joule"], Energy, 1.0),
    u(&["kJ"], &["kilojoule"], Energy, 1e3),
    u(&["MJ"], &["megajoule"], Energy, 1e6),
    u(&["cal"], &["calorie", "small calorie"], Energy, 4.184),
    u(&["kcal", "Cal"], &["kilocalorie", "food calorie"], Energy, 4_184.0),
    u(&["Wh"], &["watt hour", "watt-hour"], Energy, 3_600.0),
    u(&["kWh"], &["kilowatt hour", "kilowatt-hour"], Energy, 3.6e6),
    u(&["eV"], &["electronvolt", "electron volt"], Energy, 1.602_176_634e-19),
    u(&["BTU", "Btu"], &["british thermal unit"], Energy, 1_055.055_852_62),
    u(&["W"], &["watt"], Power, 1.0),
    u(&["kW"], &["kilowatt"], Power, 1e3),
    u(&["MW"], &["megawatt"], Power, 1e6),
    u(&["hp"], &["horsepower", "mechanical horsepower"], Power, 745.699_871_582_270_2),
    u(&["PS"], &["metric horsepower"], Power, 735.498_75),
    u(&["Pa"], &["pascal"], Pressure, 1.0),
    u(&["hPa"], &["hectopascal"], Pressure, 100.0),
    u(&["kPa"], &["kilopascal"], Pressure, 1e3),
    u(&["MPa"], &["megapascal"], Pressure, 1e6),
    u(&["bar"], &["bar"], Pressure, 1e5),
    u(&["mbar"], &["millibar"], Pressure, 100.0),
    u(&["atm"], &["atmosphere", "standard atmosphere"], Pressure, 101_325.0),
    u(&["psi"], &["pound per square inch", "pounds per square inch"], Pressure, 6_894.757_293_168_361),
    u(&["mmHg"], &["millimetre of mercury", "millimeter of mercury"], Pressure, 133.322_387_415),
    u(&["Torr", "torr"], &["torr"], Pressure, 101_325.0 / 760.0),
    u(&["inHg"], &["inch of mercury"], Pressure, 3_386.389),
    u(&["rad"], &["radian"], Angle, 1.0),
    u(&["deg", "°"], &["degree"], Angle, std::f64::consts::PI / 180.0),
    u(&["grad", "gon"], &["gradian"], Angle, std::f64::consts::PI / 200.0),
    u(&["arcmin", "′"], &["arcminute", "minute of arc"], Angle, std::f64::consts::PI / 10_800.0),
    u(&["arcsec", "″"], &["arcsecond", "second of arc"], Angle, std::f64::consts::PI / 648_000.0),
    u(&["rev", "turn"], &["revolution", "turn"], Angle, std::f64::consts::TAU),
    u(&["Hz"], &["hertz"], Frequency, 1.0),
    u(&["kHz"], &["kilohertz"], Frequency, 1e3),
    u(&["MHz"], &["megahertz"], Frequency, 1e6),
    u(&["GHz"], &["gigahertz"], Frequency, 1e9),
    u(&["rpm"], &["revolution per minute", "revolutions per minute"], Frequency, 1.0 / 60.0),
    u(&["N"], &["newton"], Force, 1.0),
    u(&["kN"], &["kilonewton"], Force, 1e3),
    u(&["lbf"], &["pound-force", "pound force"], Force, 4.448_221_615_260_5),
    u(&["kgf"], &["kilogram-force", "kilogram force", "kilopond"], Force, 9.806_65),
    u(&["dyn"], &["dyne"], Force, 1e-5),
];

impl Unit {
    pub fn symbol(&self) -> &'static str {
        self.symbols[0]
    }

    pub fn name(&self) -> &'static str {
        self.names[0]
    }
}

/// The unit `text` names: a symbol exactly, else a name in any case, singular or plural.
pub fn find(text: &str) -> Result<&'static Unit, String> {
    let text = text.trim();
    if let Some(unit) = UNITS.iter().find(|u| u.symbols.contains(&text)) {
        return Ok(unit);
    }
    let lower = text.to_lowercase();
    let singular = [
        Some(lower.as_str()),
        lower.strip_suffix('s'),
        lower.strip_suffix("es"),
    ];
    for candidate in singular.into_iter().flatten() {
        if let Some(unit) = UNITS.iter().find(|u| u.names.contains(&candidate)) {
            return Ok(unit);
        }
    }
    let spellings = UNITS
        .iter()
        .flat_map(|u| u.symbols.iter().chain(u.names))
        .copied();
    let hint = super::expr::closest(text, spellings)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown unit `{text}`{hint}; list_units shows every unit"
    ))
}

/// Converts `value` from one unit to another of the same dimension. Temperatures convert as
/// readings (20 °C is 68 °F), not as differences.
pub fn convert(value: f64, from: &Unit, to: &Unit) -> Result<f64, String> {
    if from.dimension != to.dimension {
        return Err(format!(
            "cannot convert {} ({}) to {} ({})",
            from.symbol(),
            from.dimension.name(),
            to.symbol(),
            to.dimension.name()
        ));
    }
    let si = (value + from.offset) * from.factor;
    let converted = si / to.factor - to.offset;
    if converted.is_finite() {
        Ok(fifteen_digits(converted))
    } else {
        Err(format!(
            "{value} {} in {} overflows (beyond 1.8e308)",
            from.symbol(),
            to.symbol()
        ))
    }
}

/// `x` to 15 significant digits: the table's factors hold no more, and the digits past them
/// are the double arithmetic's noise (100 °C would be 211.99999999999991 °F).
fn fifteen_digits(x: f64) -> f64 {
    format!("{x:.14e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_text(value: f64, from: &str, to: &str) -> Result<f64, String> {
        convert(value, find(from)?, find(to)?)
    }

    #[test]
    fn converts_within_a_dimension_and_refuses_across() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(close(convert_text(20.0, "°C", "°F").unwrap(), 68.0));
        assert_eq!(convert_text(100.0, "°C", "°F"), Ok(212.0));
        assert_eq!(convert_text(1.0, "in", "cm"), Ok(2.54));
        assert!(close(
            convert_text(-40.0, "fahrenheit", "celsius").unwrap(),
            -40.0
        ));
        assert!(close(convert_text(0.0, "K", "degC").unwrap(), -273.15));
        assert!(close(convert_text(1.0, "mi", "km").unwrap(), 1.609_344));
        assert!(close(convert_text(3.0, "Feet", "inches").unwrap(), 36.0));
        assert!(close(
            convert_text(1.0, "GiB", "MB").unwrap(),
            1_073.741_824
        ));
        assert!(close(convert_text(1.0, "MB", "Mb").unwrap(), 8.0));
        assert!(close(
            convert_text(180.0, "deg", "rad").unwrap(),
            std::f64::consts::PI
        ));
        assert_eq!(
            convert_text(1.0, "kg", "m").unwrap_err(),
            "cannot convert kg (mass) to m (length)"
        );
        assert_eq!(
            convert_text(1.0, "kilometr", "m").unwrap_err(),
            "unknown unit `kilometr` (did you mean `kilometre`?); list_units shows every unit"
        );
        assert!(convert_text(1e308, "ly", "nm").is_err());
    }

    #[test]
    fn no_spelling_names_two_units() {
        let mut seen = std::collections::HashSet::new();
        for unit in UNITS {
            for symbol in unit.symbols {
                assert!(seen.insert(*symbol), "symbol {symbol} twice");
            }
        }
        let mut names = std::collections::HashMap::new();
        for unit in UNITS {
            for name in unit.names {
                let before = names.insert(name.to_lowercase(), unit.symbol());
                assert!(
                    before.is_none_or(|s| s == unit.symbol()),
                    "name {name} twice"
                );
            }
        }
    }
}
