//! porthole-x11
