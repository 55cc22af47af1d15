//! Token issue/validate cost: `cargo bench -p neutrino-identity`. Validation is on every
//! API request's path, so it must stay far below 0.1 ms and never touch the store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_identity::password::HashPool;
use neutrino_identity::{Claims, KeyRepository, RevocationEvent, RoleRef, TokenSigner};
use std::time::Instant;

fn main() {
    let dir = std::env::temp_dir().join(format!("neutrino-token-bench-{}", std::process::id()));
    let keys = match KeyRepository::open_or_create(&dir) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cannot create keys: {e}");
            std::process::exit(1);
        }
    };
    let revoked: Vec<String> = (0..10_000).map(|i| format!("revoked-{i}")).collect();
    let signer = TokenSigner::new(keys, revoked);
    let claims = Claims {
        user_id: "0f6b8a7e1f6b4d0c9d1f2a3b4c5d6e7f".into(),
        user_name: "demo".into(),
        user_domain_id: "default".into(),
        user_domain_name: "Default".into(),
        project_id: Some("5a4b3c2d1e0f4a5b6c7d8e9f0a1b2c3d".into()),
        project_name: Some("demo".into()),
        project_domain_id: Some("default".into()),
        project_domain_name: Some("Default".into()),
        roles: vec![
            RoleRef { id: "r-member".into(), name: "member".into() },
            RoleRef { id: "r-reader".into(), name: "reader".into() },
        ],
        methods: vec!["password".into()],
        issued_at: 1_700_000_000,
        expires_at: i64::MAX,
        audit_id: "aud-1".into(),
        ..Claims::default()
    };
    let n = 200_000;
    let t0 = Instant::now();
    let mut token = String::new();
    for _ in 0..n {
        token = signer.issue(&claims).unwrap_or_default();
    }
    let issue = t0.elapsed().as_secs_f64() / f64::from(n) * 1e6;
    let t0 = Instant::now();
    let mut ok = 0u32;
    for _ in 0..n {
        ok += u32::from(signer.validate(&token, 1_700_000_100).is_ok());
    }
    let validate = t0.elapsed().as_secs_f64() / f64::from(n) * 1e6;
    assert_eq!(ok, n, "every validation succeeds");
    println!("token length {} bytes", token.len());
    println!("issue:    {issue:.2} µs/token");
    println!("validate: {validate:.2} µs/token (10,000 revoked audit ids in memory)");
    // 10,000 revocation events: other users and projects, plus this user's on another
    // project and for a role the token does not carry (matched field by field).
    let mut events: Vec<RevocationEvent> = (0..10_000)
        .map(|i| RevocationEvent {
            user_id: (i % 2 == 0).then(|| format!("user-{i}")),
            project_id: Some(format!("project-{i}")),
            role_id: (i % 3 == 0).then(|| "r-member".to_string()),
            app_cred_id: None,
            issued_before_us: 1_800_000_000_000_000,
            prune_after: i64::MAX,
        })
        .collect();
    for (project, role) in [(Some("other-project"), None), (Some("5a4b3c2d1e0f4a5b6c7d8e9f0a1b2c3d"), Some("r-admin"))]
    {
        events.push(RevocationEvent {
            user_id: Some(claims.user_id.clone()),
            project_id: project.map(str::to_string),
            role_id: role.map(str::to_string),
            app_cred_id: None,
            issued_before_us: 1_800_000_000_000_000,
            prune_after: i64::MAX,
        });
    }
    signer.add_revocations(&events, 1_700_000_100);
    let t0 = Instant::now();
    let mut ok = 0u32;
    for _ in 0..n {
        ok += u32::from(signer.validate(&token, 1_700_000_100).is_ok());
    }
    let with_events = t0.elapsed().as_secs_f64() / f64::from(n) * 1e6;
    assert_eq!(ok, n, "no event matches this token");
    println!("validate: {with_events:.2} µs/token (and 10,002 revocation events)");
    // A failed login costs the same for a known user (real hash) and an unknown one (dummy).
    let pool = HashPool::new(1);
    let stored = pool.hash("correct horse").unwrap_or_default();
    pool.verify_dummy("warm-up");
    let rounds = 20;
    let t0 = Instant::now();
    for _ in 0..rounds {
        assert!(!pool.verify("wrong", &stored));
    }
    let known = t0.elapsed().as_secs_f64() / f64::from(rounds) * 1e3;
    let t0 = Instant::now();
    for _ in 0..rounds {
        pool.verify_dummy("wrong");
    }
    let unknown = t0.elapsed().as_secs_f64() / f64::from(rounds) * 1e3;
    println!("password check: known user {known:.1} ms, unknown user (dummy hash) {unknown:.1} ms");
    let _ = std::fs::remove_dir_all(&dir);
}
