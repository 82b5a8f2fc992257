//! Group membership through the broker's group coordinator, as Connect's `WorkerGroupMember`:
//! FindCoordinator, JoinGroup (protocol type `connect`), SyncGroup, Heartbeat and LeaveGroup,
//! spoken over one connection (TCP, or TLS and SASL as configured) with the `kafka-protocol`
//! crate (rdkafka's consumer cannot carry a non-consumer protocol). Every request has a timeout;
//! failures are retried with backoff a bounded number of times before the connection is rebuilt.

use super::DistributedError;
use super::protocol::{Assignment, MemberMetadata, PROTOCOLS};
use super::security::{GroupSecurity, Stream};
use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    RequestHeader, ResponseHeader, SyncGroupRequest, join_group_request::JoinGroupRequestProtocol,
    leave_group_request::MemberIdentity, sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Kafka error codes the membership loop reacts to.
pub mod codes {
    pub const NONE: i16 = 0;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
}

const FIND_COORDINATOR_VERSION: i16 = 3;
const JOIN_GROUP_VERSION: i16 = 7;
const SYNC_GROUP_VERSION: i16 = 5;
const HEARTBEAT_VERSION: i16 = 4;
const LEAVE_GROUP_VERSION: i16 = 4;
/// Responses larger than this are refused (an assignment for thousands of tasks is far smaller).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// Connecting to a broker gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The group protocol's type for Connect workers.
pub const PROTOCOL_TYPE: &str = "connect";

/// A kafka-protocol string from a `&str`.
pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn net(what: &str, e: impl std::fmt::Display) -> DistributedError {
    DistributedError::Group(format!("{what}: {e}"))
}

/// One connection to one broker.
pub struct Connection {
    stream: Stream,
    correlation: i32,
    addr: String,
}

impl Connection {
    /// Connects with a timeout, then sets up TLS and logs in with SASL when configured.
    pub async fn open(
        addr: &str,
        security: &GroupSecurity,
    ) -> Result<Connection, DistributedError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| net(&format!("connecting to {addr}"), "timed out"))?
            .map_err(|e| net(&format!("connecting to {addr}"), e))?;
        tcp.set_nodelay(true).map_err(|e| net("socket", e))?;
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, security.wrap(tcp, host))
            .await
            .map_err(|_| net(&format!("TLS handshake with {addr}"), "timed out"))??;
        let mut conn = Connection {
            stream,
            correlation: 0,
            addr: addr.to_string(),
        };
        security.authenticate(&mut conn).await?;
        Ok(conn)
    }

    /// Sends one request and reads its response, all within `timeout`.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, DistributedError> {
        tokio::time::timeout(timeout, self.call_inner(request, version))
            .await
            .map_err(|_| {
                net(
                    &format!("request {} to {}", R::KEY, self.addr),
                    format!("no answer within {timeout:?}"),
                )
            })?
    }

    async fn call_inner<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, DistributedError> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(s("skiff-worker")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(|e| net("encoding a request header", e))?;
        request
            .encode(&mut body, version)
            .map_err(|e| net("encoding a request", e))?;
        let len = i32::try_from(body.len()).map_err(|e| net("request size", e))?;
        self.stream
            .write_all(&len.to_be_bytes())
            .await
            .map_err(|e| net("writing", e))?;
        self.stream
            .write_all(&body)
            .await
            .map_err(|e| net("writing", e))?;
        // TLS may still hold the request's last bytes; reading would not send them.
        self.stream.flush().await.map_err(|e| net("writing", e))?;
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .await
            .map_err(|e| net("reading", e))?;
        let len = usize::try_from(i32::from_be_bytes(len)).map_err(|e| net("response size", e))?;
        if len > MAX_RESPONSE {
            return Err(net("response size", format!("{len} bytes")));
        }
        let mut buf = vec![0u8; len];
        self.stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| net("reading", e))?;
        let mut bytes = Bytes::from(buf);
        let header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
            .map_err(|e| net("decoding a response header", e))?;
        if header.correlation_id != self.correlation {
            return Err(net(
                "response",
                format!(
                    "correlation id {} instead of {}",
                    header.correlation_id, self.correlation
                ),
            ));
        }
        R::Response::decode(&mut bytes, version).map_err(|e| net("decoding a response", e))
    }
}

