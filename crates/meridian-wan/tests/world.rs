//! Wan: many directed links keyed by region name.

mod common;

use std::time::Duration;

use common::{dial, echo_server, TestResult};
use meridian_wan::{LinkState, RttMatrix, Wan, WanError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mesh_cut_region_and_heal() -> TestResult {
    let rtt = RttMatrix::builtin();
    let names = ["eu-london", "eu-west", "us-east"];
    let mut servers = Vec::new();
    for _ in names {
        servers.push(echo_server().await?);
    }
    let mut wan = Wan::new();
    for (i, from) in names.iter().enumerate() {
        for (j, to) in names.iter().enumerate() {
            if i != j {
                let d = rtt.one_way_delay(from, to).ok_or("missing rtt")?;
                wan.add_link(from, to, servers[j].0, d).await?;
            }
        }
    }
    assert_eq!(wan.links().len(), 6);
    assert!(matches!(
        wan.add_link("eu-west", "us-east", servers[2].0, Duration::ZERO)
            .await,
        Err(WanError::DuplicateLink { .. })
    ));

    // London -> Dublin carries the measured 11.3 ms round trip.
    let addr = wan.addr("eu-london", "eu-west").ok_or("no link")?;
    let mut s = dial(addr).await?;
    let t0 = Instant::now();
    s.write_all(b"ping").await?;
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await?;
    let rtt_seen = t0.elapsed();
    println!("eu-london -> eu-west round trip {rtt_seen:?} (measured 11.3 ms)");
    assert!(rtt_seen >= Duration::from_micros(11_300) && rtt_seen < Duration::from_millis(40));

    assert_eq!(wan.cut_region("eu-west")?, 4);
    let states: Vec<_> = wan
        .links()
        .into_iter()
        .map(|l| (l.from, l.to, l.state))
        .collect();
    for (from, to, state) in &states {
        let touches = from == "eu-west" || to == "eu-west";
        let want = if touches {
            LinkState::Cut
        } else {
            LinkState::Up
        };
        assert_eq!(*state, want, "{from}->{to}");
    }
    assert!(common::sees_close(&mut s, Duration::from_secs(2)).await);
    assert!(matches!(
        wan.cut_region("mars"),
        Err(WanError::UnknownRegion(_))
    ));
    assert!(matches!(
        wan.cut("mars", "eu-west"),
        Err(WanError::UnknownLink { .. })
    ));

    wan.heal_all();
    assert!(wan.links().iter().all(|l| l.state == LinkState::Up));
    wan.cut("us-east", "eu-london")?;
    assert!(wan.link("us-east", "eu-london").is_some_and(|l| l.is_cut()));
    wan.heal("us-east", "eu-london")?;
    wan.set_delay("eu-west", "us-east", Duration::from_millis(1))?;
    let info = wan.links();
    let l = info
        .iter()
        .find(|l| l.from == "eu-west" && l.to == "us-east");
    assert_eq!(l.map(|l| l.delay), Some(Duration::from_millis(1)));

    wan.remove_link("eu-west", "us-east").await?;
    assert_eq!(wan.links().len(), 5);
    wan.shutdown().await;
    Ok(())
}
