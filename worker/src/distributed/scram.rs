//! The client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), for the group
//! connection's SASL login; librdkafka does the same for the worker's other Kafka clients.
//! PBKDF2's `Hi` is the few lines RFC 5802 gives, on the `hmac` crate the worker already uses.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        let bad = |e| format!("HMAC key: {e}");
        Ok(match self {
            ScramHash::Sha256 => {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(bad)?;
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(key).map_err(bad)?;
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        })
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's `Hi`: PBKDF2 with this hash's HMAC and one block.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>, String> {
        let mut first = salt.to_vec();
        first.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(password, &first)?;
        let mut out = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password, &u)?;
            out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
        }
        Ok(out)
    }
}

/// One SCRAM exchange: client-first, then client-final from the server-first message, then a
/// check of the server's signature.
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    nonce: String,
    first_bare: String,
    server_signature: Option<Vec<u8>>,
}

/// Most iterations a server may ask for (Kafka's own limit), so the login cannot block the
/// runtime for long.
const MAX_ITERATIONS: u32 = 16_384;

impl ScramClient {
    /// Starts an exchange for `username` with a fresh random `nonce`.
    pub fn new(hash: ScramHash, username: &str, password: &str, nonce: String) -> Self {
        let name = username.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            hash,
            password: password.to_owned(),
            first_bare: format!("n={name},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    /// The client-first message.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// The client-final message answering `server_first`.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let field = |k: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(k))
                .ok_or_else(|| format!("the server's SCRAM message has no '{k}': {server_first}"))
        };
        let nonce = field("r=")?;
        if !nonce.starts_with(&self.nonce) {
            return Err("the server's SCRAM nonce does not extend ours".into());
        }
        let salt = B64
            .decode(field("s=")?)
            .map_err(|e| format!("the server's SCRAM salt is not base64: {e}"))?;
        let iterations: u32 = field("i=")?
            .parse()
            .ok()
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or("the server's SCRAM iteration count is not a sensible number")?;
        let salted = self.hash.hi(self.password.as_bytes(), &salt, iterations)?;
        let client_key = self.hash.hmac(&salted, b"Client Key")?;
        let stored_key = self.hash.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = self.hash.hmac(&salted, b"Server Key")?;
        self.server_signature = Some(self.hash.hmac(&server_key, auth_message.as_bytes())?);
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server-final message: an error from the server, or its signature.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("the broker refused the SCRAM login: {e}"));
        }
        let v = server_final
            .strip_prefix("v=")
            .and_then(|v| B64.decode(v.split(',').next().unwrap_or(v)).ok())
            .ok_or("the broker's SCRAM answer has no signature")?;
        if Some(v) == self.server_signature {
            Ok(())
        } else {
            Err(
                "the broker's SCRAM signature does not match: it does not know this password"
                    .into(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SCRAM-SHA-256 exchange of RFC 7677, section 3.
    #[test]
    fn rfc_7677_exchange() {
        let mut c = ScramClient::new(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            c.client_final(server_first).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(())
        );
        assert!(
            c.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .is_err()
        );
        assert!(
            c.verify_server_final("e=invalid-proof")
                .unwrap_err()
                .contains("invalid-proof")
        );
    }

    #[test]
    fn names_are_escaped_and_bad_server_messages_refused() {
        let mut c = ScramClient::new(ScramHash::Sha512, "a=b,c", "pw", "abc".into());
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        assert!(
            c.client_final("r=zzz,s=AAAA,i=4096").is_err(),
            "foreign nonce"
        );
        assert!(
            c.client_final("r=abcd,s=AAAA,i=0").is_err(),
            "zero iterations"
        );
        assert!(c.client_final("r=abcd,i=4096").is_err(), "no salt");
        let last = c.client_final("r=abcd,s=AAAA,i=4096").unwrap();
        assert!(last.starts_with("c=biws,r=abcd,p="), "{last}");
    }
}
