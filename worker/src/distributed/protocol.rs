//! Connect's group protocol payloads (`IncrementalCooperativeConnectProtocol`, versions 1
//! `compatible` and 2 `sessioned`): the member metadata sent in JoinGroup and the assignment
//! sent in SyncGroup, in Kafka's big-endian struct encoding. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

/// The task id that stands for the connector instance itself.
pub const CONNECTOR_TASK: i32 = -1;

/// The protocols offered in JoinGroup, most preferred first, with their versions.
pub const PROTOCOLS: [(&str, i16); 2] = [("sessioned", 2), ("compatible", 1)];

/// Connectors and their task ids (`-1`: the connector instance).
pub type Allocation = BTreeMap<String, BTreeSet<i32>>;

/// What a member tells the leader when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub version: i16,
    /// The member's advertised REST URL.
    pub url: String,
    /// The config topic offset the member has read up to.
    pub config_offset: i64,
    /// What the member runs now (incremental cooperative rebalancing keeps it there).
    pub owned: Option<Assignment>,
}

/// What the leader gives a member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    pub version: i16,
    /// 0: fine; 1: the leader's config offset is behind a member's.
    pub error: i16,
    pub leader: String,
    pub leader_url: String,
    pub config_offset: i64,
    pub assigned: Allocation,
    pub revoked: Allocation,
    /// Milliseconds until the leader rebalances again (work held for a departed member).
    pub delay: i32,
}

/// A payload that is not a Connect protocol message.
#[derive(Debug, thiserror::Error)]
#[error("malformed Connect protocol message: {0}")]
pub struct ProtocolError(String);

struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: &str) {
        let len = s.len().min(i16::MAX as usize);
        self.i16(len as i16);
        self.0.extend_from_slice(&s.as_bytes()[..len]);
    }
    fn bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.i32(-1),
            Some(b) => {
                self.i32(b.len() as i32);
                self.0.extend_from_slice(b);
            }
        }
    }
    fn allocation(&mut self, a: &Allocation) {
        self.i32(a.len() as i32);
        for (connector, tasks) in a {
            self.string(connector);
            self.i32(tasks.len() as i32);
            for t in tasks {
                self.i32(*t);
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProtocolError> {
        if self.0.len() < n {
            return Err(ProtocolError(format!(
                "needed {n} more bytes, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, ProtocolError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, ProtocolError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, ProtocolError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn string(&mut self) -> Result<String, ProtocolError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| ProtocolError("negative length".into()))?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|e| ProtocolError(e.to_string()))
    }
    fn bytes(&mut self) -> Result<Option<Vec<u8>>, ProtocolError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(len as usize)?.to_vec()))
    }
    /// A nullable array of connector assignments; a missing trailing field reads as empty.
    fn allocation(&mut self) -> Result<Allocation, ProtocolError> {
        if self.0.is_empty() {
            return Ok(Allocation::new());
        }
        let n = self.i32()?;
        let mut a = Allocation::new();
        for _ in 0..n.max(0) {
            let connector = self.string()?;
            let count = self.i32()?;
            let mut tasks = BTreeSet::new();
            for _ in 0..count.max(0) {
                tasks.insert(self.i32()?);
            }
            a.insert(connector, tasks);
        }
        Ok(a)
    }
}

impl Assignment {
    /// Serialises the assignment with its version header.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.i16(self.version);
        w.i16(self.error);
        w.string(&self.leader);
        w.string(&self.leader_url);
        w.i64(self.config_offset);
        w.allocation(&self.assigned);
        w.allocation(&self.revoked);
        w.i32(self.delay);
        w.0
    }

    /// Parses an assignment written by a Skiff or Apache Connect leader.
    pub fn decode(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        let error = r.i16()?;
        let leader = r.string()?;
        let leader_url = r.string()?;
        let config_offset = r.i64()?;
        let assigned = r.allocation()?;
        let revoked = if version >= 1 {
            r.allocation()?
        } else {
            Allocation::new()
        };
        let delay = if version >= 1 && !r.0.is_empty() {
            r.i32()?
        } else {
            0
        };
        Ok(Assignment {
            version,
            error,
            leader,
            leader_url,
            config_offset,
            assigned,
            revoked,
            delay,
        })
    }
}

impl MemberMetadata {
    /// Serialises the metadata with its version header.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.i16(self.version);
        w.string(&self.url);
        w.i64(self.config_offset);
        if self.version >= 1 {
            let owned = self.owned.as_ref().map(Assignment::encode);
            w.bytes(owned.as_deref());
        }
        w.0
    }

    /// Parses a member's metadata (any Connect protocol version).
    pub fn decode(bytes: &[u8]) -> Result<MemberMetadata, ProtocolError> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        let url = r.string()?;
        let config_offset = r.i64()?;
        let owned = if version >= 1 && !r.0.is_empty() {
            match r.bytes()? {
                Some(b) => Some(Assignment::decode(&b)?),
                None => None,
            }
        } else {
            None
        };
        Ok(MemberMetadata {
            version,
            url,
            config_offset,
            owned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_layout_matches_connect() {
        let m = MemberMetadata {
            version: 2,
            url: "http://a:1/".into(),
            config_offset: 7,
            owned: None,
        };
        let mut expected = vec![0, 2, 0, 11];
        expected.extend_from_slice(b"http://a:1/");
        expected.extend_from_slice(&7i64.to_be_bytes());
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(m.encode(), expected);
        assert_eq!(MemberMetadata::decode(&expected).unwrap(), m);
    }

    #[test]
    fn assignment_round_trips_inside_metadata() {
        let a = Assignment {
            version: 2,
            error: 0,
            leader: "m-1".into(),
            leader_url: "http://a:1/".into(),
            config_offset: 9,
            assigned: [("c".to_string(), [-1, 0, 2].into())].into(),
            revoked: [("d".to_string(), [1].into())].into(),
            delay: 0,
        };
        let bytes = a.encode();
        // version, error, leader, url, offset, one connector "c" with 3 tasks...
        assert_eq!(&bytes[..4], &[0, 2, 0, 0]);
        assert_eq!(Assignment::decode(&bytes).unwrap(), a);
        let m = MemberMetadata {
            version: 1,
            url: "u".into(),
            config_offset: 9,
            owned: Some(a),
        };
        assert_eq!(MemberMetadata::decode(&m.encode()).unwrap(), m);
        assert!(Assignment::decode(&[0, 1, 0]).is_err());
    }
}
