//! The type of one JSON value of a row, read from its text: numbers are classified from their
//! digits, never through a float.

use crate::catalog::athena_type::{join, AthenaType};
use crate::catalog::names::is_struct_field_name;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// The narrowest type holding `value` (one JSON value, as text) exactly, or `None` when only a
/// `string` holding its JSON text does. Fails only on text that is not JSON.
///
/// * `null` → [`AthenaType::Null`], `true`/`false` → `boolean`, a string → `string`;
/// * a number → `bigint` when its value is an integer from −2^63 to 2^63−1, otherwise the
///   narrowest `decimal(p,s)` with `p <= 38` (trailing zeros of the fraction do not count: `1.50`
///   needs `decimal(2,1)`), otherwise `None`;
/// * an array → `array<T>`, `T` the [`join`] of its elements (`array<null>` when empty), `None`
///   when they do not agree;
/// * an object → `struct<...>` of its keys in order, `None` when a key is no name Athena can
///   read as a struct field ([`is_struct_field_name`]).
pub fn value_type(value: &RawValue) -> Result<Option<AthenaType>, serde_json::Error> {
    value_type_at(value, 0)
}

/// Deeper than DynamoDB allows (32 levels): a row no stream record can produce, refused before
/// the recursion could grow the stack.
const MAX_DEPTH: usize = 40;

fn value_type_at(value: &RawValue, depth: usize) -> Result<Option<AthenaType>, serde_json::Error> {
    let text = value.get();
    Ok(match text.as_bytes().first() {
        Some(b'n') => Some(AthenaType::Null),
        Some(b't') | Some(b'f') => Some(AthenaType::Boolean),
        Some(b'"') => Some(AthenaType::String),
        Some(b'[') => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            let elements: Vec<&RawValue> = serde_json::from_str(text)?;
            let mut element = AthenaType::Null;
            for e in elements {
                let Some(t) = value_type_at(e, depth + 1)? else {
                    return Ok(None);
                };
                let Some(joined) = join(&element, &t) else {
                    return Ok(None);
                };
                element = joined;
            }
            Some(AthenaType::Array(Box::new(element)))
        }
        Some(b'{') => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            let mut fields: Vec<(String, AthenaType)> = Vec::new();
            for (key, v) in object_entries(text)? {
                if !is_struct_field_name(&key) {
                    return Ok(None);
                }
                let Some(t) = value_type_at(v, depth + 1)? else {
                    return Ok(None);
                };
                match fields.iter_mut().find(|(name, _)| *name == key) {
                    // A key given twice: the SerDe keeps the last; both must fit.
                    Some((_, existing)) => match join(existing, &t) {
                        Some(joined) => *existing = joined,
                        None => return Ok(None),
                    },
                    None => fields.push((key, t)),
                }
            }
            Some(AthenaType::Struct(fields))
        }
        _ => number_type(text),
    })
}

fn too_deep() -> serde_json::Error {
    serde::de::Error::custom(format!("nested deeper than {MAX_DEPTH} levels"))
}

/// The entries of a JSON object, in order, duplicates kept, values as text.
pub fn object_entries(text: &str) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let entries = de.deserialize_map(Entries)?;
    de.end()?;
    Ok(entries)
}

struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
            entries.push((key, value));
        }
        Ok(entries)
    }
}

/// The type of a JSON number token. Not a number at all (which valid JSON cannot give here)
/// counts as `None`: only a string holds it.
pub fn number_type(text: &str) -> Option<AthenaType> {
    let n = Number::parse(text)?;
    if n.digits.is_empty() {
        return Some(AthenaType::BigInt);
    }
    let len = n.digits.len() as i64;
    if n.exponent >= 0 && n.fits_bigint() {
        return Some(AthenaType::BigInt);
    }
    let scale = (-n.exponent).max(0);
    let integer_digits = (len + n.exponent).max(0);
    if scale > 38 || integer_digits > 38 {
        return None;
    }
    AthenaType::decimal(integer_digits as u32, scale as u32)
}

/// A decimal value as `±digits × 10^exponent`, `digits` without leading or trailing zeros
/// (empty for zero).
struct Number {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

/// Exponents are read up to nine digits; anything longer stands for this, far beyond every type.
const HUGE_EXPONENT: i64 = 10_000_000_000;

impl Number {
    /// `-? int (. frac)? ([eE] [+-]? exp)?`, as JSON writes numbers.
    fn parse(text: &str) -> Option<Number> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let exp = match exp {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let significant = digits.trim_start_matches('0');
                let magnitude = if significant.len() > 9 {
                    HUGE_EXPONENT
                } else {
                    significant.parse().unwrap_or(0)
                };
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        let lead = all.iter().take_while(|&&b| b == b'0').count();
        let trail = all[lead..].iter().rev().take_while(|&&b| b == b'0').count();
        Some(Number {
            negative,
            digits: all[lead..all.len() - trail].to_vec(),
            exponent: exp - frac.len() as i64 + trail as i64,
        })
    }

