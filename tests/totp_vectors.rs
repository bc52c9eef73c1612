//! The published test vectors: RFC 6238 Appendix B (TOTP, SHA-1/256/512, 8 digits) and
//! RFC 4226 Appendix D (HOTP, SHA-1, 6 digits). They check `totp-rs` as we configure it,
//! and our own `mfa_console::core::totp` wrappers (SHA-1, 6 digits, 30 s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mfa_console::core::totp::{code_at, matched_step};
use rstest::rstest;
use totp_rs::{Algorithm, Builder};

/// RFC 6238 Appendix B seeds: the ASCII digits "1234567890" repeated to the hash size.
fn seed(len: usize) -> Vec<u8> {
    b"1234567890".iter().copied().cycle().take(len).collect()
}

fn rfc6238(algorithm: Algorithm, seed_len: usize, digits: u8) -> totp_rs::Totp {
    Builder::new()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_step_duration(30)
        .with_skew(0)
        .with_secret(seed(seed_len))
        .with_account_name("x")
        .build()
        .expect("RFC 6238 parameters are valid")
}

#[test]
fn seeds_are_the_rfc_ascii_strings() {
    assert_eq!(seed(20), b"12345678901234567890".to_vec());
    assert_eq!(seed(32), b"12345678901234567890123456789012".to_vec());
    assert_eq!(
        seed(64),
        b"1234567890123456789012345678901234567890123456789012345678901234".to_vec()
    );
}

/// RFC 6238 Appendix B, every row.
#[rstest]
#[case(59, "94287082", "46119246", "90693936")]
#[case(1111111109, "07081804", "68084774", "25091201")]
#[case(1111111111, "14050471", "67062674", "99943326")]
#[case(1234567890, "89005924", "91819424", "93441116")]
#[case(2000000000, "69279037", "90698825", "38618901")]
#[case(20000000000, "65353130", "77737706", "47863826")]
fn rfc6238_appendix_b(
    #[case] time: u64,
    #[case] sha1: &str,
    #[case] sha256: &str,
    #[case] sha512: &str,
) {
    for (algorithm, seed_len, expected) in [
        (Algorithm::SHA1, 20, sha1),
        (Algorithm::SHA256, 32, sha256),
        (Algorithm::SHA512, 64, sha512),
    ] {
        let totp = rfc6238(algorithm, seed_len, 8);
        assert_eq!(
            totp.generate(time).to_string(),
            expected,
            "{algorithm:?} at T = {time}"
        );
        // And the check side accepts exactly the vector at that time, with its step.
        assert_eq!(
            totp.check(expected, time),
            Some(time / 30),
            "{algorithm:?} check at T = {time}"
        );
    }
}

/// RFC 4226 Appendix D: HOTP(counter) for the 20-byte seed, 6 digits.
const HOTP: [&str; 10] = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
    "520489",
];

#[rstest]
fn rfc4226_appendix_d_through_totp_rs(#[values(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)] counter: usize) {
    // HOTP(c) is TOTP at time c * 30 with a 30-second step.
    let totp = rfc6238(Algorithm::SHA1, 20, 6);
    let time = counter as u64 * 30;
    assert_eq!(totp.generate(time).to_string(), HOTP[counter]);
    // Any second inside the step gives the same code.
    assert_eq!(totp.generate(time + 29).to_string(), HOTP[counter]);
}

#[rstest]
fn rfc4226_appendix_d_through_our_wrappers(#[values(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)] counter: usize) {
    let secret = seed(20);
    let time = counter as i64 * 30;
    assert_eq!(code_at(&secret, time).as_deref(), Some(HOTP[counter]));
    // Without skew, the code matches at its own step and nowhere else.
    assert_eq!(
        matched_step(&secret, 0, HOTP[counter], time),
        Some(counter as u64)
    );
    assert_eq!(matched_step(&secret, 0, HOTP[counter], time + 30), None);
    // With skew 1, the step after still accepts it, and reports the code's own step.
    assert_eq!(
        matched_step(&secret, 1, HOTP[counter], time + 30),
        Some(counter as u64)
    );
    assert_eq!(matched_step(&secret, 1, HOTP[counter], time + 60), None);
}

/// The 6-digit SHA-1 code is the low six digits of RFC 6238's 8-digit SHA-1 vector (both
/// are the same truncated value mod 10^d), so our wrapper agrees with Appendix B too.
#[rstest]
#[case(59, "94287082")]
#[case(1111111109, "07081804")]
#[case(1111111111, "14050471")]
#[case(1234567890, "89005924")]
#[case(2000000000, "69279037")]
#[case(20000000000, "65353130")]
fn our_code_at_is_the_six_digit_truncation_of_appendix_b(#[case] time: i64, #[case] eight: &str) {
    let secret = seed(20);
    let six = &eight[2..];
    assert_eq!(code_at(&secret, time).as_deref(), Some(six));
    assert_eq!(matched_step(&secret, 0, six, time), Some(time as u64 / 30));
}

/// `matched_step` takes normalised input only: anything but six ASCII digits fails.
#[rstest]
#[case(" 287082")]
#[case("287082 ")]
#[case("287 082")]
#[case("28708")]
#[case("2870822")]
#[case("２８７０８２")] // full-width digits
fn matched_step_refuses_unnormalised_input(#[case] input: &str) {
    let secret = seed(20);
    assert_eq!(
        matched_step(&secret, 1, "287082", 30),
        Some(1),
        "control: the plain code"
    );
    assert_eq!(matched_step(&secret, 1, input, 30), None);
}
