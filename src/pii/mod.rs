//! PII and GDPR helpers: validators and detectors that sampling runs over
//! column values (`card`, `national_id`), the maskers that evidence is built
//! from (`mask`), and their SQL functions.
//!
//! Everything below the SQL wrappers is plain Rust over `&str`, so it is
//! tested without a server and can run on sampled values without touching
//! PostgreSQL memory.

pub mod card;
pub mod detect;
pub mod erase;
pub mod mask;
pub mod national_id;
mod props;

use pgrx::prelude::*;

// STRICT makes PostgreSQL answer NULL for a NULL argument without calling
// in, so the wrappers take `&str` and never see a missing value. IMMUTABLE
// lets them back expression indexes and generated columns of masked values.

/// `'john.doe@example.com'` -> `'jo***@***.com'`; see [`mask::mask_email`].
#[pg_extern(immutable, strict, parallel_safe)]
fn mask_email(value: &str) -> String {
    mask::mask_email(value)
}

/// Keeps the last two digits and the separators; see [`mask::mask_phone`].
#[pg_extern(immutable, strict, parallel_safe)]
fn mask_phone(value: &str) -> String {
    mask::mask_phone(value)
}

/// At most the first six and last four digits; see [`mask::mask_card`].
#[pg_extern(immutable, strict, parallel_safe)]
fn mask_card(value: &str) -> String {
    mask::mask_card(value)
}

/// Luhn checksum over 12 to 19 digits, spaces and dashes ignored; see [`mask::luhn_valid`].
#[pg_extern(immutable, strict, parallel_safe)]
fn luhn_valid(value: &str) -> bool {
    mask::luhn_valid(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_wrappers_follow_the_contract_examples() {
        assert_eq!(mask_email("john.doe@example.com"), "jo***@***.com");
        assert_eq!(mask_email("no-at-sign"), "n***");
        assert_eq!(mask_phone("+1 555 123 4567"), "+* *** *** **67");
        assert_eq!(mask_card("4111 1111 1111 1111"), "4111 11** **** 1111");
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("4111-1111-1111-1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(!luhn_valid("00000000000"));
    }

    #[test]
    fn wrappers_agree_with_the_pure_functions() {
        for s in mask::tests::hostile_inputs() {
            assert_eq!(mask_email(&s), mask::mask_email(&s));
            assert_eq!(mask_phone(&s), mask::mask_phone(&s));
            assert_eq!(mask_card(&s), mask::mask_card(&s));
            assert_eq!(luhn_valid(&s), mask::luhn_valid(&s));
        }
    }
}
