//! The workflow expression language. Conditions, transforms, templated tool arguments and
//! custom reducers read a run's state through it, so it is small on purpose: literals, paths
//! (`state.order.items[0]`), operators, `a ? b : c`, and a fixed set of pure functions
//! ([`super::functions`]). No assignment, no loops, no clock, nothing reaching out: an
//! expression's value depends only on the state it reads, so a resumed run decides as the
//! first attempt did. Work is bounded by the text's size ([`MAX_SOURCE`], [`MAX_DEPTH`])
//! times the data read, and no value it builds may exceed [`MAX_VALUE`]. Tokens come from
//! [`super::lex`].

use std::fmt;

use serde_json::{Map, Value};

use super::functions::{self, Func};
pub use super::functions::{display, kind, truthy};
use super::lex::{Token, lex};

/// The longest expression text accepted.
pub const MAX_SOURCE: usize = 4096;
/// The deepest nesting of sub-expressions accepted (parser and evaluator recursion).
const MAX_DEPTH: usize = 64;
/// The most characters in a string, or items in an array, an expression may build.
pub const MAX_VALUE: usize = 1 << 20;

/// A parsed expression; cheap to evaluate many times.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Literal(Value),
    Var(String),
    Member(Box<Node>, String),
    Index(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Negate(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Choose(Box<Node>, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

/// Why an expression could not be parsed or evaluated; `at` is a character offset into the
/// text (parse errors) or the offset of the expression's start (evaluation errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub at: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.at + 1, self.message)
    }
}

impl std::error::Error for ExprError {}

pub(super) fn fail<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        at: 0,
        message: message.into(),
    })
}

pub(super) fn fail_at<T>(at: usize, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        at,
        message: message.into(),
    })
}

/// `a + b` as the language adds: numbers (whole while they fit), strings, arrays.
pub(super) fn add(a: &Value, b: &Value) -> Result<Value, ExprError> {
    binary(Op::Add, a, b)
}

/// The variables an expression may read, by name.
pub trait Vars {
    fn get(&self, name: &str) -> Option<&Value>;
}

impl Vars for [(&str, &Value)] {
    fn get(&self, name: &str) -> Option<&Value> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

impl Expr {
    /// Parses `source`, which may read only the variables named in `vars`.
    pub fn parse(source: &str, vars: &[&str]) -> Result<Self, ExprError> {
        if source.chars().count() > MAX_SOURCE {
            return Err(ExprError {
                at: MAX_SOURCE,
                message: format!("an expression is at most {MAX_SOURCE} characters"),
            });
        }
        let tokens = lex(source)?;
        let mut parser = Parser {
            tokens,
            next: 0,
            vars,
            depth: 0,
            end: source.chars().count(),
        };
        let root = parser.choice()?;
        if let Some((at, token)) = parser.tokens.get(parser.next) {
            return Err(ExprError {
                at: *at,
                message: format!("unexpected {token} after a complete expression"),
            });
        }
        Ok(Self {
            source: source.to_owned(),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The keys of variable `var` this expression reads directly (`state.count` → `count`),
    /// for checking them against a declared schema.
    pub fn members_of(&self, var: &str) -> Vec<String> {
        let mut found = Vec::new();
        self.root.members_of(var, &mut found);
        found
    }

    pub fn eval(&self, vars: &(impl Vars + ?Sized)) -> Result<Value, ExprError> {
        eval(&self.root, vars, 0)
    }
}

impl Node {
    fn members_of(&self, var: &str, found: &mut Vec<String>) {
        match self {
            Node::Member(inner, key) if matches!(&**inner, Node::Var(v) if v == var) => {
                if !found.contains(key) {
                    found.push(key.clone());
                }
            }
            Node::Literal(_) | Node::Var(_) => {}
            Node::Member(a, _) | Node::Not(a) | Node::Negate(a) => a.members_of(var, found),
            Node::Index(a, b) | Node::Binary(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
                a.members_of(var, found);
                b.members_of(var, found);
            }
            Node::Choose(a, b, c) => {
                for n in [a, b, c] {
                    n.members_of(var, found);
                }
            }
            Node::Call(_, items) | Node::Array(items) => {
                items.iter().for_each(|n| n.members_of(var, found))
            }
            Node::Object(fields) => fields.iter().for_each(|(_, n)| n.members_of(var, found)),
        }
    }
}

struct Parser<'a> {
    tokens: Vec<(usize, Token)>,
    next: usize,
    vars: &'a [&'a str],
    depth: usize,
    end: usize,
}

impl Parser<'_> {
    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            at: self.at(),
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    /// Takes the next token if it is `punct` (or the keyword of the same meaning).
    fn eat(&mut self, punct: &str) -> bool {
        let hit = match self.peek() {
            Some(Token::Punct(p)) => *p == punct,
            Some(Token::Ident(word)) => matches!(
                (word.as_str(), punct),
                ("and", "&&") | ("or", "||") | ("not", "!") | ("in", "in")
            ),
            _ => false,
        };
        if hit {
            self.next += 1;
        }
        hit
    }

