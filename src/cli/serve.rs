//! `dga-lite serve`: the HTTP service on a tokio runtime, until SIGTERM or Ctrl-C.

use super::args::ServeArgs;
use anyhow::{Context, bail};

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::set_threads(&args.common)?;
    if args.max_connections_per_client > args.max_connections {
        bail!(
            "--max-connections-per-client {} is above --max-connections {}",
            args.max_connections_per_client,
            args.max_connections
        );
    }
    let model = super::load_scorer(args.model.as_deref(), &args.common)?;
    let model = std::sync::Arc::new(model);
    let seconds = |s: usize| std::time::Duration::from_secs(s as u64);
    let config = dga_lite::serve::ServeConfig {
        max_names: args.max_names,
        max_body_bytes: args.max_body,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        header_timeout: seconds(args.client_timeout),
        body_timeout: seconds(args.client_timeout),
        idle_timeout: seconds(args.idle_timeout),
        queue_timeout: std::time::Duration::from_millis(args.queue_timeout_ms as u64),
        scope: args.scoring.scope.scope(),
        score_local: args.scoring.score_local,
        cache_names: args.cache_names,
        ..Default::default()
    };
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        eprintln!("dga-lite: serving {} on http://{address}", model.net().architecture());
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            eprintln!("dga-lite: shutting down; finishing requests in flight");
        };
        dga_lite::serve::serve(model, listener, config, shutdown).await?;
        anyhow::Ok(())
    })?;
    eprintln!("dga-lite: stopped");
    Ok(())
}
