//! The fields of an X.509 certificate (RFC 5280 §4.1) that webpki checks but
//! does not expose, read for [`super::verifier`]: the validity period and
//! the extended key usages. yasna is the DER reader rcgen already brings.

use yasna::models::ObjectIdentifier;
use yasna::tags::{TAG_GENERALIZEDTIME, TAG_UTCTIME};
use yasna::{ASN1Result, BERReader, Tag};

/// id-kp-serverAuth (RFC 5280 §4.2.1.12).
pub(super) const SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];

/// id-ce-extKeyUsage.
const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];

#[derive(Debug, PartialEq, Eq)]
pub(super) struct CertFields {
    /// notBefore, in seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: i64,
    /// The key purposes of the extended key usage extension; `None` when the
    /// certificate has none (then it is not restricted).
    pub extended_key_usage: Option<Vec<ObjectIdentifier>>,
}

/// Reads a DER certificate's validity and extended key usages.
pub(super) fn read(der: &[u8]) -> ASN1Result<CertFields> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|cert| {
            let fields = cert.next().read_sequence(|tbs| {
                // version [0] EXPLICIT, serialNumber, signature, issuer
                tbs.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_u8()))?;
                tbs.next().read_der()?;
                tbs.next().read_der()?;
                tbs.next().read_der()?;
                let (not_before, not_after) = tbs
                    .next()
                    .read_sequence(|v| Ok((read_time(v.next())?, read_time(v.next())?)))?;
                // subject, subjectPublicKeyInfo
                tbs.next().read_der()?;
                tbs.next().read_der()?;
                // issuerUniqueID [1], subjectUniqueID [2], extensions [3]
                let mut extended_key_usage = None;
                while let Some(field) = tbs.read_optional(|r| r.read_tagged_der())? {
                    if field.tag() == Tag::context(3) {
                        extended_key_usage = read_extended_key_usage(field.value())?;
                    }
                }
                Ok(CertFields {
                    not_before,
                    not_after,
                    extended_key_usage,
                })
            })?;
            // signatureAlgorithm, signatureValue
            cert.next().read_der()?;
            cert.next().read_der()?;
            Ok(fields)
        })
    })
}

/// A `Time` (UTCTime or GeneralizedTime) as seconds since the Unix epoch.
fn read_time(r: BERReader<'_, '_>) -> ASN1Result<i64> {
    let tag = r.lookahead_tag()?;
    let datetime = if tag == TAG_UTCTIME {
        *r.read_utctime()?.datetime()
    } else if tag == TAG_GENERALIZEDTIME {
        *r.read_generalized_time()?.datetime()
    } else {
        return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
    };
    Ok(datetime.unix_timestamp())
}

/// The key purposes of the extKeyUsage extension among `extensions` (the
/// DER of `Extensions`), if there is one.
fn read_extended_key_usage(extensions: &[u8]) -> ASN1Result<Option<Vec<ObjectIdentifier>>> {
    let mut found = None;
    yasna::parse_der(extensions, |r| {
        r.read_sequence_of(|r| {
            r.read_sequence(|ext| {
                let id = ext.next().read_oid()?;
                // critical BOOLEAN DEFAULT FALSE
                ext.read_optional(|r| r.read_bool())?;
                let value = ext.next().read_bytes()?;
                if id.components().as_slice() == EXTENDED_KEY_USAGE {
                    found = Some(yasna::parse_der(&value, |r| {
                        r.collect_sequence_of(|r| r.read_oid())
                    })?);
                }
                Ok(())
            })
        })
    })?;
    Ok(found)
}