    fn expect(&mut self, punct: &str) -> Result<(), ExprError> {
        if self.eat(punct) {
            return Ok(());
        }
        match self.peek() {
            Some(token) => self.error(format!("expected `{punct}`, found {token}")),
            None => self.error(format!("expected `{punct}`, found the end")),
        }
    }

    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("nested more than {MAX_DEPTH} deep"));
        }
        let out = parse(self);
        self.depth -= 1;
        out
    }

    fn choice(&mut self) -> Result<Node, ExprError> {
        self.nested(|p| {
            let test = p.or()?;
            if !p.eat("?") {
                return Ok(test);
            }
            let yes = p.choice()?;
            p.expect(":")?;
            let no = p.choice()?;
            Ok(Node::Choose(Box::new(test), Box::new(yes), Box::new(no)))
        })
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut left = self.binary(0)?;
        while self.eat("&&") {
            left = Node::And(Box::new(left), Box::new(self.binary(0)?));
        }
        Ok(left)
    }

    /// Binary operators by level: equality, comparison, sums, products.
    fn binary(&mut self, level: usize) -> Result<Node, ExprError> {
        const LEVELS: [&[(&str, Op)]; 4] = [
            &[("==", Op::Eq), ("!=", Op::Ne)],
            &[
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("in", Op::In),
            ],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        'more: loop {
            for (text, op) in ops.iter() {
                if self.eat(text) {
                    let right = self.binary(level + 1)?;
                    left = Node::Binary(*op, Box::new(left), Box::new(right));
                    continue 'more;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        self.nested(|p| {
            if p.eat("!") {
                return Ok(Node::Not(Box::new(p.unary()?)));
            }
            if p.eat("-") {
                return Ok(Node::Negate(Box::new(p.unary()?)));
            }
            p.postfix()
        })
    }

    fn postfix(&mut self) -> Result<Node, ExprError> {
        let mut node = self.primary()?;
        loop {
            if self.eat(".") {
                match self.peek().cloned() {
                    Some(Token::Ident(key)) => {
                        self.next += 1;
                        node = Node::Member(Box::new(node), key);
                    }
                    Some(Token::Number(n)) if n.is_u64() => {
                        self.next += 1;
                        node = Node::Index(Box::new(node), Box::new(Node::Literal(n.into())));
                    }
                    _ => return self.error("expected a key name after `.`"),
                }
            } else if self.eat("[") {
                let index = self.choice()?;
                self.expect("]")?;
                node = Node::Index(Box::new(node), Box::new(index));
            } else {
                return Ok(node);
            }
        }
    }

    fn list(&mut self, close: &str) -> Result<Vec<Node>, ExprError> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.choice()?);
            if !self.eat(",") {
                self.expect(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let at = self.at();
        let Some(token) = self.peek().cloned() else {
            return self.error("expected a value, found the end");
        };
        self.next += 1;
        match token {
            Token::Number(n) => Ok(Node::Literal(Value::Number(n))),
            Token::Str(s) => Ok(Node::Literal(Value::String(s))),
            Token::Punct("(") => {
                let inner = self.choice()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Punct("[") => Ok(Node::Array(self.list("]")?)),
            Token::Punct("{") => self.object(),
            Token::Ident(word) => match word.as_str() {
                "true" => Ok(Node::Literal(Value::Bool(true))),
                "false" => Ok(Node::Literal(Value::Bool(false))),
                "null" => Ok(Node::Literal(Value::Null)),
                _ if self.eat("(") => {
                    let Some(func) = Func::named(&word) else {
                        return Err(ExprError {
                            at,
                            message: format!(
                                "unknown function `{word}`; known: {}",
                                functions::NAMES.join(", ")
                            ),
                        });
                    };
                    let args = self.list(")")?;
                    func.check_arity(args.len())
                        .map_err(|message| ExprError { at, message })?;
                    Ok(Node::Call(func, args))
                }
                _ if self.vars.contains(&word.as_str()) => Ok(Node::Var(word)),
                _ => Err(ExprError {
                    at,
                    message: format!(
                        "unknown name `{word}`; this expression may read {}",
                        self.vars
                            .iter()
                            .map(|v| format!("`{v}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            },
            Token::Punct(p) => Err(ExprError {
                at,
                message: format!("expected a value, found `{p}`"),
            }),
        }
    }

    fn object(&mut self) -> Result<Node, ExprError> {
        let mut fields = Vec::new();
        while !self.eat("}") {
            let key = match self.peek().cloned() {
                Some(Token::Str(key) | Token::Ident(key)) => key,
                _ => return self.error("expected a key in an object"),
            };
            self.next += 1;
            self.expect(":")?;
            fields.push((key, self.choice()?));
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(Node::Object(fields))
    }
}

fn eval(node: &Node, vars: &(impl Vars + ?Sized), depth: usize) -> Result<Value, ExprError> {
    if depth > MAX_DEPTH * 2 {
        return fail("nested too deep");
    }
    let ev = |n: &Node| eval(n, vars, depth + 1);
    Ok(match node {
        Node::Literal(v) => v.clone(),
        Node::Var(name) => vars.get(name).cloned().unwrap_or(Value::Null),
        Node::Member(inner, key) => match ev(inner)? {
            Value::Object(mut map) => map.remove(key).unwrap_or(Value::Null),
            Value::Null => Value::Null,
            other => {
                return fail(format!(
                    "cannot read `{key}` of {}",
                    functions::kind(&other)
                ));
            }
        },
        Node::Index(inner, index) => index_into(ev(inner)?, ev(index)?)?,
        Node::Not(inner) => Value::Bool(!functions::truthy(&ev(inner)?)),
        Node::Negate(inner) => arithmetic(Op::Sub, &Value::from(0), &ev(inner)?)?,
        Node::And(a, b) => Value::Bool(functions::truthy(&ev(a)?) && functions::truthy(&ev(b)?)),
        Node::Or(a, b) => Value::Bool(functions::truthy(&ev(a)?) || functions::truthy(&ev(b)?)),
        Node::Choose(test, yes, no) => {
            if functions::truthy(&ev(test)?) {
                ev(yes)?
            } else {
                ev(no)?
            }
        }
        Node::Binary(op, a, b) => binary(*op, &ev(a)?, &ev(b)?)?,
        Node::Call(func, args) => {
            let values = args.iter().map(ev).collect::<Result<Vec<_>, _>>()?;
            func.apply(values)?
        }
        Node::Array(items) => Value::Array(items.iter().map(ev).collect::<Result<_, _>>()?),
        Node::Object(fields) => {
            let mut map = Map::new();
            for (key, value) in fields {
                map.insert(key.clone(), ev(value)?);
            }
            Value::Object(map)
        }
    })
}

fn index_into(value: Value, index: Value) -> Result<Value, ExprError> {
    match (value, &index) {
        (Value::Array(mut items), Value::Number(n)) => {
            let Some(i) = n.as_i64() else {
                return fail(format!("an array index is a whole number, not {n}"));
            };
            let len = items.len() as i64;
            // A negative index counts from the end, as in Python.
            let i = if i < 0 { len + i } else { i };
            Ok(if (0..len).contains(&i) {
                items.swap_remove(i as usize)
            } else {
                Value::Null
            })
        }
        (Value::Object(mut map), Value::String(key)) => Ok(map.remove(key).unwrap_or(Value::Null)),
        (Value::Null, _) => Ok(Value::Null),
        (value, index) => fail(format!(
            "cannot index {} with {}",
            functions::kind(&value),
            functions::kind(index)
        )),
    }
}

fn binary(op: Op, a: &Value, b: &Value) -> Result<Value, ExprError> {
    use std::cmp::Ordering;
    let ordered = |wanted: fn(Ordering) -> bool| -> Result<Value, ExprError> {
        match functions::compare(a, b) {
            Some(order) => Ok(Value::Bool(wanted(order))),
            None => fail(format!(
                "cannot compare {} with {}",
                functions::kind(a),
                functions::kind(b)
            )),
        }
    };
    match op {
        Op::Eq => Ok(Value::Bool(functions::equal(a, b))),
        Op::Ne => Ok(Value::Bool(!functions::equal(a, b))),
        Op::Lt => ordered(Ordering::is_lt),
        Op::Le => ordered(Ordering::is_le),
        Op::Gt => ordered(Ordering::is_gt),
        Op::Ge => ordered(Ordering::is_ge),
        Op::In => functions::contains(b, a).map(Value::Bool),
        Op::Add => match (a, b) {
            (Value::String(x), Value::String(y)) => {
                functions::bounded_string(x.chars().count() + y.chars().count())?;
                Ok(Value::String(format!("{x}{y}")))
            }
            (Value::Array(x), Value::Array(y)) => {
                functions::bounded_items(x.len() + y.len())?;
                Ok(Value::Array(x.iter().chain(y).cloned().collect()))
            }
            _ => arithmetic(op, a, b),
        },
        Op::Sub | Op::Mul | Op::Div | Op::Rem => arithmetic(op, a, b),
    }
}

/// Whole numbers stay whole while they fit in an `i64`; anything else is a float, and a
/// result JSON cannot hold (infinite, NaN) is an error.
fn arithmetic(op: Op, a: &Value, b: &Value) -> Result<Value, ExprError> {
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        let sign = match op {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            _ => "%",
        };
        return fail(format!(
            "`{sign}` needs two numbers, got {} and {}",
            functions::kind(a),
            functions::kind(b)
        ));
    };
    if matches!(op, Op::Div | Op::Rem) && y.as_f64() == Some(0.0) {
        return fail("division by zero");
    }
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        let whole = match op {
            Op::Add => x.checked_add(y),
            Op::Sub => x.checked_sub(y),
            Op::Mul => x.checked_mul(y),
            Op::Rem => x.checked_rem(y),
            _ => (x.checked_rem(y) == Some(0)).then(|| x / y),
        };
        if let Some(n) = whole {
            return Ok(Value::from(n));
        }
    }
    let (x, y) = (
        x.as_f64().unwrap_or(f64::NAN),
        y.as_f64().unwrap_or(f64::NAN),
    );
    let n = match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
        _ => x % y,
    };
    functions::number(n)
}
