//! ARNs: `arn:aws:appstream:{region}:{account}:{resource}/{name}`.

use crate::error::{DomainError, Result};

/// Where this control plane pretends to live; appears in every ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub region: String,
    pub account: String,
}

/// The resource types that carry ARNs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Fleet,
    Stack,
    Image,
    AppBlock,
    Application,
    ImageBuilder,
}

impl ResourceType {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Fleet => "fleet",
            Self::Stack => "stack",
            Self::Image => "image",
            Self::AppBlock => "app-block",
            Self::Application => "application",
            Self::ImageBuilder => "image-builder",
        }
    }
}

impl Config {
    pub fn arn(&self, resource: ResourceType, name: &str) -> String {
        format!(
            "arn:aws:appstream:{}:{}:{}/{}",
            self.region,
            self.account,
            resource.as_str(),
            name
        )
    }

    /// Splits an ARN of this region and account into its type and name. ARNs
    /// of other accounts or regions name nothing here: not found.
    pub fn parse_arn(&self, arn: &str) -> Result<(ResourceType, String)> {
        let prefix = format!("arn:aws:appstream:{}:{}:", self.region, self.account);
        let rest = arn
            .strip_prefix(&prefix)
            .ok_or_else(|| DomainError::not_found("resource", arn))?;
        let (kind, name) = rest
            .split_once('/')
            .ok_or_else(|| DomainError::not_found("resource", arn))?;
        let kind = match kind {
            "fleet" => ResourceType::Fleet,
            "stack" => ResourceType::Stack,
            "image" => ResourceType::Image,
            "app-block" => ResourceType::AppBlock,
            "application" => ResourceType::Application,
            "image-builder" => ResourceType::ImageBuilder,
            _ => return Err(DomainError::not_found("resource", arn)),
        };
        Ok((kind, name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn arn_round_trips() {
        let arn = config().arn(ResourceType::Fleet, "f1");
        assert_eq!(arn, "arn:aws:appstream:us-east-1:123456789012:fleet/f1");
        assert_eq!(
            config().parse_arn(&arn).unwrap(),
            (ResourceType::Fleet, "f1".to_owned())
        );
    }

    #[test]
    fn foreign_or_unknown_arns_are_not_found() {
        for arn in [
            "arn:aws:appstream:eu-west-1:123456789012:fleet/f1",
            "arn:aws:appstream:us-east-1:123456789012:user/u",
            "arn:aws:appstream:us-east-1:123456789012:fleet",
        ] {
            let err = config().parse_arn(arn).unwrap_err();
            assert_eq!(err.aws_code(), "ResourceNotFoundException", "{arn}");
        }
    }
}
