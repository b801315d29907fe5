//! The conformance suite: what every backend must do, written once. The crate's tests run it
//! against files, PostgreSQL and Redis (sessions), and files and S3 (artifacts). Each function
//! uses tenants of its own, so runs against one shared database do not interfere.
//!
//! It panics on the first broken expectation, like a test.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::artifact::{ArtifactStore, bytes_body};
use crate::error::StoreError;
use crate::ids::{SessionId, Tenant};
use crate::memory::{MemoryStore, Scope};
use crate::session::{NewSession, Page, SessionStore, all_events};

/// Two fresh tenants.
fn two_tenants() -> (Tenant, Tenant) {
    let run = uuid::Uuid::now_v7().simple().to_string();
    (
        Tenant::new(format!("a{run}")).expect("tenant"),
        Tenant::new(format!("b{run}")).expect("tenant"),
    )
}

fn new(agent: &str) -> NewSession {
    NewSession {
        agent: agent.into(),
        ..NewSession::default()
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

/// Sessions: create, get, list, delete, append with optimistic concurrency, read from a number.
pub async fn sessions(store: Arc<dyn SessionStore>) {
    let (a, b) = two_tenants();
    store.ping().await.expect("ping");

    // create and get
    let first = store
        .create(
            &a,
            NewSession {
                agent: "writer".into(),
                id: None,
                metadata: json!({"title": "first"}),
            },
        )
        .await
        .expect("create");
    assert_eq!(first.last_seq, 0);
    assert_eq!(first.agent, "writer");
    let got = store.get(&a, &first.id).await.expect("get");
    assert_eq!(got.id, first.id);
    assert_eq!(got.metadata, json!({"title": "first"}));
    assert_eq!(got.created_at, first.created_at);
    assert!(
        is_not_found(store.get(&b, &first.id).await),
        "another tenant must not see the session"
    );
    let chosen = SessionId::new("chosen-id").unwrap();
    store
        .create(
            &a,
            NewSession {
                agent: "writer".into(),
                id: Some(chosen.clone()),
                metadata: Value::Null,
            },
        )
        .await
        .expect("create with an id");
    let again = store
        .create(
            &a,
            NewSession {
                agent: "writer".into(),
                id: Some(chosen.clone()),
                metadata: Value::Null,
            },
        )
        .await;
    assert!(matches!(again, Err(StoreError::Invalid(_))), "{again:?}");
    store.delete(&a, &chosen).await.expect("delete chosen");

    // list: newest first, by agent, paginated, per tenant
    let mut made = vec![first.id.clone()];
    for agent in ["writer", "reader", "writer", "writer"] {
        made.push(store.create(&a, new(agent)).await.expect("create").id);
    }
    store.create(&b, new("writer")).await.expect("create b");
    let all = store.list(&a, None, &Page::first(100)).await.expect("list");
    let ids: Vec<_> = all.items.iter().map(|s| s.id.clone()).collect();
    let mut newest_first = made.clone();
    newest_first.reverse();
    assert_eq!(
        ids, newest_first,
        "all of the tenant's sessions, newest first"
    );
    assert_eq!(all.next, None);
    let writers = store
        .list(&a, Some("writer"), &Page::first(2))
        .await
        .expect("list writers");
    assert_eq!(writers.items.len(), 2);
    assert_eq!(writers.items[0].id, made[4]);
    assert_eq!(writers.items[1].id, made[3]);
    let cursor = writers.next.clone().expect("a second page");
    let rest = store
        .list(
            &a,
            Some("writer"),
            &Page {
                limit: 2,
                cursor: Some(cursor),
            },
        )
        .await
        .expect("second page");
    let rest_ids: Vec<_> = rest.items.iter().map(|s| s.id.clone()).collect();
    assert_eq!(rest_ids, vec![made[1].clone(), made[0].clone()]);
    assert_eq!(rest.next, None);
    let in_b = store
        .list(&b, None, &Page::first(10))
        .await
        .expect("list b");
    assert_eq!(in_b.items.len(), 1);

    // append with optimistic concurrency, read from a number
    let s = &first.id;
    let big = "x".repeat(100_000);
    let batch = vec![
        json!({"type": "run.started", "input": "héllo ✓ \n \"quoted\""}),
        json!({"type": "message.delta", "text": big}),
    ];
    assert_eq!(store.append(&a, s, 0, &batch).await.expect("append"), 2);
    match store.append(&a, s, 0, &[json!({"type": "late"})]).await {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (0, 2));
        }
        other => panic!("a stale append must conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .append(&a, s, 2, &[json!({"type": "run.completed", "n": 3})])
            .await
            .expect("append"),
        3
    );
    assert_eq!(store.append(&a, s, 3, &[]).await.expect("empty append"), 3);
    let events = store.events(&a, s, 0, 100).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(events[0].data, batch[0]);
    assert_eq!(events[1].data, batch[1]);
    assert_eq!(events[2].data, json!({"type": "run.completed", "n": 3}));
    let after = store.events(&a, s, 2, 100).await.expect("events after 2");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].seq, 3);
    let limited = store.events(&a, s, 0, 1).await.expect("events, limit 1");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].seq, 1);
    assert!(store.events(&a, s, 3, 10).await.expect("none").is_empty());
    let got = store.get(&a, s).await.expect("get");
    assert_eq!(got.last_seq, 3);
    assert!(got.updated_at >= got.created_at);
    assert!(is_not_found(store.append(&b, s, 3, &[json!({})]).await));
    assert!(is_not_found(store.events(&b, s, 0, 10).await));

    // concurrent writers: every event lands exactly once, numbers stay consecutive
    let shared = store.create(&a, new("writer")).await.expect("create").id;
    let mut tasks = Vec::new();
    for writer in 0..6 {
        let (store, a, shared) = (store.clone(), a.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for n in 0..8 {
                let event = json!({"writer": writer, "n": n});
                loop {
                    let last = store.get(&a, &shared).await.expect("get").last_seq;
                    match store
                        .append(&a, &shared, last, std::slice::from_ref(&event))
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("append failed: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let events = all_events(&*store, &a, &shared, 0).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=48).collect::<Vec<_>>()
    );
    let distinct: HashSet<String> = events.iter().map(|e| e.data.to_string()).collect();
    assert_eq!(distinct.len(), 48, "no event lost or written twice");
    for writer in 0..6 {
        let ns: Vec<u64> = events
            .iter()
            .filter(|e| e.data["writer"] == writer)
            .map(|e| e.data["n"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..8).collect::<Vec<_>>(),
            "each writer's events in order"
        );
    }

    // delete
    assert!(is_not_found(store.delete(&b, s).await));
    store.delete(&a, s).await.expect("delete");
    assert!(is_not_found(store.get(&a, s).await));
    assert!(is_not_found(store.events(&a, s, 0, 10).await));
    assert!(is_not_found(store.append(&a, s, 3, &[json!({})]).await));
    assert!(is_not_found(store.delete(&a, s).await));
    let left = store.list(&a, None, &Page::first(100)).await.expect("list");
    assert!(left.items.iter().all(|x| &x.id != s));
}

/// Memory: add, ranked search, list newest first, delete, per tenant and scope.
pub async fn memory(store: Arc<dyn MemoryStore>) {
    let (a, b) = two_tenants();
    let alice = Scope::new("user", "alice").unwrap();
    let bob = Scope::new("user", "bob").unwrap();
    let tea = store
        .add(
            &a,
            &alice,
            "Alice drinks green tea in the afternoon",
            json!({"source": "chat"}),
        )
        .await
        .expect("add");
    let coffee = store
        .add(
            &a,
            &alice,
            "Alice prefers coffee, black, no sugar; coffee every morning",
            Value::Null,
        )
        .await
        .expect("add");
    let deploy = store
        .add(
            &a,
            &alice,
            "Deployments go through the staging cluster first",
            Value::Null,
        )
        .await
        .expect("add");
    store
        .add(&a, &bob, "Bob prefers coffee with milk", Value::Null)
        .await
        .expect("add");
    store
        .add(
            &b,
            &alice,
            "Another tenant's Alice likes coffee",
            Value::Null,
        )
        .await
        .expect("add");
    assert_eq!(tea.metadata, json!({"source": "chat"}));
    assert!(matches!(
        store.add(&a, &alice, "  ", Value::Null).await,
        Err(StoreError::Invalid(_))
    ));

    let hits = store
        .search(&a, &alice, "coffee", 10)
        .await
        .expect("search");
    assert_eq!(
        hits.len(),
        1,
        "only this tenant's and scope's matches: {hits:?}"
    );
    assert_eq!(hits[0].entry.id, coffee.id);
    assert!(hits[0].score > 0.0);
    let hits = store
        .search(&a, &alice, "What does Alice drink: tea or coffee?", 10)
        .await
        .expect("search");
    let ids: HashSet<_> = hits.iter().map(|h| h.entry.id.clone()).collect();
    assert!(
        ids.contains(&tea.id) && ids.contains(&coffee.id),
        "{hits:?}"
    );
    assert!(!ids.contains(&deploy.id), "no shared term, no hit");
    let one = store
        .search(&a, &alice, "staging deployments", 1)
        .await
        .expect("search");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].entry.id, deploy.id);
    assert!(
        store
            .search(&a, &alice, "!!", 10)
            .await
            .expect("search")
            .is_empty()
    );
    assert!(
        store
            .search(&a, &alice, "zebra", 10)
            .await
            .expect("search")
            .is_empty()
    );

    let listed = store.list(&a, &alice, &Page::first(2)).await.expect("list");
    assert_eq!(
        listed.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
        vec![&deploy.id, &coffee.id]
    );
    let rest = store
        .list(
            &a,
            &alice,
            &Page {
                limit: 2,
                cursor: listed.next.clone(),
            },
        )
        .await
        .expect("list");
    assert_eq!(
        rest.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
        vec![&tea.id]
    );
    assert_eq!(rest.next, None);

    assert!(is_not_found(store.delete(&b, &coffee.id).await));
    store.delete(&a, &coffee.id).await.expect("delete");
    assert!(is_not_found(store.delete(&a, &coffee.id).await));
    let hits = store
        .search(&a, &alice, "coffee", 10)
        .await
        .expect("search");
    assert!(hits.is_empty(), "{hits:?}");
    let listed = store
        .list(&a, &alice, &Page::first(10))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 2);
}

