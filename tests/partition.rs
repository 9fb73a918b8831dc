//! A silent network partition (packets dropped, no reset, no close) is noticed within a bound instead of hanging
//! forever: mid-COPY on the target the chunk is copied again once the route is back and the run completes; on the
//! source the run ends resumably (exit 3) within about half a minute and `--resume` finishes it equal.
//!
//! The partition is made with iptables on a TCP proxy's port (the test's own proxy in front of the server), so only
//! this test's connections are cut; it needs root and iptables, and says so loudly when it cannot run.

// The pause points these tests cut the route at exist only in builds with the test-hooks feature.
#[cfg(not(feature = "test-hooks"))]
compile_error!(
    "tests/partition.rs needs: cargo test --features test-hooks (scripts/test.sh passes it)"
);

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::runs::{command, start_paused_with};
use common::TestDbs;
use pgconverge_testbed::facts::App;

/// A TCP proxy on 127.0.0.1 in front of `upstream`, on a thread of its own; returns its port.
fn proxy(upstream: SocketAddr) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        });
    });
    port
}

/// Packets to and from a local port dropped while it lives.
struct Partition(u16);

impl Partition {
    /// None (and a loud line) when this machine cannot drop packets: not root, or no iptables.
    fn available() -> bool {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let iptables = Command::new("iptables")
            .args(["-L", "INPUT", "-n"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !(root && iptables) {
            eprintln!(
                "SKIPPED LOUDLY: the partition tests need root and a working iptables (root: {root}, iptables: \
                 {iptables}); scripts/db-up.sh installs iptables"
            );
        }
        root && iptables
    }

    fn cut(port: u16) -> Partition {
        for dir in ["--dport", "--sport"] {
            let ok = Command::new("iptables")
                .args([
                    "-I",
                    "INPUT",
                    "-p",
                    "tcp",
                    dir,
                    &port.to_string(),
                    "-j",
                    "DROP",
                ])
                .status()
                .unwrap()
                .success();
            assert!(ok, "iptables refused the rule");
        }
        Partition(port)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        for dir in ["--dport", "--sport"] {
            let _ = Command::new("iptables")
                .args([
                    "-D",
                    "INPUT",
                    "-p",
                    "tcp",
                    dir,
                    &self.0.to_string(),
                    "-j",
                    "DROP",
                ])
                .status();
        }
    }
}

fn addr(url: &str) -> SocketAddr {
    let host = url.split_once('@').unwrap().1;
    let host = host.split('/').next().unwrap();
    host.parse().unwrap()
}

/// `scheme://user:pw@host:port/db` with host:port replaced by the proxy's.
fn via(url: &str, port: u16) -> String {
    let (head, rest) = url.split_once('@').unwrap();
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
    format!("{head}@127.0.0.1:{port}/{path}")
}

async fn kratos() -> TestDbs {
    let dbs = TestDbs::new(App::Kratos).await;
    pgconverge_testbed::gen::generate(&dbs.source_admin(), App::Kratos, 43, 0.05, 2)
        .await
        .unwrap();
    dbs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_route_to_the_target_mid_copy_is_retried_and_the_run_completes() {
    if !Partition::available() {
        return;
    }
    let dbs = kratos().await;
    let port = proxy(addr(&common::pg_owner()));
    let mut c = command(
        &dbs,
        "mappings/kratos.toml",
        &[
            "--readers",
            "1",
            "--writers",
            "1",
            "--chunk-rows",
            "60",
            "--finish-early",
            "off",
        ],
    );
    c.env("PGCONVERGE_TARGET", via(&dbs.target(), port));
    let mut run = start_paused_with(c, "copying:2", "2");
    let cut = Partition::cut(port);
    let started = std::time::Instant::now();
    let seen = run.wait_for("copying the chunk again");
    let noticed = started.elapsed();
    drop(cut);
    let (code, rest) = run.finish();
    assert_eq!(code, Some(0), "{seen}{rest}");
    assert!(
        noticed.as_secs() < 90,
        "the dropped route was noticed after {noticed:?}"
    );
    eprintln!("target partition noticed after {noticed:?}");
    common::compare::compare_all(App::Kratos, &dbs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_route_to_the_source_ends_the_run_resumably_within_the_bound() {
    if !Partition::available() {
        return;
    }
    let dbs = kratos().await;
    let port = proxy(addr(&common::mysql_reader()));
    let mut c = command(
        &dbs,
        "mappings/kratos.toml",
        &[
            "--readers",
            "1",
            "--writers",
            "1",
            "--chunk-rows",
            "60",
            "--finish-early",
            "off",
        ],
    );
    c.env("PGCONVERGE_SOURCE", via(&dbs.source(), port));
    let run = start_paused_with(c, "copying:2", "1");
    let cut = Partition::cut(port);
    let started = std::time::Instant::now();
    let (code, rest) = run.finish();
    let ended = started.elapsed();
    drop(cut);
    assert_eq!(code, Some(3), "{rest}");
    assert!(
        rest.contains("sent nothing for 30 s") && rest.contains("--resume"),
        "{rest}"
    );
    assert!(
        ended.as_secs() < 75,
        "the run ended {ended:?} after the route dropped"
    );
    eprintln!("source partition ended the run after {ended:?}");
    let (code, text) = common::runs::resume(&dbs, "mappings/kratos.toml");
    assert_eq!(code, 0, "{text}");
    common::compare::compare_all(App::Kratos, &dbs).await;
}
