//! Response compression: `zstd`, `br` or `gzip`, as the client's
//! `Accept-Encoding` prefers (q-values; `q=0` refuses a coding; `*` stands
//! for the codings not named), for GraphQL bodies of at least
//! [`MIN_BYTES`]. Each encoding of a rendered body is made at most once and
//! kept beside it ([`Encoded`]), so the whole-response cache answers a hot
//! hit with bytes compressed earlier. Event streams never come here.

use axum::http::{header, HeaderMap};
use bytes::Bytes;
use std::io::Write;
use std::sync::OnceLock;

/// Smaller bodies go out as they are: the saving would not pay for the
/// work and the headers.
pub const MIN_BYTES: usize = 1024;

/// The content codings the gateway makes, in its order of preference
/// when the client weighs several the same: zstd is the cheapest to make
/// for a ratio close to brotli's, gzip is what every client takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Br,
    Gzip,
}

const PREFERENCE: [Encoding; 3] = [Encoding::Zstd, Encoding::Br, Encoding::Gzip];

impl Encoding {
    /// The token of `Content-Encoding` and of the entity tag's suffix.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// `body` compressed; `None` if the encoder failed (the body then goes
    /// out uncompressed). Levels are the usual speed/ratio middle: a cold
    /// response is compressed on its request's path.
    fn compress(self, body: &[u8]) -> Option<Bytes> {
        let out = match self {
            Encoding::Zstd => zstd::bulk::compress(body, 3).ok()?,
            Encoding::Br => {
                let mut out = Vec::with_capacity(body.len() / 4);
                {
                    let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    writer.write_all(body).ok()?;
                }
                out
            }
            Encoding::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::default(),
                );
                encoder.write_all(body).ok()?;
                encoder.finish().ok()?
            }
        };
        Some(Bytes::from(out))
    }
}

/// The encoded forms of one body, each made the first time a client asks
/// for it and shared by every clone of the rendered response (the cache
/// entry's included).
#[derive(Debug, Default)]
pub struct Encoded {
    zstd: OnceLock<Option<Bytes>>,
    br: OnceLock<Option<Bytes>>,
    gzip: OnceLock<Option<Bytes>>,
}

impl Encoded {
    /// `body` in `encoding`, compressed now (and `made` called) if no
    /// request asked before.
    pub fn get(&self, encoding: Encoding, body: &[u8], made: impl FnOnce()) -> Option<Bytes> {
        let slot = match encoding {
            Encoding::Zstd => &self.zstd,
            Encoding::Br => &self.br,
            Encoding::Gzip => &self.gzip,
        };
        slot.get_or_init(|| {
            made();
            encoding.compress(body)
        })
        .clone()
    }
}

/// The coding the client weighs highest among those the gateway makes;
/// `None`: identity (no header, nothing acceptable, or all refused).
pub fn negotiate(headers: &HeaderMap) -> Option<Encoding> {
    let mut named: [Option<f32>; 3] = [None; 3];
    let mut any: Option<f32> = None;
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some(q) = weight(parts) else { continue };
        let slot = match coding.as_str() {
            "zstd" => &mut named[0],
            "br" => &mut named[1],
            "gzip" | "x-gzip" => &mut named[2],
            "*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
    }
    let mut best: Option<(Encoding, f32)> = None;
    for (encoding, q) in PREFERENCE.into_iter().zip(named) {
        let q = q.or(any).unwrap_or(0.0);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((encoding, q));
        }
    }
    best.map(|(encoding, _)| encoding)
}

/// The `q` parameter of one coding (1 when absent); `None` when malformed,
/// so the coding is ignored.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<f32> {
    let mut q = 1.0;
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            q = value.trim().parse::<f32>().ok()?;
            if !(0.0..=1.0).contains(&q) {
                return None;
            }
        }
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(value: &str) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().expect("header"));
        negotiate(&headers).map(Encoding::token)
    }

    #[test]
    fn q_values_decide_and_ties_go_to_the_gateways_preference() {
        assert_eq!(chosen("gzip, deflate, br, zstd"), Some("zstd"));
        assert_eq!(chosen("gzip, br"), Some("br"));
        assert_eq!(chosen("gzip;q=1.0, br;q=0.5, zstd;q=0.2"), Some("gzip"));
        assert_eq!(chosen("zstd;q=0, br;q=0, gzip;q=0.1"), Some("gzip"));
        assert_eq!(chosen("zstd;q=0, *"), Some("br"));
        assert_eq!(chosen("*;q=0.5, gzip;q=0.9"), Some("gzip"));
        assert_eq!(chosen("identity"), None);
        assert_eq!(chosen("deflate"), None);
        assert_eq!(chosen("gzip;q=0"), None);
        assert_eq!(chosen("*;q=0"), None);
        assert_eq!(chosen("gzip;q=2, br;q=x"), None);
        assert_eq!(chosen("X-GZIP"), Some("gzip"));
        assert_eq!(negotiate(&HeaderMap::new()), None);
    }

    #[test]
    fn each_encoding_is_made_once_and_decodes_back() {
        let body = br#"{"data":"x"}"#.repeat(200);
        let encoded = Encoded::default();
        for encoding in PREFERENCE {
            let first = encoded.get(encoding, &body, || ()).expect("compressed");
            assert!(first.len() < body.len() / 4, "{encoding:?}");
            let again = encoded.get(encoding, &body, || ()).expect("kept");
            assert_eq!(first.as_ptr(), again.as_ptr(), "made once");
        }
        let zstd = encoded.get(Encoding::Zstd, &body, || ()).expect("zstd");
        assert_eq!(zstd::decode_all(&zstd[..]).expect("decoded"), body);
    }
}
