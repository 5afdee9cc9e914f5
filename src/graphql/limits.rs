//! What one GraphQL request may cost, checked before any resolver runs (and before async-graphql's
//! own validation, whose visitors walk fragments by expanding them).
//!
//! A document is measured on its *expanded* selection: a fragment spread counts as many times as
//! it is spread, so a kilobyte of fragments that each spread the next one twice measures 2^24
//! fields, not 50. The expansion is never built: each fragment is measured once, in an order
//! where the fragments it spreads come first, and a spread adds its fragment's measure (with
//! saturating arithmetic, so a measure in the billions is just "too much"). The work is linear in
//! the size of the document, which is itself capped before parsing.
//!
//! Measured: depth, fields, aliases, and a cost where the traced fields (the reads that write
//! to a patient's ledger or re-hash it: [`TRACED_FIELDS`]) weigh [`TRACED_FIELD_COST`], so that
//! a request holds only a few of them. Refusals are `QUERY_TOO_COMPLEX` (`extensions.limit`
//! names the limit, `extensions.max` its value); a list input longer than allowed, in the
//! document or in the variables, is `BAD_USER_INPUT`.
//!
//! Introspection and field suggestions ("did you mean …?") show the schema to whoever asks:
//! they are for authenticated callers in development only (GraphiQL needs them), never for
//! anonymous ones, never in production.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, ValidationResult, Variables};
use async_graphql_value::{ConstValue, Value};

use super::error::ErrorCode;
use crate::auth::Caller;
use crate::domain::Actor;

/// The fields whose every occurrence writes to a patient's ledger (a consultation is traced) or
/// re-verifies a whole hash chain. `document` is `me.document`, the only field of that name;
/// `thread` and `inboxThread` read a conversation, which is traced.
pub const TRACED_FIELDS: &[&str] = &[
    "patientRecord",
    "patientDocument",
    "document",
    "thread",
    "inboxThread",
    "ledgerIntegrity",
    "ledgerAudit",
    "ledgerProof",
    "ledgerExport",
];

/// Whether a field of this name (with arguments or not) is traced: `thread` is `me.thread(id:)`
/// only with its argument (`SentMessage.thread`, the thread of a message just sent, reads
/// nothing).
fn is_traced(name: &str, has_arguments: bool) -> bool {
    TRACED_FIELDS.contains(&name) && (name != "thread" || has_arguments)
}

/// The lists of the patient's own space (`me`'s), traced when a legal representative reads them
/// (the patient's own view of their space is not): traced fields for a representative alone.
pub const SPACE_LISTS: &[&str] = &["documents", "medicalProfile", "threads", "activityHistory"];

/// Deepest nesting of selection sets, spreads and inline fragments: async-graphql's own default,
/// which this check replaces (see [`QueryGuard`]), and a bound on the recursion of its
/// validation visitors.
pub const MAX_NESTING: u64 = 32;

/// The cost of one traced field; any other field costs 1. With the default `QUERY_MAX_COST` of
/// 1000, a request holds at most 4 traced fields: five weigh 1000, and each returns an object,
/// whose selection costs more.
pub const TRACED_FIELD_COST: u64 = 200;

/// The limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Largest query text, in bytes, checked before parsing.
    pub max_bytes: usize,
    /// Deepest field nesting (`{ me { id } }` is 2).
    pub max_depth: u64,
    /// Most fields, fragments expanded.
    pub max_fields: u64,
    /// Most aliases, fragments expanded.
    pub max_aliases: u64,
    /// Highest cost: 1 per field, [`TRACED_FIELD_COST`] per traced field.
    pub max_cost: u64,
    /// Longest list in an input (an argument, a variable, a default value).
    pub max_list_items: usize,
    /// Whether authenticated callers get introspection and suggestions (development only).
    pub open_to_authenticated: bool,
}

/// What a selection measures once expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Fields, `__typename` included.
    pub fields: u64,
    /// Fields written with an alias.
    pub aliases: u64,
    /// Traced fields ([`TRACED_FIELDS`]).
    pub traced: u64,
    /// Lists of the patient's space ([`SPACE_LISTS`]): traced fields for a representative.
    pub space_lists: u64,
    /// Introspection fields (`__schema`, `__type`).
    pub introspection: u64,
    /// Deepest field nesting.
    pub depth: u64,
    /// Deepest nesting of selection sets, a spread or an inline fragment counting as one level
    /// (as async-graphql's recursion check counts it).
    pub nesting: u64,
}

