//! A Firehose record's `data`: base64 of the source record's bytes, which may be gzip-compressed
//! (recognised by the magic bytes `1f 8b`).

use crate::limits::MAX_PAYLOAD_BYTES;
use crate::record::error::RecordError;
use flate2::read::MultiGzDecoder;
use std::io::Read;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Buffers reused from record to record.
#[derive(Default)]
pub struct Payload {
    decoded: Vec<u8>,
    inflated: Vec<u8>,
}

impl Payload {
    /// Decodes `data` and returns the change record's bytes.
    pub fn decode(&mut self, data: &str) -> Result<&[u8], RecordError> {
        self.decoded.clear();
        base64_simd::STANDARD
            .decode_append(data, &mut self.decoded)
            .map_err(|_| RecordError::Base64)?;
        if !self.decoded.starts_with(&GZIP_MAGIC) {
            return Ok(&self.decoded);
        }
        self.inflated.clear();
        let mut reader = MultiGzDecoder::new(&self.decoded[..]).take(MAX_PAYLOAD_BYTES as u64 + 1);
        reader
            .read_to_end(&mut self.inflated)
            .map_err(|_| RecordError::Gzip)?;
        if self.inflated.len() > MAX_PAYLOAD_BYTES {
            return Err(RecordError::TooLarge {
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        Ok(&self.inflated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_payloads() {
        let mut p = Payload::default();
        assert_eq!(
            p.decode(&STANDARD.encode(b"{\"a\":1}")).unwrap(),
            b"{\"a\":1}"
        );
        assert_eq!(
            p.decode(&STANDARD.encode(gzip(b"{\"a\":1}"))).unwrap(),
            b"{\"a\":1}"
        );
    }

    #[test]
    fn bad_payloads_are_refused() {
        let mut p = Payload::default();
        assert_eq!(p.decode("not base64!"), Err(RecordError::Base64));
        assert_eq!(p.decode("AAE"), Err(RecordError::Base64)); // missing padding
        assert_eq!(p.decode("AAE=AAE="), Err(RecordError::Base64)); // padding inside
        assert_eq!(p.decode("AA E="), Err(RecordError::Base64)); // whitespace
        assert_eq!(p.decode("AA-_"), Err(RecordError::Base64)); // URL-safe alphabet
        let truncated = &gzip(b"{\"a\":1}")[..8];
        assert_eq!(
            p.decode(&STANDARD.encode(truncated)),
            Err(RecordError::Gzip)
        );
        let bomb = gzip(&vec![b' '; MAX_PAYLOAD_BYTES + 10]);
        assert_eq!(
            p.decode(&STANDARD.encode(bomb)),
            Err(RecordError::TooLarge {
                limit: MAX_PAYLOAD_BYTES
            })
        );
    }
}
