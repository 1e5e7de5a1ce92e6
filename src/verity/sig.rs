//! The signature of a verity root hash, as systemd reads it from a
//! `root-verity-sig` or `usr-verity-sig` partition (Discoverable
//! Partitions Specification): a JSON object
//! `{"rootHash": HEX, "certificateFingerprint": HEX, "signature": BASE64}`
//! padded with NUL bytes to the partition's end.
//!
//! `signature` is a detached PKCS#7 `SignedData` (RFC 2315) over the root
//! hash as lowercase hex text, as `openssl smime -sign -binary -noattr
//! -nocerts` makes it and the kernel's `dm-verity` root hash signature
//! check reads it: SHA-256, one RSA PKCS#1 v1.5 signer named by its
//! certificate's issuer and serial number, no signed attributes (so no
//! signing time: the bytes depend on the key and the root hash alone), no
//! certificates. `certificateFingerprint` is the SHA-256 of the
//! certificate's DER encoding.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Why a key or certificate cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SigError {
    pub path: PathBuf,
    pub message: String,
}

fn err(path: &Path, message: impl Into<String>) -> SigError {
    SigError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// An RSA key and its certificate, ready to sign root hashes.
#[derive(Clone)]
pub struct Signer {
    key: RsaPrivateKey,
    cert: Vec<u8>,
    /// The DER `Name` and `INTEGER` that identify the certificate.
    issuer: Vec<u8>,
    serial: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Signer")
            .field("certificate_sha256", &self.fingerprint())
            .finish()
    }
}

// DER encodings of the object identifiers used here.
const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const OID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
/// `[0] EXPLICIT`.
const CONTEXT_0: u8 = 0xA0;

/// One DER element: tag, definite length, body.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        v.push(0x80 | bytes.len() as u8);
        v.extend(bytes);
    }
    v.extend_from_slice(body);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The element at the start of `b`: (tag, the whole element, its body).
fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let k = usize::from(first & 0x7F);
        if k == 0 || k > 4 {
            return None;
        }
        let len = b
            .get(2..2 + k)?
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, 2 + k)
    };
    let end = head.checked_add(len)?;
    Some((tag, b.get(..end)?, b.get(head..end)?))
}

/// The issuer `Name` and `serialNumber` of a DER certificate.
fn issuer_and_serial(cert: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (SEQUENCE, _, body) = element(cert)? else {
        return None;
    };
    let (SEQUENCE, _, mut tbs) = element(body)? else {
        return None;
    };
    let mut next = || -> Option<(u8, Vec<u8>)> {
        let (tag, whole, _) = element(tbs)?;
        tbs = tbs.get(whole.len()..)?;
        Some((tag, whole.to_vec()))
    };
    let mut first = next()?;
    if first.0 == CONTEXT_0 {
        first = next()?; // the version
    }
    let (INTEGER, serial) = first else {
        return None;
    };
    let (SEQUENCE, _) = next()? else {
        return None; // the signature algorithm
    };
    let (SEQUENCE, issuer) = next()? else {
        return None;
    };
    Some((issuer, serial))
}

/// The DER inside the first PEM block labelled `label`.
fn pem(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let from = text.find(&begin)? + begin.len();
    let to = from + text.get(from..)?.find(&end)?;
    let b64: String = text
        .get(from..to)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

impl Signer {
    /// Reads a PEM RSA private key (PKCS#8 or PKCS#1) and a PEM X.509
    /// certificate.
    pub fn load(key_path: &Path, cert_path: &Path) -> Result<Signer, SigError> {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| err(p, e.to_string()));
        let key_text = read(key_path)?;
        let key = RsaPrivateKey::from_pkcs8_pem(&key_text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&key_text))
            .map_err(|_| {
                err(
                    key_path,
                    "not a PEM RSA private key (PKCS#8 \"PRIVATE KEY\" or PKCS#1 \"RSA PRIVATE KEY\"; \
                     encrypted keys are not read)",
                )
            })?;
        let cert = pem(&read(cert_path)?, "CERTIFICATE")
            .ok_or_else(|| err(cert_path, "no PEM \"CERTIFICATE\" block"))?;
        let (issuer, serial) = issuer_and_serial(&cert)
            .ok_or_else(|| err(cert_path, "not an X.509 certificate (DER does not parse)"))?;
        Ok(Signer {
            key,
            cert,
            issuer,
            serial,
        })
    }

    /// SHA-256 of the certificate's DER, hex.
    pub fn fingerprint(&self) -> String {
        crate::bytes::hex(&Sha256::digest(&self.cert))
    }

    /// Size in bytes of an RSA signature with this key.
    pub fn signature_len(&self) -> usize {
        use rsa::traits::PublicKeyParts;
        self.key.size()
    }

    /// The detached PKCS#7 signature of `content`, DER.
    pub fn pkcs7(&self, content: &[u8]) -> Vec<u8> {
        let signature = SigningKey::<Sha256>::new(self.key.clone())
            .sign(content)
            .to_vec();
        let null = tlv(NULL, &[]);
        let sha256 = tlv(SEQUENCE, &cat(&[&tlv(OID, OID_SHA256), &null]));
        let rsa = tlv(SEQUENCE, &cat(&[&tlv(OID, OID_RSA), &null]));
        let version = tlv(INTEGER, &[1]);
        let signer = tlv(
            SEQUENCE,
            &cat(&[
                &version,
                &tlv(SEQUENCE, &cat(&[&self.issuer, &self.serial])),
                &sha256,
                &rsa,
                &tlv(OCTET_STRING, &signature),
            ]),
        );
        let signed_data = tlv(
            SEQUENCE,
            &cat(&[
                &version,
                &tlv(SET, &sha256),
                &tlv(SEQUENCE, &tlv(OID, OID_DATA)),
                &tlv(SET, &signer),
            ]),
        );
        tlv(
            SEQUENCE,
            &cat(&[&tlv(OID, OID_SIGNED_DATA), &tlv(CONTEXT_0, &signed_data)]),
        )
    }

    /// The signature partition's JSON for a root hash (hex).
    pub fn json(&self, roothash: &str) -> String {
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD.encode(self.pkcs7(roothash.as_bytes()));
        serde_json::json!({
            "rootHash": roothash,
            "certificateFingerprint": self.fingerprint(),
            "signature": sig,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_short_and_long_forms() {
        assert_eq!(tlv(0x04, &[7; 3]), [0x04, 3, 7, 7, 7]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2C]);
        let der = tlv(0x30, &[1, 2, 3]);
        let (tag, whole, body) = element(&der).unwrap();
        assert_eq!((tag, whole.len(), body), (0x30, 5, &[1u8, 2, 3][..]));
        assert_eq!(element(&[0x30, 0x85, 0, 0, 0, 0, 1]), None);
        assert_eq!(element(&[0x30, 5, 1]), None);
    }
}
