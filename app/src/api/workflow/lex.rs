//! The expression language's tokens: numbers, strings, names and punctuation, each with
//! the character offset it starts at, for error messages.

use std::fmt;

use serde_json::Number;

use super::expr::ExprError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token {
    Number(Number),
    Str(String),
    Ident(String),
    Punct(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "number {n}"),
            Token::Str(_) => f.write_str("a string"),
            Token::Ident(name) => write!(f, "`{name}`"),
            Token::Punct(p) => write!(f, "`{p}`"),
        }
    }
}

const PUNCTS: [&str; 24] = [
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ",", ".", ":", "?", "!", "+",
    "-", "*", "/", "%", "<", ">",
];

pub(super) fn lex(source: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                // `items.0` is not a number: a dot must be followed by a digit.
                if chars[i] == '.' && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
            let text: String = chars[at..i].iter().collect();
            let number = match text.parse::<i64>() {
                Ok(n) => Number::from(n),
                Err(_) => text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .ok_or_else(|| ExprError {
                        at,
                        message: format!("`{text}` is not a number"),
                    })?,
            };
            tokens.push((at, Token::Number(number)));
        } else if c == '"' || c == '\'' {
            let (text, end) = string(&chars, i)?;
            tokens.push((at, Token::Str(text)));
            i = end;
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((at, Token::Ident(chars[at..i].iter().collect())));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) else {
                return Err(ExprError {
                    at,
                    message: format!("unexpected character `{c}`"),
                });
            };
            i += p.chars().count();
            tokens.push((at, Token::Punct(p)));
        }
    }
    Ok(tokens)
}

/// A quoted string from `chars[start]` (its quote) on; its text and the index past it.
fn string(chars: &[char], start: usize) -> Result<(String, usize), ExprError> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c == quote => return Ok((text, i + 1)),
            '\\' => {
                let escaped = match chars.get(i + 1) {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some(c @ ('\\' | '"' | '\'')) => *c,
                    other => {
                        return Err(ExprError {
                            at: i,
                            message: match other {
                                Some(c) => format!("unknown escape `\\{c}`"),
                                None => "unterminated string".into(),
                            },
                        });
                    }
                };
                text.push(escaped);
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(ExprError {
        at: start,
        message: "unterminated string".into(),
    })
}
