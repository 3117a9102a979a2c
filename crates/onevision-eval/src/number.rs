//! Reading an answer as a number the way a grader would: units, `$`, `\text{}` and thousands
//! commas ignored; `\frac`, `\sqrt`, `\pi`, `^`, `*`, `/` evaluated; `x = 5` read as 5. And
//! comparing two numbers with the tolerance of the less precise one's last written decimal.

/// A number read from an answer. `decimals` is how many digits after the point it was written
/// with, when it was written as a plain decimal; `None` for an exact expression (`\frac{1}{3}`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    pub value: f64,
    pub decimals: Option<u32>,
}

/// Single letters taken for units after a number ("5 m", "3 s", "3 Ω"); any other single letter
/// makes it an expression ("2x"), not a number.
const ONE_LETTER_UNITS: [&str; 13] = [
    "m", "g", "s", "l", "L", "N", "J", "W", "V", "K", "h", "Ω", "A",
];

/// The answer as a number, or `None` when it is not one (text, a tuple, an expression in x).
pub fn parse(answer: &str) -> Option<Number> {
    let mut s = strip_markup(answer);
    for sep in ["\\approx", "≈", "="] {
        if let Some(at) = s.rfind(sep) {
            s = s[at + sep.len()..].to_string();
        }
    }
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
        exact: false,
        literal_decimals: None,
        literals: 0,
    };
    let value = p.expr()?;
    if !value.is_finite() || !is_unit(&s[p.at..]) {
        return None;
    }
    let decimals = if p.exact || p.literals != 1 {
        None
    } else {
        p.literal_decimals
    };
    Some(Number { value, decimals })
}

/// Whether two numbers are the same answer: equal within a millionth (relative), or equal once
/// the more precise is rounded to the decimals the less precise was written with (when it was
/// written with at least one): 3.14 matches 3.1416, 12 does not match 12.4.
pub fn same(a: Number, b: Number) -> bool {
    if (a.value - b.value).abs() <= 1e-6 * b.value.abs().max(1.0) {
        return true;
    }
    let (coarse, fine) = match (a.decimals, b.decimals) {
        (Some(da), Some(db)) if da <= db => (a, b),
        (Some(_), Some(_)) => (b, a),
        (Some(_), None) => (a, b),
        (None, Some(_)) => (b, a),
        (None, None) => return false,
    };
    let d = coarse.decimals.unwrap_or(0);
    if d == 0 {
        return false;
    }
    let scale = 10f64.powi(d as i32);
    let rounded = (fine.value * scale).round() / scale;
    (rounded - coarse.value).abs() <= 0.5 / scale * 1e-3
}

fn is_unit(rest: &str) -> bool {
    let rest = rest.trim();
    if rest.is_empty() {
        return true;
    }
    let first = rest.chars().next().unwrap_or(' ');
    if matches!(first, '%' | '°' | '²' | '³') {
        return is_unit(&rest[first.len_utf8()..]);
    }
    if rest.contains(['=', ',', ';', '(', ')', '[', ']', '+']) {
        return false;
    }
    let word: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    if word.is_empty() {
        return false;
    }
    word.chars().count() >= 2 || ONE_LETTER_UNITS.contains(&word.as_str())
}

