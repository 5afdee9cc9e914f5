//! The GraphQL documents the tests send, written once: a test that needs one names it here
//! rather than writing it again.

/// `feedDocument` held back until an announcement consultation.
pub const FEED_HELD_BACK: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input, visibility: { heldBackUntilAnnounced: true }) { id heldBack } }";

/// `feedDocument` secret from the minor's legal representatives.
pub const FEED_SECRET: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input, visibility: { secretFromRepresentatives: true }) { id secretFromRepresentatives } }";

/// `releaseDocument`, with what it answers of the document.
pub const RELEASE: &str = "mutation($ins: INS!, $id: ID!) { releaseDocument(patientIns: $ins, documentId: $id) { id title heldBack releasedAt type { code } author { id name } } }";

/// The whole activity history as the reader of the patient's space sees it, newest first.
pub const HISTORY: &str = "{ me { activityHistory(first: 100) { edges { node { sequence withheld occurredAt kind label actor { role id name profession } payload previousHash hash } } } } }";

/// `sendMessage` of a subject and a body, with an idempotency key.
pub const SEND_MESSAGE: &str = "mutation($ins: INS!, $subject: String!, $body: String!, $key: String!) { sendMessage(patientIns: $ins, input: { subject: $subject, body: $body, idempotencyKey: $key }) { message { id } thread { id delivered } } }";

/// `replyToThread`.
pub const REPLY: &str = "mutation($id: ID!, $body: String!, $key: String!) { replyToThread(threadId: $id, body: $body, idempotencyKey: $key) { message { id body sender { role } } thread { id } } }";

/// `blockPractitioner`.
pub const BLOCK: &str = "mutation($rpps: RPPS!) { blockPractitioner(rpps: $rpps) }";
