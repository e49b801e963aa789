//! Domain errors, each mapping to one of the modeled exceptions of AppStream
//! or Application Auto Scaling.

/// Which AWS exception a [`DomainError`] becomes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    ResourceNotFound,
    ResourceAlreadyExists,
    ResourceInUse,
    InvalidParameterCombination,
    LimitExceeded,
    OperationNotPermitted,
    ConcurrentModification,
    IncompatibleImage,
    ResourceNotAvailable,
    InvalidAccountStatus,
    Validation,
    EntitlementAlreadyExists,
    EntitlementNotFound,
    /// Application Auto Scaling's "no such scalable target or policy".
    ObjectNotFound,
    /// Application Auto Scaling's "that NextToken is not one of mine".
    InvalidNextToken,
}

impl ErrorKind {
    /// The exception name clients match on (`__type`).
    pub const fn aws_code(self) -> &'static str {
        match self {
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::ResourceInUse => "ResourceInUseException",
            Self::InvalidParameterCombination => "InvalidParameterCombinationException",
            Self::LimitExceeded => "LimitExceededException",
            Self::OperationNotPermitted => "OperationNotPermittedException",
            Self::ConcurrentModification => "ConcurrentModificationException",
            Self::IncompatibleImage => "IncompatibleImageException",
            Self::ResourceNotAvailable => "ResourceNotAvailableException",
            Self::InvalidAccountStatus => "InvalidAccountStatusException",
            Self::Validation => "ValidationException",
            Self::EntitlementAlreadyExists => "EntitlementAlreadyExistsException",
            Self::EntitlementNotFound => "EntitlementNotFoundException",
            Self::ObjectNotFound => "ObjectNotFoundException",
            Self::InvalidNextToken => "InvalidNextTokenException",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.aws_code())]
pub struct DomainError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DomainError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn aws_code(&self) -> &'static str {
        self.kind.aws_code()
    }

    pub fn not_found(what: &str, name: &str) -> Self {
        Self::new(
            ErrorKind::ResourceNotFound,
            format!("The {what} {name} does not exist."),
        )
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    pub fn combination(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameterCombination, message)
    }

    pub fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::OperationNotPermitted, message)
    }

    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceInUse, message)
    }
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;
