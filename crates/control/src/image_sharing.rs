//! Images shared by reference: a copy is a new image over the same root (roots
//! are immutable, so nothing is copied), and an image may be shared with other
//! accounts. Porthole serves one account, so a share is recorded and described
//! and changes nothing this account sees: its own images stay PRIVATE.

use crate::error::{DomainError, ErrorKind, Result};
use crate::image::{Image, ImagePermissions, ImageRoot, Visibility};
use crate::plane::{ControlPlane, DocKind};
use crate::time::Timestamp;
use std::collections::BTreeMap;

impl ControlPlane {
    /// CopyImage within this server's region: the copy has the source's root,
    /// catalog and platform, no tags (as in AppStream) and no shares.
    pub fn copy_image(
        &mut self,
        source: &str,
        destination: &str,
        region: &str,
        description: Option<String>,
        now: Timestamp,
    ) -> Result<&Image> {
        if region != self.config.region {
            return Err(DomainError::combination(format!(
                "This server serves the region {}; DestinationRegion {region} is not one of its regions.",
                self.config.region
            )));
        }
        let source = self.available_image(source)?;
        if self.images.contains_key(destination) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The image {destination} already exists."),
            ));
        }
        let copy = Image {
            name: destination.to_owned(),
            description: description.unwrap_or_else(|| source.description.clone()),
            visibility: Visibility::Private,
            created_time: now,
            tags: BTreeMap::new(),
            shared_with: BTreeMap::new(),
            ..source.clone()
        };
        self.put_image(copy);
        self.image(destination)
    }

    /// Whether any image still has `root`: its files may be deleted only once none does
    /// (copies share their source's root, and [`ControlPlane::delete_image`] keeps an
    /// image while instances run from it).
    pub fn image_root_in_use(&self, root: &ImageRoot) -> bool {
        self.images.values().any(|i| i.root == *root)
    }

    /// UpdateImagePermissions: adds or replaces what `account` may do with the image.
    pub fn share_image(
        &mut self,
        name: &str,
        account: &str,
        permissions: ImagePermissions,
    ) -> Result<()> {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::validation(format!(
                "SharedAccountId {account} is not a 12-digit account id."
            )));
        }
        if account == self.config.account {
            return Err(DomainError::validation(
                "An image cannot be shared with the account that owns it.",
            ));
        }
        self.own_image_mut(name)?
            .shared_with
            .insert(account.to_owned(), permissions);
        Ok(())
    }

    /// DeleteImagePermissions: `account` may no longer use the image.
    pub fn unshare_image(&mut self, name: &str, account: &str) -> Result<()> {
        self.own_image_mut(name)?
            .shared_with
            .remove(account)
            .map(drop)
            .ok_or_else(|| {
                DomainError::new(
                    ErrorKind::ResourceNotFound,
                    format!("The image {name} is not shared with the account {account}."),
                )
            })
    }

    /// The accounts an image of this account is shared with.
    pub fn image_shares(&self, name: &str) -> Result<&BTreeMap<String, ImagePermissions>> {
        match self.image(name)? {
            image if image.visibility == Visibility::Private => Ok(&image.shared_with),
            _ => Err(DomainError::not_found("private image", name)),
        }
    }

    /// Only an AVAILABLE private image (the account's own) can be shared.
    fn own_image_mut(&mut self, name: &str) -> Result<&mut Image> {
        let image = self.available_image(name)?;
        if image.visibility != Visibility::Private {
            return Err(DomainError::new(
                ErrorKind::ResourceNotAvailable,
                format!("The image {name} is not private: only your own images can be shared."),
            ));
        }
        self.mark(DocKind::Image, name);
        Ok(self.images.get_mut(name).expect("looked up above"))
    }
}
