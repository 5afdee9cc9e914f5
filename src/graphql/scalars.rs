//! The identifiers users expect, as validated scalars: a malformed one never reaches a resolver.
//! Each wraps the domain's type (which the GraphQL layer cannot implement a scalar for
//! directly) and dereferences to it.

use std::ops::Deref;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::domain::{Ins, Rpps};

/// An INS as a GraphQL scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsScalar(pub Ins);

/// An RPPS number as a GraphQL scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RppsScalar(pub Rpps);

impl Deref for InsScalar {
    type Target = Ins;

    fn deref(&self) -> &Ins {
        &self.0
    }
}

impl Deref for RppsScalar {
    type Target = Rpps;

    fn deref(&self) -> &Rpps {
        &self.0
    }
}

/// Identifiant National de Santé: 15 characters, the 13-character NIR (2A/2B allowed for
/// Corsica) and its 2-digit key, 97 − (NIR mod 97) with 2A/2B read as 19/18. Spaces are ignored
/// on input; output has none.
#[Scalar(name = "INS")]
impl ScalarType for InsScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Ins::parse(s)
                .map(Self)
                .map_err(|e| InputValueError::custom(format!("invalid INS: {e}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.as_str().to_owned())
    }
}

/// RPPS number of a health professional: 11 digits, the last a Luhn check digit.
#[Scalar(name = "RPPS")]
impl ScalarType for RppsScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Rpps::parse(s)
                .map(Self)
                .map_err(|e| InputValueError::custom(format!("invalid RPPS number: {e}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.as_str().to_owned())
    }
}
