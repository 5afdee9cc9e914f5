//! Request metrics: latency per operation and errors per code, recorded through the `metrics`
//! facade (the recorder, and the `/metrics` listener that renders it, are `telemetry`'s).
//!
//! An operation is labelled by its root field (`query:patientRecord`), or `query:multiple`
//! when it selects several, and only once validation has passed: a label comes from the schema,
//! never from the client's text, so a client cannot grow the number of series (an operation
//! name would let it). A request refused before execution (malformed, too costly, invalid) is
//! `rejected`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::{Response, ServerResult, Value, Variables};

/// The histogram of request latency, in seconds, by `operation`.
pub const REQUEST_DURATION: &str = "graphql_request_duration_seconds";
/// The counter of errors in answers, by `operation` and `code`.
pub const ERRORS: &str = "graphql_errors_total";

/// Schema extension that records each request's latency and its errors' codes.
#[derive(Debug)]
pub struct RequestMetrics;

impl ExtensionFactory for RequestMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Recording::default())
    }
}

/// One request's recording (async-graphql creates one per request).
#[derive(Debug, Default)]
struct Recording {
    /// The label read from the parsed document; used only if the request reached execution.
    parsed: Mutex<Option<String>>,
    executed: Mutex<bool>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Recording {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let executed = *self.executed.lock().unwrap_or_else(PoisonError::into_inner);
        let operation = match self
            .parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(label) if executed => label,
            _ => "rejected".to_owned(),
        };
        metrics::histogram!(REQUEST_DURATION, "operation" => operation.clone())
            .record(started.elapsed().as_secs_f64());
        for error in &response.errors {
            let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
                // Codes are ours (graphql::error), a fixed set.
                Some(Value::String(code)) => code.clone(),
                _ => "BAD_USER_INPUT".to_owned(),
            };
            metrics::counter!(ERRORS, "operation" => operation.clone(), "code" => code)
                .increment(1);
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        *self.parsed.lock().unwrap_or_else(PoisonError::into_inner) = Some(label(&document));
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        *self.executed.lock().unwrap_or_else(PoisonError::into_inner) = true;
        next.run(ctx, operation_name).await
    }
}

/// `type:rootField`, or `type:multiple`. A document with several operations (one is chosen
/// by name) is labelled by the union of their root fields, which is the same label when they
/// select the same field.
fn label(document: &ExecutableDocument) -> String {
    let mut kind = "query";
    let mut fields = BTreeSet::new();
    for (_, operation) in document.operations.iter() {
        kind = match operation.node.ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        for selection in &operation.node.selection_set.node.items {
            match &selection.node {
                Selection::Field(field) if field.node.name.node != "__typename" => {
                    fields.insert(field.node.name.node.to_string());
                }
                Selection::Field(_) => {}
                // Root fields behind a fragment: counted as several.
                _ => {
                    fields.insert(String::new());
                    fields.insert(String::from("…"));
                }
            }
        }
    }
    match fields.len() {
        1 => format!("{kind}:{}", fields.pop_first().unwrap_or_default()),
        0 => format!("{kind}:__typename"),
        _ => format!("{kind}:multiple"),
    }
}
