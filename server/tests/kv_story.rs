//! One story for shared state, run in-process always and on Redis when `REDIS_URL` is set:
//! keys with expiry, GCRA rate limits, leases and pub/sub.

mod common;

use std::time::Duration;

use switchyard::config::Secret;
use switchyard::kv::{Kv, RateLimit};

async fn backends() -> Vec<Kv> {
    let mut all = vec![Kv::memory("test:")];
    if let Some(url) = common::redis_url() {
        let prefix = format!("switchyard-test:{}:", uuid::Uuid::new_v4().simple());
        all.push(
            Kv::open(&Secret::new(url), &prefix)
                .await
                .expect("connect to REDIS_URL"),
        );
    }
    all
}

#[tokio::test]
async fn kv_story_on_every_backend() {
    for kv in backends().await {
        values(&kv).await;
        rate_limits(&kv).await;
        leases(&kv).await;
        pubsub(&kv).await;
    }
}

async fn values(kv: &Kv) {
    assert_eq!(kv.get("session:a").await.unwrap(), None);
    kv.set("session:a", b"alice", None).await.unwrap();
    assert_eq!(
        kv.get("session:a").await.unwrap().as_deref(),
        Some(&b"alice"[..])
    );
    kv.set("session:short", b"x", Some(Duration::from_millis(100)))
        .await
        .unwrap();
    assert!(kv.get("session:short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        kv.get("session:short").await.unwrap(),
        None,
        "{kv:?}: expired key still there"
    );
    assert!(kv.delete("session:a").await.unwrap());
    assert!(!kv.delete("session:a").await.unwrap());
}

async fn rate_limits(kv: &Kv) {
    // 5 per 10 s: a burst of five passes, the sixth waits about two seconds.
    let rate = RateLimit {
        limit: 5,
        period: Duration::from_secs(10),
    };
    for expected in (0..5).rev() {
        let d = kv.rate_limit("user:1", &rate).await.unwrap();
        assert!(d.allowed, "{kv:?}");
        assert_eq!(d.remaining, expected, "{kv:?}");
    }
    let d = kv.rate_limit("user:1", &rate).await.unwrap();
    assert!(!d.allowed, "{kv:?}");
    assert!(
        d.retry_after > Duration::from_millis(1500) && d.retry_after <= Duration::from_secs(2),
        "{d:?}"
    );
    // Other keys have their own buckets.
    assert!(kv.rate_limit("user:2", &rate).await.unwrap().allowed);

    // Concurrent callers never get more than the bucket holds (atomic check-and-update).
    let rate = RateLimit {
        limit: 20,
        period: Duration::from_secs(60),
    };
    let calls = (0..60).map(|_| {
        let kv = kv.clone();
        tokio::spawn(async move { kv.rate_limit("burst", &rate).await.unwrap().allowed })
    });
    let allowed = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(allowed, 20, "{kv:?}");
}

async fn leases(kv: &Kv) {
    let ttl = Duration::from_millis(300);
    assert!(kv.acquire_lease("run:1", "replica-a", ttl).await.unwrap());
    assert!(
        !kv.acquire_lease("run:1", "replica-b", ttl).await.unwrap(),
        "{kv:?}: lease taken twice"
    );
    assert!(
        kv.acquire_lease("run:1", "replica-a", ttl).await.unwrap(),
        "re-acquiring our own lease extends it"
    );
    assert!(kv.renew_lease("run:1", "replica-a", ttl).await.unwrap());
    assert!(!kv.renew_lease("run:1", "replica-b", ttl).await.unwrap());
    assert!(!kv.release_lease("run:1", "replica-b").await.unwrap());
    // An expired lease can be taken over, and the old holder can no longer renew it.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        kv.acquire_lease("run:1", "replica-b", ttl).await.unwrap(),
        "{kv:?}: expired lease not free"
    );
    assert!(!kv.renew_lease("run:1", "replica-a", ttl).await.unwrap());
    assert!(kv.release_lease("run:1", "replica-b").await.unwrap());
    assert!(kv.acquire_lease("run:1", "replica-a", ttl).await.unwrap());
}

async fn pubsub(kv: &Kv) {
    let mut first = kv.subscribe("run-events").await.unwrap();
    let mut second = kv.subscribe("run-events").await.unwrap();
    let mut other = kv.subscribe("other").await.unwrap();
    for i in 0..3u8 {
        kv.publish("run-events", &[i]).await.unwrap();
    }
    for subscriber in [&mut first, &mut second] {
        for i in 0..3u8 {
            let message = tokio::time::timeout(Duration::from_secs(5), subscriber.next())
                .await
                .unwrap();
            assert_eq!(message, Some(vec![i]), "{kv:?}");
        }
    }
    let nothing = tokio::time::timeout(Duration::from_millis(200), other.next()).await;
    assert!(
        nothing.is_err(),
        "{kv:?}: message leaked to another channel"
    );
}