impl Tally {
    /// 1 per field, plus the surcharge of each traced field.
    pub fn cost(&self) -> u64 {
        self.fields
            .saturating_add(self.traced.saturating_mul(TRACED_FIELD_COST - 1))
    }

    /// The cost for a legal representative, whose reads of the space's lists are traced.
    pub fn representative_cost(&self) -> u64 {
        self.cost()
            .saturating_add(self.space_lists.saturating_mul(TRACED_FIELD_COST - 1))
    }

    /// This and `other` side by side (two selections of one set).
    fn add(self, other: Self) -> Self {
        Self {
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
            traced: self.traced.saturating_add(other.traced),
            space_lists: self.space_lists.saturating_add(other.space_lists),
            introspection: self.introspection.saturating_add(other.introspection),
            depth: self.depth.max(other.depth),
            nesting: self.nesting.max(other.nesting),
        }
    }

    /// The worse of this and `other` on every measure (two operations of one document).
    fn worst(self, other: Self) -> Self {
        Self {
            fields: self.fields.max(other.fields),
            aliases: self.aliases.max(other.aliases),
            traced: self.traced.max(other.traced),
            space_lists: self.space_lists.max(other.space_lists),
            introspection: self.introspection.max(other.introspection),
            depth: self.depth.max(other.depth),
            nesting: self.nesting.max(other.nesting),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The query text is over `max_bytes`.
    TooLarge { bytes: usize, max: usize },
    /// A measure of the expanded document is over its limit.
    Exceeds {
        limit: &'static str,
        value: u64,
        max: u64,
    },
    /// A fragment spreads itself, directly or through others.
    FragmentCycle(String),
    /// A list input is over `max_list_items`.
    ListTooLong { items: usize, max: usize },
    /// Introspection, for a caller who may not use it.
    Introspection,
}

impl Refusal {
    /// The code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } | Self::Exceeds { .. } => ErrorCode::QueryTooComplex,
            Self::FragmentCycle(_) | Self::ListTooLong { .. } => ErrorCode::BadUserInput,
            Self::Introspection => ErrorCode::Forbidden,
        }
    }

    /// The GraphQL error the client gets.
    pub fn into_server_error(self) -> ServerError {
        let code = self.code();
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", code.as_str());
        let message = match self {
            Self::TooLarge { bytes, max } => {
                extensions.set("limit", "bytes");
                extensions.set("max", max as u64);
                format!("the query has {bytes} bytes; at most {max} are accepted")
            }
            Self::Exceeds { limit, value, max } => {
                extensions.set("limit", limit);
                extensions.set("max", max);
                let hint = if limit == "cost" {
                    format!(
                        " (1 per field, {TRACED_FIELD_COST} for each of {})",
                        TRACED_FIELDS.join(", ")
                    )
                } else {
                    String::new()
                };
                format!(
                    "the query is too complex: its {limit} is {value}, at most {max} is \
                     accepted{hint}; fragments count as many times as they are spread"
                )
            }
            Self::FragmentCycle(name) => format!("fragment \"{name}\" spreads itself"),
            Self::ListTooLong { items, max } => {
                format!("a list input has {items} items; at most {max} are accepted")
            }
            Self::Introspection => {
                "introspection is only open to authenticated callers, in development".to_owned()
            }
        };
        let mut error = ServerError::new(message, None);
        error.extensions = Some(extensions);
        error.source = Some(std::sync::Arc::new(code));
        error
    }
}

impl QueryLimits {
    /// Measures `doc` (the worst of its operations) and checks every limit but the size, for
    /// `caller`: whether they may use introspection, and whether their reads of the space's
    /// lists are traced (a legal representative's).
    pub fn check(
        &self,
        doc: &ExecutableDocument,
        caller: Option<&Caller>,
    ) -> Result<Tally, Refusal> {
        let tally = measure(doc, self.max_list_items)?;
        if tally.introspection > 0 && !self.open_to(caller) {
            return Err(Refusal::Introspection);
        }
        let cost = match caller {
            Some(Caller::Authenticated(Actor::Representative { .. })) => {
                tally.representative_cost()
            }
            _ => tally.cost(),
        };
        let checks = [
            ("nesting", tally.nesting, MAX_NESTING),
            ("depth", tally.depth, self.max_depth),
            ("field count", tally.fields, self.max_fields),
            ("alias count", tally.aliases, self.max_aliases),
            ("cost", cost, self.max_cost),
        ];
        for (limit, value, max) in checks {
            if value > max {
                return Err(Refusal::Exceeds { limit, value, max });
            }
        }
        Ok(tally)
    }

