//! The only IO in l2tpagg: UDP sockets, AF_PACKET, TUN, the clock, signals, systemd and the ctl
//! server. It carries bytes between the kernel and the actor or the data plane and makes no protocol
//! decisions.

pub mod clock;
