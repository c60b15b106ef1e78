//! The math server's numbers: whole numbers stay exact (128-bit) for as long as they fit, and
//! everything else is an IEEE 754 double. Every operation checks its result, so an overflow
//! or a value that is not a real number is an error naming where it happened, never `inf` or
//! `NaN` in an answer.

use serde_json::Value;

use super::expr::ExprError;

/// A value of the expression language.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i128),
    Float(f64),
}

/// Doubles represent every whole number up to 2^53 exactly; past it a float that happens to
/// be whole is not an exact count, so it stays a float.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

impl Number {
    pub fn to_f64(self) -> f64 {
        match self {
            // A lossy conversion by design: past 2^53 the nearest double is the best answer.
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The value as a whole number, if it is one (a float only when exactly whole and small
    /// enough to have been counted exactly).
    pub fn as_int(self) -> Option<i128> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() <= EXACT_FLOAT => Some(f as i128),
            Number::Float(_) => None,
        }
    }

    pub fn is_zero(self) -> bool {
        match self {
            Number::Int(i) => i == 0,
            Number::Float(f) => f == 0.0,
        }
    }

    /// A float result, checked: `what` names the operation in the error.
    pub fn float(value: f64, column: usize, what: &str) -> Result<Number, ExprError> {
        if value.is_nan() {
            Err(ExprError::at(
                column,
                format!("{what} is not a real number"),
            ))
        } else if value.is_infinite() {
            Err(ExprError::at(
                column,
                format!("{what} overflows (its magnitude is beyond 1.8e308)"),
            ))
        } else {
            Ok(Number::Float(value))
        }
    }

    /// Whole results of rounding functions become exact integers again where they can be.
    pub fn whole(value: f64) -> Number {
        if value.abs() <= EXACT_FLOAT {
            Number::Int(value as i128)
        } else {
            Number::Float(value)
        }
    }

    /// Exact digits for integers; for floats the shortest text that reads back to the same
    /// double, in scientific notation when plain digits would be very long.
    pub fn text(self) -> String {
        match self {
            Number::Int(i) => i.to_string(),
            Number::Float(f) => {
                let magnitude = f.abs();
                if magnitude != 0.0 && !(1e-6..1e16).contains(&magnitude) {
                    format!("{f:e}")
                } else {
                    format!("{f}")
                }
            }
        }
    }

    /// As a JSON number: an integer where it fits 64 bits, else the nearest double (the
    /// `text` of an answer keeps every digit).
    pub fn json(self) -> Value {
        match self {
            Number::Int(i) => match i64::try_from(i) {
                Ok(small) => Value::from(small),
                Err(_) => Value::from(i as f64),
            },
            Number::Float(f) => Value::from(f),
        }
    }
}

pub fn add(a: Number, b: Number, column: usize) -> Result<Number, ExprError> {
    if let (Number::Int(x), Number::Int(y)) = (a, b)
        && let Some(sum) = x.checked_add(y)
    {
        return Ok(Number::Int(sum));
    }
    Number::float(a.to_f64() + b.to_f64(), column, "the sum")
}

pub fn sub(a: Number, b: Number, column: usize) -> Result<Number, ExprError> {
    if let (Number::Int(x), Number::Int(y)) = (a, b)
        && let Some(difference) = x.checked_sub(y)
    {
        return Ok(Number::Int(difference));
    }
    Number::float(a.to_f64() - b.to_f64(), column, "the difference")
}

pub fn mul(a: Number, b: Number, column: usize) -> Result<Number, ExprError> {
    if let (Number::Int(x), Number::Int(y)) = (a, b)
        && let Some(product) = x.checked_mul(y)
    {
        return Ok(Number::Int(product));
    }
    Number::float(a.to_f64() * b.to_f64(), column, "the product")
}

/// Division stays exact when the integers divide evenly.
pub fn div(a: Number, b: Number, column: usize) -> Result<Number, ExprError> {
    if b.is_zero() {
        return Err(ExprError::at(column, "division by zero"));
    }
    if let (Number::Int(x), Number::Int(y)) = (a, b)
        && let (Some(0), Some(quotient)) = (x.checked_rem(y), x.checked_div(y))
    {
        return Ok(Number::Int(quotient));
    }
    Number::float(a.to_f64() / b.to_f64(), column, "the quotient")
}

/// The remainder takes the sign of the divisor (floored division, as in Python), so
/// `-7 % 3` is 2.
pub fn rem(a: Number, b: Number, column: usize) -> Result<Number, ExprError> {
    if b.is_zero() {
        return Err(ExprError::at(column, "remainder of a division by zero"));
    }
    if let (Number::Int(x), Number::Int(y)) = (a, b) {
        let r = x.checked_rem(y).unwrap_or(0);
        return Ok(Number::Int(if r != 0 && (r < 0) != (y < 0) {
            r + y
        } else {
            r
        }));
    }
    let (x, y) = (a.to_f64(), b.to_f64());
    let r = x % y;
    let r = if r != 0.0 && (r < 0.0) != (y < 0.0) {
        r + y
    } else {
        r
    };
    Number::float(r, column, "the remainder")
}

/// Powers: exact by repeated squaring while the result fits 128 bits, which bounds the work
/// by the exponent's bit length; anything larger is a double, and past 1.8e308 an error, so
/// `9^9^9^9` costs nothing.
pub fn pow(base: Number, exponent: Number, column: usize) -> Result<Number, ExprError> {
    if let (Number::Int(b), Number::Int(e)) = (base, exponent)
        && let Ok(e) = u32::try_from(e)
        && let Some(power) = b.checked_pow(e)
    {
        return Ok(Number::Int(power));
    }
    let (b, e) = (base.to_f64(), exponent.to_f64());
    if b == 0.0 && e < 0.0 {
        return Err(ExprError::at(
            column,
            "division by zero (0 to a negative power)",
        ));
    }
    if b < 0.0 && e.fract() != 0.0 {
        return Err(ExprError::at(
            column,
            "a negative number to a fractional power is not a real number (cbrt() takes odd roots)",
        ));
    }
    Number::float(b.powf(e), column, "the power")
}

pub fn neg(a: Number, column: usize) -> Result<Number, ExprError> {
    match a {
        Number::Int(i) => Ok(i
            .checked_neg()
            .map_or(Number::Float(-(i as f64)), Number::Int)),
        Number::Float(f) => Number::float(-f, column, "the negation"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_exact_until_they_cannot() {
        assert_eq!(
            mul(Number::Int(12_345_678_901_234_567), Number::Int(3), 1),
            Ok(Number::Int(37_037_036_703_703_701))
        );
        assert_eq!(
            div(Number::Int(10), Number::Int(4), 1),
            Ok(Number::Float(2.5))
        );
        assert_eq!(div(Number::Int(12), Number::Int(4), 1), Ok(Number::Int(3)));
        assert!(matches!(
            pow(Number::Int(2), Number::Int(200), 1),
            Ok(Number::Float(_))
        ));
        assert_eq!(rem(Number::Int(-7), Number::Int(3), 1), Ok(Number::Int(2)));
        assert_eq!(rem(Number::Int(7), Number::Int(-3), 1), Ok(Number::Int(-2)));
        assert_eq!(Number::Float(1e300).text(), "1e300");
        assert_eq!(Number::Float(0.1 + 0.2).text(), "0.30000000000000004");
        assert_eq!(Number::Int(i128::MAX).json(), Value::from(i128::MAX as f64));
    }
}
