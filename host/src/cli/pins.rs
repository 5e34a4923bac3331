//! `pincer review ID --tools`: an installed plugin's tools against their pins.

use super::commands::Failure;
use crate::runtime::Runtime;

pub(super) fn cmd_review_tools(_runtime: &Runtime, _id: &str, _json: bool) -> Result<(), Failure> {
    Err(Failure::new(1, "`pincer review ID --tools` is being written"))
}
