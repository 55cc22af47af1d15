//! `availability_zone_hints`: neutron-lib's `_validate_availability_zone_hints`, which
//! refuses hints whose JSON text (as Python's `json.dumps` writes it) would not fit the
//! 255-character column Neutron stores them in.

use crate::error::ApiError;
use serde_json::Value;

/// neutron-lib's `AZ_HINTS_DB_LEN`.
const AZ_HINTS_DB_LEN: usize = 255;

/// The length of `s` as a JSON string literal from Python's `json.dumps` (ASCII only:
/// other characters as `\uXXXX`, astral ones as a surrogate pair).
fn python_json_len(s: &str) -> usize {
    let body: usize = s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c if c.is_ascii() => 1,
            c if (c as u32) > 0xFFFF => 12,
            _ => 6,
        })
        .sum();
    body + 2
}

/// `InvalidInput` (400) when the hints' JSON text (`["a", "b"]`) is over 255 characters.
pub fn availability_zone_hints_fit(hints: &Value) -> Result<(), ApiError> {
    let Value::Array(items) = hints else { return Ok(()) };
    let strings: usize = items.iter().filter_map(Value::as_str).map(python_json_len).sum();
    let len = 2 + strings + 2 * items.len().saturating_sub(1);
    if len > AZ_HINTS_DB_LEN {
        return Err(ApiError::invalid_input("Too many availability_zone_hints specified"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hints_fit_up_to_255_characters_of_json() {
        // `["` + 251 + `"]` = 255.
        assert!(availability_zone_hints_fit(&json!(["a".repeat(251)])).is_ok());
        let err = availability_zone_hints_fit(&json!(["a".repeat(252)])).unwrap_err();
        assert_eq!(err.message, "Invalid input for operation: Too many availability_zone_hints specified.");
        // `["a", "b"]` is 10; an escaped non-ASCII character counts 6.
        assert_eq!(python_json_len("é"), 8);
        // `["` + 41 × 6 + `"]` = 250; one more is 256.
        assert!(availability_zone_hints_fit(&json!(["é".repeat(41)])).is_ok());
        assert!(availability_zone_hints_fit(&json!(["é".repeat(42)])).is_err());
    }
}
