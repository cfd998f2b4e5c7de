//! `google.protobuf.Timestamp` as the generated messages hold it: prost's encoding, and the
//! canonical proto3 JSON text (RFC 3339 in UTC, ending in `Z`, with 0, 3, 6 or 9 fractional
//! digits), which is what grpcurl and the other proto3 JSON writers send. pbjson's own type
//! writes `+00:00` instead of `Z`, so the same moment would read differently on the two
//! protocols' JSON.

use chrono::{DateTime, SecondsFormat, Utc};

#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z; negative before it.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// The fraction of the second, in 0 to 999,999,999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let moment = u32::try_from(self.nanos)
            .ok()
            .and_then(|nanos| DateTime::<Utc>::from_timestamp(self.seconds, nanos))
            .ok_or_else(|| serde::ser::Error::custom("timestamp out of range"))?;
        serializer.serialize_str(&moment.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        let moment = DateTime::parse_from_rfc3339(&text).map_err(serde::de::Error::custom)?;
        let moment = moment.with_timezone(&Utc);
        let nanos = i32::try_from(moment.timestamp_subsec_nanos())
            .map_err(|_| serde::de::Error::custom("timestamp out of range"))?;
        Ok(Self { seconds: moment.timestamp(), nanos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_utc_with_z_and_reads_any_offset() {
        let moon = Timestamp { seconds: -14_182_940, nanos: 0 };
        assert_eq!(serde_json::to_string(&moon).unwrap(), r#""1969-07-20T20:17:40Z""#);
        let read: Timestamp = serde_json::from_str(r#""1969-07-20T21:17:40+01:00""#).unwrap();
        assert_eq!(read, moon);
        let fraction = Timestamp { seconds: 0, nanos: 5 };
        assert_eq!(
            serde_json::to_string(&fraction).unwrap(),
            r#""1970-01-01T00:00:00.000000005Z""#
        );
    }
}
