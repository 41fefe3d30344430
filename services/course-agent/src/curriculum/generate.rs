//! Renders a topic's worked example, exercises and quiz.
//!
//! Every problem comes from a generator (`kind` in the curriculum) driven by a
//! seeded [`Rng`], so the same inputs always give the same lesson; difficulty
//! (1–5) scales the numbers. Quiz distractors are plausible near-misses of the
//! right answer (an off-by-one carry, a swapped operation), never random noise.

use std::fmt;

/// A small, fast, seedable generator (SplitMix64); lessons must be reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `parts` (FNV-1a over them).
    pub fn from_parts(parts: &[&str]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for b in part.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Self(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1).max(1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// A nonzero number in `-hi..=hi`.
    fn nonzero(&mut self, hi: i64) -> i64 {
        let v = self.range(1, hi);
        if self.next_u64().is_multiple_of(2) {
            v
        } else {
            -v
        }
    }
}

/// An answer, typed so near-miss distractors can be made from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A fraction in lowest terms.
    Frac(i64, i64),
    /// A decimal with a fixed number of places.
    Dec(i64, u32),
    /// A number written in binary.
    Bin(u64),
    /// A number written in hexadecimal.
    Hex(u64),
    /// An (x, y) pair.
    Pair(i64, i64),
    /// A linear expression `a·x + b`.
    Linear(i64, i64),
    /// A remainder-carrying quotient `q r k`.
    QuotRem(i64, i64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Frac(n, d) if *d == 1 => write!(f, "{n}"),
            Self::Frac(n, d) => write!(f, "{n}/{d}"),
            Self::Dec(v, places) => {
                let scale = 10i64.pow(*places);
                let sign = if *v < 0 { "-" } else { "" };
                let a = v.abs();
                if *places == 0 {
                    write!(f, "{sign}{a}")
                } else {
                    write!(
                        f,
                        "{sign}{}.{:0width$}",
                        a / scale,
                        a % scale,
                        width = *places as usize
                    )
                }
            }
            Self::Bin(v) => write!(f, "{v:b}"),
            Self::Hex(v) => write!(f, "{v:X}"),
            Self::Pair(x, y) => write!(f, "x = {x}, y = {y}"),
            Self::Linear(a, b) => match (*a, *b) {
                (a, 0) => write!(f, "{a}x"),
                (a, b) if b < 0 => write!(f, "{a}x − {}", -b),
                (a, b) => write!(f, "{a}x + {b}"),
            },
            Self::QuotRem(q, r) => write!(f, "{q} remainder {r}"),
        }
    }
}

impl Value {
    /// A wrong answer close to this one.
    fn near_miss(&self, rng: &mut Rng) -> Self {
        let delta = [1, -1, 2, -2, 10, -10][rng.range(0, 5) as usize];
        match self {
            Self::Int(v) => Self::Int(v + delta),
            Self::Frac(n, d) => {
                if rng.range(0, 1) == 0 {
                    let (n2, d2) = reduce(n + delta.signum(), *d);
                    Self::Frac(n2, d2)
                } else {
                    let (n2, d2) = reduce(*n, (d + delta.abs()).max(2));
                    Self::Frac(n2, d2)
                }
            }
            Self::Dec(v, p) => Self::Dec(v + delta, *p),
            Self::Bin(v) => Self::Bin(v ^ (1 << rng.range(0, 4))),
            Self::Hex(v) => Self::Hex(v.wrapping_add_signed(delta).max(1)),
            Self::Pair(x, y) => {
                if rng.range(0, 1) == 0 {
                    Self::Pair(*y, *x)
                } else {
                    Self::Pair(x + delta, *y)
                }
            }
            Self::Linear(a, b) => Self::Linear(a + delta.signum(), *b),
            Self::QuotRem(q, r) => Self::QuotRem(q + delta.signum(), *r),
        }
    }
}

/// One generated problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What is asked.
    pub prompt: String,
    /// The right answer.
    pub answer: Value,
    /// How to get there.
    pub steps: Vec<String>,
}

