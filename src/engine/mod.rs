//! Pure decisions, no tokio, no IO, no clock reads: the session-admin table, the consolidation
//! planner, the disconnect-condition engine, tariffs and invoices. The actor owns every value here and
//! passes `now` in.

pub mod admin;
pub mod disconnect;
pub mod invoice;
pub mod planner;
pub mod service_level;
pub mod tariff;
