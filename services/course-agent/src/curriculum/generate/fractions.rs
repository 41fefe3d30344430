//! Fractions, decimals and percentages.

use super::{Problem, ProblemKind, Rng, Size, Value, reduce};

/// `frac_add`, `frac_mul`.
pub(super) fn fraction_sum_or_product(kind: ProblemKind, size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
    let (a, b) = (rng.range(1, small), rng.range(2, small + 1));
    let (c, d) = (rng.range(1, small), rng.range(2, small + 1));
    if kind == ProblemKind::FracAdd {
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

/// `frac_simplify`.
pub(super) fn frac_simplify(size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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

/// `round`.
pub(super) fn round(size: Size, rng: &mut Rng) -> Problem {
    let difficulty = size.difficulty;
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

/// `dec_mul`.
pub(super) fn dec_mul(size: Size, rng: &mut Rng) -> Problem {
    let n = size.n;
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

/// `percent_of`.
pub(super) fn percent_of(size: Size, rng: &mut Rng) -> Problem {
    let n = size.n;
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

/// `percent_change`.
pub(super) fn percent_change(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
    let old = rng.range(1, n / 5 + 2) * 20;
    let pct = rng.nonzero(small * 5);
    let new = old + old * pct / 100;
    let change = (new - old) * 100 * 100 / old;
    Problem {
        prompt: format!("A price goes from {old} to {new}. Percent change = ? (two decimals)"),
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
