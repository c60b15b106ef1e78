//! The expression language of the math server's `evaluate` tool: a lexer and a
//! recursive-descent parser that evaluates as it parses. Nothing is handed to an `eval`;
//! the language has numbers, named values, the operators below and the functions of
//! [`super::functions`], and nothing else.
//!
//! Precedence, loosest first: `+ -`, then `* / %`, then unary `- +`, then `^` (also `**`,
//! right-associative, so `2^3^2` is 512 and `-2^2` is -4), then postfix `!`.
//!
//! Work is bounded: the text is at most [`MAX_LEN`] characters, nesting at most
//! [`MAX_DEPTH`] levels (so the recursion cannot exhaust a stack), and every operation is
//! constant time or bounded by its own limits (powers by the exponent's bits, factorials by
//! 170).

use std::collections::BTreeMap;

use super::functions;
use super::number::{self, Number};

pub const MAX_LEN: usize = 10_000;
pub const MAX_DEPTH: usize = 64;

/// A bad expression: what is wrong and, where it is one place, the 1-based column (in
/// characters) where it is.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{message}", column.map(|c| format!("at column {c}: ")).unwrap_or_default())]
pub struct ExprError {
    pub column: Option<usize>,
    pub message: String,
}

impl ExprError {
    pub fn at(column: usize, message: impl Into<String>) -> Self {
        Self {
            column: Some(column),
            message: message.into(),
        }
    }

    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            column: None,
            message: message.into(),
        }
    }
}

/// The named constants; variables may not take these names.
pub const CONSTANTS: &[(&str, f64, &str)] = &[
    ("pi", std::f64::consts::PI, "π, 3.14159…"),
    ("e", std::f64::consts::E, "Euler's number, 2.71828…"),
    ("tau", std::f64::consts::TAU, "2π"),
    ("phi", 1.618_033_988_749_895, "the golden ratio, 1.61803…"),
];

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Num(Number),
    Name(String),
    /// One of `+ - * / % ^ ! ( ) ,`.
    Op(char),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    column: usize,
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Num(n) => format!("the number {}", n.text()),
        Kind::Name(name) => format!("`{name}`"),
        Kind::Op(c) => format!("`{c}`"),
        Kind::End => "the end of the expression".into(),
    }
}

fn lex(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            let mut float = false;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '_') {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    float = true;
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let literal: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            i -= 1;
            Kind::Num(number_literal(&literal, float, column)?)
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_') {
                i += 1;
            }
            let name: String = chars[start..=i].iter().collect();
            if name == "π" {
                Kind::Name("pi".into())
            } else {
                Kind::Name(name)
            }
        } else {
            match c {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    i += 1;
                    Kind::Op('^')
                }
                '+' | '-' | '*' | '/' | '%' | '^' | '!' | '(' | ')' | ',' => Kind::Op(c),
                '−' => Kind::Op('-'),
                '×' | '·' => Kind::Op('*'),
                '÷' => Kind::Op('/'),
                _ => {
                    return Err(ExprError::at(column, format!("unexpected character `{c}`")));
                }
            }
        };
        tokens.push(Token { kind, column });
        i += 1;
    }
    tokens.push(Token {
        kind: Kind::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

fn number_literal(literal: &str, float: bool, column: usize) -> Result<Number, ExprError> {
    if !float && let Ok(i) = literal.parse::<i128>() {
        return Ok(Number::Int(i));
    }
    match literal.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Number::Float(f)),
        Ok(_) => Err(ExprError::at(
            column,
            format!("the number {literal} is too large"),
        )),
        Err(_) => Err(ExprError::at(
            column,
            format!("`{literal}` is not a number"),
        )),
    }
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    variables: &'a BTreeMap<String, Number>,
    depth: usize,
}

/// Evaluates `text` with the given variables.
pub fn evaluate(text: &str, variables: &BTreeMap<String, Number>) -> Result<Number, ExprError> {
    let length = text.chars().count();
    if length > MAX_LEN {
        return Err(ExprError::whole(format!(
            "the expression is {length} characters long; at most {MAX_LEN} are allowed"
        )));
    }
    if text.trim().is_empty() {
        return Err(ExprError::whole("the expression is empty"));
    }
    for name in variables.keys() {
        check_variable_name(name)?;
    }
    let mut parser = Parser {
        tokens: lex(text)?,
        at: 0,
        variables,
        depth: 0,
    };
    let value = parser.sum()?;
    let next = parser.peek();
    match &next.kind {
        Kind::End => Ok(value),
        Kind::Op(')') => Err(ExprError::at(next.column, "`)` without a matching `(`")),
        Kind::Name(_) | Kind::Num(_) | Kind::Op('(') => Err(ExprError::at(
            next.column,
            format!(
                "expected an operator before {}; multiplication is written with `*`",
                describe(&next.kind)
            ),
        )),
        other => Err(ExprError::at(
            next.column,
            format!("unexpected {}", describe(other)),
        )),
    }
}