    /// Checks the variables' lists.
    pub fn check_variables(&self, variables: &Variables) -> Result<(), Refusal> {
        variables
            .values()
            .try_for_each(|value| check_const_lists(value, self.max_list_items))
    }

    /// Whether this caller gets introspection and suggestions.
    fn open_to(&self, caller: Option<&Caller>) -> bool {
        self.open_to_authenticated && matches!(caller, Some(Caller::Authenticated(_)))
    }
}

/// The worst operation of `doc`, fragments expanded; refuses a fragment cycle and a list literal
/// over `max_list_items`.
pub fn measure(doc: &ExecutableDocument, max_list_items: usize) -> Result<Tally, Refusal> {
    let fragments = measure_fragments(doc, max_list_items)?;
    let mut worst = Tally::default();
    for (_, operation) in doc.operations.iter() {
        for variable in &operation.node.variable_definitions {
            if let Some(default) = &variable.node.default_value {
                check_const_lists(&default.node, max_list_items)?;
            }
        }
        for directive in &operation.node.directives {
            for (_, value) in &directive.node.arguments {
                check_lists(&value.node, max_list_items)?;
            }
        }
        let tally = measure_set(
            &operation.node.selection_set.node,
            &fragments,
            max_list_items,
        )?;
        worst = worst.worst(tally);
    }
    Ok(worst)
}

/// Each fragment's measure, computed once, the fragments it spreads first. The walk keeps its
/// own stack (a chain of thousands of fragments must not overflow the thread's), and a fragment
/// met again while its own spreads are being measured is a cycle.
fn measure_fragments(
    doc: &ExecutableDocument,
    max_list_items: usize,
) -> Result<HashMap<&str, Tally>, Refusal> {
    let mut done: HashMap<&str, Tally> = HashMap::with_capacity(doc.fragments.len());
    let mut open: HashSet<&str> = HashSet::new();
    for root in doc.fragments.keys() {
        let mut stack: Vec<(&str, bool)> = vec![(root.as_str(), false)];
        while let Some((name, spreads_measured)) = stack.pop() {
            if done.contains_key(name) {
                continue;
            }
            // Unknown fragments measure nothing here; async-graphql's validation refuses them.
            let Some(fragment) = doc.fragments.get(name) else {
                continue;
            };
            let set = &fragment.node.selection_set.node;
            if spreads_measured {
                open.remove(name);
                let tally = measure_set(set, &done, max_list_items)?;
                done.insert(name, tally);
                continue;
            }
            if !open.insert(name) {
                return Err(Refusal::FragmentCycle(name.to_owned()));
            }
            stack.push((name, true));
            let mut spreads = Vec::new();
            spread_names(set, &mut spreads);
            for spread in spreads {
                if !done.contains_key(spread) {
                    if open.contains(spread) {
                        return Err(Refusal::FragmentCycle(spread.to_owned()));
                    }
                    stack.push((spread, false));
                }
            }
        }
    }
    Ok(done)
}

/// The fragments spread in `set`, inline fragments included (the parser bounds the nesting).
fn spread_names<'a>(set: &'a SelectionSet, names: &mut Vec<&'a str>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => spread_names(&field.node.selection_set.node, names),
            Selection::FragmentSpread(spread) => {
                names.push(spread.node.fragment_name.node.as_str())
            }
            Selection::InlineFragment(inline) => {
                spread_names(&inline.node.selection_set.node, names);
            }
        }
    }
}

