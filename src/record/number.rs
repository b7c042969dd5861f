//! DynamoDB numbers (`N`) arrive as decimal strings of up to 38 significant digits. They are
//! written as JSON number tokens built from those very digits, never through a float, so every
//! value keeps its exact decimal value.

/// Writes `text` as a JSON number with exactly its decimal value, or returns `None` when it is
/// not a decimal number (`NaN`, `1e`, `0x10`, empty, ...).
///
/// DynamoDB's own spellings are valid JSON already and are copied as they are; the few forms a
/// hand-written record may use that JSON does not allow (`+1`, `.5`, `5.`, `007`) are rewritten
/// to the same value.
pub fn write_json_number(out: &mut Vec<u8>, text: &str) -> Option<()> {
    let parts = Decimal::parse(text.as_bytes())?;
    if !parts.in_dynamodb_range() {
        return None;
    }
    if parts.is_json {
        out.extend_from_slice(text.as_bytes());
        return Some(());
    }
    if parts.negative {
        out.push(b'-');
    }
    let int = trim_leading_zeros(parts.int);
    out.extend_from_slice(if int.is_empty() { b"0" } else { int });
    if !parts.frac.is_empty() {
        out.push(b'.');
        out.extend_from_slice(parts.frac);
    }
    if let Some((sign, digits)) = parts.exp {
        out.push(b'e');
        out.extend_from_slice(sign);
        out.extend_from_slice(digits);
    }
    Some(())
}

struct Decimal<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    exp: Option<(&'a [u8], &'a [u8])>,
    /// Already a valid JSON number token as written.
    is_json: bool,
}

impl<'a> Decimal<'a> {
    /// `[+-]? digits? (. digits?)? ([eE] [+-]? digits)?` with at least one mantissa digit.
    fn parse(s: &'a [u8]) -> Option<Decimal<'a>> {
        let mut i = 0;
        let sign = match s.first() {
            Some(b'-') | Some(b'+') => {
                i = 1;
                &s[..1]
            }
            _ => &s[..0],
        };
        let int = digits(s, &mut i);
        let mut had_point = false;
        let mut frac: &[u8] = &[];
        if s.get(i) == Some(&b'.') {
            i += 1;
            had_point = true;
            frac = digits(s, &mut i);
        }
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut exp = None;
        if matches!(s.get(i), Some(b'e') | Some(b'E')) {
            i += 1;
            let start = i;
            if matches!(s.get(i), Some(b'+') | Some(b'-')) {
                i += 1;
            }
            let exp_sign = &s[start..i];
            let exp_digits = digits(s, &mut i);
            if exp_digits.is_empty() {
                return None;
            }
            exp = Some((exp_sign, exp_digits));
        }
        if i != s.len() {
            return None;
        }
        let is_json = sign != b"+"
            && !int.is_empty()
            && (int.len() == 1 || int[0] != b'0')
            && (!had_point || !frac.is_empty());
        Some(Decimal {
            negative: sign == b"-",
            int,
            frac,
            exp,
            is_json,
        })
    }
}

/// DynamoDB stores magnitudes from 1E-130 to just below 1E+126; anything outside did not come
/// from DynamoDB, and JSON readers built on 64-bit floats (Athena's among them) refuse or distort
/// a value like `1E+400`. Such an `N` fails its record like a non-number (found by fuzzing).
const MIN_EXPONENT: i64 = -130;
const MAX_EXPONENT: i64 = 125;

impl Decimal<'_> {
    /// Whether the value is zero or its first significant digit's power of ten is within
    /// DynamoDB's range.
    fn in_dynamodb_range(&self) -> bool {
        // An exponent of ten digits or more is far beyond the range whatever the mantissa, even
        // on a zero: readers keep the scale of a decimal in 32 bits.
        if self
            .exp
            .is_some_and(|(_, digits)| trim_leading_zeros(digits).len() > 9)
        {
            return false;
        }
        let int = trim_leading_zeros(self.int);
        let lead = if int.is_empty() {
            match self.frac.iter().position(|&b| b != b'0') {
                Some(zeros) => -1 - zeros as i64,
                None => return true,
            }
        } else {
            int.len() as i64 - 1
        };
        let exp = match self.exp {
            None => 0,
            Some((sign, digits)) => {
                let digits = trim_leading_zeros(digits);
                let value = digits
                    .iter()
                    .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
                if sign == b"-" {
                    -value
                } else {
                    value
                }
            }
        };
        (MIN_EXPONENT..=MAX_EXPONENT).contains(&(lead + exp))
    }
}

fn digits<'a>(s: &'a [u8], i: &mut usize) -> &'a [u8] {
    let start = *i;
    while s.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    &s[start..*i]
}

fn trim_leading_zeros(mut d: &[u8]) -> &[u8] {
    while let [b'0', rest @ ..] = d {
        d = rest;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Option<String> {
        let mut out = Vec::new();
        write_json_number(&mut out, s).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn dynamodb_spellings_are_copied_exactly() {
        for s in [
            "0",
            "-0",
            "47.6",
            "12345678901234567890123456789012345678",
            "0.1000000000000000000001",
            "-1.5E+125",
            "1E-130",
            "9.9999999999999999999999999999999999999E+125",
            "1e5",
            "0.00",
        ] {
            assert_eq!(json(s).as_deref(), Some(s));
        }
    }

    #[test]
    fn other_decimal_spellings_become_valid_json_with_the_same_value() {
        assert_eq!(json("+1").as_deref(), Some("1"));
        assert_eq!(json(".5").as_deref(), Some("0.5"));
        assert_eq!(json("-.5e3").as_deref(), Some("-0.5e3"));
        assert_eq!(json("5.").as_deref(), Some("5"));
        assert_eq!(json("007").as_deref(), Some("7"));
        assert_eq!(json("00.10").as_deref(), Some("0.10"));
        assert_eq!(json("+0E-2").as_deref(), Some("0e-2"));
    }

    #[test]
    fn values_outside_dynamodb_range_are_refused() {
        for s in [
            "1E+126",
            "10E+125",
            "1E-131",
            "0.1E-130",
            "1E+400",
            "-1e+1225",
            "1e99999999999999999999",
            "0.0000000000001e-120",
            "0e999999999999",
            "0.000e-99999999999999",
        ] {
            assert_eq!(json(s), None, "{s:?}");
        }
        let big = format!("1{}", "0".repeat(126));
        assert_eq!(json(&big), None);
        for s in [
            "0E+999999",
            "0.000e-999999999",
            "1E+125",
            "0.01E-128",
            "000123E-132",
        ] {
            assert!(json(s).is_some(), "{s:?}");
        }
    }

    #[test]
    fn non_numbers_are_refused() {
        for s in [
            "", "-", "+", ".", "e5", "1e", "1e+", "NaN", "Infinity", "0x10", "1.2.3", " 1", "1 ",
            "1_000", "١",
        ] {
            assert_eq!(json(s), None, "{s:?}");
        }
    }
}
