//! The authentication phase (RFC 1661 §3.5) with PAP (RFC 1334) and CHAP-MD5 (RFC 1994), in both
//! roles.
//!
//! Owns: when Challenges, Responses, Authenticate-Requests and verdicts are sent and retransmitted,
//! identifier matching, replaying a verdict to a retransmitted request, and the credentials
//! presented to the application. Must not touch: the subscriber table. As authenticator the engine
//! never decides who gets in: it reports an [`AuthRequest`] and sends whatever [`AuthVerdict`] the
//! application answers.

use std::borrow::Cow;
use std::fmt;

use rand::RngCore;
use rand::rngs::StdRng;

use super::chap::{self, ChapPacket};
use super::frame::protocol;
use super::fsm::{Ctx, NegotiationConfig};
use super::ipcp::IpcpAssignment;
use super::lcp::AuthProtocol;
use super::link::DownCause;
use super::pap::PapPacket;

/// What the peer presented. `Debug` never prints passwords or responses.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No authentication was negotiated (or the proxy said "No Authentication").
    None,
    /// A PAP password in clear.
    Pap {
        /// The password.
        password: Vec<u8>,
    },
    /// A CHAP-MD5 exchange: check `response == MD5(id || secret || challenge)`, e.g. with
    /// [`verify_chap_md5`](super::verify_chap_md5).
    ChapMd5 {
        /// Identifier of the Challenge answered.
        id: u8,
        /// The challenge value sent to the peer.
        challenge: Vec<u8>,
        /// The peer's response value.
        response: Vec<u8>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Pap { .. } => f.write_str("Pap { password: <redacted> }"),
            Self::ChapMd5 { id, challenge, .. } => f
                .debug_struct("ChapMd5")
                .field("id", id)
                .field("challenge_len", &challenge.len())
                .field("response", &"<redacted>")
                .finish(),
        }
    }
}

/// A peer asking to be let in. Answer with [`Link::answer_auth`](super::Link::answer_auth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The protocol used, `None` when no authentication was negotiated.
    pub protocol: Option<AuthProtocol>,
    /// The name the peer gave (PAP Peer-ID, CHAP Name), raw octets; empty without authentication.
    pub name: Vec<u8>,
    /// What the peer presented.
    pub credentials: Credentials,
    /// Whether these credentials came from a LAC's proxy authentication (RFC 2661 §4.4.5) rather
    /// than from the peer over this link.
    pub proxied: bool,
}

impl AuthRequest {
    /// The name for logs and lookups, with invalid UTF-8 replaced.
    pub fn name_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }

    /// Checks the credentials against a cleartext secret: the PAP password, or the CHAP-MD5
    /// response. Comparisons take time independent of where the values differ. Without
    /// authentication there is nothing to check and this returns `false`; the application decides
    /// whether unauthenticated peers are allowed.
    pub fn verify_secret(&self, secret: &[u8]) -> bool {
        match &self.credentials {
            Credentials::None => false,
            Credentials::Pap { password } => {
                password.len() == secret.len()
                    && password
                        .iter()
                        .zip(secret)
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            }
            Credentials::ChapMd5 {
                id,
                challenge,
                response,
            } => chap::verify_chap_md5(*id, secret, challenge, response),
        }
    }
}

/// The application's answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Let the peer in and configure IPCP with these addresses.
    Accept {
        /// Text for the PAP Authenticate-Ack / CHAP Success message.
        message: String,
        /// The addresses IPCP hands out.
        network: IpcpAssignment,
    },
    /// Refuse: the failure message is sent and the link terminated (RFC 1994 §4.2: the
    /// authenticator "SHOULD take action to terminate the link").
    Reject {
        /// Text for the PAP Authenticate-Nak / CHAP Failure message.
        message: String,
    },
}

/// What an authentication step produced for the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthStep {
    /// Nothing for the link to do.
    Nothing,
    /// The packet was not acceptable here and was silently discarded.
    Discarded(&'static str),
    /// Server: credentials to put before the application.
    Request(AuthRequest),
    /// Authentication is complete and successful.
    Succeeded,
    /// Authentication failed; the link must be closed.
    Failed(DownCause),
}