/// A Kafka error code by its protocol name, as in `FencedInstanceId (82)`, for messages a user
/// reads.
pub fn named(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::Unknown(_)) | None => format!("error {code}"),
        Some(e) => format!("{e} ({code})"),
    }
}

/// [`named`], with what it means when the coordinator refused this worker as a member.
pub fn member_error(code: i16) -> String {
    if code == codes::FENCED_INSTANCE_ID {
        format!(
            "{} (another worker uses the same group.instance.id)",
            named(code)
        )
    } else {
        named(code)
    }
}

/// A broker's `host:port` as a connection takes it, with an IPv6 host in brackets.
pub fn broker_addr(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The `host:port` entries of a `bootstrap.servers` list, without any `PROTOCOL://` prefix.
pub fn bootstrap_addrs(servers: &str) -> Vec<String> {
    servers
        .split(',')
        .map(|s| {
            let s = s.trim();
            s.split_once("://").map_or(s, |(_, addr)| addr).to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The fixed settings of one member.
#[derive(Debug, Clone)]
pub struct MemberSettings {
    pub bootstrap: Vec<String>,
    pub group_id: String,
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub security: GroupSecurity,
}

/// A member as the leader sees it after JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: MemberMetadata,
}

/// The outcome of a JoinGroup round.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub leader_id: String,
    pub protocol: String,
    /// Filled for the leader only.
    pub members: Vec<JoinedMember>,
}

/// Logs in to a bootstrap broker the way the group connection will, so wrong credentials or TLS
/// settings fail the start at once with the broker's own message instead of as a timeout of
/// the internal-topic clients.
pub async fn check_login(settings: &MemberSettings) -> Result<(), DistributedError> {
    let mut last = DistributedError::Group("no bootstrap servers".into());
    for addr in &settings.bootstrap {
        match Connection::open(addr, &settings.security).await {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Finds the group coordinator through any bootstrap broker and connects to it.
pub async fn connect_coordinator(
    settings: &MemberSettings,
) -> Result<Connection, DistributedError> {
    let mut last = DistributedError::Group("no bootstrap servers".into());
    for addr in &settings.bootstrap {
        let mut c = match Connection::open(addr, &settings.security).await {
            Ok(c) => c,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let req = FindCoordinatorRequest::default()
            .with_key(s(&settings.group_id))
            .with_key_type(0);
        match c
            .call(&req, FIND_COORDINATOR_VERSION, Duration::from_secs(10))
            .await
        {
            Ok(r) if r.error_code == codes::NONE => {
                return Connection::open(&broker_addr(&r.host, r.port), &settings.security).await;
            }
            Ok(r) => {
                last = DistributedError::Group(format!(
                    "FindCoordinator for group {} through {addr}: error {}",
                    settings.group_id, r.error_code
                ));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A JoinGroup error that the caller handles by retrying as told.
#[derive(Debug)]
pub enum JoinError {
    /// Retry with this member id (MEMBER_ID_REQUIRED) or a fresh one (empty).
    Retry(String),
    /// The coordinator moved or is loading: find it again.
    Coordinator,
    /// Anything else.
    Failed(DistributedError),
}

/// Sends JoinGroup with this worker's metadata.
pub async fn join(
    conn: &mut Connection,
    settings: &MemberSettings,
    member_id: &str,
    metadata: &MemberMetadata,
) -> Result<Joined, JoinError> {
    let protocols = PROTOCOLS
        .iter()
        .map(|(name, version)| {
            let mut m = metadata.clone();
            m.version = *version;
            JoinGroupRequestProtocol::default()
                .with_name(s(name))
                .with_metadata(Bytes::from(m.encode()))
        })
        .collect();
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(&settings.group_id)))
        .with_session_timeout_ms(settings.session_timeout.as_millis() as i32)
        .with_rebalance_timeout_ms(settings.rebalance_timeout.as_millis() as i32)
        .with_member_id(s(member_id))
        .with_group_instance_id(settings.instance_id.as_deref().map(s))
        .with_protocol_type(s(PROTOCOL_TYPE))
        .with_protocols(protocols);
    // The coordinator holds JoinGroup until every member rejoined, up to the rebalance timeout.
    let timeout = settings.rebalance_timeout + Duration::from_secs(5);
    let r = conn
        .call(&req, JOIN_GROUP_VERSION, timeout)
        .await
        .map_err(JoinError::Failed)?;
    match r.error_code {
        codes::NONE => {}
        codes::MEMBER_ID_REQUIRED => return Err(JoinError::Retry(r.member_id.to_string())),
        codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION => {
            return Err(JoinError::Retry(String::new()));
        }
        codes::NOT_COORDINATOR
        | codes::COORDINATOR_NOT_AVAILABLE
        | codes::COORDINATOR_LOAD_IN_PROGRESS => return Err(JoinError::Coordinator),
        code => {
            return Err(JoinError::Failed(DistributedError::Group(format!(
                "JoinGroup for group {}: {}",
                settings.group_id,
                member_error(code)
            ))));
        }
    }
    let mut members = Vec::new();
    for m in r.members {
        match MemberMetadata::decode(&m.metadata) {
            Ok(metadata) => members.push(JoinedMember {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.map(|i| i.to_string()),
                metadata,
            }),
            Err(e) => {
                return Err(JoinError::Failed(DistributedError::Group(format!(
                    "member {} of group {} sent metadata this worker cannot read: {e}",
                    m.member_id.as_str(),
                    settings.group_id
                ))));
            }
        }
    }
    Ok(Joined {
        generation: r.generation_id,
        member_id: r.member_id.to_string(),
        leader_id: r.leader.to_string(),
        protocol: r.protocol_name.map(|p| p.to_string()).unwrap_or_default(),
        members,
    })
}

/// Sends SyncGroup (the leader with every member's assignment) and returns this member's.
pub async fn sync(
    conn: &mut Connection,
    settings: &MemberSettings,
    joined: &Joined,
    assignments: Vec<(String, Assignment)>,
) -> Result<Result<Assignment, i16>, DistributedError> {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(&settings.group_id)))
        .with_generation_id(joined.generation)
        .with_member_id(s(&joined.member_id))
        .with_group_instance_id(settings.instance_id.as_deref().map(s))
        .with_protocol_type(Some(s(PROTOCOL_TYPE)))
        .with_protocol_name(Some(s(&joined.protocol)))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(&m))
                        .with_assignment(Bytes::from(a.encode()))
                })
                .collect(),
        );
    let timeout = settings.rebalance_timeout + Duration::from_secs(5);
    let r = conn.call(&req, SYNC_GROUP_VERSION, timeout).await?;
    if r.error_code != codes::NONE {
        return Ok(Err(r.error_code));
    }
    Assignment::decode(&r.assignment)
        .map(Ok)
        .map_err(|e| DistributedError::Group(e.to_string()))
}

/// Sends one heartbeat and waits at most `limit` (and never longer than the session or 10 s)
/// for the answer; returns the error code (0: still a member of this generation).
pub async fn heartbeat(
    conn: &mut Connection,
    settings: &MemberSettings,
    generation: i32,
    member_id: &str,
    limit: Duration,
) -> Result<i16, DistributedError> {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(&settings.group_id)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_group_instance_id(settings.instance_id.as_deref().map(s));
    let timeout = settings
        .session_timeout
        .min(Duration::from_secs(10))
        .min(limit)
        .max(Duration::from_millis(1));
    Ok(conn
        .call(&req, HEARTBEAT_VERSION, timeout)
        .await?
        .error_code)
}

/// Leaves the group so the others rebalance at once (dynamic members only: a static member
/// keeps its place until the session times out, so a restart gets its work back).
pub async fn leave(
    conn: &mut Connection,
    settings: &MemberSettings,
    member_id: &str,
) -> Result<(), DistributedError> {
    if settings.instance_id.is_some() {
        return Ok(());
    }
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(&settings.group_id)))
        .with_members(vec![
            MemberIdentity::default()
                .with_member_id(s(member_id))
                .with_reason(Some(s("the worker is shutting down"))),
        ]);
    conn.call(&req, LEAVE_GROUP_VERSION, Duration::from_secs(5))
        .await
        .map(|_| ())
}

