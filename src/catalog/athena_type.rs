//! The column types the catalog declares, and how two of them widen into one.
//!
//! The types form a join semilattice: [`AthenaType::Null`] (nothing but nulls seen yet) at the
//! bottom, `string` at the top. [`join`] gives the narrowest type holding every value of both
//! sides exactly, or `None` when only a `string` holding the values' JSON text can; it is
//! commutative, associative and idempotent, so a column's type does not depend on the order or
//! the grouping in which rows are seen, and it never narrows.
//!
//! Types are written as Athena (Hive DDL) writes them: `bigint`, `decimal(12,2)`,
//! `array<struct<sku:string,qty:bigint>>`. `null` is the catalog's own word for the bottom; Glue
//! is never told it (see [`AthenaType::declared`]).

use std::fmt;

/// Athena's widest decimal: `decimal(38, s)`.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// Digits of the largest `bigint` (9,223,372,036,854,775,807). A `bigint` column that receives
/// fractions becomes a decimal with this many integer digits, so that every value it may already
/// hold still fits.
pub const BIGINT_DIGITS: u8 = 19;

/// A column type, or the type of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AthenaType {
    /// Only nulls (or only empty lists' elements) so far: any type holds them.
    Null,
    Boolean,
    /// A 64-bit integer.
    BigInt,
    /// `decimal(precision, scale)`: `precision` digits, `scale` of them after the point;
    /// `1 <= precision <= 38`, `scale <= precision`.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// JSON strings (DynamoDB `S` and `B`); at the top of a column also anything else, as the
    /// SerDe reads any JSON value into a `string` column as its text.
    String,
    Array(Box<AthenaType>),
    /// Fields in the order first seen; names as Athena reads them (see
    /// [`crate::catalog::names::is_struct_field_name`]).
    Struct(Vec<(String, AthenaType)>),
}