/// Octets in the CHAP challenges we generate. RFC 1994 §2.3 asks for unpredictable values; 16
/// random octets match the MD5 block of the response.
pub const CHALLENGE_LEN: usize = 16;

fn push(ctx: &mut Ctx<'_>, proto: u16, packet: Vec<u8>) {
    let mut frame = proto.to_be_bytes().to_vec();
    frame.extend_from_slice(&packet);
    ctx.tx.push_back(frame);
}

#[derive(Debug, Clone)]
enum ServerState {
    Inactive,
    AwaitingPap,
    Challenged {
        id: u8,
        value: Vec<u8>,
        transmissions: u32,
    },
    Verifying {
        id: u8,
        request: AuthRequest,
    },
    Decided {
        id: u8,
        accepted: bool,
        message: Vec<u8>,
        request: AuthRequest,
    },
}

/// The authenticator side.
#[derive(Debug, Clone)]
pub(crate) struct ServerAuth {
    protocol: Option<AuthProtocol>,
    state: ServerState,
    /// Our CHAP Name.
    name: Vec<u8>,
    cfg: NegotiationConfig,
}

impl ServerAuth {
    pub fn new(name: Vec<u8>, cfg: NegotiationConfig) -> Self {
        Self {
            protocol: None,
            state: ServerState::Inactive,
            name,
            cfg,
        }
    }

    /// Starts the phase with the protocol LCP settled on.
    pub fn start(
        &mut self,
        ctx: &mut Ctx<'_>,
        rng: &mut StdRng,
        protocol: Option<AuthProtocol>,
    ) -> AuthStep {
        self.protocol = protocol;
        *ctx.timer = None;
        match protocol {
            None => {
                let request = AuthRequest {
                    protocol: None,
                    name: Vec::new(),
                    credentials: Credentials::None,
                    proxied: false,
                };
                self.state = ServerState::Verifying {
                    id: 0,
                    request: request.clone(),
                };
                AuthStep::Request(request)
            }
            Some(AuthProtocol::Pap) => {
                // RFC 1334 §2.1: the authenticator waits for the peer's Authenticate-Request.
                self.state = ServerState::AwaitingPap;
                AuthStep::Nothing
            }
            Some(AuthProtocol::ChapMd5) => {
                self.send_challenge(ctx, rng, None, 1);
                AuthStep::Nothing
            }
        }
    }

    /// Starts directly in the verification step with credentials relayed by a LAC.
    pub fn start_verifying(
        &mut self,
        protocol: Option<AuthProtocol>,
        id: u8,
        request: AuthRequest,
    ) -> AuthStep {
        self.protocol = protocol;
        self.state = ServerState::Verifying {
            id,
            request: request.clone(),
        };
        AuthStep::Request(request)
    }

    fn send_challenge(
        &mut self,
        ctx: &mut Ctx<'_>,
        rng: &mut StdRng,
        previous_id: Option<u8>,
        transmissions: u32,
    ) {
        // RFC 1994 §4.1: both the Identifier and the Value "MUST be changed each time a Challenge
        // is sent", retransmissions included.
        let id = match previous_id {
            Some(p) => p.wrapping_add(1),
            None => rng.next_u32() as u8,
        };
        let mut value = vec![0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut value);
        push(
            ctx,
            protocol::CHAP,
            ChapPacket::Challenge {
                id,
                value: &value,
                name: &self.name,
            }
            .to_vec(),
        );
        *ctx.timer = Some(ctx.now + self.cfg.restart_interval);
        self.state = ServerState::Challenged {
            id,
            value,
            transmissions,
        };
    }

    /// The retransmission timer expired.
    pub fn timeout(&mut self, ctx: &mut Ctx<'_>, rng: &mut StdRng) -> AuthStep {
        *ctx.timer = None;
        if let ServerState::Challenged {
            id, transmissions, ..
        } = self.state
        {
            if transmissions >= self.cfg.max_configure {
                return AuthStep::Failed(DownCause::AuthTimeout);
            }
            self.send_challenge(ctx, rng, Some(id), transmissions + 1);
        }
        AuthStep::Nothing
    }

    /// Whether the application still owes a verdict.
    pub fn awaiting_verdict(&self) -> bool {
        matches!(self.state, ServerState::Verifying { .. })
    }

