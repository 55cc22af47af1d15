//! Revocation events as Keystone records them (keystone/revoke): an event names a user, a
//! project and/or a role, and every token issued before it whose claims match all the named
//! fields is revoked. Deleting a user or changing its password names the user; removing a
//! role assignment names user, project and role; deleting or disabling a project names the
//! project; deleting an application credential names it.
//!
//! The index is in memory and keyed by user and by project, so checking a token costs two
//! hash lookups however many events exist; an event is dropped once every token it could
//! match has expired.

use crate::token::Claims;
use std::collections::{HashMap, HashSet};

/// One revocation event. Times: `issued_before_us` in Unix microseconds (tokens issued at or
/// before it match), `prune_after` in Unix seconds (no token it matches outlives it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEvent {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub role_id: Option<String>,
    /// Tokens issued with this application credential.
    pub app_cred_id: Option<String>,
    pub issued_before_us: i64,
    pub prune_after: i64,
}

impl RevocationEvent {
    /// Whether the event revokes a token with these claims, issued at `issued_at_us`.
    pub fn matches(&self, claims: &Claims, issued_at_us: i64) -> bool {
        issued_at_us <= self.issued_before_us
            && self.user_id.as_ref().is_none_or(|u| *u == claims.user_id)
            && self.project_id.as_ref().is_none_or(|p| claims.project_id.as_ref() == Some(p))
            && self.role_id.as_ref().is_none_or(|r| claims.roles.iter().any(|role| role.id == *r))
            && self.app_cred_id.as_ref().is_none_or(|a| claims.app_cred.as_ref().is_some_and(|c| c.id == *a))
    }
}

/// What narrows an event beyond its index key: (project, role) under a user, role under a
/// project. A newer event with the same key replaces the older one (it revokes more).
type Narrowing = (Option<String>, Option<String>);

#[derive(Debug, Clone, Copy)]
struct Window {
    issued_before_us: i64,
    prune_after: i64,
}

/// The in-memory revocation state: revoked tokens by audit id, and events.
#[derive(Debug, Default)]
pub struct Revocations {
    /// Revoked audit ids with the expiry of their token.
    audit_ids: HashMap<String, i64>,
    by_user: HashMap<String, HashMap<Narrowing, Window>>,
    by_project: HashMap<String, HashMap<Option<String>, Window>>,
    by_app_cred: HashMap<String, Window>,
}

impl Revocations {
    /// Revoked audit ids (no expiry known: kept until [`Revocations::prune`] is given one).
    pub fn from_audit_ids(ids: impl IntoIterator<Item = String>) -> Self {
        Self { audit_ids: ids.into_iter().map(|id| (id, i64::MAX)).collect(), ..Self::default() }
    }

    /// Revokes one token by audit id until `expires_at`.
    pub fn revoke_audit_id(&mut self, audit_id: &str, expires_at: i64) {
        self.audit_ids.insert(audit_id.to_string(), expires_at);
    }

    /// Adds an event (events naming no user, project or application credential are
    /// ignored: none is made). An application credential event names only the credential.
    pub fn add(&mut self, event: &RevocationEvent) {
        let window = Window { issued_before_us: event.issued_before_us, prune_after: event.prune_after };
        let merge = |slot: &mut Window| {
            slot.issued_before_us = slot.issued_before_us.max(window.issued_before_us);
            slot.prune_after = slot.prune_after.max(window.prune_after);
        };
        if let Some(cred) = &event.app_cred_id {
            self.by_app_cred.entry(cred.clone()).and_modify(merge).or_insert(window);
        } else if let Some(user) = &event.user_id {
            let key = (event.project_id.clone(), event.role_id.clone());
            self.by_user.entry(user.clone()).or_default().entry(key).and_modify(merge).or_insert(window);
        } else if let Some(project) = &event.project_id {
            self.by_project
                .entry(project.clone())
                .or_default()
                .entry(event.role_id.clone())
                .and_modify(merge)
                .or_insert(window);
        }
    }

    /// Whether a token with these claims, issued at `issued_at_us`, is revoked.
    pub fn is_revoked(&self, claims: &Claims, issued_at_us: i64) -> bool {
        if self.audit_ids.contains_key(&claims.audit_id) {
            return true;
        }
        let has_role = |role: &Option<String>| role.as_ref().is_none_or(|r| claims.roles.iter().any(|x| x.id == *r));
        let by_cred = claims.app_cred.as_ref().and_then(|c| self.by_app_cred.get(&c.id));
        if by_cred.is_some_and(|w| issued_at_us <= w.issued_before_us) {
            return true;
        }
        if let Some(events) = self.by_user.get(&claims.user_id) {
            let hit = events.iter().any(|((project, role), w)| {
                issued_at_us <= w.issued_before_us
                    && project.as_ref().is_none_or(|p| claims.project_id.as_ref() == Some(p))
                    && has_role(role)
            });
            if hit {
                return true;
            }
        }
        if let Some(events) = claims.project_id.as_ref().and_then(|p| self.by_project.get(p)) {
            return events.iter().any(|(role, w)| issued_at_us <= w.issued_before_us && has_role(role));
        }
        false
    }

