//! The functions of the expression language. Each checks its arguments' count and domain
//! and says which argument is wrong; none does unbounded work.

use std::cmp::Ordering;

use super::expr::ExprError;
use super::number::Number;

/// How many arguments a function takes.
#[derive(Clone, Copy)]
enum Arity {
    Exactly(usize),
    Between(usize, usize),
    AtLeast(usize),
}

pub struct Function {
    pub name: &'static str,
    arity: Arity,
    pub summary: &'static str,
    apply: fn(&[Number], usize) -> Result<Number, ExprError>,
}

/// Past 170! a double overflows; up to 33! the product fits 128 bits exactly.
const MAX_FACTORIAL: i128 = 170;
/// `comb` and `perm` loop over `k`; this bounds the loop.
const MAX_COMBINATORIAL: i128 = 100_000;

fn unary_float(f: fn(f64) -> f64) -> impl Fn(&[Number], usize, &str) -> Result<Number, ExprError> {
    move |args, column, name| Number::float(f(args[0].to_f64()), column, &format!("{name}(…)"))
}

macro_rules! float1 {
    ($name:literal, $summary:literal, $f:expr) => {
        Function {
            name: $name,
            arity: Arity::Exactly(1),
            summary: $summary,
            apply: |args, column| unary_float($f)(args, column, $name),
        }
    };
}

macro_rules! domain1 {
    ($name:literal, $summary:literal, $ok:expr, $why:literal, $f:expr) => {
        Function {
            name: $name,
            arity: Arity::Exactly(1),
            summary: $summary,
            apply: |args, column| {
                let x = args[0].to_f64();
                if !($ok)(x) {
                    return Err(ExprError::at(
                        column,
                        format!(concat!($name, "({}) is undefined: ", $why), args[0].text()),
                    ));
                }
                unary_float($f)(args, column, $name)
            },
        }
    };
}

pub static FUNCTIONS: &[Function] = &[
    domain1!(
        "sqrt",
        "square root",
        |x: f64| x >= 0.0,
        "the argument must be ≥ 0",
        f64::sqrt
    ),
    float1!("cbrt", "cube root (also of negative numbers)", f64::cbrt),
    Function {
        name: "abs",
        arity: Arity::Exactly(1),
        summary: "absolute value",
        apply: abs,
    },
    float1!("exp", "e to the power x", f64::exp),
    domain1!(
        "ln",
        "natural logarithm",
        |x: f64| x > 0.0,
        "the argument must be > 0",
        f64::ln
    ),
    Function {
        name: "log",
        arity: Arity::Between(1, 2),
        summary: "log(x) natural logarithm; log(x, b) logarithm to base b",
        apply: log,
    },
    domain1!(
        "log10",
        "base-10 logarithm",
        |x: f64| x > 0.0,
        "the argument must be > 0",
        f64::log10
    ),
    domain1!(
        "log2",
        "base-2 logarithm",
        |x: f64| x > 0.0,
        "the argument must be > 0",
        f64::log2
    ),
    float1!("sin", "sine (radians)", f64::sin),
    float1!("cos", "cosine (radians)", f64::cos),
    float1!("tan", "tangent (radians)", f64::tan),
    domain1!(
        "asin",
        "arcsine, in radians",
        |x: f64| (-1.0..=1.0).contains(&x),
        "the argument must be between -1 and 1",
        f64::asin
    ),
    domain1!(
        "acos",
        "arccosine, in radians",
        |x: f64| (-1.0..=1.0).contains(&x),
        "the argument must be between -1 and 1",
        f64::acos
    ),
    float1!("atan", "arctangent, in radians", f64::atan),
    Function {
        name: "atan2",
        arity: Arity::Exactly(2),
        summary: "atan2(y, x): the angle of the point (x, y), in radians",
        apply: atan2,
    },
    float1!("sinh", "hyperbolic sine", f64::sinh),
    float1!("cosh", "hyperbolic cosine", f64::cosh),
    float1!("tanh", "hyperbolic tangent", f64::tanh),
    float1!("deg", "radians to degrees", f64::to_degrees),
    float1!("rad", "degrees to radians", f64::to_radians),
    Function {
        name: "floor",
        arity: Arity::Exactly(1),
        summary: "largest whole number ≤ x",
        apply: |a, _| Ok(rounded(a[0], f64::floor)),
    },
    Function {
        name: "ceil",
        arity: Arity::Exactly(1),
        summary: "smallest whole number ≥ x",
        apply: |a, _| Ok(rounded(a[0], f64::ceil)),
    },
    Function {
        name: "trunc",
        arity: Arity::Exactly(1),
        summary: "x without its fraction",
        apply: |a, _| Ok(rounded(a[0], f64::trunc)),
    },
    Function {
        name: "round",
        arity: Arity::Between(1, 2),
        summary: "round(x) to a whole number (halves away from zero); round(x, d) to d decimals (0–15)",
        apply: round,
    },
    Function {
        name: "sign",
        arity: Arity::Exactly(1),
        summary: "-1, 0 or 1",
        apply: |a, _| Ok(Number::Int(sign(a[0]))),
    },
    Function {
        name: "min",
        arity: Arity::AtLeast(1),
        summary: "smallest argument",
        apply: |a, _| Ok(extreme(a, Ordering::Less)),
    },
    Function {
        name: "max",
        arity: Arity::AtLeast(1),
        summary: "largest argument",
        apply: |a, _| Ok(extreme(a, Ordering::Greater)),
    },
    Function {
        name: "hypot",
        arity: Arity::AtLeast(1),
        summary: "square root of the sum of squares",
        apply: hypot,
    },
    Function {
        name: "gcd",
        arity: Arity::AtLeast(1),
        summary: "greatest common divisor of whole numbers",
        apply: gcd,
    },
    Function {
        name: "lcm",
        arity: Arity::AtLeast(1),
        summary: "least common multiple of whole numbers",
        apply: lcm,
    },
    Function {
        name: "factorial",
        arity: Arity::Exactly(1),
        summary: "n! for whole n from 0 to 170 (also written `n!`)",
        apply: |a, column| factorial(a[0], column),
    },
    Function {
        name: "comb",
        arity: Arity::Exactly(2),
        summary: "comb(n, k): ways to choose k of n, order ignored",
        apply: |a, c| combinatorial(a, c, "comb", true),
    },
    Function {
        name: "perm",
        arity: Arity::Exactly(2),
        summary: "perm(n, k): ways to arrange k of n in order",
        apply: |a, c| combinatorial(a, c, "perm", false),
    },
];

pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}

impl Function {
    pub fn apply(&self, args: &[Number], column: usize) -> Result<Number, ExprError> {
        let fits = match self.arity {
            Arity::Exactly(n) => args.len() == n,
            Arity::Between(low, high) => (low..=high).contains(&args.len()),
            Arity::AtLeast(n) => args.len() >= n,
        };
        if !fits {
            let wanted = match self.arity {
                Arity::Exactly(1) => "1 argument".to_string(),
                Arity::Exactly(n) => format!("{n} arguments"),
                Arity::Between(low, high) => format!("{low} or {high} arguments"),
                Arity::AtLeast(n) => {
                    format!("at least {n} argument{}", if n == 1 { "" } else { "s" })
                }
            };
            return Err(ExprError::at(
                column,
                format!(
                    "{}() takes {wanted}, but was given {}",
                    self.name,
                    args.len()
                ),
            ));
        }
        (self.apply)(args, column)
    }
}

fn abs(args: &[Number], column: usize) -> Result<Number, ExprError> {
    match args[0] {
        Number::Int(i) => Ok(i
            .checked_abs()
            .map_or(Number::Float((i as f64).abs()), Number::Int)),
        Number::Float(f) => Number::float(f.abs(), column, "abs(…)"),
    }
}

fn log(args: &[Number], column: usize) -> Result<Number, ExprError> {
    let x = args[0].to_f64();
    if x <= 0.0 {
        return Err(ExprError::at(
            column,
            format!(
                "log({}) is undefined: the argument must be > 0",
                args[0].text()
            ),
        ));
    }
    let Some(base) = args.get(1) else {
        return Number::float(x.ln(), column, "log(…)");
    };
    let b = base.to_f64();
    if b <= 0.0 || b == 1.0 {
        return Err(ExprError::at(
            column,
            format!(
                "log to base {} is undefined: the base must be > 0 and not 1",
                base.text()
            ),
        ));
    }
    Number::float(x.ln() / b.ln(), column, "log(…)")
}

fn atan2(args: &[Number], column: usize) -> Result<Number, ExprError> {
    Number::float(args[0].to_f64().atan2(args[1].to_f64()), column, "atan2(…)")
}

fn rounded(x: Number, f: fn(f64) -> f64) -> Number {
    match x {
        Number::Int(_) => x,
        Number::Float(v) => Number::whole(f(v)),
    }
}

