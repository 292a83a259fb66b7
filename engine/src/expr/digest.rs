//! MD5, SHA-256, SHA-512 and standard base64 for the `string` application, from the
//! RustCrypto digests and the `base64` crate; the published test vectors are in the tests.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::Digest as _;

/// Lowercase hex, as the flows expect digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// MD5 (RFC 1321).
pub(crate) fn md5(data: &[u8]) -> [u8; 16] {
    md5::Md5::digest(data).into()
}

/// SHA-256 (FIPS 180-4).
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// SHA-512 (FIPS 180-4).
pub(crate) fn sha512(data: &[u8]) -> [u8; 64] {
    sha2::Sha512::digest(data).into()
}

/// Standard alphabet, padded, as Go's `StdEncoding` (Webitel's): padding is required and
/// must be canonical, but non-zero bits after the last byte are accepted (Go is not strict).
const STANDARD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

pub(crate) fn base64_encode(data: &[u8]) -> String {
    STANDARD_BASE64.encode(data)
}

/// `None` when `text` is not padded standard base64.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD_BASE64.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_rfc_1321() {
        // RFC 1321, appendix A.5
        for (data, digest) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(hex(&md5(data.as_bytes())), digest, "MD5({data:?})");
        }
    }

    #[test]
    fn sha2_matches_fips_180() {
        // FIPS 180-4 examples: one block, two blocks (SHA-256 and SHA-512 message lengths)
        let two_256 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let two_512 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(two_256.as_bytes())),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha512(b"abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            hex(&sha512(two_512.as_bytes())),
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
        );
    }

    #[test]
    fn base64_matches_rfc_4648() {
        // RFC 4648, section 10
        for (data, text) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(data.as_bytes()), text);
            assert_eq!(base64_decode(text).as_deref(), Some(data.as_bytes()));
        }
        assert_eq!(base64_encode(&[0xfb, 0xff]), "+/8=", "standard alphabet");
    }

    #[test]
    fn base64_decoding_is_go_std_encoding() {
        // non-zero bits after the last byte are accepted, as Go's non-strict decoder does
        assert_eq!(base64_decode("Zh==").as_deref(), Some(&b"f"[..]));
        for bad in ["Zg", "Zg=", "Zg===", "Z===", "Zg==Zg==", "Zm9v!A==", "-_8="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }
}
