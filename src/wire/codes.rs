//! Result and error codes (RFC 2661 §4.4.2, §10.3): one table each, with the RFC's meaning.
//!
//! The Result Code field means different things in StopCCN and in CDN, so each has its own enum;
//! the General Error Code is shared. Values the RFC does not define are kept as `Other(n)` so they
//! can be logged and echoed, never lost.

macro_rules! code_table {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal => $meaning:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value RFC 2661 does not define.
            Other(u16),
        }

        impl $name {
            /// The numeric value on the wire.
            pub fn code(self) -> u16 {
                match self {
                    $($name::$variant => $value,)*
                    $name::Other(v) => v,
                }
            }

            /// The value for a wire number; undefined numbers become `Other`.
            pub fn from_code(v: u16) -> Self {
                match v {
                    $($value => $name::$variant,)*
                    v => $name::Other(v),
                }
            }

            /// The RFC 2661 §4.4.2 meaning, for logs.
            pub fn meaning(self) -> &'static str {
                match self {
                    $($name::$variant => $meaning,)*
                    $name::Other(_) => "(not defined by RFC 2661)",
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} ({})", self.code(), self.meaning())
            }
        }
    };
}

code_table! {
    /// Result Code values of a StopCCN (RFC 2661 §4.4.2).
    StopCcnResult {
        /// 0: reserved.
        Reserved = 0 => "reserved",
        /// 1: general request to clear control connection.
        GeneralClear = 1 => "general request to clear control connection",
        /// 2: general error, the Error Code indicates the problem.
        GeneralError = 2 => "general error, see error code",
        /// 3: control channel already exists.
        AlreadyExists = 3 => "control channel already exists",
        /// 4: requester is not authorized to establish a control channel.
        NotAuthorized = 4 => "requester is not authorized to establish a control channel",
        /// 5: protocol version not supported; the Error Code carries the highest supported version.
        UnsupportedVersion = 5 => "protocol version of the requester is not supported",
        /// 6: requester is being shut down.
        ShuttingDown = 6 => "requester is being shut down",
        /// 7: finite state machine error.
        FsmError = 7 => "finite state machine error",
    }
}

code_table! {
    /// Result Code values of a CDN (RFC 2661 §4.4.2).
    CdnResult {
        /// 0: reserved.
        Reserved = 0 => "reserved",
        /// 1: call disconnected due to loss of carrier.
        LossOfCarrier = 1 => "call disconnected due to loss of carrier",
        /// 2: call disconnected for the reason indicated in the error code.
        GeneralError = 2 => "call disconnected, see error code",
        /// 3: call disconnected for administrative reasons.
        Administrative = 3 => "call disconnected for administrative reasons",
        /// 4: no appropriate facilities available (temporary condition).
        TemporaryFacilities = 4 => "call failed: no appropriate facilities available (temporary)",
        /// 5: no appropriate facilities available (permanent condition).
        PermanentFacilities = 5 => "call failed: no appropriate facilities available (permanent)",
        /// 6: invalid destination.
        InvalidDestination = 6 => "invalid destination",
        /// 7: no carrier detected.
        NoCarrier = 7 => "call failed: no carrier detected",
        /// 8: busy signal.
        Busy = 8 => "call failed: busy signal",
        /// 9: no dial tone.
        NoDialTone = 9 => "call failed: no dial tone",
        /// 10: not established within the time allotted by the LAC.
        Timeout = 10 => "call was not established within time allotted by LAC",
        /// 11: connected but no appropriate framing detected.
        NoFraming = 11 => "call connected but no appropriate framing detected",
    }
}

code_table! {
    /// General Error Code values (RFC 2661 §4.4.2), shared by StopCCN and CDN.
    ErrorCode {
        /// 0: no general error.
        NoError = 0 => "no general error",
        /// 1: no control connection exists yet for this LAC-LNS pair.
        NoControlConnection = 1 => "no control connection exists yet for this LAC-LNS pair",
        /// 2: length is wrong.
        BadLength = 2 => "length is wrong",
        /// 3: a field value was out of range or a reserved field was non-zero.
        BadValue = 3 => "field value out of range or reserved field non-zero",
        /// 4: insufficient resources to handle this operation now.
        InsufficientResources = 4 => "insufficient resources to handle this operation now",
        /// 5: the Session ID is invalid in this context.
        InvalidSessionId = 5 => "session ID invalid in this context",
        /// 6: a generic vendor-specific error occurred in the LAC.
        VendorSpecific = 6 => "generic vendor-specific error in the LAC",
        /// 7: try another LNS.
        TryAnother = 7 => "try another LNS",
        /// 8: shut down on receipt of an unknown AVP with the M bit set.
        UnknownMandatoryAvp = 8 => "unknown AVP with the M bit set",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_unknown_values() {
        for v in 0..=20u16 {
            assert_eq!(StopCcnResult::from_code(v).code(), v);
            assert_eq!(CdnResult::from_code(v).code(), v);
            assert_eq!(ErrorCode::from_code(v).code(), v);
        }
        assert_eq!(StopCcnResult::from_code(4), StopCcnResult::NotAuthorized);
        assert_eq!(CdnResult::from_code(11), CdnResult::NoFraming);
        assert_eq!(ErrorCode::from_code(8), ErrorCode::UnknownMandatoryAvp);
        assert_eq!(CdnResult::from_code(12), CdnResult::Other(12));
        assert!(
            StopCcnResult::NotAuthorized
                .to_string()
                .starts_with("4 (requester is not")
        );
    }
}
