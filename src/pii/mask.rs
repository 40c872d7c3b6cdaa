//! Masking and validation of single values: what the SQL helpers return and
//! what evidence shows instead of a raw value.
//!
//! Every function here works on characters, never on byte offsets, so any
//! UTF-8 input is safe. When a value does not have the expected shape the
//! maskers fall back to showing less, never more: the point of a mask is that
//! a reader of the output learns almost nothing a reader of the input knew.

/// Longest DNS label (RFC 1035 2.3.4). A longer "top-level domain" is not a
/// domain, it is arbitrary text that happens to follow a dot, so it is not shown.
const MAX_LABEL_CHARS: usize = 63;

/// Masks an e-mail address to the shape `jo***@***.com`.
///
/// - The last `@` separates the local part from the domain, so
///   `"a@b"@example.com`-style local parts still mask around the real domain.
/// - Local part: its first two characters are kept when it has three or more;
///   when it has one or two, only the first is kept (showing both characters
///   of a two-character local part would show all of it); an empty local part
///   shows nothing.
/// - Domain: only its last label is kept, after `***@***.`. The label must be
///   non-empty, at most 63 characters, and free of whitespace and control
///   characters; otherwise (no dot, empty domain, trailing dot, oversized or
///   multi-line label) the output is the first character of the local part
///   followed by `***@***`, e.g. `a@localhost` -> `a***@***`.
/// - No `@` at all: the first character followed by `***` (`***` for the
///   empty string).
///
/// The output therefore never exceeds 2 + 8 + 63 characters, whatever the input.
pub fn mask_email(value: &str) -> String {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return first_char_then_stars(value);
    };
    let label = last_label(domain);
    let keep = match (label, local.chars().take(3).count()) {
        (_, 0) => 0,
        (None, _) | (Some(_), 1 | 2) => 1,
        (Some(_), _) => 2,
    };
    let mut out: String = local.chars().take(keep).collect();
    match label {
        Some(label) => {
            out.push_str("***@***.");
            out.push_str(label);
        }
        None => out.push_str("***@***"),
    }
    out
}

fn first_char_then_stars(value: &str) -> String {
    let mut out: String = value.chars().take(1).collect();
    out.push_str("***");
    out
}

/// The part of `domain` after its last dot, when it is fit to be shown.
fn last_label(domain: &str) -> Option<&str> {
    let (_, label) = domain.rsplit_once('.')?;
    let fits = !label.is_empty()
        && label.chars().nth(MAX_LABEL_CHARS).is_none()
        && !label.chars().any(|c| c.is_whitespace() || c.is_control());
    fits.then_some(label)
}

/// Characters that carry layout, not identity, and keep their position.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')
}

fn ascii_digits(value: &str) -> usize {
    value.chars().filter(char::is_ascii_digit).count()
}

/// Masks a phone number, keeping its last two digits: `+1 (555) 123-4567` ->
/// `+* (***) ***-**67`.
///
/// - Digits are the ASCII digits `0`-`9`. All but the last two become `*`;
///   with fewer than four digits in total every digit becomes `*`, since two
///   of three digits would reveal most of the value.
/// - Whitespace, `-`, `.`, `(` and `)` are kept in place, as is a `+` that
///   comes before the first digit (the international prefix).
/// - Every other character becomes `*`: letters too, because vanity numbers
///   (`1-800-FLOWERS`) spell the number with them, and so do non-ASCII digits.
///
/// The output has exactly as many characters as the input.
pub fn mask_phone(value: &str) -> String {
    let total = ascii_digits(value);
    let first_kept = if total < 4 { usize::MAX } else { total - 2 };
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > first_kept { c } else { '*' }
            } else if (c == '+' && seen == 0) || is_separator(c) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Masks a payment card number to PCI DSS 3.4.1's "first six, last four" at
