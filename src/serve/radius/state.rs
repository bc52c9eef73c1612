//! What the RADIUS listener remembers between packets: the challenges waiting for their
//! code, and the answers to recent requests (for retransmissions). Both are bounded in
//! number and in time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::core::PasswordProof;

/// How long a challenge waits for its code.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(120);
/// Challenges waiting at once, for all clients.
pub const MAX_CHALLENGES: usize = 10_000;
/// How long an answer is kept for a retransmission of its request (FreeRADIUS keeps
/// its answers 5 s: `cleanup_delay`).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(5);
/// Requests remembered at once (in flight, or answered within the window).
pub const MAX_RECENT: usize = 65_536;

/// A password checked, waiting for its code.
pub struct Challenge {
    pub client: String,
    pub source: IpAddr,
    /// The User-Name as sent in the first request; the second must send the same.
    pub user_name: String,
    pub proof: PasswordProof,
    pub expires: Instant,
}

/// State attribute → the challenge it names. Each is taken once.
#[derive(Default)]
pub struct Challenges {
    open: HashMap<[u8; 16], Challenge>,
}

/// Too many challenges are waiting: the request is refused rather than remembered.
#[derive(Debug)]
pub struct Full;

impl Challenges {
    /// Opens a challenge under a fresh random State.
    pub fn open(&mut self, c: Challenge, now: Instant) -> Result<[u8; 16], Full> {
        if self.open.len() >= MAX_CHALLENGES {
            self.open.retain(|_, c| c.expires > now);
            if self.open.len() >= MAX_CHALLENGES {
                return Err(Full);
            }
        }
        let mut state = [0u8; 16];
        // 128 bits from the OS CSPRNG: a State cannot be guessed.
        crate::random::fill(&mut state).map_err(|_| Full)?;
        self.open.insert(state, c);
        Ok(state)
    }

    /// Takes the challenge `state` names, if it is still open, for this client, source
    /// and user. A State that does not fit is used up all the same.
    pub fn take(
        &mut self,
        state: &[u8],
        client: &str,
        source: IpAddr,
        user_name: &str,
        now: Instant,
    ) -> Option<PasswordProof> {
        let key: [u8; 16] = state.try_into().ok()?;
        let c = self.open.remove(&key)?;
        (c.expires > now && c.client == client && c.source == source && c.user_name == user_name)
            .then_some(c.proof)
    }
}

/// A request, as a retransmission of it looks: same source, Identifier and Request
/// Authenticator.
pub type RequestKey = (SocketAddr, u8, [u8; 16]);

enum Recent {
    InFlight,
    Answered { bytes: Vec<u8>, at: Instant },
}

/// What to do with a request that just arrived.
pub enum Seen {
    /// New: decide it.
    New,
    /// A retransmission of one still being decided: its answer will come.
    InFlight,
    /// A retransmission of one answered: send this again.
    Answered(Vec<u8>),
    /// Too many requests in flight to remember another.
    Full,
}

#[derive(Default)]
pub struct Duplicates {
    recent: HashMap<RequestKey, Recent>,
    last_purge: Option<Instant>,
}

impl Duplicates {
    pub fn arrive(&mut self, key: RequestKey, now: Instant) -> Seen {
        if self
            .last_purge
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
            || self.recent.len() >= MAX_RECENT
        {
            self.purge(now);
        }
        match self.recent.get(&key) {
            Some(Recent::InFlight) => return Seen::InFlight,
            Some(Recent::Answered { bytes, at }) if now.duration_since(*at) < DUPLICATE_WINDOW => {
                return Seen::Answered(bytes.clone());
            }
            _ => {}
        }
        if self.recent.len() >= MAX_RECENT {
            return Seen::Full;
        }
        self.recent.insert(key, Recent::InFlight);
        Seen::New
    }

    pub fn answered(&mut self, key: RequestKey, bytes: Vec<u8>, now: Instant) {
        self.recent.insert(key, Recent::Answered { bytes, at: now });
    }