/// Every generator kind the curriculum may name.
pub const KINDS: &[&str] = &[
    "add",
    "sub",
    "mul",
    "div",
    "gcd",
    "lcm",
    "frac_add",
    "frac_mul",
    "frac_simplify",
    "round",
    "dec_mul",
    "percent_of",
    "percent_change",
    "eval_linear",
    "like_terms",
    "solve_one_step",
    "solve_two_step",
    "system2",
    "power",
    "exp_rule",
    "quadratic",
    "eval_quadratic",
    "bin_to_dec",
    "dec_to_bin",
    "hex_to_dec",
    "dec_to_hex",
    "bit_and",
    "bit_xor",
    "modulo",
    "clock",
];

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

fn reduce(n: i64, d: i64) -> (i64, i64) {
    let g = gcd(n, d);
    let (n, d) = (n / g, d / g);
    if d < 0 { (-n, -d) } else { (n, d) }
}

/// Upper bound of operands for a difficulty: 10, 50, 100, 500, 1000.
fn scale(difficulty: u8) -> i64 {
    [10, 50, 100, 500, 1000][usize::from(difficulty.clamp(1, 5) - 1)]
}

/// Generates one problem of `kind` at `difficulty`; `None` for an unknown kind.
pub fn problem(kind: &str, difficulty: u8, rng: &mut Rng) -> Option<Problem> {
    let n = scale(difficulty);
    let small = 2 + i64::from(difficulty) * 3;
    let p = match kind {
        "add" => {
            let (a, b) = (rng.range(1, n), rng.range(1, n));
            Problem {
                prompt: format!("{a} + {b} = ?"),
                answer: Value::Int(a + b),
                steps: vec![
                    format!("Line up {a} and {b} by place value."),
                    "Add each column from the right, carrying tens.".into(),
                    format!("{a} + {b} = {}", a + b),
                ],
            }
        }
        "sub" => {
            let (a, b) = (rng.range(n / 2, n), rng.range(1, n / 2));
            Problem {
                prompt: format!("{a} − {b} = ?"),
                answer: Value::Int(a - b),
                steps: vec![
                    format!("Line up {a} and {b} by place value."),
                    "Subtract each column from the right, borrowing where needed.".into(),
                    format!("{a} − {b} = {}", a - b),
                ],
            }
        }
        "mul" => {
            let (a, b) = (rng.range(2, n), rng.range(2, small));
            Problem {
                prompt: format!("{a} × {b} = ?"),
                answer: Value::Int(a * b),
                steps: vec![
                    format!(
                        "Split {a} into tens and ones: {} + {}.",
                        a / 10 * 10,
                        a % 10
                    ),
                    format!(
                        "{} × {b} = {} and {} × {b} = {}.",
                        a / 10 * 10,
                        a / 10 * 10 * b,
                        a % 10,
                        a % 10 * b
                    ),
                    format!("Add the partial products: {}.", a * b),
                ],
            }
        }
        "div" => {
            let (d, q, r) = (
                rng.range(2, small),
                rng.range(2, n / 2 + 2),
                rng.range(0, 1),
            );
            let r = if r == 0 { 0 } else { rng.range(1, d - 1) };
            let a = d * q + r;
            Problem {
                prompt: format!("{a} ÷ {d} = ? (quotient and remainder)"),
                answer: Value::QuotRem(q, r),
                steps: vec![
                    format!(
                        "{d} × {q} = {} is the largest multiple of {d} not above {a}.",
                        d * q
                    ),
                    format!("{a} − {} = {r} is the remainder.", d * q),
                ],
            }
        }
        "gcd" | "lcm" => {
            let g = rng.range(2, small);
            let (x, y) = (rng.range(2, small + 4), rng.range(2, small + 4));
            let (a, b) = (g * x, g * y);
            let gd = gcd(a, b);
            let mut steps = Vec::new();
            let (mut p, mut q) = (a.max(b), a.min(b));
            while q != 0 {
                steps.push(format!("{p} = {} × {q} + {}", p / q, p % q));
                (p, q) = (q, p % q);
            }
            if kind == "gcd" {
                steps.push(format!("The last nonzero remainder is {gd}."));
                Problem {
                    prompt: format!("gcd({a}, {b}) = ?"),
                    answer: Value::Int(gd),
                    steps,
                }
            } else {
                steps.push(format!(
                    "gcd = {gd}, so lcm = {a} × {b} ÷ {gd} = {}.",
                    a * b / gd
                ));
                Problem {
                    prompt: format!("lcm({a}, {b}) = ?"),
                    answer: Value::Int(a * b / gd),
                    steps,
                }
            }
        }
        "frac_add" | "frac_mul" => {
            let (a, b) = (rng.range(1, small), rng.range(2, small + 1));
            let (c, d) = (rng.range(1, small), rng.range(2, small + 1));
            if kind == "frac_add" {
                let (n2, d2) = reduce(a * d + c * b, b * d);
                Problem {
                    prompt: format!("{a}/{b} + {c}/{d} = ? (lowest terms)"),
                    answer: Value::Frac(n2, d2),
                    steps: vec![
                        format!("Common denominator {b} × {d} = {}.", b * d),
                        format!(
                            "{a}/{b} = {}/{} and {c}/{d} = {}/{}.",
                            a * d,
                            b * d,
                            c * b,
                            b * d
                        ),
                        format!(
                            "Sum: {}/{}, which simplifies to {}.",
                            a * d + c * b,
                            b * d,
                            Value::Frac(n2, d2)
                        ),
                    ],
                }
            } else {
                let (n2, d2) = reduce(a * c, b * d);
                Problem {
                    prompt: format!("{a}/{b} × {c}/{d} = ? (lowest terms)"),
                    answer: Value::Frac(n2, d2),
                    steps: vec![
                        format!("Numerators: {a} × {c} = {}.", a * c),
                        format!("Denominators: {b} × {d} = {}.", b * d),
                        format!("{}/{} simplifies to {}.", a * c, b * d, Value::Frac(n2, d2)),
                    ],
                }
            }
        }
        "frac_simplify" => {
            let g = rng.range(2, small);
            let (x, y) = reduce(rng.range(1, small), rng.range(2, small + 3));
            Problem {
                prompt: format!("Simplify {}/{}", x * g, y * g),
                answer: Value::Frac(x, y),
                steps: vec![
                    format!("gcd({}, {}) = {g}.", x * g, y * g),
                    format!("Divide both by {g}: {}.", Value::Frac(x, y)),
                ],
            }
        }
        "round" => {
            let places = u32::from(difficulty.clamp(1, 3)) - 1;
            let v = rng.range(1000, 99_999);
            let keep = 10i64.pow(3 - places);
            let rounded = (v + keep / 2) / keep;
            Problem {
                prompt: format!("Round {} to {places} decimal place(s)", Value::Dec(v, 3)),
                answer: Value::Dec(rounded, places),
                steps: vec![
                    format!("Look at the digit after place {places}."),
                    format!("Result: {}.", Value::Dec(rounded, places)),
                ],
            }
        }
        "dec_mul" => {
            let (a, b) = (rng.range(11, n.max(20)), rng.range(2, 99));
            Problem {
                prompt: format!("{} × {} = ?", Value::Dec(a, 1), Value::Dec(b, 1)),
                answer: Value::Dec(a * b, 2),
                steps: vec![
                    format!("Ignore the points: {a} × {b} = {}.", a * b),
                    "One decimal place in each factor: two in the product.".into(),
                    format!("Answer: {}.", Value::Dec(a * b, 2)),
                ],
            }
        }
        "percent_of" => {
            let p = [5, 10, 20, 25, 50, 75, 12, 15][rng.range(0, 7) as usize];
            let base = rng.range(1, n / 2 + 1) * 20;
            Problem {
                prompt: format!("{p}% of {base} = ?"),
                answer: Value::Dec(base * p, 2),
                steps: vec![
                    format!("{base} × {p} = {}.", base * p),
                    format!("Divide by 100: {}.", Value::Dec(base * p, 2)),
                ],
            }
        }
        "percent_change" => {
            let old = rng.range(1, n / 5 + 2) * 20;
            let pct = rng.nonzero(small * 5);
            let new = old + old * pct / 100;
            let change = (new - old) * 100 * 100 / old;
            Problem {
                prompt: format!(
                    "A price goes from {old} to {new}. Percent change = ? (two decimals)"
                ),
                answer: Value::Dec(change, 2),
                steps: vec![
                    format!("Difference: {new} − {old} = {}.", new - old),
                    format!(
                        "Divide by {old} and multiply by 100: {}%.",
                        Value::Dec(change, 2)
                    ),
                ],
            }
        }
        "eval_linear" => {
            let (a, b, x) = (
                rng.nonzero(small),
                rng.range(-n / 5, n / 5),
                rng.nonzero(small),
            );
            Problem {
                prompt: format!("Evaluate {} at x = {x}", Value::Linear(a, b)),
                answer: Value::Int(a * x + b),
                steps: vec![
                    format!("Substitute: {a} × ({x}) + ({b})."),
                    format!("{a} × ({x}) = {}; add {b}: {}.", a * x, a * x + b),
                ],
            }
        }
        "like_terms" => {
            let (a, b, c, d) = (
                rng.nonzero(small),
                rng.range(-small, small),
                rng.nonzero(small),
                rng.range(-small, small),
            );
            Problem {
                prompt: format!(
                    "Simplify ({}) + ({})",
                    Value::Linear(a, b),
                    Value::Linear(c, d)
                ),
                answer: Value::Linear(a + c, b + d),
                steps: vec![
                    format!("x terms: {a} + {c} = {}.", a + c),
                    format!("Constants: {b} + {d} = {}.", b + d),
                ],
            }
        }
        "solve_one_step" => {
            let (a, x) = (rng.nonzero(small), rng.range(-n / 5, n / 5));
            Problem {
                prompt: format!("Solve {a}x = {}", a * x),
                answer: Value::Int(x),
                steps: vec![format!(
                    "Divide both sides by {a}: x = {} ÷ {a} = {x}.",
                    a * x
                )],
            }
        }
        "solve_two_step" => {
            let (a, x, b) = (
                rng.nonzero(small),
                rng.range(-n / 5, n / 5),
                rng.range(-n / 2, n / 2),
            );
            let c = a * x + b;
            Problem {
                prompt: format!("Solve {} = {c}", Value::Linear(a, b)),
                answer: Value::Int(x),
                steps: vec![
                    format!("Subtract {b} from both sides: {a}x = {}.", c - b),
                    format!("Divide by {a}: x = {x}."),
                ],
            }
        }
        "system2" => {
            let (x, y) = (rng.range(-small, small), rng.range(-small, small));
            let (a, b) = (rng.range(1, 5), rng.range(1, 5));
            let (c, d) = (rng.range(1, 5), -rng.range(1, 5));
            Problem {
                prompt: format!(
                    "Solve: {a}x + {b}y = {}, {c}x − {}y = {}",
                    a * x + b * y,
                    -d,
                    c * x + d * y
                ),
                answer: Value::Pair(x, y),
                steps: vec![
                    "Scale the equations so the y coefficients cancel, then add them.".into(),
                    format!("That leaves an equation in x alone: x = {x}."),
                    format!("Substitute x = {x} into the first equation: y = {y}."),
                ],
            }
        }
        "power" => {
            let (a, e) = (
                rng.range(2, 3 + i64::from(difficulty)),
                rng.range(0, 2 + i64::from(difficulty)),
            );
            let v = a.pow(e as u32);
            Problem {
                prompt: format!("{a}^{e} = ?"),
                answer: Value::Int(v),
                steps: vec![if e == 0 {
                    "Any nonzero number to the power 0 is 1.".to_owned()
                } else {
                    format!("Multiply {a} by itself {e} times: {v}.")
                }],
            }
        }
        "exp_rule" => {
            let (a, m, k) = (rng.range(2, 9), rng.range(1, small), rng.range(1, small));
            Problem {
                prompt: format!("{a}^{m} · {a}^{k} = {a}^? "),
                answer: Value::Int(m + k),
                steps: vec![format!(
                    "Same base: add the exponents, {m} + {k} = {}.",
                    m + k
                )],
            }
        }
        "quadratic" => {
            let (r, s) = (rng.range(-small, small), rng.range(-small, small));
            let (r, s) = (r.min(s), r.max(s));
            let (b, c) = (-(r + s), r * s);
            Problem {
                prompt: format!(
                    "Find the roots of x² + ({b})x + ({c}) = 0 (smaller root first, as x and y)"
                ),
                answer: Value::Pair(r, s),
                steps: vec![
                    format!(
                        "Find two numbers with sum {} and product {c}: {r} and {s}.",
                        -b
                    ),
                    format!("(x − ({r}))(x − ({s})) = 0, so x = {r} or x = {s}."),
                ],
            }
        }
        "eval_quadratic" => {
            let (a, b, c, x) = (
                rng.nonzero(4),
                rng.range(-small, small),
                rng.range(-small, small),
                rng.range(-small, small),
            );
            Problem {
                prompt: format!("Evaluate {a}x² + ({b})x + ({c}) at x = {x}"),
                answer: Value::Int(a * x * x + b * x + c),
                steps: vec![
                    format!("x² = {}.", x * x),
                    format!(
                        "{a} × {} + {b} × ({x}) + {c} = {}.",
                        x * x,
                        a * x * x + b * x + c
                    ),
                ],
            }
        }
        "bin_to_dec" | "dec_to_bin" | "hex_to_dec" | "dec_to_hex" => {
            let v = rng.range(2, 16 * n) as u64;
            let (prompt, answer, steps) = match kind {
                "bin_to_dec" => (
                    format!("{v:b} in binary is what in decimal?"),
                    Value::Int(v as i64),
                    vec![format!("Add the powers of two under each 1 digit: {v}.")],
                ),
                "dec_to_bin" => (
                    format!("Write {v} in binary"),
                    Value::Bin(v),
                    vec![format!(
                        "Repeated division by 2 gives the remainders of {v:b}, read from last to first."
                    )],
                ),
                "hex_to_dec" => (
                    format!("{v:X} in hexadecimal is what in decimal?"),
                    Value::Int(v as i64),
                    vec![format!(
                        "Multiply each digit by its power of 16 and add: {v}."
                    )],
                ),
                _ => (
                    format!("Write {v} in hexadecimal"),
                    Value::Hex(v),
                    vec![format!(
                        "Repeated division by 16 gives the digits {v:X}, read from last to first."
                    )],
                ),
            };
            Problem {
                prompt,
                answer,
                steps,
            }
        }
        "bit_and" | "bit_xor" => {
            let (a, b) = (rng.range(1, 4 * n) as u64, rng.range(1, 4 * n) as u64);
            let (op, v) = if kind == "bit_and" {
                ("AND", a & b)
            } else {
                ("XOR", a ^ b)
            };
            Problem {
                prompt: format!("{a:b} {op} {b:b} = ? (binary)"),
                answer: Value::Bin(v),
                steps: vec![
                    "Line the numbers up bit by bit from the right.".into(),
                    format!("Apply {op} to each pair of bits: {v:b}."),
                ],
            }
        }
        "modulo" => {
            let (a, m) = (rng.range(small, 3 * n), rng.range(2, small + 2));
            Problem {
                prompt: format!("{a} mod {m} = ?"),
                answer: Value::Int(a % m),
                steps: vec![format!("{a} = {} × {m} + {}.", a / m, a % m)],
            }
        }
        "clock" => {
            let (h, k) = (rng.range(1, 12), rng.range(1, 12 * i64::from(difficulty)));
            let r = (h + k - 1) % 12 + 1;
            Problem {
                prompt: format!("It is {h} o'clock. What time is it {k} hours later?"),
                answer: Value::Int(r),
                steps: vec![format!(
                    "{h} + {k} = {}; wrap around 12: {r} o'clock.",
                    h + k
                )],
            }
        }
        _ => return None,
    };
    Some(p)
}

