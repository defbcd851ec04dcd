//! The README's first command, end to end (small): PKI, synthetic agencies streaming over
//! mTLS + JWT, metrics, an Encompass notification opened by the school alone, immigration
//! enforcement refused and audited, the audit log verified. The demo checks each of these
//! itself and fails if any does not hold.

use vawg_tools::demo::{DemoArgs, run};

#[tokio::test]
async fn the_demo_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    run(DemoArgs {
        data_dir: Some(dir.path().to_path_buf()),
        keep_running: false,
        listen: None,
        dashboard_listen: None,
        journeys: 150,
        seed: 11,
    })
    .await
    .expect("the demo completes");
    // Running it again on the same data folder is safe: every record comes back DUPLICATE.
    run(DemoArgs {
        data_dir: Some(dir.path().to_path_buf()),
        keep_running: false,
        listen: None,
        dashboard_listen: None,
        journeys: 150,
        seed: 11,
    })
    .await
    .expect("the demo completes again on the same data");
}