    /// Not answered (the service could not decide): a retransmission is tried afresh.
    pub fn forget(&mut self, key: &RequestKey) {
        self.recent.remove(key);
    }

    fn purge(&mut self, now: Instant) {
        self.last_purge = Some(now);
        self.recent.retain(|_, r| match r {
            Recent::InFlight => true,
            Recent::Answered { at, .. } => now.duration_since(*at) < DUPLICATE_WINDOW,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn challenge(user: &str, expires: Instant) -> Challenge {
        Challenge {
            client: "vpn".into(),
            source: "192.0.2.1".parse().unwrap(),
            user_name: user.into(),
            proof: PasswordProof::for_tests(user),
            expires,
        }
    }

    #[test]
    fn a_challenge_is_taken_once_before_it_expires_by_its_client_and_user_only() {
        let mut c = Challenges::default();
        let t = Instant::now();
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let s = c
            .open(challenge("alice", t + CHALLENGE_LIFETIME), t)
            .unwrap();
        assert!(c.take(&s, "vpn", src, "alice", t).is_some());
        assert!(c.take(&s, "vpn", src, "alice", t).is_none(), "single use");
        let s = c
            .open(challenge("alice", t + CHALLENGE_LIFETIME), t)
            .unwrap();
        assert!(
            c.take(&s, "vpn", src, "alice", t + CHALLENGE_LIFETIME)
                .is_none(),
            "expired"
        );
        let s = c
            .open(challenge("alice", t + CHALLENGE_LIFETIME), t)
            .unwrap();
        assert!(
            c.take(&s, "other", src, "alice", t).is_none(),
            "another client"
        );
        assert!(
            c.take(&s, "vpn", src, "alice", t).is_none(),
            "used up by the miss"
        );
        let s = c
            .open(challenge("alice", t + CHALLENGE_LIFETIME), t)
            .unwrap();
        assert!(c.take(&s, "vpn", src, "bob", t).is_none(), "another user");
        let s = c
            .open(challenge("alice", t + CHALLENGE_LIFETIME), t)
            .unwrap();
        let elsewhere: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(
            c.take(&s, "vpn", elsewhere, "alice", t).is_none(),
            "another source"
        );
        assert!(
            c.take(&[1, 2, 3], "vpn", src, "alice", t).is_none(),
            "not a State"
        );
    }

    #[test]
    fn challenges_are_bounded_and_expired_ones_make_room() {
        let mut c = Challenges::default();
        let t = Instant::now();
        let mut states = std::collections::HashSet::new();
        for _ in 0..MAX_CHALLENGES {
            let s = c
                .open(challenge("alice", t + Duration::from_secs(1)), t)
                .unwrap();
            assert!(states.insert(s), "every State is new");
        }
        assert!(
            c.open(challenge("alice", t + CHALLENGE_LIFETIME), t)
                .is_err()
        );
        let later = t + Duration::from_secs(2);
        assert!(
            c.open(challenge("alice", later + CHALLENGE_LIFETIME), later)
                .is_ok()
        );
    }

    #[test]
    fn a_retransmission_gets_the_same_answer_within_the_window_only() {
        let mut d = Duplicates::default();
        let t = Instant::now();
        let key: RequestKey = ("127.0.0.1:5000".parse().unwrap(), 7, [1; 16]);
        assert!(matches!(d.arrive(key, t), Seen::New));
        assert!(matches!(d.arrive(key, t), Seen::InFlight));
        d.answered(key, vec![2, 7], t);
        match d.arrive(key, t + Duration::from_secs(1)) {
            Seen::Answered(b) => assert_eq!(b, vec![2, 7]),
            _ => panic!("a retransmission is answered again"),
        }
        let other: RequestKey = ("127.0.0.1:5001".parse().unwrap(), 7, [1; 16]);
        assert!(
            matches!(d.arrive(other, t), Seen::New),
            "another source port"
        );
        assert!(matches!(
            d.arrive(key, t + DUPLICATE_WINDOW + Duration::from_secs(1)),
            Seen::New
        ));
    }
}