/// The measure of `set`, with the measures of the fragments it spreads already in `fragments`.
fn measure_set(
    set: &SelectionSet,
    fragments: &HashMap<&str, Tally>,
    max_list_items: usize,
) -> Result<Tally, Refusal> {
    let mut tally = Tally::default();
    for selection in &set.items {
        let (selection_tally, directives) = match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                for (_, value) in &field.arguments {
                    check_lists(&value.node, max_list_items)?;
                }
                let below = measure_set(&field.selection_set.node, fragments, max_list_items)?;
                let name = field.name.node.as_str();
                let own = Tally {
                    fields: 1,
                    aliases: u64::from(field.alias.is_some()),
                    traced: u64::from(is_traced(name, !field.arguments.is_empty())),
                    space_lists: u64::from(SPACE_LISTS.contains(&name)),
                    introspection: u64::from(name == "__schema" || name == "__type"),
                    depth: 0,
                    nesting: 0,
                };
                let mut sum = own.add(below);
                sum.depth = below.depth.saturating_add(1);
                if !field.selection_set.node.items.is_empty() {
                    sum.nesting = below.nesting.saturating_add(1);
                }
                (sum, &field.directives)
            }
            Selection::FragmentSpread(spread) => {
                let mut tally = fragments
                    .get(spread.node.fragment_name.node.as_str())
                    .copied()
                    .unwrap_or_default();
                tally.nesting = tally.nesting.saturating_add(1);
                (tally, &spread.node.directives)
            }
            Selection::InlineFragment(inline) => {
                let mut tally =
                    measure_set(&inline.node.selection_set.node, fragments, max_list_items)?;
                tally.nesting = tally.nesting.saturating_add(1);
                (tally, &inline.node.directives)
            }
        };
        for directive in directives {
            for (_, value) in &directive.node.arguments {
                check_lists(&value.node, max_list_items)?;
            }
        }
        tally = tally.add(selection_tally);
    }
    Ok(tally)
}

/// Refuses a list literal over `max` items, at any depth of `value`.
fn check_lists(value: &Value, max: usize) -> Result<(), Refusal> {
    match value {
        Value::List(items) if items.len() > max => Err(Refusal::ListTooLong {
            items: items.len(),
            max,
        }),
        Value::List(items) => items.iter().try_for_each(|item| check_lists(item, max)),
        Value::Object(fields) => fields.values().try_for_each(|item| check_lists(item, max)),
        _ => Ok(()),
    }
}

/// Refuses a list over `max` items, at any depth of `value` (a variable, a default value).
fn check_const_lists(value: &ConstValue, max: usize) -> Result<(), Refusal> {
    match value {
        ConstValue::List(items) if items.len() > max => Err(Refusal::ListTooLong {
            items: items.len(),
            max,
        }),
        ConstValue::List(items) => items
            .iter()
            .try_for_each(|item| check_const_lists(item, max)),
        ConstValue::Object(fields) => fields
            .values()
            .try_for_each(|item| check_const_lists(item, max)),
        _ => Ok(()),
    }
}

/// The schema extension that applies [`QueryLimits`] to every request, over HTTP and
/// websockets alike: the size before parsing, the variables, then the measures of the parsed
/// document before async-graphql validates it; and suggestions taken out of validation errors
/// for callers who may not see them.
#[derive(Debug, Clone)]
pub struct QueryGuard {
    pub limits: QueryLimits,
    /// Documents parsed before, by their text's hash: a known query is measured, not parsed.
    pub parsed: super::persisted::ParsedQueries,
}

impl QueryGuard {
    /// The guard of `limits`, with a cache of its own.
    pub fn new(limits: QueryLimits) -> Self {
        Self {
            limits,
            parsed: super::persisted::ParsedQueries::default(),
        }
    }
}

impl ExtensionFactory for QueryGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for QueryGuard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        _next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = &self.limits;
        if query.len() > limits.max_bytes {
            return Err(Refusal::TooLarge {
                bytes: query.len(),
                max: limits.max_bytes,
            }
            .into_server_error());
        }
        limits
            .check_variables(variables)
            .map_err(Refusal::into_server_error)?;
        // The document is parsed here and `next` is not run: after parsing, async-graphql checks
        // the recursion depth by walking every spread into its fragment, which is the whole
        // expansion (2^24 visits for a kilobyte). `check` measures the same nesting
        // (`MAX_NESTING`) without expanding. No extension after this one parses queries.
        let (kept, key) = self.parsed.get(query);
        let known = kept.is_some();
        let document = match kept {
            Some(document) => document,
            None => async_graphql::parser::parse_query(query)?,
        };
        limits
            .check(&document, ctx.data_opt::<Caller>())
            .map_err(Refusal::into_server_error)?;
        if !known {
            self.parsed.keep(key, document.clone());
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if self.limits.open_to(ctx.data_opt::<Caller>()) {
            return result;
        }
        result.map_err(|mut errors| {
            for error in &mut errors {
                strip_suggestion(&mut error.message);
            }
            errors
        })
    }
}

