//! The only module allowed `unsafe`: raw-socket and TUN ioctls.