/// Removes this worker's previous incarnation (same `group.instance.id`) from the group before a
/// restarted static member joins. Otherwise the coordinator hands the restarted worker the
/// assignment stored for it without a rebalance, and Connect's assignments are increments: it
/// would get back only what its last rebalance added, and the rest of its work would run
/// nowhere. Removing it starts a real rebalance, in which the leader gives the worker its own
/// work back. Nothing to do for dynamic members or a first start.
pub async fn forget_previous_incarnation(
    conn: &mut Connection,
    settings: &MemberSettings,
) -> Result<(), DistributedError> {
    let Some(instance) = settings.instance_id.as_deref() else {
        return Ok(());
    };
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(&settings.group_id)))
        .with_members(vec![
            MemberIdentity::default()
                .with_member_id(s(""))
                .with_group_instance_id(Some(s(instance)))
                .with_reason(Some(s("the worker restarted"))),
        ]);
    let r = conn
        .call(&req, LEAVE_GROUP_VERSION, Duration::from_secs(10))
        .await?;
    // No such member or no such group yet (a first start): nothing to forget.
    let refused = std::iter::once(r.error_code)
        .chain(r.members.iter().map(|m| m.error_code))
        .find(|code| !removed_or_gone(*code));
    match refused {
        None => Ok(()),
        Some(code) => Err(DistributedError::Group(format!(
            "removing the previous member with group.instance.id '{instance}' failed: {}",
            named(code)
        ))),
    }
}

