//! AppStream's instance types with their published vCPU and memory figures,
//! which become the sandbox's CPU and memory limits.

use crate::error::{DomainError, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceType {
    pub name: &'static str,
    pub vcpus: f32,
    pub memory_mib: u32,
}

const fn gib(gib_x4: u32) -> u32 {
    // Figures are given in quarter GiB so that 3.75 and 15.25 stay integers.
    gib_x4 * 256
}

macro_rules! types {
    ($($name:literal => $vcpus:literal, $gib_x4:literal;)*) => {
        /// Every supported type; the order is AppStream's documentation order.
        pub const INSTANCE_TYPES: &[InstanceType] = &[
            $(InstanceType { name: $name, vcpus: $vcpus, memory_mib: gib($gib_x4) },)*
        ];
    };
}

// (vCPUs, memory in quarter GiB). stream.graphics.g7.* is listed by the model
// but its figures are not published in our sources, so it is not offered.
types! {
    "stream.standard.small" => 1.0, 8;
    "stream.standard.medium" => 2.0, 16;
    "stream.standard.large" => 2.0, 32;
    "stream.standard.xlarge" => 4.0, 64;
    "stream.standard.2xlarge" => 8.0, 128;
    "stream.compute.large" => 2.0, 15;
    "stream.compute.xlarge" => 4.0, 30;
    "stream.compute.2xlarge" => 8.0, 60;
    "stream.compute.4xlarge" => 16.0, 120;
    "stream.compute.8xlarge" => 36.0, 240;
    "stream.memory.large" => 2.0, 61;
    "stream.memory.xlarge" => 4.0, 122;
    "stream.memory.2xlarge" => 8.0, 244;
    "stream.memory.4xlarge" => 16.0, 488;
    "stream.memory.8xlarge" => 32.0, 976;
    "stream.memory.z1d.large" => 2.0, 64;
    "stream.memory.z1d.xlarge" => 4.0, 128;
    "stream.memory.z1d.2xlarge" => 8.0, 256;
    "stream.memory.z1d.3xlarge" => 12.0, 384;
    "stream.memory.z1d.6xlarge" => 24.0, 768;
    "stream.memory.z1d.12xlarge" => 48.0, 1536;
    "stream.graphics.g4dn.xlarge" => 4.0, 64;
    "stream.graphics.g4dn.2xlarge" => 8.0, 128;
    "stream.graphics.g4dn.4xlarge" => 16.0, 256;
    "stream.graphics.g4dn.8xlarge" => 32.0, 512;
    "stream.graphics.g4dn.12xlarge" => 48.0, 768;
    "stream.graphics.g4dn.16xlarge" => 64.0, 1024;
    "stream.graphics.g5.xlarge" => 4.0, 64;
    "stream.graphics.g5.2xlarge" => 8.0, 128;
    "stream.graphics.g5.4xlarge" => 16.0, 256;
    "stream.graphics.g5.8xlarge" => 32.0, 512;
    "stream.graphics.g5.12xlarge" => 48.0, 768;
    "stream.graphics.g5.16xlarge" => 64.0, 1024;
    "stream.graphics.g5.24xlarge" => 96.0, 1536;
    "stream.graphics.g6.xlarge" => 4.0, 64;
    "stream.graphics.g6.2xlarge" => 8.0, 128;
    "stream.graphics.g6.4xlarge" => 16.0, 256;
    "stream.graphics.g6.8xlarge" => 32.0, 512;
    "stream.graphics.g6.12xlarge" => 48.0, 768;
    "stream.graphics.g6.16xlarge" => 64.0, 1024;
    "stream.graphics.g6.24xlarge" => 96.0, 1536;
    "stream.graphics.gr6.4xlarge" => 16.0, 512;
    "stream.graphics.gr6.8xlarge" => 32.0, 1024;
    "stream.graphics.g6f.large" => 2.0, 32;
    "stream.graphics.g6f.xlarge" => 4.0, 64;
    "stream.graphics.g6f.2xlarge" => 8.0, 128;
    "stream.graphics.g6f.4xlarge" => 16.0, 256;
    "stream.graphics.gr6f.4xlarge" => 16.0, 512;
}

impl InstanceType {
    pub fn lookup(name: &str) -> Result<InstanceType> {
        INSTANCE_TYPES
            .iter()
            .find(|t| t.name == name)
            .copied()
            .ok_or_else(|| {
                DomainError::validation(format!("The instance type {name} is not supported."))
            })
    }

    /// Elastic fleets accept only the general-purpose family (AppStream's rule).
    pub fn allowed_for_elastic(&self) -> bool {
        self.name.starts_with("stream.standard.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_figures() {
        let cases = [
            ("stream.standard.small", 1.0, 2048),
            ("stream.standard.medium", 2.0, 4096),
            ("stream.standard.2xlarge", 8.0, 32768),
            ("stream.compute.large", 2.0, 3840),
            ("stream.compute.8xlarge", 36.0, 61440),
            ("stream.memory.large", 2.0, 15616),
            ("stream.memory.8xlarge", 32.0, 249856),
        ];
        for (name, vcpus, mib) in cases {
            let t = InstanceType::lookup(name).unwrap();
            assert_eq!((t.vcpus, t.memory_mib), (vcpus, mib), "{name}");
        }
    }

    #[test]
    fn unknown_name_is_a_validation_error() {
        let err = InstanceType::lookup("stream.standard.huge").unwrap_err();
        assert_eq!(err.aws_code(), "ValidationException");
    }

    #[test]
    fn names_are_unique() {
        for (i, t) in INSTANCE_TYPES.iter().enumerate() {
            assert!(INSTANCE_TYPES[i + 1..].iter().all(|u| u.name != t.name));
        }
    }

    #[test]
    fn elastic_takes_only_standard() {
        assert!(InstanceType::lookup("stream.standard.large")
            .unwrap()
            .allowed_for_elastic());
        assert!(!InstanceType::lookup("stream.compute.large")
            .unwrap()
            .allowed_for_elastic());
    }
}
