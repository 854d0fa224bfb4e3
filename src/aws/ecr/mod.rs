//! ECR kinds: the image repository.

pub mod repository;

use std::sync::Arc;

use crate::resource::Registry;

pub type Client = aws_sdk_ecr::Client;

/// Register every ECR kind in `reg`.
pub fn register(reg: &mut Registry, client: Client) {
    reg.register(Arc::new(repository::Repository::new(client)));
}
