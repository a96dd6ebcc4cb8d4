// SCRATCH: run each seed config against the embedded target for a few seconds.
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn scratch_run_seed_flows() {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = slamon::target::TargetServer::start(listener, shutdown.clone())
        .await
        .unwrap();
    unsafe { std::env::set_var("SLAMON_TARGET", server.base_url()) };
    for file in [
        "config/examples/seed/transactional.toml",
        "config/examples/seed/reporting.toml",
        "config/examples/seed/deployment-gate.toml",
        "config/examples/seed/basic.toml",
        "config/demo.toml",
    ] {
        let cfg = slamon::config::load(std::path::Path::new(file)).unwrap();
        for m in &cfg.monitors {
            let client = slamon::load::build_client(m).unwrap();
            let (tx, mut rx) = tokio::sync::mpsc::channel(10000);
            let totals = slamon::load::run(
                m.clone(),
                cfg.templates.clone(),
                client,
                tx,
                Duration::from_secs(6),
                tokio_util::sync::CancellationToken::new(),
            )
            .await;
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            while let Some(s) = rx.recv().await {
                *counts
                    .entry(format!(
                        "{} {:?} {:?} {:?}",
                        s.endpoint, s.outcome, s.status, s.message
                    ))
                    .or_default() += 1;
            }
            println!("{file} {} {totals:?}", m.name);
            for (k, v) in counts {
                println!("   {v:4} {k}");
            }
        }
    }
}