/// most: `4111 1111 1111 1111` -> `4111 11** **** 1111`.
///
/// - Digits are the ASCII digits `0`-`9`; whitespace, `-`, `.`, `(` and `)`
///   keep their position; every other character becomes `*`.
/// - 13 to 19 digits (a card number's length): the first six and last four
///   digits are kept, every digit between them becomes `*`.
/// - Any other count is not a card number, so no issuer prefix is shown: only
///   the last four digits are kept, and never more than `count - 4`, so at
///   least four digits are always masked (`12345` -> `****5`; four or fewer
///   digits are masked completely).
///
/// At most ten digits are ever shown, and the output has exactly as many
/// characters as the input.
pub fn mask_card(value: &str) -> String {
    let total = ascii_digits(value);
    let (head, tail) = if (13..=19).contains(&total) { (6, 4) } else { (0, total.saturating_sub(4).min(4)) };
    let mut index = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                let shown = index < head || index >= total - tail;
                index += 1;
                if shown { c } else { '*' }
            } else if is_separator(c) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// True when `value` is 12 to 19 ASCII digits, optionally separated by spaces
/// and dashes, that pass the Luhn (mod 10) checksum. Any other character
/// makes it false, as does a digit count outside 12..=19 (the lengths of
/// ISO/IEC 7812 card numbers): the checksum alone passes one random number
/// in ten.
pub fn luhn_valid(value: &str) -> bool {
    let mut digits = [0u8; 19];
    let mut n = 0;
    for c in value.chars() {
        match c {
            '0'..='9' => {
                // A 20th digit already decides the answer, however long the rest is.
                let Some(slot) = digits.get_mut(n) else { return false };
                *slot = c as u8 - b'0';
                n += 1;
            }
            ' ' | '-' => {}
            _ => return false,
        }
    }
    n >= 12 && luhn_checksum_ok(&digits[..n])
}