fn round(args: &[Number], column: usize) -> Result<Number, ExprError> {
    let Some(digits) = args.get(1) else {
        return Ok(rounded(args[0], f64::round));
    };
    let Some(digits) = digits.as_int().filter(|d| (0..=15).contains(d)) else {
        return Err(ExprError::at(
            column,
            format!("round(x, d) takes d from 0 to 15, not {}", digits.text()),
        ));
    };
    if let Number::Int(_) = args[0] {
        return Ok(args[0]);
    }
    let scale = 10f64.powi(digits as i32);
    let x = args[0].to_f64();
    let scaled = x * scale;
    // Past 2^53 a double has no fraction left to round.
    if !scaled.is_finite() || scaled.abs() > 9e15 {
        return Ok(args[0]);
    }
    Number::float(scaled.round() / scale, column, "round(…)")
}

fn sign(x: Number) -> i128 {
    match x {
        Number::Int(i) => i.signum(),
        Number::Float(f) if f > 0.0 => 1,
        Number::Float(f) if f < 0.0 => -1,
        Number::Float(_) => 0,
    }
}

fn extreme(args: &[Number], wanted: Ordering) -> Number {
    let mut best = args[0];
    for &candidate in &args[1..] {
        let order = match (candidate, best) {
            (Number::Int(c), Number::Int(b)) => c.cmp(&b),
            _ => candidate
                .to_f64()
                .partial_cmp(&best.to_f64())
                .unwrap_or(Ordering::Equal),
        };
        if order == wanted {
            best = candidate;
        }
    }
    best
}

fn hypot(args: &[Number], column: usize) -> Result<Number, ExprError> {
    let total = args.iter().fold(0.0f64, |acc, x| acc.hypot(x.to_f64()));
    Number::float(total, column, "hypot(…)")
}

fn whole_args(args: &[Number], column: usize, name: &str) -> Result<Vec<i128>, ExprError> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            a.as_int().ok_or_else(|| {
                ExprError::at(
                    column,
                    format!(
                        "{name}() takes whole numbers; argument {} is {}",
                        i + 1,
                        a.text()
                    ),
                )
            })
        })
        .collect()
}

fn gcd_of(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i128::try_from(a).unwrap_or(i128::MAX)
}

fn gcd(args: &[Number], column: usize) -> Result<Number, ExprError> {
    let values = whole_args(args, column, "gcd")?;
    Ok(Number::Int(values.iter().fold(0, |acc, &v| gcd_of(acc, v))))
}

fn lcm(args: &[Number], column: usize) -> Result<Number, ExprError> {
    let values = whole_args(args, column, "lcm")?;
    let mut acc: i128 = 1;
    for v in values {
        if v == 0 {
            return Ok(Number::Int(0));
        }
        let step = v.abs() / gcd_of(acc, v);
        acc = acc
            .checked_mul(step)
            .ok_or_else(|| ExprError::at(column, "lcm(…) is larger than 1.7e38"))?;
    }
    Ok(Number::Int(acc))
}

pub fn factorial(n: Number, column: usize) -> Result<Number, ExprError> {
    let Some(n) = n.as_int().filter(|n| (0..=MAX_FACTORIAL).contains(n)) else {
        return Err(ExprError::at(
            column,
            format!(
                "factorial is defined here for whole numbers from 0 to {MAX_FACTORIAL}, not {}",
                n.text()
            ),
        ));
    };
    let mut exact: Option<i128> = Some(1);
    let mut approximate = 1.0f64;
    for k in 2..=n {
        exact = exact.and_then(|e| e.checked_mul(k));
        approximate *= k as f64;
    }
    Ok(exact.map_or(Number::Float(approximate), Number::Int))
}

fn combinatorial(
    args: &[Number],
    column: usize,
    name: &str,
    choose: bool,
) -> Result<Number, ExprError> {
    let values = whole_args(args, column, name)?;
    let (n, k) = (values[0], values[1]);
    if !(0..=MAX_COMBINATORIAL).contains(&n) || !(0..=n).contains(&k) {
        return Err(ExprError::at(
            column,
            format!("{name}(n, k) needs 0 ≤ k ≤ n ≤ {MAX_COMBINATORIAL}; got n = {n}, k = {k}"),
        ));
    }
    let steps = if choose { k.min(n - k) } else { k };
    let mut exact: Option<i128> = Some(1);
    let mut approximate = 1.0f64;
    for i in 0..steps {
        // For comb, multiply then divide: after step i the value is C(n, i + 1), a whole
        // number, so the division is exact.
        exact = exact
            .and_then(|e| e.checked_mul(n - i))
            .map(|e| if choose { e / (i + 1) } else { e });
        approximate *= (n - i) as f64;
        if choose {
            approximate /= (i + 1) as f64;
        }
        if exact.is_none() && approximate.is_infinite() {
            return Err(ExprError::at(
                column,
                format!("{name}({n}, {k}) overflows (beyond 1.8e308)"),
            ));
        }
    }
    Ok(exact.map_or(Number::Float(approximate), Number::Int))
}