/// Cuts async-graphql's ` Did you mean "…"?` off a validation message: the fields it names are
/// the schema, which introspection would give.
fn strip_suggestion(message: &mut String) {
    if let Some(at) = message.find(" Did you mean ") {
        message.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use proptest::prelude::*;

    fn tally_of(query: &str) -> Result<Tally, Refusal> {
        measure(&parse_query(query).expect("a valid document"), 1000)
    }

    /// A kilobyte of fragments, each spreading the next one twice, `levels` deep.
    fn spread_bomb(levels: usize) -> String {
        let mut query = String::from("query { ...F0 }\n");
        for level in 0..levels {
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{next} ...F{next} }}\n",
                next = level + 1
            ));
        }
        query.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
        query
    }

    #[test]
    fn a_spread_bomb_measures_its_expansion_without_building_it() {
        let tally = tally_of(&spread_bomb(24)).unwrap();
        assert_eq!(tally.fields, 1 << 24);
        assert_eq!(tally.depth, 1);
        // Thousands of levels saturate instead of overflowing.
        assert_eq!(tally_of(&spread_bomb(200)).unwrap().fields, u64::MAX);
    }

    #[test]
    fn aliases_traced_fields_and_depth_are_counted_through_fragments() {
        let tally = tally_of(
            "{ me { ...I ...I } } \
             fragment I on Me { a: ledgerIntegrity { ok } b: ledgerIntegrity { ok } }",
        )
        .unwrap();
        assert_eq!(
            tally,
            Tally {
                fields: 9,
                aliases: 4,
                traced: 4,
                space_lists: 0,
                introspection: 0,
                depth: 3,
                nesting: 3,
            }
        );
        assert_eq!(tally.cost(), 9 + 4 * (TRACED_FIELD_COST - 1));
    }

    #[test]
    fn a_thread_is_traced_when_it_is_read_by_id_not_when_a_send_returns_it() {
        let read = tally_of("{ me { thread(id: \"1\") { id } } }").unwrap();
        assert_eq!(read.traced, 1);
        let sent = tally_of(
            "mutation { a: replyToThread(threadId: \"1\", body: \"x\", idempotencyKey: \"k\") { thread { id } } }",
        )
        .unwrap();
        assert_eq!(sent.traced, 0);
    }

    #[test]
    fn the_space_lists_are_traced_fields_for_a_representative_alone() {
        let tally = tally_of("{ me { documents { totalCount } threads { totalCount } } }").unwrap();
        assert_eq!(tally.space_lists, 2);
        assert_eq!(tally.cost(), 5);
        assert_eq!(tally.representative_cost(), 5 + 2 * (TRACED_FIELD_COST - 1));
    }

    #[test]
    fn nesting_counts_spreads_and_inline_fragments() {
        let limits = QueryLimits {
            max_bytes: 1 << 20,
            max_depth: 12,
            max_fields: 500,
            max_aliases: 30,
            max_cost: 1000,
            max_list_items: 1000,
            open_to_authenticated: false,
        };
        let chain = |levels: usize| {
            let mut query = String::from("{ ...F0 }");
            for level in 0..levels {
                query.push_str(&format!(
                    " fragment F{level} on Query {{ ... on Query {{ ...F{} }} }}",
                    level + 1
                ));
            }
            query.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
            parse_query(query).expect("a valid document")
        };
        // 15 levels of spread and inline fragment, and the spread of the operation: 31.
        assert_eq!(limits.check(&chain(15), None).map(|t| t.nesting), Ok(31));
        assert_eq!(
            limits.check(&chain(16), None),
            Err(Refusal::Exceeds {
                limit: "nesting",
                value: 33,
                max: MAX_NESTING
            })
        );
    }

    #[test]
    fn fragment_cycles_are_refused() {
        for query in [
            "{ ...A } fragment A on Query { ...A }",
            "{ ...A } fragment A on Query { ...B } fragment B on Query { me { ...A } }",
            "{ __typename } fragment A on Query { ... on Query { ...B } } fragment B on Query { ...A }",
        ] {
            assert!(
                matches!(tally_of(query), Err(Refusal::FragmentCycle(_))),
                "{query}"
            );
        }
        // A diamond is no cycle.
        let diamond = "{ ...A } fragment A on Query { ...B ...C } fragment B on Query { ...D } \
                       fragment C on Query { ...D } fragment D on Query { __typename }";
        assert_eq!(tally_of(diamond).unwrap().fields, 2);
    }

    #[test]
    fn long_list_literals_are_refused_anywhere() {
        let list = format!("[{}]", vec!["A"; 1001].join(","));
        for query in [
            format!("{{ f(a: {list}) }}"),
            format!("{{ f(a: {{ b: [{list}] }}) }}"),
            format!("{{ ...F }} fragment F on Query {{ f @include(if: {list}) }}"),
            format!("query($v: [Int] = {list}) {{ f }}"),
        ] {
            assert_eq!(
                tally_of(&query),
                Err(Refusal::ListTooLong {
                    items: 1001,
                    max: 1000
                }),
                "{query}"
            );
        }
    }

    /// The walks here recurse along the document's nesting: they rely on the parser refusing
    /// deep nesting (selections, lists, objects) within a query of the accepted size.
    #[test]
    fn the_parser_refuses_deep_nesting_on_a_small_stack() {
        let parse = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let n = 16_000;
                [
                    format!("{{ f(a: {}{}) }}", "[".repeat(n), "]".repeat(n)),
                    format!("{{ f(a: {}1{}) }}", "{a:".repeat(n), "}".repeat(n)),
                    format!("{}{}", "{ a ".repeat(n), "}".repeat(n)),
                ]
                .iter()
                .all(|query| parse_query(query).is_err())
            })
            .expect("a thread");
        assert!(parse.join().expect("no stack overflow"));
    }

    #[test]
    fn suggestions_are_cut_from_messages() {
        let mut message =
            r#"Unknown field "patientRecrd" on type "Query". Did you mean "patientRecord"?"#
                .to_owned();
        strip_suggestion(&mut message);
        assert_eq!(message, r#"Unknown field "patientRecrd" on type "Query"."#);
    }

    /// What a selection is in the generated documents: a field (maybe aliased) with children,
    /// an inline fragment, or a spread of a fragment by index.
    #[derive(Debug, Clone)]
    enum Sel {
        Field {
            name: &'static str,
            alias: bool,
            children: Vec<Sel>,
        },
        Inline(Vec<Sel>),
        Spread(usize),
    }

    fn selection() -> impl Strategy<Value = Sel> {
        let leaf = prop_oneof![
            (
                prop::sample::select(vec!["a", "b", "ledgerIntegrity", "__typename", "__schema"]),
                any::<bool>()
            )
                .prop_map(|(name, alias)| Sel::Field {
                    name,
                    alias,
                    children: vec![]
                }),
            (0usize..6).prop_map(Sel::Spread),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                (
                    prop::sample::select(vec!["a", "patientRecord", "document"]),
                    any::<bool>(),
                    prop::collection::vec(inner.clone(), 1..4)
                )
                    .prop_map(|(name, alias, children)| Sel::Field {
                        name,
                        alias,
                        children
                    }),
                prop::collection::vec(inner, 1..4).prop_map(Sel::Inline),
            ]
        })
    }

    fn write(selections: &[Sel], out: &mut String) {
        out.push('{');
        for (i, selection) in selections.iter().enumerate() {
            out.push(' ');
            match selection {
                Sel::Field {
                    name,
                    alias,
                    children,
                } => {
                    if *alias {
                        out.push_str(&format!("x{i}: "));
                    }
                    out.push_str(name);
                    if !children.is_empty() {
                        out.push(' ');
                        write(children, out);
                    }
                }
                Sel::Inline(children) => {
                    out.push_str("... on Query ");
                    write(children, out);
                }
                Sel::Spread(index) => out.push_str(&format!("...F{index}")),
            }
        }
        out.push_str(" }");
    }

    /// The naive measure: every spread expanded in place, as async-graphql's visitors do.
    /// `fragments[i]` may spread only fragments after it, so the expansion ends.
    fn naive(selections: &[Sel], fragments: &[Vec<Sel>]) -> Tally {
        let mut tally = Tally::default();
        for selection in selections {
            let one = match selection {
                Sel::Field {
                    name,
                    alias,
                    children,
                } => {
                    let below = naive(children, fragments);
                    Tally {
                        fields: below.fields + 1,
                        aliases: below.aliases + u64::from(*alias),
                        traced: below.traced + u64::from(TRACED_FIELDS.contains(name)),
                        space_lists: below.space_lists + u64::from(SPACE_LISTS.contains(name)),
                        introspection: below.introspection
                            + u64::from(*name == "__schema" || *name == "__type"),
                        depth: below.depth + 1,
                        nesting: if children.is_empty() {
                            0
                        } else {
                            below.nesting + 1
                        },
                    }
                }
                Sel::Inline(children) => {
                    let below = naive(children, fragments);
                    Tally {
                        nesting: below.nesting + 1,
                        ..below
                    }
                }
                Sel::Spread(index) => {
                    let below = fragments
                        .get(*index)
                        .map(|body| naive(body, fragments))
                        .unwrap_or_default();
                    Tally {
                        nesting: below.nesting + 1,
                        ..below
                    }
                }
            };
            tally = tally.add(one);
        }
        tally
    }

    /// Makes fragment `i` spread only fragments after it (no cycle): a spread of `j <= i`
    /// becomes a spread of a missing fragment, which measures nothing either way.
    fn acyclic(selections: Vec<Sel>, index: usize) -> Vec<Sel> {
        selections
            .into_iter()
            .map(|selection| match selection {
                Sel::Field {
                    name,
                    alias,
                    children,
                } => Sel::Field {
                    name,
                    alias,
                    children: acyclic(children, index),
                },
                Sel::Inline(children) => Sel::Inline(acyclic(children, index)),
                Sel::Spread(j) if j <= index => Sel::Spread(99),
                spread @ Sel::Spread(_) => spread,
            })
            .collect()
    }

    /// Whether fragment `from` spreads `target`, directly or through others.
    fn reaches(from: usize, target: usize, fragments: &[Vec<Sel>], seen: &mut Vec<bool>) -> bool {
        fn spreads(selections: &[Sel], out: &mut Vec<usize>) {
            for selection in selections {
                match selection {
                    Sel::Field { children, .. } | Sel::Inline(children) => spreads(children, out),
                    Sel::Spread(index) => out.push(*index),
                }
            }
        }
        let mut next = Vec::new();
        spreads(&fragments[from], &mut next);
        next.into_iter().filter(|&j| j < fragments.len()).any(|j| {
            j == target
                || (!seen[j] && {
                    seen[j] = true;
                    reaches(j, target, fragments, seen)
                })
        })
    }

    fn document(operation: &[Sel], fragments: &[Vec<Sel>]) -> String {
        let mut query = String::from("query ");
        write(operation, &mut query);
        for (i, body) in fragments.iter().enumerate() {
            query.push_str(&format!("\nfragment F{i} on Query "));
            write(body, &mut query);
        }
        query
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_measure_matches_the_naive_expansion(
            operation in prop::collection::vec(selection(), 1..4),
            fragments in prop::collection::vec(prop::collection::vec(selection(), 1..4), 0..6),
        ) {
            let fragments: Vec<Vec<Sel>> = fragments
                .into_iter()
                .enumerate()
                .map(|(i, body)| acyclic(body, i))
                .collect();
            let query = document(&operation, &fragments);
            let doc = parse_query(&query).expect("the generator writes valid documents");
            prop_assert_eq!(measure(&doc, 1000), Ok(naive(&operation, &fragments)), "{}", query);
        }

        #[test]
        fn any_spreads_either_measure_or_are_a_cycle(
            operation in prop::collection::vec(selection(), 1..4),
            fragments in prop::collection::vec(prop::collection::vec(selection(), 1..4), 0..6),
        ) {
            let query = document(&operation, &fragments);
            let doc = parse_query(&query).expect("the generator writes valid documents");
            let cyclic = (0..fragments.len()).any(|i| reaches(i, i, &fragments, &mut vec![false; fragments.len()]));
            match measure(&doc, 1000) {
                Ok(_) => prop_assert!(!cyclic, "a cycle measured: {}", query),
                Err(Refusal::FragmentCycle(_)) => prop_assert!(cyclic, "no cycle refused: {}", query),
                Err(other) => prop_assert!(false, "{:?} for {}", other, query),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[{}()\\[\\]a-z_.:$@!, \n\"0-9]{0,200}") {
            if let Ok(doc) = parse_query(&text) {
                let _ = measure(&doc, 3);
            }
        }
    }
}
