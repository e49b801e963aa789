//! Streaming sessions: CreateStreamingURL, DescribeSessions and ExpireSession.

use crate::input::parse;
use crate::page::Page;
use crate::{Empty, Operation, Outcome};
use porthole_control::error::Result;
use porthole_control::session::{AuthenticationType, ConnectionState};
use porthole_control::{
    ControlPlane, DomainError, EndReason, Session, SessionState, StreamingGrant, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) const OPERATIONS: &[Operation] = &[
    // The answer is a grant: only the server can sign it into a URL.
    Operation::new("CreateStreamingURL", |cp, input, now| {
        create_streaming_url(cp, parse(input)?, now).map(Outcome::StreamingUrl)
    }),
    op!(DescribeSessions => describe_sessions),
    op!(ExpireSession => expire_session),
];

const SESSIONS_DEFAULT_LIMIT: u64 = 20;
const SESSIONS_MAX_LIMIT: u64 = 50;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStreamingUrlInput {
    stack_name: String,
    fleet_name: String,
    user_id: String,
    application_id: Option<String>,
    validity: Option<u64>,
    session_context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeSessionsInput {
    stack_name: String,
    fleet_name: String,
    user_id: Option<String>,
    instance_id: Option<String>,
    authentication_type: Option<AuthenticationType>,
    limit: Option<u64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExpireSessionInput {
    session_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StreamingUrlOutput<'a> {
    #[serde(rename = "StreamingURL")]
    streaming_url: &'a str,
    expires: f64,
}

/// CreateStreamingURL's output once the server has made the URL.
pub fn streaming_url_output(url: &str, grant: &StreamingGrant) -> Value {
    let output = StreamingUrlOutput {
        streaming_url: url,
        expires: grant.expires.as_secs_f64(),
    };
    serde_json::to_value(output).expect("a string and a number")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionDoc {
    id: String,
    user_id: String,
    stack_name: String,
    fleet_name: String,
    state: SessionState,
    connection_state: ConnectionState,
    start_time: f64,
    max_expiration_time: f64,
    authentication_type: AuthenticationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
}

impl SessionDoc {
    fn new(session: &Session) -> Self {
        Self {
            id: session.id.clone(),
            user_id: session.user_id.clone(),
            stack_name: session.stack.clone(),
            fleet_name: session.fleet.clone(),
            state: session.state,
            connection_state: session.connection_state,
            start_time: session.start_time.as_secs_f64(),
            max_expiration_time: session.max_expiration_time.as_secs_f64(),
            authentication_type: session.authentication_type,
            instance_id: session.instance_id.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeSessionsOutput {
    sessions: Vec<SessionDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn create_streaming_url(
    cp: &ControlPlane,
    input: CreateStreamingUrlInput,
    now: Timestamp,
) -> Result<StreamingGrant> {
    cp.create_streaming_url(
        &input.stack_name,
        &input.fleet_name,
        &input.user_id,
        input.application_id.as_deref(),
        input.validity,
        input.session_context.as_deref(),
        now,
    )
}

/// Live (PENDING/ACTIVE) sessions only, as AppStream lists them; ended ones
/// stay readable through [`ControlPlane::session`].
fn describe_sessions(
    cp: &ControlPlane,
    input: DescribeSessionsInput,
    _now: Timestamp,
) -> Result<DescribeSessionsOutput> {
    // The model: without AuthenticationType, streaming-URL (API) users.
    let auth = input.authentication_type.unwrap_or(AuthenticationType::Api);
    let limit = input.limit.unwrap_or(SESSIONS_DEFAULT_LIMIT);
    if !(1..=SESSIONS_MAX_LIMIT).contains(&limit) {
        return Err(DomainError::validation(format!(
            "Limit must be between 1 and {SESSIONS_MAX_LIMIT}."
        )));
    }
    let (user, instance) = (input.user_id.as_deref(), input.instance_id.as_deref());
    let items = cp
        .sessions()
        .filter(|s| {
            s.is_live()
                && s.stack == input.stack_name
                && s.fleet == input.fleet_name
                && s.authentication_type == auth
                && user.is_none_or(|u| s.user_id == u)
                && instance.is_none_or(|i| s.instance_id.as_deref() == Some(i))
        })
        // Oldest first; the id breaks ties.
        .map(|s| {
            let key = format!("{:020}/{}", s.start_time.as_millis(), s.id);
            (key, SessionDoc::new(s))
        });
    let page = Page::appstream(items, input.next_token.as_deref(), limit as usize)?;
    Ok(DescribeSessionsOutput {
        sessions: page.items,
        next_token: page.next_token,
    })
}

fn expire_session(
    cp: &mut ControlPlane,
    input: ExpireSessionInput,
    now: Timestamp,
) -> Result<Empty> {
    cp.end_session_keep_effects(&input.session_id, EndReason::Expired, now)?;
    Ok(Empty {})
}