impl AthenaType {
    /// The narrowest decimal holding values with up to `integer_digits` digits before the point
    /// and `scale` after it, or `None` when that needs more than 38 digits.
    pub fn decimal(integer_digits: u32, scale: u32) -> Option<AthenaType> {
        let precision = (integer_digits + scale).max(1);
        if precision > u32::from(MAX_DECIMAL_PRECISION) {
            return None;
        }
        Some(AthenaType::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    /// The type Glue is given: the bottom (and a struct without fields, which Athena cannot
    /// declare) become `string`, which holds their values (nulls, `{}`) until a value shows a
    /// narrower type.
    pub fn declared(&self) -> AthenaType {
        match self {
            AthenaType::Null => AthenaType::String,
            AthenaType::Struct(fields) if fields.is_empty() => AthenaType::String,
            AthenaType::Array(element) => AthenaType::Array(Box::new(element.declared())),
            AthenaType::Struct(fields) => AthenaType::Struct(
                fields
                    .iter()
                    .map(|(name, t)| (name.clone(), t.declared()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Every struct field name inside this type, at any depth.
    pub fn struct_field_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            AthenaType::Array(element) => element.struct_field_names(out),
            AthenaType::Struct(fields) => {
                for (name, t) in fields {
                    out.push(name);
                    t.struct_field_names(out);
                }
            }
            _ => {}
        }
    }

    /// Reads a type written as [`fmt::Display`] writes it (Athena's spelling, plus `null`).
    /// Keywords are case-insensitive and blanks are allowed between tokens, as in DDL.
    pub fn parse(text: &str) -> Result<AthenaType, TypeParseError> {
        let mut parser = Parser { text, at: 0 };
        let t = parser.parse_type(0)?;
        parser.blanks();
        if parser.at != text.len() {
            return Err(parser.error("end of the type"));
        }
        Ok(t)
    }
}

/// The narrowest type holding every value `a` holds and every value `b` holds, exactly; `None`
/// when no type but `string` (holding the values' JSON text) does: different kinds of value, a
/// decimal past 38 digits, or such a conflict anywhere inside a list.
pub fn join(a: &AthenaType, b: &AthenaType) -> Option<AthenaType> {
    use AthenaType::*;
    match (a, b) {
        (Null, t) | (t, Null) => Some(t.clone()),
        (Boolean, Boolean) => Some(Boolean),
        (BigInt, BigInt) => Some(BigInt),
        (String, String) => Some(String),
        (BigInt, Decimal { precision, scale }) | (Decimal { precision, scale }, BigInt) => {
            AthenaType::decimal(
                u32::from((precision - scale).max(BIGINT_DIGITS)),
                u32::from(*scale),
            )
        }
        (
            Decimal {
                precision: p1,
                scale: s1,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => AthenaType::decimal(u32::from((p1 - s1).max(p2 - s2)), u32::from(*s1.max(s2))),
        (Array(x), Array(y)) => Some(Array(Box::new(join(x, y)?))),
        (Struct(x), Struct(y)) => {
            let mut fields = x.clone();
            for (name, t) in y {
                match fields.iter_mut().find(|(n, _)| n == name) {
                    Some((_, existing)) => *existing = join(existing, t)?,
                    None => fields.push((name.clone(), t.clone())),
                }
            }
            Some(Struct(fields))
        }
        _ => None,
    }
}

/// A column's type after `b`'s values join `a`'s: [`join`], or `string` where it gives `None`.
pub fn widen(a: &AthenaType, b: &AthenaType) -> AthenaType {
    join(a, b).unwrap_or(AthenaType::String)
}

impl fmt::Display for AthenaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AthenaType::Null => f.write_str("null"),
            AthenaType::Boolean => f.write_str("boolean"),
            AthenaType::BigInt => f.write_str("bigint"),
            AthenaType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            AthenaType::String => f.write_str("string"),
            AthenaType::Array(element) => write!(f, "array<{element}>"),
            AthenaType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// A type text that is not one of the catalog's types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the type {text:?}: expected {expected} at character {at}")]
pub struct TypeParseError {
    pub text: String,
    pub at: usize,
    pub expected: &'static str,
}

/// Deeper than any type DynamoDB data can give (an item nests at most 32 levels).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &'static str) -> TypeParseError {
        TypeParseError {
            text: self.text.to_owned(),
            at: self.at,
            expected,
        }
    }

    fn blanks(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn word(&mut self) -> &str {
        self.blanks();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), TypeParseError> {
        self.blanks();
        if self.text[self.at..].starts_with(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn number(&mut self) -> Result<u32, TypeParseError> {
        let at = self.at;
        self.word().parse().map_err(|_| TypeParseError {
            at,
            ..self.error("a number")
        })
    }

    fn parse_type(&mut self, depth: usize) -> Result<AthenaType, TypeParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("a shallower type"));
        }
        let start = self.at;
        let word = self.word().to_ascii_lowercase();
        Ok(match word.as_str() {
            "null" => AthenaType::Null,
            "boolean" => AthenaType::Boolean,
            "bigint" => AthenaType::BigInt,
            "string" => AthenaType::String,
            "decimal" => {
                self.expect('(', "'(' after decimal")?;
                let precision = self.number()?;
                self.expect(',', "',' between precision and scale")?;
                let scale = self.number()?;
                self.expect(')', "')' after the scale")?;
                if !(1..=u32::from(MAX_DECIMAL_PRECISION)).contains(&precision) || scale > precision
                {
                    self.at = start;
                    return Err(self.error("decimal(p,s) with 1 <= p <= 38 and s <= p"));
                }
                AthenaType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                }
            }
            "array" => {
                self.expect('<', "'<' after array")?;
                let element = self.parse_type(depth + 1)?;
                self.expect('>', "'>' closing array<")?;
                AthenaType::Array(Box::new(element))
            }
            "struct" => {
                self.expect('<', "'<' after struct")?;
                let mut fields = Vec::new();
                self.blanks();
                // `struct<>`: the catalog's own word for lists of empty maps; Glue never sees it.
                let empty = self.text[self.at..].starts_with('>');
                if !empty {
                    loop {
                        let name = self.word().to_owned();
                        if name.is_empty() {
                            return Err(self.error("a field name"));
                        }
                        self.expect(':', "':' after a field name")?;
                        fields.push((name, self.parse_type(depth + 1)?));
                        self.blanks();
                        if self.text[self.at..].starts_with(',') {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect('>', "'>' closing struct<")?;
                AthenaType::Struct(fields)
            }
            _ => {
                self.at = start;
                self.blanks();
                return Err(self.error(
                    "one of null, boolean, bigint, decimal(p,s), string, array<...>, struct<...>",
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AthenaType::*;
    use super::*;

    fn dec(precision: u8, scale: u8) -> AthenaType {
        Decimal { precision, scale }
    }

    fn t(text: &str) -> AthenaType {
        AthenaType::parse(text).unwrap()
    }

    #[test]
    fn null_joins_as_nothing() {
        for x in [Boolean, BigInt, dec(5, 2), String, t("array<bigint>"), Null] {
            assert_eq!(join(&Null, &x), Some(x.clone()));
            assert_eq!(join(&x, &Null), Some(x.clone()));
        }
    }

    #[test]
    fn integers_stay_bigint_and_fractions_make_a_decimal_keeping_bigints_digits() {
        assert_eq!(join(&BigInt, &BigInt), Some(BigInt));
        // bigint may already hold 19-digit values: they must still fit.
        assert_eq!(join(&BigInt, &dec(3, 2)), Some(dec(21, 2)));
        assert_eq!(join(&dec(30, 0), &BigInt), Some(dec(30, 0)));
        assert_eq!(join(&BigInt, &dec(22, 20)), None, "19 + 20 digits");
    }

    #[test]
    fn decimals_widen_to_the_most_integer_digits_and_the_largest_scale() {
        assert_eq!(join(&dec(5, 2), &dec(4, 3)), Some(dec(6, 3)));
        assert_eq!(join(&dec(38, 0), &dec(1, 1)), None, "39 digits");
        assert_eq!(join(&dec(38, 38), &dec(38, 38)), Some(dec(38, 38)));
        assert_eq!(AthenaType::decimal(0, 0), Some(dec(1, 0)));
        assert_eq!(AthenaType::decimal(39, 0), None);
    }

    #[test]
    fn different_kinds_only_fit_a_string() {
        for (a, b) in [
            (Boolean, BigInt),
            (String, dec(3, 1)),
            (Boolean, String),
            (t("array<bigint>"), BigInt),
            (t("struct<a:bigint>"), t("array<bigint>")),
        ] {
            assert_eq!(join(&a, &b), None, "{a} {b}");
            assert_eq!(widen(&a, &b), String);
        }
        assert_eq!(widen(&String, &String), String);
    }

    #[test]
    fn arrays_agree_element_by_element_or_not_at_all() {
        assert_eq!(
            join(&t("array<bigint>"), &t("array<decimal(3,1)>")),
            Some(t("array<decimal(20,1)>"))
        );
        assert_eq!(
            join(&t("array<null>"), &t("array<string>")),
            Some(t("array<string>"))
        );
        // A list holding strings and numbers is no array<...> Athena can read exactly.
        assert_eq!(join(&t("array<string>"), &t("array<bigint>")), None);
        assert_eq!(
            join(&t("array<array<bigint>>"), &t("array<array<boolean>>")),
            None
        );
    }

    #[test]
    fn structs_gather_fields_in_order_and_widen_each() {
        assert_eq!(
            join(
                &t("struct<sku:string,qty:bigint>"),
                &t("struct<qty:decimal(2,1),note:null>")
            ),
            Some(t("struct<sku:string,qty:decimal(20,1),note:null>"))
        );
        assert_eq!(join(&t("struct<a:string>"), &t("struct<a:bigint>")), None);
    }

    #[test]
    fn join_is_commutative_associative_and_idempotent() {
        let samples = [
            Null,
            Boolean,
            BigInt,
            dec(3, 2),
            dec(38, 0),
            dec(20, 18),
            String,
            t("array<bigint>"),
            t("array<null>"),
            t("array<decimal(5,5)>"),
            t("struct<a:bigint>"),
            t("struct<b:string,a:null>"),
            t("array<struct<a:bigint>>"),
        ];
        // None stands for `string`-as-text, which absorbs everything.
        let j = |a: &Option<AthenaType>, b: &Option<AthenaType>| match (a, b) {
            (Some(a), Some(b)) => join(a, b),
            _ => None,
        };
        for a in &samples {
            assert_eq!(join(a, a), Some(a.clone()), "{a}");
            for b in &samples {
                assert_eq!(
                    join(a, b).map(sort_fields),
                    join(b, a).map(sort_fields),
                    "{a} {b}"
                );
                for c in &samples {
                    let (a, b, c) = (Some(a.clone()), Some(b.clone()), Some(c.clone()));
                    let left = j(&j(&a, &b), &c).map(sort_fields);
                    let right = j(&a, &j(&b, &c)).map(sort_fields);
                    assert_eq!(left, right, "{a:?} {b:?} {c:?}");
                }
            }
        }
    }

    fn sort_fields(t: AthenaType) -> AthenaType {
        match t {
            Array(e) => Array(Box::new(sort_fields(*e))),
            Struct(mut fields) => {
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Struct(
                    fields
                        .into_iter()
                        .map(|(n, t)| (n, sort_fields(t)))
                        .collect(),
                )
            }
            other => other,
        }
    }

    #[test]
    fn glue_is_never_told_null_or_an_empty_struct() {
        assert_eq!(Null.declared(), String);
        assert_eq!(t("array<null>").declared(), t("array<string>"));
        assert_eq!(t("array<struct<>>").declared(), t("array<string>"));
        assert_eq!(
            t("array<struct<a:null,b:bigint>>").declared(),
            t("array<struct<a:string,b:bigint>>")
        );
        assert_eq!(dec(4, 2).declared(), dec(4, 2));
    }

    #[test]
    fn types_read_back_as_written() {
        for text in [
            "null",
            "boolean",
            "bigint",
            "struct<>",
            "decimal(38,6)",
            "string",
            "array<array<decimal(1,1)>>",
            "struct<a:bigint,b_2:array<struct<c:string>>>",
        ] {
            assert_eq!(t(text).to_string(), text);
        }
        assert_eq!(t(" ARRAY < Decimal( 5 , 2 ) > "), t("array<decimal(5,2)>"));
    }

    #[test]
    fn other_types_are_refused_with_the_place() {
        for bad in [
            "double",
            "int",
            "decimal(39,0)",
            "decimal(0,0)",
            "decimal(3,4)",
            "decimal(3)",
            "array<bigint",
            "struct<a bigint>",
            "struct<a:bigint,>",
            "bigint extra",
            "",
        ] {
            let err = AthenaType::parse(bad).unwrap_err();
            assert_eq!(err.text, bad);
            assert!(err.to_string().contains("expected"), "{err}");
        }
        let deep = "array<".repeat(100) + "bigint" + &">".repeat(100);
        assert!(AthenaType::parse(&deep).is_err());
    }
}