/// The Luhn check over digit values (0-9), rightmost digit being the check digit.
pub(crate) fn luhn_checksum_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Inputs no function in `pii` may panic on.
    pub(crate) fn hostile_inputs() -> Vec<String> {
        let mut v: Vec<String> = [
            "", " ", "-", "--", " - - ", "()", "+", "++", ".", "..", "@", "@@@", ".@.", "@.", ".@", "a@", "@a", "a@.",
            "@.com", "é", "日本", "日本@例え.日本", "😀", "😀@😀.😀", "👨‍👩‍👧@x.com", "\u{1}\u{2}\u{7f}", "\t\r\n",
            "a@b.c\nSSN", "\u{200b}", "e\u{301}", "١٢٣٤٥٦٧٨٩٠١٢٣", "４１１１１１１１１１１１１１１１", "0", "00000000000000000000",
            "4111-1111-1111-1111-", "-4111 1111 1111 1111", "4111  1111  1111  1111", "___", "123-45-678", "123-45-67890",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("a".repeat(10_000));
        v.push("9".repeat(10_000));
        v.push("1 ".repeat(5_000));
        v.push("4111-".repeat(2_000));
        v.push("@".repeat(10_000));
        v.push(".".repeat(10_000));
        v.push("é".repeat(10_000));
        v.push("日本".repeat(5_000));
        v.push("😀".repeat(10_000));
        v.push(format!("{}@{}.{}", "x".repeat(10_000), "y".repeat(10_000), "z".repeat(10_000)));
        v.push(format!("ab@{}.com", "d.".repeat(5_000)));
        v.push("123-45-6789 ".repeat(1_000));
        v
    }

    #[test]
    fn mask_email_seed_example() {
        assert_eq!(mask_email("john.doe@example.com"), "jo***@***.com");
    }

    #[test]
    fn mask_email_local_part_lengths() {
        assert_eq!(mask_email("abc@x.com"), "ab***@***.com");
        assert_eq!(mask_email("ab@x.com"), "a***@***.com");
        assert_eq!(mask_email("a@x.com"), "a***@***.com");
        assert_eq!(mask_email("@x.com"), "***@***.com");
    }

    #[test]
    fn mask_email_keeps_only_last_domain_label() {
        assert_eq!(mask_email("alice@mail.corp.example.co.uk"), "al***@***.uk");
        assert_eq!(mask_email("bob.smith@.org"), "bo***@***.org");
    }

    #[test]
    fn mask_email_last_at_separates_local_and_domain() {
        assert_eq!(mask_email("\"a@b\"@example.com"), "\"a***@***.com");
        assert_eq!(mask_email("x@evil.com@example.org"), "x@***@***.org");
    }

    #[test]
    fn mask_email_without_at_shows_first_char_only() {
        assert_eq!(mask_email("johndoe"), "j***");
        assert_eq!(mask_email("john.doe.example.com"), "j***");
        assert_eq!(mask_email("x"), "x***");
        assert_eq!(mask_email(""), "***");
    }

    #[test]
    fn mask_email_without_usable_domain_shows_first_char_only() {
        assert_eq!(mask_email("john@localhost"), "j***@***");
        assert_eq!(mask_email("john@"), "j***@***");
        assert_eq!(mask_email("a@b."), "a***@***");
        assert_eq!(mask_email("john@example.com."), "j***@***");
        assert_eq!(mask_email("@"), "***@***");
        assert_eq!(mask_email("john@example.co m"), "j***@***");
        assert_eq!(mask_email("john@example.com\nSSN 123-45-6789"), "j***@***");
        assert_eq!(mask_email(&format!("john@example.{}", "a".repeat(64))), "j***@***");
        let label63 = "a".repeat(63);
        assert_eq!(mask_email(&format!("john@example.{label63}")), format!("jo***@***.{label63}"));
    }

    #[test]
    fn mask_email_is_character_based() {
        assert_eq!(mask_email("日本語@例え.jp"), "日本***@***.jp");
        assert_eq!(mask_email("日本@例え.jp"), "日***@***.jp");
        assert_eq!(mask_email("😀😀😀@x.みんな"), "😀😀***@***.みんな");
        assert_eq!(mask_email("élodie@exemple.fr"), "él***@***.fr");
        assert_eq!(mask_email("é"), "é***");
        assert_eq!(mask_email("éa@localhost"), "é***@***");
    }

    #[test]
    fn mask_email_output_is_bounded() {
        let long = format!("{}@{}.com", "x".repeat(100_000), "y".repeat(100_000));
        assert_eq!(mask_email(&long), "xx***@***.com");
        for s in hostile_inputs() {
            assert!(mask_email(&s).chars().count() <= 2 + 8 + MAX_LABEL_CHARS, "{s:?}");
        }
    }

    #[test]
    fn mask_phone_keeps_last_two_digits_and_layout() {
        assert_eq!(mask_phone("+1 (555) 123-4567"), "+* (***) ***-**67");
        assert_eq!(mask_phone("+44 20 7946 0958"), "+** ** **** **58");
        assert_eq!(mask_phone("555.123.4567"), "***.***.**67");
        assert_eq!(mask_phone("0612345678"), "********78");
        assert_eq!(mask_phone("1234"), "**34");
    }

    #[test]
    fn mask_phone_fewer_than_four_digits_masks_all() {
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_phone("1-2"), "*-*");
        assert_eq!(mask_phone(""), "");
        assert_eq!(mask_phone("+"), "+");
    }

    #[test]
    fn mask_phone_masks_letters_and_later_plus() {
        assert_eq!(mask_phone("1-800-FLOWERS"), "*-*00-*******");
        assert_eq!(mask_phone("+1 800 FLOWERS 42"), "+* *** ******* 42");
        assert_eq!(mask_phone("1-800-356-9377 ext 12"), "*-***-***-**** *** 12");
        assert_eq!(mask_phone("555+1234"), "******34");
        assert_eq!(mask_phone("tel:+33 1 23 45 67 89"), "****+** * ** ** ** 89");
        assert_eq!(mask_phone("٠٦١٢٣٤٥٦٧٨"), "**********");
        assert_eq!(mask_phone("06 日本 12 34"), "** ** ** 34");
    }

    #[test]
    fn mask_card_first_six_last_four() {
        assert_eq!(mask_card("4111 1111 1111 1111"), "4111 11** **** 1111");
        assert_eq!(mask_card("4111111111111111"), "411111******1111");
        assert_eq!(mask_card("5555-5555-5555-4444"), "5555-55**-****-4444");
        assert_eq!(mask_card("3782 822463 10005"), "3782 82**** *0005");
        assert_eq!(mask_card("4222222222222"), "422222***2222");
        assert_eq!(mask_card("6011 0009 9013 9424 123"), "6011 00** **** ***4 123");
    }

    #[test]
    fn mask_card_other_lengths_show_at_most_last_four() {
        assert_eq!(mask_card("123456789012"), "********9012");
        assert_eq!(mask_card("41111111111111111111"), "****************1111");
        assert_eq!(mask_card("12345678"), "****5678");
        assert_eq!(mask_card("1234567"), "****567");
        assert_eq!(mask_card("12345"), "****5");
        assert_eq!(mask_card("1234"), "****");
        assert_eq!(mask_card("12"), "**");
        assert_eq!(mask_card(""), "");
    }

    #[test]
    fn mask_card_masks_non_separator_characters() {
        assert_eq!(mask_card("card 4111111111111111"), "**** 411111******1111");
        assert_eq!(mask_card("4111/1111/1111/1111"), "4111*11********1111");
    }

    #[test]
    fn mask_card_never_shows_more_than_ten_digits() {
        for n in 0..=40 {
            let value = "7".repeat(n);
            let shown = mask_card(&value).chars().filter(char::is_ascii_digit).count();
            if (13..=19).contains(&n) {
                assert_eq!(shown, 10, "{n} digits");
            } else {
                assert!(shown <= 4 && shown <= n.saturating_sub(4), "{n} digits showed {shown}");
            }
        }
    }

    #[test]
    fn luhn_valid_known_numbers() {
        for pan in ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4222222222222"] {
            assert!(luhn_valid(pan), "{pan}");
        }
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("4111-1111-1111-1111"));
        assert!(luhn_valid(" 4111-1111 1111--1111 "));
        assert!(luhn_valid("000000000000"));
    }

    #[test]
    fn luhn_valid_near_misses() {
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("5555555555554443"));
        assert!(!luhn_valid("4111.1111.1111.1111"));
        assert!(!luhn_valid("4111 1111 1111 1111x"));
        assert!(!luhn_valid("４１１１１１１１１１１１１１１１"));
        // 11 and 20 digits with a valid checksum.
        assert!(!luhn_valid("00000000000"));
        assert!(!luhn_valid("00000000000000000000"));
        assert!(!luhn_valid("0000 0000 0000 0000 0000"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid(" - "));
    }

    #[test]
    fn luhn_length_bounds() {
        // 12 and 19 digits are the ends of the accepted range.
        assert!(luhn_valid("000000000000"));
        assert!(luhn_valid("4000000000000000006"));
        assert!(luhn_checksum_ok(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
        assert!(!luhn_checksum_ok(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
    }

    #[test]
    fn no_panic_on_hostile_input() {
        for s in hostile_inputs() {
            let _ = mask_email(&s);
            assert_eq!(mask_phone(&s).chars().count(), s.chars().count(), "{s:?}");
            assert_eq!(mask_card(&s).chars().count(), s.chars().count(), "{s:?}");
            let _ = luhn_valid(&s);
        }
    }

    #[test]
    fn masked_output_never_contains_the_middle() {
        let emails = [
            ("john.doe@example.com", "hn.doe@example"),
            ("alice.wonderland@mail.example.org", "ice.wonderland@mail.example"),
            ("日本語テキスト@例え.jp", "語テキスト@例え"),
        ];
        for (email, middle) in emails {
            let masked = mask_email(email);
            assert!(!masked.contains(middle), "{masked}");
            assert!(!masked.contains("example") && !masked.contains("例え"), "{masked}");
        }
        let cards = [
            ("4111111111111111", "111111"),
            ("5555 5555 5555 4444", "55 5555 44"),
            ("378282246310005", "246310"),
            ("6011-1111-1111-1117", "11-1111-1"),
            ("4000000000000000006", "00000000"),
        ];
        for (card, middle) in cards {
            let masked = mask_card(card);
            assert!(!masked.contains(middle), "{masked}");
            let digits: String = card.chars().filter(char::is_ascii_digit).collect();
            let masked_digits: String = masked.chars().filter(|c| *c != ' ' && *c != '-').collect();
            assert_eq!(masked_digits[6..digits.len() - 4].chars().filter(|c| *c != '*').count(), 0, "{masked}");
        }
        let phones = [("+1 555 123 4567", "555 123 45"), ("06 12 34 56 78", "12 34 56")];
        for (phone, middle) in phones {
            assert!(!mask_phone(phone).contains(middle));
        }
    }
}
