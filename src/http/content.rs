//! `GET /documents/{id}/content` and `GET /attachments/{id}/content`: a document's or an
//! attachment's bytes, streamed from the content store without base64, for files too large for
//! a JSON body. The rules and the trace are GraphQL's (`patientDocument`, `me.document`, the
//! reading of a thread): the trace commits before the first byte leaves. Errors are JSON, with
//! the codes of the GraphQL API.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use crate::auth::Caller;
use crate::domain::Actor;
use crate::graphql::error::ErrorCode;
use crate::services::ServiceError;

use super::caller::{caller, over_rate, rate_key};
use super::{AppState, refuse, service_refusal};

/// What a download is of: its type, digest (the store's address) and a file name.
struct Download {
    mime_type: String,
    sha256: String,
    file_name: String,
}

/// The record a download is of: a practitioner names it, as `patientDocument` does (the
/// access log never writes a query string).
#[derive(Debug, serde::Deserialize)]
pub(super) struct Record {
    #[serde(rename = "patientIns")]
    patient_ins: Option<String>,
}

/// `GET /documents/{id}/content[?patientIns=INS]`: the signed-in patient's own document, or a
/// document of the record a practitioner names and may consult.
pub(super) async fn document_content(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(record): Query<Record>,
    headers: HeaderMap,
) -> Response {
    let actor = match signed_in(&state, &headers).await {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse::<i64>() else {
        return refuse(
            ErrorCode::NotFound,
            "no such document in this record".to_owned(),
        );
    };
    let named = record
        .patient_ins
        .as_deref()
        .map(crate::domain::Ins::parse)
        .transpose();
    let Ok(named) = named else {
        return refuse(
            ErrorCode::BadUserInput,
            "patientIns is not a valid INS".to_owned(),
        );
    };
    let read = match (&actor, named) {
        // A patient reads their own record: another INS names nothing of theirs.
        (Actor::Patient { ins, .. }, Some(named)) if named != *ins => Err(ServiceError::NotFound(
            "no such document in this record".to_owned(),
        )),
        (Actor::Patient { ins, .. }, _) => {
            state
                .services
                .open_own_document(&actor.to_ref(), ins, id)
                .await
        }
        (Actor::Practitioner(practitioner), Some(ins)) => {
            state.services.open_document(practitioner, &ins, id).await
        }
        (Actor::Practitioner(_), None) => Err(ServiceError::bad_input(
            "patientIns",
            "name the patient whose record holds the document (?patientIns=INS), as \
             patientDocument does",
        )),
        _ => Err(ServiceError::Forbidden(
            "only a patient (their own documents) or a practitioner downloads a document here; \
             a representative reads it through GraphQL (contentBase64)"
                .to_owned(),
        )),
    };
    let document = match read {
        Ok(read) => read.into_inner(),
        Err(err) => return service_refusal(err),
    };
    let extension = crate::archive::extension_of(&document.mime_type);
    stream(
        &state,
        Download {
            file_name: format!("document-{}.{extension}", document.id),
            mime_type: document.mime_type,
            sha256: document.sha256,
        },
    )
    .await
}

/// `GET /attachments/{id}/content`: an attachment of a conversation of the caller's (the
/// patient's, or the practitioner's who holds the thread).
pub(super) async fn attachment_content(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let actor = match signed_in(&state, &headers).await {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse::<i64>() else {
        return refuse(
            ErrorCode::NotFound,
            "no such attachment in your mailbox".to_owned(),
        );
    };
    let attachment = match state.services.open_attachment(&actor, id).await {
        Ok(attachment) => attachment,
        Err(err) => return service_refusal(err),
    };
    stream(
        &state,
        Download {
            file_name: format!("attachment-{}", attachment.id),
            mime_type: attachment.mime_type,
            sha256: attachment.sha256,
        },
    )
    .await
}

/// The caller, signed in and linked, under the rate limit; or the refusal to answer.
pub(super) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Actor, Response> {
    let caller =
        super::caller::resolve_account(&state.services, caller(&state.auth, headers).await).await;
    let actor = match caller {
        Caller::Authenticated(actor) => actor,
        Caller::Unlinked(_) => {
            return Err(refuse(
                ErrorCode::AccountNotLinked,
                "this sign-in account is not linked to a profile yet: activate your profile first"
                    .to_owned(),
            ));
        }
        Caller::Refused(reason) | Caller::Forbidden(reason) | Caller::Unavailable(reason) => {
            return Err(refuse(
                ErrorCode::Unauthenticated,
                format!("authentication required: {reason}"),
            ));
        }
        Caller::Anonymous => {
            return Err(refuse(
                ErrorCode::Unauthenticated,
                "authentication required: sign in: send 'Authorization: Bearer <token>'".to_owned(),
            ));
        }
    };
    if let Some(refused) = over_rate(state, &rate_key(Some(&actor), None)).await {
        return Err(refused);
    }
    Ok(actor)
}

/// The bytes under `download.sha256`, streamed with their type, size and digest. The reading
/// is already traced; a store that fails before the first byte is 503, after it the body ends
/// short of its `Content-Length` (the client sees a truncated download, never altered bytes).
async fn stream(state: &AppState, download: Download) -> Response {
    let content = match state.services.contents.stream(&download.sha256).await {
        Ok(content) => content,
        Err(err) => return service_refusal(ServiceError::from(err)),
    };
    let body = Body::from_stream(content.bytes.inspect_err(|err| {
        tracing::error!(error.cause = %err, "a download stopped midway");
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, download.mime_type);
    set(header::CONTENT_LENGTH, content.size.to_string());
    set(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", download.file_name),
    );
    set(header::ETAG, format!("\"{}\"", download.sha256));
    // Health data: no shared cache keeps it, and no browser guesses another type.
    set(header::CACHE_CONTROL, "private, no-store".to_owned());
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned());
    response
}
