//! A `switchyard` process of the built binary, for tests that need several replicas or a
//! process to kill.

/// A `switchyard` process; killed when dropped.
pub struct Replica {
    pub child: std::process::Child,
    pub base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// Signs in as the bootstrap administrator: a client carrying the access token, the
    /// default tenant's id, and the token.
    pub async fn admin(&self) -> (reqwest::Client, String, String) {
        let tokens = super::sign_in(
            &reqwest::Client::new(),
            &self.base,
            "default",
            "admin@localhost",
            super::ADMIN_PASSWORD,
        )
        .await
        .unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let client = super::bearer_client(&token);
        let me = super::get_json(&client, &format!("{}/api/v1/auth/me", self.base)).await;
        let tenant = me["tenant_id"].as_str().unwrap().to_owned();
        (client, tenant, token)
    }

    pub async fn start(
        database: &str,
        redis: &str,
        prefix: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .env("SWITCHYARD_DATA_DIR", data_dir)
            .env("SWITCHYARD_HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("SWITCHYARD_DATABASE__URL", database)
            .env("SWITCHYARD_REDIS__URL", redis)
            .env("SWITCHYARD_REDIS__PREFIX", prefix)
            .env(
                "SWITCHYARD_BOOTSTRAP__ADMIN_PASSWORD",
                super::ADMIN_PASSWORD,
            )
            .env("SWITCHYARD_LOG__FILTER", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the binary");
        let replica = Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/readyz", replica.base)).send().await
                && r.status().is_success()
            {
                return replica;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("replica on port {port} not ready in 30 s");
    }
}