/// Whether a LeaveGroup answer (the request's, or one member's) means the member is out:
/// removed now, or not in the group, or no such group.
pub fn removed_or_gone(code: i16) -> bool {
    matches!(
        code,
        codes::NONE | codes::UNKNOWN_MEMBER_ID | codes::GROUP_ID_NOT_FOUND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_or_group_that_is_gone_already_counts_as_removed() {
        assert!(removed_or_gone(codes::NONE));
        assert!(removed_or_gone(codes::UNKNOWN_MEMBER_ID));
        assert!(removed_or_gone(codes::GROUP_ID_NOT_FOUND));
        assert!(!removed_or_gone(codes::NOT_COORDINATOR));
        assert!(!removed_or_gone(codes::REBALANCE_IN_PROGRESS));
    }

    #[test]
    fn error_codes_are_named_for_users() {
        assert_eq!(named(82), "FencedInstanceId (82)");
        assert_eq!(named(-2), "error -2");
        assert_eq!(
            member_error(82),
            "FencedInstanceId (82) (another worker uses the same group.instance.id)"
        );
    }

    #[test]
    fn an_ipv6_broker_is_bracketed() {
        assert_eq!(broker_addr("kafka-0.kafka", 9092), "kafka-0.kafka:9092");
        assert_eq!(broker_addr("::1", 9092), "[::1]:9092");
    }

    #[test]
    fn bootstrap_servers_lose_their_protocol_and_blanks() {
        assert_eq!(
            bootstrap_addrs(" SASL_SSL://a:9093, b:9092 ,,PLAINTEXT://[::1]:9092"),
            ["a:9093", "b:9092", "[::1]:9092"]
        );
        assert!(bootstrap_addrs("").is_empty());
    }
}
