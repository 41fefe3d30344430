//! Number bases and bitwise operations.

use super::{Problem, ProblemKind, Rng, Size, Value};

/// `bin_to_dec`, `dec_to_bin`, `hex_to_dec`, `dec_to_hex`.
pub(super) fn base_conversion(kind: ProblemKind, size: Size, rng: &mut Rng) -> Problem {
    let n = size.n;
    let v = rng.range(2, 16 * n) as u64;
    let (prompt, answer, steps) = match kind {
        ProblemKind::BinToDec => (
            format!("{v:b} in binary is what in decimal?"),
            Value::Int(v as i64),
            vec![format!("Add the powers of two under each 1 digit: {v}.")],
        ),
        ProblemKind::DecToBin => (
            format!("Write {v} in binary"),
            Value::Bin(v),
            vec![format!(
                "Repeated division by 2 gives the remainders of {v:b}, read from last to first."
            )],
        ),
        ProblemKind::HexToDec => (
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

/// `bit_and`, `bit_xor`.
pub(super) fn bitwise(kind: ProblemKind, size: Size, rng: &mut Rng) -> Problem {
    let n = size.n;
    let (a, b) = (rng.range(1, 4 * n) as u64, rng.range(1, 4 * n) as u64);
    let (op, v) = if kind == ProblemKind::BitAnd {
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
