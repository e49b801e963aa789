//! porthole-agent
