use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn eval(text: &str) -> Result<Number, ExprError> {
    evaluate(text, &BTreeMap::new())
}

fn text(expression: &str) -> String {
    match eval(expression) {
        Ok(n) => n.text(),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn precedence_and_associativity() {
    for (expression, expected) in [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("2^3^2", "512"),
        ("2 ** 10", "1024"),
        ("-2^2", "-4"),
        ("(-2)^2", "4"),
        ("2^-1", "0.5"),
        ("10 - 4 - 3", "3"),
        ("100 / 10 / 5", "2"),
        ("7 % 3", "1"),
        ("-7 % 3", "2"),
        ("3!", "6"),
        ("2 * 3!", "12"),
        ("-3!", "-6"),
        ("1e3 + 1", "1001"),
        ("1_000_000 * 3", "3000000"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("7 / 2", "3.5"),
        ("2 × 3 − 1 ÷ 2", "5.5"),
        ("max(1, 5, 3) - min(4, 2)", "3"),
        ("gcd(12, 18) + lcm(4, 6)", "18"),
        ("comb(52, 5)", "2598960"),
        ("perm(5, 2)", "20"),
        ("factorial(25)", "15511210043330985984000000"),
        ("round(2.5)", "3"),
        ("round(pi, 4)", "3.1416"),
        ("floor(-2.5) + ceil(2.1)", "0"),
        ("log(8, 2)", "3"),
        ("log10(1000)", "3"),
        ("abs(-5)", "5"),
        (
            "2^126 - 1 + 2^126",
            "170141183460469231731687303715884105727",
        ),
        ("2^127", "1.7014118346046923e38"),
        ("170!", "7.257415615307994e306"),
    ] {
        assert_eq!(text(expression), expected, "{expression}");
    }
    let x = BTreeMap::from([
        ("x".to_string(), Number::Int(4)),
        ("rate".into(), Number::Float(0.5)),
    ]);
    assert_eq!(evaluate("sqrt(x) * rate", &x).unwrap().text(), "1");
    assert_eq!(
        evaluate("12345678901234567 * 3", &x).unwrap(),
        Number::Int(37_037_036_703_703_701)
    );
}

#[test]
fn bad_expressions_say_where_and_what() {
    for (expression, expected) in [
        ("", "the expression is empty"),
        (
            "1 +",
            "at column 4: the expression ends too early: expected a number, a name or `(`",
        ),
        (
            "(1 + 2",
            "at column 7: expected `)` to close the `(` at column 1 but found the end of the expression",
        ),
        ("1 + 2)", "at column 6: `)` without a matching `(`"),
        (
            "2x",
            "at column 2: expected an operator before `x`; multiplication is written with `*`",
        ),
        (
            "2 (3)",
            "at column 3: expected an operator before `(`; multiplication is written with `*`",
        ),
        ("1 / 0", "at column 3: division by zero"),
        ("5 % 0", "at column 3: remainder of a division by zero"),
        (
            "sqr(4)",
            "at column 1: unknown function `sqr` (did you mean `sqrt`?)",
        ),
        (
            "sqrt(-1)",
            "at column 1: sqrt(-1) is undefined: the argument must be ≥ 0",
        ),
        (
            "ln(0)",
            "at column 1: ln(0) is undefined: the argument must be > 0",
        ),
        (
            "sqrt(1, 2)",
            "at column 1: sqrt() takes 1 argument, but was given 2",
        ),
        (
            "atan2(1)",
            "at column 1: atan2() takes 2 arguments, but was given 1",
        ),
        (
            "y + 1",
            "at column 1: unknown name `y`: pass it in `variables`",
        ),
        (
            "sqrt + 1",
            "at column 1: `sqrt` is a function: call it as `sqrt(…)`",
        ),
        (
            "2.5!",
            "at column 4: factorial is defined here for whole numbers from 0 to 170, not 2.5",
        ),
        (
            "171!",
            "at column 4: factorial is defined here for whole numbers from 0 to 170, not 171",
        ),
        (
            "10^400",
            "at column 3: the power overflows (its magnitude is beyond 1.8e308)",
        ),
        (
            "9^9^9^9",
            "at column 4: the power overflows (its magnitude is beyond 1.8e308)",
        ),
        (
            "(-8)^(1/3)",
            "at column 5: a negative number to a fractional power is not a real number (cbrt() takes odd roots)",
        ),
        ("1e999", "at column 1: the number 1e999 is too large"),
        ("2 $ 3", "at column 3: unexpected character `$`"),
        (
            "1 +* 2",
            "at column 4: expected a number, a name or `(` but found `*`",
        ),
        (
            "comb(3, 5)",
            "at column 1: comb(n, k) needs 0 ≤ k ≤ n ≤ 100000; got n = 3, k = 5",
        ),
        (
            "gcd(2.5, 5)",
            "at column 1: gcd() takes whole numbers; argument 1 is 2.5",
        ),
        (
            "round(1.5, 99)",
            "at column 1: round(x, d) takes d from 0 to 15, not 99",
        ),
    ] {
        assert_eq!(
            text(expression),
            format!("error: {expected}"),
            "{expression}"
        );
    }
    let bad_name = BTreeMap::from([("pi".to_string(), Number::Int(3))]);
    assert!(
        evaluate("pi", &bad_name)
            .unwrap_err()
            .message
            .contains("built-in constant")
    );
    let x = BTreeMap::from([("x".to_string(), Number::Int(3))]);
    assert!(
        evaluate("x(2)", &x)
            .unwrap_err()
            .message
            .contains("is a variable, not a function")
    );
}

#[test]
fn work_is_bounded() {
    let deep = format!("{}1{}", "(".repeat(4_000), ")".repeat(4_000));
    assert!(
        eval(&deep)
            .unwrap_err()
            .message
            .contains("nests more than 64 levels")
    );
    let negations = format!("{}1", "-".repeat(9_000));
    assert!(
        eval(&negations)
            .unwrap_err()
            .message
            .contains("nests more than")
    );
    let powers = vec!["2"; 4_000].join("^");
    assert!(eval(&powers).is_err());
    let long = "1+".repeat(MAX_LEN);
    assert!(eval(&long).unwrap_err().message.contains("characters long"));
    // A long flat sum is fine: it does not nest.
    let sum = format!("{}1", "1+".repeat(4_000));
    assert_eq!(eval(&sum), Ok(Number::Int(4_001)));
}

/// A random arithmetic tree over small integers, with its value in checked 128-bit
/// integers (None if it overflows or divides by zero along the way).
#[derive(Clone, Debug)]
enum Tree {
    Leaf(i64),
    Neg(Box<Tree>),
    Bin(char, Box<Tree>, Box<Tree>),
}

impl Tree {
    fn value(&self) -> Option<i128> {
        match self {
            Tree::Leaf(n) => Some(i128::from(*n)),
            Tree::Neg(t) => t.value()?.checked_neg(),
            Tree::Bin(op, a, b) => {
                let (a, b) = (a.value()?, b.value()?);
                match op {
                    '+' => a.checked_add(b),
                    '-' => a.checked_sub(b),
                    '*' => a.checked_mul(b),
                    _ => None,
                }
            }
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Tree::Leaf(_) => 9,
            Tree::Neg(_) => 3,
            Tree::Bin('*', ..) => 2,
            Tree::Bin(..) => 1,
        }
    }

    /// The tree as text with only the parentheses precedence and left associativity need,
    /// so parsing it back exercises exactly those rules.
    fn render(&self) -> String {
        match self {
            Tree::Leaf(n) if *n < 0 => format!("({n})"),
            Tree::Leaf(n) => n.to_string(),
            Tree::Neg(t) => {
                let inner = t.render();
                if t.precedence() < 3 {
                    format!("-({inner})")
                } else {
                    format!("-{inner}")
                }
            }
            Tree::Bin(op, a, b) => {
                let p = self.precedence();
                let left = if a.precedence() < p {
                    format!("({})", a.render())
                } else {
                    a.render()
                };
                // The right operand of a left-associative operator needs parentheses at the
                // same precedence: a - (b - c).
                let right = if b.precedence() <= p {
                    format!("({})", b.render())
                } else {
                    b.render()
                };
                format!("{left} {op} {right}")
            }
        }
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = (-1_000i64..1_000).prop_map(Tree::Leaf);
    leaf.prop_recursive(6, 64, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Neg(Box::new(t))),
            (
                prop_oneof![Just('+'), Just('-'), Just('*')],
                inner.clone(),
                inner
            )
                .prop_map(|(op, a, b)| Tree::Bin(op, Box::new(a), Box::new(b))),
        ]
    })
}

/// Pieces a hostile or confused caller might send, glued at random.
fn fragments() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("(".to_string()),
        Just(")".into()),
        Just("+".into()),
        Just("-".into()),
        Just("*".into()),
        Just("/".into()),
        Just("%".into()),
        Just("^".into()),
        Just("!".into()),
        Just(",".into()),
        Just("**".into()),
        Just("sqrt(".into()),
        Just("comb(".into()),
        Just("factorial(".into()),
        Just("pi".into()),
        Just("x".into()),
        Just("1e308".into()),
        Just("0".into()),
        Just("170".into()),
        Just("9".into()),
        Just(".5".into()),
        Just("1_0".into()),
        Just(" ".into()),
        Just("é".into()),
        Just("\u{0}".into()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[ -~]{1,3}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn integer_trees_evaluate_exactly(tree in tree()) {
        let text = tree.render();
        match (tree.value(), eval(&text)) {
            (Some(expected), Ok(got)) => prop_assert_eq!(got, Number::Int(expected), "{}", text),
            (Some(_), Err(e)) => prop_assert!(false, "{text}: {e}"),
            // Overflowed 128 bits somewhere: the parser carries on in floats.
            (None, outcome) => prop_assert!(outcome.map_or(true, |n| n.to_f64().is_finite())),
        }
    }

    #[test]
    fn any_text_is_an_answer_or_an_error_never_a_panic(text in "\\PC{0,200}") {
        if let Err(e) = eval(&text) {
            prop_assert!(e.column.is_none_or(|c| c <= text.chars().count() + 1));
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn fragments_never_panic_and_answers_are_finite(text in fragments()) {
        let x = BTreeMap::from([("x".to_string(), Number::Float(2.5))]);
        match evaluate(&text, &x) {
            Ok(n) => prop_assert!(n.to_f64().is_finite()),
            Err(e) => prop_assert!(e.column.is_none_or(|c| c <= text.chars().count() + 1)),
        }
    }
}
