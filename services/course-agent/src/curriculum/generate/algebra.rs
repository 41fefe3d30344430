//! Algebra: linear expressions and equations, systems, powers, quadratics.

use super::{Problem, Rng, Size, Value};

/// `eval_linear`.
pub(super) fn eval_linear(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
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

/// `like_terms`.
pub(super) fn like_terms(size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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

/// `solve_one_step`.
pub(super) fn solve_one_step(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
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

/// `solve_two_step`.
pub(super) fn solve_two_step(size: Size, rng: &mut Rng) -> Problem {
    let (n, small) = (size.n, size.small);
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

/// `system2`.
pub(super) fn system2(size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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

/// `power`.
pub(super) fn power(size: Size, rng: &mut Rng) -> Problem {
    let difficulty = size.difficulty;
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

/// `exp_rule`.
pub(super) fn exp_rule(size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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

/// `quadratic`.
pub(super) fn quadratic(size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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

/// `eval_quadratic`.
pub(super) fn eval_quadratic(size: Size, rng: &mut Rng) -> Problem {
    let small = size.small;
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
