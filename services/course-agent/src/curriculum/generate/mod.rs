//! Renders a topic's worked example, exercises and quiz.
//!
//! Every problem comes from a generator ([`ProblemKind`], `kind` in the curriculum) driven
//! by a seeded [`Rng`], so the same inputs always give the same lesson; difficulty
//! (1–5) scales the numbers ([`Size`]). The generators live by family in [`arithmetic`],
//! [`fractions`], [`algebra`] and [`binary`]; [`problem`] picks one. Quiz distractors are plausible near-misses of the
//! right answer (an off-by-one carry, a swapped operation), never random noise.

mod algebra;
mod arithmetic;
mod binary;
mod fractions;

use std::fmt;

use serde::Deserialize;

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
/// Declares [`ProblemKind`] with each kind's curriculum name written once.
macro_rules! problem_kinds {
    ($($kind:ident = $name:literal,)*) => {
        /// Every generator kind the curriculum may name (`kind = "…"` in `curriculum.toml`);
        /// an unknown kind fails to deserialise, so a topic cannot name one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum ProblemKind {
            $(
                #[doc = concat!("`", $name, "`")]
                #[serde(rename = $name)]
                $kind,
            )*
        }

        impl ProblemKind {
            /// Every kind.
            pub const ALL: &[Self] = &[$(Self::$kind),*];

            /// The name the curriculum uses for it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)*
                }
            }
        }
    };
}

problem_kinds! {
    Add = "add",
    Sub = "sub",
    Mul = "mul",
    Div = "div",
    Gcd = "gcd",
    Lcm = "lcm",
    FracAdd = "frac_add",
    FracMul = "frac_mul",
    FracSimplify = "frac_simplify",
    Round = "round",
    DecMul = "dec_mul",
    PercentOf = "percent_of",
    PercentChange = "percent_change",
    EvalLinear = "eval_linear",
    LikeTerms = "like_terms",
    SolveOneStep = "solve_one_step",
    SolveTwoStep = "solve_two_step",
    System2 = "system2",
    Power = "power",
    ExpRule = "exp_rule",
    Quadratic = "quadratic",
    EvalQuadratic = "eval_quadratic",
    BinToDec = "bin_to_dec",
    DecToBin = "dec_to_bin",
    HexToDec = "hex_to_dec",
    DecToHex = "dec_to_hex",
    BitAnd = "bit_and",
    BitXor = "bit_xor",
    Modulo = "modulo",
    Clock = "clock",
}

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

/// How big a problem's numbers are at one difficulty.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size {
    /// Upper bound of the main operands: 10, 50, 100, 500, 1000.
    n: i64,
    /// Bound of the small operands (divisors, factors, coefficients).
    small: i64,
    /// The difficulty itself (1–5).
    difficulty: u8,
}

impl Size {
    fn of(difficulty: u8) -> Self {
        Self {
            n: scale(difficulty),
            small: 2 + i64::from(difficulty) * 3,
            difficulty,
        }
    }
}

/// Generates one problem of `kind` at `difficulty`.
pub fn problem(kind: ProblemKind, difficulty: u8, rng: &mut Rng) -> Problem {
    use ProblemKind as K;
    let size = Size::of(difficulty);
    match kind {
        K::Add => arithmetic::add(size, rng),
        K::Sub => arithmetic::sub(size, rng),
        K::Mul => arithmetic::mul(size, rng),
        K::Div => arithmetic::div(size, rng),
        K::Gcd | K::Lcm => arithmetic::gcd_or_lcm(kind, size, rng),
        K::Modulo => arithmetic::modulo(size, rng),
        K::Clock => arithmetic::clock(size, rng),
        K::FracAdd | K::FracMul => fractions::fraction_sum_or_product(kind, size, rng),
        K::FracSimplify => fractions::frac_simplify(size, rng),
        K::Round => fractions::round(size, rng),
        K::DecMul => fractions::dec_mul(size, rng),
        K::PercentOf => fractions::percent_of(size, rng),
        K::PercentChange => fractions::percent_change(size, rng),
        K::EvalLinear => algebra::eval_linear(size, rng),
        K::LikeTerms => algebra::like_terms(size, rng),
        K::SolveOneStep => algebra::solve_one_step(size, rng),
        K::SolveTwoStep => algebra::solve_two_step(size, rng),
        K::System2 => algebra::system2(size, rng),
        K::Power => algebra::power(size, rng),
        K::ExpRule => algebra::exp_rule(size, rng),
        K::Quadratic => algebra::quadratic(size, rng),
        K::EvalQuadratic => algebra::eval_quadratic(size, rng),
        K::BinToDec | K::DecToBin | K::HexToDec | K::DecToHex => {
            binary::base_conversion(kind, size, rng)
        }
        K::BitAnd | K::BitXor => binary::bitwise(kind, size, rng),
    }
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
        for &kind in ProblemKind::ALL {
            for difficulty in 1..=5 {
                let mut rng = Rng::from_parts(&[kind.name(), &difficulty.to_string()]);
                for _ in 0..25 {
                    let p = problem(kind, difficulty, &mut rng);
                    assert!(!p.prompt.is_empty() && !p.steps.is_empty(), "{kind:?}");
                    let (choices, index) = choices(&p.answer, &mut rng);
                    assert_eq!(choices[index], p.answer.to_string(), "{kind:?}");
                    let mut unique = choices.clone();
                    unique.sort();
                    unique.dedup();
                    assert_eq!(unique.len(), choices.len(), "{kind:?}: {choices:?}");
                    assert!(choices.len() >= 3, "{kind:?}: {choices:?}");
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
            let p = problem(ProblemKind::Add, 3, &mut rng);
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(n[0] + n[1]), "{}", p.prompt);
            let p = problem(ProblemKind::Gcd, 4, &mut rng);
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(gcd(n[0], n[1])), "{}", p.prompt);
            assert!(n[0] % gcd(n[0], n[1]) == 0 && n[1] % gcd(n[0], n[1]) == 0);
            let p = problem(ProblemKind::Modulo, 2, &mut rng);
            let n = numbers(&p.prompt);
            assert_eq!(p.answer, Value::Int(n[0] % n[1]), "{}", p.prompt);
            let p = problem(ProblemKind::FracAdd, 3, &mut rng);
            let n = numbers(&p.prompt);
            let (num, den) = reduce(n[0] * n[3] + n[2] * n[1], n[1] * n[3]);
            assert_eq!(p.answer, Value::Frac(num, den), "{}", p.prompt);
            let p = problem(ProblemKind::SolveOneStep, 5, &mut rng);
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
        let a = problem(ProblemKind::System2, 3, &mut Rng::from_parts(&["x", "y"]));
        let b = problem(ProblemKind::System2, 3, &mut Rng::from_parts(&["x", "y"]));
        assert_eq!(a, b);
        let c = problem(ProblemKind::System2, 3, &mut Rng::from_parts(&["x", "z"]));
        assert_ne!(a, c);
    }
}
