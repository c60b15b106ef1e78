//! The cost of verifying one access token: signature and claims, then with the revocation
//! lookup every request also makes.

use std::time::Instant;

use switchyard::config::Secret;

use super::bench_settings;

/// µs per access-token verification: signature and claims alone, and with the revocation
/// lookup in `kv` that every request also makes.
pub async fn token_verification(
    database_url: &str,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use switchyard::identity::Login;
    let state = switchyard::AppState::open(bench_settings(database_url, dir)).await?;
    let login = Login {
        tenant: "default",
        email: "admin@localhost",
        password: Secret::new(super::ADMIN_PASSWORD),
        mfa_code: None,
    };
    let signed_in = state.identity.sign_in(login, &Default::default()).await?;
    let token = state
        .identity
        .start_family(&signed_in.principal)
        .await?
        .access_token;
    const N: u32 = 20_000;
    println!("\naccess-token verification (ES256), {N} times:");
    let started = Instant::now();
    for _ in 0..N {
        state.identity.verify_claims(&token).await?;
    }
    let claims_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    let started = Instant::now();
    for _ in 0..N {
        state.identity.verify_access(&token).await?;
    }
    let full_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    println!("  signature + claims            {claims_us:>8.1} µs");
    println!("  + revocation check (in-process kv) {full_us:>3.1} µs");
    Ok(())
}