    /// The credentials being verified or already decided, with the identifier to answer.
    pub fn presented(&self) -> Option<(u8, &AuthRequest)> {
        match &self.state {
            ServerState::Verifying { id, request } | ServerState::Decided { id, request, .. } => {
                Some((*id, request))
            }
            _ => None,
        }
    }

    fn send_verdict(&self, ctx: &mut Ctx<'_>, id: u8, accepted: bool, message: &[u8]) {
        match self.protocol {
            Some(AuthProtocol::Pap) => {
                let p = if accepted {
                    PapPacket::Ack { id, message }
                } else {
                    PapPacket::Nak { id, message }
                };
                push(ctx, protocol::PAP, p.to_vec());
            }
            Some(AuthProtocol::ChapMd5) => {
                let p = if accepted {
                    ChapPacket::Success { id, message }
                } else {
                    ChapPacket::Failure { id, message }
                };
                push(ctx, protocol::CHAP, p.to_vec());
            }
            None => {}
        }
    }

    /// Applies the application's verdict. Returns `None` if no verdict was awaited.
    pub fn answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        accepted: bool,
        message: &[u8],
    ) -> Option<AuthStep> {
        let ServerState::Verifying { id, request } = &self.state else {
            return None;
        };
        let (id, request) = (*id, request.clone());
        self.send_verdict(ctx, id, accepted, message);
        self.state = ServerState::Decided {
            id,
            accepted,
            message: message.to_vec(),
            request,
        };
        Some(if accepted {
            AuthStep::Succeeded
        } else {
            AuthStep::Failed(DownCause::AuthFailed)
        })
    }

    /// Handles a PAP packet (the information after the Protocol field).
    pub fn handle_pap(
        &mut self,
        ctx: &mut Ctx<'_>,
        packet: &[u8],
    ) -> Result<AuthStep, super::Error> {
        if self.protocol != Some(AuthProtocol::Pap) {
            return Ok(AuthStep::Discarded("PAP packet but PAP was not negotiated"));
        }
        let PapPacket::Request {
            id,
            peer_id,
            password,
        } = PapPacket::parse(packet)?
        else {
            return Ok(AuthStep::Discarded("PAP Ack/Nak sent to the authenticator"));
        };
        match &mut self.state {
            ServerState::AwaitingPap => {
                let request = AuthRequest {
                    protocol: Some(AuthProtocol::Pap),
                    name: peer_id.to_vec(),
                    credentials: Credentials::Pap {
                        password: password.to_vec(),
                    },
                    proxied: false,
                };
                self.state = ServerState::Verifying {
                    id,
                    request: request.clone(),
                };
                Ok(AuthStep::Request(request))
            }
            ServerState::Verifying {
                id: current,
                request,
            } => {
                // A retransmission while the application decides: answer it, not the first one
                // (RFC 1334 §2.2.1: each Authenticate-Request carries a new Identifier).
                let same = request.name == peer_id
                    && matches!(&request.credentials, Credentials::Pap { password: p } if p == password);
                if same {
                    *current = id;
                    Ok(AuthStep::Nothing)
                } else {
                    Ok(AuthStep::Discarded(
                        "different PAP credentials while the first are being verified",
                    ))
                }
            }
            ServerState::Decided {
                accepted, message, ..
            } => {
                // The Ack or Nak was lost: repeat it under the new Identifier.
                let (accepted, message) = (*accepted, message.clone());
                self.send_verdict(ctx, id, accepted, &message);
                Ok(AuthStep::Nothing)
            }
            _ => Ok(AuthStep::Discarded("PAP request out of phase")),
        }
    }

    /// Handles a CHAP packet (the information after the Protocol field).
    pub fn handle_chap(
        &mut self,
        ctx: &mut Ctx<'_>,
        packet: &[u8],
    ) -> Result<AuthStep, super::Error> {
        if self.protocol != Some(AuthProtocol::ChapMd5) {
            return Ok(AuthStep::Discarded(
                "CHAP packet but CHAP was not negotiated",
            ));
        }
        let ChapPacket::Response { id, value, name } = ChapPacket::parse(packet)? else {
            return Ok(AuthStep::Discarded(
                "CHAP packet other than Response sent to the authenticator",
            ));
        };
        match &self.state {
            ServerState::Challenged {
                id: current,
                value: challenge,
                ..
            } => {
                if id != *current {
                    // RFC 1994 §4.1: the Response Identifier MUST be copied from the Challenge.
                    return Ok(AuthStep::Discarded("CHAP Response for another identifier"));
                }
                *ctx.timer = None;
                let request = AuthRequest {
                    protocol: Some(AuthProtocol::ChapMd5),
                    name: name.to_vec(),
                    credentials: Credentials::ChapMd5 {
                        id,
                        challenge: challenge.clone(),
                        response: value.to_vec(),
                    },
                    proxied: false,
                };
                self.state = ServerState::Verifying {
                    id,
                    request: request.clone(),
                };
                Ok(AuthStep::Request(request))
            }
            ServerState::Verifying { id: current, .. } if id == *current => Ok(AuthStep::Nothing),
            ServerState::Decided {
                id: current,
                accepted,
                message,
                ..
            } if id == *current => {
                // RFC 1994 §4.1: "any Response packets received having the current Challenge
                // Identifier MUST return the same reply Code previously returned".
                let (accepted, message) = (*accepted, message.clone());
                self.send_verdict(ctx, id, accepted, &message);
                Ok(AuthStep::Nothing)
            }
            _ => Ok(AuthStep::Discarded("CHAP Response for another identifier")),
        }
    }
}

