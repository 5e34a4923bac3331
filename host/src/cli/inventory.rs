//! `pincer egress` and `pincer review --all`: what every installed plugin may do, on
//! one screen. (Being written.)

use super::commands::Failure;
use crate::runtime::Runtime;
use crate::store::Home;

pub(super) fn cmd_egress(_home: &Home, _json: bool) -> Result<(), Failure> {
    Err(Failure::new(1, "`pincer egress` is being written"))
}

pub(super) fn cmd_review_all(_runtime: &Runtime, _json: bool) -> Result<(), Failure> {
    Err(Failure::new(1, "`pincer review --all` is being written"))
}
