//! `/metrics` in the Prometheus text format, with AppStream's fleet metric
//! names (as CloudWatch publishes them), one series per fleet, and each live
//! session's browser round trips and bytes (what the console shows).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use porthole_control::{Capacity, ControlPlane};

use crate::sessions::SessionTraffic;
use crate::state::Server;

/// (name, help, value): one Prometheus series per fleet for each.
type Metric = (&'static str, &'static str, fn(&Capacity) -> f64);

const METRICS: &[Metric] = &[
    ("ActualCapacity", "Instances available or in use", |c| {
        f64::from(c.actual())
    }),
    (
        "AvailableCapacity",
        "Instances ready for a new session",
        |c| f64::from(c.available),
    ),
    (
        "CapacityUtilization",
        "InUseCapacity / ActualCapacity * 100",
        |c| c.utilization(),
    ),
    ("DesiredCapacity", "Instances the fleet should have", |c| {
        f64::from(c.desired_metric())
    }),
    ("InUseCapacity", "Instances serving a session", |c| {
        f64::from(c.in_use)
    }),
    ("PendingCapacity", "Instances being provisioned", |c| {
        f64::from(c.pending)
    }),
    ("RunningCapacity", "Instances running", |c| {
        f64::from(c.running)
    }),
    (
        "InsufficientCapacityError",
        "Sessions refused for lack of capacity",
        |c| c.insufficient_capacity_errors as f64,
    ),
];

pub async fn handle(State(server): State<Arc<Server>>) -> impl IntoResponse {
    let failures = server.instances.launch_failures();
    let sync = server.home_folders.remote.as_ref().map(|r| SyncCounts {
        failures: r.failures.load(std::sync::atomic::Ordering::Relaxed),
        uploads: r.uploads.load(std::sync::atomic::Ordering::Relaxed),
        pending: r.pending_count(),
    });
    let mut text = render(&*server.plane.lock().await, &failures, &server.traffic);
    if let Some(sync) = sync {
        sync.render(&mut text);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Home folders' sync with their S3 bucket.
struct SyncCounts {
    failures: u64,
    uploads: u64,
    pending: usize,
}

impl SyncCounts {
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP porthole_home_folder_sync_failures_total Home folder pushes or pulls to S3 that failed (retried)\n\
             # TYPE porthole_home_folder_sync_failures_total counter\n\
             porthole_home_folder_sync_failures_total {}\n\
             # HELP porthole_home_folder_uploads_total Files uploaded to the home folder bucket\n\
             # TYPE porthole_home_folder_uploads_total counter\n\
             porthole_home_folder_uploads_total {}\n\
             # HELP porthole_home_folder_sync_pending Home folders waiting for a retried push\n\
             # TYPE porthole_home_folder_sync_pending gauge\n\
             porthole_home_folder_sync_pending {}",
            self.failures, self.uploads, self.pending
        );
    }
}

fn render(
    cp: &ControlPlane,
    launch_failures: &BTreeMap<String, u64>,
    traffic: &SessionTraffic,
) -> String {
    let fleets: Vec<(String, Capacity)> = cp
        .fleets()
        .filter_map(|f| Some((f.name.clone(), cp.capacity(&f.name).ok()?)))
        .collect();
    let mut out = String::new();
    for (name, help, value) in METRICS {
        let kind = if *name == "InsufficientCapacityError" {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(
            out,
            "# HELP appstream_{name} {help}\n# TYPE appstream_{name} {kind}"
        );
        for (fleet, capacity) in &fleets {
            let _ = writeln!(
                out,
                "appstream_{name}{{fleet=\"{fleet}\"}} {}",
                value(capacity)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP porthole_instance_launch_failures_total Instance launches that never became ready\n\
         # TYPE porthole_instance_launch_failures_total counter"
    );
    for (fleet, _) in &fleets {
        let failed = launch_failures.get(fleet).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "porthole_instance_launch_failures_total{{fleet=\"{fleet}\"}} {failed}"
        );
    }
    let sessions: Vec<_> = cp
        .sessions()
        .filter(|s| s.is_live())
        .filter_map(|s| Some((s.id.clone(), traffic.of(&s.id)?)))
        .collect();
    let _ = writeln!(
        out,
        "# HELP porthole_session_round_trip_ms Browser round trips of the latest pings\n\
         # TYPE porthole_session_round_trip_ms summary"
    );
    for (id, t) in &sessions {
        for q in [0.5, 0.95] {
            if let Some(ms) = t.round_trip_quantile(q) {
                let _ = writeln!(
                    out,
                    "porthole_session_round_trip_ms{{session=\"{id}\",quantile=\"{q}\"}} {ms:.1}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP porthole_session_bytes_total Stream bytes through the gateway\n\
         # TYPE porthole_session_bytes_total counter"
    );
    for (id, t) in &sessions {
        let _ = writeln!(
            out,
            "porthole_session_bytes_total{{session=\"{id}\",direction=\"to_browser\"}} {}\n\
             porthole_session_bytes_total{{session=\"{id}\",direction=\"from_browser\"}} {}",
            t.bytes_to_browser, t.bytes_from_browser
        );
    }
    out
}