/// Three distinct wrong answers near `answer`, plus the answer, shuffled; returns the choices and the answer's index.
pub fn choices(answer: &Value, rng: &mut Rng) -> (Vec<String>, usize) {
    let right = answer.to_string();
    let mut all = vec![right.clone()];
    let mut tries = 0;
    while all.len() < 4 && tries < 40 {
        tries += 1;
        let wrong = answer.near_miss(rng).to_string();
        if !all.contains(&wrong) {
            all.push(wrong);
        }
    }
    // Fisher–Yates with the lesson's generator: same lesson, same order.
    for i in (1..all.len()).rev() {
        let j = rng.range(0, i as i64) as usize;
        all.swap(i, j);
    }
    let index = all.iter().position(|c| *c == right).unwrap_or(0);
    (all, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_generates_at_every_difficulty_with_distinct_choices() {
        for kind in KINDS {
            for difficulty in 1..=5 {
                let mut rng = Rng::from_parts(&[kind, &difficulty.to_string()]);
                for _ in 0..25 {
                    let p = problem(kind, difficulty, &mut rng).unwrap_or_else(|| panic!("{kind}"));
                    assert!(!p.prompt.is_empty() && !p.steps.is_empty(), "{kind}");
                    let (choices, index) = choices(&p.answer, &mut rng);
                    assert_eq!(choices[index], p.answer.to_string(), "{kind}");
                    let mut unique = choices.clone();
                    unique.sort();
                    unique.dedup();
                    assert_eq!(unique.len(), choices.len(), "{kind}: {choices:?}");
                    assert!(choices.len() >= 3, "{kind}: {choices:?}");
                }
            }
        }
    }

    fn numbers(text: &str) -> Vec<i64> {
        text.replace('−', "-")
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    #[test]
    fn answers_are_right() {
        let mut rng = Rng::from_parts(&["check"]);
        for _ in 0..200 {
            let p = problem("add", 3, &mut rng).unwrap_or_else(|| panic!("add"));
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(n[0] + n[1]), "{}", p.prompt);
            let p = problem("gcd", 4, &mut rng).unwrap_or_else(|| panic!("gcd"));
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(gcd(n[0], n[1])), "{}", p.prompt);
            assert!(n[0] % gcd(n[0], n[1]) == 0 && n[1] % gcd(n[0], n[1]) == 0);
            let p = problem("modulo", 2, &mut rng).unwrap_or_else(|| panic!("modulo"));
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(n[0] % n[1]), "{}", p.prompt);
            let p = problem("frac_add", 3, &mut rng).unwrap_or_else(|| panic!("frac_add"));
            let n = numbers(&p.prompt);
            let (num, den) = reduce(n[0] * n[3] + n[2] * n[1], n[1] * n[3]);
            assert_eq!(p.answer, Value::Frac(num, den), "{}", p.prompt);
            let p = problem("solve_one_step", 5, &mut rng).unwrap_or_else(|| panic!("one step"));
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(n[1] / n[0]), "{}", p.prompt);
            assert_eq!(n[1] % n[0], 0);
        }
        assert_eq!(Value::Dec(1234, 2).to_string(), "12.34");
        assert_eq!(Value::Dec(-5, 2).to_string(), "-0.05");
        assert_eq!(reduce(6, 3), (2, 1));
        assert_eq!(Value::Linear(3, -4).to_string(), "3x − 4");
        assert_eq!(Value::Bin(5).to_string(), "101");
    }

    #[test]
    fn same_seed_same_problem() {
        let a = problem("system2", 3, &mut Rng::from_parts(&["x", "y"]));
        let b = problem("system2", 3, &mut Rng::from_parts(&["x", "y"]));
        assert_eq!(a, b);
        let c = problem("system2", 3, &mut Rng::from_parts(&["x", "z"]));
        assert_ne!(a, c);
    }
}
