//! Randomised properties of the maskers and the Luhn check: a fixed seed and
//! a fixed number of cases, so a failure reproduces exactly. The generator
//! is SplitMix64; the inputs mix the shapes the functions expect with
//! hostile characters (quotes, NUL-free control characters, non-ASCII,
//! emoji, separators, very long runs).

#[cfg(test)]
mod tests {
    use crate::pii::card::find_card_numbers;
    use crate::pii::mask::{luhn_valid, mask_card, mask_email, mask_phone};

    const CASES: usize = 4000;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
        fn word(&mut self, alphabet: &str, min: usize, max: usize) -> String {
            let chars: Vec<char> = alphabet.chars().collect();
            let n = min + self.below(max - min + 1);
            (0..n).map(|_| chars[self.below(chars.len())]).collect()
        }
    }

    const HOSTILE: [&str; 14] =
        ["'", "\"", ";", "--", "$$", "\\", "\t", "\n", "é", "日本", "🙂", "@", ".", "\u{200b}"];

    fn noise(r: &mut Rng) -> String {
        (0..r.below(6)).map(|_| r.pick(&HOSTILE).to_string()).collect()
    }

    #[test]
    fn mask_email_never_shows_the_hidden_part_and_stays_bounded() {
        let mut r = Rng(0x5EED_0001);
        for _ in 0..CASES {
            let local = r.word("abcdefghijklmnopqrstuvwxyz0123456789._+-", 1, 40);
            let host = r.word("abcdefghijklmnopqrstuvwxyz", 1, 20);
            let tld = r.word("abcdefghijklmnopqrstuvwxyz", 2, 6);
            let email = format!("{local}@{host}.{tld}");
            let out = mask_email(&email);
            assert!(out.chars().count() <= 2 + 8 + 63, "{email} -> {out}");
            let shown = local.chars().take(if local.chars().count() > 2 { 2 } else { 1 }).count();
            let hidden: String = local.chars().skip(shown).collect();
            if hidden.len() >= 4 {
                assert!(!out.contains(&hidden), "{email} -> {out} shows {hidden}");
            }
            if host.len() >= 4 {
                assert!(!out.contains(&host), "{email} -> {out} shows the host {host}");
            }
            // Arbitrary hostile text never panics and stays bounded.
            let junk = format!("{}{}{}", noise(&mut r), r.word("ab@.日", 0, 500), noise(&mut r));
            assert!(mask_email(&junk).chars().count() <= 2 + 8 + 63);
        }
    }

    fn digits_of(s: &str) -> String {
        s.chars().filter(char::is_ascii_digit).collect()
    }

    #[test]
    fn mask_card_shows_at_most_first_six_and_last_four() {
        let mut r = Rng(0x5EED_0002);
        for _ in 0..CASES {
            let digits = r.word("0123456789", 1, 25);
            let sep = r.pick(&["", " ", "-"]);
            let grouped: String = digits
                .chars()
                .enumerate()
                .flat_map(|(i, c)| if i > 0 && i % 4 == 0 { vec![sep.chars().next(), Some(c)] } else { vec![None, Some(c)] })
                .flatten()
                .collect();
            let input = format!("{}{grouped}{}", noise(&mut r), noise(&mut r));
            let out = mask_card(&input);
            assert_eq!(out.chars().count(), input.chars().count(), "{input:?} -> {out:?}");
            let shown = digits_of(&out);
            let n = digits.len();
            assert!(shown.len() <= 10, "{input:?} -> {out:?}");
            if n >= 13 && n <= 19 {
                assert_eq!(shown, format!("{}{}", &digits[..6], &digits[n - 4..]), "{input:?} -> {out:?}");
            } else {
                assert!(shown.len() <= 4 && n.saturating_sub(shown.len()) >= 4.min(n), "{input:?} -> {out:?}");
            }
        }
    }

    #[test]
    fn mask_phone_keeps_only_the_last_two_digits() {
        let mut r = Rng(0x5EED_0003);
        for _ in 0..CASES {
            let digits = r.word("0123456789", 0, 20);
            let input = format!("{}+{} ({}) {}", noise(&mut r), &digits[..digits.len().min(2)], digits, r.word("0123456789 -.", 0, 6));
            let out = mask_phone(&input);
            assert_eq!(out.chars().count(), input.chars().count(), "{input:?} -> {out:?}");
            let all = digits_of(&input);
            let shown = digits_of(&out);
            if all.len() >= 4 {
                assert_eq!(shown, all[all.len() - 2..], "{input:?} -> {out:?}");
            } else {
                assert!(shown.is_empty(), "{input:?} -> {out:?}");
            }
        }
    }

    fn reference_luhn(digits: &str) -> bool {
        let sum: u32 = digits
            .chars()
            .rev()
            .enumerate()
            .map(|(i, c)| {
                let d = c.to_digit(10).unwrap();
                if i % 2 == 1 {
                    let x = d * 2;
                    if x > 9 { x - 9 } else { x }
                } else {
                    d
                }
            })
            .sum();
        sum % 10 == 0
    }

    #[test]
    fn luhn_agrees_with_a_reference_and_the_detector_only_returns_masked_luhn_hits() {
        let mut r = Rng(0x5EED_0004);
        for _ in 0..CASES {
            let digits = r.word("0123456789", 0, 22);
            let sep = r.pick(&["", " ", "-"]);
            let spaced: String = digits.chars().flat_map(|c| [Some(c), if r.below(5) == 0 { sep.chars().next() } else { None }]).flatten().collect();
            let expected = (12..=19).contains(&digits.len()) && reference_luhn(&digits);
            assert_eq!(luhn_valid(&spaced), expected, "{spaced:?}");
            let text = format!("{} {spaced} {}", noise(&mut r), noise(&mut r));
            for hit in find_card_numbers(&text) {
                let raw = &text[hit.range.clone()];
                assert!(reference_luhn(&digits_of(raw)), "{raw:?} is not Luhn-valid");
                assert!(!hit.masked.contains(&digits_of(raw)[6..digits_of(raw).len() - 4]) || digits_of(raw).len() - 10 < 3);
                assert!(digits_of(&hit.masked).len() <= 10, "{:?}", hit.masked);
            }
        }
    }
}
