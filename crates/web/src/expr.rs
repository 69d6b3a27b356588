//! Functions of `x1` and `x2` typed in ordinary math notation: `+ - * / ^`, unary minus,
//! parentheses, juxtaposition as multiplication (`2 pi x1`), `sin cos tan exp log sqrt abs
//! tanh`, the constants `pi` and `e`, and numbers (`0.5`, `1e-3`).

use std::fmt;

/// A parsed expression, ready to evaluate.
///
/// ```
/// use borel_web::expr::Expr;
/// let f: Expr = "x1^2 + 2 x2^2 - 0.2 cos(3 pi x1)".parse().unwrap();
/// assert!((f.eval(1.0, 0.0) - 1.2).abs() < 1e-12);
/// let err = "sin(x1".parse::<Expr>().unwrap_err();
/// assert_eq!(err.to_string(), "column 7: expected ')' to close '(' at column 4, found end of input");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number or a constant.
    Num(f64),
    /// `x1` (index 0) or `x2` (index 1).
    Var(usize),
    /// `-a`.
    Neg(Box<Expr>),
    /// `a op b`.
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `f(a)`.
    Call(Func, Box<Expr>),
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*` or juxtaposition.
    Mul,
    /// `/`
    Div,
    /// `^` (or `**`), right-associative.
    Pow,
}

/// A function of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Tangent.
    Tan,
    /// `e^a`.
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// Absolute value.
    Abs,
    /// Hyperbolic tangent.
    Tanh,
}

const FUNCS: [(&str, Func); 8] = [
    ("sin", Func::Sin),
    ("cos", Func::Cos),
    ("tan", Func::Tan),
    ("exp", Func::Exp),
    ("log", Func::Log),
    ("sqrt", Func::Sqrt),
    ("abs", Func::Abs),
    ("tanh", Func::Tanh),
];

impl Func {
    fn apply(self, a: f64) -> f64 {
        match self {
            Func::Sin => a.sin(),
            Func::Cos => a.cos(),
            Func::Tan => a.tan(),
            Func::Exp => a.exp(),
            Func::Log => a.ln(),
            Func::Sqrt => a.sqrt(),
            Func::Abs => a.abs(),
            Func::Tanh => a.tanh(),
        }
    }
}

impl Expr {
    /// The value at `(x1, x2)`; NaN or an infinity where the math is undefined (`log(-1)`).
    pub fn eval(&self, x1: f64, x2: f64) -> f64 {
        match self {
            Expr::Num(v) => *v,
            Expr::Var(0) => x1,
            Expr::Var(_) => x2,
            Expr::Neg(a) => -a.eval(x1, x2),
            Expr::Call(f, a) => f.apply(a.eval(x1, x2)),
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(x1, x2), b.eval(x1, x2));
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Pow => a.powf(b),
                }
            }
        }
    }
}

/// Why an expression did not parse: where (a 0-based character offset), what the parser
/// expected there, and what it found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {}: expected {expected}, found {found}", .pos + 1)]
pub struct ParseError {
    /// Character offset of the offending token (0-based; the message counts from 1).
    pub pos: usize,
    /// What would have been accepted.
    pub expected: String,
    /// What was there.
    pub found: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(v) => write!(f, "number {v}"),
            Tok::Name(n) => write!(f, "'{n}'"),
            Tok::Op(c) => write!(f, "'{c}'"),
            Tok::End => write!(f, "end of input"),
        }
    }
}

fn err(pos: usize, expected: impl Into<String>, found: impl Into<String>) -> ParseError {
    ParseError {
        pos,
        expected: expected.into(),
        found: found.into(),
    }
}

/// Splits the text into tokens with their character offsets; `**` becomes `^`.
fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            i = number_end(&chars, i);
            let text: String = chars[start..i].iter().collect();
            let v = text
                .parse::<f64>()
                .map_err(|_| err(start, "a number", format!("'{text}'")))?;
            out.push((start, Tok::Num(v)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start, Tok::Name(chars[start..i].iter().collect())));
        } else if c == '*' && chars.get(i + 1) == Some(&'*') {
            out.push((start, Tok::Op('^')));
            i += 2;
        } else if "+-*/^()".contains(c) {
            out.push((start, Tok::Op(c)));
            i += 1;
        } else {
            return Err(err(
                start,
                "a number, a name, an operator or a parenthesis",
                format!("'{c}'"),
            ));
        }
    }
    out.push((chars.len(), Tok::End));
    Ok(out)
}

/// The end of the number starting at `i`: digits and dots, then an optional exponent.
fn number_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        // `2e` alone is 2 times the constant e, so the exponent needs a digit.
        if j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
}

const OPERAND: &str = "a number, x1, x2, pi, e, a function or '('";

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].1
    }
    fn next(&mut self) -> (usize, Tok) {
        let t = self.toks[self.at].clone();
        self.at = (self.at + 1).min(self.toks.len() - 1);
        t
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut a = self.product()?;
        while let Tok::Op(c @ ('+' | '-')) = *self.peek() {
            self.next();
            let op = if c == '+' { BinOp::Add } else { BinOp::Sub };
            a = Expr::Bin(op, Box::new(a), Box::new(self.product()?));
        }
        Ok(a)
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut a = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op('*') => BinOp::Mul,
                Tok::Op('/') => BinOp::Div,
                // Juxtaposition: `2 x1`, `3 pi x1`, `2(x1 + 1)`.
                Tok::Num(_) | Tok::Name(_) | Tok::Op('(') => {
                    a = Expr::Bin(BinOp::Mul, Box::new(a), Box::new(self.power()?));
                    continue;
                }
                _ => return Ok(a),
            };
            self.next();
            a = Expr::Bin(op, Box::new(a), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Tok::Op('-') => {
                self.next();
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Tok::Op('+') => {
                self.next();
                self.unary()
            }
            _ => self.power(),
        }
    }

    /// `a ^ b`, right-associative, binding tighter than unary minus on its left
    /// (`-x1^2` is `-(x1^2)`) and allowing a sign on its right (`2^-x1`).
    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.primary()?;
        if *self.peek() == Tok::Op('^') {
            self.next();
            return Ok(Expr::Bin(BinOp::Pow, Box::new(base), Box::new(self.unary()?)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (pos, tok) = self.next();
        match tok {
            Tok::Num(v) => Ok(Expr::Num(v)),
            Tok::Op('(') => self.closed(pos),
            Tok::Name(n) => self.name(pos, &n),
            other => Err(err(pos, OPERAND, other.to_string())),
        }
    }

    /// The rest of a parenthesized expression whose `(` was at `open`.
    fn closed(&mut self, open: usize) -> Result<Expr, ParseError> {
        let inner = self.sum()?;
        match self.next() {
            (_, Tok::Op(')')) => Ok(inner),
            (pos, other) => Err(err(
                pos,
                format!("')' to close '(' at column {}", open + 1),
                other.to_string(),
            )),
        }
    }

    fn name(&mut self, pos: usize, n: &str) -> Result<Expr, ParseError> {
        match n {
            "x1" => return Ok(Expr::Var(0)),
            "x2" => return Ok(Expr::Var(1)),
            "pi" => return Ok(Expr::Num(std::f64::consts::PI)),
            "e" => return Ok(Expr::Num(std::f64::consts::E)),
            _ => {}
        }
        let Some(&(_, f)) = FUNCS.iter().find(|(name, _)| *name == n) else {
            let names = "x1, x2, pi, e or one of sin cos tan exp log sqrt abs tanh";
            return Err(err(pos, names, format!("unknown name '{n}'")));
        };
        match self.next() {
            (open, Tok::Op('(')) => Ok(Expr::Call(f, Box::new(self.closed(open)?))),
            (p, other) => Err(err(p, format!("'(' after {n}"), other.to_string())),
        }
    }
}

impl std::str::FromStr for Expr {
    type Err = ParseError;

    fn from_str(src: &str) -> Result<Self, ParseError> {
        let mut p = Parser { toks: lex(src)?, at: 0 };
        if *p.peek() == Tok::End {
            return Err(err(0, "an expression", "nothing"));
        }
        let e = p.sum()?;
        match p.next() {
            (_, Tok::End) => Ok(e),
            (pos, other) => Err(err(pos, "an operator or the end", other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn ev(s: &str, x1: f64, x2: f64) -> f64 {
        s.parse::<Expr>().unwrap_or_else(|e| panic!("{s}: {e}")).eval(x1, x2)
    }

    fn parse_err(s: &str) -> ParseError {
        s.parse::<Expr>().expect_err(s)
    }

    #[test]
    fn precedence_and_associativity_follow_math() {
        assert_eq!(ev("1 + 2 * 3", 0.0, 0.0), 7.0);
        assert_eq!(ev("(1 + 2) * 3", 0.0, 0.0), 9.0);
        assert_eq!(ev("2 ^ 3 ^ 2", 0.0, 0.0), 512.0);
        assert_eq!(ev("-x1^2", 3.0, 0.0), -9.0);
        assert_eq!(ev("2^-1", 0.0, 0.0), 0.5);
        assert_eq!(ev("8 / 4 / 2", 0.0, 0.0), 1.0);
        assert_eq!(ev("10 - 4 - 3", 0.0, 0.0), 3.0);
        assert_eq!(ev("--x2", 0.0, 5.0), 5.0);
        assert_eq!(ev("x1 ** 2", 3.0, 0.0), 9.0);
        assert_eq!(ev("1e-3 + 2.5E2", 0.0, 0.0), 250.001);
    }

    #[test]
    fn juxtaposition_multiplies() {
        assert_eq!(ev("2 x1", 3.0, 0.0), 6.0);
        assert_eq!(ev("2x1 x2", 3.0, 5.0), 30.0);
        assert_eq!(ev("2(x1 + 1)", 3.0, 0.0), 8.0);
        assert_eq!(ev("2e", 0.0, 0.0), 2.0 * std::f64::consts::E);
        assert_eq!(ev("3 x1^2", 2.0, 0.0), 12.0);
    }

    #[test]
    fn functions_and_constants() {
        let (x1, x2) = (0.7, -1.3);
        let seed = x1 * x1 + 2.0 * x2 * x2 - 0.2 * (3.0 * PI * x1).cos() - 0.4 * (4.0 * PI * x2).cos();
        let typed = ev("x1^2 + 2 x2^2 - 0.2 cos(3 pi x1) - 0.4 cos(4 pi x2)", x1, x2);
        assert!((typed - seed).abs() < 1e-12, "{typed} vs {seed}");
        assert_eq!(ev("sin(x1) * cos(x2)", x1, x2), x1.sin() * x2.cos());
        assert_eq!(
            ev("tan(x1) + exp(x2) + log(2) + sqrt(4)", x1, x2),
            x1.tan() + x2.exp() + 2f64.ln() + 2.0
        );
        assert_eq!(ev("abs(x2) + tanh(x1)", x1, x2), 1.3 + x1.tanh());
        assert!(ev("log(-1)", 0.0, 0.0).is_nan());
    }

    #[test]
    fn errors_name_the_place_and_what_was_expected() {
        let e = parse_err("x1 + * 2");
        assert_eq!((e.pos, e.found.as_str()), (5, "'*'"));
        assert!(e.expected.contains("a number, x1"), "{e}");
        let e = parse_err("(x1 + 2");
        assert_eq!(
            e.to_string(),
            "column 8: expected ')' to close '(' at column 1, found end of input"
        );
        let e = parse_err("x3 + 1");
        assert_eq!((e.pos, e.found.as_str()), (0, "unknown name 'x3'"));
        let e = parse_err("sin x1");
        assert_eq!(e.to_string(), "column 5: expected '(' after sin, found 'x1'");
        let e = parse_err("x1 $ 2");
        assert_eq!((e.pos, e.found.as_str()), (3, "'$'"));
        assert_eq!(
            parse_err("x1 )").to_string(),
            "column 4: expected an operator or the end, found ')'"
        );
        assert_eq!(
            parse_err("  ").to_string(),
            "column 1: expected an expression, found nothing"
        );
        assert_eq!(parse_err("1..2").pos, 0);
        assert_eq!(parse_err("x1^").found, "end of input");
    }
}