/// LaTeX and typography that never change a value.
pub fn strip_markup(answer: &str) -> String {
    let mut s = answer.trim().to_string();
    for wrapper in [
        "\\text",
        "\\mathrm",
        "\\textbf",
        "\\mathbf",
        "\\operatorname",
        "\\textit",
    ] {
        s = unwrap_command(&s, wrapper);
    }
    for (from, to) in [
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\left", ""),
        ("\\right", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\ ", " "),
        ("\\%", "%"),
        ("^{\\circ}", "°"),
        ("^\\circ", "°"),
        ("\\circ", "°"),
        ("\\degree", "°"),
        ("\\cdot", "*"),
        ("\\times", "*"),
        ("×", "*"),
        ("·", "*"),
        ("−", "-"),
        ("π", "\\pi"),
        ("√", "\\sqrt"),
        ("$", ""),
        ("**", ""),
    ] {
        s = s.replace(from, to);
    }
    drop_thousands_commas(s.trim().trim_end_matches('.').trim())
}

/// `\name{x}` -> `x`, for every occurrence.
pub fn unwrap_command(s: &str, name: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(name) {
        let after = &rest[at + name.len()..];
        let after_trim = after.trim_start();
        // `\textbf` must not be read as `\text` + `bf`.
        if after.starts_with(|c: char| c.is_ascii_alphabetic()) || !after_trim.starts_with('{') {
            out.push_str(&rest[..at + name.len()]);
            rest = after;
            continue;
        }
        match balanced(after_trim) {
            Some((inner, tail)) => {
                out.push_str(&rest[..at]);
                out.push_str(inner);
                rest = tail;
            }
            None => {
                out.push_str(&rest[..at + name.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The content of the `{…}` `s` starts with, and what follows it.
pub fn balanced(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// "1,200,000" -> "1200000"; "2, 3" and "1,5" stay as they are.
fn drop_thousands_commas(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c == ',' {
            let digits_before = b[..i]
                .iter()
                .rev()
                .take_while(|d| d.is_ascii_digit())
                .count();
            let digits_after = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            if digits_before >= 1 && digits_after == 3 {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// A small recursive-descent reader of arithmetic in LaTeX.
struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    /// An operation or constant made the value exact rather than a written decimal.
    exact: bool,
    literal_decimals: Option<u32>,
    literals: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.s.len() && self.s[self.at] == b' ' {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.s[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<f64> {
        let mut v = self.term()?;
        loop {
            if self.eat("+") {
                self.exact = true;
                v += self.term()?;
            } else if self.peek() == Some(b'-') && self.starts_operand(1) {
                self.at += 1;
                self.exact = true;
                v -= self.term()?;
            } else {
                return Some(v);
            }
        }
    }

    fn starts_operand(&self, offset: usize) -> bool {
        let mut i = self.at + offset;
        while i < self.s.len() && self.s[i] == b' ' {
            i += 1;
        }
        self.s
            .get(i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'(' | b'{' | b'\\'))
    }

    fn term(&mut self) -> Option<f64> {
        let mut v = self.power()?;
        loop {
            if self.eat("*") {
                self.exact = true;
                v *= self.power()?;
            } else if self.peek() == Some(b'/') && self.starts_operand(1) {
                self.at += 1;
                self.exact = true;
                v /= self.power()?;
            } else if self.starts_operand(0) && self.peek() != Some(b'.') {
                // Implicit product: 2\sqrt{3}, 3\pi, 2(5).
                self.exact = true;
                v *= self.power()?;
            } else {
                return Some(v);
            }
        }
    }

    fn power(&mut self) -> Option<f64> {
        let base = self.unary()?;
        if self.peek() == Some(b'^') && self.starts_operand(1) {
            self.at += 1;
            self.exact = true;
            let e = self.unary()?;
            return Some(base.powf(e));
        }
        Some(base)
    }

    fn unary(&mut self) -> Option<f64> {
        if self.eat("-") {
            return self.unary().map(|v| -v);
        }
        if self.eat("+") {
            return self.unary();
        }
        self.atom()
    }

    fn group(&mut self, open: u8, close: u8) -> Option<f64> {
        self.skip_space();
        if self.s.get(self.at) != Some(&open) {
            return None;
        }
        self.at += 1;
        let v = self.expr()?;
        self.skip_space();
        if self.s.get(self.at) != Some(&close) {
            return None;
        }
        self.at += 1;
        Some(v)
    }

    fn atom(&mut self) -> Option<f64> {
        match self.peek()? {
            b'(' => {
                self.exact = true;
                self.group(b'(', b')')
            }
            b'{' => self.group(b'{', b'}'),
            b'\\' => {
                if self.eat("\\frac") {
                    self.exact = true;
                    let n = self.group(b'{', b'}')?;
                    let d = self.group(b'{', b'}')?;
                    Some(n / d)
                } else if self.eat("\\sqrt") {
                    self.exact = true;
                    let root = if self.peek() == Some(b'[') {
                        self.group(b'[', b']')?
                    } else {
                        2.0
                    };
                    let v = if self.peek() == Some(b'{') {
                        self.group(b'{', b'}')?
                    } else {
                        self.number()?
                    };
                    Some(v.powf(1.0 / root))
                } else if self.eat("\\pi") {
                    self.exact = true;
                    Some(std::f64::consts::PI)
                } else {
                    None
                }
            }
            c if c.is_ascii_digit() || c == b'.' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<f64> {
        self.skip_space();
        let start = self.at;
        while self.at < self.s.len() && self.s[self.at].is_ascii_digit() {
            self.at += 1;
        }
        let mut decimals = 0;
        if self.s.get(self.at) == Some(&b'.')
            && self.s.get(self.at + 1).is_some_and(u8::is_ascii_digit)
        {
            self.at += 1;
            while self.at < self.s.len() && self.s[self.at].is_ascii_digit() {
                self.at += 1;
                decimals += 1;
            }
        }
        if self.at == start {
            return None;
        }
        self.literals += 1;
        self.literal_decimals = Some(decimals);
        std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<f64> {
        parse(s).map(|n| n.value)
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn plain_numbers_with_units_and_markup() {
        assert_eq!(
            parse("12"),
            Some(Number {
                value: 12.0,
                decimals: Some(0)
            })
        );
        assert_eq!(
            parse("3.50"),
            Some(Number {
                value: 3.5,
                decimals: Some(2)
            })
        );
        assert!(close(v("-4"), -4.0));
        assert!(close(v("$12$ cm"), 12.0));
        assert!(close(v("12 \\text{cm}^2"), 12.0));
        assert!(close(v("30^\\circ"), 30.0));
        assert!(close(v("30°"), 30.0));
        assert!(close(v("45\\%"), 45.0));
        assert!(close(v("1,200"), 1200.0));
        assert!(close(v("5 m/s"), 5.0));
        assert!(close(v("x = 5"), 5.0));
        assert!(close(v("AB \\approx 7.07"), 7.07));
        assert!(close(v("**7**."), 7.0));
        assert!(close(v("20 students"), 20.0));
        assert!(close(v("3 Ω"), 3.0));
        assert!(close(v("4 µm"), 4.0));
    }

    #[test]
    fn latex_arithmetic_is_evaluated_and_exact() {
        let half = parse("\\frac{1}{2}").unwrap();
        assert!((half.value - 0.5).abs() < 1e-12);
        assert_eq!(half.decimals, None);
        assert!(close(v("\\dfrac{3}{4}"), 0.75));
        assert!(close(v("\\frac{\\sqrt{3}}{2}"), 3f64.sqrt() / 2.0));
        assert!(close(v("2\\sqrt{3}"), 2.0 * 3f64.sqrt()));
        assert!(close(v("3\\pi"), 3.0 * std::f64::consts::PI));
        assert!(close(v("\\sqrt[3]{27}"), 3.0));
        assert!(close(v("2^3"), 8.0));
        assert!(close(v("1/4"), 0.25));
        assert!(close(v("-\\frac{1}{2}"), -0.5));
        assert!(close(v("10 - 2"), 8.0));
    }

    #[test]
    fn not_numbers() {
        for s in [
            "2x",
            "(2, 3)",
            "2, 3",
            "x",
            "",
            "\\frac{a}{b}",
            "A",
            "y = 2x + 1",
            "1:2",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn tolerance_is_the_less_precise_written_decimal() {
        let n = |s| parse(s).unwrap();
        assert!(same(n("3.14"), n("3.1416")));
        assert!(same(n("3.1416"), n("3.14")));
        assert!(same(n("0.866"), n("\\frac{\\sqrt{3}}{2}")));
        assert!(same(n("3.5"), n("3.50")));
        assert!(same(n("0.5"), n("\\frac{1}{2}")));
        assert!(!same(n("12"), n("12.4")));
        assert!(!same(n("3.14"), n("3.15")));
        assert!(!same(n("\\frac{1}{3}"), n("\\frac{1}{2}")));
        assert!(same(n("0.87"), n("\\frac{\\sqrt{3}}{2}")));
        assert!(!same(n("0.86"), n("\\frac{\\sqrt{3}}{2}")));
    }
}
