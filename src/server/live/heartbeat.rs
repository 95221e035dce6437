//! Heartbeats: a WebSocket ping or an SSE comment line this often keeps
//! idle connections (and the proxies between) open.

use std::time::Duration;

pub const HEARTBEAT: Duration = Duration::from_secs(15);