/// Artifacts: versions, streaming, per-tenant limit, deletion. `artifacts` must allow at most
/// `limit` bytes per tenant, with `limit` at least 20 MiB.
pub async fn artifacts(sessions: Arc<dyn SessionStore>, artifacts: &ArtifactStore, limit: u64) {
    let (a, b) = two_tenants();
    let s = sessions
        .create(&a, new("writer"))
        .await
        .expect("session")
        .id;
    let other = sessions
        .create(&a, new("writer"))
        .await
        .expect("session")
        .id;

    let v1 = artifacts
        .save(&a, &s, "report.md", "text/markdown", bytes_body("# v1\n"))
        .await
        .expect("save v1");
    assert_eq!((v1.version, v1.size), (1, 5));
    let v2 = artifacts
        .save(
            &a,
            &s,
            "report.md",
            "text/markdown",
            bytes_body("# version two\n"),
        )
        .await
        .expect("save v2");
    assert_eq!(v2.version, 2);
    let (meta, bytes) = artifacts
        .read_all(&a, &s, "report.md", None)
        .await
        .expect("load");
    assert_eq!(
        (meta.version, bytes.as_slice()),
        (2, &b"# version two\n"[..])
    );
    assert_eq!(meta.content_type, "text/markdown");
    let (_, old) = artifacts
        .read_all(&a, &s, "report.md", Some(1))
        .await
        .expect("v1");
    assert_eq!(old, b"# v1\n");
    assert!(is_not_found(
        artifacts.read_all(&a, &s, "report.md", Some(3)).await
    ));
    assert!(is_not_found(
        artifacts.read_all(&a, &s, "missing", None).await
    ));
    assert!(is_not_found(
        artifacts.read_all(&a, &other, "report.md", None).await
    ));
    assert!(is_not_found(
        artifacts.read_all(&b, &s, "report.md", None).await
    ));
    assert!(is_not_found(artifacts.list(&b, &s).await));
    let versions = artifacts
        .versions(&a, &s, "report.md")
        .await
        .expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(matches!(
        artifacts
            .save(&a, &s, "../escape", "text/plain", bytes_body("x"))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(is_not_found(
        artifacts
            .save(&b, &s, "x.txt", "text/plain", bytes_body("x"))
            .await
    ));

    // A large body in many chunks: streamed through in parts, read back identical.
    let chunk = Bytes::from((0..64 * 1024).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let chunks = 12 * 16 + 7; // 12 MiB and a bit
    let body = futures::stream::iter((0..chunks).map({
        let chunk = chunk.clone();
        move |_| Ok(chunk.clone())
    }))
    .boxed();
    let big = artifacts
        .save(&a, &s, "data.bin", "application/octet-stream", body)
        .await
        .expect("save a large artifact");
    assert_eq!(big.size, chunk.len() as u64 * chunks);
    let (_, mut stream) = artifacts
        .load(&a, &s, "data.bin", None)
        .await
        .expect("load");
    let mut read = 0u64;
    while let Some(part) = stream.next().await {
        let part = part.expect("chunk");
        for (i, byte) in part.iter().enumerate() {
            let at = read + i as u64;
            assert_eq!(*byte, ((at % (64 * 1024)) % 251) as u8, "byte {at}");
        }
        read += part.len() as u64;
    }
    assert_eq!(read, big.size);

    let names: Vec<_> = artifacts
        .list(&a, &s)
        .await
        .expect("list")
        .into_iter()
        .map(|v| (v.name, v.version))
        .collect();
    assert_eq!(names, vec![("data.bin".into(), 1), ("report.md".into(), 2)]);

    // A body that fails midway keeps nothing.
    let used = artifacts.usage(&a).await.expect("usage");
    assert_eq!(used, 5 + 14 + big.size);
    let broken = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    assert!(
        artifacts
            .save(&a, &s, "broken", "text/plain", broken)
            .await
            .is_err()
    );
    assert!(is_not_found(
        artifacts.read_all(&a, &s, "broken", None).await
    ));

    // Over the tenant's limit: refused, nothing kept, the tenant's usage unchanged.
    let too_big = usize::try_from(limit - used + 1).unwrap();
    let refused = artifacts
        .save(
            &a,
            &s,
            "huge",
            "application/octet-stream",
            bytes_body(vec![0u8; too_big]),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::TooLarge { .. })),
        "{refused:?}"
    );
    assert!(is_not_found(artifacts.read_all(&a, &s, "huge", None).await));
    assert_eq!(artifacts.usage(&a).await.expect("usage"), used);
    // …while another tenant is not affected.
    let sb = sessions
        .create(&b, new("writer"))
        .await
        .expect("session")
        .id;
    artifacts
        .save(&b, &sb, "report.md", "text/plain", bytes_body("b's"))
        .await
        .expect("another tenant saves");

    artifacts.delete(&a, &s, "data.bin").await.expect("delete");
    assert!(is_not_found(
        artifacts.read_all(&a, &s, "data.bin", None).await
    ));
    assert!(is_not_found(artifacts.delete(&a, &s, "data.bin").await));
    assert_eq!(artifacts.usage(&a).await.expect("usage"), 19);
}

/// Tenants, keys (hashed, revocable) and deployed agents.
pub async fn tenants(store: Arc<dyn crate::tenants::TenantStore>) {
    use crate::tenants::{AgentFiles, key_hash, new_key};
    let (a, b) = two_tenants();
    assert!(store.put_tenant(&a).await.expect("put"));
    assert!(
        !store.put_tenant(&a).await.expect("put again"),
        "idempotent"
    );
    assert!(store.tenant_exists(&a).await.expect("exists"));
    assert!(!store.tenant_exists(&b).await.expect("exists"));

    let key = new_key(&a);
    assert!(key.secret.starts_with("pk_"));
    assert_ne!(key.record.hash, key.secret, "only the hash is stored");
    store.add_key(&key.record).await.expect("add key");
    let found = store
        .find_key(&key_hash(&key.secret))
        .await
        .expect("find")
        .expect("the key");
    assert_eq!(found.tenant, a);
    assert!(
        store
            .find_key(&key_hash("pk_wrong"))
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        is_not_found(store.add_key(&new_key(&b).record).await),
        "no such tenant"
    );
    assert!(
        is_not_found(store.revoke_key(&b, &key.record.id).await),
        "not b's key"
    );
    store.revoke_key(&a, &key.record.id).await.expect("revoke");
    assert!(
        store
            .find_key(&key.record.hash)
            .await
            .expect("find")
            .is_none()
    );
    let keys = store.keys(&a).await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert!(keys[0].revoked_at.is_some());

    let files: AgentFiles = [("agent.md".to_owned(), "---\npaf: 1\n---\nhi\n".to_owned())].into();
    store
        .put_agent(&a, "helper", &files)
        .await
        .expect("put agent");
    assert_eq!(
        store.get_agent(&a, "helper").await.expect("get"),
        Some(files.clone())
    );
    assert_eq!(store.get_agent(&b, "helper").await.expect("get"), None);
    assert_eq!(
        store.list_agents(&a).await.expect("list"),
        vec!["helper".to_owned()]
    );
    assert!(store.list_agents(&b).await.expect("list").is_empty());
    assert!(is_not_found(store.put_agent(&b, "helper", &files).await));
    assert!(matches!(
        store.put_agent(&a, "../x", &files).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(is_not_found(store.delete_agent(&b, "helper").await));
    store.delete_agent(&a, "helper").await.expect("delete");
    assert_eq!(store.get_agent(&a, "helper").await.expect("get"), None);
}
