//! The built-in `math` server: expressions evaluated by a real parser (no `eval`),
//! descriptive statistics, and unit conversion. Every tool is pure: it reads only its
//! arguments and changes nothing.

mod expr;
mod functions;
mod number;
mod stats;
mod units;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject, Tool};
use rmcp::service::{RequestContext, RoleServer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::host::{self, ToolSet};
use number::Number;
use units::Dimension;

pub use expr::{ExprError, MAX_DEPTH, MAX_LEN};

/// Summaries of more values than this are computed off the async workers.
const BLOCKING_VALUES: usize = 10_000;

/// The math server's tools.
#[derive(Clone, Copy, Default)]
pub struct Math;

/// `evaluate`'s answer.
#[derive(Debug, PartialEq, Serialize)]
pub struct Evaluated {
    /// The value as a JSON number (a double beyond 64-bit integers).
    pub result: Value,
    /// The value with every digit: exact for whole numbers.
    pub text: String,
}

/// Evaluates `expression` with `variables` (JSON numbers): the library face of `evaluate`.
pub fn evaluate(
    expression: &str,
    variables: &BTreeMap<String, serde_json::Number>,
) -> Result<Evaluated, ExprError> {
    let values = variables
        .iter()
        .map(|(name, n)| {
            let value = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Number::Int(i128::from(i)),
                (None, Some(f)) => Number::Float(f),
                (None, None) => {
                    return Err(ExprError::whole(format!(
                        "variable `{name}` is not a number"
                    )));
                }
            };
            Ok((name.clone(), value))
        })
        .collect::<Result<_, _>>()?;
    let value = expr::evaluate(expression, &values)?;
    Ok(Evaluated {
        result: value.json(),
        text: value.text(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateArgs {
    expression: String,
    #[serde(default)]
    variables: BTreeMap<String, serde_json::Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatisticsArgs {
    values: Vec<f64>,
    #[serde(default)]
    percentiles: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvertArgs {
    value: f64,
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListUnitsArgs {
    #[serde(default)]
    dimension: Option<String>,
}

#[derive(Serialize)]
struct UnitInfo {
    symbol: &'static str,
    name: &'static str,
    dimension: Dimension,
}

impl UnitInfo {
    fn of(unit: &units::Unit) -> Self {
        Self {
            symbol: unit.symbol(),
            name: unit.name(),
            dimension: unit.dimension,
        }
    }
}

#[derive(Serialize)]
struct Converted {
    value: f64,
    from: UnitInfo,
    to: UnitInfo,
    /// To 15 significant digits (what the unit table holds).
    result: f64,
    /// `result` rounded to 12 significant digits, for reading.
    text: String,
}

#[derive(Serialize)]
struct UnitList {
    units: Vec<UnitEntry>,
}

#[derive(Serialize)]
struct UnitEntry {
    symbol: &'static str,
    also: Vec<&'static str>,
    names: &'static [&'static str],
    dimension: Dimension,
}

fn evaluate_tool(arguments: JsonObject) -> CallToolResult {
    let args: EvaluateArgs = match host::arguments(arguments) {
        Ok(args) => args,
        Err(failure) => return failure,
    };
    host::answer(evaluate(&args.expression, &args.variables).map_err(|e| e.to_string()))
}

async fn statistics_tool(arguments: JsonObject) -> CallToolResult {
    let args: StatisticsArgs = match host::arguments(arguments) {
        Ok(args) => args,
        Err(failure) => return failure,
    };
    let count = args.values.len();
    let run = move || stats::summarize(&args.values, &args.percentiles);
    if count <= BLOCKING_VALUES {
        return host::answer(run());
    }
    match tokio::task::spawn_blocking(run).await {
        Ok(outcome) => host::answer(outcome),
        Err(_) => host::failure("the summary could not be computed"),
    }
}

fn convert_tool(arguments: JsonObject) -> CallToolResult {
    let args: ConvertArgs = match host::arguments(arguments) {
        Ok(args) => args,
        Err(failure) => return failure,
    };
    let outcome = units::find(&args.from).and_then(|from| {
        let to = units::find(&args.to)?;
        let result = units::convert(args.value, from, to)?;
        Ok(Converted {
            value: args.value,
            from: UnitInfo::of(from),
            to: UnitInfo::of(to),
            result,
            text: format!("{} {}", significant(result, 12), to.symbol()),
        })
    });
    host::answer(outcome)
}

fn list_units_tool(arguments: JsonObject) -> CallToolResult {
    let args: ListUnitsArgs = match host::arguments(arguments) {
        Ok(args) => args,
        Err(failure) => return failure,
    };
    let wanted = match args.dimension.as_deref() {
        None => None,
        Some(name) => match Dimension::ALL.iter().find(|d| d.name() == name) {
            Some(d) => Some(*d),
            None => {
                let all: Vec<_> = Dimension::ALL.iter().map(|d| d.name()).collect();
                return host::failure(format!(
                    "unknown dimension `{name}`; one of: {}",
                    all.join(", ")
                ));
            }
        },
    };
    let units = units::UNITS
        .iter()
        .filter(|u| wanted.is_none_or(|d| u.dimension == d))
        .map(|u| UnitEntry {
            symbol: u.symbol(),
            also: u.symbols[1..].to_vec(),
            names: u.names,
            dimension: u.dimension,
        })
        .collect();
    host::success(&UnitList { units })
}

/// `x` with at most `digits` significant digits, without trailing zeros.
fn significant(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let trim = |text: &str| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text.to_string()
        }
    };
    let magnitude = x.abs().log10().floor() as i32;
    if !(-6..16).contains(&magnitude) {
        let text = format!("{:.*e}", digits.saturating_sub(1), x);
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        return format!("{}e{exponent}", trim(mantissa));
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    trim(&format!("{x:.decimals$}"))
}

impl ToolSet for Math {
    fn name(&self) -> &'static str {
        "switchyard-math"
    }

    fn instructions(&self) -> &'static str {
        "Exact arithmetic and expression evaluation, descriptive statistics over lists of \
         numbers, and unit conversion. Use it instead of doing arithmetic in your head."
    }

    fn tools(&self) -> Vec<Tool> {
        definitions()
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        _context: RequestContext<RoleServer>,
    ) -> Option<BoxFuture<'a, CallToolResult>> {
        Some(match name {
            "evaluate" => Box::pin(async move { evaluate_tool(arguments) }),
            "statistics" => Box::pin(statistics_tool(arguments)),
            "convert_units" => Box::pin(async move { convert_tool(arguments) }),
            "list_units" => Box::pin(async move { list_units_tool(arguments) }),
            _ => return None,
        })
    }
}

fn definitions() -> Vec<Tool> {
    let functions: Vec<String> = functions::FUNCTIONS
        .iter()
        .map(|f| format!("{} ({})", f.name, f.summary))
        .collect();
    let constants: Vec<String> = expr::CONSTANTS
        .iter()
        .map(|(name, _, what)| format!("{name} ({what})"))
        .collect();
    let evaluate = format!(
        "Evaluates an arithmetic expression. Whole numbers are exact up to 128 bits; \
         everything else is a 64-bit float. Operators, loosest first: + -, then * / % \
         (remainder, with the sign of the divisor), then unary -, then ^ or ** (power, \
         right-associative: -2^2 is -4), then postfix ! (factorial). Parentheses group. \
         Multiplication must be written with *. Functions (angles in radians): {}. \
         Constants: {}. Put named values in `variables`. A bad expression is an error \
         naming the column.",
        functions.join(", "),
        constants.join(", ")
    );
    let dimensions: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).collect();
    let unit = json!({ "type": "object", "properties": {
        "symbol": { "type": "string" }, "name": { "type": "string" },
        "dimension": { "type": "string" } } });
    let number = json!({ "type": "number" });
    vec![
        host::tool(
            "evaluate",
            "Evaluate an expression",
            evaluate,
            json!({ "type": "object", "additionalProperties": false,
                "required": ["expression"],
                "properties": {
                    "expression": { "type": "string", "maxLength": MAX_LEN,
                        "description": "For example `(3 + 4) * 2^10 / sqrt(x)`." },
                    "variables": { "type": "object",
                        "additionalProperties": { "type": "number" },
                        "description": "Named values the expression uses, e.g. {\"x\": 2}." } } }),
            json!({ "type": "object", "required": ["result", "text"], "properties": {
                "result": { "type": "number", "description": "The value." },
                "text": { "type": "string",
                    "description": "The value with every digit (exact for whole numbers)." } } }),
            host::pure(),
        ),
        host::tool(
            "statistics",
            "Summarise a list of numbers",
            "Descriptive statistics of a list of numbers: count, sum, mean, median, mode(s), \
             min, max, range, population and sample variance and standard deviation, \
             quartiles and interquartile range, and any percentiles asked for (linear \
             interpolation, as numpy and Excel PERCENTILE.INC).",
            json!({ "type": "object", "additionalProperties": false, "required": ["values"],
                "properties": {
                    "values": { "type": "array", "items": number, "minItems": 1,
                        "maxItems": stats::MAX_VALUES },
                    "percentiles": { "type": "array",
                        "items": { "type": "number", "minimum": 0, "maximum": 100 },
                        "description": "Extra percentiles to report, 0 to 100." } } }),
            json!({ "type": "object",
                "required": ["count", "sum", "mean", "median", "mode", "min", "max", "range",
                    "variance", "std_dev", "q1", "q3", "iqr"],
                "properties": {
                    "count": { "type": "integer" }, "sum": number, "mean": number,
                    "median": number, "mode": { "type": "array", "items": number },
                    "min": number, "max": number, "range": number, "variance": number,
                    "std_dev": number, "sample_variance": number, "sample_std_dev": number,
                    "q1": number, "q3": number, "iqr": number,
                    "percentiles": { "type": "array", "items": { "type": "object",
                        "properties": { "p": number, "value": number } } } } }),
            host::pure(),
        ),
        host::tool(
            "convert_units",
            "Convert between units",
            "Converts a value from one unit to another of the same dimension (length, mass, \
             time, temperature, area, volume, speed, data, energy, power, pressure, angle, \
             frequency, force). Units are given by symbol (case-sensitive: `MB` megabyte, \
             `Mb` megabit) or by name (any case, singular or plural). Temperatures convert \
             as readings: 20 °C is 68 °F. list_units lists every unit.",
            json!({ "type": "object", "additionalProperties": false,
                "required": ["value", "from", "to"],
                "properties": {
                    "value": number,
                    "from": { "type": "string", "description": "e.g. `km`, `miles`, `°F`" },
                    "to": { "type": "string" } } }),
            json!({ "type": "object", "required": ["value", "from", "to", "result", "text"],
                "properties": { "value": number, "from": unit, "to": unit, "result": number,
                    "text": { "type": "string" } } }),
            host::pure(),
        ),
        host::tool(
            "list_units",
            "List the units",
            "Lists the units convert_units knows, optionally of one dimension.",
            json!({ "type": "object", "additionalProperties": false, "properties": {
                "dimension": { "type": "string", "enum": dimensions } } }),
            json!({ "type": "object", "required": ["units"], "properties": {
                "units": { "type": "array", "items": { "type": "object", "properties": {
                    "symbol": { "type": "string" },
                    "also": { "type": "array", "items": { "type": "string" } },
                    "names": { "type": "array", "items": { "type": "string" } },
                    "dimension": { "type": "string" } } } } } }),
            host::pure(),
        ),
    ]
}
