//! Sealed payloads through the Rust client: a school registers its key, the police seal pupil
//! details to it with the key the hub hands out, and only the school's key opens them.

use vawg_client::{HubClient, open_sealed, sealing};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};

async fn client(app: &TestApp, agency: &Agency) -> HubClient {
    HubClient::builder(format!("https://{}", app.addr))
        .ca_file(app.pki.ca_cert())
        .unwrap()
        .identity_files(&agency.cert, &agency.key)
        .unwrap()
        .token(agency.token())
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn seals_to_a_registered_key_and_opens_only_with_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let school = app
        .agency("school-100001", AgencyKind::School, &["E09000001"])
        .await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let (school, police) = (client(&app, &school).await, client(&app, &police).await);

    let keys = sealing::generate_keypair();
    let key_id = school
        .register_sealing_key("school-key-1", &keys)
        .await
        .unwrap();
    assert_eq!(key_id, "school-key-1");

    let sealed = police
        .seal_for("school-100001", b"Testpupil Fakename, year 4")
        .await
        .unwrap();
    assert_eq!(sealed.recipient_agency_id, "school-100001");
    assert_eq!(sealed.key_id, "school-key-1");
    assert_eq!(
        open_sealed(&keys, &sealed).unwrap(),
        b"Testpupil Fakename, year 4"
    );
    assert!(open_sealed(&sealing::generate_keypair(), &sealed).is_err());
    app.stop().await;
}