#[derive(Debug, Clone)]
enum ClientState {
    Inactive,
    PapRequesting {
        id: u8,
        transmissions: u32,
    },
    ChapAwaitingChallenge,
    ChapResponded {
        id: u8,
        response: [u8; chap::MD5_RESPONSE_LEN],
        transmissions: u32,
    },
    Succeeded,
    Failed,
}

/// The authenticatee side.
#[derive(Clone)]
pub(crate) struct ClientAuth {
    name: Vec<u8>,
    secret: Vec<u8>,
    protocol: Option<AuthProtocol>,
    state: ClientState,
    cfg: NegotiationConfig,
    /// The message of the last Ack/Nak/Success/Failure received.
    pub last_message: Vec<u8>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("protocol", &self.protocol)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClientAuth {
    pub fn new(name: Vec<u8>, secret: Vec<u8>, cfg: NegotiationConfig) -> Self {
        Self {
            name,
            secret,
            protocol: None,
            state: ClientState::Inactive,
            cfg,
            last_message: Vec::new(),
        }
    }

    pub fn start(
        &mut self,
        ctx: &mut Ctx<'_>,
        rng: &mut StdRng,
        protocol: Option<AuthProtocol>,
    ) -> AuthStep {
        self.protocol = protocol;
        *ctx.timer = None;
        match protocol {
            None => {
                self.state = ClientState::Succeeded;
                AuthStep::Succeeded
            }
            Some(AuthProtocol::Pap) => {
                let id = rng.next_u32() as u8;
                self.send_pap(ctx, id, 1);
                AuthStep::Nothing
            }
            Some(AuthProtocol::ChapMd5) => {
                self.state = ClientState::ChapAwaitingChallenge;
                AuthStep::Nothing
            }
        }
    }

    fn send_pap(&mut self, ctx: &mut Ctx<'_>, id: u8, transmissions: u32) {
        let p = PapPacket::Request {
            id,
            peer_id: &self.name,
            password: &self.secret,
        };
        push(ctx, protocol::PAP, p.to_vec());
        *ctx.timer = Some(ctx.now + self.cfg.restart_interval);
        self.state = ClientState::PapRequesting { id, transmissions };
    }

    pub fn timeout(&mut self, ctx: &mut Ctx<'_>) -> AuthStep {
        *ctx.timer = None;
        match self.state {
            ClientState::PapRequesting { id, transmissions } => {
                if transmissions >= self.cfg.max_configure {
                    return AuthStep::Failed(DownCause::AuthTimeout);
                }
                // RFC 1334 §2.2.1: "The Identifier field MUST be changed each time an
                // Authenticate-Request packet is issued."
                self.send_pap(ctx, id.wrapping_add(1), transmissions + 1);
            }
            ClientState::ChapResponded {
                id,
                response,
                transmissions,
            } => {
                if transmissions >= self.cfg.max_configure {
                    return AuthStep::Failed(DownCause::AuthTimeout);
                }
                // The verdict may have been lost. RFC 1994 §4.1 makes the authenticator answer a
                // repeated Response with the same code, so repeating ours recovers from it.
                self.send_chap_response(ctx, id, response, transmissions + 1);
            }
            _ => {}
        }
        AuthStep::Nothing
    }

    fn send_chap_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u8,
        response: [u8; chap::MD5_RESPONSE_LEN],
        transmissions: u32,
    ) {
        let packet = ChapPacket::Response {
            id,
            value: &response,
            name: &self.name,
        };
        push(ctx, protocol::CHAP, packet.to_vec());
        *ctx.timer = Some(ctx.now + self.cfg.restart_interval);
        self.state = ClientState::ChapResponded {
            id,
            response,
            transmissions,
        };
    }

