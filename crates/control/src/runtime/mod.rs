//! The moving parts, as `impl ControlPlane` blocks: instances (reconciling
//! them with desired capacity) and sessions (grants, connections, timeouts).
//! Every entry point returns the effects it produced (the whole outbox, so
//! nothing is ever left behind).

mod instances;
mod sessions;

pub use sessions::DESKTOP_APPLICATION_ID;
