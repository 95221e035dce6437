//! The OTLP span exporter for the configured protocol. Over HTTP it sends
//! through a reqwest client of the gateway's own (rustls, no second HTTP
//! stack); the endpoint, headers and timeout are the exporter's reading of
//! the `OTEL_EXPORTER_OTLP_*` variables.

use super::settings::{Protocol, TelemetryError};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig};
use std::time::Duration;

/// Longest one export may take (the collector's own default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn exporter(protocol: Protocol) -> Result<SpanExporter, TelemetryError> {
    let built = match protocol {
        Protocol::Grpc => SpanExporter::builder().with_tonic().build(),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            let wire = match protocol {
                Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
                _ => opentelemetry_otlp::Protocol::HttpBinary,
            };
            SpanExporter::builder()
                .with_http()
                .with_protocol(wire)
                .with_http_client(Client::new()?)
                .build()
        }
    };
    built.map_err(|e| TelemetryError::Exporter(e.to_string()))
}

/// reqwest as the exporter's HTTP client.
#[derive(Debug)]
struct Client(reqwest::Client);

impl Client {
    fn new() -> Result<Client, TelemetryError> {
        reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map(Client)
            .map_err(|e| TelemetryError::Exporter(e.to_string()))
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let response = self.0.execute(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        let mut answer = Response::builder().status(status).body(body)?;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}
