//! What the `OTEL_*` environment variables say about traces.

use super::batch::BatchSettings;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf, http/json or grpc, not {0:?}")]
    Protocol(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// The OTLP wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    HttpJson,
    Grpc,
}

/// What the environment says about traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub protocol: Protocol,
    pub service_name: String,
    pub batch: BatchSettings,
}

const DEFAULT_SERVICE_NAME: &str = "liveagent-graphql";

impl Settings {
    /// `None` (traces off) unless an OTLP endpoint is named; `lookup` reads
    /// one variable (the process environment in [`init`]).
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, TelemetryError> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
            && set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        {
            return Ok(None);
        }
        let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let protocol = match protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("http/json") => Protocol::HttpJson,
            Some("grpc") => Protocol::Grpc,
            Some(other) => return Err(TelemetryError::Protocol(other.to_string())),
        };
        let service_name = set("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.into());
        // A value that is not a number is ignored, as the specification says.
        let number = |name: &str, default: u64| {
            set(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let size = |name: &str, default: u64| {
            usize::try_from(number(name, default).max(1)).unwrap_or(usize::MAX)
        };
        let max_queue = size("OTEL_BSP_MAX_QUEUE_SIZE", 2048);
        let batch = BatchSettings {
            schedule_delay: Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY", 5000)),
            max_queue,
            max_batch: size("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512).min(max_queue),
        };
        Ok(Some(Settings {
            protocol,
            service_name,
            batch,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, TelemetryError> {
        Settings::from_env(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn off_without_an_endpoint() {
        assert!(matches!(settings(&[]), Ok(None)));
        let blank = [("OTEL_EXPORTER_OTLP_ENDPOINT", " ")];
        assert!(matches!(settings(&blank), Ok(None)));
    }

    #[test]
    fn protocol_and_service_name_with_their_defaults() {
        let on = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
        assert_eq!(
            on.ok().flatten(),
            Some(Settings {
                protocol: Protocol::HttpProtobuf,
                service_name: "liveagent-graphql".into(),
                batch: BatchSettings {
                    schedule_delay: Duration::from_secs(5),
                    max_queue: 2048,
                    max_batch: 512,
                },
            })
        );
        let grpc = settings(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "gw"),
        ]);
        assert_eq!(
            grpc.ok().flatten().map(|s| (s.protocol, s.service_name)),
            Some((Protocol::Grpc, "gw".to_string()))
        );
        let bad = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ]);
        assert!(matches!(bad, Err(TelemetryError::Protocol(_))));
    }
}
