//! The RADIUS packet codec (RFC 2865, with Message-Authenticator from RFC 2869 / RFC 3579):
//! bytes to a checked packet and back. Pure: no sockets, no clock, no policy.
//!
//! Decoding checks everything a packet says about itself (the length field, each
//! attribute's length, the encodings of the attributes this service reads, attribute
//! types no RFC assigns) and never panics on any input; a packet that fails is dropped by
//! the listener, as RFC 2865 §3 asks for a malformed one.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const ACCESS_REQUEST: u8 = 1;
pub const ACCESS_ACCEPT: u8 = 2;
pub const ACCESS_REJECT: u8 = 3;
pub const ACCESS_CHALLENGE: u8 = 11;

/// Attribute types (RFC 2865 §5, RFC 2869 §5.14, RFC 3579 §3.2).
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const EAP_MESSAGE: u8 = 79;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// The shortest packet (the header alone) and the longest (RFC 2865 §3).
pub const MIN_LEN: usize = 20;
pub const MAX_LEN: usize = 4096;
/// The longest User-Password (RFC 2865 §5.2: 128 octets).
pub const MAX_PASSWORD: usize = 128;
/// The longest value of one attribute.
pub const MAX_VALUE: usize = 253;

/// Why a packet was not read. Only kinds and offsets: never a value from the packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("shorter than a RADIUS header ({0} bytes)")]
    TooShort(usize),
    #[error("longer than 4096 bytes ({0} bytes)")]
    TooLong(usize),
    #[error("its length field says {field} bytes, but {received} arrived")]
    LengthField { field: usize, received: usize },
    #[error("the attribute at byte {at} has a bad length")]
    AttributeLength { at: usize },
    #[error("attribute type {kind} is not one RADIUS defines")]
    UnknownAttribute { kind: u8 },
    #[error("attribute type {kind} is badly encoded")]
    BadEncoding { kind: u8 },
    #[error("attribute type {kind} appears more than once")]
    Repeated { kind: u8 },
}

/// A packet as it is on the wire, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: u8,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    /// In order, as sent: (type, value).
    pub attributes: Vec<(u8, Vec<u8>)>,
}

/// Attribute types RFCs assign (RFC 2865, 2866, 2867, 2868, 2869, 3162, 3579, 4072, 4675,
/// 4818, 4849, 5090, 5176 and neighbours). Types 192 and above are experimental,
/// implementation-specific or extended (RFC 6929), which this service does not speak.
fn assigned(kind: u8) -> bool {
    matches!(kind, 1..=191)
}