    /// Drops what no unexpired token can match any more (at Unix second `now`).
    pub fn prune(&mut self, now: i64) {
        self.audit_ids.retain(|_, expires| *expires > now);
        self.by_user.retain(|_, events| {
            events.retain(|_, w| w.prune_after > now);
            !events.is_empty()
        });
        self.by_project.retain(|_, events| {
            events.retain(|_, w| w.prune_after > now);
            !events.is_empty()
        });
        self.by_app_cred.retain(|_, w| w.prune_after > now);
    }

    /// How many audit ids and events are held (for tests and logs).
    pub fn len(&self) -> usize {
        self.audit_ids.len()
            + self.by_user.values().map(HashMap::len).sum::<usize>()
            + self.by_project.values().map(HashMap::len).sum::<usize>()
            + self.by_app_cred.len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The audit ids held (for merging a reload).
    pub fn audit_ids(&self) -> HashSet<&str> {
        self.audit_ids.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::RoleRef;

    fn claims(user: &str, project: &str, roles: &[&str]) -> Claims {
        Claims {
            user_id: user.into(),
            user_name: user.into(),
            user_domain_id: "default".into(),
            user_domain_name: "Default".into(),
            project_id: Some(project.into()),
            project_name: Some(project.into()),
            project_domain_id: Some("default".into()),
            project_domain_name: Some("Default".into()),
            roles: roles.iter().map(|r| RoleRef { id: (*r).into(), name: (*r).into() }).collect(),
            methods: vec!["password".into()],
            issued_at: 100,
            expires_at: 200,
            audit_id: format!("audit-{user}-{project}"),
            ..Claims::default()
        }
    }

    fn event(user: Option<&str>, project: Option<&str>, role: Option<&str>, before: i64) -> RevocationEvent {
        RevocationEvent {
            user_id: user.map(Into::into),
            project_id: project.map(Into::into),
            role_id: role.map(Into::into),
            app_cred_id: None,
            issued_before_us: before,
            prune_after: 300,
        }
    }

    #[test]
    fn events_match_every_named_field_and_only_older_tokens() {
        let mut r = Revocations::default();
        let alice_p1 = claims("alice", "p1", &["member"]);
        let alice_p2 = claims("alice", "p2", &["member"]);
        let bob_p1 = claims("bob", "p1", &["member", "reader"]);
        r.add(&event(Some("alice"), Some("p1"), Some("member"), 1_000));
        assert!(r.is_revoked(&alice_p1, 1_000), "issued at the event: revoked");
        assert!(!r.is_revoked(&alice_p1, 1_001), "issued after: valid");
        assert!(!r.is_revoked(&alice_p2, 10), "other project");
        assert!(!r.is_revoked(&bob_p1, 10), "other user");
        let e = event(Some("alice"), Some("p1"), Some("member"), 1_000);
        assert!(e.matches(&alice_p1, 999) && !e.matches(&alice_p2, 999) && !e.matches(&alice_p1, 1_001));
        r.add(&event(None, Some("p1"), None, 2_000));
        assert!(r.is_revoked(&bob_p1, 2_000), "project event covers every user");
        assert!(!r.is_revoked(&alice_p2, 10));
        r.add(&event(Some("alice"), None, None, 3_000));
        assert!(r.is_revoked(&alice_p2, 2_500), "user event covers every project");
        r.add(&event(None, Some("p9"), Some("reader"), 5_000));
        let bob_p9 = claims("bob", "p9", &["reader"]);
        assert!(r.is_revoked(&bob_p9, 4_000));
        assert!(!r.is_revoked(&claims("bob", "p9", &["member"]), 4_000), "role not held");
    }

    #[test]
    fn application_credential_events_revoke_only_its_tokens() {
        let mut r = Revocations::default();
        let mut with_cred = claims("alice", "p1", &["member"]);
        with_cred.app_cred = Some(crate::AppCredRef { id: "c1".into(), name: "ci".into(), restricted: true });
        let plain = claims("alice", "p1", &["member"]);
        let e = RevocationEvent { app_cred_id: Some("c1".into()), ..event(None, None, None, 1_000) };
        r.add(&e);
        assert!(r.is_revoked(&with_cred, 1_000) && e.matches(&with_cred, 1_000));
        assert!(!r.is_revoked(&with_cred, 1_001), "issued after the deletion");
        assert!(!r.is_revoked(&plain, 10) && !e.matches(&plain, 10), "the user's other tokens stay");
        r.prune(301);
        assert!(r.is_empty());
    }

    #[test]
    fn newer_events_replace_older_ones_and_pruning_drops_expired() {
        let mut r = Revocations::from_audit_ids(["gone".to_string()]);
        r.add(&event(Some("alice"), None, None, 1_000));
        r.add(&event(Some("alice"), None, None, 2_000));
        assert_eq!(r.len(), 2, "one audit id and one merged event");
        assert!(r.is_revoked(&claims("alice", "p1", &[]), 1_500));
        r.revoke_audit_id("t2", 250);
        r.prune(260);
        assert_eq!(r.len(), 2, "audit ids without a known expiry and the event stay; t2 expired");
        r.prune(301);
        assert_eq!(r.len(), 1, "the event is past every token it could match");
        assert!(!r.is_revoked(&claims("alice", "p1", &[]), 1_500));
    }
}
