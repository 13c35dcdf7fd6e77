//! The data plane: the concurrent session map that socket tasks look up per packet, the atomic
//! counters they bump, and the packet classifier for the application-service table. It never touches
//! the actor's state; the actor samples what it writes.

pub mod classifier;
pub mod counters;
pub mod resume;