    pub fn handle_pap(
        &mut self,
        ctx: &mut Ctx<'_>,
        packet: &[u8],
    ) -> Result<AuthStep, super::Error> {
        if self.protocol != Some(AuthProtocol::Pap) {
            return Ok(AuthStep::Discarded("PAP packet but PAP was not negotiated"));
        }
        let ClientState::PapRequesting { id: current, .. } = self.state else {
            return Ok(AuthStep::Discarded("PAP reply out of phase"));
        };
        let (id, message, ok) = match PapPacket::parse(packet)? {
            PapPacket::Ack { id, message } => (id, message, true),
            PapPacket::Nak { id, message } => (id, message, false),
            PapPacket::Request { .. } => {
                return Ok(AuthStep::Discarded("PAP request sent to the authenticatee"));
            }
        };
        if id != current {
            return Ok(AuthStep::Discarded("PAP reply for another identifier"));
        }
        *ctx.timer = None;
        self.last_message = message.to_vec();
        Ok(if ok {
            self.state = ClientState::Succeeded;
            AuthStep::Succeeded
        } else {
            self.state = ClientState::Failed;
            AuthStep::Failed(DownCause::AuthFailed)
        })
    }

    pub fn handle_chap(
        &mut self,
        ctx: &mut Ctx<'_>,
        packet: &[u8],
    ) -> Result<AuthStep, super::Error> {
        if self.protocol != Some(AuthProtocol::ChapMd5) {
            return Ok(AuthStep::Discarded(
                "CHAP packet but CHAP was not negotiated",
            ));
        }
        match ChapPacket::parse(packet)? {
            ChapPacket::Challenge { id, value, .. } => {
                if matches!(self.state, ClientState::Failed | ClientState::Inactive) {
                    return Ok(AuthStep::Discarded("CHAP Challenge out of phase"));
                }
                // RFC 1994 §4.1: "Whenever a Challenge packet is received, the peer MUST transmit
                // a CHAP packet with the Code field set to 2 (Response)", rechallenges included.
                let response = chap::chap_md5_response(id, &self.secret, value);
                // After a rechallenge the verdict is awaited again; the link ignores a repeated
                // success and closes on a failure.
                self.send_chap_response(ctx, id, response, 1);
                Ok(AuthStep::Nothing)
            }
            ChapPacket::Success { id, message } | ChapPacket::Failure { id, message } => {
                let ok = packet.first() == Some(&chap::code::SUCCESS);
                let ClientState::ChapResponded { id: current, .. } = self.state else {
                    return Ok(AuthStep::Discarded("CHAP verdict out of phase"));
                };
                if id != current {
                    return Ok(AuthStep::Discarded("CHAP verdict for another identifier"));
                }
                *ctx.timer = None;
                self.last_message = message.to_vec();
                Ok(if ok {
                    self.state = ClientState::Succeeded;
                    AuthStep::Succeeded
                } else {
                    self.state = ClientState::Failed;
                    AuthStep::Failed(DownCause::AuthFailed)
                })
            }
            ChapPacket::Response { .. } => Ok(AuthStep::Discarded(
                "CHAP Response sent to the authenticatee",
            )),
        }
    }

    /// Forgets the phase (LCP went down).
    pub fn reset(&mut self) {
        self.state = ClientState::Inactive;
        self.protocol = None;
    }
}

impl ServerAuth {
    /// Forgets the phase (LCP went down).
    pub fn reset(&mut self) {
        self.state = ServerState::Inactive;
        self.protocol = None;
    }
}
