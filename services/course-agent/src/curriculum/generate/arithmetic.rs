//! Whole-number arithmetic: the four operations, gcd and lcm, remainders, clock arithmetic.

use super::{Problem, ProblemKind, Rng, Size, Value, gcd};

/// `add`.
pub(super) fn add(size: Size, rng: &mut Rng) -> Problem {
    let n = size.n;
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

/// `sub`.
pub(super) fn sub(size: Size, rng: &mut Rng) -> Problem {
    let n = size.n;
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

/// `mul`.
pub(super) fn mul(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
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

/// `div`.
pub(super) fn div(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
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

/// `gcd`, `lcm`.
pub(super) fn gcd_or_lcm(kind: ProblemKind, size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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
    if kind == ProblemKind::Gcd {
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

/// `modulo`.
pub(super) fn modulo(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
    let (a, m) = (rng.range(small, 3 * n), rng.range(2, small + 2));
    Problem {
        prompt: format!("{a} mod {m} = ?"),
        answer: Value::Int(a % m),
        steps: vec![format!("{a} = {} × {m} + {}.", a / m, a % m)],
    }
}

/// `clock`.
pub(super) fn clock(size: Size, rng: &mut Rng) -> Problem {
    let difficulty = size.difficulty;
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
