//! The golden test of the typed events: for every kind, the payload text today's services
//! stored before the events were typed (the `json!` they wrote, member for member), version 2
//! and version 1, reads back as its typed value, the typed value writes exactly that text again,
//! and the canonical bytes' hash over it is pinned. A change to a payload type that would
//! change what the chain holds, or how a stored event reads, fails here.

use chrono::{DateTime, NaiveDate, Utc};
use entity::ledger_event;

use super::{GENESIS_HASH, event_hash, versioned_payload};
use crate::domain::content::ContentDigest;
use crate::domain::events::*;
use crate::domain::{ActorRole, EventKind, Ins, ProfileStatus, Rpps};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a test time")
        .with_timezone(&Utc)
}

fn rpps() -> Rpps {
    Rpps::parse("10003456786").expect("a valid RPPS")
}

fn digest(sha: char, size: i64) -> ContentDigest {
    ContentDigest::known(&sha.to_string().repeat(64), size)
}

fn stored(document_id: i64, content: Option<ContentDigest>) -> DocumentStored {
    DocumentStored::example(document_id, content)
}

/// Every kind, as stored by the services before the events were typed (version 2), then the
/// shapes the typed events add, then version 1 payloads.
fn table() -> Vec<(EventKind, &'static str, Event)> {
    use EventKind as K;
    vec![
        (
            K::BeneficiaryEnrolled,
            r#"{"v":2,"oppositionDeadline":"2027-01-09T00:00:00+00:00"}"#,
            Event::BeneficiaryEnrolled(Enrolled {
                opposition_deadline: at("2027-01-09T00:00:00Z"),
                legal_representatives: None,
            }),
        ),
        (
            K::OppositionRecorded,
            r#"{"v":2,"channel":"PHONE"}"#,
            Event::OppositionRecorded(Opposed {
                channel: OppositionChannel::Phone,
            }),
        ),
        (
            K::OppositionWithdrawn,
            r#"{"v":2}"#,
            Event::OppositionWithdrawn,
        ),
        (K::ProfileCreated, r#"{"v":2}"#, Event::ProfileCreated),
        (
            K::ActivationFailed,
            r#"{"v":2,"reason":"PROFILE_STATUS","status":"ANNOUNCED"}"#,
            Event::ActivationFailed(ActivationFailed::Refused(
                ActivationRefusal::ProfileStatus {
                    status: ProfileStatus::Announced,
                },
            )),
        ),
        (
            K::ActivationFailed,
            r#"{"v":2,"field":"activationCode","reason":"MALFORMED_INPUT"}"#,
            Event::ActivationFailed(ActivationFailed::Refused(
                ActivationRefusal::MalformedInput {
                    field: Some("activationCode".to_owned()),
                },
            )),
        ),
        (
            K::ActivationFailed,
            r#"{"v":2,"field":null,"reason":"MALFORMED_INPUT"}"#,
            Event::ActivationFailed(ActivationFailed::Refused(
                ActivationRefusal::MalformedInput { field: None },
            )),
        ),
        (
            K::ActivationFailed,
            r#"{"v":2,"failedAttempts":1,"lockedUntil":null}"#,
            Event::ActivationFailed(ActivationFailed::WrongCredentials {
                failed_attempts: 1,
                locked_until: None,
            }),
        ),
        (
            K::ActivationFailed,
            r#"{"v":2,"failedAttempts":5,"lockedUntil":"2026-12-01T10:15:00+00:00"}"#,
            Event::ActivationFailed(ActivationFailed::WrongCredentials {
                failed_attempts: 5,
                locked_until: Some(at("2026-12-01T10:15:00Z")),
            }),
        ),
        (
            K::ActivationRefusedLocked,
            r#"{"v":2,"lockedUntil":"2026-12-01T10:15:00.250+00:00"}"#,
            Event::ActivationRefusedLocked(LockedAttempt {
                locked_until: at("2026-12-01T10:15:00.250Z"),
            }),
        ),
        (K::ProfileActivated, r#"{"v":2}"#, Event::ProfileActivated),
        (
            K::ProfileClosed,
            r#"{"v":2,"previousStatus":"ACTIVATED"}"#,
            Event::ProfileClosed(Closed {
                previous_status: ProfileStatus::Activated,
            }),
        ),
        (
            K::DocumentFed,
            r#"{"v":2,"content":{"sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":70},"documentId":1,"typeCode":"11488-4"}"#,
            Event::DocumentFed(stored(1, Some(digest('b', 70)))),
        ),
        (
            K::DocumentAdded,
            r#"{"v":2,"content":{"sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":70},"documentId":2,"typeCode":"11488-4"}"#,
            Event::DocumentAdded(stored(2, Some(digest('b', 70)))),
        ),
        (
            K::RecordConsulted,
            r#"{"v":2,"actedFrom":null,"actedTo":null,"typeCode":null}"#,
            Event::RecordConsulted(RecordConsulted::default()),
        ),
        (
            K::RecordConsulted,
            r#"{"v":2,"actedFrom":"2026-01-01","actedTo":"2026-10-30","emergency":true,"typeCode":"11488-4"}"#,
            Event::RecordConsulted(RecordConsulted {
                type_code: Some("11488-4".to_owned()),
                acted_from: NaiveDate::from_ymd_opt(2026, 1, 1),
                acted_to: NaiveDate::from_ymd_opt(2026, 10, 30),
                emergency: true,
            }),
        ),
        (
            K::DocumentConsulted,
            r#"{"v":2,"documentId":1}"#,
            Event::DocumentConsulted(DocumentConsulted {
                document_id: 1,
                emergency: false,
            }),
        ),
        (
            K::DocumentConsulted,
            r#"{"v":2,"documentId":1,"emergency":true}"#,
            Event::DocumentConsulted(DocumentConsulted {
                document_id: 1,
                emergency: true,
            }),
        ),
        (
            K::FirstAccess,
            r#"{"v":2}"#,
            Event::FirstAccess(FirstAccess::default()),
        ),
        (
            K::AccessRefusedBlocked,
            r#"{"v":2}"#,
            Event::AccessRefusedBlocked,
        ),
        (
            K::DocumentMasked,
            r#"{"v":2,"documentId":1}"#,
            Event::DocumentMasked(DocumentRef { document_id: 1 }),
        ),
        (
            K::DocumentUnmasked,
            r#"{"v":2,"documentId":1}"#,
            Event::DocumentUnmasked(DocumentRef { document_id: 1 }),
        ),
        (
            K::PractitionerBlocked,
            r#"{"v":2,"practitionerRpps":"10003456786"}"#,
            Event::PractitionerBlocked(PractitionerRef {
                practitioner_rpps: rpps(),
            }),
        ),
        (
            K::PractitionerUnblocked,
            r#"{"v":2,"practitionerRpps":"10003456786"}"#,
            Event::PractitionerUnblocked(PractitionerRef {
                practitioner_rpps: rpps(),
            }),
        ),
        (
            K::MedicalProfileUpdated,
            r#"{"v":2,"action":"ADDED","category":"ALLERGY","content":{"sha256":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":60},"entryId":1}"#,
            Event::MedicalProfileUpdated(MedicalEntryChanged {
                action: EntryAction::Added,
                entry_id: 1,
                category: crate::domain::documents::MedicalCategory::Allergy,
                content: Some(digest('c', 60)),
            }),
        ),
        (
            K::MedicalProfileUpdated,
            r#"{"v":2,"action":"REMOVED","category":"TREATMENT","entryId":1}"#,
            Event::MedicalProfileUpdated(MedicalEntryChanged {
                action: EntryAction::Removed,
                entry_id: 1,
                category: crate::domain::documents::MedicalCategory::Treatment,
                content: None,
            }),
        ),
        (
            K::MessageReceived,
            r#"{"v":2,"attachments":[{"id":4,"sha256":"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":3}],"body":{"sha256":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","size":5},"messageId":1,"threadId":1}"#,
            Event::MessageReceived(MessageStored {
                thread_id: 1,
                message_id: 1,
                body: Some(digest('e', 5)),
                attachments: Some(vec![AttachmentDigest {
                    id: 4,
                    sha256: "d".repeat(64),
                    size: 3,
                }]),
            }),
        ),
        (
            K::ThreadRead,
            r#"{"v":2,"threadId":1}"#,
            Event::ThreadRead(ThreadRead { thread_id: 1 }),
        ),
        (
            K::MessageReplied,
            r#"{"v":2,"body":{"sha256":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","size":5},"messageId":2,"threadId":1}"#,
            Event::MessageReplied(MessageStored {
                thread_id: 1,
                message_id: 2,
                body: Some(digest('e', 5)),
                attachments: None,
            }),
        ),
        (
            K::FeedRefused,
            r#"{"v":2,"typeCode":"11502-2"}"#,
            Event::FeedRefused(FeedRefused {
                type_code: "11502-2".to_owned(),
                held_back: false,
                secret_from_representatives: false,
            }),
        ),
        (
            K::MedecinTraitantDesignated,
            r#"{"v":2,"practitionerRpps":"10003456786"}"#,
            Event::MedecinTraitantDesignated(PractitionerRef {
                practitioner_rpps: rpps(),
            }),
        ),
        (
            K::MedecinTraitantRemoved,
            r#"{"v":2,"practitionerRpps":"10003456786"}"#,
            Event::MedecinTraitantRemoved(PractitionerRef {
                practitioner_rpps: rpps(),
            }),
        ),
        (
            K::EmergencyAccessOpened,
            r#"{"v":2,"emergencyAccessId":1,"expiresAt":"2026-12-01T10:00:00.000000Z","reason":"Patient inconscient aux urgences"}"#,
            Event::EmergencyAccessOpened(EmergencyOpened {
                emergency_access_id: 1,
                reason: "Patient inconscient aux urgences".to_owned(),
                expires_at: at("2026-12-01T10:00:00Z"),
            }),
        ),
        (
            K::EmergencyAccessRefused,
            r#"{"v":2,"reason":"Patient inconscient aux urgences"}"#,
            Event::EmergencyAccessRefused(EmergencyRefused {
                reason: "Patient inconscient aux urgences".to_owned(),
            }),
        ),
        (
            K::EmergencyAccessTurnedOn,
            r#"{"v":2}"#,
            Event::EmergencyAccessTurnedOn,
        ),
        (
            K::EmergencyAccessTurnedOff,
            r#"{"v":2}"#,
            Event::EmergencyAccessTurnedOff,
        ),
        (
            K::ProfileReopened,
            r#"{"v":2,"statusAfter":"CREATED"}"#,
            Event::ProfileReopened(Reopened {
                status_after: ProfileStatus::Created,
            }),
        ),
        (
            K::ProfilePurged,
            r#"{"v":2,"documentIds":[1,2],"medicalProfileEntries":1,"messageIds":[3]}"#,
            Event::ProfilePurged(Purged {
                document_ids: vec![1, 2],
                message_ids: vec![3],
                medical_profile_entries: 1,
            }),
        ),
        (K::RecordExported, r#"{"v":2}"#, Event::RecordExported),
        (
            K::DocumentReleased,
            r#"{"v":2,"documentId":1}"#,
            Event::DocumentReleased(Released {
                document_id: 1,
                secret_from_representatives: false,
            }),
        ),
        (
            K::RepresentationEnded,
            r#"{"v":2,"representatives":["185057800608491"],"statusAfter":"CREATED"}"#,
            Event::RepresentationEnded(RepresentationEnded {
                representatives: vec!["185057800608491".to_owned()],
                status_after: Some(ProfileStatus::Created),
            }),
        ),
        (
            K::RepresentationEnded,
            r#"{"v":2,"representatives":["185057800608491"]}"#,
            Event::RepresentationEnded(RepresentationEnded {
                representatives: vec!["185057800608491".to_owned()],
                status_after: None,
            }),
        ),
        // What the typed events add: new members and kinds, written since.
        (
            K::BeneficiaryEnrolled,
            r#"{"v":2,"legalRepresentatives":["185057800608491"],"oppositionDeadline":"2027-01-09T00:00:00+00:00"}"#,
            Event::BeneficiaryEnrolled(Enrolled {
                opposition_deadline: at("2027-01-09T00:00:00Z"),
                legal_representatives: Some(vec!["185057800608491".to_owned()]),
            }),
        ),
        (
            K::DocumentFed,
            r#"{"v":2,"content":{"sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":70},"documentId":3,"heldBack":true,"secretFromRepresentatives":true,"title":{"sha256":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","size":20},"typeCode":"11488-4"}"#,
            Event::DocumentFed(DocumentStored {
                title: Some(digest('f', 20)),
                held_back: true,
                secret_from_representatives: true,
                ..stored(3, Some(digest('b', 70)))
            }),
        ),
        (
            K::FirstAccess,
            r#"{"v":2,"documentId":3}"#,
            Event::FirstAccess(FirstAccess {
                hidden_feed: Some(3),
            }),
        ),
        (
            K::DocumentReleased,
            r#"{"v":2,"documentId":3,"secretFromRepresentatives":true}"#,
            Event::DocumentReleased(Released {
                document_id: 3,
                secret_from_representatives: true,
            }),
        ),
        (
            K::MedicalProfileConsulted,
            r#"{"v":2}"#,
            Event::MedicalProfileConsulted,
        ),
        (K::MailboxConsulted, r#"{"v":2}"#, Event::MailboxConsulted),
        (
            K::ActivityHistoryConsulted,
            r#"{"v":2}"#,
            Event::ActivityHistoryConsulted,
        ),
        // Written since accounts are linked (no stored predecessor): pinned from their first.
        (
            K::AccountLinked,
            r#"{"v":2,"account":"5d1b0c0a8f2a9c7e3b6d4f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d","issuer":"https://fc.example/api/v2"}"#,
            Event::AccountLinked(AccountRef {
                issuer: "https://fc.example/api/v2".to_owned(),
                account: "5d1b0c0a8f2a9c7e3b6d4f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
                    .to_owned(),
            }),
        ),
        (
            K::AccountUnlinked,
            r#"{"v":2,"account":"5d1b0c0a8f2a9c7e3b6d4f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d","issuer":"https://fc.example/api/v2"}"#,
            Event::AccountUnlinked(AccountRef {
                issuer: "https://fc.example/api/v2".to_owned(),
                account: "5d1b0c0a8f2a9c7e3b6d4f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
                    .to_owned(),
            }),
        ),
        (
            K::AccountLinkRefused,
            r#"{"v":2,"account":"5d1b0c0a8f2a9c7e3b6d4f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d","conflict":"ACCOUNT_TAKEN","issuer":"https://fc.example/api/v2"}"#,
            Event::AccountLinkRefused(AccountLinkRefused {
                issuer: "https://fc.example/api/v2".to_owned(),
                account: "5d1b0c0a8f2a9c7e3b6d4f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
                    .to_owned(),
                conflict: LinkConflict::AccountTaken,
            }),
        ),
    ]
}

fn row(kind: EventKind, payload: &str) -> ledger_event::Model {
    ledger_event::Model {
        id: 1,
        patient_ins: Ins::parse("185057800608491").expect("a valid INS"),
        seq: 1,
        occurred_at: at("2026-11-28T10:15:00Z"),
        kind,
        actor_role: ActorRole::Practitioner,
        actor_id: "10003456786".to_owned(),
        actor_name: "Dr Claire MOREAU".to_owned(),
        actor_profession: "Médecin généraliste".to_owned(),
        payload: payload.to_owned(),
        prev_hash: GENESIS_HASH.to_owned(),
        hash: String::new(),
    }
}

#[test]
fn every_stored_payload_reads_back_as_its_typed_event_and_is_written_again_byte_for_byte() {
    let table = table();
    let mut kinds: Vec<EventKind> = table.iter().map(|(k, ..)| *k).collect();
    kinds.dedup();
    for kind in EventKind::ALL {
        assert!(kinds.contains(kind), "{kind} has no golden payload");
    }
    for (kind, text, event) in &table {
        assert_eq!(event.kind(), *kind);
        assert_eq!(
            Event::read(*kind, text).as_ref(),
            Ok(event),
            "{kind}: {text}"
        );
        assert_eq!(versioned_payload(&event.payload()), *text, "{kind}");
    }
}

#[test]
fn version_1_payloads_read_as_the_same_events_without_what_version_2_binds() {
    let v1 = [
        (EventKind::ProfileCreated, "{}", Event::ProfileCreated),
        (
            EventKind::BeneficiaryEnrolled,
            r#"{"oppositionDeadline":"2027-01-09T00:00:00+00:00"}"#,
            Event::BeneficiaryEnrolled(Enrolled {
                opposition_deadline: at("2027-01-09T00:00:00Z"),
                legal_representatives: None,
            }),
        ),
        (
            EventKind::DocumentFed,
            r#"{"documentId":1,"typeCode":"11488-4"}"#,
            Event::DocumentFed(stored(1, None)),
        ),
        (
            EventKind::MessageReplied,
            r#"{"messageId":2,"threadId":1}"#,
            Event::MessageReplied(MessageStored {
                thread_id: 1,
                message_id: 2,
                body: None,
                attachments: None,
            }),
        ),
        (
            EventKind::MedicalProfileUpdated,
            r#"{"action":"UPDATED","category":"HISTORY","entryId":7}"#,
            Event::MedicalProfileUpdated(MedicalEntryChanged {
                action: EntryAction::Updated,
                entry_id: 7,
                category: crate::domain::documents::MedicalCategory::History,
                content: None,
            }),
        ),
    ];
    for (kind, text, event) in v1 {
        assert_eq!(super::encoding_version(text), 1);
        assert_eq!(Event::read(kind, text), Ok(event.clone()), "{kind}");
        // Written again without the version, the members are the same.
        assert_eq!(event.payload().to_string(), text, "{kind}");
    }
}

#[test]
fn a_payload_its_kind_cannot_read_is_malformed_not_another_event() {
    assert!(Event::read(EventKind::DocumentFed, r#"{"v":2}"#).is_err());
    assert!(
        Event::read(
            EventKind::PractitionerBlocked,
            r#"{"v":2,"practitionerRpps":"1"}"#
        )
        .is_err()
    );
    assert!(Event::read(EventKind::ProfileClosed, "not json").is_err());
}

#[test]
fn the_hashes_over_the_golden_payloads_are_pinned() {
    let hashes: Vec<String> = table()
        .iter()
        .map(|(kind, text, ..)| event_hash(&row(*kind, text)))
        .collect();
    let pinned: Vec<&str> = PINNED
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if pinned.is_empty() {
        panic!("pin these:\n{}", hashes.join("\n"));
    }
    assert_eq!(hashes, pinned);
}

/// One hash per row of [`table`], in its order.
const PINNED: &str = "
fe7b63738209bd831fa6aff905d07bb3dddbe820a33010c2f93fef80f6c07046
6ffa31ca46c29d23af7367dc025158664b15f1dca7cc5669fa1fe44e4304d738
78651ef715fc3cb84369935d193749cbf2a299e5951618e9f394d4955386ff99
edafe19ec74491cf6828457b0b21581626b3f5ac915b7b8999c2c9808ba476ce
e6ff33d08f78543fdde46acf35b0cd8b0c16a98146b4573b6db33eeed384326f
6432916fad21dc13f7bd2eb51e3e1e72f7827ebcb33dc41193defd6c50090a59
855038e8183f446a7247c168da46695f2692afffda34611626e58e5adce7ddd7
ebb4de94966b0721118906fa62fa1c7520b1aaa31561e6328ef46e67af08ef5e
a94f6f2a7eaf8c64f05760f71e4a701f0369e0bc13181d71f322dc52eaa2398c
39712436f32b998911ceafff04d7ea7f53f9ef63a33bd800af3b0176c97c4e47
11b801ce0388a1b23859dc22ea7f45fe8e1de4613e53cd19b6081b370ed9210b
e3afd000e9be077cc56e074fd36832c9f16673ffdb793db3e9cf1915c9c09210
3912695a1e042fc8bcb5d8de3e2e5896f68b510f41b481c1e349b3bbdde3b136
053c2654a8f075bf95c06482b7fa84a916bb4a43ccd92a3a48cae75ed37892c8
c344b5aea741f1226a3684514864d4590636af60177f834fea22a2702ae33335
32391ee6712b36ff507e2ece36b57de42aae043cf876522cf9adcdefecfb7cda
e3158a0729f023fc04cf359600b1109dcc6ed09062e1f66cd6086a7513f70d23
47e929a97007009678255cc5f88ca740396b0ff6d2a2560dc5645390bd9eb0a4
b0511de55ebc3f957f5327b966ee46831f3111616d0d62cbbde4eae34be1cee7
fffabc3bdfce7c7ef19bed6d107779f767a6ee3e919cd466b8d280ac6968f0d3
919cbba17315c5a7a5ae2d2da3b78b769414bf06ecd7932918356bcc914c986e
1220e7a2dd77e63c3d516a9b4bed3247f0962c944d0ff5a70de685d3f223a763
cfef67dcacc887ea339d09ec8e5b545b5a13f260207ab1ec99b75a894b09339c
da908a0ea1c355cfb97ef8c6400063db1985d9a219dca5ed48b8b7e15968263a
5ec07888a548a53e0d1dfa3092faae51bc2ebbcc13c3e35a5fd68daefbb8a1e8
2f91a5cd5d43fe68909e6950176b652d8e8f1e856009f39e88f93693eb27f16a
9f0e9d09cd1c7fc885e3bb1a156eb0d2339aa3ccefbd2c44ab8f5dd5705294d6
f4f585920fe50686d65affc80219224cc2338b6a56589a861b8444d85fd397f9
80ebab074a2441bfa24a54c8ee4ea1ddfc2fe12707018b19fc332851c7809d7a
8ddcd3b0a9e3ad7db6fa2ab1645122b62f8c03605d7917dfc6d2aa7d2df9d4ce
7f0c5f406cfceb14e235768da1dc9f7a312f2995d5fb386699a554584588fe27
30985469dcbbc555ea5098660b8f4d63d87e50b3ebea2a470edc11b015a1471b
59ab54e27793d76ed0b0566deabe2fb1de43bd3cb0d96975aa2678c57a0233dd
06bb00ec6a4e01809204a162a4bc55cd17209c117348def6e7b553630ec5c362
f2f827acd4968e231211f93698e54bd79313f357af47d2fb1895a6b68ef2059d
967d43b8a35202a247f899321861edc6a226e66a9580c86355fff9a50787b4de
48abbf744115774d84725d24ef091bb5e028df78eb2fceadcd5bbe1ed91832fa
9d63ac51aa9af48b7796301e1f282055db90741ee4c38397c796ba7c7ea40123
e69d360001daa9e7789b97ce92b6c704cca8b9dd5d213302c7596b75a3594495
4d6cc9aa0ea4663e137ad3fa6678b1a9250cb77b8173c590b28be58a2e78d1af
cc5c215ce883a9abfbdf41e6648a13dfed2959227f7b86e2a41a5556920eafe4
de428ad7a998be0ea596d16666bee0d17a174184bb974b2e92c8a417e57a7bed
c8362aed4cf4c93881b4f9e4785dc3c413a41a0ddf158d63c47413a9b6390d76
62555c7af10555ea826a8dcf5e1958951d247456349cdedeea2869695788d4b7
e94f9d1246f2173698b660378b4b92037c3c0b8fd8d0bb789d12f4ba364f3904
23aad2146d22864a95e7f005ea3edd51b061994922d11f0f09ea58479e90f985
9ed41c677d39374604d94559ae3ed8877a2999970fe5ec894ee3c5ea7ee56b6c
29de3e6f1b8191f6a54b67f76e08f2d2521fe5e3e8ad0ba17ad595b03f1c72b0
083268c2c54038c7788fea5713077f9d673de15927423cbc0f7a0a58ee21ad9d
94e7999d644160bb01a68e3f87b4507aa864e6f91f6707eddcc69ff9ba354ed1
736bfb3624e1d10b43cc538eeef5982aa16c90dac9fe6e5bd0d28cabdf6fd23b
787e3b42a723bc52a15e1db6a6f214ef7bf6c6f59450eed5d87f0e9cd15fa371
";