impl Packet {
    /// Reads a packet and checks its encoding. The authenticators are not checked here:
    /// that needs the shared secret ([`Packet::message_authenticator_ok`]).
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        if bytes.len() < MIN_LEN {
            return Err(DecodeError::TooShort(bytes.len()));
        }
        if bytes.len() > MAX_LEN {
            return Err(DecodeError::TooLong(bytes.len()));
        }
        let field = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        // RFC 2865 §3: octets beyond the length field are padding and ignored; fewer
        // octets than it says is a malformed packet.
        if !(MIN_LEN..=MAX_LEN).contains(&field) || field > bytes.len() {
            return Err(DecodeError::LengthField {
                field,
                received: bytes.len(),
            });
        }
        let bytes = &bytes[..field];
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&bytes[4..20]);
        let mut attributes = Vec::new();
        let mut at = MIN_LEN;
        while at < bytes.len() {
            let (Some(&kind), Some(&len)) = (bytes.get(at), bytes.get(at + 1)) else {
                return Err(DecodeError::AttributeLength { at });
            };
            let len = usize::from(len);
            if len < 2 || at + len > bytes.len() {
                return Err(DecodeError::AttributeLength { at });
            }
            if !assigned(kind) {
                return Err(DecodeError::UnknownAttribute { kind });
            }
            attributes.push((kind, bytes[at + 2..at + len].to_vec()));
            at += len;
        }
        let p = Packet {
            code: bytes[0],
            identifier: bytes[1],
            authenticator,
            attributes,
        };
        p.check_encodings()?;
        Ok(p)
    }

    /// The attributes this service reads must be well formed; the ones that may appear
    /// at most once (RFC 2865 §5.44) must not repeat.
    fn check_encodings(&self) -> Result<(), DecodeError> {
        for once in [
            attr::USER_NAME,
            attr::USER_PASSWORD,
            attr::CHAP_PASSWORD,
            attr::NAS_IP_ADDRESS,
            attr::NAS_PORT,
            attr::STATE,
            attr::MESSAGE_AUTHENTICATOR,
        ] {
            if self.attributes.iter().filter(|(k, _)| *k == once).count() > 1 {
                return Err(DecodeError::Repeated { kind: once });
            }
        }
        for (kind, value) in &self.attributes {
            let ok = match *kind {
                // RFC 2865 §5: "text" and "string" have at least one octet.
                attr::USER_NAME | attr::STATE | attr::REPLY_MESSAGE => !value.is_empty(),
                attr::USER_PASSWORD => {
                    (16..=MAX_PASSWORD).contains(&value.len()) && value.len().is_multiple_of(16)
                }
                attr::CHAP_PASSWORD => value.len() == 17,
                attr::NAS_IP_ADDRESS | attr::NAS_PORT | attr::SERVICE_TYPE => value.len() == 4,
                attr::MESSAGE_AUTHENTICATOR => value.len() == 16,
                _ => true,
            };
            if !ok {
                return Err(DecodeError::BadEncoding { kind: *kind });
            }
        }
        if let Some(name) = self.get(attr::USER_NAME)
            && std::str::from_utf8(name).is_err()
        {
            return Err(DecodeError::BadEncoding {
                kind: attr::USER_NAME,
            });
        }
        Ok(())
    }

    /// The first value of an attribute.
    pub fn get(&self, kind: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    /// User-Name as text (checked to be UTF-8 by [`Packet::decode`]).
    pub fn user_name(&self) -> Option<&str> {
        self.get(attr::USER_NAME)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// RFC 3579 §3.2: a Message-Authenticator is there and is the HMAC-MD5, keyed with
    /// the shared secret, of the packet with its value as 16 zeros. For a request,
    /// `request_authenticator` is `None` (its own is used); for a response, the request's.
    pub fn message_authenticator_ok(
        &self,
        secret: &[u8],
        request_authenticator: Option<&[u8; 16]>,
    ) -> bool {
        let Some(sent) = self.get(attr::MESSAGE_AUTHENTICATOR) else {
            return false;
        };
        let mut zeroed = self.clone();
        if let Some(ra) = request_authenticator {
            zeroed.authenticator = *ra;
        }
        for (k, v) in &mut zeroed.attributes {
            if *k == attr::MESSAGE_AUTHENTICATOR {
                v.fill(0);
            }
        }
        let Ok(bytes) = zeroed.encode_raw() else {
            return false;
        };
        hmac_md5(secret, &bytes).ct_eq(sent).into()
    }

    /// RFC 2865 §3: a response's authenticator is MD5(Code, Identifier, Length, the
    /// request's authenticator, the attributes, the secret).
    pub fn response_authenticator_ok(
        &self,
        request_authenticator: &[u8; 16],
        secret: &[u8],
    ) -> bool {
        let mut with_request = self.clone();
        with_request.authenticator = *request_authenticator;
        let Ok(bytes) = with_request.encode_raw() else {
            return false;
        };
        let mut h = Md5::new();
        h.update(&bytes);
        h.update(secret);
        let expected: [u8; 16] = h.finalize().into();
        expected.ct_eq(&self.authenticator).into()
    }

    /// The packet's bytes as they stand (no authenticator computed).
    pub fn encode_raw(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(MIN_LEN + self.attributes.len() * 8);
        out.push(self.code);
        out.push(self.identifier);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.authenticator);
        for (k, v) in &self.attributes {
            if v.len() > MAX_VALUE {
                return Err(EncodeError::ValueTooLong { kind: *k });
            }
            out.push(*k);
            out.push((v.len() + 2) as u8);
            out.extend_from_slice(v);
        }
        if out.len() > MAX_LEN {
            return Err(EncodeError::TooLong);
        }
        let len = (out.len() as u16).to_be_bytes();
        out[2] = len[0];
        out[3] = len[1];
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the value of attribute type {kind} is longer than 253 bytes")]
    ValueTooLong { kind: u8 },
    #[error("the packet would be longer than 4096 bytes")]
    TooLong,
}

/// HMAC-MD5 (RFC 2104), as Message-Authenticator uses it.
pub fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    match <Hmac<Md5> as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().into()
        }
        Err(_) => [0; 16],
    }
}