/// A variable's name: an identifier that is neither a constant nor a function.
pub fn check_variable_name(name: &str) -> Result<(), ExprError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_');
    if !valid {
        return Err(ExprError::whole(format!(
            "`{name}` is not a variable name: use letters, digits and `_`, starting with a letter"
        )));
    }
    if CONSTANTS.iter().any(|(c, ..)| *c == name) || functions::find(name).is_some() {
        return Err(ExprError::whole(format!(
            "`{name}` is a built-in constant or function; choose another variable name"
        )));
    }
    Ok(())
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn eat(&mut self, op: char) -> Option<usize> {
        let token = self.peek();
        if token.kind != Kind::Op(op) {
            return None;
        }
        let column = token.column;
        self.at += 1;
        Some(column)
    }

    fn sum(&mut self) -> Result<Number, ExprError> {
        let mut value = self.product()?;
        loop {
            if let Some(column) = self.eat('+') {
                value = number::add(value, self.product()?, column)?;
            } else if let Some(column) = self.eat('-') {
                value = number::sub(value, self.product()?, column)?;
            } else {
                return Ok(value);
            }
        }
    }

    fn product(&mut self) -> Result<Number, ExprError> {
        let mut value = self.unary()?;
        loop {
            if let Some(column) = self.eat('*') {
                value = number::mul(value, self.unary()?, column)?;
            } else if let Some(column) = self.eat('/') {
                value = number::div(value, self.unary()?, column)?;
            } else if let Some(column) = self.eat('%') {
                value = number::rem(value, self.unary()?, column)?;
            } else {
                return Ok(value);
            }
        }
    }

    /// Every nested construct passes through here, so this is where depth is counted.
    fn unary(&mut self) -> Result<Number, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::at(
                self.peek().column,
                format!("the expression nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        let value = if let Some(column) = self.eat('-') {
            self.unary().and_then(|v| number::neg(v, column))
        } else if self.eat('+').is_some() {
            self.unary()
        } else {
            self.power()
        };
        self.depth -= 1;
        value
    }

    fn power(&mut self) -> Result<Number, ExprError> {
        let base = self.postfix()?;
        match self.eat('^') {
            Some(column) => number::pow(base, self.unary()?, column),
            None => Ok(base),
        }
    }

    fn postfix(&mut self) -> Result<Number, ExprError> {
        let mut value = self.primary()?;
        while let Some(column) = self.eat('!') {
            value = functions::factorial(value, column)?;
        }
        Ok(value)
    }

    fn primary(&mut self) -> Result<Number, ExprError> {
        let token = self.next();
        match token.kind {
            Kind::Num(n) => Ok(n),
            Kind::Op('(') => {
                let value = self.sum()?;
                self.close(token.column)?;
                Ok(value)
            }
            Kind::Name(name) if self.peek().kind == Kind::Op('(') => {
                let open = self.next().column;
                let Some(function) = functions::find(&name) else {
                    return Err(ExprError::at(
                        token.column,
                        unknown_function(&name, self.variables),
                    ));
                };
                let mut arguments = Vec::new();
                if self.eat(')').is_none() {
                    loop {
                        arguments.push(self.sum()?);
                        if self.eat(',').is_none() {
                            break;
                        }
                    }
                    self.close(open)?;
                }
                function.apply(&arguments, token.column)
            }
            Kind::Name(name) => self.named(&name, token.column),
            Kind::End => Err(ExprError::at(
                token.column,
                "the expression ends too early: expected a number, a name or `(`",
            )),
            other => Err(ExprError::at(
                token.column,
                format!(
                    "expected a number, a name or `(` but found {}",
                    describe(&other)
                ),
            )),
        }
    }

    fn close(&mut self, open: usize) -> Result<(), ExprError> {
        if self.eat(')').is_some() {
            return Ok(());
        }
        let next = self.peek();
        Err(ExprError::at(
            next.column,
            format!(
                "expected `)` to close the `(` at column {open} but found {}",
                describe(&next.kind)
            ),
        ))
    }

    fn named(&self, name: &str, column: usize) -> Result<Number, ExprError> {
        if let Some(value) = self.variables.get(name) {
            return Ok(*value);
        }
        if let Some((_, value, _)) = CONSTANTS.iter().find(|(c, ..)| *c == name) {
            return Ok(Number::Float(*value));
        }
        if functions::find(name).is_some() {
            return Err(ExprError::at(
                column,
                format!("`{name}` is a function: call it as `{name}(…)`"),
            ));
        }
        let known = self
            .variables
            .keys()
            .map(String::as_str)
            .chain(CONSTANTS.iter().map(|c| c.0));
        let hint = closest(name, known)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        Err(ExprError::at(
            column,
            format!("unknown name `{name}`{hint}: pass it in `variables`"),
        ))
    }
}

fn unknown_function(name: &str, variables: &BTreeMap<String, Number>) -> String {
    if variables.contains_key(name) {
        return format!(
            "`{name}` is a variable, not a function; multiplication is written with `*`"
        );
    }
    let hint = closest(name, functions::names())
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    format!("unknown function `{name}`{hint}")
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // One edit in three characters: `sqr` finds `sqrt`, but `y` does not find `e`.
    let limit = name.chars().count() / 3;
    candidates
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