    /// An integer (`exponent >= 0`) from −2^63 to 2^63−1.
    fn fits_bigint(&self) -> bool {
        let len = self.digits.len() as i64 + self.exponent;
        if len < 19 {
            return true;
        }
        if len > 19 {
            return false;
        }
        let mut value = self.digits.clone();
        value.resize(19, b'0');
        let limit: &[u8] = if self.negative {
            b"9223372036854775808"
        } else {
            b"9223372036854775807"
        };
        value.as_slice() <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AthenaType::*;

    fn of(json: &str) -> Option<AthenaType> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        value_type(raw).unwrap()
    }

    fn dec(precision: u8, scale: u8) -> Option<AthenaType> {
        Some(Decimal { precision, scale })
    }

    #[test]
    fn integers_in_range_are_bigint() {
        for n in [
            "0",
            "-0",
            "7",
            "-42",
            "9223372036854775807",
            "-9223372036854775808",
            "1E+18",
            "1.0",
            "12.300e1",
        ] {
            assert_eq!(of(n), Some(BigInt), "{n}");
        }
    }

    #[test]
    fn integers_out_of_bigint_range_are_decimals_up_to_38_digits() {
        assert_eq!(of("9223372036854775808"), dec(19, 0));
        assert_eq!(of("-9223372036854775809"), dec(19, 0));
        assert_eq!(of("12345678901234567890123456789012345678"), dec(38, 0));
        assert_eq!(of("1E+37"), dec(38, 0));
        assert_eq!(of("123456789012345678901234567890123456789"), None);
        assert_eq!(of("1E+38"), None);
        assert_eq!(of("9.9999999999999999999999999999999999999E+125"), None);
    }

    #[test]
    fn fractions_are_the_narrowest_decimal_never_a_double() {
        assert_eq!(of("0.30000000000000004"), dec(17, 17));
        assert_eq!(of("129.90"), dec(4, 1));
        assert_eq!(of("-0.001"), dec(3, 3));
        assert_eq!(of("1.5e-3"), dec(4, 4));
        assert_eq!(of("12345.678E2"), dec(8, 1));
        assert_eq!(of("0.1000000000000000000001"), dec(22, 22));
        assert_eq!(of("1E-38"), dec(38, 38));
        assert_eq!(of("1E-39"), None);
        assert_eq!(of("1E-130"), None);
        assert_eq!(of("1234567890123456789.1234567890123456789"), dec(38, 19));
        assert_eq!(
            of("12345678901234567890.1234567890123456789"),
            None,
            "39 digits"
        );
        assert_eq!(of("0.0"), Some(BigInt));
        assert_eq!(of("0e-5000000000"), Some(BigInt));
        assert_eq!(of("1e-5000000000"), None);
        assert_eq!(of("1e5000000000"), None);
    }

    #[test]
    fn scalars() {
        assert_eq!(of("null"), Some(Null));
        assert_eq!(of("true"), Some(Boolean));
        assert_eq!(of("false"), Some(Boolean));
        assert_eq!(of("\"1.5\""), Some(String));
    }

    #[test]
    fn lists_and_sets_are_arrays_when_their_elements_agree() {
        assert_eq!(of("[]"), Some(Array(Box::new(Null))));
        assert_eq!(of("[\"a\",\"b\"]"), Some(Array(Box::new(String))));
        assert_eq!(
            of("[1, 2.5, null]"),
            Some(Array(Box::new(Decimal {
                precision: 20,
                scale: 1
            })))
        );
        assert_eq!(
            of("[[1],[]]"),
            Some(Array(Box::new(Array(Box::new(BigInt)))))
        );
        assert_eq!(of("[1, \"a\"]"), None);
        assert_eq!(of("[true, 1]"), None);
        assert_eq!(of("[[1], [\"a\"]]"), None);
        assert_eq!(of("[1E+100]"), None, "no decimal holds it");
    }

    #[test]
    fn maps_inside_lists_are_structs_of_readable_field_names() {
        assert_eq!(
            of(r#"[{"sku":"a","qty":2,"attrs":{"color":"blue"}},{"sku":"b","price":39.95,"attrs":{}}]"#),
            AthenaType::parse(
                "array<struct<sku:string,qty:bigint,attrs:struct<color:string>,price:decimal(4,2)>>"
            )
            .ok()
        );
        // Keys Athena would not match (upper case, blanks) leave only a string.
        assert_eq!(of(r#"[{"Sku":"a"}]"#), None);
        assert_eq!(of(r#"[{"unit price":1}]"#), None);
        assert_eq!(of(r#"[{"a":1},{"a":"x"}]"#), None);
        assert_eq!(
            of(r#"{"a":1,"a":2.5}"#),
            AthenaType::parse("struct<a:decimal(20,1)>").ok()
        );
        assert_eq!(of(r#"{"a":1,"a":"x"}"#), None);
    }

    #[test]
    fn nesting_past_dynamodbs_depth_is_refused() {
        let deep = "[".repeat(50) + &"]".repeat(50);
        // serde_json's own limit is 128 levels: 50 parse.
        let raw: &RawValue = serde_json::from_str(&deep).unwrap();
        assert!(value_type(raw).is_err());
    }

    #[test]
    fn object_entries_keep_order_and_duplicates() {
        let entries = object_entries(r#"{"b":1,"a":[2],"b":"x"}"#).unwrap();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(entries[1].1.get(), "[2]");
        assert!(object_entries("[1]").is_err());
        assert!(object_entries("{\"a\":1} x").is_err());
    }
}