/// An answer to `request`: `attributes` after a Message-Authenticator (first, as RFC
/// 3579 and the BlastRADIUS advice have it), then the Response Authenticator.
pub fn encode_response(
    code: u8,
    request: &Packet,
    attributes: Vec<(u8, Vec<u8>)>,
    secret: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let mut p = Packet {
        code,
        identifier: request.identifier,
        authenticator: request.authenticator,
        attributes: Vec::with_capacity(attributes.len() + 1),
    };
    p.attributes
        .push((attr::MESSAGE_AUTHENTICATOR, vec![0; 16]));
    p.attributes.extend(attributes);
    let unsigned = p.encode_raw()?;
    let ma = hmac_md5(secret, &unsigned);
    p.attributes[0].1.copy_from_slice(&ma);
    let mut bytes = p.encode_raw()?;
    let mut h = Md5::new();
    h.update(&bytes);
    h.update(secret);
    let response_authenticator: [u8; 16] = h.finalize().into();
    bytes[4..20].copy_from_slice(&response_authenticator);
    Ok(bytes)
}

/// An Access-Request as a NAS sends it: `attributes`, then a Message-Authenticator when
/// `sign` (computed over the whole packet).
pub fn encode_request(
    identifier: u8,
    authenticator: [u8; 16],
    attributes: Vec<(u8, Vec<u8>)>,
    secret: &[u8],
    sign: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut p = Packet {
        code: ACCESS_REQUEST,
        identifier,
        authenticator,
        attributes,
    };
    if sign {
        p.attributes
            .push((attr::MESSAGE_AUTHENTICATOR, vec![0; 16]));
        let unsigned = p.encode_raw()?;
        let ma = hmac_md5(secret, &unsigned);
        if let Some((_, v)) = p.attributes.last_mut() {
            v.copy_from_slice(&ma);
        }
    }
    p.encode_raw()
}

/// RFC 2865 §5.2: User-Password hidden with the secret and the Request Authenticator.
pub fn hide_password(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let padded_len = password.len().div_ceil(16).clamp(1, MAX_PASSWORD / 16) * 16;
    let mut out = vec![0u8; padded_len];
    let n = password.len().min(padded_len);
    out[..n].copy_from_slice(&password[..n]);
    let mut previous: [u8; 16] = *authenticator;
    for chunk in out.chunks_mut(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(previous);
        let b: [u8; 16] = h.finalize().into();
        for (c, k) in chunk.iter_mut().zip(b) {
            *c ^= k;
        }
        previous.copy_from_slice(chunk);
    }
    out
}

