//! porthole-codec