/// The reverse of [`hide_password`]: the password, its NUL padding removed. `None` when
/// the result is not UTF-8 text (a wrong secret gives noise).
pub fn reveal_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Option<Zeroizing<String>> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) || hidden.len() > MAX_PASSWORD {
        return None;
    }
    let mut plain = Zeroizing::new(Vec::with_capacity(hidden.len()));
    let mut previous: &[u8] = authenticator;
    for chunk in hidden.chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(previous);
        let b: [u8; 16] = h.finalize().into();
        plain.extend(chunk.iter().zip(b).map(|(c, k)| c ^ k));
        previous = chunk;
    }
    let end = plain.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    plain.truncate(end);
    let text = std::str::from_utf8(&plain).ok()?;
    Some(Zeroizing::new(text.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let clean: String = s.split_whitespace().collect();
        ::hex::decode(clean).unwrap()
    }

    // RFC 2865 §7.1, "User Telnet to Specified Host": secret xyzzy5461, password
    // arctangent.
    const RFC2865_7_1_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
        98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
        93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
        01 10 05 06 00 00 00 03";
    const RFC2865_7_1_ACCEPT: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
        9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
        0e 06 c0 a8 01 03";
    // RFC 2865 §7.2, "Framed User Authenticating with CHAP" (secret xyzzy5461).
    const RFC2865_7_2_REQUEST: &str = "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
        0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
        75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
        06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
        02 07 06 00 00 00 01";
    // RFC 2865 §7.3, "User with Challenge-Response card": the Access-Challenge.
    const RFC2865_7_3_CHALLENGE: &str = "0b 02 00 4e 36 f3 c8 76 4a e8 c7 11 57 40 3c 0c
        71 ff 9c 45 12 30 43 68 61 6c 6c 65 6e 67 65 20
        33 32 37 36 39 34 33 30 2e 20 20 45 6e 74 65 72
        20 72 65 73 70 6f 6e 73 65 20 61 74 20 70 72 6f
        6d 70 74 2e 18 0a 33 32 37 36 39 34 33 30";
    const SECRET: &[u8] = b"xyzzy5461";

    #[test]
    fn rfc2865_7_1_request_decodes_and_its_password_reveals() {
        let p = Packet::decode(&hex(RFC2865_7_1_REQUEST)).unwrap();
        assert_eq!(p.code, ACCESS_REQUEST);
        assert_eq!(p.identifier, 0);
        assert_eq!(p.user_name(), Some("nemo"));
        assert_eq!(p.get(attr::NAS_IP_ADDRESS), Some(&[192, 168, 1, 16][..]));
        assert_eq!(p.get(attr::NAS_PORT), Some(&[0, 0, 0, 3][..]));
        let hidden = p.get(attr::USER_PASSWORD).unwrap();
        let pw = reveal_password(hidden, SECRET, &p.authenticator).unwrap();
        assert_eq!(pw.as_str(), "arctangent");
        // And back: hiding gives the RFC's bytes, encoding the whole packet too.
        assert_eq!(
            hide_password(b"arctangent", SECRET, &p.authenticator),
            hidden
        );
        assert_eq!(p.encode_raw().unwrap(), hex(RFC2865_7_1_REQUEST));
        // The RFC's request has no Message-Authenticator: this service would drop it.
        assert!(!p.message_authenticator_ok(SECRET, None));
    }

    #[test]
    fn rfc2865_7_1_response_authenticator_checks() {
        {
            let (req, acc) = (RFC2865_7_1_REQUEST, RFC2865_7_1_ACCEPT);
            let request = Packet::decode(&hex(req)).unwrap();
            let accept = Packet::decode(&hex(acc)).unwrap();
            assert_eq!(accept.code, ACCESS_ACCEPT);
            assert_eq!(accept.identifier, request.identifier);
            assert!(accept.response_authenticator_ok(&request.authenticator, SECRET));
            assert!(!accept.response_authenticator_ok(&request.authenticator, b"xyzzy5462"));
            // Re-signing the RFC's answer attributes gives the RFC's authenticator only
            // once a Message-Authenticator is left out; with it, the result still checks.
            let signed =
                encode_response(ACCESS_ACCEPT, &request, accept.attributes.clone(), SECRET)
                    .unwrap();
            let ours = Packet::decode(&signed).unwrap();
            assert!(ours.response_authenticator_ok(&request.authenticator, SECRET));
            assert!(ours.message_authenticator_ok(SECRET, Some(&request.authenticator)));
            assert_eq!(ours.attributes[1..], accept.attributes[..]);
        }
        let chap = Packet::decode(&hex(RFC2865_7_2_REQUEST)).unwrap();
        assert_eq!(chap.user_name(), Some("flopsy"));
        assert_eq!(chap.get(attr::CHAP_PASSWORD).map(<[u8]>::len), Some(17));
        assert_eq!(chap.encode_raw().unwrap(), hex(RFC2865_7_2_REQUEST));
        let challenge = Packet::decode(&hex(RFC2865_7_3_CHALLENGE)).unwrap();
        assert_eq!(challenge.code, ACCESS_CHALLENGE);
        assert_eq!(challenge.get(attr::STATE), Some(&b"32769430"[..]));
        assert_eq!(
            challenge.get(attr::REPLY_MESSAGE),
            Some(&b"Challenge 32769430.  Enter response at prompt."[..])
        );
        assert_eq!(challenge.encode_raw().unwrap(), hex(RFC2865_7_3_CHALLENGE));
    }

    #[test]
    fn hmac_md5_matches_rfc2202() {
        // RFC 2202 §2, test cases 1 and 2.
        assert_eq!(
            ::hex::encode(hmac_md5(&[0x0b; 16], b"Hi There")),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert_eq!(
            ::hex::encode(hmac_md5(b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
    }

    #[test]
    fn message_authenticator_per_rfc3579() {
        let ra = [7u8; 16];
        let attrs = vec![
            (attr::USER_NAME, b"alice".to_vec()),
            (
                attr::USER_PASSWORD,
                hide_password(b"123456", b"s3cret", &ra),
            ),
        ];
        let bytes = encode_request(9, ra, attrs.clone(), b"s3cret", true).unwrap();
        let p = Packet::decode(&bytes).unwrap();
        assert!(p.message_authenticator_ok(b"s3cret", None));
        assert!(!p.message_authenticator_ok(b"other", None));
        // By hand, as RFC 3579 §3.2 words it: HMAC-MD5 over the packet with the
        // attribute's value as 16 zeros.
        let mut zeroed = bytes.clone();
        let n = zeroed.len();
        zeroed[n - 16..].fill(0);
        assert_eq!(hmac_md5(b"s3cret", &zeroed)[..], bytes[n - 16..]);
        // Any changed bit breaks it.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(p) = Packet::decode(&b) {
                assert!(!p.message_authenticator_ok(b"s3cret", None), "bit at {i}");
            }
        }
        let unsigned = Packet::decode(&encode_request(9, ra, attrs, b"s3cret", false).unwrap());
        assert!(!unsigned.unwrap().message_authenticator_ok(b"s3cret", None));
    }

    /// An Access-Request as radclient (FreeRADIUS 3.2.1) sent it, captured off loopback:
    /// an independent implementation's Message-Authenticator (secret
    /// xyzzy5461-shared-secret; the RFC 2865 §7.1 user and password).
    #[test]
    fn a_request_from_radclient_checks() {
        let bytes = hex(
            "012e004a7761073c75c3fc4f057ab99dd15863e101066e656d6f02129401271b3cb44414648063ed479b18460406c0a801100506000000035012a2ecc5757ed3af34679df05bd3f58012",
        );
        let p = Packet::decode(&bytes).unwrap();
        assert_eq!((p.code, p.identifier), (ACCESS_REQUEST, 0x2e));
        assert_eq!(p.user_name(), Some("nemo"));
        assert!(p.message_authenticator_ok(b"xyzzy5461-shared-secret", None));
        assert!(!p.message_authenticator_ok(b"xyzzy5461-shared-secreT", None));
        let pw = reveal_password(
            p.get(attr::USER_PASSWORD).unwrap(),
            b"xyzzy5461-shared-secret",
            &p.authenticator,
        )
        .unwrap();
        assert_eq!(pw.as_str(), "arctangent");
        // Signing the same attributes again gives radclient's bytes.
        let attrs: Vec<_> = p.attributes[..p.attributes.len() - 1].to_vec();
        let again = encode_request(
            p.identifier,
            p.authenticator,
            attrs,
            b"xyzzy5461-shared-secret",
            true,
        )
        .unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn a_response_is_signed_both_ways() {
        let req = Packet::decode(
            &encode_request(
                3,
                [1; 16],
                vec![(attr::USER_NAME, b"bob".to_vec())],
                b"k",
                true,
            )
            .unwrap(),
        )
        .unwrap();
        let bytes = encode_response(
            ACCESS_CHALLENGE,
            &req,
            vec![
                (attr::STATE, vec![1, 2, 3]),
                (attr::REPLY_MESSAGE, b"Verification code:".to_vec()),
            ],
            b"k",
        )
        .unwrap();
        let p = Packet::decode(&bytes).unwrap();
        assert_eq!(p.attributes[0].0, attr::MESSAGE_AUTHENTICATOR);
        assert!(p.response_authenticator_ok(&req.authenticator, b"k"));
        assert!(p.message_authenticator_ok(b"k", Some(&req.authenticator)));
        assert!(!p.message_authenticator_ok(b"k", None));
    }

    #[test]
    fn passwords_of_every_length_round_trip() {
        let ra = [0x5a; 16];
        for len in 1..=MAX_PASSWORD {
            let pw: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let hidden = hide_password(pw.as_bytes(), b"secret", &ra);
            assert_eq!(hidden.len(), len.div_ceil(16) * 16);
            assert_eq!(
                reveal_password(&hidden, b"secret", &ra).unwrap().as_str(),
                pw
            );
        }
    }

    #[test]
    fn bad_packets_are_named() {
        let good = hex(RFC2865_7_1_REQUEST);
        assert_eq!(Packet::decode(&good[..19]), Err(DecodeError::TooShort(19)));
        assert_eq!(
            Packet::decode(&vec![0u8; 4097]),
            Err(DecodeError::TooLong(4097))
        );
        let mut long_field = good.clone();
        long_field[3] = 0x40;
        assert!(matches!(
            Packet::decode(&long_field),
            Err(DecodeError::LengthField { field: 64, .. })
        ));
        let mut bad_attr = good.clone();
        bad_attr[21] = 0x30; // User-Name claims 48 bytes
        assert!(matches!(
            Packet::decode(&bad_attr),
            Err(DecodeError::AttributeLength { at: 20 })
        ));
        let mut zero_len = good.clone();
        zero_len[21] = 1;
        assert!(matches!(
            Packet::decode(&zero_len),
            Err(DecodeError::AttributeLength { .. })
        ));
        let mut unknown = good.clone();
        unknown[20] = 0xf5;
        assert_eq!(
            Packet::decode(&unknown),
            Err(DecodeError::UnknownAttribute { kind: 0xf5 })
        );
        let mut bad_ip = good.clone();
        bad_ip[45] = 5; // NAS-IP-Address of 3 bytes
        bad_ip.remove(49);
        bad_ip[3] -= 1;
        assert!(Packet::decode(&bad_ip).is_err());
        let twice = encode_request(
            1,
            [0; 16],
            vec![
                (attr::USER_NAME, b"a".to_vec()),
                (attr::USER_NAME, b"b".to_vec()),
            ],
            b"k",
            true,
        )
        .unwrap();
        assert_eq!(
            Packet::decode(&twice),
            Err(DecodeError::Repeated {
                kind: attr::USER_NAME
            })
        );
        let not_utf8 =
            encode_request(1, [0; 16], vec![(attr::USER_NAME, vec![0xff])], b"k", true).unwrap();
        assert!(Packet::decode(&not_utf8).is_err());
        // Padding after the length field is ignored (RFC 2865 §3).
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(Packet::decode(&padded).unwrap().user_name(), Some("nemo"));
    }

    mod fuzz {
        #![allow(clippy::unwrap_used)]
        use super::super::*;
        use proptest::prelude::*;

        /// Bytes near real packets: a valid header and attribute layout, then mutated.
        fn near_packets() -> impl Strategy<Value = Vec<u8>> {
            (
                any::<u8>(),
                any::<[u8; 16]>(),
                proptest::collection::vec(
                    (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)),
                    0..12,
                ),
                proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
                any::<bool>(),
            )
                .prop_map(|(id, ra, attrs, flips, sign)| {
                    let mut b = encode_request(id, ra, attrs, b"secret", sign).unwrap_or_default();
                    let n = b.len();
                    for (at, x) in flips {
                        if n > 0 {
                            b[at % n] ^= x;
                        }
                    }
                    b
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: std::env::var("RADIUS_FUZZ_CASES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(4_000),
                ..ProptestConfig::default()
            })]

            /// Random bytes never panic the decoder or the checks after it.
            #[test]
            fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..4200)) {
                if let Ok(p) = Packet::decode(&b) {
                    let _ = p.message_authenticator_ok(b"secret", None);
                    let _ = p.response_authenticator_ok(&[0; 16], b"secret");
                    if let Some(h) = p.get(attr::USER_PASSWORD) {
                        let _ = reveal_password(h, b"secret", &p.authenticator);
                    }
                }
            }

            /// Mutated real packets: decoded ones encode back to the bytes they came
            /// from (up to the length field), and never panic.
            #[test]
            fn near_packets_never_panic_and_round_trip(b in near_packets()) {
                if let Ok(p) = Packet::decode(&b) {
                    let _ = p.message_authenticator_ok(b"secret", None);
                    if let Some(h) = p.get(attr::USER_PASSWORD) {
                        let _ = reveal_password(h, b"secret", &p.authenticator);
                    }
                    let again = p.encode_raw().unwrap();
                    prop_assert_eq!(&again[..], &b[..again.len()]);
                }
            }
        }
    }
}
